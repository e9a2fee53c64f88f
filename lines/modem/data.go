package modem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/dialback/nas/lines"
)

// noCarrier is what a verbose (V1) modem puts into the data stream when the carrier goes and
// it falls back to command mode (V.250 §5.7.1: result codes are framed by S3 S4, CR LF).
const noCarrier = "\r\nNO CARRIER\r\n"

// noCarrierFail is the Knuth-Morris-Pratt failure table of noCarrier.
var noCarrierFail = func() []int {
	f := make([]int, len(noCarrier))
	for i, k := 1, 0; i < len(noCarrier); i++ {
		for k > 0 && noCarrier[i] != noCarrier[k] {
			k = f[k-1]
		}
		if noCarrier[i] == noCarrier[k] {
			k++
		}
		f[i] = k
	}
	return f
}()

// advance is the matcher step: st bytes of noCarrier matched, then c.
func advance(st int, c byte) int {
	for st > 0 && noCarrier[st] != c {
		st = noCarrierFail[st-1]
	}
	if noCarrier[st] == c {
		st++
	}
	return st
}

// drainWindow is how long the DataConn waits for bytes still in the port when DCD drops:
// what the far end sent just before it hung up (an LCP Terminate-Request, a last line).
const drainWindow = 20 * time.Millisecond

// DataConn is the data stream of a connected call. Read returns the caller's bytes and, once
// the call has ended and everything received before has been delivered, ErrCarrierLost (far
// side) or ErrHungUp (Hangup on this side). Carrier is watched by polling DCD when the port
// has modem control, and always by spotting "\r\nNO CARRIER\r\n" in the stream; bytes that
// might be the start of that text are held back, for at most Options.HoldBack.
//
// Read, Write and SetReadDeadline may be called from different goroutines; Reads are
// serialised.
type DataConn struct {
	m    *Modem
	r    *portReader
	mc   lines.ModemControl // nil: watch the stream for NO CARRIER
	hold time.Duration
	buf  []byte

	readMu sync.Mutex

	mu        sync.Mutex
	pending   []byte // received, not yet delivered
	skipLF    bool   // drop a first '\n': the end of the CONNECT line's CR LF
	st        int    // noCarrier matcher state
	holdN     int    // trailing bytes of pending held back as a possible NO CARRIER
	holdUntil time.Time
	deadline  time.Time
	err       error
	drained   bool

	done     chan struct{}
	stopOnce sync.Once
	stopPoll chan struct{}
	pollDone chan struct{} // nil when there is no poller
}

func newDataConn(m *Modem, initial []byte, skipLF bool) *DataConn {
	dc := &DataConn{
		m:        m,
		r:        &portReader{p: m.p},
		hold:     m.o.HoldBack,
		buf:      make([]byte, 4096),
		skipLF:   skipLF,
		done:     make(chan struct{}),
		stopPoll: make(chan struct{}),
	}
	if m.mc != nil {
		if st, err := m.mc.ModemStatus(); err != nil {
			// A pty behind a serial backend: the ioctl fails, the modem's words still work.
			m.log.Debug("modem status unreadable; watching the stream for NO CARRIER", "err", err)
		} else {
			dc.mc = m.mc
			if !st.DCD {
				m.log.Warn("DCD is off at CONNECT; check the modem's &C1 setting")
			}
		}
	}
	dc.feed(initial)
	if dc.mc != nil {
		dc.pollDone = make(chan struct{})
		go dc.poll(m.o.CarrierPoll)
	}
	return dc
}

// poll ends the call when DCD drops. It stops at the end of the call, whoever ends it.
func (dc *DataConn) poll(interval time.Duration) {
	defer close(dc.pollDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-dc.stopPoll:
			return
		case <-t.C:
		}
		st, err := dc.mc.ModemStatus()
		if err != nil {
			dc.end(fmt.Errorf("%w: read modem status of %s: %w", ErrCarrierLost, dc.m.p.Name(), err), "modem status failed")
			return
		}
		if !st.DCD {
			dc.end(ErrCarrierLost, "DCD dropped")
			return
		}
	}
}

// feed takes bytes from the port; in a stream without DCD it ends the call at NO CARRIER.
func (dc *DataConn) feed(b []byte) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if dc.err != nil && dc.mc == nil {
		return // after NO CARRIER the modem is talking to us, not the caller
	}
	if dc.skipLF && len(b) > 0 {
		dc.skipLF = false
		if b[0] == '\n' {
			b = b[1:]
		}
	}
	if dc.mc != nil && dc.err != nil {
		// Draining after DCD dropped: the modem's own NO CARRIER is not the caller's.
		if i := bytes.Index(b, []byte(noCarrier)); i >= 0 {
			b = b[:i]
		}
		dc.pending = append(dc.pending, b...)
		return
	}
	// The stream is scanned even where DCD is polled: the modem's NO CARRIER can arrive
	// before the next poll, and must never reach the session as the caller's input.
	for i := 0; i < len(b); i++ {
		c := b[i]
		if dc.st == 0 && c != noCarrier[0] {
			// Fast path: copy up to the next byte that can start a match.
			j := i + 1
			for j < len(b) && b[j] != noCarrier[0] {
				j++
			}
			dc.pending = append(dc.pending, b[i:j]...)
			dc.holdN = 0
			i = j - 1
			continue
		}
		ns := advance(dc.st, c)
		if ns == len(noCarrier) {
			dc.pending = dc.pending[:len(dc.pending)-dc.holdN]
			dc.holdN, dc.st = 0, 0
			dc.endLocked(ErrCarrierLost, "NO CARRIER in data stream")
			return
		}
		dc.pending = append(dc.pending, c)
		dc.st = ns
		if ns == 0 {
			dc.holdN = 0
		} else {
			dc.holdN = min(dc.holdN+1, ns)
		}
	}
}

