package chat

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fast keeps tests quick: every wait is milliseconds.
var fast = Timing{Delay: 30 * time.Millisecond, Pause: 10 * time.Millisecond, DefaultTimeout: 300 * time.Millisecond, Break: time.Millisecond}

// noLeaks fails the test if it leaves goroutines behind (polling briefly, since a stopped
// goroutine takes a moment to go).
func noLeaks(t *testing.T) {
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
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func modem(t *testing.T, rules ...rule) *fakeModem {
	t.Helper()
	noLeaks(t)
	m := newFakeModem(rules...)
	t.Cleanup(func() { m.Close() })
	return m
}

func hasLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

const dialScript = `ABORT ERROR ABORT BUSY "" "ATZ" OK "ATDT \T" TIMEOUT 30 CONNECT \c`

func TestRunSuccessKeepsRestOfConnectLine(t *testing.T) {
	m := modem(t,
		rule{on: "ATZ\r", reply: "ATZ\r\r\nOK\r\n"},
		rule{on: "ATDT 5551234\r", reply: "ATDT 5551234\r\r\nCONNECT 33600/V34\r\n"},
	)
	res, err := mustParse(t, dialScript).RunWith(context.Background(), m, Vars{Number: "5551234"}, fast)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, strings.Join(res.Transcript, "\n"))
	}
	if got, want := m.Written(), "ATZ\rATDT 5551234\r"; got != want {
		t.Errorf("written %q, want %q", got, want)
	}
	if res.Received != " 33600/V34\r\n" {
		t.Errorf("Received = %q, want the rest of the CONNECT line", res.Received)
	}
	if res.Abort != "" || res.TimedOut || res.Expect != "" {
		t.Errorf("failure fields set on success: %+v", res)
	}
	for _, want := range []string{
		`abort on "BUSY"`, `expect ""`, `send "ATZ\r"`, `expect "OK"`, `got "ATZ\r\r\nOK"`,
		`send "ATDT 5551234\r"`, `timeout set to 30s`, `got "\r\nATDT 5551234\r\r\nCONNECT"`,
	} {
		if !hasLine(res.Transcript, want) {
			t.Errorf("transcript lacks %s:\n%s", want, strings.Join(res.Transcript, "\n"))
		}
	}
	if !m.Deadline().IsZero() {
		t.Errorf("read deadline left at %v", m.Deadline())
	}
}

func TestRunAbort(t *testing.T) {
	m := modem(t,
		rule{on: "ATZ\r", reply: "OK\r\n"},
		rule{on: "ATDT 5551234\r", reply: "\r\nBUSY\r\n"},
	)
	res, err := mustParse(t, dialScript).RunWith(context.Background(), m, Vars{Number: "5551234"}, fast)
	if !errors.Is(err, ErrAborted) || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrAborted", err)
	}
	if res.Abort != "BUSY" || res.Expect != "CONNECT" || res.TimedOut {
		t.Errorf("result %+v, want Abort BUSY while expecting CONNECT", res)
	}
	if res.Received != "\r\n" {
		t.Errorf("Received = %q, want what followed BUSY", res.Received)
	}
	if !hasLine(res.Transcript, `aborted on "BUSY"`) {
		t.Errorf("transcript:\n%s", strings.Join(res.Transcript, "\n"))
	}
}

