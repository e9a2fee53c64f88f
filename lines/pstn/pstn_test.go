package pstn

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestCallDataBothWays(t *testing.T) {
	o := fastOptions()
	o.MaxBuffered = 1024 // small window: the bulk transfer below runs on flow control
	x := newExchange(t, o)
	pa, a := attach(t, x, "5550001")
	pb, b := attach(t, x, "5550002")

	if s := status(t, pa); s.DCD || !s.DSR || !s.CTS {
		t.Fatalf("idle modem status %+v, want DCD off, DSR and CTS on", s)
	}
	a.send("ATDT555-0002\r")
	b.expect("\r\nRING\r\n")
	b.send("ATA\r")
	if got := a.expect("CONNECT 33600\r\n"); got != "ATDT555-0002\r\r\n" {
		t.Errorf("caller output before CONNECT = %q", got)
	}
	b.expect("CONNECT 33600\r\n")
	for _, p := range []*Port{pa, pb} {
		if s := status(t, p); !s.DCD || s.RI {
			t.Errorf("%s online: status %+v, want DCD on, RI off", p.Name(), s)
		}
	}

	a.send("hello from a")
	b.expect("hello from a")
	b.send("and from b")
	a.expect("and from b")

	// Bulk both ways at once, more than the window, with each side reading concurrently.
	payload := func(seed uint64) []byte {
		r := rand.New(rand.NewPCG(seed, 0))
		p := make([]byte, 100_000)
		for i := range p {
			p[i] = byte(r.Uint32())
		}
		return p
	}
	ab, ba := payload(1), payload(2)
	var wg sync.WaitGroup
	var gotAB, gotBA []byte
	var errAB, errBA error
	readN := func(p *Port, n int, dst *[]byte, errp *error) {
		defer wg.Done()
		*dst = make([]byte, n)
		_ = p.SetReadDeadline(time.Now().Add(waitFor))
		_, *errp = io.ReadFull(p, *dst)
	}
	wg.Add(2)
	go readN(pb, len(ab), &gotAB, &errAB)
	go readN(pa, len(ba), &gotBA, &errBA)
	var wErr [2]error
	wg.Add(2)
	go func() { defer wg.Done(); _, wErr[0] = pa.Write(ab) }()
	go func() { defer wg.Done(); _, wErr[1] = pb.Write(ba) }()
	wg.Wait()
	if wErr[0] != nil || wErr[1] != nil || errAB != nil || errBA != nil {
		t.Fatalf("bulk transfer: write errors %v, read errors %v %v", wErr, errAB, errBA)
	}
	if !bytes.Equal(gotAB, ab) || !bytes.Equal(gotBA, ba) {
		t.Fatal("bulk transfer: data changed on a noiseless line")
	}
}

