package callback_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialback/nas/callback"
	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/lines/chat"
	"github.com/dialback/nas/lines/modem"
	"github.com/dialback/nas/session/event"
)

// fakeLines records what the dialler asks of the lines and checks the table at each step.
type fakeLines struct {
	t     *testing.T
	table *lines.Table
	mu    sync.Mutex
	log   []string
	// dial answers Dial for attempt n (from 0); nil connects.
	dial func(n int, line int) error
	// onHangup runs inside Hangup, to look at the table as the first leg is hung up.
	onHangup func()
	dials    int
	scripts  []*chat.Script
	started  chan *callback.Job
}

func (f *fakeLines) note(format string, a ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, fmt.Sprintf(format, a...))
}

func (f *fakeLines) steps() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.log, "; ")
}

func (f *fakeLines) Hangup(ctx context.Context, line int, nodsr time.Duration) error {
	f.note("hangup %d nodsr %s", line, nodsr)
	if f.onHangup != nil {
		f.onHangup()
	}
	// As the server does: the first leg's call ends.
	st, err := f.table.EndCall(line, "callback")
	if err != nil {
		return err
	}
	if st == lines.Resetting {
		return f.table.SetState(line, lines.Idle, "reset")
	}
	return nil
}

func (f *fakeLines) Dial(ctx context.Context, line int, script *chat.Script, number string) (modem.Call, error) {
	f.mu.Lock()
	n := f.dials
	f.dials++
	f.scripts = append(f.scripts, script)
	f.mu.Unlock()
	if st := lineState(f.table, line); st != lines.Dialling {
		f.t.Errorf("Dial on line %d in state %s, want dialling", line, st)
	}
	f.note("dial %d %s", line, number)
	var err error
	if f.dial != nil {
		err = f.dial(n, line)
	}
	if err != nil {
		// As the server does: the failed attempt ends, the modem resets, the line is idle.
		if _, eerr := f.table.EndCall(line, "dial failed"); eerr != nil {
			f.t.Error(eerr)
		}
		if serr := f.table.SetState(line, lines.Idle, "reset"); serr != nil {
			f.t.Error(serr)
		}
		return modem.Call{}, err
	}
	if err := f.table.SetState(line, lines.Connected, "callback connected"); err != nil {
		f.t.Error(err)
	}
	return modem.Call{Connect: "CONNECT 33600", Speed: 33600}, nil
}

func (f *fakeLines) StartLeg(ctx context.Context, line int, call modem.Call, job *callback.Job) error {
	f.note("leg %d", line)
	if f.started != nil {
		f.started <- job
	}
	return nil
}

func lineState(t *lines.Table, n int) lines.State {
	l, _ := t.Line(n)
	return l.State()
}

// newTable has line 1 (incoming, on a call) and lines 2-3 in rotary 77, idle.
func newTable(t *testing.T) *lines.Table {
	t.Helper()
	tb, err := lines.NewTable([]lines.LineDef{{Num: 1}, {Num: 2, Rotary: 77}, {Num: 3, Rotary: 77}, {Num: 4, Dialin: true, Rotary: 78}})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 2, 3, 4} {
		mustSet(t, tb, n, lines.Resetting, lines.Idle)
	}
	mustSet(t, tb, 1, lines.Ringing, lines.Connected, lines.InUse)
	return tb
}

func mustSet(t *testing.T, tb *lines.Table, n int, states ...lines.State) {
	t.Helper()
	for _, s := range states {
		if err := tb.SetState(n, s, "test"); err != nil {
			t.Fatal(err)
		}
	}
}

func job(target callback.Target) *callback.Job {
	return &callback.Job{
		Decision: callback.Decision{Callback: true, Number: "5552000", Target: target,
			ForcedWait: time.Millisecond, NoDSRWait: 5 * time.Millisecond},
		User: "alice", Protocol: callback.ProtocolExec, FirstLine: 1,
	}
}

func newDialler(tb *lines.Table, f *fakeLines, rec *event.Recorder) *callback.Dialler {
	return &callback.Dialler{Table: tb, Lines: f, Events: rec, ReserveWait: time.Second}
}

func kinds(es []event.Event) string {
	var b []string
	for _, e := range es {
		s := fmt.Sprintf("%s@%d", e.Kind, e.Line)
		if e.Cause != "" {
			s += "(" + e.Cause + ")"
		}
		b = append(b, s)
	}
	return strings.Join(b, " ")
}

