package acct

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testDest records what it is given. It can fail before taking a record (the server never
// saw it), after taking it (the answer was lost: the record will be sent again), be down, or
// refuse chosen records permanently.
type testDest struct {
	name       string
	mu         sync.Mutex
	rng        *rand.Rand
	failBefore float64
	failAfter  float64
	down       atomic.Bool
	permanent  map[uint64]bool
	got        []Record
	attempts   map[uint64]int
}

func newTestDest(name string, seed uint64) *testDest {
	return &testDest{name: name, rng: rand.New(rand.NewPCG(seed, seed)), permanent: map[uint64]bool{}, attempts: map[uint64]int{}}
}

func (d *testDest) Name() string { return d.name }

func (d *testDest) Deliver(ctx context.Context, r Record) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.attempts[r.Seq]++
	if d.down.Load() {
		return errors.New("server down")
	}
	if d.permanent[r.Seq] {
		return Permanent(fmt.Errorf("record %d refused", r.Seq))
	}
	x := d.rng.Float64()
	if x < d.failBefore {
		return errors.New("timeout (not received)")
	}
	d.got = append(d.got, r)
	if x < d.failBefore+d.failAfter {
		return errors.New("timeout (answer lost)")
	}
	return nil
}

func (d *testDest) received() []Record {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Record(nil), d.got...)
}

var fastDelivery = DeliveryOptions{MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond, AttemptTimeout: time.Second}

// startDelivery runs RunDelivery until the returned stop is called.
func startDelivery(t *testing.T, s *Spool, dests ...Destination) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.RunDelivery(ctx, dests, fastDelivery) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunDelivery: %v", err)
		}
	}
}

func acked(s *Spool, dest string) uint64 {
	for _, st := range s.Status() {
		if st.Name == dest {
			return st.Acked
		}
	}
	return 0
}

// checkInOrder checks that got is want, in order, where an element may repeat only as an
// immediate, identical re-send of the one before it. It returns the number of re-sends.
func checkInOrder(t *testing.T, got, want []Record) int {
	t.Helper()
	next, resends := 0, 0
	for i, g := range got {
		switch {
		case next < len(want) && g.Seq == want[next].Seq:
			if !sameRecord(g, want[next]) {
				t.Fatalf("delivery %d (seq %d) differs from the spooled record", i, g.Seq)
			}
			next++
		case next > 0 && g.Seq == want[next-1].Seq && sameRecord(g, want[next-1]):
			resends++
		default:
			t.Fatalf("delivery %d is seq %d; expected seq %d or a re-send of the previous one", i, g.Seq, want[min(next, len(want)-1)].Seq)
		}
	}
	if next != len(want) {
		t.Fatalf("delivered %d distinct records, want %d", next, len(want))
	}
	return resends
}

