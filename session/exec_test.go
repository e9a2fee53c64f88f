package session_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dialback/nas/config"
	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/session"
	"github.com/dialback/nas/session/caller"
	"github.com/dialback/nas/session/event"
)

func oneLine(login string) *config.Config {
	s := lineSpec(1, "5551001")
	s.Login = login
	return &config.Config{
		Hostname: "nas",
		Lines:    []config.LineSpec{s},
		Users:    []config.User{{Name: "alice", Password: "wonderland"}},
	}
}

func TestExecLogin(t *testing.T) {
	for _, tc := range []struct {
		name, login, failMsg string
	}{
		{"aaa", "authentication", "% Authentication failed"},
		{"local", "local", "% Login invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, oneLine(tc.login))
			ctx := ctxT(t)
			c := l.caller("5552000")
			if _, err := c.Dial(ctx, "5551001"); err != nil {
				t.Fatal(err)
			}
			if got, err := c.Expect(ctx, "User Access Verification\r\n\r\nUsername: "); err != nil {
				t.Fatal(err)
			} else if !strings.Contains(got, "nas test line") {
				t.Errorf("no banner before the dialog: %q", got)
			}
			// One wrong password first: the IOS message for this login kind, then a new prompt.
			if err := c.SendLine("alice"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Expect(ctx, "Password: "); err != nil {
				t.Fatal(err)
			}
			if err := c.SendLine("wrong"); err != nil {
				t.Fatal(err)
			}
			got, err := c.Expect(ctx, "Username: ")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(got, tc.failMsg) {
				t.Errorf("after a wrong password got %q, want %q", got, tc.failMsg)
			}
			if strings.Contains(got, "wrong") {
				t.Errorf("password echoed: %q", got)
			}
			if err := c.SendLine("alice"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Expect(ctx, "Password: "); err != nil {
				t.Fatal(err)
			}
			if err := c.SendLine("wonderland"); err != nil {
				t.Fatal(err)
			}
			if got, err := c.Expect(ctx, "nas>"); err != nil {
				t.Fatal(err)
			} else if strings.Contains(got, "wonderland") {
				t.Errorf("password echoed: %q", got)
			}
			l.waitEvent(event.Event{Kind: event.SessionUp, Line: 1, User: "alice", Protocol: "exec", Leg: "first"})
			l.waitState(1, lines.InUse)
			if u := l.srv.Table().Snapshot()[0].User; u != "alice" {
				t.Errorf("line user = %q, want alice", u)
			}
			if err := c.SendLine("exit"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.WaitHangup(ctx); err != nil {
				t.Fatal(err)
			}
			l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, User: "alice", Cause: session.CauseLogout})
			l.waitState(1, lines.Idle)
			inOrder(t, l.rec.Events(),
				event.Event{Kind: event.LineRing, Line: 1, Number: "5552000"},
				event.Event{Kind: event.CallAnswered, Line: 1, Number: "5552000"},
				event.Event{Kind: event.AuthFail, Line: 1, User: "alice", Protocol: "exec", Leg: "first", Cause: "rejected"},
				event.Event{Kind: event.AuthOK, Line: 1, User: "alice", Protocol: "exec", Leg: "first"},
				event.Event{Kind: event.SessionUp, Line: 1, User: "alice"},
				event.Event{Kind: event.SessionDown, Line: 1, User: "alice", Cause: "logout"},
				event.Event{Kind: event.LineHangup, Line: 1, Cause: "logout"},
			)
		})
	}
}

func TestExecThreeBadPasswords(t *testing.T) {
	l := newLab(t, oneLine("local"))
	ctx := ctxT(t)
	c := l.caller("5552000")
	if _, err := c.Dial(ctx, "5551001"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := c.Login(ctx, "alice", "nope"); err != nil {
			t.Fatalf("try %d: %v", i+1, err)
		}
		if _, err := c.Expect(ctx, "% Login invalid"); err != nil {
			t.Fatalf("try %d: %v", i+1, err)
		}
	}
	rest, err := c.WaitHangup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(rest, "Username:") {
		t.Errorf("a fourth try was offered: %q", rest)
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Cause: session.CauseAuthFailed})
	es := l.rec.Events()
	if n := count(es, event.Event{Kind: event.AuthFail, User: "alice", Cause: "rejected"}); n != 3 {
		t.Errorf("%d auth.fail events, want 3:\n%s", n, dump(es))
	}
	if n := count(es, event.Event{Kind: event.SessionUp}); n != 0 {
		t.Errorf("session.up after failed logins:\n%s", dump(es))
	}
	l.waitState(1, lines.Idle)
}

