package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/dialback/nas/aaa/acct"
	"github.com/dialback/nas/aaa/radius"
	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/session"
)

// flakyFS is the operating system's file system with a switch that makes every write, sync
// and file creation fail, as a full disk does (the same fault as session's tests inject).
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

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func openSpool(t *testing.T, fsys acct.FS, policy acct.Policy, dests ...string) *acct.Spool {
	t.Helper()
	sp, err := acct.Open(t.TempDir(), acct.Options{
		FS: fsys, Policy: policy, Logger: quietLog(), Destinations: dests,
		RetryInterval: 5 * time.Millisecond, MaxRetryInterval: 20 * time.Millisecond,
		CursorFlushInterval: 5 * time.Millisecond,
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

var t0 = time.Date(2026, 11, 26, 11, 20, 0, 0, time.UTC)

func record(id string) acct.Record {
	return acct.Record{Type: acct.Start, Time: t0, StartTime: t0, SessionID: id, Leg: "first", Service: "ppp", Line: 1}
}

// scrape fetches h's /metrics as Prometheus does and parses the text format.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, Path, nil))
	if rr.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", Path, rr.Code, rr.Body.String())
	}
	if ct := rr.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want the text format", ct)
	}
	var p expfmt.TextParser
	mfs, err := p.TextToMetricFamilies(rr.Body)
	if err != nil {
		t.Fatalf("parse the scrape: %v", err)
	}
	return mfs
}