// TestRunMatchOrder checks that, with everything arriving in one read, the string that
// completes first wins, as when chat(8) reads byte by byte, and that ABORT strings count
// only from where they are declared.
func TestRunMatchOrder(t *testing.T) {
	tests := []struct {
		name, script, reply string
		abort, received     string
	}{
		{"abort first", `ABORT BUSY "" ATZ OK`, "BUSY\r\nOK\r\n", "BUSY", "\r\nOK\r\n"},
		{"expect first", `ABORT BUSY "" ATZ OK`, "OK\r\nBUSY\r\n", "", "\r\nBUSY\r\n"},
		{"tie goes to expect", `ABORT K "" ATZ OK`, "OK", "", ""},
		{"shorter abort inside expect", `ABORT NECT "" ATZ CONNECT`, "CONNECT", "", ""},
		{"abort ends first", `ABORT CONN "" ATZ CONNECT`, "CONNECT", "CONN", "ECT"},
		{"first declared abort on a tie", `ABORT "NO CARRIER" ABORT CARRIER "" ATZ OK`, "NO CARRIER", "NO CARRIER", ""},
		{"abort declared later", `"" ATZ OK "" ABORT BUSY`, "BUSY\r\nOK", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := modem(t, rule{on: "ATZ\r", reply: tc.reply})
			res, err := mustParse(t, tc.script).RunWith(context.Background(), m, Vars{}, fast)
			if tc.abort == "" && err != nil {
				t.Fatalf("err = %v, want success\n%s", err, strings.Join(res.Transcript, "\n"))
			}
			if tc.abort != "" && !errors.Is(err, ErrAborted) {
				t.Fatalf("err = %v, want ErrAborted", err)
			}
			if res.Abort != tc.abort {
				t.Errorf("Abort = %q, want %q", res.Abort, tc.abort)
			}
			if res.Received != tc.received {
				t.Errorf("Received = %q, want %q", res.Received, tc.received)
			}
		})
	}
}

func TestRunTimeout(t *testing.T) {
	m := modem(t) // a dead modem
	tm := fast
	tm.DefaultTimeout = 50 * time.Millisecond
	res, err := mustParse(t, `ABORT BUSY "" ATZ OK ATDT`).RunWith(context.Background(), m, Vars{}, tm)
	if !errors.Is(err, ErrTimeout) || errors.Is(err, ErrAborted) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if !res.TimedOut || res.Expect != "OK" || res.Abort != "" {
		t.Errorf("result %+v, want a timeout on OK", res)
	}
	if m.Written() != "ATZ\r" {
		t.Errorf("written %q: the send after a failed expect must not go out", m.Written())
	}
	if !hasLine(res.Transcript, `timeout after 50ms waiting for "OK"`) {
		t.Errorf("transcript:\n%s", strings.Join(res.Transcript, "\n"))
	}
}

// TestRunTimeoutKeyword checks that TIMEOUT n replaces the default: the reply comes after
// the default timeout but well within the script's TIMEOUT 1.
func TestRunTimeoutKeyword(t *testing.T) {
	m := modem(t, rule{on: "ATZ\r", reply: "OK", after: 150 * time.Millisecond})
	tm := fast
	tm.DefaultTimeout = 20 * time.Millisecond
	res, err := mustParse(t, `TIMEOUT 1 "" ATZ OK`).RunWith(context.Background(), m, Vars{}, tm)
	if err != nil {
		t.Fatalf("err = %v\n%s", err, strings.Join(res.Transcript, "\n"))
	}
}

