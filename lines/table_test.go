package lines

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// edges is the state diagram as the brief gives it, written out independently of legal():
// every pair not listed is illegal. Reserved is entered only through reservations.
var edges = map[[2]State]bool{
	{Idle, Ringing}:        true,
	{Ringing, Connected}:   true,
	{Ringing, Idle}:        true, // the caller gave up
	{Ringing, Resetting}:   true,
	{Connected, InUse}:     true,
	{Connected, Resetting}: true, // hang-up
	{InUse, Resetting}:     true, // hang-up
	{Reserved, Dialling}:   true,
	{Reserved, Idle}:       true, // released without use
	{Dialling, Connected}:  true, // callback CONNECT
	{Dialling, Resetting}:  true, // dial failed
	{Resetting, Idle}:      true,
	{Down, Resetting}:      true, // retry
	{Idle, Reserved}:       true, // ReserveLine, ReserveRotary
	{Connected, Reserved}:  true, // ReserveSame
	{InUse, Reserved}:      true, // ReserveSame
	// any -> Down
	{Idle, Down}: true, {Ringing, Down}: true, {Connected, Down}: true, {InUse, Down}: true,
	{Reserved, Down}: true, {Dialling, Down}: true, {Resetting, Down}: true, {Down, Down}: true,
}

var allStates = []State{Idle, Ringing, Connected, InUse, Reserved, Dialling, Resetting, Down}

func newTable(t testing.TB, defs ...LineDef) *Table {
	t.Helper()
	tb, err := NewTable(defs)
	if err != nil {
		t.Fatalf("NewTable: %v", err)
	}
	return tb
}

func mustSet(t testing.TB, tb *Table, n int, s State) {
	t.Helper()
	if err := tb.SetState(n, s, "test"); err != nil {
		t.Fatalf("SetState(%d, %s): %v", n, s, err)
	}
}

// up brings lines from their initial Down to Idle, as the line loop does.
func up(t testing.TB, tb *Table, nums ...int) {
	t.Helper()
	for _, n := range nums {
		mustSet(t, tb, n, Resetting)
		mustSet(t, tb, n, Idle)
	}
}

// into takes an Idle line n to state s along a legal path and returns the reservation the
// path took, if any.
func into(t testing.TB, tb *Table, n int, s State) *Reservation {
	t.Helper()
	var path []State
	switch s {
	case Idle:
	case Ringing:
		path = []State{Ringing}
	case Connected:
		path = []State{Ringing, Connected}
	case InUse:
		path = []State{Ringing, Connected, InUse}
	case Resetting:
		path = []State{Ringing, Resetting}
	case Down:
		path = []State{Down}
	case Reserved, Dialling:
		r, err := tb.ReserveLine(n, "owner")
		if err != nil {
			t.Fatalf("ReserveLine(%d): %v", n, err)
		}
		if s == Dialling {
			mustSet(t, tb, n, Dialling)
		}
		return r
	default:
		t.Fatalf("into: unknown state %v", s)
	}
	for _, p := range path {
		mustSet(t, tb, n, p)
	}
	return nil
}

func stateOf(t testing.TB, tb *Table, n int) State {
	t.Helper()
	l, ok := tb.Line(n)
	if !ok {
		t.Fatalf("Line(%d) missing", n)
	}
	return l.State()
}

func TestSetStateTransitions(t *testing.T) {
	for _, from := range allStates {
		for _, to := range allStates {
			if to == Reserved {
				continue // TestSetStateNeverReserves
			}
			t.Run(fmt.Sprintf("%s->%s", from, to), func(t *testing.T) {
				tb := newTable(t, LineDef{Num: 1, Port: "sim:1"})
				up(t, tb, 1)
				into(t, tb, 1, from)
				want := edges[[2]State{from, to}]
				err := tb.SetState(1, to, "why")
				got := stateOf(t, tb, 1)
				if want {
					if err != nil {
						t.Fatalf("legal move refused: %v", err)
					}
					if got != to {
						t.Fatalf("state = %s, want %s", got, to)
					}
					if r := (mustLine(t, tb, 1)).Reason(); r != "why" {
						t.Fatalf("reason = %q, want %q", r, "why")
					}
					return
				}
				if err == nil {
					t.Fatalf("illegal move accepted, line now %s", got)
				}
				if got != from {
					t.Fatalf("refused move changed the state to %s", got)
				}
				var te *TransitionError
				if !errors.As(err, &te) || !errors.Is(err, ErrIllegalTransition) {
					t.Fatalf("error %v is not a TransitionError wrapping ErrIllegalTransition", err)
				}
				if te.Line != 1 || te.From != from || te.To != to {
					t.Fatalf("TransitionError = %+v, want line 1 %s -> %s", te, from, to)
				}
				for _, s := range []string{"line 1", from.String(), to.String()} {
					if !strings.Contains(err.Error(), s) {
						t.Fatalf("error %q does not name %q", err, s)
					}
				}
			})
		}
	}
}

