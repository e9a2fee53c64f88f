package modem

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
	"testing"
	"time"

	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/lines/chat"
)

// testOptions shrinks every wait so that the suite stays fast.
func testOptions(o Options) Options {
	if o.CommandTimeout == 0 {
		o.CommandTimeout = 200 * time.Millisecond
	}
	if o.GuardTime == 0 {
		o.GuardTime = 5 * time.Millisecond
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = time.Second
	}
	if o.CarrierPoll == 0 {
		o.CarrierPoll = 5 * time.Millisecond
	}
	if o.HoldBack == 0 {
		o.HoldBack = 10 * time.Millisecond
	}
	if o.Chat.DefaultTimeout == 0 {
		o.Chat = chat.Timing{DefaultTimeout: time.Second, Delay: time.Millisecond, Pause: time.Millisecond}
	}
	if o.Log == nil && testing.Verbose() {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return o
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// readAll reads dc until it fails, and returns what it read and the error.
func readAll(t *testing.T, dc *DataConn) (string, error) {
	t.Helper()
	var sb strings.Builder
	buf := make([]byte, 7)
	_ = dc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		n, err := dc.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			return sb.String(), err
		}
	}
}

// readN reads exactly len(want) bytes and compares.
func readN(t *testing.T, dc *DataConn, want string) {
	t.Helper()
	got := make([]byte, len(want))
	_ = dc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(dc, got); err != nil {
		t.Fatalf("reading %q: got %q, %v", want, got, err)
	}
	if string(got) != want {
		t.Fatalf("read %q, want %q", got, want)
	}
}

// checkGoroutines fails the test if goroutines started during it are still running at its end.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Errorf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

