package lab

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/dialback/nas/aaa/acct"
	"github.com/dialback/nas/aaa/methods"
	"github.com/dialback/nas/config"
)

// labSpool is a scenario's accounting spool: in a temporary directory, whatever
// accounting.spool says, delivered to the scenario's accounting methods (the embedded
// servers) while the scenario runs, and removed afterwards.
type labSpool struct {
	spool  *acct.Spool
	dir    string
	cancel context.CancelFunc
	wg     sync.WaitGroup
	log    *slog.Logger
}

func openLabSpool(cfg *config.Config, lists *methods.Lists, log *slog.Logger) (*labSpool, error) {
	var dests []acct.Destination
	for _, m := range cfg.Accounting.Methods {
		switch {
		case m == methods.RADIUSName && lists.RADIUS != nil:
			dests = append(dests, lists.RADIUS)
		case m == methods.TACACSName && lists.TACACS != nil:
			dests = append(dests, lists.TACACS)
		}
	}
	dir, err := os.MkdirTemp("", "nas-lab-acct-")
	if err != nil {
		return nil, fmt.Errorf("accounting spool: %w", err)
	}
	names := make([]string, len(dests))
	for i, d := range dests {
		names[i] = d.Name()
	}
	policy, _ := acct.ParsePolicy(cfg.Accounting.PolicyName())
	sp, err := acct.Open(dir, acct.Options{Logger: log, Policy: policy, Destinations: names, Retention: acct.Retention{Delete: true}})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("accounting spool: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &labSpool{spool: sp, dir: dir, cancel: cancel, log: log}
	if len(dests) > 0 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			_ = sp.RunDelivery(ctx, dests, acct.DeliveryOptions{MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second})
		}()
	}
	return l, nil
}

// close stops delivery, closes the spool and removes it. Call it after the server stopped.
func (l *labSpool) close() {
	l.cancel()
	l.wg.Wait()
	if err := l.spool.Close(); err != nil {
		l.log.Warn("close the lab's accounting spool", "err", err)
	}
	_ = os.RemoveAll(l.dir)
}
