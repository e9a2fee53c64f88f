package pstn

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/dialback/nas/lines"
)

var (
	_ lines.Port         = (*Port)(nil)
	_ lines.ModemControl = (*Port)(nil)
	_ lines.Breaker      = (*Port)(nil)
)

// Port is the DTE side of a subscriber's modem: what a serial port to that modem would be.
type Port struct {
	m      *modem
	x      *Exchange
	closed chan struct{} // closed by closeLocked
}

// Name is "sim:<number>".
func (p *Port) Name() string { return "sim:" + p.m.number }

// Number is the subscriber number of the line.
func (p *Port) Number() string { return p.m.number }

func (p *Port) errClosed(op string) error {
	return fmt.Errorf("pstn: %s %s: %w", op, p.Name(), os.ErrClosed)
}

// Read returns what the modem sends to the DTE: echo, result codes, data. It honours
// SetReadDeadline (os.ErrDeadlineExceeded) and returns io.EOF once the port or the exchange is
// closed. Bytes already buffered are returned even when the deadline has passed.
func (p *Port) Read(b []byte) (int, error) { return p.m.out.read(b) }

// SetReadDeadline sets the deadline for Read, also for a Read already waiting.
func (p *Port) SetReadDeadline(t time.Time) error {
	p.m.out.setDeadline(t)
	return nil
}

// Write sends bytes to the modem. In command state the modem takes them at once. In data
// state they go on the line within a flow-control window of Options.MaxBuffered bytes (in
// flight plus unread at the far DTE); while the window is full Write waits (CTS is off) for
// the far DTE to read, for at most Options.FlowTimeout without progress, then returns the
// count sent and ErrFlowTimeout. If the call ends meanwhile, the unsent rest is discarded (as a
// modem flushes its buffer on disconnect) and counted as written. Write never blocks longer,
// and Close releases it.
func (p *Port) Write(b []byte) (int, error) {
	x := p.x
	total := 0
	var waited <-chan struct{} // the call a previous round waited on
	for {
		x.mu.Lock()
		if p.m.closed {
			x.mu.Unlock()
			return total, p.errClosed("write")
		}
		if waited != nil && isDone(waited) {
			// Carrier went while the rest waited for the window: like a modem flushing its
			// buffer on disconnect, the rest is dropped rather than read as commands.
			p.m.cts = true
			x.mu.Unlock()
			return len(b), nil
		}
		n, wait, callDone := p.m.input(b[total:], time.Now())
		total += n
		if wait == nil {
			p.m.cts = true
			x.mu.Unlock()
			return total, nil
		}
		p.m.cts = false
		waited = callDone
		x.mu.Unlock()
		t := time.NewTimer(x.o.FlowTimeout)
		select {
		case <-wait:
			t.Stop()
		case <-callDone:
			t.Stop()
		case <-p.closed:
			t.Stop()
		case <-t.C:
			x.mu.Lock()
			if !p.m.closed {
				p.m.cts = true
			}
			x.mu.Unlock()
			return total, fmt.Errorf("pstn: write %s: %w", p.Name(), ErrFlowTimeout)
		}
	}
}

// SetDTR drives DTR. Dropping it acts as &D says: &D0 nothing, &D1 online command state,
// &D2 hang up (NO CARRIER if a call was up or being set up), &D3 hang up and reset (ATZ).
// While DTR is off (&D1-&D3) the modem does not auto-answer.
func (p *Port) SetDTR(on bool) error {
	p.x.mu.Lock()
	defer p.x.mu.Unlock()
	if p.m.closed {
		return p.errClosed("set DTR on")
	}
	if p.m.dtr == on {
		return nil
	}
	p.m.dtr = on
	p.m.dtrChanged(on)
	return nil
}

// SetRTS drives RTS; the emulated modem does not use it.
func (p *Port) SetRTS(on bool) error {
	p.x.mu.Lock()
	defer p.x.mu.Unlock()
	if p.m.closed {
		return p.errClosed("set RTS on")
	}
	p.m.rts = on
	return nil
}

// ModemStatus reports DCD (carrier, or always on with &C0), DSR (on while powered, off for
// Options.DSRDrop after each hang-up), CTS (off while a Write waits for the window) and RI
// (on during the first half of each ring period).
func (p *Port) ModemStatus() (lines.ModemStatus, error) {
	p.x.mu.Lock()
	defer p.x.mu.Unlock()
	m := p.m
	if m.closed {
		return lines.ModemStatus{}, p.errClosed("modem status of")
	}
	return lines.ModemStatus{DCD: m.dcd || m.p.c == 0, DSR: m.dsr, CTS: m.cts, RI: m.ri}, nil
}