func TestReset(t *testing.T) {
	tests := []struct {
		name    string
		verbose bool
		opts    Options
		setup   func(f *fakeModem)
		want    []string
	}{
		{
			name: "verbose with echo", verbose: true,
			opts: Options{Init: "AT&F E0 V1 S0=0 &C1 &D2"},
			want: []string{"AT", "ATZ", "AT&F E0 V1 S0=0 &C1 &D2"},
		},
		{
			name: "numeric codes", verbose: false,
			opts: Options{Init: "&F E0 V0 S0=0"},
			want: []string{"AT", "ATZ", "AT&F E0 V0 S0=0"},
		},
		{
			name: "caller ID", verbose: true,
			opts: Options{Init: "ATS0=0", CallerID: true},
			want: []string{"AT", "ATZ", "ATS0=0", "AT+VCID=1"},
		},
		{
			name: "caller ID on an old Rockwell", verbose: true,
			opts:  Options{Init: "ATS0=0", CallerID: true},
			setup: func(f *fakeModem) { f.errorOn["AT+VCID=1"] = true },
			want:  []string{"AT", "ATZ", "ATS0=0", "AT+VCID=1", "AT#CID=1"},
		},
		{
			name: "auto answer sets S0", verbose: true,
			opts: Options{Init: "AT&F E0", Answer: AnswerAuto, AnswerRings: 3},
			want: []string{"AT", "ATZ", "AT&F E0", "ATS0=3"},
		},
		{
			name: "auto answer keeps the init string's S0", verbose: true,
			opts: Options{Init: "AT&F E0 S0=2", Answer: AnswerAuto, AnswerRings: 3},
			want: []string{"AT", "ATZ", "AT&F E0 S0=2"},
		},
		{
			name: "no init string", verbose: true,
			want: []string{"AT", "ATZ"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeModem("/dev/ttyS1")
			f.verbose = tt.verbose
			if tt.setup != nil {
				tt.setup(f)
			}
			m := New(&fakePort{f}, testOptions(tt.opts))
			if err := m.Reset(ctxT(t)); err != nil {
				t.Fatalf("Reset: %v", err)
			}
			if got := f.commands(); !slices.Equal(got, tt.want) {
				t.Errorf("commands = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestResetInitError(t *testing.T) {
	f := newFakeModem("/dev/ttyS1")
	f.errorOn["AT&FE0V1&Q9"] = true
	m := New(&fakePort{f}, testOptions(Options{Init: "AT&F E0 V1 &Q9"}))
	err := m.Reset(ctxT(t))
	if !errors.Is(err, ErrCommand) {
		t.Fatalf("Reset = %v, want ErrCommand", err)
	}
	if !strings.Contains(err.Error(), `"AT&F E0 V1 &Q9"`) {
		t.Errorf("error %q does not name the init string", err)
	}
}

func TestResetDeadModem(t *testing.T) {
	f := newFakeModem("/dev/ttyS7")
	f.dead = true
	m := New(&fakePort{f}, testOptions(Options{CommandTimeout: 20 * time.Millisecond}))
	err := m.Reset(ctxT(t))
	if !errors.Is(err, ErrNoResponse) {
		t.Fatalf("Reset = %v, want ErrNoResponse", err)
	}
	if !strings.Contains(err.Error(), "modem on /dev/ttyS7 does not answer AT") {
		t.Errorf("error %q is not the plain message", err)
	}
	if n := strings.Count(strings.Join(f.allWrites(), ""), "AT\r"); n < 2 {
		t.Errorf("only %d AT tries", n)
	}
	if !slices.Contains(f.allWrites(), "+++") {
		t.Error("no escape tried on the silent modem")
	}
}

func TestResetCancelled(t *testing.T) {
	f := newFakeModem("/dev/ttyS1")
	f.dead = true
	m := New(&fakePort{f}, testOptions(Options{CommandTimeout: time.Hour}))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- m.Reset(ctx) }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Reset = %v, want context.Canceled", err)
	}
}

func TestResetWakesModemLeftInACall(t *testing.T) {
	f := newFakeModem("/dev/ttyS1")
	f.dataMode, f.dcd = true, true
	m := New(&fakePort{f}, testOptions(Options{Init: "ATE0", CommandTimeout: 50 * time.Millisecond}))
	if err := m.Reset(ctxT(t)); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if got := f.remoteData(); got != "AT\rAT\r" {
		t.Errorf("far end got %q before the escape, want the two AT tries", got)
	}
	if got, want := f.commands(), []string{"AT", "ATZ", "ATE0"}; !slices.Equal(got, want) {
		t.Errorf("commands = %q, want %q", got, want)
	}
}

func TestAnswerRing(t *testing.T) {
	f := newFakeModem("/dev/ttyS1")
	f.echo = false
	f.afterConnect = "\x7e\xff\x7d\x23" // the caller's first PPP bytes, in the same read
	// A call with caller ID between the first and second RING, and line noise.
	f.sendLine("RING")
	f.sendLine("DATE = 0321")
	f.sendLine("TIME = 1405")
	f.sendLine("NMBR = 5551234")
	f.sendLine("NAME = JOHN DOE")
	f.emit("\x00\xffjunk\r\n")
	f.sendLine("MESG = 030735353531")
	f.sendLine("RING")
	m := New(&fakePort{f}, testOptions(Options{AnswerRings: 2}))

	type ring struct {
		n   int
		cid CallerID
	}
	var rings []ring
	call, err := m.Answer(ctxT(t), func(n int, cid CallerID) { rings = append(rings, ring{n, cid}) })
	if err != nil {
		t.Fatalf("Answer: %v", err)
	}
	cid := CallerID{Number: "5551234", Name: "JOHN DOE", Date: "0321", Time: "1405"}
	want := Call{Connect: "CONNECT 33600/V34", Speed: 33600, Protocol: "V34", CallerID: cid, Rings: 2}
	if call != want {
		t.Errorf("call = %+v, want %+v", call, want)
	}
	if wantRings := []ring{{1, CallerID{}}, {2, cid}}; !slices.Equal(rings, wantRings) {
		t.Errorf("onRing calls = %+v, want %+v", rings, wantRings)
	}
	if got := f.commands(); !slices.Equal(got, []string{"ATA"}) {
		t.Errorf("commands = %q, want ATA only", got)
	}
	readN(t, m.Data(), "\x7e\xff\x7d\x23")
	if err := m.Hangup(ctxT(t)); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
}

func TestAnswerAuto(t *testing.T) {
	f := newFakeModem("/dev/ttyS1")
	f.verbose = false
	f.emit("2\r2\r10\r") // numeric: RING RING CONNECT 2400
	f.emit("login data")
	m := New(&fakePort{f}, testOptions(Options{Answer: AnswerAuto, AnswerRings: 2}))
	call, err := m.Answer(ctxT(t), nil)
	if err != nil {
		t.Fatalf("Answer: %v", err)
	}
	if want := (Call{Connect: "CONNECT 2400", Speed: 2400, Rings: 2}); call != want {
		t.Errorf("call = %+v, want %+v", call, want)
	}
	if got := f.commands(); len(got) != 0 {
		t.Errorf("commands = %q, want none in auto mode", got)
	}
	readN(t, m.Data(), "login data")
}

func TestAnswerGarbageOnly(t *testing.T) {
	// Nothing but noise and unrelated results: Answer keeps waiting until cancelled.
	f := newFakeModem("/dev/ttyS1")
	f.emit("\r\nRINGING\r\nOK\r\nNO CARRIER\r\n+++ATH\r" + strings.Repeat("x", 1000) + "\r\nCONNECTED\r\n")
	m := New(&fakePort{f}, testOptions(Options{}))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := m.Answer(ctx, func(int, CallerID) { t.Error("onRing called for noise") })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Answer = %v, want the context's deadline", err)
	}
	f.mu.Lock()
	left := len(f.out)
	f.mu.Unlock()
	if left != 0 {
		t.Errorf("%d bytes of noise not consumed", left)
	}
}

func TestAnswerCancel(t *testing.T) {
	checkGoroutines(t)
	f := newFakeModem("/dev/ttyS1")
	m := New(&fakePort{f}, testOptions(Options{}))
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := m.Answer(ctx, nil)
		errc <- err
	}()
	f.sendLine("RING") // Answer is reading; then cancel while it waits for the next RING
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Answer = %v, want context.Canceled", err)
	}
	// The cancelled wait must not leave a deadline in the past for the next read.
	f.sendLine("RING")
	f.sendLine("RING")
	m.o.AnswerRings = 2
	if _, err := m.Answer(ctxT(t), nil); err != nil {
		t.Fatalf("Answer after a cancelled one: %v", err)
	}
}

