//go:build linux

package e2e

// End-to-end test of accounting that loses nothing: FreeRADIUS is down while simulated calls
// make well over 10,000 accounting records, the NAS is killed with SIGKILL part-way and
// started again, then FreeRADIUS (Debian's freeradius 3.2) starts and must end up with every
// Start and Stop in its detail file.
//
// The design. The NAS is the real binary (`go build ./cmd/nas`) running `nas serve`, so that
// SIGKILL hits a separate process and the restart goes through the same wiring an operator
// runs: spool, Recover, RunDelivery to the RADIUS client, an exporter. Its lines are sim lines
// on its own simulated exchange; `pstn.expose` puts one caller subscriber per line on a host
// pty (a symbolic link the test opens), and the test drives those callers' modems through the
// ptys with the ordinary caller package — one caller per line, each calling its line again and
// again with a user name of its own per call, logging in, and logging out. The callers are
// the witnesses the NAS cannot fake: a caller that saw the prompt proves a Start was durable
// (it is appended before the prompt), and a caller whose logout ended in a hang-up proves a
// User-Request Stop was (it is appended before the hang-up).
//
// What is checked, at the end, against FreeRADIUS's detail file, `nas acct export` (csv,
// jsonl, detail) and the exporter's files:
//   - the spool holds exactly one Start and one Stop per session and no Stop without its Start;
//   - every spool record is in the detail file; a (Acct-Session-Id, status type) appears more
//     than once only as a re-send of the same record (identical but for Acct-Delay-Time);
//   - every login a caller saw has its Start, every logout a caller saw its User-Request Stop;
//   - sessions open at the kill got a NAS-Reboot Stop, and only those;
//   - the detail export carries the same attribute values as FreeRADIUS wrote, the csv and
//     jsonl exports the same records, and the exporter every record.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dialback/nas/aaa/acct"
	"github.com/dialback/nas/lines/modem"
	"github.com/dialback/nas/lines/serial"
	"github.com/dialback/nas/session/caller"
	"github.com/dialback/nas/test/e2e/peer"
)

const (
	acctLines     = 96               // lines, one caller each
	acctLogins    = 5200             // logins to make (each a Start and a Stop): more than 10,000 records
	acctKillAfter = 2000             // logins before the SIGKILL
	acctGuard     = 90 * time.Second // bounds every phase; only fires when something is broken
)

// acctNASBinary builds cmd/nas into a temporary directory.
func acctNASBinary(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "nas")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/nas")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/nas: %v\n%s", err, out)
	}
	return bin
}

// acctUser is the user name of caller c's k-th call.
func acctUser(c, k int) string { return fmt.Sprintf("c%02dk%04d", c, k) }

// acctNASConfig is the NAS's configuration: sim lines, one exposed caller per line, a user per
// call, RADIUS accounting to a server that is not there yet, and a jsonl exporter.
func acctNASConfig(dir string, acctPort, perCaller int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `hostname: nas-e2e
log: {level: warn}
# nas serve runs as root in the host namespace here: no TUN, no routes touched.
dataplane: {enabled: false}
lines:
  - lines: 1-%d
    port: "sim:5551{n}"
    login: local
    flush-at-activation: false
    modem: {init: "AT&F E0 V1 X4 S0=0 &C1 &D2 +VCID=1", answer-rings: 2}
pstn:
  ring-period: 20ms
  no-answer-rings: 100
  expose:
`, acctLines)
	for c := 1; c <= acctLines; c++ {
		fmt.Fprintf(&b, "    - {number: \"6661%d\", link: %s}\n", c, filepath.Join(dir, fmt.Sprintf("caller%d", c)))
	}
	fmt.Fprintf(&b, `radius:
  nas-identifier: nas-e2e
  servers: [{address: 127.0.0.1, acct-port: %d, secret: %s, timeout: 2s, retransmits: 0}]
accounting:
  spool: %s
  methods: [radius]
  exporters: [{name: e2e, format: jsonl, dir: %s}]
users:
`, acctPort, frSecret, filepath.Join(dir, "spool"), filepath.Join(dir, "export"))
	for c := 1; c <= acctLines; c++ {
		for k := 1; k <= perCaller; k++ {
			fmt.Fprintf(&b, "  - {name: %s, password: pw}\n", acctUser(c, k))
		}
	}
	return b.String()
}

