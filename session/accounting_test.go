package session_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/acct"
	"github.com/dialback/nas/aaa/radius/dynauth"
	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/ppp"
	"github.com/dialback/nas/session"
	"github.com/dialback/nas/session/caller"
	"github.com/dialback/nas/session/event"
)

// flakyFS is the operating system's file system with a switch that makes every write, sync
// and file creation fail, as a full disk does.
type flakyFS struct {
	acct.OSFS
	fail atomic.Bool
}

var errDiskFull = errors.New("no space left on device (simulated)")

func (f *flakyFS) OpenFile(name string, flag int, perm os.FileMode) (acct.File, error) {
	if f.fail.Load() && flag&os.O_CREATE != 0 {
		return nil, errDiskFull
	}
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &flakyFile{File: file, fs: f}, nil
}

type flakyFile struct {
	acct.File
	fs *flakyFS
}

func (f *flakyFile) Write(b []byte) (int, error) {
	if f.fs.fail.Load() {
		return 0, errDiskFull
	}
	return f.File.Write(b)
}

func (f *flakyFile) Sync() error {
	if f.fs.fail.Load() {
		return errDiskFull
	}
	return f.File.Sync()
}

// openSpool opens a spool in a temporary directory that outlives the lab (close it after the
// server has stopped: register it before newLab).
func openSpool(t *testing.T, policy acct.Policy, fsys acct.FS) *acct.Spool {
	t.Helper()
	sp, err := acct.Open(t.TempDir(), acct.Options{
		FS: fsys, Policy: policy, Logger: testLog(t),
		RetryInterval: 20 * time.Millisecond, MaxRetryInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sp.Close(); err != nil {
			t.Errorf("close spool: %v", err)
		}
	})
	return sp
}

// withAcct gives the server the spool, with test timings.
func withAcct(sp session.AcctSpool) labOption {
	return withOptions(func(o *session.Options) {
		o.Accounting = sp
		o.Timing.MinInterim = 10 * time.Millisecond
		o.Timing.AdmitPoll = 10 * time.Millisecond
		o.Timing.AcctRetryMax = 50 * time.Millisecond
	})
}