func TestRunSubExpects(t *testing.T) {
	t.Run("retry succeeds", func(t *testing.T) {
		m := modem(t,
			rule{on: "AT\r"},                  // the first AT is ignored
			rule{on: "AT\r", reply: "OK\r\n"}, // the retry is answered
		)
		tm := fast
		tm.DefaultTimeout = 60 * time.Millisecond
		res, err := mustParse(t, `"" AT OK-AT-OK ATZ`).RunWith(context.Background(), m, Vars{}, tm)
		if err != nil {
			t.Fatalf("err = %v\n%s", err, strings.Join(res.Transcript, "\n"))
		}
		if got, want := m.Written(), "AT\rAT\rATZ\r"; got != want {
			t.Errorf("written %q, want %q", got, want)
		}
	})
	t.Run("every sub-expect times out", func(t *testing.T) {
		m := modem(t)
		tm := fast
		tm.DefaultTimeout = 30 * time.Millisecond
		res, err := mustParse(t, `OK-AT-READY-ATZ-LAST x`).RunWith(context.Background(), m, Vars{}, tm)
		if !errors.Is(err, ErrTimeout) || !res.TimedOut || res.Expect != "LAST" {
			t.Fatalf("err = %v, result %+v, want a timeout on LAST", err, res)
		}
		if got, want := m.Written(), "AT\rATZ\r"; got != want {
			t.Errorf("written %q, want %q", got, want)
		}
	})
	t.Run("trailing sub-send carries on", func(t *testing.T) {
		m := modem(t)
		tm := fast
		tm.DefaultTimeout = 30 * time.Millisecond
		res, err := mustParse(t, `OK-AT\c DONE`).RunWith(context.Background(), m, Vars{}, tm)
		if err != nil {
			t.Fatalf("err = %v\n%s", err, strings.Join(res.Transcript, "\n"))
		}
		if got, want := m.Written(), "ATDONE\r"; got != want {
			t.Errorf("written %q, want %q", got, want)
		}
	})
	t.Run("text from a failed expect is not matched again", func(t *testing.T) {
		// "OK" arrives during the first expect (for READY) and is consumed by it.
		m := modem(t, rule{on: "", reply: "OK\r\n"})
		tm := fast
		tm.DefaultTimeout = 30 * time.Millisecond
		_, err := mustParse(t, `READY-AT-OK x`).RunWith(context.Background(), m, Vars{}, tm)
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("err = %v, want ErrTimeout", err)
		}
	})
	t.Run("BREAK sub-send", func(t *testing.T) {
		fm := modem(t, rule{on: "<BREAK>", reply: "login: "})
		m := &breakModem{fakeModem: fm}
		tm := fast
		tm.DefaultTimeout = 30 * time.Millisecond
		tm.Break = 7 * time.Millisecond
		res, err := mustParse(t, `ogin:-BREAK-ogin: user`).RunWith(context.Background(), m, Vars{}, tm)
		if err != nil {
			t.Fatalf("err = %v\n%s", err, strings.Join(res.Transcript, "\n"))
		}
		if got, want := fm.Written(), "<BREAK>user\r"; got != want {
			t.Errorf("written %q, want %q (BREAK sends no CR)", got, want)
		}
		if len(m.breaks) != 1 || m.breaks[0] != 7*time.Millisecond {
			t.Errorf("breaks %v, want one of 7ms", m.breaks)
		}
		if !hasLine(res.Transcript, "break") {
			t.Errorf("transcript:\n%s", strings.Join(res.Transcript, "\n"))
		}
	})
}