// TestFlakyDestinationOrder: a destination that fails at random still gets every record, in
// order, once — apart from exact re-sends of a record whose answer was lost.
func TestFlakyDestinationOrder(t *testing.T) {
	checkGoroutines(t)
	opts := testOptions(newLogCapture())
	opts.SegmentSize = 8 << 10
	opts.Destinations = []string{"flaky"}
	s := mustOpen(t, t.TempDir(), opts)
	defer s.Close()
	d := newTestDest("flaky", 42)
	d.failBefore, d.failAfter = 0.3, 0.1
	stop := startDelivery(t, s, d)

	// Sessions interleave; each is Start, Interims, Stop, appended concurrently.
	var mu sync.Mutex
	var want []Record
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sess := range 5 {
				id := fmt.Sprintf("w%d-s%d", w, sess)
				for i, typ := range []Type{Start, Interim, Interim, Stop} {
					r := rec(id, typ, i)
					seq, err := s.Append(context.Background(), r)
					if err != nil {
						t.Error(err)
						return
					}
					r.Seq = seq
					mu.Lock()
					want = append(want, r)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	waitFor(t, "delivery of every record", func() bool { return acked(s, "flaky") == uint64(len(want)) })
	stop()
	sortBySeq(want)
	got := d.received()
	resends := checkInOrder(t, got, want)
	// No Stop before its Start, per session.
	started := map[string]bool{}
	for _, r := range got {
		switch r.Type {
		case Start:
			started[r.SessionID] = true
		case Stop, Interim:
			if !started[r.SessionID] {
				t.Fatalf("%s of %s delivered before its Start", r.Type, r.SessionID)
			}
		}
	}
	st := s.Status()[0]
	if st.Failures == 0 || resends == 0 {
		t.Errorf("the flaky destination never failed (failures %d, re-sends %d): the test tests nothing", st.Failures, resends)
	}
	t.Logf("%d records, %d failed attempts, %d exact re-sends", len(want), st.Failures, resends)
}

func sortBySeq(rs []Record) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].Seq < rs[j-1].Seq; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

// TestCrashBetweenDeliveryAndCursor shows the documented duplicates: records delivered but not
// yet durably acknowledged when the NAS dies are delivered again, identically and in order; after
// a clean Close nothing is re-sent.
func TestCrashBetweenDeliveryAndCursor(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	opts := testOptions(newLogCapture())
	opts.CursorFlushInterval = time.Hour // nothing becomes durable before the crash
	opts.Destinations = []string{"radius"}
	s := mustOpen(t, dir, opts)
	var want []Record
	for i := range 20 {
		r := rec(fmt.Sprintf("S%d", i), Start, i)
		r.Seq = mustAppend(t, s, r)
		want = append(want, r)
	}
	d1 := newTestDest("radius", 1)
	stop := startDelivery(t, s, d1)
	waitFor(t, "first delivery", func() bool { return acked(s, "radius") == 20 })
	s.crash()
	stop()

	s = mustOpen(t, dir, opts)
	d2 := newTestDest("radius", 2)
	stop = startDelivery(t, s, d2)
	for i := 20; i < 25; i++ {
		r := rec(fmt.Sprintf("S%d", i), Start, i)
		r.Seq = mustAppend(t, s, r)
		want = append(want, r)
	}
	waitFor(t, "delivery after the crash", func() bool { return acked(s, "radius") == 25 })
	stop()
	checkInOrder(t, d1.received(), want[:20])
	// The whole unpersisted window comes again, then the new records.
	checkInOrder(t, d2.received(), want)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = mustOpen(t, dir, opts)
	defer s.Close()
	d3 := newTestDest("radius", 3)
	stop = startDelivery(t, s, d3)
	r := rec("S25", Start, 25)
	r.Seq = mustAppend(t, s, r)
	waitFor(t, "delivery after a clean restart", func() bool { return acked(s, "radius") == 26 })
	stop()
	checkInOrder(t, d3.received(), []Record{r})
}

func TestTwoDestinationsIndependentCursors(t *testing.T) {
	checkGoroutines(t)
	opts := testOptions(newLogCapture())
	opts.SegmentSize = 2048
	opts.Destinations = []string{"fast", "slow"}
	s := mustOpen(t, t.TempDir(), opts)
	defer s.Close()
	fast, slow := newTestDest("fast", 1), newTestDest("slow", 2)
	slow.down.Store(true)
	stop := startDelivery(t, s, fast, slow)
	defer stop()
	var want []Record
	for i := range 50 {
		r := rec(fmt.Sprintf("S%d", i), Start, i)
		r.Seq = mustAppend(t, s, r)
		want = append(want, r)
	}
	waitFor(t, "fast destination", func() bool { return acked(s, "fast") == 50 })
	waitFor(t, "slow destination to fail", func() bool {
		for _, st := range s.Status() {
			if st.Name == "slow" {
				return st.Consecutive >= 2
			}
		}
		return false
	})
	for _, st := range s.Status() {
		if st.Name == "slow" && (st.Acked != 0 || st.Lag != 50 || st.LastError == "" || !st.Running) {
			t.Errorf("slow destination status %+v", st)
		}
	}
	s.flushCursors()
	s.retire()
	if st := s.Stats(); st.Segments < 3 {
		t.Errorf("only %d segments left while a destination has acknowledged nothing", st.Segments)
	}
	slow.down.Store(false)
	waitFor(t, "slow destination", func() bool { return acked(s, "slow") == 50 })
	if r := checkInOrder(t, fast.received(), want); r != 0 {
		t.Errorf("%d re-sends to a destination that never failed", r)
	}
	if r := checkInOrder(t, slow.received(), want); r != 0 {
		t.Errorf("%d re-sends to a destination whose failures were all before receipt", r)
	}
}

func TestPermanentErrorDeadLetters(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	lc := newLogCapture()
	opts := testOptions(lc)
	opts.Destinations = []string{"tacacs"}
	s := mustOpen(t, dir, opts)
	defer s.Close()
	d := newTestDest("tacacs", 1)
	d.permanent[3] = true
	stop := startDelivery(t, s, d)
	var want []Record
	for i := range 5 {
		r := rec(fmt.Sprintf("S%d", i), Start, i)
		r.Seq = mustAppend(t, s, r)
		want = append(want, r)
	}
	waitFor(t, "delivery", func() bool { return acked(s, "tacacs") == 5 })
	stop()
	checkInOrder(t, d.received(), []Record{want[0], want[1], want[3], want[4]})
	if d.attempts[3] != 1 {
		t.Errorf("a permanently refused record was tried %d times", d.attempts[3])
	}
	f, err := os.Open(filepath.Join(dir, deadLetterDir, "tacacs.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []struct {
		Dest   string `json:"dest"`
		Error  string `json:"error"`
		Record Record `json:"record"`
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l struct {
			Dest   string `json:"dest"`
			Error  string `json:"error"`
			Record Record `json:"record"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	if len(lines) != 1 || !sameRecord(lines[0].Record, want[2]) || lines[0].Dest != "tacacs" || lines[0].Error == "" {
		t.Fatalf("dead letters: %+v", lines)
	}
	if n := lc.count("DEAD-LETTERED"); n != 1 {
		t.Errorf("%d dead-letter log lines, want 1", n)
	}
	if st := s.Status()[0]; st.DeadLettered != 1 || st.Delivered != 4 {
		t.Errorf("status %+v", st)
	}
}

func TestRecordDelay(t *testing.T) {
	r := Record{Time: t0}
	for _, tc := range []struct {
		now  time.Time
		want time.Duration
	}{
		{t0.Add(90 * time.Second), 90 * time.Second},
		{t0, 0},
		{t0.Add(-time.Second), 0}, // a clock stepped back never gives a negative delay
	} {
		if got := r.Delay(tc.now); got != tc.want {
			t.Errorf("Delay(%v) = %v, want %v", tc.now, got, tc.want)
		}
	}
}

type markedErr struct{ permanent bool }

func (e markedErr) Error() string   { return "marked" }
func (e markedErr) Permanent() bool { return e.permanent }

func TestIsPermanent(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{errors.New("timeout"), false},
		{Permanent(errors.New("bad attribute")), true},
		{fmt.Errorf("radius: %w", Permanent(errors.New("x"))), true},
		{fmt.Errorf("wrapped: %w", markedErr{true}), true},
		{markedErr{false}, false},
		{nil, false},
	} {
		if got := IsPermanent(tc.err); got != tc.want {
			t.Errorf("IsPermanent(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
