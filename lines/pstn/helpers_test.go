package pstn

import (
	"bytes"
	"errors"
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dialback/nas/lines"
)

// waitFor bounds every wait in the tests; it is a failure deadline, not a synchronisation.
const waitFor = 5 * time.Second

// fastOptions are the timings the tests run with.
func fastOptions() Options {
	return Options{
		RingPeriod:    20 * time.Millisecond,
		NoAnswerRings: 5,
		TrainingDelay: 5 * time.Millisecond,
		DSRDrop:       10 * time.Millisecond,
		DTRPulse:      5 * time.Millisecond,
		Seed:          1,
	}
}

func newExchange(t testing.TB, o Options) *Exchange {
	t.Helper()
	x := New(o)
	t.Cleanup(func() { _ = x.Close() })
	return x
}

// conn is what a test terminal talks to: a Port, or the slave side of a pty.
type conn interface {
	io.ReadWriter
	SetReadDeadline(time.Time) error
}

// term is a test's DTE: it writes to the modem and collects what comes back.
type term struct {
	t    testing.TB
	c    conn
	name string
	buf  []byte
}

func newTerm(t testing.TB, c conn, name string) *term { return &term{t: t, c: c, name: name} }

func attach(t testing.TB, x *Exchange, number string) (*Port, *term) {
	t.Helper()
	p, err := x.Attach(number)
	if err != nil {
		t.Fatalf("attach %s: %v", number, err)
	}
	return p, newTerm(t, p, number)
}

func (d *term) send(s string) {
	d.t.Helper()
	if _, err := d.c.Write([]byte(s)); err != nil {
		d.t.Fatalf("%s: write %q: %v", d.name, s, err)
	}
}

// expect reads until want has arrived and returns what came before it; the text up to and
// including want is consumed.
func (d *term) expect(want string) string {
	d.t.Helper()
	deadline := time.Now().Add(waitFor)
	chunk := make([]byte, 4096)
	for {
		if i := bytes.Index(d.buf, []byte(want)); i >= 0 {
			before := string(d.buf[:i])
			d.buf = d.buf[i+len(want):]
			return before
		}
		if err := d.c.SetReadDeadline(deadline); err != nil {
			d.t.Fatalf("%s: set deadline: %v", d.name, err)
		}
		n, err := d.c.Read(chunk)
		d.buf = append(d.buf, chunk[:n]...)
		if err != nil {
			d.t.Fatalf("%s: waiting for %q: %v; got %q", d.name, want, err, d.buf)
		}
	}
}

// drain returns everything the modem has sent so far without waiting for more.
func (d *term) drain() string {
	d.t.Helper()
	chunk := make([]byte, 4096)
	if err := d.c.SetReadDeadline(time.Now()); err != nil {
		d.t.Fatalf("%s: set deadline: %v", d.name, err)
	}
	for {
		n, err := d.c.Read(chunk)
		d.buf = append(d.buf, chunk[:n]...)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			d.t.Fatalf("%s: drain: %v", d.name, err)
		}
	}
	s := string(d.buf)
	d.buf = d.buf[:0]
	return s
}

// cmd sends an AT command line and waits for the given final result.
func (d *term) cmd(line, want string) string {
	d.t.Helper()
	d.send(line + "\r")
	return d.expect(want)
}

func status(t testing.TB, p *Port) lines.ModemStatus {
	t.Helper()
	s, err := p.ModemStatus()
	if err != nil {
		t.Fatalf("%s: modem status: %v", p.Name(), err)
	}
	return s
}

// eventually polls cond until it holds or the failure deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// dialUp connects caller to callee (which answers with ATA) and consumes both CONNECT lines.
func dialUp(t testing.TB, caller, callee *term, calleeNumber string) {
	t.Helper()
	caller.send("ATDT" + calleeNumber + "\r")
	callee.expect("RING\r\n")
	callee.send("ATA\r")
	caller.expect("CONNECT 33600\r\n")
	callee.expect("CONNECT 33600\r\n")
}

// settleGoroutines waits for the goroutine count to come back to base.
func settleGoroutines(t testing.TB, base int) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, want <= %d:\n%s", n, base, buf)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func countOf(s, sub string) int { return strings.Count(s, sub) }