func TestRunSendForms(t *testing.T) {
	tests := []struct {
		name, script string
		number       string
		want         string
	}{
		{"trailing CR", `"" ATZ`, "", "ATZ\r"},
		{`\c`, `"" ATZ\c`, "", "ATZ"},
		{"empty send is a CR", `"" ""`, "", "\r"},
		{"bare \\c sends nothing", `"" \c`, "", ""},
		{"EOT", `"" EOT`, "", "\x04"},
		{"quoted EOT is text", `"" "EOT"`, "", "EOT\r"},
		{"escapes", `"" "\N\101\s^C\\"`, "", "\x00A \x03\\\r"},
		{`\T`, `"" "ATDT\T,,\T"`, "123", "ATDT123,,123\r"},
		{"dangling expect", `"" ATZ`, "", "ATZ\r"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := modem(t)
			res, err := mustParse(t, tc.script).RunWith(context.Background(), m, Vars{Number: tc.number}, fast)
			if err != nil {
				t.Fatalf("err = %v\n%s", err, strings.Join(res.Transcript, "\n"))
			}
			if got := m.Written(); got != tc.want {
				t.Errorf("written %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRunBreakWithoutBreaker(t *testing.T) {
	m := modem(t)
	res, err := mustParse(t, `"" AT\KZ`).RunWith(context.Background(), m, Vars{Logger: slog.New(slog.DiscardHandler)}, fast)
	if err != nil {
		t.Fatalf("err = %v", err)
	}
	if got, want := m.Written(), "ATZ\r"; got != want {
		t.Errorf("written %q, want %q", got, want)
	}
	if !hasLine(res.Transcript, "break not sent: fake0 cannot send BREAK") {
		t.Errorf("transcript:\n%s", strings.Join(res.Transcript, "\n"))
	}
}

func TestRunBreakFails(t *testing.T) {
	m := &breakModem{fakeModem: modem(t), err: errors.New("not supported")}
	res, err := mustParse(t, `"" \KATZ`).RunWith(context.Background(), m, Vars{Logger: slog.New(slog.DiscardHandler)}, fast)
	if err != nil {
		t.Fatalf("err = %v: a failed BREAK should not stop the script", err)
	}
	if !hasLine(res.Transcript, "break failed: not supported") {
		t.Errorf("transcript:\n%s", strings.Join(res.Transcript, "\n"))
	}
}

// TestRunDelayPause checks that \d and \p split the send where they stand and wait at least
// their (shrunk) durations. Timers never fire early, so the lower bounds are exact.
func TestRunDelayPause(t *testing.T) {
	m := modem(t)
	res, err := mustParse(t, `"" AT\dZ\pX`).RunWith(context.Background(), m, Vars{}, fast)
	if err != nil {
		t.Fatalf("err = %v", err)
	}
	w := m.Writes()
	if len(w) != 3 || w[0].data != "AT" || w[1].data != "Z" || w[2].data != "X\r" {
		t.Fatalf("writes %+v, want AT | Z | X\\r", w)
	}
	if gap := w[1].at.Sub(w[0].at); gap < fast.Delay {
		t.Errorf(`\d waited %v, less than %v`, gap, fast.Delay)
	}
	if gap := w[2].at.Sub(w[1].at); gap < fast.Pause {
		t.Errorf(`\p waited %v, less than %v`, gap, fast.Pause)
	}
	for _, want := range []string{`send "AT"`, "delay 30ms", `send "Z"`, "pause 10ms", `send "X\r"`} {
		if !hasLine(res.Transcript, want) {
			t.Errorf("transcript lacks %s:\n%s", want, strings.Join(res.Transcript, "\n"))
		}
	}
}

func TestRunCancel(t *testing.T) {
	slow := Timing{Delay: time.Hour, Pause: time.Hour, DefaultTimeout: time.Hour}
	tests := []struct{ name, script string }{
		{"while expecting", `"" AT NEVER Z`},
		{`during \d`, `"" AT\dZ`},
		{`during \p`, `"" AT\pZ`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := modem(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			m.onWrite = func([]byte) { cancel() }
			res, err := mustParse(t, tc.script).RunWith(ctx, m, Vars{}, slow)
			if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if strings.Contains(m.Written(), "Z") {
				t.Errorf("written %q after cancel", m.Written())
			}
			_ = res
		})
	}
	t.Run("already cancelled", func(t *testing.T) {
		m := modem(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := mustParse(t, `"" ATZ`).RunWith(ctx, m, Vars{}, slow)
		if !errors.Is(err, context.Canceled) || m.Written() != "" {
			t.Fatalf("err = %v, written %q; want Canceled and nothing written", err, m.Written())
		}
	})
}

func TestRunNoNumber(t *testing.T) {
	m := modem(t)
	_, err := mustParse(t, `"" ATZ OK "ATDT\T"`).RunWith(context.Background(), m, Vars{}, fast)
	if !errors.Is(err, ErrNoNumber) {
		t.Fatalf("err = %v, want ErrNoNumber", err)
	}
	if m.Written() != "" {
		t.Errorf("written %q before noticing the missing number", m.Written())
	}
}

func TestRunPortGone(t *testing.T) {
	m := modem(t, rule{on: "ATZ\r", reply: "ATZ\r"})
	m.onWrite = func([]byte) { go m.Close() }
	res, err := mustParse(t, `"" ATZ OK`).RunWith(context.Background(), m, Vars{}, fast)
	if !errors.Is(err, io.EOF) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrAborted) {
		t.Fatalf("err = %v, want io.EOF", err)
	}
	if res.Expect != "OK" {
		t.Errorf("Expect = %q, want OK", res.Expect)
	}
}

// TestRunSplitReads checks matches that straddle reads, and a long stream of noise that
// makes the expect window trim itself.
func TestRunSplitReads(t *testing.T) {
	noise := strings.Repeat("RING\r\n", 3000) // 18000 bytes, many reads
	m := modem(t,
		rule{on: "ATZ\r", reply: "CON"},
		rule{on: "", reply: "NECT 9600", after: 20 * time.Millisecond},
		rule{on: "", reply: noise + "REA", after: 40 * time.Millisecond},
		rule{on: "", reply: "DY tail", after: 60 * time.Millisecond},
	)
	res, err := mustParse(t, `"" ATZ CONNECT \c READY \c`).RunWith(context.Background(), m, Vars{}, fast)
	if err != nil {
		t.Fatalf("err = %v\n%s", err, strings.Join(res.Transcript, "\n"))
	}
	if res.Received != " tail" {
		t.Errorf("Received = %q, want %q", res.Received, " tail")
	}
	for _, l := range res.Transcript {
		if len(l) > 2*transcriptTail {
			t.Errorf("transcript line of %d bytes", len(l))
		}
	}
}

// TestRunQuiet checks that a \q send never reaches the transcript or the log.
func TestRunQuiet(t *testing.T) {
	m := modem(t, rule{on: "user\r", reply: "Password: "})
	var logBuf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	res, err := mustParse(t, `"" user word: \qhunter2`).RunWith(context.Background(), m, Vars{Logger: log}, fast)
	if err != nil {
		t.Fatalf("err = %v", err)
	}
	if m.Written() != "user\rhunter2\r" {
		t.Errorf("written %q", m.Written())
	}
	all := strings.Join(res.Transcript, "\n")
	if strings.Contains(all, "hunter2") || strings.Contains(logBuf.String(), "hunter2") {
		t.Errorf("secret logged:\n%s\n%s", all, logBuf.String())
	}
	if !hasLine(res.Transcript, `send "??????"`) {
		t.Errorf("transcript:\n%s", all)
	}
	if !strings.Contains(logBuf.String(), `port=fake0`) {
		t.Errorf("log lacks the port: %s", logBuf.String())
	}
}

// TestRunWindowTrim feeds an expect string after noise whose length puts the string across
// every read boundary over several trims of the expect window (reads are readBufSize bytes
// while data is waiting): the trim must keep enough of the tail for the match.
func TestRunWindowTrim(t *testing.T) {
	noLeaks(t)
	s := mustParse(t, `"" ATZ READY \c`)
	pattern := strings.Repeat("RING\r\n0123456789", 1+4*maxWindow/16)
	var lengths []int
	for k := 1; k*readBufSize < 4*maxWindow; k++ {
		for off := -len("READY"); off <= 1; off++ {
			lengths = append(lengths, k*readBufSize+off)
		}
	}
	for _, n := range lengths {
		m := newFakeModem(rule{on: "ATZ\r", reply: pattern[:n] + "READY tail"})
		res, err := s.RunWith(context.Background(), m, Vars{}, fast)
		m.Close()
		if err != nil {
			t.Fatalf("noise of %d bytes: %v", n, err)
		}
		// What was read past the match is handed back; the rest is still in the port.
		if got := res.Received + m.Unread(); got != " tail" {
			t.Fatalf("noise of %d bytes: Received %q + unread %q, want %q", n, res.Received, m.Unread(), " tail")
		}
	}
}