func mustLine(t testing.TB, tb *Table, n int) *Line {
	t.Helper()
	l, ok := tb.Line(n)
	if !ok {
		t.Fatalf("Line(%d) missing", n)
	}
	return l
}

func TestSetStateNeverReserves(t *testing.T) {
	for _, from := range allStates {
		t.Run(from.String(), func(t *testing.T) {
			tb := newTable(t, LineDef{Num: 1})
			up(t, tb, 1)
			into(t, tb, 1, from)
			err := tb.SetState(1, Reserved, "sneaky")
			if !errors.Is(err, ErrIllegalTransition) {
				t.Fatalf("SetState(reserved) = %v, want ErrIllegalTransition", err)
			}
			if got := stateOf(t, tb, 1); got != from {
				t.Fatalf("state = %s, want %s", got, from)
			}
		})
	}
}

func TestSetStateErrors(t *testing.T) {
	tb := newTable(t, LineDef{Num: 1})
	up(t, tb, 1)
	tests := []struct {
		name  string
		n     int
		s     State
		why   string
		is    error
		text  string
		state State
	}{
		{"down without reason", 1, Down, "", ErrIllegalTransition, "reason", Idle},
		{"unknown line", 9, Ringing, "x", ErrNoSuchLine, "line 9", Idle},
		{"unknown state", 1, State(42), "x", nil, "unknown state 42", Idle},
		{"negative state", 1, State(-1), "x", nil, "unknown state -1", Idle},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tb.SetState(tc.n, tc.s, tc.why)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v does not wrap %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("error %q does not say %q", err, tc.text)
			}
			if got := stateOf(t, tb, 1); got != tc.state {
				t.Fatalf("line 1 is %s, want %s", got, tc.state)
			}
		})
	}
}

func TestDownToDownKeepsSince(t *testing.T) {
	tb := newTable(t, LineDef{Num: 1})
	clock := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tb.now = func() time.Time { return clock }
	up(t, tb, 1)
	if err := tb.SetState(1, Down, "port gone"); err != nil {
		t.Fatal(err)
	}
	downAt := clock
	clock = clock.Add(time.Minute)
	if err := tb.SetState(1, Down, "open: no such device"); err != nil {
		t.Fatal(err)
	}
	l := mustLine(t, tb, 1)
	if l.Reason() != "open: no such device" {
		t.Errorf("reason = %q", l.Reason())
	}
	if !l.Since().Equal(downAt) {
		t.Errorf("since = %v, want %v (the line was already down)", l.Since(), downAt)
	}
}

func TestNewTable(t *testing.T) {
	tests := []struct {
		name string
		defs []LineDef
		err  string
	}{
		{"empty", nil, ""},
		{"ok", []LineDef{{Num: 2}, {Num: 1, Rotary: 1}}, ""},
		{"duplicate", []LineDef{{Num: 1}, {Num: 2}, {Num: 1}}, "line 1 defined twice"},
		{"negative line", []LineDef{{Num: -1}}, "negative"},
		{"negative rotary", []LineDef{{Num: 1, Rotary: -3}}, "rotary -3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb, err := NewTable(tc.defs)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("NewTable: %v", err)
				}
				for _, i := range tb.Snapshot() {
					if i.State != Down || i.Reason != "not started" {
						t.Errorf("line %d starts %s (%q), want down (not started)", i.Num, i.State, i.Reason)
					}
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("NewTable error = %v, want one saying %q", err, tc.err)
			}
		})
	}
}

func TestSnapshotOrderAndContents(t *testing.T) {
	tb := newTable(t,
		LineDef{Num: 7, Rotary: 2, Port: "sim:7"},
		LineDef{Num: 2, Port: "/dev/ttyS1", Dialin: true},
		LineDef{Num: 5, Rotary: 2, Port: "rfc2217://h:1"},
		LineDef{Num: 3, Port: "sim:3"},
	)
	clock := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	tb.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	up(t, tb, 2, 3, 5, 7)
	into(t, tb, 2, InUse)
	tb.SetUser(2, "alice")
	if _, err := tb.ReserveLine(7, "cb:bob"); err != nil {
		t.Fatal(err)
	}
	if err := tb.SetState(3, Down, "open /dev/ttyS2: no such file"); err != nil {
		t.Fatal(err)
	}

	snap := tb.Snapshot()
	nums := make([]int, len(snap))
	for i, s := range snap {
		nums[i] = s.Num
	}
	if !slices.Equal(nums, []int{2, 3, 5, 7}) {
		t.Fatalf("snapshot order %v, want [2 3 5 7]", nums)
	}
	want := map[int]Info{
		2: {Num: 2, State: InUse, Reason: "test", User: "alice", Port: "/dev/ttyS1", Dialin: true},
		3: {Num: 3, State: Down, Reason: "open /dev/ttyS2: no such file", Port: "sim:3"},
		5: {Num: 5, Rotary: 2, State: Idle, Reason: "test", Port: "rfc2217://h:1"},
		7: {Num: 7, Rotary: 2, State: Reserved, Reason: "reserved for callback by cb:bob", Port: "sim:7", Owner: "cb:bob"},
	}
	for _, got := range snap {
		w := want[got.Num]
		since := got.Since
		got.Since = time.Time{}
		if got != w {
			t.Errorf("line %d: got %+v, want %+v", got.Num, got, w)
		}
		if since.IsZero() {
			t.Errorf("line %d: zero Since", got.Num)
		}
		if l := mustLine(t, tb, got.Num); !l.Since().Equal(since) {
			t.Errorf("line %d: Line.Since %v != snapshot %v", got.Num, l.Since(), since)
		}
	}
	// Since is when the line entered its state: the down line changed last.
	if !snap[1].Since.After(snap[0].Since) || !snap[1].Since.After(snap[3].Since) {
		t.Errorf("Since does not follow the order of the changes: %v", snap)
	}
}

