package session_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialback/nas/callback"
	"github.com/dialback/nas/config"
	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/session"
	"github.com/dialback/nas/session/caller"
	"github.com/dialback/nas/session/event"
)

// ciscoConfig is the IOS guide's EXEC callback example: callers dial line 1; the NAS calls
// them back from rotary 77 (lines 2 and 3) at the number in their entitlement.
func ciscoConfig(users ...config.User) *config.Config {
	l1 := lineSpec(1, "5551001")
	l2 := lineSpec(2, "5551002")
	l2.Lines = "2-3"
	l2.Port = "sim:555100{n}"
	l2.Rotary = 77
	l1.Script.Callback = "callback"
	l2.Script.Callback = "callback"
	return &config.Config{
		Hostname:    "nas",
		Lines:       []config.LineSpec{l1, l2},
		ChatScripts: map[string]string{"callback": callback.DefaultScript},
		Users:       users,
		Service:     config.Service{ExecCallback: true},
		Callback:    config.GlobalCallback{PromptTimeout: 2 * time.Second},
	}
}

// callbackUser is alice, called back on rotary 77 at 5552000.
func callbackUser() config.User {
	return config.User{Name: "alice", Password: "wonderland", CallbackDialstring: strp("5552000"), CallbackRotary: 77}
}