func TestCallProgress(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(t *testing.T, x *Exchange, a, b *term)
		dial   string
		want   string
		rings  int // RINGs the called line (5550002) must have seen
		x0     bool
		noTone bool
	}{
		{name: "busy, called line off-hook", dial: "5550002", want: "\r\nBUSY\r\n",
			setup: func(t *testing.T, x *Exchange, a, b *term) { b.cmd("ATH1", "OK") }},
		{name: "busy, called line in a call", dial: "5550002", want: "\r\nBUSY\r\n",
			setup: func(t *testing.T, x *Exchange, a, b *term) {
				_, c := attach(t, x, "5550003")
				dialUp(t, c, b, "5550002")
			}},
		{name: "busy, called line dialling in pieces", dial: "5550002", want: "\r\nBUSY\r\n",
			setup: func(t *testing.T, x *Exchange, a, b *term) { b.cmd("ATDT9;", "OK") }},
		{name: "busy, own number", dial: "5550001", want: "\r\nBUSY\r\n"},
		{name: "busy with X0 is no carrier", dial: "5550002", want: "\r\nNO CARRIER\r\n", x0: true,
			setup: func(t *testing.T, x *Exchange, a, b *term) { b.cmd("ATH1", "OK") }},
		{name: "no answer", dial: "5550002", want: "\r\nNO ANSWER\r\n", rings: 3},
		{name: "no answer with X0 is no carrier", dial: "5550002", want: "\r\nNO CARRIER\r\n", rings: 3, x0: true},
		{name: "unknown number", dial: "5559999", want: "\r\nNO CARRIER\r\n"},
		{name: "no dial tone", dial: "5550002", want: "\r\nNO DIALTONE\r\n", noTone: true},
		{name: "no dial tone, blind dialling", dial: "5550002", want: "\r\nNO CARRIER\r\n", noTone: true, x0: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := fastOptions()
			o.NoAnswerRings = 3
			x := newExchange(t, o)
			pa, a := attach(t, x, "5550001")
			pb, b := attach(t, x, "5550002")
			a.cmd("ATE0", "OK\r\n")
			b.cmd("ATE0", "OK\r\n")
			if tc.setup != nil {
				tc.setup(t, x, a, b)
			}
			if tc.x0 {
				a.cmd("ATX0", "OK\r\n")
			}
			if tc.noTone {
				x.SetDialTone("5550001", false)
			}
			a.send("ATD" + tc.dial + "\r")
			if got := a.expect(tc.want); got != "" {
				t.Errorf("caller printed %q before %q", got, tc.want)
			}
			if s := status(t, pa); s.DCD {
				t.Errorf("caller DCD on after %q", tc.want)
			}
			// The exchange released the called line before the caller heard the result.
			rest := b.drain()
			if n := countOf(rest, "RING"); n != tc.rings {
				t.Errorf("called line rang %d times, want %d (output %q)", n, tc.rings, rest)
			}
			if s := status(t, pb); s.RI {
				t.Error("RI still on after the call attempt ended")
			}
			// Both lines are free again: the caller can call the callee (which is not busy
			// unless the setup kept it so).
			if tc.rings > 0 {
				b.send("ATD5550001\r")
				a.expect("RING")
			}
		})
	}
}

func TestDialingAbortedByKeystroke(t *testing.T) {
	x := newExchange(t, fastOptions())
	_, a := attach(t, x, "5550001")
	pb, b := attach(t, x, "5550002")
	a.cmd("ATE0", "OK\r\n")
	a.send("ATDT5550002\r\n") // the LF after the command must not abort
	b.expect("RING")
	a.send("x")
	a.expect("\r\nNO CARRIER\r\n")
	eventually(t, "ringing to stop", func() bool { return !status(t, pb).RI })
	b.drain()
	// The called line is idle again.
	b.send("ATD5550001\r")
	a.expect("RING")
}

func TestAutoAnswer(t *testing.T) {
	x := newExchange(t, fastOptions())
	_, a := attach(t, x, "5550001")
	pb, b := attach(t, x, "5550002")
	b.cmd("ATE0 S0=2", "OK\r\n")
	b.cmd("ATS0?", "OK\r\n")
	a.send("ATD5550002\r")
	got := b.expect("CONNECT 33600\r\n")
	if got != "\r\nRING\r\n\r\nRING\r\n\r\n" {
		t.Errorf("auto-answering line printed %q before CONNECT, want two RINGs", got)
	}
	a.expect("CONNECT 33600\r\n")
	if !status(t, pb).DCD {
		t.Error("auto-answered line has no DCD")
	}
	b.send("data")
	a.expect("data")
}

func TestAutoAnswerNeedsDTR(t *testing.T) {
	o := fastOptions()
	o.NoAnswerRings = 3
	x := newExchange(t, o)
	_, a := attach(t, x, "5550001")
	pb, b := attach(t, x, "5550002")
	b.cmd("ATE0 S0=1 &D2", "OK\r\n")
	if err := pb.SetDTR(false); err != nil {
		t.Fatal(err)
	}
	a.send("ATD5550002\r")
	a.expect("NO ANSWER")
	if n := countOf(b.drain(), "RING"); n != 3 {
		t.Errorf("line with DTR off rang %d times without answering, want 3", n)
	}
}