// acctStartNAS runs `nas serve` with its output appended to logFile, killed when the test ends.
func acctStartNAS(t *testing.T, bin, cfg, logFile string) *proc {
	t.Helper()
	lf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lf.Close() }) // after the process is gone
	cmd := exec.Command(bin, "serve", "--config", cfg)
	cmd.Stdout, cmd.Stderr = lf, lf
	return startProc(t, cmd)
}

// acctCallLog is what the callers saw, per user.
type acctCallLog struct {
	mu     sync.Mutex
	prompt map[string]int // user -> phase in which the caller saw the EXEC prompt
	logout map[string]int // user -> phase in which the logout ended in the NAS's hang-up
	// unconfirmed holds, per caller, a logout that ended in what looked like a hang-up but
	// could have been the NAS dying (a pty that goes away reads like one): it counts once the
	// caller's next call connects, or once the phase ends with the NAS still running.
	unconfirmed map[int]string
	logins      atomic.Int64
	failed      atomic.Int64
	nextK       []int // per caller, the next call number
	reached     chan struct{}
	goal        int64
	once        sync.Once
}

func (l *acctCallLog) saw(m map[string]int, user string, phase int) {
	l.mu.Lock()
	m[user] = phase
	l.mu.Unlock()
}

// acctRunCallers calls until ctx ends or the log reaches its goal (counting logins).
func acctRunCallers(ctx context.Context, t *testing.T, dir string, phase int, log *acctCallLog) *sync.WaitGroup {
	var wg sync.WaitGroup
	for c := 1; c <= acctLines; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			acctCallerLoop(ctx, t, dir, c, phase, log)
		}()
	}
	return &wg
}

func acctCallerLoop(ctx context.Context, t *testing.T, dir string, c, phase int, log *acctCallLog) {
	link := filepath.Join(dir, fmt.Sprintf("caller%d", c))
	port, err := serial.Open(ctx, link, serial.Mode{Speed: 115200, FlowControl: serial.FlowNone}, nil)
	if err != nil {
		if ctx.Err() == nil {
			t.Errorf("caller %d: open %s: %v", c, link, err)
		}
		return
	}
	defer port.Close()
	cl := caller.NewOnPort(port, fmt.Sprintf("6661%d", c), caller.Options{Modem: modem.Options{
		CommandTimeout: 2 * time.Second, GuardTime: 20 * time.Millisecond, ConnectTimeout: 10 * time.Second,
		RingGap: time.Second, HoldBack: 5 * time.Millisecond, Log: slog.New(slog.DiscardHandler),
	}})
	number := fmt.Sprintf("5551%d", c)
	pending := ""
	defer func() {
		log.mu.Lock()
		log.unconfirmed[c] = pending
		log.mu.Unlock()
	}()
	for ctx.Err() == nil && log.logins.Load() < log.goal {
		log.mu.Lock()
		log.nextK[c]++
		user := acctUser(c, log.nextK[c])
		log.mu.Unlock()
		err := acctOneCall(ctx, cl, number, user, phase, log, func() {
			if pending != "" {
				log.saw(log.logout, pending, phase)
				pending = ""
			}
		})
		if err == nil {
			pending = user
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// A line still coming up, or the NAS gone: not the accounting's business, but
			// counted, and a dead port ends the caller.
			log.failed.Add(1)
			if errors.Is(err, os.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, syscall.EIO) {
				return
			}
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				return
			}
		}
	}
}

// acctOneCall makes one call as user; connected is called once it is up (proof that
// the NAS process, which holds the pty's modem, was alive at the previous hang-up).
func acctOneCall(ctx context.Context, cl *caller.Caller, number, user string, phase int, log *acctCallLog, connected func()) error {
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := cl.Dial(cctx, number); err != nil {
		return err
	}
	connected()
	if err := cl.Login(cctx, user, "pw"); err != nil {
		return err
	}
	if _, err := cl.Expect(cctx, "nas-e2e>"); err != nil {
		return err
	}
	log.saw(log.prompt, user, phase)
	if n := log.logins.Add(1); n >= log.goal {
		log.once.Do(func() { close(log.reached) })
	}
	if err := cl.SendLine("exit"); err != nil {
		return err
	}
	_, err := cl.WaitHangup(cctx)
	return err
}

