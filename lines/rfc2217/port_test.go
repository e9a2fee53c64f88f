package rfc2217

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/lines/serial"
)

type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) count(level slog.Level, msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.recs {
		if rec.Level == level && rec.Message == msg {
			n++
		}
	}
	return n
}

func dial(t *testing.T, s *fakeServer, m serial.Mode, log *slog.Logger) *Port {
	t.Helper()
	s.start()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	p, err := Dial(ctx, s.addr(), m, log)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	p.hangupDrop = time.Millisecond
	t.Cleanup(func() { p.Close() })
	return p
}

// readN reads exactly n bytes from the port with a guard deadline.
func readN(t *testing.T, p *Port, n int) []byte {
	t.Helper()
	p.SetReadDeadline(time.Now().Add(guard))
	defer p.SetReadDeadline(time.Time{})
	buf := make([]byte, n)
	if _, err := io.ReadFull(p, buf); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return buf
}

func TestDialSetsMode(t *testing.T) {
	tests := []struct {
		mode serial.Mode
		want [][]byte // COM-PORT-OPTION commands the server must see, in order
	}{
		{
			mode: serial.Mode{},
			want: [][]byte{
				append([]byte{comSetBaudRate}, baudBytes(115200)...),
				{comSetDataSize, 8}, {comSetParity, parityNone}, {comSetStopSize, stopOne},
				{comSetControl, ctlFlowNone}, {comSetModemMask, 0xFF}, {comSetControl, ctlDTRRequest},
			},
		},
		{
			mode: serial.Mode{Speed: 9600, DataBits: 7, StopBits: 2, Parity: "even", FlowControl: "hardware"},
			want: [][]byte{
				append([]byte{comSetBaudRate}, baudBytes(9600)...),
				{comSetDataSize, 7}, {comSetParity, parityEven}, {comSetStopSize, stopTwo},
				{comSetControl, ctlFlowHardware}, {comSetModemMask, 0xFF}, {comSetControl, ctlDTRRequest},
			},
		},
		{
			// 65535 has 0xFF octets: escaping inside the subnegotiation is exercised.
			mode: serial.Mode{Speed: 65535, Parity: "odd", FlowControl: "software"},
			want: [][]byte{
				append([]byte{comSetBaudRate}, baudBytes(65535)...),
				{comSetDataSize, 8}, {comSetParity, parityOdd}, {comSetStopSize, stopOne},
				{comSetControl, ctlFlowXonXoff}, {comSetModemMask, 0xFF}, {comSetControl, ctlDTRRequest},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			s := newFakeServer(t)
			p := dial(t, s, tt.mode, nil)
			if got := s.commands(); !equalCommands(got, tt.want) {
				t.Errorf("server saw %v\nwant %v", got, tt.want)
			}
			if !p.HasModemControl() {
				t.Error("HasModemControl() = false against a server that reports DTR")
			}
			if p.Name() != "rfc2217://"+s.addr() {
				t.Errorf("Name() = %q", p.Name())
			}
		})
	}
}