func TestAnswerRingSeriesStartsOver(t *testing.T) {
	f := newFakeModem("/dev/ttyS1")
	f.echo = false
	const gap = 30 * time.Millisecond
	m := New(&fakePort{f}, testOptions(Options{AnswerRings: 2, RingGap: gap}))
	var counts []int
	first := true
	f.sendLine("RING")
	f.sendLine("NMBR = 111")
	call, err := m.Answer(ctxT(t), func(n int, cid CallerID) {
		counts = append(counts, n)
		if first {
			// The first caller gives up after one ring; the next one rings twice.
			first = false
			time.AfterFunc(4*gap, func() { f.emit("\r\nRING\r\n\r\nNMBR = 222\r\n\r\nRING\r\n") })
		}
	})
	if err != nil {
		t.Fatalf("Answer: %v", err)
	}
	if !slices.Equal(counts, []int{1, 1, 2}) {
		t.Errorf("ring counts = %v, want [1 1 2]", counts)
	}
	if call.Rings != 2 || call.CallerID.Number != "222" {
		t.Errorf("call = %+v, want 2 rings from 222", call)
	}
}

func TestAnswerFails(t *testing.T) {
	tests := []struct {
		name   string
		result string
		opts   Options
		lines  []string
		want   error
	}{
		{name: "ATA then NO CARRIER", result: "NO CARRIER", lines: []string{"RING"}, want: ErrNoCarrier},
		{name: "ATA then ERROR", result: "ERROR", lines: []string{"RING"}, want: ErrCommand},
		{name: "ATA then silence", result: "", opts: Options{ConnectTimeout: 30 * time.Millisecond, CommandTimeout: 30 * time.Millisecond},
			lines: []string{"RING"}, want: ErrNoResponse},
		{name: "auto answer fails", opts: Options{Answer: AnswerAuto},
			lines: []string{"RING", "NO CARRIER"}, want: ErrNoCarrier},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeModem("/dev/ttyS1")
			f.answerResult = tt.result
			for _, l := range tt.lines {
				f.sendLine(l)
			}
			m := New(&fakePort{f}, testOptions(tt.opts))
			_, err := m.Answer(ctxT(t), nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Answer = %v, want %v", err, tt.want)
			}
			if m.Data() != nil {
				t.Error("a failed answer left a DataConn")
			}
		})
	}
}