// records is every record in the spool, in order.
func records(t *testing.T, sp *acct.Spool) []acct.Record {
	t.Helper()
	var b bytes.Buffer
	if err := sp.Export(&b, acct.FormatJSONL, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	var out []acct.Record
	sc := bufio.NewScanner(&b)
	for sc.Scan() {
		var r acct.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// only keeps the records of types ts (Interim-Updates come at their own pace).
func only(rs []acct.Record, ts ...acct.Type) []acct.Record {
	var out []acct.Record
	for _, r := range rs {
		for _, t := range ts {
			if r.Type == t {
				out = append(out, r)
			}
		}
	}
	return out
}

func dumpRecords(rs []acct.Record) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString("  ")
		j, _ := json.Marshal(r)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// startStop checks that rs is exactly one Start and one Stop of one session with cause and
// returns them.
func startStop(t *testing.T, rs []acct.Record, cause acct.Cause) (acct.Record, acct.Record) {
	t.Helper()
	rs = only(rs, acct.Start, acct.Stop)
	if len(rs) != 2 || rs[0].Type != acct.Start || rs[1].Type != acct.Stop || rs[0].SessionID != rs[1].SessionID {
		t.Fatalf("want one Start and its Stop, got:\n%s", dumpRecords(rs))
	}
	if rs[1].Cause != cause {
		t.Errorf("Stop cause %s, want %s", rs[1].Cause, cause)
	}
	return rs[0], rs[1]
}

func TestAcctExecStartStop(t *testing.T) {
	sp := openSpool(t, acct.PolicyRefuse, nil)
	l := newLab(t, oneLine("authentication"), withAcct(sp))
	ctx := ctxT(t)
	c := loggedIn(t, l, "5552000")
	// The Start is durable before the prompt reaches the caller.
	open := sp.OpenSessions()
	if len(open) != 1 || open[0].User != "alice" {
		t.Fatalf("at the prompt the spool has open sessions %+v, want alice's", open)
	}
	live := l.srv.Sessions()
	if len(live) != 1 || live[0].SessionID != open[0].SessionID || live[0].Line != 1 || live[0].CallerID != "5552000" ||
		live[0].User != "alice" || live[0].Protocol != session.ProtoExec {
		t.Errorf("Sessions() = %+v", live)
	}
	if err := c.SendLine("exit"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitHangup(ctx); err != nil {
		t.Fatal(err)
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Cause: session.CauseLogout})
	start, stop := startStop(t, records(t, sp), acct.CauseUserRequest)
	for _, r := range []acct.Record{start, stop} {
		if r.User != "alice" || r.Line != 1 || r.PortName != "tty1" || r.CallerID != "5552000" || r.CalledID != "5551001" ||
			!strings.HasPrefix(r.ConnectInfo, "CONNECT") || r.Service != "login" || r.Leg != event.LegFirst || r.MultiSessionID != "" {
			t.Errorf("record %s: %+v", r.Type, r)
		}
	}
	if stop.SessionTime <= 0 || stop.InOctets < uint64(len("alice\rwonderland\rexit\r")) || stop.OutOctets < uint64(len("nas>")) {
		t.Errorf("Stop counters: time %v in %d out %d", stop.SessionTime, stop.InOctets, stop.OutOctets)
	}
	if !stop.StartTime.Equal(start.Time) {
		t.Errorf("Stop start time %v, Start at %v", stop.StartTime, start.Time)
	}
	if n := len(l.srv.Sessions()); n != 0 {
		t.Errorf("%d sessions live after the Stop", n)
	}
	if open := sp.OpenSessions(); len(open) != 0 {
		t.Errorf("spool still has open sessions %+v", open)
	}
}

func TestAcctStopCauses(t *testing.T) {
	idle := 150 * time.Millisecond
	for _, tc := range []struct {
		name  string
		cause string
		want  acct.Cause
		setup func(*lab)
		end   func(t *testing.T, l *lab, c *caller.Caller)
	}{
		{"carrier loss", session.CauseCarrierLost, acct.CauseLostCarrier, nil, func(t *testing.T, l *lab, c *caller.Caller) {
			if err := c.Hangup(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		}},
		{"idle timeout", session.CauseIdleTimeout, acct.CauseIdleTimeout, nil, nil},
		{"admin reset", session.CauseAdminReset, acct.CauseAdminReset, nil, func(t *testing.T, l *lab, c *caller.Caller) {
			live := l.srv.Sessions()
			if len(live) != 1 {
				t.Fatalf("sessions %+v", live)
			}
			if err := l.srv.Disconnect(live[0].SessionID, acct.CauseAdminReset); err != nil {
				t.Fatal(err)
			}
			if err := l.srv.Disconnect("nonesuch", acct.CauseAdminReset); !errors.Is(err, session.ErrNoSession) {
				t.Errorf("Disconnect of an unknown session: %v", err)
			}
		}},
		{"session timeout by authorization", session.CauseSessionTimeout, acct.CauseSessionTimeout, nil, func(t *testing.T, l *lab, c *caller.Caller) {
			live := l.srv.Sessions()
			if len(live) != 1 {
				t.Fatalf("sessions %+v", live)
			}
			st := 50 * time.Millisecond
			if err := l.srv.SetTimeouts(live[0].SessionID, &st, nil); err != nil {
				t.Fatal(err)
			}
		}},
		{"shutdown", session.CauseShutdown, acct.CauseNASRequest, nil, func(t *testing.T, l *lab, c *caller.Caller) {
			l.stop()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := openSpool(t, acct.PolicyRefuse, nil)
			cfg := oneLine("authentication")
			if tc.want == acct.CauseIdleTimeout {
				cfg.Lines[0].ExecTimeout = &idle
			}
			l := newLab(t, cfg, withAcct(sp), noValidate)
			c := loggedIn(t, l, "5552000")
			if tc.end != nil {
				tc.end(t, l, c)
			}
			l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Cause: tc.cause})
			startStop(t, records(t, sp), tc.want)
		})
	}
}

func TestAcctCallbackLegs(t *testing.T) {
	sp := openSpool(t, acct.PolicyRefuse, nil)
	l := newLab(t, ciscoConfig(callbackUser()), withAcct(sp))
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
	if err := c.SendLine("logout"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitHangup(ctx); err != nil {
		t.Fatal(err)
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 2, Leg: "callback", Cause: session.CauseLogout})
	rs := only(records(t, sp), acct.Start, acct.Stop)
	if len(rs) != 4 {
		t.Fatalf("want 4 records, got:\n%s", dumpRecords(rs))
	}
	first, firstStop, cb, cbStop := rs[0], rs[1], rs[2], rs[3]
	if first.Type != acct.Start || firstStop.Type != acct.Stop || firstStop.SessionID != first.SessionID ||
		firstStop.Cause != acct.CauseCallback || first.Leg != event.LegFirst || first.Line != 1 {
		t.Errorf("first leg:\n%s", dumpRecords(rs[:2]))
	}
	if cb.Type != acct.Start || cbStop.Type != acct.Stop || cbStop.SessionID != cb.SessionID ||
		cbStop.Cause != acct.CauseUserRequest || cb.Leg != event.LegCallback || cb.Line != 2 || cb.PortName != "tty2" {
		t.Errorf("callback leg:\n%s", dumpRecords(rs[2:]))
	}
	if cb.SessionID == first.SessionID || cb.MultiSessionID != first.SessionID || cbStop.MultiSessionID != first.SessionID {
		t.Errorf("callback leg not linked to the first: first %s, callback %s multi %s", first.SessionID, cb.SessionID, cb.MultiSessionID)
	}
	if cb.CallerID != "5552000" || cb.User != "alice" {
		t.Errorf("callback leg caller %q user %q", cb.CallerID, cb.User)
	}
}

// interimMethod authenticates like the local table and adds what a RADIUS server would:
// Class and Acct-Interim-Interval.
type interimMethod struct {
	aaa.Method
	interval time.Duration
}

func (m interimMethod) Authenticate(ctx context.Context, r *aaa.Request) (*aaa.Profile, error) {
	p, err := m.Method.Authenticate(ctx, r)
	if err == nil {
		p.InterimInterval = m.interval
		p.Class = [][]byte{[]byte("billing-7")}
	}
	return p, err
}

func TestAcctInterimAndClass(t *testing.T) {
	sp := openSpool(t, acct.PolicyRefuse, nil)
	l := newLab(t, oneLine("authentication"), withAcct(sp), withOptions(func(o *session.Options) {
		for i, m := range o.Login.Methods {
			o.Login.Methods[i] = interimMethod{Method: m, interval: 30 * time.Millisecond}
		}
	}))
	ctx := ctxT(t)
	c := loggedIn(t, l, "5552000")
	// Wait for two Interim-Updates, typing between them so the counters move.
	deadline := time.Now().Add(10 * time.Second)
	for len(only(records(t, sp), acct.Interim)) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no Interim-Updates:\n%s", dumpRecords(records(t, sp)))
		}
		if err := c.SendLine(""); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Expect(ctx, "nas>"); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.SendLine("exit"); err != nil {
		t.Fatal(err)
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Cause: session.CauseLogout})
	rs := records(t, sp)
	if rs[0].Type != acct.Start || rs[len(rs)-1].Type != acct.Stop {
		t.Fatalf("records not Start ... Stop:\n%s", dumpRecords(rs))
	}
	for i, r := range rs {
		if r.SessionID != rs[0].SessionID || len(r.Class) != 1 || string(r.Class[0]) != "billing-7" {
			t.Errorf("record %d: %+v", i, r)
		}
		if i > 0 && i < len(rs)-1 && r.Type != acct.Interim {
			t.Errorf("record %d is a %s between Start and Stop", i, r.Type)
		}
		if p := rs[max(i-1, 0)]; r.InOctets < p.InOctets || r.OutOctets < p.OutOctets || r.SessionTime < p.SessionTime {
			t.Errorf("counters went back at record %d:\n%s", i, dumpRecords(rs))
		}
	}
	if in := only(rs, acct.Interim); in[len(in)-1].InOctets == 0 {
		t.Errorf("Interim-Updates without input counted:\n%s", dumpRecords(rs))
	}
}