func equalCommands(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestDialNegotiatesLikeSer2net(t *testing.T) {
	s := newFakeServer(t)
	// ser2net's opening offers, plus a terminal-type request we must refuse.
	s.preamble = append(append([]byte(nil), ser2netPreamble...), cmdIAC, cmdDO, 24)
	p := dial(t, s, serial.Mode{}, nil)

	raw := s.rawBytes()
	mustContain := []struct {
		what string
		seq  []byte
	}{
		{"WILL COM-PORT-OPTION", []byte{cmdIAC, cmdWILL, optComPort}},
		{"WILL BINARY", []byte{cmdIAC, cmdWILL, optBinary}},
		{"DO BINARY", []byte{cmdIAC, cmdDO, optBinary}},
		{"DONT ECHO (refusing the server's WILL ECHO)", []byte{cmdIAC, cmdDONT, optEcho}},
		{"WONT TERMINAL-TYPE", []byte{cmdIAC, cmdWONT, 24}},
	}
	for _, m := range mustContain {
		if !bytes.Contains(raw, m.seq) {
			t.Errorf("client never sent %s; raw %v", m.what, raw)
		}
	}
	// The server offered first, so the client's WILL/DO are answers: exactly one each, no loop.
	for _, seq := range [][]byte{{cmdIAC, cmdWILL, optBinary}, {cmdIAC, cmdDO, optBinary}, {cmdIAC, cmdWILL, optComPort}, {cmdIAC, cmdWILL, optSGA}} {
		if n := bytes.Count(raw, seq); n != 1 {
			t.Errorf("client sent %v %d times, want once", seq, n)
		}
	}
	// ser2net's DONT ECHO refers to an option we never offered: it needs no answer.
	if bytes.Contains(raw, []byte{cmdIAC, cmdWONT, optEcho}) {
		t.Error("client answered DONT ECHO with WONT ECHO")
	}
	p.mu.Lock()
	binIn, binOut := p.opts[optBinary].him, p.opts[optBinary].us
	p.mu.Unlock()
	if !binIn || !binOut {
		t.Errorf("BINARY in=%v out=%v, want both", binIn, binOut)
	}
}

func TestDialRefusedComPort(t *testing.T) {
	s := newFakeServer(t)
	s.refuseComPort = true
	s.start()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	_, err := Dial(ctx, s.addr(), serial.Mode{}, nil)
	if err == nil || !strings.Contains(err.Error(), "COM-PORT-OPTION") || !strings.Contains(err.Error(), s.addr()) {
		t.Fatalf("Dial = %v, want a COM-PORT-OPTION refusal naming the server", err)
	}
}

func TestDialServerCannotSetMode(t *testing.T) {
	s := newFakeServer(t)
	s.override = map[byte][]byte{comSetParity: {parityNone}}
	s.start()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	_, err := Dial(ctx, s.addr(), serial.Mode{Parity: "mark"}, nil)
	if err == nil || !strings.Contains(err.Error(), "parity") {
		t.Fatalf("Dial = %v, want a parity mismatch error", err)
	}
}

func TestDialAcceptsSchemeAndRejectsBadAddress(t *testing.T) {
	s := newFakeServer(t)
	s.start()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	p, err := Dial(ctx, "rfc2217://"+s.addr(), serial.Mode{}, nil)
	if err != nil {
		t.Fatalf("Dial with scheme: %v", err)
	}
	p.Close()
	if _, err := Dial(ctx, "rfc2217://nohostport", serial.Mode{}, nil); err == nil {
		t.Fatal("Dial accepted an address without a port")
	}
}

func TestDataBothWays(t *testing.T) {
	s := newFakeServer(t)
	p := dial(t, s, serial.Mode{}, nil)

	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	if n, err := p.Write(all); err != nil || n != len(all) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	s.waitFor("256 data bytes", func() bool { return len(s.data) >= len(all) })
	if got := s.receivedData(); !bytes.Equal(got, all) {
		t.Fatalf("server got %v", got)
	}
	if raw := s.rawBytes(); !bytes.Contains(raw, []byte{254, 255, 255}) {
		t.Error("0xFF was not doubled on the wire")
	}

	// Server to client: IAC doubled, with a notification and a NOP in the middle of the data.
	var wire []byte
	wire = appendData(wire, []byte("CONNECT 33600\r\n"), false)
	wire = append(wire, modemState(msCD|msDSR|msCTS)...)
	wire = append(wire, cmdIAC, cmdNOP)
	wire = appendData(wire, all, false)
	s.send(wire)
	want := append([]byte("CONNECT 33600\r\n"), all...)
	if got := readN(t, p, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("client read %v\nwant %v", got, want)
	}
}

func TestModemStateNotifications(t *testing.T) {
	s := newFakeServer(t)
	p := dial(t, s, serial.Mode{}, nil)

	if _, err := p.ModemStatus(); !errors.Is(err, lines.ErrNoModemControl) {
		t.Errorf("ModemStatus before any notification = %v, want lines.ErrNoModemControl", err)
	}
	tests := []struct {
		state byte
		want  lines.ModemStatus
	}{
		{msCD | msDSR | msCTS | msDeltaCD, lines.ModemStatus{DCD: true, DSR: true, CTS: true}},
		{msRI | msDSR, lines.ModemStatus{RI: true, DSR: true}},
		{msRITrail | msDeltaDSR, lines.ModemStatus{}},
	}
	for _, tt := range tests {
		// A data byte after the notification tells the test the client has processed it.
		s.send(append(modemState(tt.state), '.'))
		readN(t, p, 1)
		got, err := p.ModemStatus()
		if err != nil || got != tt.want {
			t.Errorf("after NOTIFY-MODEMSTATE %#x: ModemStatus() = %+v, %v; want %+v", tt.state, got, err, tt.want)
		}
	}
}

func TestHangupAndLines(t *testing.T) {
	s := newFakeServer(t)
	p := dial(t, s, serial.Mode{}, nil)
	if err := p.Hangup(context.Background()); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	if got := s.dtrHistory(); len(got) != 2 || got[0] || !got[1] {
		t.Fatalf("DTR changes %v, want [false true]", got)
	}
	if err := p.SetRTS(false); err != nil {
		t.Fatalf("SetRTS: %v", err)
	}
	if err := p.SetDTR(false); err != nil {
		t.Fatalf("SetDTR: %v", err)
	}
	s.mu.Lock()
	rts, dtr := slices.Clone(s.rts), slices.Clone(s.dtr)
	s.mu.Unlock()
	if len(rts) != 1 || rts[0] || len(dtr) != 3 || dtr[2] {
		t.Errorf("rts %v dtr %v", rts, dtr)
	}
}

func TestHangupCancelledStillRaisesDTR(t *testing.T) {
	s := newFakeServer(t)
	p := dial(t, s, serial.Mode{}, nil)
	p.hangupDrop = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Hangup(ctx) }()
	s.waitFor("DTR off", func() bool { return len(s.dtr) >= 1 })
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Hangup = %v, want context.Canceled", err)
		}
	case <-time.After(guard):
		t.Fatal("Hangup ignored its context")
	}
	if got := s.dtrHistory(); len(got) != 2 || got[0] || !got[1] {
		t.Fatalf("DTR changes %v, want [false true]", got)
	}
}

