package chat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/dialback/nas/lines"
)

const (
	// readSlice bounds each read so that a cancelled context is noticed promptly without a
	// goroutine per read.
	readSlice = 100 * time.Millisecond
	// maxWindow is how much received text an expect keeps before trimming to the tail that
	// a match could still end in.
	maxWindow = 4096
	// transcriptTail is how much of the received text a "got" transcript line shows.
	transcriptTail = 256
	readBufSize    = 512
)

// Run runs the script on p with the IOS default timings. A nil error means success.
func (s *Script) Run(ctx context.Context, p lines.Port, v Vars) (Result, error) {
	return s.RunWith(ctx, p, v, Timing{})
}

// RunWith runs the script on p with the given timings (zero fields take the defaults).
//
// Expects match received bytes exactly (case-sensitive, 8-bit: chat(8) strips the parity
// bit, this does not). ABORT strings declared so far are watched for in everything received
// while expecting; if an ABORT string and the expect string complete on the same byte the
// expect wins, and otherwise whichever completes first, as chat(8) reading byte by byte.
// Bytes read past a match are kept for the next expect and, after the last, returned in
// Result.Received. \K and BREAK use lines.Breaker when the port has it; a port without it
// (or a Break that fails) gets a transcript line and a log line, and the script carries on,
// as chat(8) ignores tcsendbreak's result. On return the port's read deadline is cleared.
func (s *Script) RunWith(ctx context.Context, p lines.Port, v Vars, t Timing) (Result, error) {
	t = t.withDefaults()
	r := &runner{
		p:       p,
		name:    p.Name(),
		t:       t,
		number:  v.Number,
		log:     v.Logger,
		timeout: t.DefaultTimeout,
		buf:     make([]byte, readBufSize),
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if s.UsesNumber() && v.Number == "" {
		return Result{}, fmt.Errorf("chat on %s: %w", r.name, ErrNoNumber)
	}
	defer func() { _ = p.SetReadDeadline(time.Time{}) }()
	err := r.run(ctx, s)
	r.res.Received = string(r.pending)
	r.res.Transcript = r.transcript
	return r.res, err
}

type runner struct {
	p       lines.Port
	name    string
	t       Timing
	number  string
	log     *slog.Logger
	timeout time.Duration
	aborts  [][]byte
	pending []byte // read but not consumed by an expect
	buf     []byte

	res        Result
	transcript []string
}

func (r *runner) note(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	r.transcript = append(r.transcript, line)
	r.log.Debug("chat", "port", r.name, "step", line)
}

func (r *runner) run(ctx context.Context, s *Script) error {
	for i := range s.steps {
		st := &s.steps[i]
		switch st.kind {
		case stepAbort:
			r.aborts = append(r.aborts, []byte(st.abort))
			r.note("abort on %q", st.abort)
		case stepTimeout:
			r.timeout = time.Duration(st.seconds) * time.Second
			r.note("timeout set to %s", r.timeout)
		case stepExchange:
			if err := r.exchange(ctx, st); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *runner) exchange(ctx context.Context, st *step) error {
	for k, want := range st.expects {
		err := r.expect(ctx, want)
		if err == nil {
			break
		}
		if errors.Is(err, ErrTimeout) && k < len(st.subsends) {
			if err := r.send(ctx, &st.subsends[k]); err != nil {
				return err
			}
			continue
		}
		r.res.Expect = want
		if errors.Is(err, ErrTimeout) {
			r.res.TimedOut = true
		}
		return err
	}
	if st.send == nil {
		return nil
	}
	return r.send(ctx, st.send)
}

// expect waits for want, consuming what it reads up to the end of the match.
func (r *runner) expect(ctx context.Context, want string) error {
	r.note("expect %q", want)
	if want == "" {
		return nil
	}
	wantB := []byte(want)
	keep := len(wantB)
	for _, a := range r.aborts {
		keep = max(keep, len(a))
	}
	keep = max(keep-1, transcriptTail)

	win := r.pending
	r.pending = nil
	trimmed := false
	deadline := time.Now().Add(r.timeout)
	var readErr error
	for {
		if end, abort := earliest(win, wantB, r.aborts); end >= 0 {
			r.noteGot(win[:end], trimmed)
			r.pending = append([]byte(nil), win[end:]...)
			if abort < 0 {
				return nil
			}
			a := string(r.aborts[abort])
			r.res.Abort = a
			r.note("aborted on %q", a)
			return fmt.Errorf("chat on %s: got ABORT string %q while expecting %q: %w", r.name, a, want, ErrAborted)
		}
		if readErr != nil {
			// Only now, after looking at what arrived with the error.
			r.pending = win
			r.noteGot(win, trimmed)
			r.note("read error while expecting %q: %v", want, readErr)
			return fmt.Errorf("chat on %s: reading while expecting %q: %w", r.name, want, readErr)
		}
		if len(win) > maxWindow {
			win = append([]byte(nil), win[len(win)-keep:]...)
			trimmed = true
		}
		if err := ctx.Err(); err != nil {
			r.pending = win
			r.note("cancelled while expecting %q", want)
			return fmt.Errorf("chat on %s: expecting %q: %w", r.name, want, err)
		}
		now := time.Now()
		if !now.Before(deadline) {
			r.noteGot(win, trimmed)
			r.note("timeout after %s waiting for %q", r.timeout, want)
			return fmt.Errorf("chat on %s: no %q within %s: %w", r.name, want, r.timeout, ErrTimeout)
		}
		slice := now.Add(readSlice)
		if deadline.Before(slice) {
			slice = deadline
		}
		if err := r.p.SetReadDeadline(slice); err != nil {
			r.pending = win
			return fmt.Errorf("chat on %s: setting read deadline: %w", r.name, err)
		}
		n, err := r.p.Read(r.buf)
		win = append(win, r.buf[:n]...)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			readErr = err
		}
	}
}

func (r *runner) noteGot(b []byte, trimmed bool) {
	if len(b) == 0 && !trimmed {
		return
	}
	if len(b) > transcriptTail {
		b = b[len(b)-transcriptTail:]
		trimmed = true
	}
	if trimmed {
		r.note("got ...%q", b)
		return
	}
	r.note("got %q", b)
}

// earliest finds the match that completes first in win: the end offset, and -1 for want
// or the index of the ABORT string. On a tie want wins, then the earlier ABORT, as chat(8)
// checks them in that order after each byte. end is -1 when nothing matched.
func earliest(win, want []byte, aborts [][]byte) (end, abort int) {
	end, abort = -1, -1
	if i := bytes.Index(win, want); i >= 0 {
		end = i + len(want)
	}
	for k, a := range aborts {
		if i := bytes.Index(win, a); i >= 0 && (end < 0 || i+len(a) < end) {
			end, abort = i+len(a), k
		}
	}
	return end, abort
}

func (r *runner) send(ctx context.Context, sd *send) error {
	var out []byte
	flush := func() error {
		if len(out) == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("chat on %s: sending: %w", r.name, err)
		}
		if sd.quiet {
			r.note("send %q", "??????")
		} else {
			r.note("send %q", out)
		}
		if _, err := r.p.Write(out); err != nil {
			return fmt.Errorf("chat on %s: writing: %w", r.name, err)
		}
		out = out[:0]
		return nil
	}
	for _, o := range sd.ops {
		switch o.kind {
		case opText:
			out = append(out, o.text...)
			continue
		case opNumber:
			out = append(out, r.number...)
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		switch o.kind {
		case opDelay:
			r.note("delay %s", r.t.Delay)
			if err := sleep(ctx, r.t.Delay); err != nil {
				return fmt.Errorf("chat on %s: in \\d delay: %w", r.name, err)
			}
		case opPause:
			r.note("pause %s", r.t.Pause)
			if err := sleep(ctx, r.t.Pause); err != nil {
				return fmt.Errorf("chat on %s: in \\p pause: %w", r.name, err)
			}
		case opBreak:
			r.sendBreak()
		}
	}
	if !sd.noCR {
		out = append(out, '\r')
	}
	return flush()
}

func (r *runner) sendBreak() {
	b, ok := r.p.(lines.Breaker)
	if !ok {
		r.note("break not sent: %s cannot send BREAK", r.name)
		r.log.Warn("chat script BREAK skipped: port cannot send BREAK", "port", r.name)
		return
	}
	if err := b.Break(r.t.Break); err != nil {
		r.note("break failed: %v", err)
		r.log.Warn("chat script BREAK failed", "port", r.name, "err", err)
		return
	}
	r.note("break")
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
