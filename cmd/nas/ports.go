package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/dialback/nas/config"
	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/lines/pstn"
	"github.com/dialback/nas/lines/rfc2217"
	"github.com/dialback/nas/lines/serial"
)

// portOpener opens the port of a TTY by its configured address: a device path, an RFC 2217
// URL, or a subscriber number on the simulated exchange (created on first use).
type portOpener struct {
	log      *slog.Logger
	pstnOpts pstn.Options

	// mu guards exchange: the line workers open their ports concurrently, and all sim lines
	// must share one exchange.
	mu       sync.Mutex
	exchange *pstn.Exchange
}

func (o *portOpener) open(ctx context.Context, tty config.TTY) (lines.Port, error) {
	spec := tty.Spec
	mode := serial.Mode{Speed: spec.Speed, DataBits: spec.DataBits, StopBits: spec.StopBits,
		Parity: spec.Parity, FlowControl: spec.FlowControl}
	log := o.log.With("line", tty.Num)
	switch {
	case strings.HasPrefix(spec.Port, "sim:"):
		return o.pstn().Attach(strings.TrimPrefix(spec.Port, "sim:"))
	case strings.HasPrefix(spec.Port, "rfc2217://"):
		return rfc2217.Dial(ctx, strings.TrimPrefix(spec.Port, "rfc2217://"), mode, log)
	case strings.HasPrefix(spec.Port, "/"):
		return serial.Open(ctx, spec.Port, mode, log)
	default:
		return nil, fmt.Errorf("line %d: port %q: not a device path, rfc2217:// URL or sim: number", tty.Num, spec.Port)
	}
}

// pstn returns the simulated exchange, creating it on first use.
func (o *portOpener) pstn() *pstn.Exchange {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.exchange == nil {
		opts := o.pstnOpts
		opts.Log = o.log.With("component", "pstn")
		o.exchange = pstn.New(opts)
	}
	return o.exchange
}

func (o *portOpener) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.exchange != nil {
		o.exchange.Close()
	}
}

func pstnOptions(p config.PSTN) pstn.Options {
	return pstn.Options{RingPeriod: p.RingPeriod, NoAnswerRings: p.NoAnswerRings,
		BitErrorRate: p.BitErrorRate, Latency: p.Latency, ConnectSpeed: p.ConnectSpeed}
}
