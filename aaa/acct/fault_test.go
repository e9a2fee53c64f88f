package acct

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func faultOptions(lc *logCapture, fs *faultFS) Options {
	o := testOptions(lc)
	o.FS = fs
	o.Destinations = []string{"d"}
	return o
}

func TestFullDiskRefuse(t *testing.T) {
	checkGoroutines(t)
	dir := t.TempDir()
	lc := newLogCapture()
	fs := &faultFS{onlyMatch: segPrefix}
	s := mustOpen(t, dir, faultOptions(lc, fs))
	for i := range 3 {
		mustAppend(t, s, rec(fmt.Sprintf("ok%d", i), Start, i))
	}
	if err := s.Admit(); err != nil {
		t.Fatalf("Admit on a healthy spool: %v", err)
	}

	for episode := 1; episode <= 2; episode++ {
		fs.full.Store(true)
		for i := range 5 {
			_, err := s.Append(context.Background(), rec(fmt.Sprintf("lost%d-%d", episode, i), Start, i))
			if !errors.Is(err, ErrSpoolUnavailable) || errors.Is(err, ErrQueued) {
				t.Fatalf("Append on a full disk: %v", err)
			}
			if !strings.Contains(err.Error(), "no space") {
				t.Errorf("error does not say why: %v", err)
			}
		}
		if ok, reason := s.Health(); ok || !strings.Contains(reason, "no space") {
			t.Errorf("Health = %v, %q", ok, reason)
		}
		if err := s.Admit(); !errors.Is(err, ErrSpoolUnavailable) {
			t.Errorf("Admit with policy refuse on a full disk: %v", err)
		}
		if n := lc.count("ACCOUNTING SPOOL UNAVAILABLE"); n != episode {
			t.Errorf("episode %d: %d loud log lines, want one per episode", episode, n)
		}
		fs.full.Store(false)
		// No Append comes: the spool's own probe must notice the disk is back.
		waitFor(t, "health to recover", func() bool { ok, _ := s.Health(); return ok })
		if n := lc.count("writable again"); n != episode {
			t.Errorf("episode %d: %d recovery log lines", episode, n)
		}
		if err := s.Admit(); err != nil {
			t.Errorf("Admit after recovery: %v", err)
		}
		mustAppend(t, s, rec(fmt.Sprintf("after%d", episode), Start, 9))
	}
	if st := s.Stats(); st.AppendErrors != 10 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
	got := readN(t, s, "d", 5)
	var ids []string
	for _, r := range got {
		ids = append(ids, r.SessionID)
	}
	if strings.Join(ids, ",") != "ok0,ok1,ok2,after1,after2" {
		t.Errorf("records read: %v", ids)
	}
	s.crash()
	s = mustOpen(t, dir, faultOptions(newLogCapture(), &faultFS{}))
	defer s.Close()
	if st := s.Stats(); st.Corrupt != 0 {
		t.Errorf("%d corrupt regions after the failed writes were cut back", st.Corrupt)
	}
	if recs := exportJSONL(t, s, t0.Add(-1), t0.Add(1e12)); len(recs) != 5 {
		t.Errorf("%d records after reopen, want 5", len(recs))
	}
}

// TestPartialWriteAndFailedFsync: a write cut short by ENOSPC, or an fsync that fails, leaves
// nothing behind that a reader or the next Open would see.
func TestPartialWriteAndFailedFsync(t *testing.T) {
	for _, mode := range []string{"partial write", "fsync"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			fs := &faultFS{onlyMatch: segPrefix}
			opts := faultOptions(newLogCapture(), fs)
			s := mustOpen(t, dir, opts)
			mustAppend(t, s, rec("first", Start, 1))
			if mode == "fsync" {
				fs.failSync.Store(true)
			} else {
				fs.budget.Store(40)
				fs.full.Store(true)
			}
			if _, err := s.Append(context.Background(), rec("failed", Start, 2)); !errors.Is(err, ErrSpoolUnavailable) {
				t.Fatalf("Append: %v", err)
			}
			fs.failSync.Store(false)
			fs.full.Store(false)
			waitFor(t, "recovery", func() bool { ok, _ := s.Health(); return ok })
			seq := mustAppend(t, s, rec("second", Start, 3))
			if seq <= 2 {
				t.Errorf("seq %d after a failed batch: the failed batch's numbers must not be reused", seq)
			}
			s.crash()
			s = mustOpen(t, dir, opts)
			defer s.Close()
			if st := s.Stats(); st.Corrupt != 0 {
				t.Errorf("%d corrupt regions", st.Corrupt)
			}
			got := readN(t, s, "d", 2)
			if got[0].SessionID != "first" || got[1].SessionID != "second" {
				t.Errorf("read %s, %s", got[0].SessionID, got[1].SessionID)
			}
		})
	}
}