func TestAnswerWhileInCall(t *testing.T) {
	f := newFakeModem("/dev/ttyS1")
	f.sendLine("RING")
	m := New(&fakePort{f}, testOptions(Options{}))
	if _, err := m.Answer(ctxT(t), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Answer(ctxT(t), nil); !errors.Is(err, ErrCallActive) {
		t.Errorf("second Answer = %v, want ErrCallActive", err)
	}
	if _, err := m.Dial(ctxT(t), nil, "5551234"); !errors.Is(err, ErrCallActive) {
		t.Errorf("Dial during a call = %v, want ErrCallActive", err)
	}
}

func mustParse(t *testing.T, s string) *chat.Script {
	t.Helper()
	sc, err := chat.Parse(s)
	if err != nil {
		t.Fatalf("chat.Parse(%q): %v", s, err)
	}
	return sc
}

func TestDial(t *testing.T) {
	tests := []struct {
		name         string
		script       string // "" = DefaultDialScript
		result       string
		afterConnect string
		chunk        int
		verbose      bool
		want         Call
		data         string
	}{
		{
			name: "default script", result: "CONNECT 33600/ARQ/V34/LAPM", afterConnect: "~PPP", verbose: true,
			want: Call{Connect: "CONNECT 33600/ARQ/V34/LAPM", Speed: 33600, Protocol: "ARQ/V34/LAPM"}, data: "~PPP",
		},
		{
			name: "CONNECT line arrives in pieces", result: "CONNECT 115200", afterConnect: "\nlogin:", chunk: 1, verbose: true,
			want: Call{Connect: "CONNECT 115200", Speed: 115200}, data: "\nlogin:",
		},
		{
			name: "script reads past CONNECT", script: `ABORT BUSY "" ATDT\T CONNECT "" ogin: \c`,
			result: "CONNECT 9600", afterConnect: "\r\nlogin: more", verbose: true,
			want: Call{Connect: "CONNECT 9600", Speed: 9600}, data: " more",
		},
		{
			name: "bare CONNECT", result: "CONNECT", afterConnect: "x", verbose: true,
			want: Call{Connect: "CONNECT"}, data: "x",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeModem("/dev/ttyS2")
			f.dialResult, f.afterConnect, f.chunk, f.verbose = tt.result, tt.afterConnect, tt.chunk, tt.verbose
			m := New(&fakePort{f}, testOptions(Options{}))
			var sc *chat.Script
			if tt.script != "" {
				sc = mustParse(t, tt.script)
			}
			call, err := m.Dial(ctxT(t), sc, "5551234")
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			if call != tt.want {
				t.Errorf("call = %+v, want %+v", call, tt.want)
			}
			if got := f.commands(); !slices.Equal(got, []string{"ATDT5551234"}) {
				t.Errorf("commands = %q", got)
			}
			readN(t, m.Data(), tt.data)
			if err := m.Hangup(ctxT(t)); err != nil {
				t.Fatalf("Hangup: %v", err)
			}
		})
	}
}

