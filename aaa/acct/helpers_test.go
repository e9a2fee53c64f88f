package acct

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// logCapture is an slog handler that keeps every record, so tests can count log lines.
type logCapture struct {
	mu    *sync.Mutex
	recs  *[]capturedLog
	attrs []slog.Attr
}

type capturedLog struct {
	level slog.Level
	msg   string
	attrs map[string]string
}

func newLogCapture() *logCapture {
	return &logCapture{mu: &sync.Mutex{}, recs: &[]capturedLog{}}
}

func (h *logCapture) Enabled(context.Context, slog.Level) bool { return true }

func (h *logCapture) Handle(_ context.Context, r slog.Record) error {
	c := capturedLog{level: r.Level, msg: r.Message, attrs: map[string]string{}}
	for _, a := range h.attrs {
		c.attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		c.attrs[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	*h.recs = append(*h.recs, c)
	h.mu.Unlock()
	return nil
}

func (h *logCapture) WithAttrs(as []slog.Attr) slog.Handler {
	return &logCapture{mu: h.mu, recs: h.recs, attrs: append(append([]slog.Attr{}, h.attrs...), as...)}
}

func (h *logCapture) WithGroup(string) slog.Handler { return h }

func (h *logCapture) logger() *slog.Logger { return slog.New(h) }

// count is the number of captured lines whose message contains sub.
func (h *logCapture) count(sub string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range *h.recs {
		if strings.Contains(r.msg, sub) {
			n++
		}
	}
	return n
}

func (h *logCapture) find(sub string) []capturedLog {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []capturedLog
	for _, r := range *h.recs {
		if strings.Contains(r.msg, sub) {
			out = append(out, r)
		}
	}
	return out
}

// checkGoroutines fails the test if goroutines started during it are still running at its end.
func checkGoroutines(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, n, buf)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

var t0 = time.Date(2026, 11, 26, 11, 20, 0, 0, time.UTC)

// rec builds a plausible record of session id.
func rec(id string, typ Type, i int) Record {
	r := Record{
		Type: typ, Time: t0.Add(time.Duration(i) * time.Second), SessionID: id, Leg: "first",
		User: "user" + id, Service: "ppp", Line: i % 48, PortName: fmt.Sprintf("tty%d", i%48),
		CallerID: "5551234", CalledID: "5550000", ConnectInfo: "CONNECT 33600/ARQ/V34/LAPM/V42BIS",
		StartTime: t0, Address: netip.MustParseAddr("10.0.0.1"),
	}
	if typ != Start {
		r.SessionTime = time.Duration(i) * time.Second
		r.InOctets, r.OutOctets = uint64(i)*1000, uint64(i)*2000
		r.InPackets, r.OutPackets = uint64(i), uint64(i)*2
	}
	if typ == Stop {
		r.Cause = CauseLostCarrier
	}
	return r
}

func testOptions(lc *logCapture) Options {
	return Options{
		Logger: lc.logger(), CursorFlushInterval: 5 * time.Millisecond,
		RetryInterval: 2 * time.Millisecond, MaxRetryInterval: 10 * time.Millisecond,
	}
}

func mustOpen(t testing.TB, dir string, opts Options) *Spool {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return s
}

func mustAppend(t testing.TB, s *Spool, r Record) uint64 {
	t.Helper()
	seq, err := s.Append(context.Background(), r)
	if err != nil {
		t.Fatalf("Append(%s %s): %v", r.Type, r.SessionID, err)
	}
	return seq
}

// sameRecord compares records through their JSON form (which is what the spool keeps).
func sameRecord(a, b Record) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// readN reads n records from dest.
func readN(t testing.TB, s *Spool, dest string, n int) []Record {
	t.Helper()
	r, err := s.Reader(dest)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []Record
	for len(out) < n {
		rec, err := r.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d records: %v", len(out), err)
		}
		out = append(out, rec)
	}
	return out
}

// faultFS is the OS file system with switchable faults: a full disk (writes fail with ENOSPC,
// optionally after a byte budget) and failing fsyncs.
type faultFS struct {
	OSFS
	full      atomic.Bool
	budget    atomic.Int64 // with full: bytes still accepted before ENOSPC
	failSync  atomic.Bool
	onlyMatch string // if set, faults apply only to files whose path contains it
}

func (f *faultFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	file, err := f.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if f.onlyMatch != "" && !strings.Contains(name, f.onlyMatch) {
		return file, nil
	}
	return &faultFile{File: file, fs: f}, nil
}

type faultFile struct {
	File
	fs *faultFS
}

func (f *faultFile) Write(b []byte) (int, error) {
	if f.fs.full.Load() {
		left := f.fs.budget.Load()
		if left <= 0 {
			return 0, &os.PathError{Op: "write", Path: "fault", Err: syscall.ENOSPC}
		}
		n := int(min(int64(len(b)), left))
		f.fs.budget.Add(-int64(n))
		w, err := f.File.Write(b[:n])
		if err == nil && w < len(b) {
			err = &os.PathError{Op: "write", Path: "fault", Err: syscall.ENOSPC}
		}
		return w, err
	}
	return f.File.Write(b)
}

func (f *faultFile) Sync() error {
	if f.fs.failSync.Load() {
		return &os.PathError{Op: "fsync", Path: "fault", Err: syscall.EIO}
	}
	return f.File.Sync()
}

var _ io.Writer = (*faultFile)(nil)

// noSyncFS skips fsyncs: for tests about what is read back, not about durability, where
// hundreds of Opens would otherwise wait on the disk.
type noSyncFS struct{ OSFS }

func (noSyncFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return noSyncFile{f}, nil
}

func (noSyncFS) SyncDir(string) error { return nil }

type noSyncFile struct{ *os.File }

func (noSyncFile) Sync() error { return nil }
