package ppp

import (
	"io"
	"os"
	"sync"
	"time"
)

// lkBuf is one direction of an in-memory line: buffered, so both ends can write at once
// (net.Pipe is synchronous and two links writing to each other would deadlock).
type lkBuf struct {
	mu       sync.Mutex
	data     []byte
	closed   bool
	deadline time.Time
	wake     chan struct{}
	// tap sees every write (under the lock); drop discards writes while set.
	tap  func([]byte)
	drop bool
}

func newLKBuf() *lkBuf { return &lkBuf{wake: make(chan struct{})} }

// notify wakes a blocked reader; called with mu held.
func (b *lkBuf) notify() {
	close(b.wake)
	b.wake = make(chan struct{})
}

func (b *lkBuf) read(p []byte) (int, error) {
	for {
		b.mu.Lock()
		if len(b.data) > 0 {
			n := copy(p, b.data)
			b.data = b.data[n:]
			b.mu.Unlock()
			return n, nil
		}
		if b.closed {
			b.mu.Unlock()
			return 0, io.EOF
		}
		var timer <-chan time.Time
		if !b.deadline.IsZero() {
			d := time.Until(b.deadline)
			if d <= 0 {
				b.mu.Unlock()
				return 0, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(d)
			defer t.Stop()
			timer = t.C
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-timer:
		}
	}
}

func (b *lkBuf) write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return 0, io.ErrClosedPipe
	}
	if b.tap != nil {
		b.tap(p)
	}
	if !b.drop {
		b.data = append(b.data, p...)
		b.notify()
	}
	return len(p), nil
}

func (b *lkBuf) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		b.notify()
	}
}

func (b *lkBuf) setDeadline(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deadline = t
	b.notify()
}

// lkEnd is one end of the line: it reads from in and writes to out.
type lkEnd struct{ in, out *lkBuf }

func (e *lkEnd) Read(p []byte) (int, error)        { return e.in.read(p) }
func (e *lkEnd) Write(p []byte) (int, error)       { return e.out.write(p) }
func (e *lkEnd) SetReadDeadline(t time.Time) error { e.in.setDeadline(t); return nil }
func (e *lkEnd) Close() error                      { e.in.close(); e.out.close(); return nil }
func (e *lkEnd) inject(p []byte)                   { _, _ = e.in.write(p) }
func (e *lkEnd) setTap(f func([]byte))             { e.out.mu.Lock(); e.out.tap = f; e.out.mu.Unlock() }
func (e *lkEnd) setDrop(on bool)                   { e.out.mu.Lock(); e.out.drop = on; e.out.mu.Unlock() }

// lkPipe returns the two ends of a fresh line.
func lkPipe() (a, b *lkEnd) {
	ab, ba := newLKBuf(), newLKBuf()
	return &lkEnd{in: ba, out: ab}, &lkEnd{in: ab, out: ba}
}

// lkLoop returns a line looped back on itself: what is written is read back.
func lkLoop() *lkEnd {
	b := newLKBuf()
	return &lkEnd{in: b, out: b}
}