func TestAcctRefusePolicyStopsAnswering(t *testing.T) {
	fsys := &flakyFS{}
	sp := openSpool(t, acct.PolicyRefuse, fsys)
	l := newLab(t, oneLine("authentication"), withAcct(sp))
	ctx := ctxT(t)

	// The disk fills while nobody is on the line: the next login cannot be accounted for,
	// so the session does not go on.
	fsys.fail.Store(true)
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
	if !strings.Contains(rest, "% Accounting unavailable") || strings.Contains(rest, "nas>") {
		t.Errorf("caller saw %q", rest)
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Cause: session.CauseAcctUnavailable})

	// The line stops answering and says so, once.
	l.waitEvent(event.Event{Kind: event.AcctUnavailable})
	l.waitEvent(event.Event{Kind: event.LineDown, Line: 1, Cause: session.CauseAcctUnavailable})
	l.waitState(1, lines.Down)
	if info := l.srv.Table().Snapshot()[0]; info.Reason != "accounting unavailable" {
		t.Errorf("line 1 down for %q", info.Reason)
	}
	c2 := l.caller("5552001")
	if _, err := c2.Dial(ctx, "5551001"); err == nil {
		t.Fatal("a line answered while the spool refuses records")
	}

	// The disk recovers: the line answers again and accounts for the call.
	fsys.fail.Store(false)
	l.waitEvent(event.Event{Kind: event.AcctAvailable})
	l.waitState(1, lines.Idle)
	c3 := loggedIn(t, l, "5552002")
	if err := c3.SendLine("exit"); err != nil {
		t.Fatal(err)
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Cause: session.CauseLogout})
	start, _ := startStop(t, records(t, sp), acct.CauseUserRequest)
	if start.CallerID != "5552002" {
		t.Errorf("accounted call from %q", start.CallerID)
	}
	if n := count(l.rec.Events(), event.Event{Kind: event.AcctUnavailable}); n != 1 {
		t.Errorf("%d acct.unavailable events, want 1", n)
	}
}