func TestLineAccessors(t *testing.T) {
	tb := newTable(t, LineDef{Num: 4, Rotary: 3, Dialin: true, Port: "sim:4"})
	l := mustLine(t, tb, 4)
	if l.Num() != 4 || l.Rotary() != 3 || !l.Dialin() || l.Port() != "sim:4" {
		t.Fatalf("line fields: %d %d %v %q", l.Num(), l.Rotary(), l.Dialin(), l.Port())
	}
	up(t, tb, 4)
	into(t, tb, 4, Connected)
	tb.SetUser(4, "carol")
	if l.State() != Connected || l.User() != "carol" || l.Reason() != "test" {
		t.Fatalf("line after connect: %s %q %q", l.State(), l.User(), l.Reason())
	}
	if got := l.Info(); got.State != Connected || got.User != "carol" || got.Num != 4 {
		t.Fatalf("Info = %+v", got)
	}
	if _, ok := tb.Line(5); ok {
		t.Fatal("Line(5) found on a table without it")
	}
	tb.SetUser(5, "nobody") // unknown line: ignored, must not panic
}

func TestUserClearedWhenCallEnds(t *testing.T) {
	for _, end := range []State{Resetting, Down, Reserved} {
		t.Run(end.String(), func(t *testing.T) {
			tb := newTable(t, LineDef{Num: 1})
			up(t, tb, 1)
			into(t, tb, 1, InUse)
			tb.SetUser(1, "alice")
			if end == Reserved {
				if _, err := tb.ReserveSame(1, "alice"); err != nil {
					t.Fatal(err)
				}
			} else {
				mustSet(t, tb, 1, end)
			}
			if u := mustLine(t, tb, 1).User(); u != "" {
				t.Fatalf("user %q still on the line after %s", u, end)
			}
		})
	}
	t.Run("kept through connect", func(t *testing.T) {
		tb := newTable(t, LineDef{Num: 1})
		up(t, tb, 1)
		into(t, tb, 1, Connected)
		tb.SetUser(1, "alice")
		mustSet(t, tb, 1, InUse)
		if u := mustLine(t, tb, 1).User(); u != "alice" {
			t.Fatalf("user = %q after connected -> in-use", u)
		}
	})
}

func TestRotaryMembers(t *testing.T) {
	tb := newTable(t,
		LineDef{Num: 9, Rotary: 1}, LineDef{Num: 3, Rotary: 1, Dialin: true},
		LineDef{Num: 5, Rotary: 2}, LineDef{Num: 1, Rotary: 1}, LineDef{Num: 8},
	)
	tests := []struct {
		r    int
		want []int
	}{{1, []int{1, 3, 9}}, {2, []int{5}}, {0, nil}, {7, nil}}
	for _, tc := range tests {
		if got := tb.Rotary(tc.r); !slices.Equal(got, tc.want) {
			t.Errorf("Rotary(%d) = %v, want %v", tc.r, got, tc.want)
		}
	}
	got := tb.Rotary(1)
	got[0] = 99
	if tb.Rotary(1)[0] != 1 {
		t.Error("Rotary returns the table's own slice")
	}
}