func TestDialFails(t *testing.T) {
	tests := []struct {
		result string
		want   error
	}{
		{"BUSY", ErrBusy},
		{"NO ANSWER", ErrNoAnswer},
		{"NO CARRIER", ErrNoCarrier},
		{"NO DIALTONE", ErrNoDialtone},
		{"NO DIAL TONE", ErrNoDialtone},
		{"ERROR", ErrCommand},
	}
	for _, tt := range tests {
		t.Run(tt.result, func(t *testing.T) {
			f := newFakeModem("/dev/ttyS2")
			f.dialResult = tt.result
			m := New(&fakePort{f}, testOptions(Options{}))
			_, err := m.Dial(ctxT(t), nil, "5551234")
			if !errors.Is(err, tt.want) || !errors.Is(err, chat.ErrAborted) {
				t.Fatalf("Dial = %v, want %v and chat.ErrAborted", err, tt.want)
			}
			if m.Data() != nil {
				t.Error("a failed dial left a DataConn")
			}
		})
	}
	t.Run("timeout", func(t *testing.T) {
		f := newFakeModem("/dev/ttyS2")
		f.dialResult = ""
		m := New(&fakePort{f}, testOptions(Options{Chat: chat.Timing{DefaultTimeout: 30 * time.Millisecond}}))
		_, err := m.Dial(ctxT(t), mustParse(t, `ABORT BUSY "" ATDT\T CONNECT \c`), "5551234")
		if !errors.Is(err, chat.ErrTimeout) {
			t.Fatalf("Dial = %v, want chat.ErrTimeout", err)
		}
	})
	t.Run("no number", func(t *testing.T) {
		m := New(&fakePort{newFakeModem("/dev/ttyS2")}, testOptions(Options{}))
		if _, err := m.Dial(ctxT(t), nil, ""); !errors.Is(err, chat.ErrNoNumber) {
			t.Fatalf("Dial = %v, want chat.ErrNoNumber", err)
		}
	})
}

func TestConnectFromTranscript(t *testing.T) {
	tests := []struct {
		name     string
		res      chat.Result
		line     string
		rest     string
		complete bool
		cr       bool
	}{
		{"rest in Received", chat.Result{Transcript: []string{`got "ATDT1\r\r\nCONNECT"`}, Received: " 33600/V34\r\nab"},
			"CONNECT 33600/V34", "\nab", true, true},
		{"line not ended", chat.Result{Transcript: []string{`got "\r\nCONNECT"`}, Received: " 336"},
			"CONNECT 336", "", false, false},
		{"trimmed got", chat.Result{Transcript: []string{`got ..."xx\r\nCONNECT"`}, Received: "\n"},
			"CONNECT", "", true, false},
		{"later expect", chat.Result{Transcript: []string{`got "\r\nCONNECT"`, `expect "ogin:"`, `got " 2400\r\nlogin:"`}, Received: "zz"},
			"CONNECT 2400", "zz", true, false},
		{"CONNECT inside a later got", chat.Result{Transcript: []string{`got "\r\nCONNECT 2400\r\nlogin:"`}, Received: "zz"},
			"CONNECT 2400", "zz", true, false},
		{"CR at the end of what was consumed", chat.Result{Transcript: []string{`got "\r\nCONNECT 2400\r"`}, Received: "\nzz"},
			"CONNECT 2400", "\nzz", true, true},
		{"none", chat.Result{Transcript: []string{`send "AT\r"`, `got "OK"`}, Received: "q"}, "", "q", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line, rest, complete, cr := connectFromTranscript(tt.res)
			if line != tt.line || string(rest) != tt.rest || complete != tt.complete || cr != tt.cr {
				t.Errorf("= %q %q %v %v; want %q %q %v %v", line, rest, complete, cr, tt.line, tt.rest, tt.complete, tt.cr)
			}
		})
	}
}

// connectedFake returns a modem in a call through the fake: answered after one RING.
func connectedFake(t *testing.T, port lines.Port, f *fakeModem, o Options) *Modem {
	t.Helper()
	f.sendLine("RING")
	m := New(port, testOptions(o))
	if _, err := m.Answer(ctxT(t), nil); err != nil {
		t.Fatalf("Answer: %v", err)
	}
	return m
}

