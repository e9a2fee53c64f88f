package modem

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/dialback/nas/lines"
)

// portReader reads the port with a deadline and lets other goroutines interrupt a blocked
// Read (context cancelled, carrier lost, hang-up) by moving the port's read deadline into the
// past. All deadline changes go through mu so that an interrupt can never be overwritten by
// the deadline of a read that starts just after it, and a late interrupt (one that fires after
// its read returned) cannot cut short the next read: gen names the read in flight.
type portReader struct {
	p lines.Port

	mu     sync.Mutex
	gen    uint64
	active bool
	halted error // once set, reads return it instead of blocking
}

var errHalted = errors.New("read halted")

// read reads into b until deadline (zero: none), ctx is done, or halt. force ignores an
// earlier halt: the DataConn's last look for bytes that arrived before carrier loss.
func (r *portReader) read(ctx context.Context, b []byte, deadline time.Time, force bool) (int, error) {
	r.mu.Lock()
	if err := ctx.Err(); err != nil {
		r.mu.Unlock()
		return 0, err
	}
	if r.halted != nil && !force {
		r.mu.Unlock()
		return 0, errHalted
	}
	r.gen++
	gen := r.gen
	if err := r.p.SetReadDeadline(deadline); err != nil {
		r.mu.Unlock()
		return 0, err
	}
	r.active = true
	r.mu.Unlock()

	stop := context.AfterFunc(ctx, func() { r.wake(gen) })
	n, err := r.p.Read(b)
	stop()

	r.mu.Lock()
	r.active = false
	r.gen++
	halted := r.halted != nil && !force
	r.mu.Unlock()
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		if halted {
			return n, errHalted
		}
	}
	return n, err
}

func (r *portReader) wake(gen uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.active && r.gen == gen {
		_ = r.p.SetReadDeadline(time.Now())
	}
}

// halt makes the read in flight, and every later one without force, return errHalted.
func (r *portReader) halt() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.halted == nil {
		r.halted = errHalted
	}
	if r.active {
		_ = r.p.SetReadDeadline(time.Now())
	}
}

// setDeadline moves the deadline of a read in flight (SetReadDeadline during a blocked Read).
func (r *portReader) setDeadline(t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.active && r.halted == nil {
		_ = r.p.SetReadDeadline(t)
	}
}
