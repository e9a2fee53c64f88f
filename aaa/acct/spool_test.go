package acct

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"testing"
	"time"
)

func TestAppendReadAckAcrossReopen(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	lc := newLogCapture()
	opts := testOptions(lc)
	opts.Destinations = []string{"radius"}
	s := mustOpen(t, dir, opts)
	var want []Record
	for i := range 40 {
		r := rec(fmt.Sprintf("S%d", i), Start, i)
		seq := mustAppend(t, s, r)
		if seq != uint64(i+1) {
			t.Fatalf("seq of record %d = %d, want %d", i, seq, i+1)
		}
		r.Seq = seq
		want = append(want, r)
	}
	got := readN(t, s, "radius", 15)
	for i, r := range got {
		if !sameRecord(r, want[i]) {
			t.Fatalf("record %d: got %+v want %+v", i, r, want[i])
		}
	}
	if err := s.Ack("radius", got[len(got)-1].Seq); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = mustOpen(t, dir, opts)
	defer s.Close()
	if !s.CleanShutdown() {
		t.Error("CleanShutdown false after Close")
	}
	got = readN(t, s, "radius", 25)
	for i, r := range got {
		if !sameRecord(r, want[15+i]) {
			t.Fatalf("after reopen, record %d: got seq %d want seq %d", i, r.Seq, want[15+i].Seq)
		}
	}
	if seq := mustAppend(t, s, rec("late", Start, 99)); seq != 41 {
		t.Errorf("first seq after reopen = %d, want 41", seq)
	}
	if n := s.Stats().Corrupt; n != 0 {
		t.Errorf("Corrupt = %d on a clean spool", n)
	}
}

func TestAppendValidates(t *testing.T) {
	s := mustOpen(t, t.TempDir(), testOptions(newLogCapture()))
	defer s.Close()
	for _, tc := range []struct {
		name string
		r    Record
	}{
		{"no session id", Record{Type: Start, Time: t0}},
		{"bad type", Record{Type: 9, Time: t0, SessionID: "x"}},
		{"no time", Record{Type: Start, SessionID: "x"}},
	} {
		if _, err := s.Append(context.Background(), tc.r); err == nil || errors.Is(err, ErrSpoolUnavailable) {
			t.Errorf("%s: err = %v, want a validation error", tc.name, err)
		}
	}
}

func TestReaderBlocksUntilAppend(t *testing.T) {
	checkGoroutines(t)
	lc := newLogCapture()
	opts := testOptions(lc)
	opts.Destinations = []string{"d"}
	s := mustOpen(t, t.TempDir(), opts)
	defer s.Close()
	r, err := s.Reader("d")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := s.Reader("d"); err == nil {
		t.Error("second reader for one destination accepted")
	}
	got := make(chan Record, 1)
	go func() {
		rc, err := r.Next(context.Background())
		if err != nil {
			t.Error(err)
		}
		got <- rc
	}()
	select {
	case <-got:
		t.Fatal("Next returned before anything was appended")
	case <-time.After(20 * time.Millisecond):
	}
	mustAppend(t, s, rec("A", Start, 1))
	if rc := <-got; rc.SessionID != "A" || rc.Seq != 1 {
		t.Fatalf("got %+v", rc)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next with cancelled ctx: %v", err)
	}
}