func TestNoModemControlLikeSer2netOnPty(t *testing.T) {
	rec := &recorder{}
	s := newFakeServer(t)
	s.modemControl = false
	s.preamble = ser2netPreamble
	p := dial(t, s, serial.Mode{}, slog.New(rec))
	// ser2net reports all-zero modem lines on a pty; they must not be taken for "no carrier".
	s.send(append(modemState(0), '.'))
	readN(t, p, 1)

	if p.HasModemControl() {
		t.Fatal("HasModemControl() = true though the server echoed the DTR request")
	}
	for i := 0; i < 2; i++ {
		if _, err := p.ModemStatus(); !errors.Is(err, lines.ErrNoModemControl) {
			t.Errorf("ModemStatus = %v, want lines.ErrNoModemControl", err)
		}
		if err := p.SetDTR(true); !errors.Is(err, lines.ErrNoModemControl) {
			t.Errorf("SetDTR = %v, want lines.ErrNoModemControl", err)
		}
		if err := p.SetRTS(true); !errors.Is(err, lines.ErrNoModemControl) {
			t.Errorf("SetRTS = %v, want lines.ErrNoModemControl", err)
		}
		if err := p.Hangup(context.Background()); !errors.Is(err, lines.ErrNoModemControl) {
			t.Errorf("Hangup = %v, want lines.ErrNoModemControl", err)
		}
	}
	if n := rec.count(slog.LevelWarn, "line has no modem-control lines; using modem result codes for carrier"); n != 1 {
		t.Errorf("warned %d times, want once", n)
	}
}

func TestBreak(t *testing.T) {
	s := newFakeServer(t)
	p := dial(t, s, serial.Mode{}, nil)
	if err := p.Break(time.Millisecond); err != nil {
		t.Fatal(err)
	}
	s.waitFor("BREAK OFF", func() bool {
		return len(s.comPort) > 0 && bytes.Equal(s.comPort[len(s.comPort)-1], []byte{comSetControl, ctlBreakOff})
	})
	cmds := s.commands()
	if !bytes.Equal(cmds[len(cmds)-2], []byte{comSetControl, ctlBreakOn}) {
		t.Fatalf("commands %v: want BREAK ON then BREAK OFF", cmds)
	}
}