func TestReserveRotaryPicksLowestFree(t *testing.T) {
	tb := newTable(t,
		LineDef{Num: 9, Rotary: 1}, LineDef{Num: 2, Rotary: 1, Dialin: true},
		LineDef{Num: 7, Rotary: 1}, LineDef{Num: 5, Rotary: 1}, LineDef{Num: 4, Rotary: 1},
		LineDef{Num: 1, Rotary: 2},
	)
	up(t, tb, 1, 2, 4, 5, 7, 9)
	into(t, tb, 4, Ringing) // lower than the free ones, but busy
	var got []int
	var res []*Reservation
	for range 3 {
		r, err := tb.ReserveRotary(1, "cb")
		if err != nil {
			t.Fatalf("ReserveRotary after %v: %v", got, err)
		}
		got = append(got, r.Line())
		res = append(res, r)
	}
	if !slices.Equal(got, []int{5, 7, 9}) {
		t.Fatalf("picked %v, want [5 7 9] (2 is dialin, 4 ringing)", got)
	}
	_, err := tb.ReserveRotary(1, "cb")
	if !errors.Is(err, ErrNoFreeLine) {
		t.Fatalf("full rotary: %v, want ErrNoFreeLine", err)
	}
	for _, s := range []string{"rotary 1", "tty 4 ringing", "tty 7 reserved by cb", "tty 2 dialin"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	res[1].Release() // line 7
	r, err := tb.ReserveRotary(1, "cb2")
	if err != nil || r.Line() != 7 {
		t.Fatalf("after releasing 7: %v, %v; want line 7", r, err)
	}
	if stateOf(t, tb, 1) != Idle {
		t.Fatal("a reservation of rotary 1 touched rotary 2")
	}
}

func TestReserveErrors(t *testing.T) {
	tb := newTable(t,
		LineDef{Num: 1, Rotary: 1}, LineDef{Num: 2, Rotary: 3, Dialin: true},
		LineDef{Num: 3, Rotary: 3, Dialin: true}, LineDef{Num: 4}, LineDef{Num: 5},
	)
	up(t, tb, 1, 2, 3, 4, 5)
	into(t, tb, 1, InUse)
	if _, err := tb.ReserveLine(5, "bob"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		do   func() (*Reservation, error)
		is   []error
		text []string
	}{
		{"line unknown", func() (*Reservation, error) { return tb.ReserveLine(8, "a") }, []error{ErrNoSuchLine}, []string{"line 8"}},
		{"line dialin", func() (*Reservation, error) { return tb.ReserveLine(2, "a") }, []error{ErrDialinOnly}, []string{"line 2"}},
		{"line in use", func() (*Reservation, error) { return tb.ReserveLine(1, "a") }, []error{ErrLineBusy}, []string{"line 1", "in-use"}},
		{"line reserved", func() (*Reservation, error) { return tb.ReserveLine(5, "a") }, []error{ErrLineBusy}, []string{"line 5", "reserved by bob"}},
		{"rotary zero", func() (*Reservation, error) { return tb.ReserveRotary(0, "a") }, []error{ErrNoSuchRotary}, []string{"rotary 0"}},
		{"rotary unknown", func() (*Reservation, error) { return tb.ReserveRotary(42, "a") }, []error{ErrNoSuchRotary}, []string{"rotary 42"}},
		{"rotary all busy", func() (*Reservation, error) { return tb.ReserveRotary(1, "a") }, []error{ErrNoFreeLine}, []string{"rotary 1", "tty 1 in-use"}},
		{"rotary all dialin", func() (*Reservation, error) { return tb.ReserveRotary(3, "a") }, []error{ErrNoFreeLine, ErrDialinOnly}, []string{"rotary 3"}},
		{"same unknown", func() (*Reservation, error) { return tb.ReserveSame(8, "a") }, []error{ErrNoSuchLine}, []string{"line 8"}},
		{"same idle", func() (*Reservation, error) { return tb.ReserveSame(4, "a") }, []error{ErrIllegalTransition}, []string{"line 4", "idle -> reserved"}},
		{"same reserved", func() (*Reservation, error) { return tb.ReserveSame(5, "a") }, []error{ErrLineBusy}, []string{"line 5", "bob"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tb.Snapshot()
			r, err := tc.do()
			if err == nil {
				t.Fatalf("reserved line %d", r.Line())
			}
			for _, is := range tc.is {
				if !errors.Is(err, is) {
					t.Errorf("error %v does not wrap %v", err, is)
				}
			}
			for _, s := range tc.text {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if after := tb.Snapshot(); !slices.Equal(before, after) {
				t.Errorf("a refused reservation changed the table:\n%v\n%v", before, after)
			}
		})
	}
}

func TestDialinNeverReservedForDialOut(t *testing.T) {
	tb := newTable(t, LineDef{Num: 1, Rotary: 1, Dialin: true}, LineDef{Num: 2, Rotary: 1})
	up(t, tb, 1, 2)
	// Answering is what a dialin line is for.
	into(t, tb, 1, InUse)
	if _, err := tb.ReserveSame(1, "alice"); !errors.Is(err, ErrDialinOnly) {
		t.Fatalf("ReserveSame on a dialin line: %v, want ErrDialinOnly", err)
	}
	if got := stateOf(t, tb, 1); got != InUse {
		t.Fatalf("dialin line is %s after a refused ReserveSame", got)
	}
	mustSet(t, tb, 1, Resetting)
	mustSet(t, tb, 1, Idle)
	if _, err := tb.ReserveLine(1, "alice"); !errors.Is(err, ErrDialinOnly) {
		t.Fatalf("ReserveLine on an idle dialin line: %v, want ErrDialinOnly", err)
	}
	// Line 1 is the lowest and idle, but only line 2 can dial out.
	r, err := tb.ReserveRotary(1, "alice")
	if err != nil || r.Line() != 2 {
		t.Fatalf("ReserveRotary = %v, %v; want line 2", r, err)
	}
	if _, err := tb.ReserveRotary(1, "bob"); !errors.Is(err, ErrNoFreeLine) {
		t.Fatalf("second ReserveRotary: %v, want ErrNoFreeLine", err)
	}
}

func TestReserveSame(t *testing.T) {
	for _, from := range []State{Connected, InUse} {
		t.Run(from.String(), func(t *testing.T) {
			tb := newTable(t, LineDef{Num: 3})
			up(t, tb, 3)
			into(t, tb, 3, from)
			r, err := tb.ReserveSame(3, "alice")
			if err != nil {
				t.Fatal(err)
			}
			info := mustLine(t, tb, 3).Info()
			if r.Line() != 3 || info.State != Reserved || info.Owner != "alice" || r.Claimed() {
				t.Fatalf("after ReserveSame: res line %d claimed %v, info %+v", r.Line(), r.Claimed(), info)
			}
			// While reserved the line is not answered nor handed to anyone else.
			if err := tb.SetState(3, Ringing, "RING"); !errors.Is(err, ErrIllegalTransition) {
				t.Fatalf("a RING on the reserved line was accepted: %v", err)
			}
			if _, err := tb.ReserveLine(3, "bob"); !errors.Is(err, ErrLineBusy) {
				t.Fatalf("ReserveLine on the reserved line: %v", err)
			}
			// The line loop's view after the first leg's hang-up: leave the line alone.
			if s, err := tb.EndCall(3, "hangup"); err != nil || s != Reserved {
				t.Fatalf("EndCall = %s, %v; want reserved", s, err)
			}
			mustSet(t, tb, 3, Dialling)
			mustSet(t, tb, 3, Connected)
			if !r.Claimed() {
				t.Fatal("reservation not claimed after dialling")
			}
		})
	}
}

func TestReleaseIdempotent(t *testing.T) {
	tb := newTable(t, LineDef{Num: 1})
	up(t, tb, 1)
	r1, err := tb.ReserveLine(1, "alice")
	if err != nil {
		t.Fatal(err)
	}
	r1.Release()
	if got := stateOf(t, tb, 1); got != Idle {
		t.Fatalf("after Release: %s, want idle", got)
	}
	r1.Release()
	if got := stateOf(t, tb, 1); got != Idle {
		t.Fatalf("after second Release: %s, want idle", got)
	}
	// A stale reservation must not free the line from its next owner.
	r2, err := tb.ReserveLine(1, "bob")
	if err != nil {
		t.Fatal(err)
	}
	r1.Release()
	if info := mustLine(t, tb, 1).Info(); info.State != Reserved || info.Owner != "bob" {
		t.Fatalf("stale Release freed bob's line: %+v", info)
	}
	r2.Release()
	if r1.Claimed() || r2.Claimed() {
		t.Fatal("unused reservations report claimed")
	}
}

func TestReleaseConcurrent(t *testing.T) {
	tb := newTable(t, LineDef{Num: 1})
	up(t, tb, 1)
	r, err := tb.ReserveLine(1, "alice")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(r.Release)
	}
	wg.Wait()
	if got := stateOf(t, tb, 1); got != Idle {
		t.Fatalf("after concurrent releases: %s", got)
	}
}

func TestReleaseAfterClaimKeepsOwnersState(t *testing.T) {
	for _, next := range []State{Dialling, Connected, Resetting} {
		t.Run(next.String(), func(t *testing.T) {
			tb := newTable(t, LineDef{Num: 1})
			up(t, tb, 1)
			r, err := tb.ReserveLine(1, "alice")
			if err != nil {
				t.Fatal(err)
			}
			mustSet(t, tb, 1, Dialling)
			if next != Dialling {
				mustSet(t, tb, 1, next)
			}
			r.Release()
			if got := stateOf(t, tb, 1); got != next {
				t.Fatalf("Release after claim moved the line to %s, want %s", got, next)
			}
			if !r.Claimed() {
				t.Fatal("Claimed() = false after dialling")
			}
			wantOwner := ""
			if next == Dialling {
				wantOwner = "alice"
			}
			if o := mustLine(t, tb, 1).Info().Owner; o != wantOwner {
				t.Fatalf("owner = %q, want %q", o, wantOwner)
			}
		})
	}
}

func TestStaleClaimedReservationLeavesNextOwnerAlone(t *testing.T) {
	// alice's callback leg runs its whole course; her deferred Release comes late, after bob
	// has reserved the same line.
	tb := newTable(t, LineDef{Num: 1})
	up(t, tb, 1)
	r, err := tb.ReserveLine(1, "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []State{Dialling, Connected, InUse, Resetting, Idle} {
		mustSet(t, tb, 1, s)
	}
	r2, err := tb.ReserveLine(1, "bob")
	if err != nil {
		t.Fatal(err)
	}
	r.Release()
	if info := mustLine(t, tb, 1).Info(); info.State != Reserved || info.Owner != "bob" {
		t.Fatalf("alice's late Release touched bob's reservation: %+v", info)
	}
	r2.Release()
}

func TestReservationEndsWhenLineGoesDown(t *testing.T) {
	tb := newTable(t, LineDef{Num: 1})
	up(t, tb, 1)
	r, err := tb.ReserveLine(1, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := tb.SetState(1, Down, "port unplugged"); err != nil {
		t.Fatal(err)
	}
	if o := mustLine(t, tb, 1).Info().Owner; o != "" {
		t.Fatalf("down line still owned by %q", o)
	}
	mustSet(t, tb, 1, Resetting)
	mustSet(t, tb, 1, Idle)
	r2, err := tb.ReserveLine(1, "bob")
	if err != nil {
		t.Fatal(err)
	}
	r.Release()
	if info := mustLine(t, tb, 1).Info(); info.State != Reserved || info.Owner != "bob" {
		t.Fatalf("alice's lost reservation released bob's: %+v", info)
	}
	if r.Claimed() {
		t.Fatal("a reservation lost to Down reports claimed")
	}
	r2.Release()
}

func TestReserveRotaryRace(t *testing.T) {
	const rounds, goroutines = 20, 32
	for round := range rounds {
		tb := newTable(t,
			LineDef{Num: 1, Rotary: 5}, LineDef{Num: 2, Rotary: 5}, LineDef{Num: 3, Rotary: 5, Dialin: true},
			LineDef{Num: 4, Rotary: 5}, LineDef{Num: 5, Rotary: 5}, LineDef{Num: 6, Rotary: 5},
			LineDef{Num: 7, Rotary: 5}, LineDef{Num: 8, Rotary: 5},
		)
		up(t, tb, 1, 2, 3, 4, 5, 6, 7, 8)
		into(t, tb, 2, InUse)
		into(t, tb, 6, Ringing)
		free := []int{1, 4, 5, 7, 8}

		start := make(chan struct{})
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			got  []int
			errs []error
		)
		for g := range goroutines {
			wg.Go(func() {
				<-start
				r, err := tb.ReserveRotary(5, fmt.Sprintf("g%d", g))
				// Readers alongside the writers, for -race.
				_ = tb.Snapshot()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				got = append(got, r.Line())
			})
		}
		close(start)
		wg.Wait()
		slices.Sort(got)
		if !slices.Equal(got, free) {
			t.Fatalf("round %d: reserved lines %v, want each free line once: %v", round, got, free)
		}
		if len(errs) != goroutines-len(free) {
			t.Fatalf("round %d: %d failures, want %d", round, len(errs), goroutines-len(free))
		}
		for _, err := range errs {
			if !errors.Is(err, ErrNoFreeLine) {
				t.Fatalf("round %d: failure %v is not ErrNoFreeLine", round, err)
			}
		}
	}
}

func TestRingRacesReservation(t *testing.T) {
	// A RING and a reservation for the same idle line: exactly one of them gets it.
	for round := range 50 {
		tb := newTable(t, LineDef{Num: 1})
		up(t, tb, 1)
		var ringErr, resErr error
		start := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { <-start; ringErr = tb.SetState(1, Ringing, "RING") })
		wg.Go(func() { <-start; _, resErr = tb.ReserveLine(1, "cb") })
		close(start)
		wg.Wait()
		if (ringErr == nil) == (resErr == nil) {
			t.Fatalf("round %d: ring err %v, reserve err %v: want exactly one to win", round, ringErr, resErr)
		}
		want := Ringing
		if resErr == nil {
			want = Reserved
		}
		if got := stateOf(t, tb, 1); got != want {
			t.Fatalf("round %d: line is %s, want %s", round, got, want)
		}
	}
}

