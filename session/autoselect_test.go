package session_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dialback/nas/config"
	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/session"
	"github.com/dialback/nas/session/event"
)

func TestSniff(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want session.Match
	}{
		// RFC 1662 default ACCM: Control 0x03 escaped (mgetty's AutoPPP signature).
		{"standard", "\x7e\xff\x7d\x23\xc0\x21\x7d\x21", session.MatchPPP},
		{"unescaped control", "\x7e\xff\x03\xc0\x21", session.MatchPPP},
		{"acfc", "\x7e\xc0\x21\x7d\x21", session.MatchPPP},
		{"address escaped too", "\x7e\x7d\xdf\x7d\x23\xc0\x21", session.MatchPPP},
		{"everything escaped", "\x7e\x7d\xdf\x7d\x23\x7d\xe0\x7d\x01", session.MatchPPP},
		{"acfc escaped", "\x7e\x7d\xe0\x7d\x01", session.MatchPPP},
		{"repeated flags", "\x7e\x7e\x7e\xff\x7d\x23\xc0\x21", session.MatchPPP},
		{"after text", "hello\r\x7e\xff\x7d\x23\xc0\x21", session.MatchPPP},
		{"after garbage flag", "\x7e\x41\x7e\xff\x03\xc0\x21", session.MatchPPP},
		{"prefix only", "\x7e\xff\x7d", session.Partial},
		{"flag only", "\x7e", session.Partial},
		{"escape pending", "\x7e\xff\x7d\x23\xc0\x7d", session.Partial},
		{"text", "alice\r", session.NoMatch},
		{"tilde in text", "~/bin\r", session.NoMatch},
		{"ipcp not lcp", "\x7e\xff\x7d\x23\x80\x21", session.NoMatch},
		{"empty frame", "\x7e\x7e", session.Partial},
		{"aborted frame", "\x7e\xff\x7e\x41", session.NoMatch},
		{"nothing", "", session.NoMatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := session.Sniff([]byte(tc.in)); got != tc.want {
				t.Errorf("Sniff(% x) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzSniff checks that Sniff never panics, and that any input followed by a standard LCP
// frame start is recognised (the sniffer must find a frame whatever line noise preceded it).
func FuzzSniff(f *testing.F) {
	f.Add([]byte("\x7e\xff\x7d\x23\xc0\x21"))
	f.Add([]byte("alice\r\npassword\r"))
	f.Add([]byte("\x7e\x7d"))
	f.Fuzz(func(t *testing.T, b []byte) {
		session.Sniff(b)
		frame := append(append([]byte(nil), b...), "\x7e\xff\x7d\x23\xc0\x21"...)
		if got := session.Sniff(frame); got != session.MatchPPP {
			t.Errorf("Sniff(% x + LCP start) = %v", b, got)
		}
	})
}

// lcpFrame is the start of a Configure-Request from a PPP client, as pppd sends it.
const lcpFrame = "\x7e\xff\x7d\x23\xc0\x21\x7d\x21\x7d\x21\x7d\x20\x7d\x34\x7d\x22\x7d\x26\x7d\x20\x7d\x20\x7d\x20\x7d\x20"

func pppLine(flush bool, autoselect ...string) *config.Config {
	cfg := oneLine("authentication")
	cfg.Lines[0].FlushAtActivation = &flush
	cfg.Lines[0].Autoselect = autoselect
	return cfg
}

func TestAutoselectPPPWithoutFlush(t *testing.T) {
	l := newLab(t, pppLine(false, "ppp", "during-login"))
	ctx := ctxT(t)
	c := l.caller("5552000")
	if _, err := c.Dial(ctx, "5551001"); err != nil {
		t.Fatal(err)
	}
	// The caller's first frame, sent at once, is kept (no flush-at-activation) and recognised.
	if err := c.Send(lcpFrame); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitHangup(ctx); err != nil {
		t.Fatal(err)
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Protocol: "ppp", Cause: session.CausePPPNotEnabled})
	inOrder(t, l.rec.Events(),
		event.Event{Kind: event.CallAnswered, Line: 1},
		event.Event{Kind: event.Autoselect, Line: 1, Protocol: "ppp", Leg: "first"},
		event.Event{Kind: event.LineHangup, Line: 1, Cause: session.CausePPPNotEnabled},
	)
	if n := count(l.rec.Events(), event.Event{Kind: event.AuthOK}); n != 0 {
		t.Errorf("a PPP caller was logged in")
	}
	l.waitState(1, lines.Idle)
}

func TestAutoselectPPPWithFlush(t *testing.T) {
	l := newLab(t, pppLine(true, "ppp", "during-login"), withOptions(func(o *session.Options) {
		// Long enough that the caller's first frame, sent right at CONNECT, falls inside it.
		o.Timing.FlushWindow = 300 * time.Millisecond
	}))
	ctx := ctxT(t)
	c := l.caller("5552000")
	if _, err := c.Dial(ctx, "5551001"); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(lcpFrame); err != nil {
		t.Fatal(err)
	}
	// The frame was flushed: the dialog goes on as for a text user.
	if err := c.Login(ctx, "bob", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect(ctx, "% Authentication failed"); err != nil {
		t.Fatal(err)
	}
	if n := count(l.rec.Events(), event.Event{Kind: event.Autoselect}); n != 0 {
		t.Fatalf("the flushed frame was recognised:\n%s", dump(l.rec.Events()))
	}
	// A frame at the login prompt (autoselect during-login) is recognised.
	if _, err := c.Expect(ctx, "Username: "); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(lcpFrame); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitHangup(ctx); err != nil {
		t.Fatal(err)
	}
	l.waitEvent(event.Event{Kind: event.Autoselect, Line: 1, Protocol: "ppp"})
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Cause: session.CausePPPNotEnabled})
}

func TestAutoselectWaitsForReturn(t *testing.T) {
	l := newLab(t, pppLine(false, "ppp"))
	ctx := ctxT(t)
	c := l.caller("5552000")
	if _, err := c.Dial(ctx, "5551001"); err != nil {
		t.Fatal(err)
	}
	// Without during-login nothing is shown until Return (or a frame).
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	got, err := c.Expect(short, "Username: ")
	cancel()
	if err == nil {
		t.Fatalf("login prompt before Return: %q", got)
	}
	if err := c.SendLine(""); err != nil {
		t.Fatal(err)
	}
	if err := c.Login(ctx, "alice", "wonderland"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect(ctx, "nas>"); err != nil {
		t.Fatal(err)
	}
	inOrder(t, l.rec.Events(),
		event.Event{Kind: event.Autoselect, Line: 1, Protocol: "exec"},
		event.Event{Kind: event.AuthOK, Line: 1, User: "alice"},
	)
}

func TestAutoselectHandsToPPPHandler(t *testing.T) {
	got := make(chan *session.Handoff, 1)
	l := newLab(t, pppLine(false, "ppp", "during-login"), withOptions(func(o *session.Options) {
		o.PPP = func(ctx context.Context, h *session.Handoff) session.Outcome {
			// Say something on the line, so the test sees the handler owns the call.
			_, _ = h.Conn.Write([]byte("PPP HANDLER\r\n"))
			got <- h
			return session.Outcome{Cause: "ppp-test-done"}
		}
	}))
	ctx := ctxT(t)
	c := l.caller("5552000")
	if _, err := c.Dial(ctx, "5551001"); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(lcpFrame); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect(ctx, "PPP HANDLER"); err != nil {
		t.Fatal(err)
	}
	h := <-got
	if h.Line != 1 || h.Leg != "first" || h.Protocol != "ppp" {
		t.Errorf("handoff = line %d leg %q protocol %q", h.Line, h.Leg, h.Protocol)
	}
	if !strings.Contains(string(h.Frame), "\x7e\xff\x7d\x23\xc0\x21") {
		t.Errorf("handoff frame % x lacks the LCP start", h.Frame)
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Protocol: "ppp", Cause: "ppp-test-done"})
}

func TestAutocommandPPP(t *testing.T) {
	for _, withHandler := range []bool{true, false} {
		t.Run(map[bool]string{true: "handler", false: "no handler"}[withHandler], func(t *testing.T) {
			cfg := oneLine("authentication")
			cfg.Users[0].Autocommand = "ppp"
			got := make(chan *session.Handoff, 1)
			opt := withOptions(func(o *session.Options) {
				if withHandler {
					o.PPP = func(ctx context.Context, h *session.Handoff) session.Outcome {
						got <- h
						return session.Outcome{Cause: "ppp-test-done"}
					}
				}
			})
			l := newLab(t, cfg, opt)
			ctx := ctxT(t)
			c := l.caller("5552000")
			if _, err := c.Dial(ctx, "5551001"); err != nil {
				t.Fatal(err)
			}
			if err := c.Login(ctx, "alice", "wonderland"); err != nil {
				t.Fatal(err)
			}
			rest, err := c.WaitHangup(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(rest, "nas>") {
				t.Errorf("an autocommand ppp user got a prompt: %q", rest)
			}
			want := session.CausePPPNotEnabled
			if withHandler {
				want = "ppp-test-done"
				if h := <-got; h.Protocol != "ppp" || len(h.Frame) != 0 || h.Leg != "first" {
					t.Errorf("handoff %+v", h)
				}
			}
			l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, User: "alice", Protocol: "ppp", Cause: want})
		})
	}
}
