package chat

import (
	"bytes"
	"context"
	"io"
	"os"
	"sync"
	"time"
)

// fakeModem is a lines.Port whose far end is a scripted modem: when the bytes written to
// it so far contain a rule's trigger, the rule's reply becomes readable (after its delay).
// Reads honour SetReadDeadline like a real port.
type fakeModem struct {
	mu       sync.Mutex
	changed  chan struct{} // closed and replaced whenever in, closed or the deadline changes
	in       []byte        // readable by the chat script
	written  bytes.Buffer  // everything written
	writes   []timedWrite  // each Write call
	unseen   int           // offset in written of bytes no rule has consumed yet
	rules    []rule
	deadline time.Time
	closed   bool
	timers   []*time.Timer
	onWrite  func(p []byte) // called (without the lock) after each Write
}

type rule struct {
	on    string        // trigger in written data; "" fires at once on creation
	reply string        // becomes readable
	after time.Duration // delay before the reply is readable
}

type timedWrite struct {
	at   time.Time
	data string
}

func newFakeModem(rules ...rule) *fakeModem {
	m := &fakeModem{changed: make(chan struct{}), rules: rules}
	m.mu.Lock()
	m.fireLocked()
	m.mu.Unlock()
	return m
}

func (m *fakeModem) notifyLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// fireLocked runs the rules in order: each one waits for its trigger after the point where
// the previous one fired.
func (m *fakeModem) fireLocked() {
	for len(m.rules) > 0 {
		r := m.rules[0]
		i := bytes.Index(m.written.Bytes()[m.unseen:], []byte(r.on))
		if i < 0 {
			return
		}
		m.unseen += i + len(r.on)
		m.rules = m.rules[1:]
		if r.after <= 0 {
			m.in = append(m.in, r.reply...)
			m.notifyLocked()
			continue
		}
		reply := r.reply
		m.timers = append(m.timers, time.AfterFunc(r.after, func() { m.feed(reply) }))
	}
}

// feed makes data readable, as if the modem had sent it.
func (m *fakeModem) feed(data string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.in = append(m.in, data...)
	m.notifyLocked()
}

func (m *fakeModem) Read(p []byte) (int, error) {
	for {
		m.mu.Lock()
		if len(m.in) > 0 {
			n := copy(p, m.in)
			m.in = m.in[n:]
			m.mu.Unlock()
			return n, nil
		}
		if m.closed {
			m.mu.Unlock()
			return 0, io.EOF
		}
		dl, ch := m.deadline, m.changed
		m.mu.Unlock()
		var expired <-chan time.Time
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(d)
			expired = t.C
			select {
			case <-ch:
			case <-expired:
			}
			t.Stop()
			continue
		}
		<-ch
	}
}

func (m *fakeModem) Write(p []byte) (int, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return 0, os.ErrClosed
	}
	m.written.Write(p)
	m.writes = append(m.writes, timedWrite{at: time.Now(), data: string(p)})
	m.fireLocked()
	hook := m.onWrite
	m.mu.Unlock()
	if hook != nil {
		hook(p)
	}
	return len(p), nil
}

func (m *fakeModem) SetReadDeadline(t time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.deadline = t
	m.notifyLocked()
	return nil
}

func (m *fakeModem) Hangup(context.Context) error { return nil }

func (m *fakeModem) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.closed {
		m.closed = true
		for _, t := range m.timers {
			t.Stop()
		}
		m.notifyLocked()
	}
	return nil
}

func (m *fakeModem) Name() string { return "fake0" }

func (m *fakeModem) Written() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.written.String()
}

func (m *fakeModem) Writes() []timedWrite {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]timedWrite(nil), m.writes...)
}

func (m *fakeModem) Deadline() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.deadline
}

// breakModem is a fakeModem that can send BREAK (lines.Breaker).
type breakModem struct {
	*fakeModem
	bmu    sync.Mutex
	breaks []time.Duration
	err    error
}

func (b *breakModem) Break(d time.Duration) error {
	b.bmu.Lock()
	defer b.bmu.Unlock()
	b.breaks = append(b.breaks, d)
	// A BREAK shows in the written stream as a marker, so tests see where it fell.
	b.fakeModem.mu.Lock()
	b.fakeModem.written.WriteString("<BREAK>")
	b.fakeModem.fireLocked()
	b.fakeModem.mu.Unlock()
	return b.err
}

// Unread is what the modem sent that nobody has read yet.
func (m *fakeModem) Unread() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return string(m.in)
}