// value is the sample of family name whose labels are exactly the name=value pairs given.
func value(mfs map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	mf, ok := mfs[name]
	if !ok {
		return 0, false
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
next:
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		for _, lp := range m.GetLabel() {
			if v, ok := want[lp.GetName()]; !ok || v != lp.GetValue() {
				continue next
			}
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func mustValue(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	v, ok := value(mfs, name, labels...)
	if !ok {
		t.Fatalf("no sample %s%v in the scrape", name, labels)
	}
	return v
}

func handler(t *testing.T, src Sources) http.Handler {
	t.Helper()
	h, err := NewHandler(NewCollector(src), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSpoolUnwritable: a spool whose disk fails shows as unwritable and its error counter
// moves; once the disk takes writes again it is writable, and the records count.
func TestSpoolUnwritable(t *testing.T) {
	for _, tc := range []struct {
		policy    acct.Policy
		admitting float64 // while the disk fails
	}{
		{acct.PolicyRefuse, 0},
		{acct.PolicyAnswer, 1},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			fsys := &flakyFS{}
			sp := openSpool(t, fsys, tc.policy)
			h := handler(t, Sources{Spool: sp})
			ctx := context.Background()

			if _, err := sp.Append(ctx, record("s1")); err != nil {
				t.Fatal(err)
			}
			m := scrape(t, h)
			if v := mustValue(t, m, "nas_acct_spool_writable"); v != 1 {
				t.Errorf("healthy spool: nas_acct_spool_writable %v, want 1", v)
			}
			if v := mustValue(t, m, "nas_acct_admitting_calls"); v != 1 {
				t.Errorf("healthy spool: nas_acct_admitting_calls %v, want 1", v)
			}
			if v := mustValue(t, m, "nas_acct_records_appended_total"); v != 1 {
				t.Errorf("nas_acct_records_appended_total %v, want 1", v)
			}
			if v := mustValue(t, m, "nas_acct_append_errors_total"); v != 0 {
				t.Errorf("healthy spool: nas_acct_append_errors_total %v, want 0", v)
			}
			if v := mustValue(t, m, "nas_acct_open_sessions"); v != 1 {
				t.Errorf("nas_acct_open_sessions %v, want 1 (a Start without a Stop)", v)
			}

			fsys.fail.Store(true)
			_, err := sp.Append(ctx, record("s2"))
			switch tc.policy {
			case acct.PolicyRefuse:
				if !errors.Is(err, acct.ErrSpoolUnavailable) {
					t.Fatalf("append on a full disk: %v, want ErrSpoolUnavailable", err)
				}
			case acct.PolicyAnswer:
				if !errors.Is(err, acct.ErrQueued) {
					t.Fatalf("append on a full disk: %v, want ErrQueued", err)
				}
			}
			m = scrape(t, h)
			if v := mustValue(t, m, "nas_acct_spool_writable"); v != 0 {
				t.Errorf("failing disk: nas_acct_spool_writable %v, want 0", v)
			}
			if v := mustValue(t, m, "nas_acct_append_errors_total"); v < 1 {
				t.Errorf("failing disk: nas_acct_append_errors_total %v, want at least 1", v)
			}
			if v := mustValue(t, m, "nas_acct_admitting_calls"); v != tc.admitting {
				t.Errorf("failing disk: nas_acct_admitting_calls %v, want %v (policy %s)", v, tc.admitting, tc.policy)
			}
			if tc.policy == acct.PolicyAnswer {
				if v := mustValue(t, m, "nas_acct_records_queued"); v != 1 {
					t.Errorf("failing disk: nas_acct_records_queued %v, want 1", v)
				}
			}
			if v := mustValue(t, m, "nas_acct_records_dropped_total"); v != 0 {
				t.Errorf("nas_acct_records_dropped_total %v, want 0", v)
			}

			// The spool probes the disk by itself: once it takes writes, the gauge is back.
			fsys.fail.Store(false)
			waitFor(t, "the spool to recover", func() bool {
				v, _ := value(scrape(t, h), "nas_acct_spool_writable")
				return v == 1
			})
			if _, err := sp.Append(ctx, record("s3")); err != nil {
				t.Fatal(err)
			}
			m = scrape(t, h)
			want := 2.0 // s1 and s3; s2 too under policy answer, written from memory
			if tc.policy == acct.PolicyAnswer {
				want = 3
			}
			if v := mustValue(t, m, "nas_acct_records_appended_total"); v != want {
				t.Errorf("after recovery: nas_acct_records_appended_total %v, want %v", v, want)
			}
			if v := mustValue(t, m, "nas_acct_records_queued"); v != 0 {
				t.Errorf("after recovery: nas_acct_records_queued %v, want 0", v)
			}
		})
	}
}

// refuser refuses records of sessions named "bad" permanently and takes the rest.
type refuser struct{}

func (refuser) Name() string { return "billing" }
func (refuser) Deliver(_ context.Context, rec acct.Record) error {
	if strings.HasPrefix(rec.SessionID, "bad") {
		return acct.Permanent(fmt.Errorf("session %s refused", rec.SessionID))
	}
	return nil
}

// TestDestinations: each destination's lag, failures and dead letters carry its name.
func TestDestinations(t *testing.T) {
	sp := openSpool(t, acct.OSFS{}, acct.PolicyRefuse, "billing", "radius")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- sp.RunDelivery(ctx, []acct.Destination{refuser{}}, acct.DeliveryOptions{MinBackoff: time.Millisecond})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("delivery: %v", err)
		}
	})
	for _, id := range []string{"ok1", "bad1", "ok2"} {
		if _, err := sp.Append(ctx, record(id)); err != nil {
			t.Fatal(err)
		}
	}
	h := handler(t, Sources{Spool: sp})
	waitFor(t, "billing to take every record", func() bool {
		v, _ := value(scrape(t, h), "nas_acct_destination_lag_records", "destination", "billing")
		return v == 0
	})
	m := scrape(t, h)
	for _, c := range []struct {
		name, dest string
		want       float64
	}{
		{"nas_acct_destination_delivered_total", "billing", 2},
		{"nas_acct_dead_lettered_total", "billing", 1},
		{"nas_acct_destination_failures_total", "billing", 1},
		{"nas_acct_destination_consecutive_failures", "billing", 0},
		{"nas_acct_destination_running", "billing", 1},
		// radius is registered but nothing delivers to it: everything waits.
		{"nas_acct_destination_lag_records", "radius", 3},
		{"nas_acct_destination_delivered_total", "radius", 0},
		{"nas_acct_destination_running", "radius", 0},
	} {
		if v := mustValue(t, m, c.name, "destination", c.dest); v != c.want {
			t.Errorf("%s{destination=%q} = %v, want %v", c.name, c.dest, v, c.want)
		}
	}
}

type fakeSessions []session.SessionInfo

func (f fakeSessions) Sessions() []session.SessionInfo { return f }

type fakeRADIUS []radius.ServerStatus

func (f fakeRADIUS) Status() []radius.ServerStatus { return f }

