package lines

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// State is where a TTY line is in its life, as IOS `show line` reports it.
//
// A table starts every line in Down with reason "not started": the line loop opens the port and
// brings it up through Resetting, exactly as it retries a failed line, so no reservation can
// take a line whose port was never opened.
//
// The paths a line takes:
//
//	answer:        Idle -> Ringing -> Connected -> InUse -> Resetting -> Idle
//	callback:      Idle -> Reserved -> Dialling -> Connected -> InUse -> Resetting -> Idle
//	same line:     InUse (or Connected) -> Reserved -> Dialling -> Connected -> ...
//	no use:        Reserved -> Idle (Release)
//	failure:       any -> Down -> Resetting -> Idle (or Down again)
//
// Every edge of the diagram (from -> to, when); SetState refuses any other move:
//
//	Idle       -> Ringing    RING on an idle line; a Reserved line is never answered
//	Ringing    -> Connected  answered, carrier up
//	Ringing    -> Idle       the caller gave up before the answer
//	Ringing    -> Resetting  the answer failed
//	Connected  -> InUse      a session (EXEC, PPP, ARAP) owns the line
//	Connected  -> Resetting  hang-up (also from InUse)
//	Connected  -> Reserved   ReserveSame: callback on the incoming line (also from InUse)
//	Idle       -> Reserved   ReserveLine, ReserveRotary (never by SetState)
//	Reserved   -> Dialling   the reservation's owner starts the callback chat script
//	Reserved   -> Idle       the reservation is released without use
//	Dialling   -> Connected  CONNECT: the callback leg is up
//	Dialling   -> Resetting  the dial failed
//	Resetting  -> Idle       the modem is reset and ready
//	Down       -> Resetting  retry a failed line
//	any        -> Down       the port failed or is gone (SetState needs a reason)
type State int

// Line states; see State for the diagram.
const (
	Idle State = iota
	Ringing
	Connected
	InUse
	Reserved
	Dialling
	Resetting
	Down
	numStates
)

var stateNames = [numStates]string{
	Idle:      "idle",
	Ringing:   "ringing",
	Connected: "connected",
	InUse:     "in-use",
	Reserved:  "reserved",
	Dialling:  "dialling",
	Resetting: "resetting",
	Down:      "down",
}