func TestRetirement(t *testing.T) {
	for _, del := range []bool{false, true} {
		t.Run(fmt.Sprintf("delete=%v", del), func(t *testing.T) {
			checkGoroutines(t)
			dir := t.TempDir()
			lc := newLogCapture()
			opts := testOptions(lc)
			opts.SegmentSize = 2048
			opts.Destinations = []string{"a", "b"}
			opts.Retention.Delete = del
			opts.CursorFlushInterval = time.Hour // drive flushes by hand
			s := mustOpen(t, dir, opts)
			var want []Record
			for i := range 100 {
				r := rec(fmt.Sprintf("S%d", i), Stop, i)
				r.Seq = mustAppend(t, s, r)
				want = append(want, r)
			}
			segs := s.Stats().Segments
			if segs < 5 {
				t.Fatalf("only %d segments with SegmentSize 2048", segs)
			}
			// a has everything, b only the first 30: nothing past b's cursor may go.
			for _, d := range []struct {
				name string
				seq  uint64
			}{{"a", 100}, {"b", 30}} {
				if err := s.Ack(d.name, d.seq); err != nil {
					t.Fatal(err)
				}
			}
			if s.retire() {
				t.Fatal("retired segments on acknowledgements that are not yet durable")
			}
			if err := s.flushCursors(); err != nil {
				t.Fatal(err)
			}
			if !s.retire() {
				t.Fatal("nothing retired")
			}
			s.mu.Lock()
			for _, sg := range s.segs {
				if sg.first <= 30 && sg.last <= 30 {
					t.Errorf("segment %s (seqs %d..%d) still live though all acknowledged", sg.name, sg.first, sg.last)
				}
			}
			oldest := s.segs[0].first
			s.mu.Unlock()
			if oldest > 31 {
				t.Fatalf("oldest live segment starts at %d: records b has not acknowledged were retired", oldest)
			}
			got := readN(t, s, "b", 70)
			if got[0].Seq != 31 || got[69].Seq != 100 {
				t.Fatalf("b reads %d..%d, want 31..100", got[0].Seq, got[69].Seq)
			}
			if err := s.Ack("b", 100); err != nil {
				t.Fatal(err)
			}
			if err := s.flushCursors(); err != nil {
				t.Fatal(err)
			}
			s.retire()
			if st := s.Stats(); st.Segments != 1 {
				t.Errorf("%d live segments after everything was acknowledged, want 1 (the active one)", st.Segments)
			}
			arch, _ := os.ReadDir(filepath.Join(dir, archiveDir))
			if del && len(arch) != 0 {
				t.Errorf("delete retention left %d archived files", len(arch))
			}
			if !del && len(arch) != segs-1 {
				t.Errorf("archive holds %d segments, want %d", len(arch), segs-1)
			}
			exported := exportJSONL(t, s, time.Time{}, time.Time{})
			if !del {
				if len(exported) != 100 {
					t.Fatalf("export over archive and spool: %d records, want 100", len(exported))
				}
				for i := range want {
					if !sameRecord(exported[i], want[i]) {
						t.Fatalf("export record %d differs", i)
					}
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = mustOpen(t, dir, opts)
			defer s.Close()
			if seq := mustAppend(t, s, rec("next", Start, 1)); seq != 101 {
				t.Errorf("seq after retirement and reopen = %d, want 101", seq)
			}
		})
	}
}

func TestArchivePruning(t *testing.T) {
	dir := t.TempDir()
	lc := newLogCapture()
	opts := testOptions(lc)
	opts.SegmentSize = 1024
	opts.CursorFlushInterval = time.Hour
	opts.Retention.MaxBytes = 4096
	opts.Retention.MaxAge = -1
	s := mustOpen(t, dir, opts) // no destinations: everything is delivered at once
	defer s.Close()
	for i := range 100 {
		mustAppend(t, s, rec(fmt.Sprintf("S%d", i), Stop, i))
	}
	s.retire()
	s.pruneArchive()
	var total int64
	entries, _ := os.ReadDir(filepath.Join(dir, archiveDir))
	for _, e := range entries {
		fi, _ := e.Info()
		total += fi.Size()
	}
	if total > 4096 || len(entries) == 0 {
		t.Errorf("archive holds %d bytes in %d files, want (0, 4096]", total, len(entries))
	}
	// What is left is the newest: the export is a suffix of what was appended.
	got := exportJSONL(t, s, time.Time{}, time.Time{})
	if len(got) == 0 || got[len(got)-1].Seq != 100 {
		t.Fatalf("export after pruning ends at %v", got)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Seq != got[i-1].Seq+1 {
			t.Fatalf("export after pruning has a hole at %d", got[i].Seq)
		}
	}

	opts.Retention.MaxAge = time.Hour
	opts.Retention.MaxBytes = -1
	s.opts.Retention = opts.Retention
	s.opts.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	s.pruneArchive()
	entries, _ = os.ReadDir(filepath.Join(dir, archiveDir))
	if len(entries) != 0 {
		t.Errorf("%d archived segments older than MaxAge survive", len(entries))
	}
}

// frameOffsets lists the start offsets of the frames of a segment file.
func frameOffsets(t *testing.T, b []byte) []int {
	t.Helper()
	var offs []int
	for off := 0; off < len(b); {
		_, _, n, err := decodeFrame(b[off:])
		if err != nil {
			t.Fatalf("frame at %d: %v", off, err)
		}
		offs = append(offs, off)
		off += n
	}
	return offs
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := os.MkdirAll(filepath.Join(dst, e.Name()), 0o700); err != nil {
				t.Fatal(err)
			}
			copyDir(t, filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()))
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func onlySegment(t *testing.T, dir string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, segPrefix+"*"))
	if len(m) != 1 {
		t.Fatalf("want one segment in %s, have %v", dir, m)
	}
	return m[0]
}