func TestLinesSessionsRADIUS(t *testing.T) {
	tb, err := lines.NewTable([]lines.LineDef{{Num: 1, Port: "sim:1"}, {Num: 2, Port: "sim:2"}, {Num: 3, Port: "sim:3"}, {Num: 4, Port: "sim:4"}})
	if err != nil {
		t.Fatal(err)
	}
	// Lines start down, until their ports open. Line 3 stays there.
	for _, step := range []struct {
		line  int
		state lines.State
	}{
		{1, lines.Resetting}, {1, lines.Idle},
		{2, lines.Resetting}, {2, lines.Idle}, {2, lines.Ringing},
		{4, lines.Resetting},
	} {
		if err := tb.SetState(step.line, step.state, "test"); err != nil {
			t.Fatal(err)
		}
	}
	h := handler(t, Sources{
		Lines: tb,
		Sessions: fakeSessions{
			{SessionID: "a", Line: 1, Protocol: session.ProtoPPP},
			{SessionID: "b", Line: 2, Protocol: session.ProtoPPP},
			{SessionID: "c", Line: 4, Protocol: session.ProtoExec},
		},
		RADIUS: fakeRADIUS{
			{Server: "192.0.2.1:1812", Port: "auth", Dead: true, DeadSince: t0},
			{Server: "192.0.2.2:1812", Port: "auth", InFlight: 2},
			{Server: "192.0.2.1:1813", Port: "acct"},
		},
	})
	m := scrape(t, h)

	var states []string
	total := 0.0
	for _, mt := range m["nas_lines"].GetMetric() {
		states = append(states, mt.GetLabel()[0].GetValue())
		total += mt.GetGauge().GetValue()
	}
	sort.Strings(states)
	if want := "connected dialling down idle in-use reserved resetting ringing"; strings.Join(states, " ") != want {
		t.Errorf("nas_lines states %v, want every state: %s", states, want)
	}
	if total != 4 {
		t.Errorf("nas_lines sums to %v, want the 4 lines", total)
	}
	for state, want := range map[string]float64{"idle": 1, "ringing": 1, "down": 1, "resetting": 1, "in-use": 0} {
		if v := mustValue(t, m, "nas_lines", "state", state); v != want {
			t.Errorf("nas_lines{state=%q} = %v, want %v", state, v, want)
		}
	}
	for proto, want := range map[string]float64{"ppp": 2, "exec": 1, "arap": 0} {
		if v := mustValue(t, m, "nas_sessions", "protocol", proto); v != want {
			t.Errorf("nas_sessions{protocol=%q} = %v, want %v", proto, v, want)
		}
	}
	for _, c := range []struct {
		name, server, port string
		want               float64
	}{
		{"nas_radius_server_up", "192.0.2.1:1812", "auth", 0},
		{"nas_radius_server_up", "192.0.2.2:1812", "auth", 1},
		{"nas_radius_server_up", "192.0.2.1:1813", "acct", 1},
		{"nas_radius_requests_in_flight", "192.0.2.2:1812", "auth", 2},
	} {
		if v := mustValue(t, m, c.name, "server", c.server, "port", c.port); v != c.want {
			t.Errorf("%s{server=%q,port=%q} = %v, want %v", c.name, c.server, c.port, v, c.want)
		}
	}
	if _, ok := m["nas_acct_spool_writable"]; ok {
		t.Error("spool metrics without a spool")
	}
}

// A nil *radius.Client (no RADIUS group configured) is no source: a scrape must not panic.
func TestTypedNilSourcesLeftOut(t *testing.T) {
	var rc *radius.Client
	var sp *acct.Spool
	var tb *lines.Table
	var srv *session.Server
	m := scrape(t, handler(t, Sources{Spool: sp, Lines: tb, Sessions: srv, RADIUS: rc}))
	for name := range m {
		if strings.HasPrefix(name, "nas_") {
			t.Errorf("%s reported without a source", name)
		}
	}
	if _, ok := m["process_open_fds"]; !ok && isLinux() {
		t.Error("no process metrics")
	}
}

func isLinux() bool {
	_, err := os.Stat("/proc/self/stat")
	return err == nil
}

// TestCollectorConsistent runs the collector through a pedantic registry, which checks that
// every metric collected was described, with the labels described, and no sample repeats.
func TestCollectorConsistent(t *testing.T) {
	sp := openSpool(t, acct.OSFS{}, acct.PolicyRefuse, "radius", "tacacs")
	if _, err := sp.Append(context.Background(), record("s1")); err != nil {
		t.Fatal(err)
	}
	tb, err := lines.NewTable([]lines.LineDef{{Num: 1, Port: "sim:1"}})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(NewCollector(Sources{
		Spool: sp, Lines: tb,
		Sessions: fakeSessions{{SessionID: "a", Protocol: session.ProtoARAP}},
		RADIUS:   fakeRADIUS{{Server: "192.0.2.1:1812", Port: "auth"}},
	})); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		got[mf.GetName()] = true
	}
	for _, d := range allDescs {
		// Desc has no accessor for its name; its String starts `Desc{fqName: "NAME", ...`.
		name, _, _ := strings.Cut(strings.TrimPrefix(d.String(), `Desc{fqName: "`), `"`)
		if !got[name] {
			t.Errorf("%s described but not collected with every source present", name)
		}
	}
}