// String returns the state's name as `show line` prints it: "idle", "in-use", ...
func (s State) String() string {
	if s.valid() {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", int(s))
}

func (s State) valid() bool { return s >= 0 && s < numStates }

// MarshalText makes states readable in JSON output of `show line`.
func (s State) MarshalText() ([]byte, error) {
	if !s.valid() {
		return nil, fmt.Errorf("marshal line state: unknown state %d", int(s))
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText accepts the names String returns.
func (s *State) UnmarshalText(b []byte) error {
	for i, name := range stateNames {
		if string(b) == name {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("unmarshal line state: unknown state %q", b)
}

// legal reports whether from -> to is an edge of the state diagram.
func legal(from, to State) bool {
	if to == Down {
		return true // any -> Down; Down -> Down only updates the reason
	}
	switch from {
	case Idle:
		return to == Ringing || to == Reserved
	case Ringing:
		return to == Connected || to == Idle || to == Resetting
	case Connected:
		return to == InUse || to == Resetting || to == Reserved
	case InUse:
		return to == Resetting || to == Reserved
	case Reserved:
		return to == Dialling || to == Idle
	case Dialling:
		return to == Connected || to == Resetting
	case Resetting:
		return to == Idle
	case Down:
		return to == Resetting
	}
	return false
}

// Errors of the line table. Returned errors wrap them and name the line or rotary.
var (
	ErrNoSuchLine        = errors.New("no such line")
	ErrNoSuchRotary      = errors.New("no such rotary group")
	ErrLineBusy          = errors.New("line busy")
	ErrNoFreeLine        = errors.New("no free line")
	ErrDialinOnly        = errors.New("line is modem dialin (answer only) and cannot dial out")
	ErrIllegalTransition = errors.New("illegal line state transition")
)

// TransitionError is a refused state change. It wraps ErrIllegalTransition.
type TransitionError struct {
	Line     int
	From, To State
	// Why says more when the edge exists but was refused (a missing reason, a reservation
	// needed), empty for an edge that is not in the diagram.
	Why string
}

// Error names the line and the refused move.
func (e *TransitionError) Error() string {
	s := fmt.Sprintf("line %d: illegal transition %s -> %s", e.Line, e.From, e.To)
	if e.Why != "" {
		s += ": " + e.Why
	}
	return s
}

// Unwrap lets errors.Is(err, ErrIllegalTransition) match.
func (e *TransitionError) Unwrap() error { return ErrIllegalTransition }

// LineDef defines one TTY line of the table.
type LineDef struct {
	Num    int
	Rotary int  // rotary group (IOS `rotary N`); 0 = none
	Dialin bool // IOS `modem dialin`: answers only, never dials out
	Port   string
}

// Info is a snapshot of one line, for `show line` and `show users`.
type Info struct {
	Num    int
	Rotary int
	State  State
	Reason string
	User   string
	Port   string
	Since  time.Time // when the line entered State
	Dialin bool
	// Owner is who holds the line's reservation while it is Reserved or Dialling, else "".
	Owner string
}

// Line is one TTY line. Its number, rotary, port and dialin setting never change; its state,
// reason, user and reservation change under the table's lock, so every accessor reads a
// current value.
type Line struct {
	t      *Table
	num    int
	rotary int
	dialin bool
	port   string

	// Guarded by t.mu.
	state  State
	reason string
	user   string
	since  time.Time
	res    *Reservation  // holds the line while Reserved, dials on it while Dialling
	change chan struct{} // closed and replaced on every change: Wait's broadcast; nil = no waiter
}

// Num is the TTY number.
func (l *Line) Num() int { return l.num }

// Rotary is the line's rotary group, 0 for none.
func (l *Line) Rotary() int { return l.rotary }

// Dialin reports whether the line's modem answers only (IOS `modem dialin`).
func (l *Line) Dialin() bool { return l.dialin }

// Port is the name of the line's port.
func (l *Line) Port() string { return l.port }

// State is the line's current state.
func (l *Line) State() State {
	l.t.mu.Lock()
	defer l.t.mu.Unlock()
	return l.state
}

// Reason says why the line entered its current state.
func (l *Line) Reason() string {
	l.t.mu.Lock()
	defer l.t.mu.Unlock()
	return l.reason
}

// User is the user of the call on the line, "" when none.
func (l *Line) User() string {
	l.t.mu.Lock()
	defer l.t.mu.Unlock()
	return l.user
}

// Since is when the line entered its current state.
func (l *Line) Since() time.Time {
	l.t.mu.Lock()
	defer l.t.mu.Unlock()
	return l.since
}

// Info returns a consistent snapshot of the line.
func (l *Line) Info() Info {
	l.t.mu.Lock()
	defer l.t.mu.Unlock()
	return l.infoLocked()
}

func (l *Line) infoLocked() Info {
	i := Info{
		Num: l.num, Rotary: l.rotary, State: l.state, Reason: l.reason, User: l.user,
		Port: l.port, Since: l.since, Dialin: l.dialin,
	}
	if l.res != nil {
		i.Owner = l.res.owner
	}
	return i
}

// Table is the NAS's line table: every TTY line, its state, its rotary group and its
// reservation for callback. All methods are safe for concurrent use.
type Table struct {
	mu     sync.Mutex
	lines  []*Line // sorted by number
	byNum  map[int]*Line
	rotary map[int][]*Line // rotary group -> its lines, sorted by number
	now    func() time.Time
}

// NewTable builds the table. Every line starts Down with reason "not started"; see State.
func NewTable(defs []LineDef) (*Table, error) {
	t := &Table{
		byNum:  make(map[int]*Line, len(defs)),
		rotary: make(map[int][]*Line),
		now:    time.Now,
	}
	first := make(map[int]int, len(defs))
	now := t.now()
	for i, d := range defs {
		if d.Num < 0 {
			return nil, fmt.Errorf("line definition %d: line number %d is negative", i, d.Num)
		}
		if d.Rotary < 0 {
			return nil, fmt.Errorf("line %d: rotary %d is negative (0 means none)", d.Num, d.Rotary)
		}
		if j, dup := first[d.Num]; dup {
			return nil, fmt.Errorf("line %d defined twice (line definitions %d and %d)", d.Num, j, i)
		}
		first[d.Num] = i
		l := &Line{
			t: t, num: d.Num, rotary: d.Rotary, dialin: d.Dialin, port: d.Port,
			state: Down, reason: "not started", since: now,
		}
		t.lines = append(t.lines, l)
		t.byNum[d.Num] = l
		if d.Rotary != 0 {
			t.rotary[d.Rotary] = append(t.rotary[d.Rotary], l)
		}
	}
	byNum := func(a, b *Line) int { return a.num - b.num }
	slices.SortFunc(t.lines, byNum)
	for _, ls := range t.rotary {
		slices.SortFunc(ls, byNum)
	}
	return t, nil
}

// Line returns line n.
func (t *Table) Line(n int) (*Line, bool) {
	l, ok := t.byNum[n] // byNum never changes after NewTable
	return l, ok
}

// Snapshot returns every line, sorted by number.
func (t *Table) Snapshot() []Info {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Info, len(t.lines))
	for i, l := range t.lines {
		out[i] = l.infoLocked()
	}
	return out
}

// Rotary returns the numbers of the lines of rotary group r, sorted; nil for no such group.
// Dialin lines are members (they answer calls to the group) even though ReserveRotary skips them.
func (t *Table) Rotary(r int) []int {
	ls := t.rotary[r]
	if len(ls) == 0 {
		return nil
	}
	out := make([]int, len(ls))
	for i, l := range ls {
		out[i] = l.num
	}
	return out
}

// SetState moves line n to state s for the given reason. A move that is not an edge of the
// diagram (see State) returns a *TransitionError. Nothing but a reservation puts a line in
// Reserved, and Down needs a reason. Reserved -> Dialling marks the line's reservation claimed;
// any other move out of Reserved ends the reservation.
func (t *Table) SetState(n int, s State, reason string) error {
	if !s.valid() {
		return fmt.Errorf("line %d: set state: unknown state %d", n, int(s))
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.byNum[n]
	if !ok {
		return fmt.Errorf("line %d: set state %s: %w", n, s, ErrNoSuchLine)
	}
	switch {
	case s == Reserved:
		return &TransitionError{Line: n, From: l.state, To: s,
			Why: "only ReserveLine, ReserveRotary or ReserveSame reserve a line"}
	case !legal(l.state, s):
		return &TransitionError{Line: n, From: l.state, To: s}
	case s == Down && reason == "":
		return &TransitionError{Line: n, From: l.state, To: s, Why: "a line goes down only with a reason"}
	}
	t.setLocked(l, s, reason)
	return nil
}

// setLocked changes the state, keeps user and reservation in step with it and wakes waiters.
func (t *Table) setLocked(l *Line, s State, reason string) {
	from := l.state
	if from != s {
		l.since = t.now()
	}
	l.state, l.reason = s, reason
	switch s {
	case Idle, Resetting, Down, Reserved:
		l.user = "" // no call on the line any more
	}
	if r := l.res; r != nil && s != Reserved {
		switch {
		case from == Reserved && s == Dialling:
			r.claimed = true
		case from == Dialling && s == Connected:
			// The callback leg is up: the reservation has done its job.
			l.res = nil
		default:
			// Released without use, failed dial or lost line: the reservation is over.
			r.done = true
			l.res = nil
		}
	}
	l.notifyLocked()
}

func (l *Line) notifyLocked() {
	if l.change != nil {
		close(l.change)
		l.change = nil
	}
}

// SetUser records the user of the call on line n (for `show users`). Entering Idle,
// Resetting, Down or Reserved clears it. An unknown line is ignored.
func (t *Table) SetUser(n int, user string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if l, ok := t.byNum[n]; ok && l.user != user {
		l.user = user
		l.notifyLocked()
	}
}

// EndCall is the line loop's step after a call on line n ends (hang-up, lost carrier, failed
// answer or dial). It moves Ringing, Connected, InUse and Dialling to Resetting and returns
// the state the line is then in, which tells the loop what to do:
//
//   - Resetting: reset the modem, then SetState Idle (or Down if the reset fails);
//   - Reserved: the session reserved this line for a callback (ReserveSame); leave the port to
//     the reservation's owner and Wait for the line to leave Reserved;
//   - Idle or Down: nothing to do (someone already finished the call).
//
// It never fails on a known line, so the loop cannot get stuck on a race with ReserveSame.
func (t *Table) EndCall(n int, reason string) (State, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.byNum[n]
	if !ok {
		return 0, fmt.Errorf("line %d: end call: %w", n, ErrNoSuchLine)
	}
	switch l.state {
	case Ringing, Connected, InUse, Dialling:
		t.setLocked(l, Resetting, reason)
	}
	return l.state, nil
}

// Reservation holds a line for a callback: while it holds it, the line is Reserved, is not
// handed to another reservation and is not answered. The owner claims the line by moving it
// to Dialling with SetState; from then on the owner drives the line's state.
type Reservation struct {
	t     *Table
	line  *Line
	owner string
	// Guarded by t.mu.
	claimed bool // the owner moved the line to Dialling
	done    bool // released, or the line left Reserved other than by dialling
}

// Line is the reserved line's number.
func (r *Reservation) Line() int { return r.line.num }

// Owner is who asked for the reservation.
func (r *Reservation) Owner() string { return r.owner }

// Claimed reports whether the owner has used the reservation: moved the line from Reserved
// to Dialling.
func (r *Reservation) Claimed() bool {
	r.t.mu.Lock()
	defer r.t.mu.Unlock()
	return r.claimed
}

// Release ends the reservation. A line still Reserved by it goes back to Idle; a line the
// owner has already claimed keeps the state the owner sets. Release is idempotent and never
// touches a line that has since been reserved by someone else, so `defer res.Release()` is
// always safe.
func (r *Reservation) Release() {
	r.t.mu.Lock()
	defer r.t.mu.Unlock()
	if r.done {
		return
	}
	r.done = true
	l := r.line
	if l.res == r && l.state == Reserved {
		r.t.setLocked(l, Idle, "reservation released by "+r.owner)
	}
}

func (t *Table) reserveLocked(l *Line, owner string) *Reservation {
	r := &Reservation{t: t, line: l, owner: owner}
	l.res = r
	t.setLocked(l, Reserved, "reserved for callback by "+owner)
	return r
}

// busyLocked describes why l cannot be reserved, for errors that say where the line is.
func (l *Line) busyLocked() string {
	if l.res != nil {
		return fmt.Sprintf("%s by %s", l.state, l.res.owner)
	}
	return l.state.String()
}

// ReserveLine reserves line n (IOS `callback-line`) for owner. The line must be Idle and able
// to dial out.
func (t *Table) ReserveLine(n int, owner string) (*Reservation, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.byNum[n]
	switch {
	case !ok:
		return nil, fmt.Errorf("reserve line %d for %s: %w", n, owner, ErrNoSuchLine)
	case l.dialin:
		return nil, fmt.Errorf("reserve line %d for %s: %w", n, owner, ErrDialinOnly)
	case l.state != Idle:
		return nil, fmt.Errorf("reserve line %d for %s: line is %s: %w", n, owner, l.busyLocked(), ErrLineBusy)
	}
	return t.reserveLocked(l, owner), nil
}

// ReserveRotary reserves the lowest-numbered Idle line of rotary group r that can dial out
// (IOS `callback-rotary`), as IOS picks it.
func (t *Table) ReserveRotary(r int, owner string) (*Reservation, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ls := t.rotary[r]
	if len(ls) == 0 {
		return nil, fmt.Errorf("reserve rotary %d for %s: %w", r, owner, ErrNoSuchRotary)
	}
	for _, l := range ls {
		if !l.dialin && l.state == Idle {
			return t.reserveLocked(l, owner), nil
		}
	}
	// None free: say why, line by line, so the failed callback's log explains itself.
	busy := make([]string, 0, len(ls))
	dialout := false
	for _, l := range ls {
		if l.dialin {
			busy = append(busy, fmt.Sprintf("tty %d dialin", l.num))
			continue
		}
		dialout = true
		busy = append(busy, fmt.Sprintf("tty %d %s", l.num, l.busyLocked()))
	}
	if !dialout {
		return nil, fmt.Errorf("reserve rotary %d for %s: %w: every line is %w", r, owner, ErrNoFreeLine, ErrDialinOnly)
	}
	return nil, fmt.Errorf("reserve rotary %d for %s: %w (%s)", r, owner, ErrNoFreeLine, strings.Join(busy, ", "))
}

// ReserveSame reserves line n, which is on a call (Connected or InUse), for a callback on the
// same line: the line goes straight to Reserved so that nothing answers or takes it while
// the session hangs up and the owner waits to dial.
func (t *Table) ReserveSame(n int, owner string) (*Reservation, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.byNum[n]
	switch {
	case !ok:
		return nil, fmt.Errorf("reserve same line %d for %s: %w", n, owner, ErrNoSuchLine)
	case l.dialin:
		return nil, fmt.Errorf("reserve same line %d for %s: %w", n, owner, ErrDialinOnly)
	case l.state == Reserved || l.state == Dialling:
		return nil, fmt.Errorf("reserve same line %d for %s: line is %s: %w", n, owner, l.busyLocked(), ErrLineBusy)
	case l.state != Connected && l.state != InUse:
		return nil, &TransitionError{Line: n, From: l.state, To: Reserved,
			Why: "ReserveSame needs a call on the line (connected or in-use)"}
	}
	return t.reserveLocked(l, owner), nil
}

// Wait blocks until line n's state satisfies pred and returns the snapshot that did, or
// returns the last snapshot and an error wrapping ctx.Err() when ctx ends first. pred runs
// without the table's lock held. Wait looks at the line when it starts and after every
// change, so a state that lasts only between two looks (Ringing on a line answered at once)
// may be missed: wait for states that hold until someone acts.
func (t *Table) Wait(ctx context.Context, n int, pred func(Info) bool) (Info, error) {
	l, ok := t.byNum[n]
	if !ok {
		return Info{}, fmt.Errorf("wait on line %d: %w", n, ErrNoSuchLine)
	}
	for {
		t.mu.Lock()
		info := l.infoLocked()
		if l.change == nil {
			l.change = make(chan struct{})
		}
		ch := l.change
		t.mu.Unlock()
		if pred(info) {
			return info, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return info, fmt.Errorf("wait on line %d (%s): %w", n, info.State, ctx.Err())
		}
	}
}