// Read reads the caller's bytes. See the type comment for how the call's end is reported.
func (dc *DataConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	dc.readMu.Lock()
	defer dc.readMu.Unlock()
	for {
		dc.mu.Lock()
		if n := len(dc.pending) - dc.holdN; n > 0 {
			n = copy(b, dc.pending[:n])
			dc.pending = dc.pending[n:]
			dc.mu.Unlock()
			return n, nil
		}
		if dc.err != nil {
			if dc.mc != nil && !dc.drained && errors.Is(dc.err, ErrCarrierLost) {
				dc.drained = true
				dc.mu.Unlock()
				dc.drainPort()
				continue
			}
			if len(dc.pending) > 0 { // held bytes: the NO CARRIER never came
				dc.holdN = 0
				dc.mu.Unlock()
				continue
			}
			err := dc.err
			dc.mu.Unlock()
			return 0, err
		}
		deadline := dc.deadline
		dc.holdUntil = time.Time{}
		if dc.holdN > 0 {
			dc.holdUntil = time.Now().Add(dc.hold)
			if deadline.IsZero() || dc.holdUntil.Before(deadline) {
				deadline = dc.holdUntil
			}
		}
		dc.mu.Unlock()

		n, err := dc.r.read(context.Background(), dc.buf, deadline, false)
		if n > 0 {
			dc.feed(dc.buf[:n])
		}
		if err == nil || n > 0 {
			continue
		}
		switch {
		case errors.Is(err, errHalted):
			// the call ended; the loop reports it
		case errors.Is(err, os.ErrDeadlineExceeded):
			dc.mu.Lock()
			held := dc.holdN > 0
			dc.holdN = 0 // a deadline, ours or the caller's, releases held bytes
			dc.mu.Unlock()
			if !held {
				return 0, err
			}
		case errors.Is(err, io.EOF):
			dc.end(fmt.Errorf("%w: port %s closed: %w", ErrCarrierLost, dc.m.p.Name(), err), "port closed")
		default:
			return 0, fmt.Errorf("read from %s: %w", dc.m.p.Name(), err)
		}
	}
}

// drainPort collects what is still in the port after DCD dropped.
func (dc *DataConn) drainPort() {
	for {
		n, err := dc.r.read(context.Background(), dc.buf, time.Now().Add(drainWindow), true)
		if n > 0 {
			dc.feed(dc.buf[:n])
		}
		if n == 0 || err != nil {
			return
		}
	}
}

// Write sends bytes to the caller. After the call has ended it fails with the reason, so
// that nothing meant for the caller reaches a modem back in command mode.
func (dc *DataConn) Write(b []byte) (int, error) {
	if err := dc.Err(); err != nil {
		return 0, err
	}
	n, err := dc.m.p.Write(b)
	if err != nil {
		return n, fmt.Errorf("write to %s: %w", dc.m.p.Name(), err)
	}
	return n, nil
}

// SetReadDeadline sets the deadline for Read, also for a Read already blocked. Zero means none.
func (dc *DataConn) SetReadDeadline(t time.Time) error {
	dc.mu.Lock()
	dc.deadline = t
	eff := t
	if !dc.holdUntil.IsZero() && (t.IsZero() || dc.holdUntil.Before(t)) {
		eff = dc.holdUntil
	}
	dc.mu.Unlock()
	dc.r.setDeadline(eff)
	return nil
}

// Done is closed when the call ends, by carrier loss or hang-up.
func (dc *DataConn) Done() <-chan struct{} { return dc.done }

// Err is nil while the call is up, then why it ended (wrapping ErrCarrierLost or ErrHungUp).
func (dc *DataConn) Err() error {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	return dc.err
}

func (dc *DataConn) end(err error, reason string) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	dc.endLocked(err, reason)
}

func (dc *DataConn) endLocked(err error, reason string) {
	if dc.err != nil {
		return
	}
	dc.err = err
	close(dc.done)
	dc.stopOnce.Do(func() { close(dc.stopPoll) })
	dc.r.halt()
	dc.m.log.Info("call ended", "reason", reason)
}

// wait returns when no Read is in flight and the poller has stopped. Call it after end.
func (dc *DataConn) wait() {
	dc.readMu.Lock()
	dc.readMu.Unlock() //nolint:staticcheck // empty critical section: waiting for a Read to leave
	if dc.pollDone != nil {
		<-dc.pollDone
	}
}