func TestEndCall(t *testing.T) {
	tests := []struct {
		from, want State
	}{
		{Idle, Idle}, {Ringing, Resetting}, {Connected, Resetting}, {InUse, Resetting},
		{Reserved, Reserved}, {Dialling, Resetting}, {Resetting, Resetting}, {Down, Down},
	}
	for _, tc := range tests {
		t.Run(tc.from.String(), func(t *testing.T) {
			tb := newTable(t, LineDef{Num: 1})
			up(t, tb, 1)
			into(t, tb, 1, tc.from)
			got, err := tb.EndCall(1, "lost carrier")
			if err != nil || got != tc.want {
				t.Fatalf("EndCall = %s, %v; want %s", got, err, tc.want)
			}
			if s := stateOf(t, tb, 1); s != tc.want {
				t.Fatalf("line is %s, EndCall said %s", s, tc.want)
			}
		})
	}
	tb := newTable(t)
	if _, err := tb.EndCall(1, "x"); !errors.Is(err, ErrNoSuchLine) {
		t.Fatalf("EndCall on no line: %v", err)
	}
}

func TestWaitWakesOnChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := newTable(t, LineDef{Num: 1}, LineDef{Num: 2})
		up(t, tb, 1, 2)
		type result struct {
			info Info
			err  error
		}
		done := make(chan result, 1)
		go func() {
			info, err := tb.Wait(t.Context(), 1, func(i Info) bool { return i.State == Connected })
			done <- result{info, err}
		}()
		synctest.Wait() // the waiter is blocked: what follows must wake it
		select {
		case r := <-done:
			t.Fatalf("Wait returned before the change: %+v", r)
		default:
		}
		mustSet(t, tb, 2, Ringing) // another line: must not satisfy it
		mustSet(t, tb, 1, Ringing) // this line, but pred still false
		synctest.Wait()
		select {
		case r := <-done:
			t.Fatalf("Wait returned on a state its pred rejects: %+v", r)
		default:
		}
		mustSet(t, tb, 1, Connected)
		r := <-done
		if r.err != nil || r.info.State != Connected || r.info.Num != 1 {
			t.Fatalf("Wait = %+v, %v", r.info, r.err)
		}
	})
}