func TestHangup(t *testing.T) {
	tests := []struct {
		name      string
		mc        bool
		hangup    string
		hangupErr error
		wantDTR   bool
		wantATH   bool
	}{
		{name: "dtr by default with modem control", mc: true, wantDTR: true},
		{name: "escape by default without", mc: false, wantATH: true},
		{name: "escape asked for", mc: true, hangup: HangupEscape, wantATH: true},
		{name: "dtr failing falls back to escape", mc: true, hangupErr: errFakeDTR, wantDTR: true, wantATH: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			f := newFakeModem("/dev/ttyS3")
			f.hangupErr = tt.hangupErr
			var port lines.Port = &fakePort{f}
			if tt.mc {
				port = &fakeMCPort{f}
			}
			m := connectedFake(t, port, f, Options{Hangup: tt.hangup})
			dc := m.Data()
			readErr := make(chan error, 1)
			go func() {
				var b [16]byte
				_, err := dc.Read(b[:]) // blocked in Read when Hangup comes
				readErr <- err
			}()
			if _, err := dc.Write([]byte("bye")); err != nil {
				t.Fatal(err)
			}
			if err := m.Hangup(ctxT(t)); err != nil {
				t.Fatalf("Hangup: %v", err)
			}
			if err := <-readErr; !errors.Is(err, ErrHungUp) {
				t.Errorf("Read during Hangup = %v, want ErrHungUp", err)
			}
			select {
			case <-dc.Done():
			default:
				t.Error("Done not closed after Hangup")
			}
			if _, err := dc.Write([]byte("x")); !errors.Is(err, ErrHungUp) {
				t.Errorf("Write after Hangup = %v, want ErrHungUp", err)
			}
			if got := f.hangups > 0; got != tt.wantDTR {
				t.Errorf("DTR drop = %v, want %v", got, tt.wantDTR)
			}
			cmds := f.commands()
			if got := slices.Contains(cmds, "ATH"); got != tt.wantATH {
				t.Errorf("ATH sent = %v, want %v (commands %q)", got, tt.wantATH, cmds)
			}
			if cmds[len(cmds)-1] != "AT" {
				t.Errorf("last command %q, want the AT that checks command mode", cmds[len(cmds)-1])
			}
			if got := f.remoteData(); got != "bye" {
				t.Errorf("far end got %q", got)
			}
			f.mu.Lock()
			inCall := f.dataMode
			f.mu.Unlock()
			if inCall {
				t.Error("modem still in data mode")
			}
		})
	}
}

func TestHangupDTRFailsWhenAskedFor(t *testing.T) {
	f := newFakeModem("/dev/ttyS3")
	f.hangupErr = errFakeDTR
	m := connectedFake(t, &fakeMCPort{f}, f, Options{Hangup: HangupDTR})
	if err := m.Hangup(ctxT(t)); !errors.Is(err, errFakeDTR) {
		t.Fatalf("Hangup = %v, want the port's error", err)
	}
}