func acctTail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// acctDetailEntry is one entry of a detail file: attribute -> values, in order.
type acctDetailEntry map[string][]string

func (e acctDetailEntry) get(name string) string {
	if v := e[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// key is (Acct-Session-Id, Acct-Status-Type), as acctRecKey writes it.
func (e acctDetailEntry) key() string {
	id := e.get("Acct-Session-Id")
	if u, err := strconv.Unquote(id); err == nil {
		id = u
	}
	return id + " " + e.get("Acct-Status-Type")
}

// same compares two entries but for what differs between re-sends of one record.
func (e acctDetailEntry) same(o acctDetailEntry) bool {
	strip := func(d acctDetailEntry) string {
		var names []string
		for n := range d {
			if n != "Acct-Delay-Time" && n != "Timestamp" {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		var b strings.Builder
		for _, n := range names {
			fmt.Fprintf(&b, "%s=%q;", n, d[n])
		}
		return b.String()
	}
	return strip(e) == strip(o)
}

// acctReadDetail parses a detail file: a date line, tab-indented "Name = value" lines, a blank
// line. An entry being written at the end (no blank line yet) is left out.
func acctReadDetail(path string) ([]acctDetailEntry, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []acctDetailEntry
	var cur acctDetailEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur != nil {
				out = append(out, cur)
			}
			cur = nil
		case !strings.HasPrefix(line, "\t"):
			cur = acctDetailEntry{}
		case cur != nil:
			name, value, ok := strings.Cut(strings.TrimPrefix(line, "\t"), " = ")
			if !ok {
				return nil, fmt.Errorf("%s: bad line %q", path, line)
			}
			cur[name] = append(cur[name], value)
		}
	}
	return out, sc.Err()
}

func acctSpoolRecords(t *testing.T, dir string) []acct.Record {
	t.Helper()
	var b bytes.Buffer
	if err := acct.ExportDir(dir, &b, acct.FormatJSONL, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	return acctDecodeJSONL(t, b.Bytes())
}

func acctDecodeJSONL(t *testing.T, b []byte) []acct.Record {
	t.Helper()
	var out []acct.Record
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r acct.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("jsonl %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

func acctRecKey(r acct.Record) string { return r.SessionID + " " + r.Type.String() }

func acctRunNAS(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command(bin, append(args, "--output", out)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nas %v: %v\n%s", args, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAccountingSurvivesKill(t *testing.T) {
	if testing.Short() && !peer.Required() {
		t.Skip("-short: the accounting end-to-end test runs for about half a minute")
	}
	if _, err := exec.LookPath("freeradius"); err != nil {
		peer.Missing(t, "FreeRADIUS not installed (apt-get install freeradius)")
	}
	began := time.Now()
	bin := acctNASBinary(t)
	t.Logf("built nas in %v", time.Since(began).Round(time.Millisecond))
	dir := t.TempDir()
	if keep := os.Getenv("NAS_E2E_KEEP"); keep != "" {
		dir = keep // for a post-mortem
	}
	acctPort := freeUDPPort(t)
	perCaller := 2*acctLogins/acctLines + 50
	cfgPath := filepath.Join(dir, "nas.yaml")
	if err := os.WriteFile(cfgPath, []byte(acctNASConfig(dir, acctPort, perCaller)), 0o600); err != nil {
		t.Fatal(err)
	}
	nasLog := filepath.Join(dir, "nas.log")
	defer func() {
		if t.Failed() {
			b, _ := os.ReadFile(nasLog)
			t.Logf("nas log (tail):\n%s", acctTail(string(b), 6000))
		}
	}()
	log := &acctCallLog{prompt: map[string]int{}, logout: map[string]int{}, unconfirmed: map[int]string{},
		nextK: make([]int, acctLines+1)}

	// Phase 1: FreeRADIUS down; calls until acctKillAfter logins, then SIGKILL mid-traffic.
	nas1 := acctStartNAS(t, bin, cfgPath, nasLog)
	acctWaitLinks(t, dir, nil)
	log.goal, log.reached = acctKillAfter, make(chan struct{})
	ctx1, stop1 := context.WithCancel(context.Background())
	phase1 := time.Now()
	wg := acctRunCallers(ctx1, t, dir, 1, log)
	select {
	case <-log.reached:
	case <-nas1.exited:
		t.Fatalf("nas exited during phase 1: %v", nas1.err)
	case <-time.After(acctGuard):
		t.Fatalf("phase 1: %d logins in %v", log.logins.Load(), acctGuard)
	}
	t.Logf("nas CPU so far: %s", acctProcCPU(nas1.cmd.Process.Pid))
	if err := nas1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-nas1.exited
	killed := time.Now()
	stop1()
	wg.Wait()
	clear(log.unconfirmed) // the kill, or a hang-up just before it: no evidence either way
	phase1Logins := log.logins.Load()
	t.Logf("phase 1: %d logins in %v, then SIGKILL", phase1Logins, killed.Sub(phase1).Round(time.Millisecond))

	// Phase 2: the NAS again (Recover closes what the kill left open); FreeRADIUS comes up
	// while the calls go on.
	before := acctLinkInodes(dir)
	nas2 := acctStartNAS(t, bin, cfgPath, nasLog)
	acctWaitLinks(t, dir, before)
	log.mu.Lock()
	log.goal, log.reached, log.once = acctLogins, make(chan struct{}), sync.Once{}
	log.mu.Unlock()
	ctx2, stop2 := context.WithCancel(context.Background())
	phase2 := time.Now()
	wg = acctRunCallers(ctx2, t, dir, 2, log)
	// The server docker-compose runs, from the same files (freeradius/), on the port the NAS
	// was configured with before it came up.
	fr := startFreeRADIUSOn(t, freeUDPPort(t), acctPort)
	detailPath := filepath.Join(fr.state, "detail")
	frUp := time.Now()
	select {
	case <-log.reached:
	case <-nas2.exited:
		t.Fatalf("nas exited during phase 2: %v", nas2.err)
	case <-time.After(acctGuard):
		t.Fatalf("phase 2: %d logins in all", log.logins.Load())
	}
	wg.Wait() // callers stop at the goal, finishing their calls
	stop2()
	select {
	case <-nas2.exited:
		t.Fatalf("nas exited during phase 2: %v", nas2.err)
	default:
		// Alive after every caller's last hang-up: those hang-ups were the NAS's.
		for _, user := range log.unconfirmed {
			if user != "" {
				log.saw(log.logout, user, 2)
			}
		}
	}
	callsDone := time.Now()
	t.Logf("phase 2: %d logins in %v; %d failed call attempts in all (lines coming up, the kill)",
		log.logins.Load()-phase1Logins, callsDone.Sub(phase2).Round(time.Millisecond), log.failed.Load())

	// Delivery: wait until FreeRADIUS has every record of the spool.
	spoolDir := filepath.Join(dir, "spool")
	var (
		entries []acctDetailEntry
		recs    []acct.Record
		err     error
	)
	deadline := time.Now().Add(acctGuard)
	for {
		recs = acctSpoolRecords(t, spoolDir)
		if entries, err = acctReadDetail(detailPath); err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, e := range entries {
			have[e.key()] = true
		}
		missing := 0
		for _, r := range recs {
			if !have[acctRecKey(r)] {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("FreeRADIUS still lacks %d of %d records", missing, len(recs))
		}
		time.Sleep(200 * time.Millisecond)
	}
	delivered := time.Now()
	t.Logf("FreeRADIUS has all %d records %v after it started (%v after the last call)", len(recs),
		delivered.Sub(frUp).Round(time.Millisecond), delivered.Sub(callsDone).Round(time.Millisecond))

	// A clean stop, then every check on the spool at rest.
	if err := nas2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-nas2.exited:
		if nas2.err != nil {
			t.Errorf("nas serve after SIGTERM: %v", nas2.err)
		}
	case <-time.After(acctGuard):
		t.Fatal("nas serve did not stop after SIGTERM")
	}
	if entries, err = acctReadDetail(detailPath); err != nil {
		t.Fatal(err)
	}
	recs = acctDecodeJSONL(t, acctRunNAS(t, bin, "acct", "export", "--format", "jsonl", "--config", cfgPath))
	acctCheckSpool(t, recs, log, killed)
	acctCheckDetail(t, recs, entries)
	acctCheckExports(t, bin, spoolDir, recs, entries, filepath.Join(dir, "export"))
	t.Logf("records: %d in the spool, %d entries in FreeRADIUS's detail file; whole test %v",
		len(recs), len(entries), time.Since(began).Round(time.Millisecond))
}

// acctWaitLinks waits until every caller link has been made again since before (the new pty
// may well have the old one's name) and points at a pty.
func acctWaitLinks(t *testing.T, dir string, before map[int]uint64) {
	t.Helper()
	deadline := time.Now().Add(acctGuard)
	for c := 1; c <= acctLines; c++ {
		for {
			link := filepath.Join(dir, fmt.Sprintf("caller%d", c))
			if fi, err := os.Lstat(link); err == nil && fi.Sys().(*syscall.Stat_t).Ino != before[c] {
				if _, err := os.Stat(link); err == nil {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("caller %d's pty link never appeared", c)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// acctLinkInodes identifies the links as they are now.
func acctLinkInodes(dir string) map[int]uint64 {
	out := map[int]uint64{}
	for c := 1; c <= acctLines; c++ {
		if fi, err := os.Lstat(filepath.Join(dir, fmt.Sprintf("caller%d", c))); err == nil {
			out[c] = fi.Sys().(*syscall.Stat_t).Ino
		}
	}
	return out
}

// acctCheckSpool: one Start and one Stop per session, Stop after Start, the callers' evidence,
// and NAS-Reboot for exactly the sessions the kill left open.
func acctCheckSpool(t *testing.T, recs []acct.Record, log *acctCallLog, killed time.Time) {
	t.Helper()
	type sess struct{ start, stop *acct.Record }
	byID := map[string]*sess{}
	byUser := map[string]*sess{}
	var order []string
	for i := range recs {
		r := &recs[i]
		s := byID[r.SessionID]
		if s == nil {
			s = &sess{}
			byID[r.SessionID] = s
			order = append(order, r.SessionID)
		}
		switch r.Type {
		case acct.Start:
			if s.start != nil {
				t.Errorf("session %s: two Starts", r.SessionID)
			}
			if s.stop != nil {
				t.Errorf("session %s: Start after its Stop", r.SessionID)
			}
			s.start = r
			if prev := byUser[r.User]; prev != nil {
				t.Errorf("user %s has two sessions (%s, %s)", r.User, prev.start.SessionID, r.SessionID)
			}
			byUser[r.User] = s
		case acct.Stop:
			if s.stop != nil {
				t.Errorf("session %s: two Stops", r.SessionID)
			}
			s.stop = r
		}
	}
	reboots := 0
	for _, id := range order {
		s := byID[id]
		switch {
		case s.start == nil:
			t.Errorf("session %s: Stop without a Start", id)
			continue
		case s.stop == nil:
			t.Errorf("session %s (%s): Start without a Stop", id, s.start.User)
			continue
		}
		if s.stop.Cause == acct.CauseNASReboot {
			reboots++
			// Only a session the kill interrupted: started before it, never logged out.
			if !s.start.Time.Before(killed) {
				t.Errorf("session %s (%s) started after the kill and got a NAS-Reboot Stop", id, s.start.User)
			}
			if _, out := log.logout[s.start.User]; out {
				t.Errorf("session %s (%s) logged out yet got a NAS-Reboot Stop", id, s.start.User)
			}
		}
	}
	if reboots == 0 {
		t.Errorf("no NAS-Reboot Stop: no session was open at the kill")
	}
	for user, phase := range log.prompt {
		s := byUser[user]
		if s == nil {
			t.Errorf("caller saw %s's prompt (phase %d) but the spool has no Start", user, phase)
			continue
		}
		if _, out := log.logout[user]; out && (s.stop == nil || s.stop.Cause != acct.CauseUserRequest) {
			t.Errorf("caller saw %s log out but the Stop is %+v", user, s.stop)
		}
	}
	if n := len(recs); n < 10000 {
		t.Errorf("only %d records", n)
	}
	t.Logf("%d sessions: %d logins and %d logouts seen by the callers, %d NAS-Reboot Stops",
		len(byID), len(log.prompt), len(log.logout), reboots)
}

// acctCheckDetail: FreeRADIUS has every record, and nothing else; repeats only as re-sends.
func acctCheckDetail(t *testing.T, recs []acct.Record, entries []acctDetailEntry) {
	t.Helper()
	want := map[string]bool{}
	for _, r := range recs {
		want[acctRecKey(r)] = true
	}
	first := map[string]acctDetailEntry{}
	resends := 0
	for _, e := range entries {
		k := e.key()
		if !want[k] {
			t.Errorf("FreeRADIUS has %s, which the spool does not", k)
			continue
		}
		if f, ok := first[k]; ok {
			resends++
			if !f.same(e) {
				t.Errorf("%s twice with different contents:\n%v\n%v", k, f, e)
			}
			continue
		}
		first[k] = e
	}
	for k := range want {
		if _, ok := first[k]; !ok {
			t.Errorf("FreeRADIUS lacks %s", k)
		}
	}
	t.Logf("detail file: %d distinct records, %d re-sends", len(first), resends)
}

// acctCheckExports: `nas acct export` in detail and csv agrees with the spool and with what
// FreeRADIUS wrote; the exporter wrote every record.
func acctCheckExports(t *testing.T, bin, spool string, recs []acct.Record, entries []acctDetailEntry, exportDir string) {
	t.Helper()
	fr := map[string]acctDetailEntry{}
	for _, e := range entries {
		fr[e.key()] = e
	}
	ours, err := acctParseDetail(acctRunNAS(t, bin, "acct", "export", "--format", "detail", "--spool", spool))
	if err != nil {
		t.Fatal(err)
	}
	if len(ours) != len(recs) {
		t.Errorf("detail export has %d entries, the spool %d records", len(ours), len(recs))
	}
	mismatches := 0
	for i, e := range ours {
		if i < len(recs) && e.key() != acctRecKey(recs[i]) {
			t.Fatalf("detail export entry %d is %s, spool record %s", i, e.key(), acctRecKey(recs[i]))
		}
		f := fr[e.key()]
		for name, vals := range e {
			// Timestamp is the event time here and the reception time there.
			if name == "Timestamp" {
				continue
			}
			if strings.Join(f[name], "|") != strings.Join(vals, "|") {
				if mismatches++; mismatches <= 10 {
					t.Errorf("%s: %s = %q in the export, %q in FreeRADIUS's detail", e.key(), name, vals, f[name])
				}
			}
		}
	}
	rows, err := csv.NewReader(bytes.NewReader(acctRunNAS(t, bin, "acct", "export", "--format", "csv", "--spool", spool))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(recs)+1 {
		t.Errorf("csv export: %d rows for %d records", len(rows)-1, len(recs))
	}
	for i := 1; i < len(rows) && i <= len(recs); i++ {
		r := recs[i-1]
		if rows[i][0] != strconv.FormatUint(r.Seq, 10) || rows[i][3] != r.SessionID || rows[i][1] != r.Type.String() {
			t.Fatalf("csv row %d %v, spool record %+v", i, rows[i], r)
		}
	}
	// The exporter: every record, re-sends only as identical lines.
	files, _ := filepath.Glob(filepath.Join(exportDir, "*.jsonl"))
	seen := map[uint64]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var r acct.Record
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if prev, ok := seen[r.Seq]; ok && prev != line {
				t.Errorf("exporter wrote seq %d twice, differently", r.Seq)
			}
			seen[r.Seq] = line
		}
	}
	for _, r := range recs {
		if _, ok := seen[r.Seq]; !ok {
			t.Errorf("exporter lacks seq %d (%s)", r.Seq, acctRecKey(r))
			break
		}
	}
}

func acctParseDetail(b []byte) ([]acctDetailEntry, error) {
	f, err := os.CreateTemp("", "detail")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, err
	}
	f.Close()
	return acctReadDetail(f.Name())
}

func acctProcCPU(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return err.Error()
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	u, _ := strconv.Atoi(f[11])
	s, _ := strconv.Atoi(f[12])
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return fmt.Sprintf("nas user %.1fs sys %.1fs; test user %.1fs sys %.1fs", float64(u)/100, float64(s)/100,
		time.Duration(ru.Utime.Nano()).Seconds(), time.Duration(ru.Stime.Nano()).Seconds())
}