func TestWaitWakesOnUser(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := newTable(t, LineDef{Num: 1})
		done := make(chan Info, 1)
		go func() {
			info, _ := tb.Wait(t.Context(), 1, func(i Info) bool { return i.User == "alice" })
			done <- info
		}()
		synctest.Wait()
		tb.SetUser(1, "alice")
		if info := <-done; info.User != "alice" {
			t.Fatalf("Wait = %+v", info)
		}
	})
}

func TestWaitSatisfiedAtOnce(t *testing.T) {
	tb := newTable(t, LineDef{Num: 1})
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // a satisfied pred wins over a dead context: nothing needs waiting for
	info, err := tb.Wait(ctx, 1, func(i Info) bool { return i.State == Down })
	if err != nil || info.State != Down {
		t.Fatalf("Wait = %+v, %v", info, err)
	}
	if _, err := tb.Wait(t.Context(), 9, func(Info) bool { return true }); !errors.Is(err, ErrNoSuchLine) {
		t.Fatalf("Wait on line 9: %v", err)
	}
}

func TestWaitHonoursContext(t *testing.T) {
	never := func(Info) bool { return false }
	t.Run("cancel", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			tb := newTable(t, LineDef{Num: 1})
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() {
				_, err := tb.Wait(ctx, 1, never)
				done <- err
			}()
			synctest.Wait()
			cancel()
			err := <-done
			if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "line 1") {
				t.Fatalf("Wait after cancel: %v", err)
			}
		})
	})
	t.Run("deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			tb := newTable(t, LineDef{Num: 1})
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			start := time.Now()
			info, err := tb.Wait(ctx, 1, never)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Wait past deadline: %v", err)
			}
			if info.Num != 1 || info.State != Down {
				t.Fatalf("last info = %+v", info)
			}
			if d := time.Since(start); d < 5*time.Second {
				t.Fatalf("returned after %v of fake time, before the 5s deadline", d)
			}
		})
	})
}