// TestTornTail cuts the last record at every byte offset: the records before it survive, the
// torn one is skipped with a log line, and appending carries on after them.
func TestTornTail(t *testing.T) {
	base := t.TempDir()
	lc := newLogCapture()
	opts := testOptions(lc)
	opts.Destinations = []string{"d"}
	s := mustOpen(t, base, opts)
	for i := range 5 {
		mustAppend(t, s, rec(fmt.Sprintf("S%d", i), Interim, i))
	}
	s.crash()
	seg := onlySegment(t, base)
	full, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	offs := frameOffsets(t, full)
	last := offs[len(offs)-1]
	// One directory serves every cut: put the segment back, cut, open.
	dir := filepath.Join(t.TempDir(), "spool")
	copyDir(t, base, dir)
	seg = filepath.Join(dir, filepath.Base(seg))
	for cut := last; cut < len(full); cut++ {
		// Remove before writing: rewriting a file in place makes ext4 flush it (auto_da_alloc).
		for _, p := range []string{filepath.Join(dir, corruptDir), seg} {
			if err := os.RemoveAll(p); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(seg, full[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		lc := newLogCapture()
		o := testOptions(lc)
		o.FS = noSyncFS{}
		s, err := Open(dir, o)
		if err != nil {
			t.Fatalf("cut at %d: Open: %v", cut, err)
		}
		wantCorrupt := uint64(0)
		if cut > last {
			wantCorrupt = 1
		}
		if st := s.Stats(); st.Corrupt != wantCorrupt || st.Head != 4 {
			t.Errorf("cut at %d: Corrupt=%d Head=%d, want %d and 4", cut, st.Corrupt, st.Head, wantCorrupt)
		}
		if cut > last && lc.count("torn tail") == 0 {
			t.Errorf("cut at %d: no log line about the torn tail", cut)
		}
		// Appending works, and only every few offsets to keep the test fast.
		if (cut-last)%37 == 0 || cut == len(full)-1 {
			if seq := mustAppend(t, s, rec("after", Start, 9)); seq != 5 {
				t.Errorf("cut at %d: next seq %d, want 5", cut, seq)
			}
			got := readN(t, s, "d", 5)
			for i, r := range got[:4] {
				if r.Seq != uint64(i+1) {
					t.Errorf("cut at %d: record %d has seq %d", cut, i, r.Seq)
				}
			}
			if got[4].SessionID != "after" {
				t.Errorf("cut at %d: fifth record is %s, want the new one", cut, got[4].SessionID)
			}
		}
		s.crash()
		if cut > last {
			kept, _ := filepath.Glob(filepath.Join(dir, corruptDir, "*.torn"))
			if len(kept) != 1 {
				t.Errorf("cut at %d: torn bytes kept in %v", cut, kept)
			}
		}
	}
}

// TestCorruptMiddle flips one bit inside a record in the middle (header or payload): that record
// is skipped and counted, every other one survives, at Open and for a reader that meets the
// damage after Open.
func TestCorruptMiddle(t *testing.T) {
	base := t.TempDir()
	opts := testOptions(newLogCapture())
	opts.Destinations = []string{"d"}
	s := mustOpen(t, base, opts)
	for i := range 10 {
		mustAppend(t, s, rec(fmt.Sprintf("S%d", i), Start, i))
	}
	s.crash()
	seg := onlySegment(t, base)
	full, _ := os.ReadFile(seg)
	offs := frameOffsets(t, full)
	victim := offs[4] // seq 5
	for _, tc := range []struct {
		name string
		at   int
	}{
		{"magic", 0}, {"kind", 3}, {"length", 5}, {"length high byte", 7}, {"crc", 9},
		{"payload start", frameHeader}, {"payload middle", frameHeader + 40},
		{"payload end", offs[5] - victim - 1},
	} {
		for _, when := range []string{"at open", "after open"} {
			t.Run(tc.name+" "+when, func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "spool")
				copyDir(t, base, dir)
				segPath := filepath.Join(dir, filepath.Base(seg))
				flip := func() {
					b, _ := os.ReadFile(segPath)
					b[victim+tc.at] ^= 0x10
					if err := os.WriteFile(segPath, b, 0o600); err != nil {
						t.Fatal(err)
					}
				}
				lc := newLogCapture()
				o := testOptions(lc)
				o.FS = noSyncFS{}
				if when == "at open" {
					flip()
				}
				s := mustOpen(t, dir, o)
				defer s.Close()
				if when == "after open" {
					flip()
				}
				got := readN(t, s, "d", 9)
				var seqs []uint64
				for _, r := range got {
					seqs = append(seqs, r.Seq)
				}
				want := []uint64{1, 2, 3, 4, 6, 7, 8, 9, 10}
				if fmt.Sprint(seqs) != fmt.Sprint(want) {
					t.Fatalf("read %v, want %v", seqs, want)
				}
				if s.Stats().Corrupt == 0 || lc.count("corrupt") == 0 {
					t.Errorf("corruption not counted (%d) or not logged", s.Stats().Corrupt)
				}
				if seq := mustAppend(t, s, rec("new", Start, 1)); seq != 11 {
					t.Errorf("next seq %d, want 11", seq)
				}
			})
		}
	}
}

func TestCrashRecovery(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	lc := newLogCapture()
	opts := testOptions(lc)
	s := mustOpen(t, dir, opts)
	ids := map[string]string{}
	for _, n := range []string{"A", "B", "C", "D"} {
		ids[n] = s.NewSessionID()
	}
	a := rec(ids["A"], Start, 1)
	b1, b2 := rec(ids["B"], Start, 2), rec(ids["B"], Interim, 60)
	c1, c2 := rec(ids["C"], Start, 3), rec(ids["C"], Stop, 30)
	d1, d2, d3 := rec(ids["D"], Start, 4), rec(ids["D"], Interim, 60), rec(ids["D"], Interim, 120)
	d1.MultiSessionID, d2.MultiSessionID, d3.MultiSessionID = ids["A"], ids["A"], ids["A"]
	for _, r := range []Record{a, b1, c1, d1, b2, c2, d2, d3} {
		mustAppend(t, s, r)
	}
	s.crash()

	s = mustOpen(t, dir, opts)
	if s.CleanShutdown() {
		t.Error("CleanShutdown true after a crash")
	}
	open := s.OpenSessions()
	if len(open) != 3 {
		t.Fatalf("open sessions after crash: %d, want 3", len(open))
	}
	fresh := rec(s.NewSessionID(), Start, 500) // a call of this run: Recover must leave it alone
	mustAppend(t, s, fresh)
	now := t0.Add(time.Hour)
	n, err := s.Recover(context.Background(), now)
	if err != nil || n != 3 {
		t.Fatalf("Recover = %d, %v; want 3 Stops", n, err)
	}
	if n, err := s.Recover(context.Background(), now); n != 0 || err != nil {
		t.Fatalf("second Recover = %d, %v; want 0", n, err)
	}
	s.crash()

	s = mustOpen(t, dir, opts)
	defer s.Close()
	// Only the call of the second run is still open: A, B and D got their Stops already.
	if open := s.OpenSessions(); len(open) != 1 || open[0].SessionID != fresh.SessionID {
		t.Fatalf("open sessions: %+v, want only the second run's call", open)
	}
	if n, err := s.Recover(context.Background(), now); n != 1 || err != nil {
		t.Fatalf("Recover in the third run = %d, %v; want 1", n, err)
	}
	if open := s.OpenSessions(); len(open) != 0 {
		t.Fatalf("open sessions after recovery: %+v", open)
	}
	all := exportJSONL(t, s, time.Time{}, time.Time{})
	stops := map[string][]Record{}
	for _, r := range all {
		if r.Type == Stop && r.Cause == CauseNASReboot {
			stops[r.SessionID] = append(stops[r.SessionID], r)
		}
	}
	for name, last := range map[string]Record{"A": a, "B": b2, "D": d3} {
		st := stops[ids[name]]
		if len(st) != 1 {
			t.Fatalf("session %s: %d NAS-Reboot Stops, want exactly 1", name, len(st))
		}
		want := last
		want.Type, want.Cause, want.Time, want.Seq = Stop, CauseNASReboot, now, st[0].Seq
		if !sameRecord(st[0], want) {
			t.Errorf("session %s Stop:\n got %+v\nwant %+v", name, st[0], want)
		}
	}
	if len(stops[ids["C"]]) != 0 {
		t.Error("a NAS-Reboot Stop for a session that had stopped")
	}
	if len(stops[fresh.SessionID]) != 1 {
		t.Errorf("the second run's call got %d NAS-Reboot Stops, want 1", len(stops[fresh.SessionID]))
	}
}

// TestCrashRecoveryAfterRetirement: a session whose Start was retired with its segment is still
// known after a crash, through the checkpoint.
func TestCrashRecoveryAfterRetirement(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(newLogCapture())
	opts.SegmentSize = 1024
	opts.Destinations = []string{"d"}
	opts.CursorFlushInterval = time.Hour
	s := mustOpen(t, dir, opts)
	long := rec("long", Start, 0)
	mustAppend(t, s, long)
	for i := range 50 {
		mustAppend(t, s, rec(fmt.Sprintf("short%d", i), Start, i))
		mustAppend(t, s, rec(fmt.Sprintf("short%d", i), Stop, i))
	}
	s.Ack("d", 101)
	s.flushCursors()
	if !s.retire() {
		t.Fatal("nothing retired")
	}
	s.crash()
	if _, err := os.Stat(filepath.Join(dir, segName(1))); !os.IsNotExist(err) {
		t.Fatal("the first segment is still live")
	}
	s = mustOpen(t, dir, opts)
	defer s.Close()
	open := s.OpenSessions()
	if len(open) != 1 || open[0].SessionID != "long" {
		t.Fatalf("open sessions %+v, want only \"long\"", open)
	}
	if n, err := s.Recover(context.Background(), t0.Add(time.Hour)); n != 1 || err != nil {
		t.Fatalf("Recover = %d, %v", n, err)
	}
}

func TestConcurrentAppenders(t *testing.T) {
	checkGoroutines(t)
	opts := testOptions(newLogCapture())
	opts.Destinations = []string{"d"}
	opts.SegmentSize = 32 << 10 // rotate under load too
	s := mustOpen(t, t.TempDir(), opts)
	defer s.Close()
	const workers, each = 16, 100
	seqs := make([][]uint64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r := rec(fmt.Sprintf("w%d", w), Interim, i)
				seq, err := s.Append(context.Background(), r)
				if err != nil {
					t.Error(err)
					return
				}
				seqs[w] = append(seqs[w], seq)
			}
		}()
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for w := range workers {
		for i, q := range seqs[w] {
			if seen[q] {
				t.Fatalf("seq %d handed out twice", q)
			}
			seen[q] = true
			if i > 0 && q <= seqs[w][i-1] {
				t.Fatalf("worker %d: seq %d after %d", w, q, seqs[w][i-1])
			}
		}
	}
	got := readN(t, s, "d", workers*each)
	next := map[string]int{}
	for i, r := range got {
		if r.Seq != uint64(i+1) {
			t.Fatalf("record %d has seq %d: sequence not dense", i, r.Seq)
		}
		// Each worker's records come back in the order it appended them, intact.
		want := rec(r.SessionID, Interim, next[r.SessionID])
		want.Seq = r.Seq
		if !sameRecord(r, want) {
			t.Fatalf("record seq %d: got %+v want %+v", r.Seq, r, want)
		}
		next[r.SessionID]++
	}
	st := s.Stats()
	t.Logf("%d records in %d fsync batches (%.1f per fsync)", st.Appended, st.Batches, float64(st.Appended)/float64(st.Batches))
}