func TestDiallerRotary(t *testing.T) {
	tb := newTable(t)
	f := &fakeLines{t: t, table: tb, started: make(chan *callback.Job, 1)}
	// The target must be reserved before the first leg is hung up.
	f.onHangup = func() {
		if st := lineState(tb, 2); st != lines.Reserved {
			t.Errorf("line 2 is %s while the first leg hangs up, want reserved", st)
		}
	}
	rec := &event.Recorder{}
	j := job(callback.Target{Rotary: 77})
	if err := newDialler(tb, f, rec).Run(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	if got, want := f.steps(), "hangup 1 nodsr 5ms; dial 2 5552000; leg 2"; got != want {
		t.Errorf("steps %q, want %q", got, want)
	}
	if got := <-f.started; got != j {
		t.Errorf("leg started for another job")
	}
	if got, want := kinds(rec.Events()), "line.hangup@1(callback) callback.dialing@2 callback.connected@2"; got != want {
		t.Errorf("events %q, want %q", got, want)
	}
	for _, e := range rec.Events() {
		if e.User != "alice" || e.Protocol != "exec" || e.Time.IsZero() {
			t.Errorf("event %+v lacks user, protocol or time", e)
		}
		switch {
		case e.Kind == event.LineHangup && (e.Leg != "first" || e.Rotary != 0):
			t.Errorf("first-leg hang-up %+v: want leg first and no rotary", e)
		case e.Kind != event.LineHangup && (e.Number != "5552000" || e.Rotary != 77 || e.Leg != "callback"):
			t.Errorf("event %+v lacks number, rotary or leg", e)
		}
	}
	// The default script was used: the line names none.
	if len(f.scripts) != 1 || f.scripts[0] == nil || f.scripts[0].String() != mustParse(t, callback.DefaultScript).String() {
		t.Errorf("script %v, want the default callback script", f.scripts)
	}
	if st := lineState(tb, 2); st != lines.Connected {
		t.Errorf("line 2 is %s after the leg started, want connected", st)
	}
}

func TestDiallerFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target callback.Target
		err    error
		prep   func(t *testing.T, tb *lines.Table)
		number string
		cause  string
		dials  int
	}{
		{name: "busy", target: callback.Target{Rotary: 77}, err: modem.ErrBusy, cause: callback.CauseBusy, dials: 1},
		{name: "no answer", target: callback.Target{Line: 3}, err: modem.ErrNoAnswer, cause: callback.CauseNoAnswer, dials: 1},
		{name: "no carrier", target: callback.Target{Line: 3}, err: modem.ErrNoCarrier, cause: callback.CauseNoCarrier, dials: 1},
		{name: "timeout", target: callback.Target{Line: 3}, err: fmt.Errorf("chat: %w", chat.ErrTimeout), cause: callback.CauseTimeout, dials: 1},
		{name: "no free line", target: callback.Target{Rotary: 77}, cause: callback.CauseNoFreeLine,
			prep: func(t *testing.T, tb *lines.Table) {
				mustSet(t, tb, 2, lines.Ringing, lines.Connected)
				if _, err := tb.ReserveLine(3, "someone else"); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "line busy", target: callback.Target{Line: 2}, cause: callback.CauseNoFreeLine,
			prep: func(t *testing.T, tb *lines.Table) { mustSet(t, tb, 2, lines.Ringing) }},
		{name: "dialin rotary", target: callback.Target{Rotary: 78}, cause: callback.CauseNoFreeLine},
		{name: "no such rotary", target: callback.Target{Rotary: 99}, cause: callback.CauseNoFreeLine},
		{name: "bad number", target: callback.Target{Line: 3}, number: "555;ATH", cause: callback.CauseBadNumber},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTable(t)
			if tc.prep != nil {
				tc.prep(t, tb)
			}
			f := &fakeLines{t: t, table: tb, dial: func(int, int) error { return tc.err }}
			rec := &event.Recorder{}
			j := job(tc.target)
			if tc.number != "" {
				j.Decision.Number = tc.number
			}
			err := newDialler(tb, f, rec).Run(context.Background(), j)
			if err == nil {
				t.Fatal("Run succeeded")
			}
			es := rec.Events()
			// Whatever failed, the first leg was hung up, and exactly one failure was said.
			if !strings.HasPrefix(f.steps(), "hangup 1") {
				t.Errorf("first step %q, want the first leg's hang-up", f.steps())
			}
			var failed []event.Event
			for _, e := range es {
				if e.Kind == event.CallbackFailed {
					failed = append(failed, e)
				}
			}
			if len(failed) != 1 || failed[0].Cause != tc.cause {
				t.Fatalf("events %s, want one callback.failed(%s)", kinds(es), tc.cause)
			}
			if f.dials != tc.dials {
				t.Errorf("%d dials, want %d", f.dials, tc.dials)
			}
			// Nothing stays reserved by this job.
			for _, in := range tb.Snapshot() {
				if strings.HasPrefix(in.Owner, "callback alice") {
					t.Errorf("line %d still held: %+v", in.Num, in)
				}
			}
		})
	}
}