func TestCarrierLossDCD(t *testing.T) {
	checkGoroutines(t)
	f := newFakeModem("/dev/ttyS4")
	m := connectedFake(t, &fakeMCPort{f}, f, Options{})
	dc := m.Data()
	f.emit("hello")
	readN(t, dc, "hello")
	// Bytes that arrive just before the carrier goes, while nobody reads, still reach the reader.
	f.emit("last words")
	f.dropCarrier(false)
	select {
	case <-dc.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after DCD dropped")
	}
	got, err := readAll(t, dc)
	if got != "last words" || !errors.Is(err, ErrCarrierLost) {
		t.Errorf("after DCD drop read %q, %v; want %q, ErrCarrierLost", got, err, "last words")
	}
	if _, err := dc.Write([]byte("x")); !errors.Is(err, ErrCarrierLost) {
		t.Errorf("Write after carrier loss = %v", err)
	}
	// The modem still says NO CARRIER; the next Answer must not trip over it.
	f.sendLine("RING")
	if _, err := m.Answer(ctxT(t), nil); err != nil {
		t.Fatalf("Answer after carrier loss: %v", err)
	}
	if err := m.Hangup(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestCarrierLossDCDWhileReading(t *testing.T) {
	checkGoroutines(t)
	f := newFakeModem("/dev/ttyS4")
	m := connectedFake(t, &fakeMCPort{f}, f, Options{})
	dc := m.Data()
	errc := make(chan error, 1)
	go func() {
		var b [8]byte
		_, err := dc.Read(b[:])
		errc <- err
	}()
	f.dropCarrier(false)
	if err := <-errc; !errors.Is(err, ErrCarrierLost) {
		t.Fatalf("blocked Read = %v, want ErrCarrierLost", err)
	}
}

func TestCarrierLossText(t *testing.T) {
	const data = "hello\r\nworld\r\nNO CARRIE\r\nNO CARRIER!\r\n\r\n"
	for _, chunk := range []int{1, 2, 3, 5, 13, 1000} {
		t.Run("chunk"+itoa(chunk), func(t *testing.T) {
			f := newFakeModem("/dev/ttyS5")
			m := connectedFake(t, &fakePort{f}, f, Options{HoldBack: time.Second})
			f.set(func(f *fakeModem) { f.chunk = chunk })
			dc := m.Data()
			f.emit(data)
			f.dropCarrier(true)
			f.emit("OK\r\n") // after NO CARRIER the modem talks to us, not to the caller
			got, err := readAll(t, dc)
			if got != data || !errors.Is(err, ErrCarrierLost) {
				t.Errorf("read %q, %v; want %q, ErrCarrierLost", got, err, data)
			}
			select {
			case <-dc.Done():
			default:
				t.Error("Done not closed")
			}
		})
	}
}

func TestNoCarrierHoldIsReleased(t *testing.T) {
	// A caller whose line ends in CR LF must not wait for a NO CARRIER that may never come;
	// and when it does come after the hold was released, the loss is still seen.
	f := newFakeModem("/dev/ttyS5")
	m := connectedFake(t, &fakePort{f}, f, Options{HoldBack: 5 * time.Millisecond})
	dc := m.Data()
	f.emit("bob\r\n")
	readN(t, dc, "bob\r\n")
	f.emit("NO CARRIER\r\n")
	got, err := readAll(t, dc)
	if got != "" || !errors.Is(err, ErrCarrierLost) {
		t.Errorf("read %q, %v; want ErrCarrierLost", got, err)
	}
}

func TestDataReadDeadline(t *testing.T) {
	for _, mc := range []bool{false, true} {
		t.Run("mc="+map[bool]string{false: "no", true: "yes"}[mc], func(t *testing.T) {
			checkGoroutines(t)
			f := newFakeModem("/dev/ttyS6")
			var port lines.Port = &fakePort{f}
			if mc {
				port = &fakeMCPort{f}
			}
			m := connectedFake(t, port, f, Options{})
			dc := m.Data()
			_ = dc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			var b [4]byte
			if _, err := dc.Read(b[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("Read = %v, want deadline exceeded", err)
			}
			if dc.Err() != nil {
				t.Fatalf("deadline ended the call: %v", dc.Err())
			}
			// A deadline moved during a blocked Read applies to it.
			_ = dc.SetReadDeadline(time.Time{})
			errc := make(chan error, 1)
			go func() {
				_, err := dc.Read(b[:])
				errc <- err
			}()
			_ = dc.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
			if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("Read = %v, want deadline exceeded", err)
			}
			if err := m.Hangup(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDataPortClosed(t *testing.T) {
	f := newFakeModem("/dev/ttyS6")
	m := connectedFake(t, &fakePort{f}, f, Options{})
	f.emit("tail")
	_ = f.Close()
	got, err := readAll(t, m.Data())
	if got != "tail" || !errors.Is(err, ErrCarrierLost) || !errors.Is(err, io.EOF) {
		t.Errorf("read %q, %v; want tail, ErrCarrierLost and io.EOF", got, err)
	}
}

// FuzzNoCarrierScan feeds a stream in arbitrary pieces to a DataConn without modem control and
// checks that it delivers exactly the bytes before the first "\r\nNO CARRIER\r\n" and ends
// the call there, or all bytes and no end when the text is not in the stream. With released
// holds (the HoldBack timer), the start of the NO CARRIER may have gone to the caller.
func FuzzNoCarrierScan(f *testing.F) {
	f.Add([]byte("hello\r\nNO CARRIER\r\nafter"), []byte{3, 1, 7}, false)
	f.Add([]byte("\r\n\r\nNO CARRIE\r\nNO CARRIER\r\n"), []byte{1}, true)
	f.Add([]byte("\r\r\n\nNO CARRIER\r\r\n"), []byte{2, 2}, false)
	f.Add([]byte("plain data"), []byte{}, true)
	f.Fuzz(func(t *testing.T, data, cuts []byte, release bool) {
		fm := newFakeModem("fuzz")
		m := New(&fakePort{fm}, testOptions(Options{}))
		dc := newDataConn(m, nil, false)
		var out []byte
		take := func() {
			dc.mu.Lock()
			n := len(dc.pending) - dc.holdN
			out = append(out, dc.pending[:n]...)
			dc.pending = dc.pending[n:]
			if release {
				dc.holdN = 0
			}
			dc.mu.Unlock()
		}
		rest := data
		for i := 0; len(rest) > 0; i++ {
			n := len(rest)
			if i < len(cuts) {
				n = min(n, int(cuts[i])+1)
			}
			dc.feed(rest[:n])
			rest = rest[n:]
			take()
		}
		dc.mu.Lock()
		out = append(out, dc.pending...)
		lost := dc.err != nil
		dc.mu.Unlock()
		idx := bytes.Index(data, []byte(noCarrier))
		if (idx >= 0) != lost {
			t.Fatalf("stream %q: lost = %v, NO CARRIER at %d", data, lost, idx)
		}
		if idx < 0 {
			if !bytes.Equal(out, data) {
				t.Fatalf("stream %q delivered as %q", data, out)
			}
			return
		}
		if !release && !bytes.Equal(out, data[:idx]) {
			t.Fatalf("stream %q delivered as %q, want %q", data, out, data[:idx])
		}
		if release && (!bytes.HasPrefix(out, data[:idx]) || !bytes.HasPrefix(data, out) || len(out) >= idx+len(noCarrier)) {
			t.Fatalf("stream %q delivered as %q with holds released", data, out)
		}
	})
}

// BenchmarkDataConnScan measures the NO CARRIER watch on a stream of PPP-like data.
func BenchmarkDataConnScan(b *testing.B) {
	fm := newFakeModem("bench")
	m := New(&fakePort{fm}, testOptions(Options{}))
	dc := newDataConn(m, nil, false)
	chunk := []byte(strings.Repeat("\x7e\xff\x03\xc0\x21\x01\x01\x00\x0e\r\n", 100))
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		dc.feed(chunk)
		dc.mu.Lock()
		dc.pending, dc.holdN = dc.pending[:0], 0
		dc.mu.Unlock()
	}
}

// TestNoCarrierTextBeforeDCDPoll: on a port with modem control the modem's NO CARRIER can
// arrive before the next DCD poll; it must end the call, never reach the caller's data.
func TestNoCarrierTextBeforeDCDPoll(t *testing.T) {
	checkGoroutines(t)
	f := newFakeModem("/dev/ttyS6")
	m := connectedFake(t, &fakeMCPort{f}, f, Options{CarrierPoll: time.Hour, HoldBack: time.Second})
	dc := m.Data()
	f.emit("last line\r\n")
	f.dropCarrier(true)
	got, err := readAll(t, dc)
	if got != "last line\r\n" || !errors.Is(err, ErrCarrierLost) {
		t.Errorf("read %q, %v; want %q, ErrCarrierLost", got, err, "last line\r\n")
	}
}