func TestCallerID(t *testing.T) {
	tests := []struct {
		enable, name, wantName string
	}{
		{"AT+VCID=1", "", "5550001"},
		{"AT#CID=1", "", "5550001"},
		{"AT+VCID=1", "JOHN DOE", "JOHN DOE"},
		{"AT+VCID=0", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.enable+"/"+tc.name, func(t *testing.T) {
			o := fastOptions()
			o.RingPeriod = 40 * time.Millisecond
			x := newExchange(t, o)
			x.SetCallerName("5550001", tc.name)
			_, a := attach(t, x, "5550001")
			_, b := attach(t, x, "5550002")
			b.cmd("ATE0 S0=2", "OK\r\n")
			b.cmd(tc.enable, "OK\r\n")
			a.send("ATD5550002\r")
			got := b.expect("CONNECT 33600\r\n")
			if tc.wantName == "" {
				if got != "\r\nRING\r\n\r\nRING\r\n\r\n" {
					t.Fatalf("caller ID off: got %q", got)
				}
				return
			}
			re := regexp.MustCompile(`^\r\nRING\r\n\r\nDATE = (\d\d)(\d\d)\r\nTIME = (\d\d)(\d\d)\r\n` +
				`NMBR = 5550001\r\nNAME = ` + regexp.QuoteMeta(tc.wantName) + `\r\n\r\nRING\r\n\r\n$`)
			m := re.FindStringSubmatch(got)
			if m == nil {
				t.Fatalf("caller ID block: got %q", got)
			}
			mm, _ := strconv.Atoi(m[1])
			dd, _ := strconv.Atoi(m[2])
			hh, _ := strconv.Atoi(m[3])
			mi, _ := strconv.Atoi(m[4])
			if mm < 1 || mm > 12 || dd < 1 || dd > 31 || hh > 23 || mi > 59 {
				t.Errorf("caller ID date/time out of range: %q", got)
			}
			a.expect("CONNECT")
		})
	}
}