func TestDiallerSameLine(t *testing.T) {
	tb := newTable(t)
	f := &fakeLines{t: t, table: tb}
	f.onHangup = func() {
		if st := lineState(tb, 1); st != lines.Reserved {
			t.Errorf("line 1 is %s as its first leg hangs up, want reserved", st)
		}
	}
	rec := &event.Recorder{}
	if err := newDialler(tb, f, rec).Run(context.Background(), job(callback.Target{Line: 1, SameLine: true})); err != nil {
		t.Fatal(err)
	}
	if got, want := f.steps(), "hangup 1 nodsr 5ms; dial 1 5552000; leg 1"; got != want {
		t.Errorf("steps %q, want %q", got, want)
	}
}

func TestDiallerRetries(t *testing.T) {
	tb := newTable(t)
	f := &fakeLines{t: t, table: tb, dial: func(n, _ int) error {
		if n == 0 {
			return fmt.Errorf("dial: %w", modem.ErrBusy)
		}
		return nil
	}}
	rec := &event.Recorder{}
	d := newDialler(tb, f, rec)
	d.Retries = 2
	if err := d.Run(context.Background(), job(callback.Target{Rotary: 77})); err != nil {
		t.Fatal(err)
	}
	if got, want := kinds(rec.Events()),
		"line.hangup@1(callback) callback.dialing@2 callback.failed@2(busy) callback.dialing@2 callback.connected@2"; got != want {
		t.Errorf("events %q, want %q", got, want)
	}
}

func TestDiallerCancelledDuringForcedWait(t *testing.T) {
	tb := newTable(t)
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeLines{t: t, table: tb, onHangup: cancel}
	rec := &event.Recorder{}
	j := job(callback.Target{Line: 2})
	j.Decision.ForcedWait = time.Hour
	err := newDialler(tb, f, rec).Run(ctx, j)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v, want cancelled", err)
	}
	if st := lineState(tb, 2); st != lines.Idle {
		t.Errorf("line 2 is %s, want idle (reservation released)", st)
	}
	if f.dials != 0 {
		t.Errorf("dialled after cancel")
	}
}

func TestDiallerScripts(t *testing.T) {
	mine, err := chat.Parse(`"" "ATDT\T" CONNECT \c`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		lineScript string // the target line's own script callback
		decision   string // the incoming line's, from the decision
		want       *chat.Script
		fails      bool
	}{
		{name: "target line's own", lineScript: "mine", decision: "other", want: mine},
		{name: "decision's", decision: "mine", want: mine},
		{name: "missing", decision: "nosuch", fails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newTable(t)
			f := &fakeLines{t: t, table: tb}
			rec := &event.Recorder{}
			d := newDialler(tb, f, rec)
			d.Scripts = map[string]*chat.Script{"mine": mine}
			d.LineScript = func(int) string { return tc.lineScript }
			j := job(callback.Target{Line: 2})
			j.Decision.Script = tc.decision
			err := d.Run(context.Background(), j)
			if tc.fails {
				if err == nil || !strings.Contains(kinds(rec.Events()), "callback.failed@2(no-script)") {
					t.Fatalf("Run: %v; events %s", err, kinds(rec.Events()))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(f.scripts) != 1 || f.scripts[0] != tc.want {
				t.Errorf("dialled with the wrong script")
			}
		})
	}
}

func TestCheckNumber(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"5552000", true},
		{"+1 (555) 200-0000", true},
		{"9,5552000", true},
		{"*70W5552000#", true},
		{"", false},
		{"---", false},
		{"5552000;H0", false},
		{"5552000\rATH", false},
		{"555\\T", false},
		{"5552000 ATZ", false},
		{strings.Repeat("5", callback.MaxNumberLen+1), false},
	} {
		err := callback.CheckNumber(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("CheckNumber(%q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
		if err != nil && !errors.Is(err, callback.ErrBadNumber) {
			t.Errorf("CheckNumber(%q) error %v does not wrap ErrBadNumber", tc.in, err)
		}
	}
}

// FuzzCheckNumber: a number CheckNumber accepts can never end the ATDT command or start
// another one: no CR, LF, ';' or AT command letters.
func FuzzCheckNumber(f *testing.F) {
	f.Add("5552000")
	f.Add("+1 (555) 200-0000")
	f.Add("555;ATH\r")
	f.Fuzz(func(t *testing.T, n string) {
		if callback.CheckNumber(n) != nil {
			return
		}
		if strings.ContainsAny(n, "\r\n;\\\"") || strings.ContainsAny(strings.ToUpper(n), "EHIOQSVXZ&%") {
			t.Errorf("accepted %q", n)
		}
	})
}

func mustParse(t *testing.T, text string) *chat.Script {
	t.Helper()
	s, err := chat.Parse(text)
	if err != nil {
		t.Fatalf("parse %q: %v", text, err)
	}
	return s
}
