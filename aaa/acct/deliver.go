package acct

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// Destination is somewhere records go: a RADIUS accounting group, a TACACS+ group, an
// exporter. Deliver is called with one record at a time, in sequence order, and is not called
// again until it has returned. An error is temporary (the record is retried, with backoff,
// until it succeeds) unless it wraps ErrPermanent (see Permanent). Deliver computes anything
// that depends on when it runs, such as Acct-Delay-Time (Record.Delay), itself.
type Destination interface {
	Name() string
	Deliver(ctx context.Context, rec Record) error
}

// ErrPermanent marks a delivery error that no retry can cure: the destination refuses this
// record itself (not a server being down, which is always temporary).
var ErrPermanent = errors.New("permanent delivery failure")

// Permanent wraps err so that IsPermanent reports true.
func Permanent(err error) error { return fmt.Errorf("%w: %w", ErrPermanent, err) }

// IsPermanent reports whether err wraps ErrPermanent, or an error with a Permanent() bool
// method that says true (so a backend can mark its own error type without wrapping).
func IsPermanent(err error) bool {
	if errors.Is(err, ErrPermanent) {
		return true
	}
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// DeliveryOptions tune the delivery workers. The zero value is usable.
type DeliveryOptions struct {
	MinBackoff     time.Duration // first wait after a failure; default 500 ms
	MaxBackoff     time.Duration // cap of the doubling wait; default 60 s
	AttemptTimeout time.Duration // deadline of one Deliver call; default 30 s
}

func (o *DeliveryOptions) defaults() {
	if o.MinBackoff <= 0 {
		o.MinBackoff = 500 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(60*time.Second, o.MinBackoff)
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = 30 * time.Second
	}
}

// DestStatus is one destination's delivery state, for `show` and metrics.
type DestStatus struct {
	Name         string
	Acked        uint64 // last record delivered (in memory)
	Persisted    uint64 // last record delivered, durably recorded
	Lag          uint64 // records appended but not yet delivered
	Running      bool   // a worker is delivering
	Delivered    uint64 // records delivered since Open
	Failures     uint64 // failed attempts since Open
	Consecutive  int    // failed attempts on the current record
	DeadLettered uint64 // records moved to the dead-letter file since Open
	LastError    string
	LastErrorAt  time.Time
}

// Status reports every registered destination.
func (s *Spool) Status() []DestStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]DestStatus, 0, len(s.cursors))
	for name, c := range s.cursors {
		var st DestStatus
		if ds := s.destStatus[name]; ds != nil {
			st = *ds
		}
		st.Name, st.Acked, st.Persisted = name, c.acked, c.persisted
		if s.head > c.acked {
			st.Lag = s.head - c.acked
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (s *Spool) updateStatus(name string, f func(*DestStatus)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ds := s.destStatus[name]
	if ds == nil {
		ds = &DestStatus{Name: name}
		s.destStatus[name] = ds
	}
	f(ds)
}

// RunDelivery delivers the spool to each destination, one worker per destination, until ctx
// ends or the spool closes; then it waits for the workers and returns nil (or the errors of
// workers that could not start). A destination not registered yet is registered here, from the
// head: list configured destinations in Options.Destinations so they miss nothing. Within a destination records go strictly in sequence order — so a session's Stop
// never precedes its Start — and a record is acknowledged only after Deliver succeeded (or, for
// a permanent error, after it is safely in the dead-letter file).
func (s *Spool) RunDelivery(ctx context.Context, dests []Destination, opts DeliveryOptions) error {
	opts.defaults()
	// Workers stop when the spool closes too, even in the middle of a backoff.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	seen := map[string]bool{}
	for _, d := range dests {
		if seen[d.Name()] {
			return fmt.Errorf("acct: destination %s configured twice", d.Name())
		}
		seen[d.Name()] = true
		if err := s.Register(d.Name()); err != nil {
			return err
		}
	}
	var wg sync.WaitGroup
	errc := make(chan error, len(dests))
	for _, d := range dests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.runWorker(ctx, d, opts); err != nil {
				s.log.Error("accounting delivery worker cannot start", "dest", d.Name(), "err", err)
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (s *Spool) runWorker(ctx context.Context, d Destination, opts DeliveryOptions) error {
	name := d.Name()
	log := s.log.With("dest", name)
	r, err := s.Reader(name)
	if err != nil {
		return err
	}
	defer r.Close()
	s.updateStatus(name, func(ds *DestStatus) { ds.Running = true })
	defer s.updateStatus(name, func(ds *DestStatus) { ds.Running = false })
	for {
		rec, err := r.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, ErrClosed) {
				return nil
			}
			// A read error is the disk's problem; keep trying, it never skips a record.
			log.Error("accounting delivery: cannot read spool", "err", err)
			if !sleepCtx(ctx, opts.MaxBackoff) {
				return nil
			}
			continue
		}
		if !s.deliverOne(ctx, d, rec, opts, log) {
			return nil // shutting down; the record is re-sent next run
		}
		if err := s.Ack(name, rec.Seq); err != nil {
			log.Error("accounting delivery: ack", "seq", rec.Seq, "err", err)
		}
	}
}

// deliverOne tries rec until it is delivered or dead-lettered. It returns false if ctx ended
// first.
func (s *Spool) deliverOne(ctx context.Context, d Destination, rec Record, opts DeliveryOptions, log *slog.Logger) bool {
	name := d.Name()
	backoff := opts.MinBackoff
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, opts.AttemptTimeout)
		err := d.Deliver(actx, rec)
		cancel()
		if err == nil {
			if attempt > 1 {
				log.Info("accounting delivery recovered", "seq", rec.Seq, "attempts", attempt)
			}
			s.updateStatus(name, func(ds *DestStatus) { ds.Delivered++; ds.Consecutive = 0 })
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		s.updateStatus(name, func(ds *DestStatus) {
			ds.Failures++
			ds.Consecutive = attempt
			ds.LastError, ds.LastErrorAt = err.Error(), s.opts.Now()
		})
		if IsPermanent(err) {
			derr := s.deadLetter(name, rec, err)
			if derr == nil {
				log.Error("ACCOUNTING RECORD DEAD-LETTERED: destination refused it permanently",
					"seq", rec.Seq, "session_id", rec.SessionID, "type", rec.Type.String(), "err", err,
					"file", filepath.Join(s.dir, deadLetterDir, name+".jsonl"))
				s.updateStatus(name, func(ds *DestStatus) { ds.DeadLettered++; ds.Consecutive = 0 })
				return true
			}
			log.Error("accounting delivery: cannot write dead-letter file; retrying the record", "seq", rec.Seq, "err", derr)
		} else if attempt == 1 || attempt%20 == 0 {
			log.Warn("accounting delivery failed; retrying", "seq", rec.Seq, "session_id", rec.SessionID,
				"attempt", attempt, "err", err)
		}
		// Full jitter around the doubling wait keeps many NASes from retrying in lock step.
		wait := backoff/2 + rand.N(backoff/2+1)
		if !sleepCtx(ctx, wait) {
			return false
		}
		backoff = min(2*backoff, opts.MaxBackoff)
	}
}

// deadLetter appends rec to <dir>/deadletter/<dest>.jsonl and fsyncs it.
func (s *Spool) deadLetter(dest string, rec Record, cause error) error {
	dir := s.path(deadLetterDir)
	if err := s.fs.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	line, err := json.Marshal(struct {
		Time   time.Time `json:"time"`
		Dest   string    `json:"dest"`
		Error  string    `json:"error"`
		Record Record    `json:"record"`
	}{s.opts.Now().UTC(), dest, cause.Error(), rec})
	if err != nil {
		return err
	}
	f, err := s.fs.OpenFile(filepath.Join(dir, dest+".jsonl"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.fs.SyncDir(dir)
	}
	return err
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