func TestFullDiskAnswer(t *testing.T) {
	checkGoroutines(t)
	lc := newLogCapture()
	fs := &faultFS{onlyMatch: segPrefix}
	opts := faultOptions(lc, fs)
	opts.Policy = PolicyAnswer
	s := mustOpen(t, t.TempDir(), opts)
	defer s.Close()
	var order []string
	for i := range 2 {
		id := fmt.Sprintf("before%d", i)
		mustAppend(t, s, rec(id, Start, i))
		order = append(order, id)
	}
	fs.full.Store(true)
	for i := range 6 {
		id := fmt.Sprintf("queued%d", i)
		_, err := s.Append(context.Background(), rec(id, Start, i))
		if !errors.Is(err, ErrSpoolUnavailable) || !errors.Is(err, ErrQueued) {
			t.Fatalf("Append under policy answer: %v", err)
		}
		order = append(order, id)
	}
	if err := s.Admit(); err != nil {
		t.Errorf("Admit under policy answer with room in memory: %v", err)
	}
	if ok, reason := s.Health(); ok || !strings.Contains(reason, "6 of 10000") {
		t.Errorf("Health = %v, %q", ok, reason)
	}
	if q := s.Stats().Queued; q != 6 {
		t.Errorf("Queued = %d", q)
	}
	fs.full.Store(false)
	waitFor(t, "memory queue to drain", func() bool { st := s.Stats(); return st.Queued == 0 && st.Healthy })
	id := "after"
	mustAppend(t, s, rec(id, Start, 9))
	order = append(order, id)
	got := readN(t, s, "d", len(order))
	for i, r := range got {
		if r.SessionID != order[i] {
			t.Fatalf("record %d is %s, want %s: queued records must keep their order", i, r.SessionID, order[i])
		}
	}
}

func TestFullDiskAnswerQueueFull(t *testing.T) {
	for _, closeWhileFull := range []bool{false, true} {
		t.Run(fmt.Sprintf("close while full=%v", closeWhileFull), func(t *testing.T) {
			checkGoroutines(t)
			lc := newLogCapture()
			fs := &faultFS{onlyMatch: segPrefix}
			opts := faultOptions(lc, fs)
			opts.Policy = PolicyAnswer
			opts.MemoryQueue = 3
			s := mustOpen(t, t.TempDir(), opts)
			fs.full.Store(true)
			var queued, full int
			for i := range 5 {
				_, err := s.Append(context.Background(), rec(fmt.Sprintf("r%d", i), Start, i))
				switch {
				case errors.Is(err, ErrQueued):
					queued++
				case errors.Is(err, ErrQueueFull) && errors.Is(err, ErrSpoolUnavailable):
					full++
				default:
					t.Fatalf("Append %d: %v", i, err)
				}
			}
			if queued != 3 || full != 2 {
				t.Errorf("%d queued, %d refused; want 3 and 2", queued, full)
			}
			if err := s.Admit(); !errors.Is(err, ErrQueueFull) {
				t.Errorf("Admit with a full memory queue: %v", err)
			}
			lost := lc.find("NOT SPOOLED")
			if len(lost) != 2 || !strings.Contains(lost[0].attrs["record"], `"session_id":"r3"`) {
				t.Fatalf("records not kept must be logged in full: %+v", lost)
			}
			if closeWhileFull {
				s.Close()
				if n := lc.count("NOT SPOOLED"); n != 5 {
					t.Errorf("%d records logged as not spooled after Close on a full disk, want 5", n)
				}
				if d := s.Stats().Dropped; d != 5 {
					t.Errorf("Dropped = %d", d)
				}
				return
			}
			defer s.Close()
			fs.full.Store(false)
			waitFor(t, "queue to drain", func() bool { return s.Stats().Queued == 0 })
			got := readN(t, s, "d", 3)
			for i, r := range got {
				if r.SessionID != fmt.Sprintf("r%d", i) {
					t.Errorf("record %d is %s", i, r.SessionID)
				}
			}
		})
	}
}

func TestRecoverUnderPolicyAnswerQueues(t *testing.T) {
	dir := t.TempDir()
	fs := &faultFS{onlyMatch: segPrefix}
	opts := faultOptions(newLogCapture(), fs)
	opts.Policy = PolicyAnswer
	s := mustOpen(t, dir, opts)
	mustAppend(t, s, rec("A", Start, 1))
	s.crash()
	s = mustOpen(t, dir, opts)
	defer s.Close()
	fs.full.Store(true)
	if n, err := s.Recover(context.Background(), t0); n != 1 || err != nil {
		t.Fatalf("Recover on a full disk under policy answer = %d, %v", n, err)
	}
	if n, _ := s.Recover(context.Background(), t0); n != 0 {
		t.Fatalf("second Recover queued another %d Stops", n)
	}
	fs.full.Store(false)
	waitFor(t, "queued Stop", func() bool { return len(s.OpenSessions()) == 0 })
}