func TestExecLoginTimeout(t *testing.T) {
	cfg := oneLine("authentication")
	cfg.Lines[0].LoginTimeout = 150 * time.Millisecond // below the 1 s configuration minimum
	l := newLab(t, cfg, noValidate)
	ctx := ctxT(t)
	c := l.caller("5552000")
	if _, err := c.Dial(ctx, "5551001"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect(ctx, "Username: "); err != nil {
		t.Fatal(err)
	}
	rest, err := c.WaitHangup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rest, "% Username:  timeout expired!") {
		t.Errorf("no timeout message before the hang-up: %q", rest)
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Cause: session.CauseLoginTimeout})
	l.waitState(1, lines.Idle)
}

// loggedIn dials line 1 and logs in as alice.
func loggedIn(t *testing.T, l *lab, from string) *caller.Caller {
	t.Helper()
	ctx := ctxT(t)
	c := l.caller(from)
	if _, err := c.Dial(ctx, "5551001"); err != nil {
		t.Fatal(err)
	}
	if err := c.Login(ctx, "alice", "wonderland"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect(ctx, "nas>"); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestExecCommands(t *testing.T) {
	cfg := oneLine("authentication")
	l2 := lineSpec(2, "5551002")
	l2.Rotary = 7
	cfg.Lines = append(cfg.Lines, l2)
	l := newLab(t, cfg)
	ctx := ctxT(t)
	c := loggedIn(t, l, "5552000")

	for _, tc := range []struct {
		cmd  string
		want []string // each must appear in the output
		not  []string
	}{
		{"show users", []string{"Line", "User", "*   1 tty 1", "alice", "5552000"}, []string{"tty 2 "}},
		{"sh us", []string{"*   1 tty 1", "alice"}, nil},
		{"show line", []string{"Tty", "*    1 TTY", "in-use", "alice", "     2 TTY", "idle", "   7 "}, nil},
		{"show line 2", []string{"     2 TTY"}, []string{"*    1 TTY"}},
		{"show line 9", []string{"% Line 9 does not exist"}, nil},
		{"show", []string{"% Incomplete command."}, nil},
		{"show bogus", []string{"\r\n         ^\r\n% Invalid input detected at '^' marker."}, nil},
		{"frobnicate", []string{"\r\n    ^\r\n% Invalid input detected at '^' marker."}, nil},
		{"?", []string{"Exec commands:", "exit", "logout", "show"}, nil},
		{"show ?", []string{"line", "users"}, []string{"logout"}},
		{"sh?", []string{"show"}, []string{"exit"}},
		{"help", []string{"'?'"}, nil},
	} {
		if err := c.SendLine(tc.cmd); err != nil {
			t.Fatal(err)
		}
		out, err := c.Expect(ctx, "\r\nnas>")
		if err != nil {
			t.Fatalf("%s: %v", tc.cmd, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%q: output lacks %q:\n%s", tc.cmd, w, out)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(out, w) {
				t.Errorf("%q: output has %q:\n%s", tc.cmd, w, out)
			}
		}
	}
	// Line editing: DEL and backspace erase, CR LF ends the line once.
	if err := c.Send("loxx\x7f\bgout\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitHangup(ctx); err != nil {
		t.Fatal(err)
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Cause: session.CauseLogout})
}

func TestExecIdleTimeout(t *testing.T) {
	cfg := oneLine("authentication")
	idle := 200 * time.Millisecond
	cfg.Lines[0].ExecTimeout = &idle
	l := newLab(t, cfg)
	ctx := ctxT(t)
	c := loggedIn(t, l, "5552000")
	if _, err := c.WaitHangup(ctx); err != nil {
		t.Fatal(err)
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, User: "alice", Cause: session.CauseIdleTimeout})
}

func TestExecAbsoluteTimeout(t *testing.T) {
	cfg := oneLine("authentication")
	cfg.Lines[0].AbsoluteTimeout = 400 * time.Millisecond
	l := newLab(t, cfg)
	ctx := ctxT(t)
	c := loggedIn(t, l, "5552000")
	// Keep typing: the absolute timeout ends the session even though it is never idle.
	for {
		if err := c.SendLine(""); err != nil {
			break
		}
		if _, err := c.Expect(ctx, "nas>"); err != nil {
			if !errors.Is(err, caller.ErrHungUp) {
				t.Fatal(err)
			}
			break
		}
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, User: "alice", Cause: session.CauseSessionTimeout})
}

func TestCallerHangsUpAtPrompt(t *testing.T) {
	l := newLab(t, oneLine("authentication"))
	ctx := ctxT(t)
	c := l.caller("5552000")
	if _, err := c.Dial(ctx, "5551001"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect(ctx, "Username: "); err != nil {
		t.Fatal(err)
	}
	if err := c.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Cause: session.CauseCarrierLost})
	l.waitState(1, lines.Idle)
	// The line answers again.
	c2 := l.caller("5552001")
	if _, err := c2.Dial(ctx, "5551001"); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Expect(ctx, "Username: "); err != nil {
		t.Fatal(err)
	}
}