func TestSessionIDs(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(newLogCapture())
	format := regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{8}$`)
	seen := map[string]bool{}
	var mu sync.Mutex
	for boot := 1; boot <= 3; boot++ {
		s := mustOpen(t, dir, opts)
		if s.Boot() != uint32(boot) {
			t.Errorf("boot %d: counter %d", boot, s.Boot())
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 500 {
					id := s.NewSessionID()
					mu.Lock()
					if seen[id] {
						t.Errorf("session id %s repeated", id)
					}
					seen[id] = true
					mu.Unlock()
					if !format.MatchString(id) {
						t.Errorf("session id %q not in the documented form", id)
					}
				}
			}()
		}
		wg.Wait()
		if boot == 2 {
			s.crash() // a crash counts the next boot too
		} else if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 3*4*500 {
		t.Errorf("%d distinct ids", len(seen))
	}
}

func TestSpoolLockedAgainstSecondOpen(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, testOptions(newLogCapture()))
	defer s.Close()
	if s2, err := Open(dir, testOptions(newLogCapture())); err == nil {
		s2.Close()
		t.Fatal("a second Open of the same spool succeeded")
	}
}

// exportJSONL exports s as JSON lines and parses them back.
func exportJSONL(t testing.TB, s *Spool, since, until time.Time) []Record {
	t.Helper()
	var buf bytes.Buffer
	if err := s.Export(&buf, FormatJSONL, since, until); err != nil {
		t.Fatal(err)
	}
	recs, err := parseJSONL(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Seq < recs[j].Seq })
	return recs
}

func TestAckAndRegisterErrors(t *testing.T) {
	opts := testOptions(newLogCapture())
	opts.Destinations = []string{"radius:default"}
	s := mustOpen(t, t.TempDir(), opts)
	defer s.Close()
	mustAppend(t, s, rec("A", Start, 1))
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"ack beyond head", s.Ack("radius:default", 2)},
		{"ack unknown destination", s.Ack("nobody", 1)},
		{"register a path", s.Register("../etc")},
		{"register empty", s.Register("")},
		{"register dot name", s.Register(".hidden")},
	} {
		if tc.err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if err := s.Ack("radius:default", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Ack("radius:default", 0); err != nil { // going back is ignored, not an error
		t.Fatal(err)
	}
	if st := s.Status(); len(st) != 1 || st[0].Acked != 1 {
		t.Errorf("status %+v", st)
	}
	if err := s.Unregister("radius:default"); err != nil {
		t.Fatal(err)
	}
	if d := s.Destinations(); len(d) != 0 {
		t.Errorf("destinations after Unregister: %v", d)
	}
}