func TestAcctRefusePolicyHoldsStop(t *testing.T) {
	fsys := &flakyFS{}
	sp := openSpool(t, acct.PolicyRefuse, fsys)
	l := newLab(t, oneLine("authentication"), withAcct(sp))
	ctx := ctxT(t)
	c := loggedIn(t, l, "5552000")
	// The disk fails during the session: the caller is hung up as usual, and the line waits
	// for the Stop before it is used again.
	fsys.fail.Store(true)
	if err := c.SendLine("exit"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitHangup(ctx); err != nil {
		t.Fatal(err)
	}
	l.waitEvent(event.Event{Kind: event.LineHangup, Line: 1})
	if rs := only(records(t, sp), acct.Stop); len(rs) != 0 {
		t.Fatalf("Stop written to a failing disk:\n%s", dumpRecords(rs))
	}
	if st := l.srv.Table().Snapshot()[0].State; st == lines.Idle {
		t.Errorf("line idle while its Stop is not spooled")
	}
	fsys.fail.Store(false)
	l.waitState(1, lines.Idle)
	startStop(t, records(t, sp), acct.CauseUserRequest)
}

func TestAcctAnswerPolicyQueues(t *testing.T) {
	fsys := &flakyFS{}
	sp := openSpool(t, acct.PolicyAnswer, fsys)
	l := newLab(t, oneLine("authentication"), withAcct(sp))
	ctx := ctxT(t)
	fsys.fail.Store(true)
	// With policy answer the call goes on while the records wait in memory.
	c := loggedIn(t, l, "5552000")
	if err := c.SendLine("exit"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitHangup(ctx); err != nil {
		t.Fatal(err)
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Cause: session.CauseLogout})
	if st := sp.Stats(); st.Queued != 2 {
		t.Errorf("%d records queued, want 2 (Start and Stop)", st.Queued)
	}
	if n := count(l.rec.Events(), event.Event{Kind: event.AcctUnavailable}); n != 0 {
		t.Errorf("lines stopped answering under policy answer")
	}
	fsys.fail.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for sp.Stats().Queued > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	startStop(t, records(t, sp), acct.CauseUserRequest)
}

func TestAcctNoLoginNoRecords(t *testing.T) {
	sp := openSpool(t, acct.PolicyRefuse, nil)
	l := newLab(t, oneLine("local"), withAcct(sp))
	ctx := ctxT(t)
	c := l.caller("5552000")
	if _, err := c.Dial(ctx, "5551001"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := c.Login(ctx, "alice", "nope"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.WaitHangup(ctx); err != nil {
		t.Fatal(err)
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Cause: session.CauseAuthFailed})
	if rs := records(t, sp); len(rs) != 0 {
		t.Errorf("records for a call that never logged in:\n%s", dumpRecords(rs))
	}
}

func TestSessionsWithoutAccounting(t *testing.T) {
	l := newLab(t, oneLine("authentication"))
	c := loggedIn(t, l, "5552000")
	defer c.Close()
	live := l.srv.Sessions()
	if len(live) != 1 || live[0].User != "alice" || live[0].SessionID == "" {
		t.Fatalf("Sessions() = %+v", live)
	}
	// Dynamic authorization sees the same sessions and acts on them.
	da := l.srv.DynAuth()
	got := da.List()
	if len(got) != 1 || got[0].ID != live[0].SessionID || got[0].AcctSessionID != live[0].SessionID ||
		got[0].Line != 1 || got[0].PortName != "tty1" || got[0].CallerID != "5552000" || got[0].CalledID != "5551001" {
		t.Errorf("DynAuth().List() = %+v", got)
	}
	if err := da.Disconnect(context.Background(), "nonesuch", acct.CauseAdminReset); !errors.Is(err, dynauth.ErrNoSession) {
		t.Errorf("Disconnect of an unknown session: %v", err)
	}
	idle := 30 * time.Millisecond
	if err := da.SetTimeouts(context.Background(), got[0].ID, dynauth.Timeouts{Idle: &idle}); err != nil {
		t.Fatal(err)
	}
	// The caller says nothing: the idle timeout authorization set ends the session.
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Cause: session.CauseIdleTimeout})
	if n := len(l.srv.Sessions()); n != 0 {
		t.Errorf("%d sessions after the end", n)
	}
}