// Break sends a BREAK of duration d. It aborts dialling or answering as a keystroke would;
// in other states the modem ignores it.
func (p *Port) Break(d time.Duration) error {
	p.x.mu.Lock()
	if p.m.closed {
		p.x.mu.Unlock()
		return p.errClosed("break on")
	}
	if p.m.state == stDialing || p.m.state == stAnswering {
		p.m.abortCall(resNoCarrier)
	}
	p.x.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-p.closed:
	}
	return nil
}

// Hangup ends the current call: DTR off for Options.DTRPulse, then on again. If the modem is
// still off-hook after that (&D0 ignores DTR, &D1 only escapes), it is put on-hook directly,
// so Hangup always ends the call. The port stays open.
func (p *Port) Hangup(ctx context.Context) error {
	if err := p.SetDTR(false); err != nil {
		return err
	}
	t := time.NewTimer(p.x.o.DTRPulse)
	defer t.Stop()
	var err error
	select {
	case <-t.C:
	case <-ctx.Done():
		err = fmt.Errorf("pstn: hang up %s: %w", p.Name(), ctx.Err())
	case <-p.closed:
		return p.errClosed("hang up")
	}
	p.x.mu.Lock()
	defer p.x.mu.Unlock()
	if p.m.closed {
		return p.errClosed("hang up")
	}
	p.m.dtr = true
	if p.m.state != stIdle {
		p.m.abortCall(resNone)
	}
	return err
}

// Close unplugs the modem: its call ends (the far end sees NO CARRIER), the number is free to
// attach again, and Read returns io.EOF.
func (p *Port) Close() error {
	p.x.mu.Lock()
	defer p.x.mu.Unlock()
	p.closeLocked()
	return nil
}

func isDone(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func (p *Port) closeLocked() {
	m := p.m
	if m.closed {
		return
	}
	if n := m.out.overrun(); n > 0 {
		p.x.log.Warn("DTE did not read: bytes dropped", "number", m.number, "bytes", n)
	}
	m.powerOff()
	if p.x.lines[m.number] == m {
		delete(p.x.lines, m.number)
	}
	m.out.close()
	close(p.closed)
	p.x.log.Info("subscriber detached", "number", m.number)
}

// dteBuf is the modem-to-DTE byte queue. Its own lock lets Read wait without holding x.mu.
type dteBuf struct {
	mu       sync.Mutex
	buf      []byte
	r        int // read offset into buf
	limit    int // beyond this the modem overruns and drops (a DTE that never reads)
	dropped  int
	closed   bool
	deadline time.Time
	dataSig  chan struct{} // closed when data arrives, the buffer closes or the deadline moves
	readSig  chan struct{} // closed when a reader takes data (opens the flow-control window)
}

func newDTEBuf(limit int) *dteBuf {
	return &dteBuf{limit: limit, dataSig: make(chan struct{}), readSig: make(chan struct{})}
}

func (b *dteBuf) wakeReaders() {
	close(b.dataSig)
	b.dataSig = make(chan struct{})
}

func (b *dteBuf) put(p []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || len(p) == 0 {
		return
	}
	if room := b.limit - (len(b.buf) - b.r); room < len(p) {
		b.dropped += len(p) - max(room, 0)
		p = p[:max(room, 0)]
		if len(p) == 0 {
			return
		}
	}
	if b.r > 0 && b.r >= len(b.buf)/2 {
		n := copy(b.buf, b.buf[b.r:])
		b.buf = b.buf[:n]
		b.r = 0
	}
	b.buf = append(b.buf, p...)
	b.wakeReaders()
}

// pending returns the unread byte count and a channel closed at the next read, taken
// together so that a writer cannot miss the read that makes room.
func (b *dteBuf) pending() (int, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.buf) - b.r, b.readSig
}

func (b *dteBuf) read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return 0, io.EOF
		}
		if b.r < len(b.buf) {
			n := copy(p, b.buf[b.r:])
			b.r += n
			if b.r == len(b.buf) {
				b.buf, b.r = b.buf[:0], 0
			}
			close(b.readSig)
			b.readSig = make(chan struct{})
			b.mu.Unlock()
			return n, nil
		}
		dl := b.deadline
		if !dl.IsZero() && !time.Now().Before(dl) {
			b.mu.Unlock()
			return 0, os.ErrDeadlineExceeded
		}
		sig := b.dataSig
		b.mu.Unlock()
		if dl.IsZero() {
			<-sig
			continue
		}
		t := time.NewTimer(time.Until(dl))
		select {
		case <-sig:
		case <-t.C:
		}
		t.Stop()
	}
}

func (b *dteBuf) overrun() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped
}

func (b *dteBuf) setDeadline(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deadline = t
	b.wakeReaders()
}

func (b *dteBuf) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	b.buf, b.r = nil, 0
	b.wakeReaders()
	close(b.readSig)
	b.readSig = make(chan struct{})
}