func TestStateText(t *testing.T) {
	want := []string{"idle", "ringing", "connected", "in-use", "reserved", "dialling", "resetting", "down"}
	for i, s := range allStates {
		if s.String() != want[i] {
			t.Errorf("%d.String() = %q, want %q", int(s), s.String(), want[i])
		}
		b, err := s.MarshalText()
		if err != nil || string(b) != want[i] {
			t.Errorf("MarshalText(%d) = %q, %v", int(s), b, err)
		}
		var back State
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("UnmarshalText(%q) = %v, %v", b, back, err)
		}
	}
	if got := State(99).String(); got != "state(99)" {
		t.Errorf("State(99) = %q", got)
	}
	if _, err := State(99).MarshalText(); err == nil {
		t.Error("MarshalText(99) succeeded")
	}
	var s State
	if err := s.UnmarshalText([]byte("IDLE")); err == nil {
		t.Error(`UnmarshalText("IDLE") succeeded`)
	}
}

func FuzzStateText(f *testing.F) {
	for _, s := range []string{"idle", "in-use", "down", "", "state(3)", "idle\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s State
		if err := s.UnmarshalText(b); err != nil {
			return
		}
		out, err := s.MarshalText()
		if err != nil || string(out) != string(b) {
			t.Fatalf("%q -> %v -> %q, %v", b, s, out, err)
		}
	})
}