// TestShowAccounting: the EXEC shows whether the spool can be written, loudly when not.
func TestShowAccounting(t *testing.T) {
	fsys := &flakyFS{}
	sp := openSpool(t, acct.PolicyAnswer, fsys)
	l := newLab(t, oneLine("authentication"), withAcct(sp))
	ctx := ctxT(t)
	c := loggedIn(t, l, "5552000")
	if err := c.SendLine("show accounting"); err != nil {
		t.Fatal(err)
	}
	out, err := c.Expect(ctx, "nas>")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Spool: writable") || !strings.Contains(out, "1 open sessions") {
		t.Errorf("show accounting on a healthy spool:\n%s", out)
	}
	// The disk fills: the answer policy keeps the session going, and the EXEC says why
	// billing is at risk.
	fsys.fail.Store(true)
	if _, err := sp.Append(ctx, acct.Record{Type: acct.Interim, SessionID: "probe", Time: time.Now()}); err == nil {
		t.Fatal("Append succeeded on a failing disk")
	}
	if err := c.SendLine("show accounting"); err != nil {
		t.Fatal(err)
	}
	out, err = c.Expect(ctx, "nas>")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Spool: NOT WRITABLE") {
		t.Errorf("show accounting on a failing spool:\n%s", out)
	}
	fsys.fail.Store(false)
}

// TestAcctCause covers the one mapping from session.down causes, EXEC's and PPP's, to
// Acct-Terminate-Cause.
func TestAcctCause(t *testing.T) {
	for _, tc := range []struct {
		cause string
		want  acct.Cause
	}{
		{session.CauseLogout, acct.CauseUserRequest},
		{session.CauseUserRequest, acct.CauseUserRequest},
		{session.CauseCarrierLost, acct.CauseLostCarrier},
		{session.CauseIdleTimeout, acct.CauseIdleTimeout},
		{session.CauseSessionTimeout, acct.CauseSessionTimeout},
		{session.CauseCallback, acct.CauseCallback},
		{session.CauseShutdown, acct.CauseNASRequest},
		{session.CauseAdminReset, acct.CauseAdminReset},
		{session.CauseAuthFailed, acct.CauseUserError},
		{session.CauseWrongUser, acct.CauseUserError},
		{ppp.CauseNegotiationFailed, acct.CauseUserError},
		{ppp.CauseKeepalive, acct.CauseLostService},
		{ppp.CauseLoopback, acct.CausePortError},
		{session.CauseNoAddress, acct.CauseNASError},
		{ppp.CauseNASError, acct.CauseNASError},
	} {
		if got := session.AcctCause(tc.cause); got != tc.want {
			t.Errorf("AcctCause(%q) = %v, want %v", tc.cause, got, tc.want)
		}
	}
}