func TestHangupReachesOtherSide(t *testing.T) {
	type how struct {
		name     string
		hangup   func(t *testing.T, x *Exchange, p *Port, d *term)
		ownWants string // what the hanging-up modem prints (if its port is still open)
	}
	hows := []how{
		{name: "ATH after escape", ownWants: "\r\nOK\r\n", hangup: func(t *testing.T, x *Exchange, p *Port, d *term) {
			time.Sleep(60 * time.Millisecond) // escape guard time (S12=1: 20 ms) before +++
			d.send("+++")
			d.expect("\r\nOK\r\n")
			d.send("ATH\r")
		}},
		{name: "DTR drop with &D2", ownWants: "\r\nNO CARRIER\r\n", hangup: func(t *testing.T, x *Exchange, p *Port, d *term) {
			if err := p.SetDTR(false); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "Port.Hangup", hangup: func(t *testing.T, x *Exchange, p *Port, d *term) {
			if err := p.Hangup(context.Background()); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "Port.Close", hangup: func(t *testing.T, x *Exchange, p *Port, d *term) {
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "Exchange.Disconnect", ownWants: "\r\nNO CARRIER\r\n", hangup: func(t *testing.T, x *Exchange, p *Port, d *term) {
			if err := x.Disconnect(p.Number()); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, side := range []string{"caller", "callee"} {
		for _, h := range hows {
			t.Run(side+"/"+h.name, func(t *testing.T) {
				x := newExchange(t, fastOptions())
				pa, a := attach(t, x, "5550001")
				pb, b := attach(t, x, "5550002")
				a.cmd("ATE0 S12=1", "OK\r\n")
				b.cmd("ATE0 S12=1", "OK\r\n")
				dialUp(t, a, b, "5550002")
				hp, hd, op, od := pa, a, pb, b
				if side == "callee" {
					hp, hd, op, od = pb, b, pa, a
				}
				h.hangup(t, x, hp, hd)
				// The far modem learns at once (as from a V.42 disconnect): by the time the
				// hang-up has returned, its DCD is off and NO CARRIER is on its way.
				if status(t, op).DCD {
					t.Error("other side's DCD still on after the hang-up returned")
				}
				od.expect("\r\nNO CARRIER\r\n")
				if h.ownWants != "" {
					hd.expect(h.ownWants)
					if status(t, hp).DCD {
						t.Error("DCD still on at the side that hung up")
					}
				}
				// The other side is back in command state.
				od.cmd("AT", "\r\nOK\r\n")
			})
		}
	}
}

func TestEscapeAndReturnOnline(t *testing.T) {
	x := newExchange(t, fastOptions())
	pa, a := attach(t, x, "5550001")
	_, b := attach(t, x, "5550002")
	a.cmd("ATE0 S12=1", "OK\r\n")
	b.cmd("ATE0", "OK\r\n")
	dialUp(t, a, b, "5550002")

	// +++ inside data (no guard time around it) is data.
	a.send("a+++b")
	b.expect("a+++b")

	time.Sleep(60 * time.Millisecond) // guard time before
	a.send("+++")
	b.expect("+++") // the escape characters go on the line too
	if got := a.expect("OK\r\n"); got != "\r\n" {
		t.Errorf("before the escape's OK the modem printed %q; the first +++ must not have escaped", got)
	}
	if !status(t, pa).DCD {
		t.Error("carrier dropped by the escape")
	}
	a.cmd("ATI4", "OK\r\n") // command state works while the call is up
	b.send("lost while in command state")
	a.cmd("ATO", "\r\nCONNECT 33600\r\n")
	b.send("after ATO")
	if got := a.expect("after ATO"); got != "" {
		t.Errorf("data from online command state leaked after ATO: %q", got)
	}
	a.send("back online")
	b.expect("back online")

	time.Sleep(60 * time.Millisecond)
	a.send("+++")
	a.expect("OK\r\n")
	a.cmd("ATH", "OK\r\n")
	b.expect("NO CARRIER")
}

func TestDTRModes(t *testing.T) {
	x := newExchange(t, fastOptions())
	pa, a := attach(t, x, "5550001")
	_, b := attach(t, x, "5550002")
	a.cmd("ATE0 &D1 S12=1", "OK\r\n")
	b.cmd("ATE0", "OK\r\n")
	dialUp(t, a, b, "5550002")

	// &D1: DTR off escapes to command state; the call stays.
	if err := pa.SetDTR(false); err != nil {
		t.Fatal(err)
	}
	a.expect("\r\nOK\r\n")
	if err := pa.SetDTR(true); err != nil {
		t.Fatal(err)
	}
	a.cmd("ATO", "CONNECT 33600\r\n")
	a.send("x")
	b.expect("x")

	// &D0: DTR is ignored, but Port.Hangup still ends the call.
	time.Sleep(60 * time.Millisecond) // S12=1: 20 ms guard before +++
	a.send("+++")
	a.expect("OK\r\n")
	a.cmd("AT&D0O", "CONNECT 33600\r\n")
	if err := pa.SetDTR(false); err != nil {
		t.Fatal(err)
	}
	if err := pa.SetDTR(true); err != nil {
		t.Fatal(err)
	}
	b.send("still up")
	a.expect("still up")
	if err := pa.Hangup(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.expect("NO CARRIER")
}

func TestModemLines(t *testing.T) {
	t.Run("RI while ringing", func(t *testing.T) {
		x := newExchange(t, fastOptions())
		_, a := attach(t, x, "5550001")
		pb, b := attach(t, x, "5550002")
		a.send("ATD5550002\r")
		b.expect("RING")
		eventually(t, "RI on", func() bool { return status(t, pb).RI })
		eventually(t, "RI off between rings", func() bool { return !status(t, pb).RI })
		b.cmd("ATA", "CONNECT")
		if status(t, pb).RI {
			t.Error("RI on after answer")
		}
	})
	t.Run("DSR drops at hang-up", func(t *testing.T) {
		o := fastOptions()
		o.DSRDrop = time.Hour // so that the drop cannot end before the test looks
		x := newExchange(t, o)
		pa, a := attach(t, x, "5550001")
		_, b := attach(t, x, "5550002")
		dialUp(t, a, b, "5550002")
		if err := pa.SetDTR(false); err != nil {
			t.Fatal(err)
		}
		if status(t, pa).DSR {
			t.Error("DSR still on right after the DTR hang-up")
		}
	})
	t.Run("DSR returns", func(t *testing.T) {
		x := newExchange(t, fastOptions())
		pa, a := attach(t, x, "5550001")
		_, b := attach(t, x, "5550002")
		dialUp(t, a, b, "5550002")
		if err := pa.Hangup(context.Background()); err != nil {
			t.Fatal(err)
		}
		eventually(t, "DSR back on", func() bool { return status(t, pa).DSR })
	})
	t.Run("&C0 DCD always on", func(t *testing.T) {
		x := newExchange(t, fastOptions())
		pa, a := attach(t, x, "5550001")
		a.cmd("AT&C0", "OK")
		if !status(t, pa).DCD {
			t.Error("&C0: DCD off")
		}
		a.cmd("AT&C1", "OK")
		if status(t, pa).DCD {
			t.Error("&C1 idle: DCD on")
		}
	})
}

func TestNumericResults(t *testing.T) {
	x := newExchange(t, fastOptions())
	_, a := attach(t, x, "5550001")
	_, b := attach(t, x, "5550002")
	a.cmd("ATE0", "OK\r\n")
	a.send("ATV0\r")
	if got := a.drain(); got != "0\r" {
		t.Errorf("numeric OK = %q", got)
	}
	a.send("ATS7?\r")
	if got := a.drain(); got != "050\r\n0\r" {
		t.Errorf("numeric S-register read = %q", got)
	}
	a.send("ATY\r")
	if got := a.drain(); got != "4\r" {
		t.Errorf("numeric ERROR = %q", got)
	}
	a.send("ATD5559999\r")
	a.expect("3\r")
	b.cmd("ATE0V0", "0\r")
	a.send("ATD5550002\r")
	b.expect("2\r")
	b.send("ATA\r")
	b.expect("84\r")
	a.expect("84\r")
	b.send("z")
	a.expect("z")
	if err := x.Disconnect("5550002"); err != nil {
		t.Fatal(err)
	}
	a.expect("3\r")
	a.cmd("ATX0", "0\r")
	b.cmd("ATH1", "0\r")
	a.send("ATD5550002\r")
	a.expect("3\r") // busy is not detected with X0
	b.cmd("ATH0", "0\r")
	a.send("ATD5550002\r")
	b.expect("2\r")
	b.send("ATA\r")
	a.expect("1\r") // X0: CONNECT without rate
}

func TestConnectMessages(t *testing.T) {
	tests := []struct {
		speed           int
		extended, noisy bool
		code            int
		word            string
	}{
		{33600, false, false, 84, "CONNECT 33600"},
		{33600, true, false, 84, "CONNECT 33600/ARQ/V34/LAPM"},
		{33600, true, true, 84, "CONNECT 33600/V34"},
		{31200, false, false, 91, "CONNECT 31200"},
		{28800, false, false, 64, "CONNECT 28800"},
		{14400, true, false, 15, "CONNECT 14400/ARQ/V32BIS/LAPM"},
		{2400, true, false, 10, "CONNECT 2400/ARQ/V22BIS/LAPM"},
		{53333, true, false, 1, "CONNECT 53333/ARQ/V90/LAPM"},
	}
	for _, tc := range tests {
		code, word := connectMessage(tc.speed, tc.extended, tc.noisy)
		if code != tc.code || word != tc.word {
			t.Errorf("connectMessage(%d, %v, %v) = %d %q, want %d %q",
				tc.speed, tc.extended, tc.noisy, code, word, tc.code, tc.word)
		}
	}
	// And end to end: W2 and a configured rate.
	o := fastOptions()
	o.ConnectSpeed = 28800
	x := newExchange(t, o)
	_, a := attach(t, x, "5550001")
	_, b := attach(t, x, "5550002")
	a.cmd("ATW2", "OK")
	a.send("ATD5550002\r")
	b.expect("RING")
	b.send("ATA\r")
	a.expect("\r\nCONNECT 28800/ARQ/V34/LAPM\r\n")
	b.expect("\r\nCONNECT 28800\r\n")
}

// transfer calls b from a on an exchange with o, sends data, and returns what b received.
func transfer(t *testing.T, o Options, data []byte) []byte {
	x := newExchange(t, o)
	_, a := attach(t, x, "5550001")
	pb, b := attach(t, x, "5550002")
	a.cmd("ATE0", "OK\r\n")
	b.cmd("ATE0", "OK\r\n")
	dialUp(t, a, b, "5550002")
	a.send(string(data))
	got := make([]byte, len(data))
	_ = pb.SetReadDeadline(time.Now().Add(waitFor))
	if _, err := io.ReadFull(pb, got); err != nil {
		t.Fatalf("reading %d bytes: %v", len(data), err)
	}
	return got
}

func TestNoise(t *testing.T) {
	data := bytes.Repeat([]byte("The quick brown fox jumps over the lazy dog. "), 50)
	clean := fastOptions()
	if got := transfer(t, clean, data); !bytes.Equal(got, data) {
		t.Error("BitErrorRate 0 changed the data")
	}
	noisy := fastOptions()
	noisy.BitErrorRate = 0.01
	noisy.Seed = 42
	got := transfer(t, noisy, data)
	diff := 0
	for i := range data {
		if got[i] != data[i] {
			diff++
		}
	}
	// 18000 bits at 1e-2: about 180 errors; zero would mean the noise is off.
	if diff == 0 {
		t.Fatal("BitErrorRate 0.01 changed nothing")
	}
	if again := transfer(t, noisy, data); !bytes.Equal(again, got) {
		t.Error("the same seed gave different bit errors")
	}
	all := fastOptions()
	all.BitErrorRate = 1
	for i, c := range transfer(t, all, data) {
		if c != ^data[i] {
			t.Fatalf("BitErrorRate 1: byte %d = %#x, want %#x", i, c, ^data[i])
		}
	}
}

func TestLatency(t *testing.T) {
	o := fastOptions()
	o.Latency = 50 * time.Millisecond
	x := newExchange(t, o)
	_, a := attach(t, x, "5550001")
	_, b := attach(t, x, "5550002")
	dialUp(t, a, b, "5550002")
	start := time.Now()
	a.send("ping")
	b.expect("ping")
	if d := time.Since(start); d < o.Latency {
		t.Errorf("data arrived after %v, before the %v latency", d, o.Latency)
	}
}

func TestFlowControl(t *testing.T) {
	o := fastOptions()
	o.MaxBuffered = 1024
	o.FlowTimeout = 50 * time.Millisecond
	x := newExchange(t, o)
	pa, a := attach(t, x, "5550001")
	pb, b := attach(t, x, "5550002")
	dialUp(t, a, b, "5550002")
	n, err := pa.Write(make([]byte, 4096))
	if !errors.Is(err, ErrFlowTimeout) || n != o.MaxBuffered {
		t.Fatalf("write into a full window: %d, %v; want %d, ErrFlowTimeout", n, err, o.MaxBuffered)
	}
	if !status(t, pa).CTS {
		t.Error("CTS still off after the write gave up")
	}
	got := make([]byte, 4096)
	_ = pb.SetReadDeadline(time.Now().Add(waitFor))
	if n, err := io.ReadAtLeast(pb, got, o.MaxBuffered); n != o.MaxBuffered || err != nil {
		t.Fatalf("far side read %d, %v; want the %d bytes of the window", n, err, o.MaxBuffered)
	}
}

func TestPortLifecycle(t *testing.T) {
	x := New(fastOptions())
	for _, bad := range []string{"", "12a", "555 0001", "123456789012345678901234567890123"} {
		if _, err := x.Attach(bad); !errors.Is(err, ErrBadNumber) {
			t.Errorf("Attach(%q) = %v, want ErrBadNumber", bad, err)
		}
	}
	pa, err := x.Attach("1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Attach("1"); !errors.Is(err, ErrNumberTaken) {
		t.Errorf("second Attach = %v, want ErrNumberTaken", err)
	}
	if pa.Name() != "sim:1" {
		t.Errorf("Name = %q", pa.Name())
	}

	// A deadline in the past, and one set while Read waits.
	_ = pa.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := pa.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read after deadline: %v", err)
	}
	_ = pa.SetReadDeadline(time.Time{})
	done := make(chan error, 1)
	go func() { _, err := pa.Read(make([]byte, 1)); done <- err }()
	_ = pa.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("waiting read after new deadline: %v", err)
	}

	// Close wakes a waiting Read with EOF and frees the number.
	_ = pa.SetReadDeadline(time.Time{})
	go func() { _, err := pa.Read(make([]byte, 1)); done <- err }()
	if err := pa.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != io.EOF {
		t.Errorf("read across Close: %v, want io.EOF", err)
	}
	if _, err := pa.Write([]byte("AT\r")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("write after Close: %v", err)
	}
	if _, err := pa.ModemStatus(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("modem status after Close: %v", err)
	}
	pa2, err := x.Attach("1")
	if err != nil {
		t.Fatalf("re-attach after Close: %v", err)
	}

	// Exchange.Close ends everything.
	go func() { _, err := pa2.Read(make([]byte, 1)); done <- err }()
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != io.EOF {
		t.Errorf("read across Exchange.Close: %v, want io.EOF", err)
	}
	if _, err := x.Attach("2"); !errors.Is(err, ErrClosed) {
		t.Errorf("Attach after Close: %v", err)
	}
	if err := x.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestBreakAbortsDialling(t *testing.T) {
	x := newExchange(t, fastOptions())
	pa, a := attach(t, x, "5550001")
	_, b := attach(t, x, "5550002")
	a.send("ATD5550002\r")
	b.expect("RING")
	if err := pa.Break(time.Millisecond); err != nil {
		t.Fatal(err)
	}
	a.expect("NO CARRIER")
}

func TestNoGoroutineLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	x := New(fastOptions())
	pa, a := attach(t, x, "5550001")
	_, b := attach(t, x, "5550002")
	dialUp(t, a, b, "5550002")
	slave, _, err := x.AttachPTY("5550003")
	switch {
	case errors.Is(err, errors.ErrUnsupported):
	case err != nil:
		t.Fatal(err)
	default:
		f, err := os.OpenFile(slave, os.O_RDWR|syscall.O_NOCTTY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		s := newTerm(t, f, "pty")
		s.cmd("AT", "OK")
	}
	// A writer stuck on flow control and a reader waiting: Close must release both.
	o := x.o
	stuck := make(chan struct{})
	go func() { _, _ = pa.Write(make([]byte, 4*o.MaxBuffered)); close(stuck) }()
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	<-stuck
	settleGoroutines(t, base)
}

func TestWriteWaitingWhenCarrierGoes(t *testing.T) {
	o := fastOptions()
	o.MaxBuffered = 1024
	o.FlowTimeout = waitFor
	x := newExchange(t, o)
	pa, a := attach(t, x, "5550001")
	_, b := attach(t, x, "5550002")
	a.cmd("ATE0", "OK\r\n")
	dialUp(t, a, b, "5550002")
	// More than the window, ending in what would be a command line if the rest of the write
	// were fed to the modem after carrier loss.
	data := append(make([]byte, 2*o.MaxBuffered), "\rATI4\r"...)
	done := make(chan error, 1)
	var n int
	go func() {
		var err error
		n, err = pa.Write(data)
		done <- err
	}()
	eventually(t, "CTS off while the write waits", func() bool { return !status(t, pa).CTS })
	if err := x.Disconnect("5550002"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil || n != len(data) {
		t.Fatalf("write across carrier loss: %d, %v; want %d, nil", n, err, len(data))
	}
	a.expect("\r\nNO CARRIER\r\n")
	if rest := a.drain(); rest != "" {
		t.Errorf("after carrier loss the modem printed %q: the unsent data was run as commands", rest)
	}
	if !status(t, pa).CTS {
		t.Error("CTS off after the write returned")
	}
}

func BenchmarkDataPath(b *testing.B) {
	x := newExchange(b, fastOptions())
	pa, ta := attach(b, x, "5550001")
	pb, tb := attach(b, x, "5550002")
	dialUp(b, ta, tb, "5550002")
	chunk := make([]byte, 4096)
	done := make(chan error, 1)
	go func() {
		_ = pb.SetReadDeadline(time.Now().Add(time.Minute))
		_, err := io.ReadFull(pb, make([]byte, b.N*len(chunk)))
		done <- err
	}()
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	for range b.N {
		if _, err := pa.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}