// FuzzOperations drives a table with arbitrary sequences of operations and checks, after
// each, that the line moved only along an edge of the diagram and that reservations and
// states agree.
func FuzzOperations(f *testing.F) {
	f.Add([]byte{0, 1, 6, 0, 1, 0, 1, 1, 0, 0, 1, 5, 2, 0, 1, 4, 0, 0})
	f.Add([]byte{0, 3, 6, 0, 3, 0, 0, 3, 1, 0, 3, 2, 0, 3, 3, 3, 3, 0, 5, 3, 0, 0, 3, 5, 4, 0, 0})
	f.Add([]byte{0, 4, 6, 0, 4, 0, 2, 0, 2, 2, 0, 2, 2, 0, 1, 4, 0, 1, 4, 0, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		tb := newTable(t,
			LineDef{Num: 1, Rotary: 1}, LineDef{Num: 2, Rotary: 1, Dialin: true},
			LineDef{Num: 3, Rotary: 1}, LineDef{Num: 4, Rotary: 2},
		)
		var res []*Reservation
		for i := 0; i+2 < len(ops); i += 3 {
			op, n, arg := ops[i]%7, int(ops[i+1]%5), ops[i+2]
			before := tb.Snapshot()
			var err error
			var desc string
			switch op {
			case 0:
				s := State(int(arg) % int(numStates))
				desc = fmt.Sprintf("SetState(%d, %s)", n, s)
				err = tb.SetState(n, s, "fuzz")
				if n >= 1 && n <= 4 && s != Reserved {
					if want := edges[[2]State{before[n-1].State, s}]; want != (err == nil) {
						t.Fatalf("%s from %s: err %v, legal %v", desc, before[n-1].State, err, want)
					}
				}
			case 1, 2, 3:
				var r *Reservation
				switch op {
				case 1:
					desc = fmt.Sprintf("ReserveLine(%d)", n)
					r, err = tb.ReserveLine(n, "o")
				case 2:
					desc = fmt.Sprintf("ReserveRotary(%d)", arg%3)
					r, err = tb.ReserveRotary(int(arg%3), "o")
				case 3:
					desc = fmt.Sprintf("ReserveSame(%d)", n)
					r, err = tb.ReserveSame(n, "o")
				}
				if err == nil {
					res = append(res, r)
				}
			case 4:
				if len(res) > 0 {
					r := res[int(arg)%len(res)]
					desc = fmt.Sprintf("Release(line %d)", r.Line())
					r.Release()
				}
			case 5:
				desc = fmt.Sprintf("EndCall(%d)", n)
				_, err = tb.EndCall(n, "fuzz")
			case 6:
				desc = fmt.Sprintf("SetUser(%d)", n)
				tb.SetUser(n, "u")
			}
			after := tb.Snapshot()
			changed := 0
			for j := range after {
				from, to := before[j].State, after[j].State
				if from != to {
					changed++
					if !edges[[2]State{from, to}] {
						t.Fatalf("%s: line %d moved %s -> %s (err %v)", desc, after[j].Num, from, to, err)
					}
				}
				checkLine(t, tb, after[j], res, desc)
			}
			if changed > 1 {
				t.Fatalf("%s changed %d lines", desc, changed)
			}
		}
	})
}

func checkLine(t *testing.T, tb *Table, info Info, res []*Reservation, desc string) {
	t.Helper()
	if info.Dialin && (info.State == Reserved || info.State == Dialling) {
		t.Fatalf("%s: dialin line %d is %s", desc, info.Num, info.State)
	}
	holding := info.State == Reserved || info.State == Dialling
	if holding != (info.Owner != "") {
		t.Fatalf("%s: line %d is %s with owner %q", desc, info.Num, info.State, info.Owner)
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	live := 0
	for _, r := range res {
		if r.line.num == info.Num && !r.done && !r.claimed {
			live++
		}
	}
	if want := 0; info.State == Reserved {
		if live != 1 {
			t.Fatalf("%s: reserved line %d has %d live reservations", desc, info.Num, live)
		}
	} else if live != want {
		t.Fatalf("%s: %s line %d has %d unclaimed live reservations", desc, info.State, info.Num, live)
	}
}

func BenchmarkReserveRotaryRelease(b *testing.B) {
	defs := make([]LineDef, 48)
	for i := range defs {
		defs[i] = LineDef{Num: i + 1, Rotary: 1}
	}
	tb := newTable(b, defs...)
	for i := range defs {
		up(b, tb, i+1)
	}
	for i := 0; i < 47; i++ {
		into(b, tb, i+1, InUse) // the free line is the last one
	}
	for b.Loop() {
		r, err := tb.ReserveRotary(1, "bench")
		if err != nil {
			b.Fatal(err)
		}
		r.Release()
	}
}