func TestReadDeadline(t *testing.T) {
	s := newFakeServer(t)
	p := dial(t, s, serial.Mode{}, nil)
	buf := make([]byte, 8)

	p.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := p.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("past deadline: Read = %v", err)
	}
	p.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := p.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("short deadline: Read = %v", err)
	}

	// A deadline set while Read is blocked applies to that Read.
	p.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() {
		_, err := p.Read(buf)
		errc <- err
	}()
	p.SetReadDeadline(time.Now())
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = %v, want os.ErrDeadlineExceeded", err)
		}
	case <-time.After(guard):
		t.Fatal("Read did not notice the new deadline")
	}

	p.SetReadDeadline(time.Time{})
	s.send([]byte("OK"))
	if got := readN(t, p, 2); string(got) != "OK" {
		t.Fatalf("read %q", got)
	}
}

func TestConnectionLost(t *testing.T) {
	s := newFakeServer(t)
	p := dial(t, s, serial.Mode{}, nil)
	s.send([]byte("NO CARRIER\r\n"))
	s.hangUp()
	// Data that arrived before the loss is still delivered, then the error.
	if got := readN(t, p, 12); string(got) != "NO CARRIER\r\n" {
		t.Fatalf("read %q", got)
	}
	p.SetReadDeadline(time.Now().Add(guard))
	_, err := p.Read(make([]byte, 8))
	if !errors.Is(err, ErrPortGone) || !errors.Is(err, io.EOF) || !strings.Contains(err.Error(), s.addr()) {
		t.Fatalf("Read = %v, want ErrPortGone (io.EOF) naming the server", err)
	}
	if _, err := p.Write([]byte("AT\r")); !errors.Is(err, ErrPortGone) {
		t.Errorf("Write = %v, want ErrPortGone", err)
	}
}

func TestCloseUnblocksReadAndStopsGoroutines(t *testing.T) {
	s := newFakeServer(t)
	s.start()
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	p, err := Dial(ctx, s.addr(), serial.Mode{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := p.Read(make([]byte, 8))
		errc <- err
	}()
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, io.EOF) || !errors.Is(err, os.ErrClosed) {
			t.Fatalf("Read after Close = %v, want io.EOF and os.ErrClosed", err)
		}
	case <-time.After(guard):
		t.Fatal("Close did not unblock Read")
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := p.Write([]byte("x")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close = %v", err)
	}
	deadline := time.Now().Add(guard)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Close, %d before Dial", runtime.NumGoroutine(), before)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFlowControlSuspend(t *testing.T) {
	s := newFakeServer(t)
	p := dial(t, s, serial.Mode{}, nil)
	s.send(append(appendSubneg(nil, optComPort, comFlowSuspend+serverOffset), '.'))
	readN(t, p, 1)

	done := make(chan error, 1)
	go func() {
		_, err := p.Write([]byte("held"))
		done <- err
	}()
	// Once the writer is parked on the suspension, nothing of it can have been sent.
	deadline := time.Now().Add(guard)
	for {
		p.mu.Lock()
		w := p.writersWaiting
		p.mu.Unlock()
		if w == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Write did not wait for FLOWCONTROL-RESUME")
		}
		time.Sleep(time.Millisecond)
	}
	if got := s.receivedData(); len(got) != 0 {
		t.Fatalf("server got %q while suspended", got)
	}
	s.send(appendSubneg(nil, optComPort, comFlowResume+serverOffset))
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(guard):
		t.Fatal("Write still blocked after FLOWCONTROL-RESUME")
	}
	s.waitFor("held data", func() bool { return string(s.data) == "held" })
}

func TestSignatureRequestAnswered(t *testing.T) {
	s := newFakeServer(t)
	p := dial(t, s, serial.Mode{}, nil)
	s.send(append(appendSubneg(nil, optComPort, comSignature+serverOffset), '.'))
	readN(t, p, 1)
	s.waitFor("client signature", func() bool {
		for _, c := range s.comPort {
			if len(c) > 1 && c[0] == comSignature {
				return true
			}
		}
		return false
	})
}