// firstLeg dials line 1, logs in and checks the callback message and the hang-up.
func firstLeg(t *testing.T, ctx context.Context, c *caller.Caller, user, password string) {
	t.Helper()
	if _, err := c.Dial(ctx, "5551001"); err != nil {
		t.Fatal(err)
	}
	if err := c.Login(ctx, user, password); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect(ctx, session.MsgCallbackInitiated); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitHangup(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestCallbackOnRotary(t *testing.T) {
	l := newLab(t, ciscoConfig(callbackUser()))
	ctx := ctxT(t)
	c := l.caller("5552000")
	firstLeg(t, ctx, c, "alice", "wonderland")
	if _, err := c.Answer(ctx); err != nil {
		t.Fatal(err)
	}
	// The callback leg verifies again.
	if err := c.Login(ctx, "alice", "wonderland"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect(ctx, "nas>"); err != nil {
		t.Fatal(err)
	}
	l.waitEvent(event.Event{Kind: event.SessionUp, Line: 2, Leg: "callback"})
	// The lab's expectation for this example, in this order.
	inOrder(t, l.rec.Events(),
		event.Event{Kind: event.CallAnswered, Line: 1, Number: "5552000"},
		event.Event{Kind: event.AuthOK, Line: 1, User: "alice", Protocol: "exec", Leg: "first"},
		event.Event{Kind: event.CallbackScheduled, Line: 1, User: "alice", Number: "5552000", Rotary: 77},
		event.Event{Kind: event.LineHangup, Line: 1, User: "alice", Leg: "first", Cause: "callback"},
		event.Event{Kind: event.CallbackDialing, Line: 2, User: "alice", Number: "5552000", Rotary: 77},
		event.Event{Kind: event.CallbackConnected, Line: 2, User: "alice", Number: "5552000", Rotary: 77},
		event.Event{Kind: event.AuthOK, Line: 2, User: "alice", Protocol: "exec", Leg: "callback"},
		event.Event{Kind: event.SessionUp, Line: 2, User: "alice", Protocol: "exec", Leg: "callback"},
	)
	es := l.rec.Events()
	// A callback leg never calls back.
	if n := count(es, event.Event{Kind: event.CallbackScheduled}); n != 1 {
		t.Errorf("%d callback.scheduled events, want 1:\n%s", n, dump(es))
	}
	if n := count(es, event.Event{Kind: event.SessionUp, Leg: "first"}); n != 0 {
		t.Errorf("the first leg got an EXEC:\n%s", dump(es))
	}
	l.waitState(1, lines.Idle)
	if info := l.srv.Table().Snapshot(); info[1].State != lines.InUse || info[1].User != "alice" {
		t.Errorf("line 2 = %s user %q, want in-use by alice", info[1].State, info[1].User)
	}
	if err := c.SendLine("show users"); err != nil {
		t.Fatal(err)
	}
	if out, err := c.Expect(ctx, "nas>"); err != nil {
		t.Fatal(err)
	} else if !strings.Contains(out, "*   2 tty 2") || !strings.Contains(out, "5552000") {
		t.Errorf("show users on the callback leg:\n%s", out)
	}
	if err := c.SendLine("logout"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitHangup(ctx); err != nil {
		t.Fatal(err)
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 2, Leg: "callback", Cause: session.CauseLogout})
	l.waitState(2, lines.Idle)
}

func TestCallbackNoVerify(t *testing.T) {
	u := callbackUser()
	u.NoCallbackVerify = true
	l := newLab(t, ciscoConfig(u))
	ctx := ctxT(t)
	c := l.caller("5552000")
	got, err := c.ExecCallback(ctx, "5551001", "alice", "wonderland", "nas>", false)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(got, "Username:") {
		t.Errorf("nocallback-verify user asked to log in again: %q", got)
	}
	l.waitEvent(event.Event{Kind: event.SessionUp, Line: 2, User: "alice", Leg: "callback"})
	e := l.waitEvent(event.Event{Kind: event.AuthOK, Line: 2, User: "alice", Leg: "callback"})
	if e.Detail != "nocallback-verify" {
		t.Errorf("callback-leg auth.ok detail = %q", e.Detail)
	}
}

func TestCallbackPromptsForNumber(t *testing.T) {
	u := callbackUser()
	u.CallbackDialstring = strp("") // the user supplies the number
	l := newLab(t, ciscoConfig(u))
	ctx := ctxT(t)
	c := l.caller("5552000")
	if _, err := c.Dial(ctx, "5551001"); err != nil {
		t.Fatal(err)
	}
	if err := c.Login(ctx, "alice", "wonderland"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect(ctx, "Callback Dialstring: "); err != nil {
		t.Fatal(err)
	}
	if err := c.SendLine("555-2000"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect(ctx, session.MsgCallbackInitiated); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitHangup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Answer(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Login(ctx, "alice", "wonderland"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect(ctx, "nas>"); err != nil {
		t.Fatal(err)
	}
	l.waitEvent(event.Event{Kind: event.CallbackConnected, Line: 2, Number: "555-2000"})
}

func TestCallbackPromptRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, answer string // answer "" with wait: say nothing until the prompt times out
		wait         bool
		msg          string
	}{
		{"empty", "", false, "% No callback dialstring given"},
		{"injection", "5552000;H0", false, "% Invalid callback dialstring"},
		{"timeout", "", true, "% Callback dialstring timeout expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := callbackUser()
			u.CallbackDialstring = strp("")
			cfg := ciscoConfig(u)
			cfg.Callback.PromptTimeout = 200 * time.Millisecond
			l := newLab(t, cfg, noValidate)
			ctx := ctxT(t)
			c := l.caller("5552000")
			if _, err := c.Dial(ctx, "5551001"); err != nil {
				t.Fatal(err)
			}
			if err := c.Login(ctx, "alice", "wonderland"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Expect(ctx, "Callback Dialstring: "); err != nil {
				t.Fatal(err)
			}
			if !tc.wait {
				if err := c.SendLine(tc.answer); err != nil {
					t.Fatal(err)
				}
			}
			rest, err := c.WaitHangup(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(rest, tc.msg) {
				t.Errorf("got %q, want %q", rest, tc.msg)
			}
			l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Cause: session.CauseNoNumber})
			if n := count(l.rec.Events(), event.Event{Kind: event.CallbackScheduled}); n != 0 {
				t.Errorf("callback scheduled:\n%s", dump(l.rec.Events()))
			}
			l.waitState(1, lines.Idle)
		})
	}
}

func TestCallbackSameLine(t *testing.T) {
	u := callbackUser()
	u.CallbackRotary = 0 // neither line nor rotary: call back on the incoming line
	l := newLab(t, ciscoConfig(u))
	ctx := ctxT(t)
	c := l.caller("5552000")
	firstLeg(t, ctx, c, "alice", "wonderland")
	if _, err := c.Answer(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Login(ctx, "alice", "wonderland"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect(ctx, "nas>"); err != nil {
		t.Fatal(err)
	}
	inOrder(t, l.rec.Events(),
		event.Event{Kind: event.CallbackScheduled, Line: 1},
		event.Event{Kind: event.LineHangup, Line: 1, Cause: "callback"},
		event.Event{Kind: event.CallbackDialing, Line: 1, Number: "5552000"},
		event.Event{Kind: event.CallbackConnected, Line: 1},
		event.Event{Kind: event.SessionUp, Line: 1, Leg: "callback"},
	)
}

func TestCallbackBusy(t *testing.T) {
	u := callbackUser()
	u.CallbackDialstring = strp("5552999")
	l := newLab(t, ciscoConfig(u))
	ctx := ctxT(t)
	// The callback number is off-hook all along: BUSY.
	busy := l.caller("5552999")
	if _, err := busy.Port().Write([]byte("ATH1\r")); err != nil {
		t.Fatal(err)
	}
	c := l.caller("5552000")
	firstLeg(t, ctx, c, "alice", "wonderland")
	e := l.waitEvent(event.Event{Kind: event.CallbackFailed, User: "alice"})
	if e.Cause != callback.CauseBusy || e.Line != 2 || e.Number != "5552999" {
		t.Errorf("callback.failed = %+v, want busy on line 2", e)
	}
	l.waitState(2, lines.Idle)
	l.waitState(1, lines.Idle)
	if n := count(l.rec.Events(), event.Event{Kind: event.CallbackDialing}); n != 1 {
		t.Errorf("%d dial attempts, want 1 (no retries)", n)
	}
}

func TestCallbackRetry(t *testing.T) {
	cfg := ciscoConfig(callbackUser())
	cfg.Callback.Retries = 1
	// Long enough for the caller to go off-hook before the first dial and back on-hook
	// before the retry.
	cfg.Lines[0].Callback.ForcedWait = 300 * time.Millisecond
	l := newLab(t, cfg)
	ctx := ctxT(t)
	c := l.caller("5552000")
	firstLeg(t, ctx, c, "alice", "wonderland")
	if _, err := c.Port().Write([]byte("ATH1\r")); err != nil { // busy for the first attempt
		t.Fatal(err)
	}
	l.waitEvent(event.Event{Kind: event.CallbackFailed, Cause: callback.CauseBusy})
	if _, err := c.Port().Write([]byte("ATH0\r")); err != nil { // free for the retry
		t.Fatal(err)
	}
	if _, err := c.Answer(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Login(ctx, "alice", "wonderland"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect(ctx, "nas>"); err != nil {
		t.Fatal(err)
	}
	if n := count(l.rec.Events(), event.Event{Kind: event.CallbackDialing}); n != 2 {
		t.Errorf("%d dial attempts, want 2", n)
	}
}

func TestCallbackCalleeHangsUpAfterConnect(t *testing.T) {
	l := newLab(t, ciscoConfig(callbackUser()))
	ctx := ctxT(t)
	c := l.caller("5552000")
	firstLeg(t, ctx, c, "alice", "wonderland")
	if _, err := c.Answer(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect(ctx, "Username: "); err != nil {
		t.Fatal(err)
	}
	if err := c.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 2, Leg: "callback", Cause: session.CauseCarrierLost})
	l.waitState(2, lines.Idle)
	l.waitState(1, lines.Idle)
	// Both lines answer again.
	for _, n := range []string{"5551001", "5551002"} {
		c2 := l.caller("5553" + n[4:])
		if _, err := c2.Dial(ctx, n); err != nil {
			t.Fatal(err)
		}
		if _, err := c2.Expect(ctx, "Username: "); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCallbackCalleeGoneDuringDial(t *testing.T) {
	cfg := ciscoConfig(callbackUser())
	cfg.Lines[0].Callback.ForcedWait = 300 * time.Millisecond
	l := newLab(t, cfg)
	ctx := ctxT(t)
	c := l.caller("5552000")
	firstLeg(t, ctx, c, "alice", "wonderland")
	// The caller unplugs its modem: the number is unallocated by the time the NAS dials.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	e := l.waitEvent(event.Event{Kind: event.CallbackFailed, User: "alice"})
	if e.Cause != callback.CauseNoCarrier {
		t.Errorf("callback.failed cause %q, want %q", e.Cause, callback.CauseNoCarrier)
	}
	l.waitState(2, lines.Idle)
}

func TestCallbackCalleeDropsWhileAnswering(t *testing.T) {
	l := newLab(t, ciscoConfig(callbackUser()))
	ctx := ctxT(t)
	c := l.caller("5552000")
	firstLeg(t, ctx, c, "alice", "wonderland")
	// Answer by hand and abort the handshake at once: the NAS's dial ends with NO CARRIER.
	p := c.Port()
	var got strings.Builder
	buf := make([]byte, 256)
	for !strings.Contains(got.String(), "RING") {
		_ = p.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := p.Read(buf)
		if err != nil {
			t.Fatalf("waiting for RING: %v (got %q); events:\n%s", err, got.String(), dump(l.rec.Events()))
		}
		got.Write(buf[:n])
	}
	if _, err := p.Write([]byte("ATA\rx")); err != nil {
		t.Fatal(err)
	}
	e := l.waitEvent(event.Event{Kind: event.CallbackFailed, User: "alice"})
	if e.Cause != callback.CauseNoCarrier {
		t.Errorf("callback.failed cause %q, want %q", e.Cause, callback.CauseNoCarrier)
	}
	l.waitState(2, lines.Idle)
	if n := count(l.rec.Events(), event.Event{Kind: event.CallbackConnected}); n != 0 {
		t.Errorf("callback connected:\n%s", dump(l.rec.Events()))
	}
}

func TestCallbackNoAnswer(t *testing.T) {
	l := newLab(t, ciscoConfig(callbackUser()))
	ctx := ctxT(t)
	c := l.caller("5552000")
	firstLeg(t, ctx, c, "alice", "wonderland") // and never answers the callback
	e := l.waitEvent(event.Event{Kind: event.CallbackFailed, User: "alice"})
	if e.Cause != callback.CauseNoAnswer {
		t.Errorf("callback.failed cause %q, want %q", e.Cause, callback.CauseNoAnswer)
	}
	l.waitState(2, lines.Idle)
}

func TestCallbackRaceForRotary(t *testing.T) {
	// Lines 1 and 2 take calls; rotary 77 is line 3 alone.
	l1 := lineSpec(1, "5551001")
	l2 := lineSpec(2, "5551002")
	l3 := lineSpec(3, "5551003")
	l3.Rotary = 77
	l3.Script.Callback = "callback"
	cfg := &config.Config{
		Hostname:    "nas",
		ChatScripts: map[string]string{"callback": callback.DefaultScript},
		Lines:       []config.LineSpec{l1, l2, l3},
		Users: []config.User{
			{Name: "alice", Password: "a", CallbackDialstring: strp("5552001"), CallbackRotary: 77},
			{Name: "bob", Password: "b", CallbackDialstring: strp("5552002"), CallbackRotary: 77},
		},
		Service: config.Service{ExecCallback: true},
	}
	l := newLab(t, cfg)
	ctx := ctxT(t)
	type user struct {
		name, pass, from, line string
		c                      *caller.Caller
		answered               chan error
		cancel                 context.CancelFunc
	}
	users := []*user{
		{name: "alice", pass: "a", from: "5552001", line: "5551001"},
		{name: "bob", pass: "b", from: "5552002", line: "5551002"},
	}
	var wg sync.WaitGroup
	for _, u := range users {
		u.c = l.caller(u.from)
		u.answered = make(chan error, 1)
		actx, cancel := context.WithCancel(ctx)
		u.cancel = cancel
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := u.c.Dial(actx, u.line); err != nil {
				u.answered <- err
				return
			}
			if err := u.c.Login(actx, u.name, u.pass); err != nil {
				u.answered <- err
				return
			}
			if _, err := u.c.Expect(actx, session.MsgCallbackInitiated); err != nil {
				u.answered <- err
				return
			}
			if _, err := u.c.WaitHangup(actx); err != nil {
				u.answered <- err
				return
			}
			_, err := u.c.Answer(actx)
			u.answered <- err
		}()
	}
	defer func() {
		for _, u := range users {
			u.cancel()
		}
		wg.Wait()
	}()
	failed := l.waitEvent(event.Event{Kind: event.CallbackFailed, Cause: callback.CauseNoFreeLine})
	connected := l.waitEvent(event.Event{Kind: event.CallbackConnected, Line: 3})
	if failed.User == connected.User {
		t.Fatalf("%s both failed and connected:\n%s", failed.User, dump(l.rec.Events()))
	}
	for _, u := range users {
		if u.name == failed.User {
			u.cancel() // the loser waits in vain for a call
			continue
		}
		if err := <-u.answered; err != nil {
			t.Fatalf("%s: %v", u.name, err)
		}
		if err := u.c.Login(ctx, u.name, u.pass); err != nil {
			t.Fatal(err)
		}
		if _, err := u.c.Expect(ctx, "nas>"); err != nil {
			t.Fatal(err)
		}
	}
	es := l.rec.Events()
	if n := count(es, event.Event{Kind: event.CallbackConnected}); n != 1 {
		t.Errorf("%d callbacks connected, want 1:\n%s", n, dump(es))
	}
	// The loser's first leg was hung up all the same.
	inOrder(t, es,
		event.Event{Kind: event.CallbackScheduled, User: failed.User},
		event.Event{Kind: event.LineHangup, User: failed.User, Cause: "callback"},
		event.Event{Kind: event.CallbackFailed, User: failed.User, Cause: callback.CauseNoFreeLine},
	)
}

func TestPortGoneOtherLinesAnswer(t *testing.T) {
	cfg := oneLine("authentication")
	cfg.Lines = append(cfg.Lines, lineSpec(2, "5551002"))
	l := newLab(t, cfg)
	ctx := ctxT(t)
	if err := l.port(1).Close(); err != nil {
		t.Fatal(err)
	}
	e := l.waitEvent(event.Event{Kind: event.LineDown, Line: 1})
	if e.Cause == "" {
		t.Error("line.down without a cause")
	}
	l.waitState(1, lines.Down)
	c := l.caller("5552000")
	if _, err := c.Dial(ctx, "5551002"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect(ctx, "Username: "); err != nil {
		t.Fatal(err)
	}
	// The dead line keeps retrying (each retry is a new Down) without flooding the events.
	since := l.srv.Table().Snapshot()[0].Since
	for retries, deadline := 0, time.Now().Add(5*time.Second); retries < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("line 1 retried %d times", retries)
		}
		if s := l.srv.Table().Snapshot()[0].Since; !s.Equal(since) {
			since = s
			retries++
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := count(l.rec.Events(), event.Event{Kind: event.LineDown, Line: 1}); n != 1 {
		t.Errorf("%d line.down events for one outage, want 1", n)
	}
	if st := l.srv.Table().Snapshot()[0].State; st != lines.Down && st != lines.Resetting {
		t.Errorf("line 1 is %s, want down (or resetting between retries)", st)
	}
}

func TestShutdownHangsUp(t *testing.T) {
	l := newLab(t, oneLine("authentication"))
	ctx := ctxT(t)
	c := loggedIn(t, l, "5552000")
	l.stop()
	if _, err := c.WaitHangup(ctx); err != nil {
		t.Fatal(err)
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Cause: session.CauseShutdown})
}

func TestOpenerReopensAGonePort(t *testing.T) {
	l := newLab(t, oneLine("authentication"), withOpener)
	ctx := ctxT(t)
	first := l.port(1)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	l.waitEvent(event.Event{Kind: event.LineDown, Line: 1})
	// The server closes what it opened and opens the line again; the line answers.
	ctxW, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := l.srv.Table().Wait(ctxW, 1, func(i lines.Info) bool {
		return i.State == lines.Idle && l.port(1) != first
	}); err != nil {
		t.Fatalf("line 1 not reopened: %v", err)
	}
	c := l.caller("5552000")
	if _, err := c.Dial(ctx, "5551001"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect(ctx, "Username: "); err != nil {
		t.Fatal(err)
	}
}

func TestShutdownDuringCallback(t *testing.T) {
	cfg := ciscoConfig(callbackUser())
	cfg.Lines[0].Callback.ForcedWait = time.Hour
	l := newLab(t, cfg, noValidate)
	ctx := ctxT(t)
	c := l.caller("5552000")
	firstLeg(t, ctx, c, "alice", "wonderland")
	l.waitEvent(event.Event{Kind: event.LineHangup, Line: 1, Cause: "callback"})
	l.stop() // must not wait out the forced wait
	e := l.waitEvent(event.Event{Kind: event.CallbackFailed, User: "alice"})
	if e.Cause != callback.CauseCancelled {
		t.Errorf("callback.failed cause %q, want %q", e.Cause, callback.CauseCancelled)
	}
}
