//go:build linux

package e2e

// End-to-end test of live sessions of `nas serve` against FreeRADIUS 3.2 (the configuration in
// freeradius/) and FreeRADIUS's own radclient: the accounting of a real call and of a real
// EXEC callback in FreeRADIUS's detail file, and RFC 5176 Disconnect and CoA acting on live
// sessions.
//
// The NAS is the real binary running `nas serve` (the wiring an operator runs: the RADIUS
// method list, the accounting spool delivering to FreeRADIUS, the dynamic-author listener).
// Its two sim lines answer 5551001 and 5551002; `pstn.expose` puts two subscribers of its
// simulated exchange on host ptys, and the test drives those subscribers' modems with the
// caller package: dave (an EXEC user, no callback) and cbnumber (Service-Type
// Callback-Login-User with Callback-Number 5552002: called back at its own number on the line
// it called). Every login goes through FreeRADIUS; every Acct-Session-Id the test acts on is
// read from FreeRADIUS's detail file, as an operator would take it from accounting.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dialback/nas/lines/modem"
	"github.com/dialback/nas/lines/serial"
	"github.com/dialback/nas/session/caller"
	"github.com/dialback/nas/test/e2e/peer"
)

// daSecret is the secret radclient shares with the NAS's dynamic-author listener.
const daSecret = "e2e-coa-secret"

// daCoATimeout is the Session-Timeout the CoA sets, in seconds.
const daCoATimeout = 4

func daNASConfig(dir string, fr *freeRADIUS, daPort int) string {
	return fmt.Sprintf(`hostname: nas-e2e
log: {level: debug}
lines:
  - lines: 1-2
    port: "sim:555100{n}"
    login: authentication
    # Caller ID comes between the first and the second RING: answer after the second.
    modem: {init: "AT&F E0 V1 X4 S0=0 &C1 &D2 +VCID=1", answer-rings: 2}
    callback: {forced-wait: 300ms, nodsr-wait: 1s}
    script: {callback: callback}
chat-scripts:
  callback: 'ABORT ERROR ABORT BUSY ABORT "NO ANSWER" ABORT "NO CARRIER" "" "ATZ" OK "ATDT \T" TIMEOUT 30 CONNECT \c'
aaa: {login: [radius]}
radius:
  nas-identifier: nas-e2e
  servers: [{address: 127.0.0.1, auth-port: %d, acct-port: %d, secret: %s, timeout: 2s, retransmits: 1}]
  dynamic-author:
    listen: "127.0.0.1:%d"
    clients: [{address: 127.0.0.1, secret: %s}]
accounting:
  spool: %s
  methods: [radius]
service: {exec-callback: true}
dataplane: {enabled: false} # EXEC only: no TUN interface, no routes on the host
pstn:
  ring-period: 100ms
  expose:
    - {number: "5552004", link: %s}
    - {number: "5552002", link: %s}
`, fr.auth, fr.acct, frSecret, daPort, daSecret, filepath.Join(dir, "spool"),
		filepath.Join(dir, "dave"), filepath.Join(dir, "cbnumber"))
}

// daCaller opens an exposed subscriber's pty (waiting for `nas serve` to make its link) and
// returns a caller driving its modem.
func daCaller(t *testing.T, link, number string) *caller.Caller {
	t.Helper()
	deadline := time.Now().Add(frGuard)
	for {
		if _, err := os.Stat(link); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared: did nas serve start?", link)
		}
		time.Sleep(10 * time.Millisecond)
	}
	port, err := serial.Open(context.Background(), link, serial.Mode{Speed: 115200, FlowControl: serial.FlowNone}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { port.Close() })
	return caller.NewOnPort(port, number, caller.Options{Modem: modem.Options{
		CommandTimeout: 2 * time.Second, GuardTime: 20 * time.Millisecond, ConnectTimeout: 10 * time.Second,
		RingGap: time.Second, HoldBack: 5 * time.Millisecond, Log: frLogger(),
	}})
}

// daDial calls number, again while the NAS's line is still coming up (after a start or a
// hang-up the line resets its modem before it answers).
func daDial(ctx context.Context, t *testing.T, cl *caller.Caller, number string) {
	t.Helper()
	for {
		_, err := cl.Dial(ctx, number)
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("dial %s: %v", number, err)
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// daLogin calls the NAS as user and waits for the EXEC prompt.
func daLogin(ctx context.Context, t *testing.T, cl *caller.Caller, number, user, password string) {
	t.Helper()
	daDial(ctx, t, cl, number)
	if err := cl.Login(ctx, user, password); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Expect(ctx, "nas-e2e>"); err != nil {
		t.Fatalf("%s: no EXEC prompt: %v", user, err)
	}
}

// daWaitEntry polls FreeRADIUS's detail file until an entry satisfies match, and returns it.
func daWaitEntry(t *testing.T, fr *freeRADIUS, what string, match func(acctDetailEntry) bool) acctDetailEntry {
	t.Helper()
	deadline := time.Now().Add(frGuard)
	for {
		entries, err := acctReadDetail(filepath.Join(fr.state, "detail"))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if match(e) {
				return e
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(fr.state, "detail"))
			t.Fatalf("FreeRADIUS's detail file has no %s:\n%s", what, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// daStart waits for a Start of user whose Acct-Session-Id is not in seen, and returns it.
func daStart(t *testing.T, fr *freeRADIUS, user string, seen map[string]bool) acctDetailEntry {
	t.Helper()
	e := daWaitEntry(t, fr, "new Start of "+user, func(e acctDetailEntry) bool {
		return e.get("Acct-Status-Type") == "Start" && e.get("User-Name") == strconv.Quote(user) && !seen[daID(e)]
	})
	seen[daID(e)] = true
	return e
}

// daStop waits for the Stop of the session id.
func daStop(t *testing.T, fr *freeRADIUS, id string) acctDetailEntry {
	t.Helper()
	return daWaitEntry(t, fr, "Stop of "+id, func(e acctDetailEntry) bool {
		return e.get("Acct-Status-Type") == "Stop" && daID(e) == id
	})
}

func daID(e acctDetailEntry) string {
	id, err := strconv.Unquote(e.get("Acct-Session-Id"))
	if err != nil {
		return e.get("Acct-Session-Id")
	}
	return id
}

func daInt(t *testing.T, e acctDetailEntry, name string) int {
	t.Helper()
	n, err := strconv.Atoi(e.get(name))
	if err != nil {
		t.Fatalf("%s = %q in %v", name, e.get(name), e)
	}
	return n
}

// daRadclient sends one request with FreeRADIUS's radclient to the NAS's dynamic-author port
// and returns radclient's output. Every request is signed (Message-Authenticator); the secret
// goes in a file, not on the command line.
func daRadclient(t *testing.T, port int, command string, attrs ...string) string {
	t.Helper()
	bin, err := exec.LookPath("radclient")
	if err != nil {
		peer.Missing(t, "radclient not installed (apt-get install freeradius-utils)")
	}
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(daSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), frGuard)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-x", "-r", "3", "-t", "2", "-S", secretFile, fmt.Sprintf("127.0.0.1:%d", port), command)
	cmd.Stdin = strings.NewReader(strings.Join(append(attrs, "Message-Authenticator = 0x00"), "\n") + "\n")
	out, _ := cmd.CombinedOutput() // a NAK makes radclient exit non-zero: judge by the output
	return string(out)
}

func TestFreeRADIUSLiveSessions(t *testing.T) {
	fr := startFreeRADIUS(t)
	bin := acctNASBinary(t)
	dir := t.TempDir()
	daPort := freeUDPPort(t)
	cfgPath := filepath.Join(dir, "nas.yaml")
	if err := os.WriteFile(cfgPath, []byte(daNASConfig(dir, fr, daPort)), 0o600); err != nil {
		t.Fatal(err)
	}
	nasLog := filepath.Join(dir, "nas.log")
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(nasLog)
			t.Logf("nas log (tail):\n%s", acctTail(string(b), 8000))
		}
	})
	acctStartNAS(t, bin, cfgPath, nasLog)
	dave := daCaller(t, filepath.Join(dir, "dave"), "5552004")
	seen := map[string]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// The accounting of a call: Start and Stop through the RADIUS client into FreeRADIUS.
	// dave's FreeRADIUS entry matches only Service-Type NAS-Prompt-User: that he logs in at
	// all proves the NAS asks for a prompt; the records say the same.
	if !t.Run("disconnect by Acct-Session-Id", func(t *testing.T) {
		daLogin(ctx, t, dave, "5551001", "dave", "dave-secret")
		start := daStart(t, fr, "dave", seen)
		id := daID(start)
		if got := start.get("Service-Type"); got != "NAS-Prompt-User" {
			t.Errorf("Start Service-Type = %q, want NAS-Prompt-User", got)
		}
		if got := start.get("Calling-Station-Id"); got != `"5552004"` {
			t.Errorf("Start Calling-Station-Id = %s, want dave's number from caller ID", got)
		}
		out := daRadclient(t, daPort, "disconnect", fmt.Sprintf("Acct-Session-Id = %q", id), `NAS-Identifier = "nas-e2e"`)
		if !strings.Contains(out, "Received Disconnect-ACK") {
			t.Fatalf("radclient said:\n%s", out)
		}
		if _, err := dave.WaitHangup(ctx); err != nil {
			t.Fatalf("dave's call did not end: %v", err)
		}
		stop := daStop(t, fr, id)
		if got := stop.get("Acct-Terminate-Cause"); got != "Admin-Reset" {
			t.Errorf("Stop Acct-Terminate-Cause = %q, want Admin-Reset", got)
		}
		// The counters: exactly what dave typed came in ("dave\r", "dave-secret\r"; he
		// types nothing before the prompt, so flush-at-activation discards nothing), and at
		// least the prompts went out.
		if in, out := daInt(t, stop, "Acct-Input-Octets"), daInt(t, stop, "Acct-Output-Octets"); in != len("dave\rdave-secret\r") || out < len("Username: Password: nas-e2e>") {
			t.Errorf("Stop counters in %d out %d; want in %d, out at least the prompts", in, out, len("dave\rdave-secret\r"))
		}
		if got := stop.get("Service-Type"); got != "NAS-Prompt-User" {
			t.Errorf("Stop Service-Type = %q, want NAS-Prompt-User", got)
		}
	}) {
		return // a failed step may leave its call up, and the next would trip on it
	}

	if !t.Run("disconnect by User-Name", func(t *testing.T) {
		daLogin(ctx, t, dave, "5551001", "dave", "dave-secret")
		id := daID(daStart(t, fr, "dave", seen))
		out := daRadclient(t, daPort, "disconnect", `User-Name = "dave"`)
		if !strings.Contains(out, "Received Disconnect-ACK") {
			t.Fatalf("radclient said:\n%s", out)
		}
		if _, err := dave.WaitHangup(ctx); err != nil {
			t.Fatalf("dave's call did not end: %v", err)
		}
		if got := daStop(t, fr, id).get("Acct-Terminate-Cause"); got != "Admin-Reset" {
			t.Errorf("Stop Acct-Terminate-Cause = %q, want Admin-Reset", got)
		}
	}) {
		return // a failed step may leave its call up, and the next would trip on it
	}

	// dave has no Session-Timeout of his own (and a 10-minute exec-timeout): a Stop with cause
	// Session-Timeout can only come from the CoA, and it must not come before the new limit.
	if !t.Run("CoA Session-Timeout", func(t *testing.T) {
		daLogin(ctx, t, dave, "5551001", "dave", "dave-secret")
		id := daID(daStart(t, fr, "dave", seen))
		out := daRadclient(t, daPort, "coa", fmt.Sprintf("Acct-Session-Id = %q", id), fmt.Sprintf("Session-Timeout = %d", daCoATimeout))
		if !strings.Contains(out, "Received CoA-ACK") {
			t.Fatalf("radclient said:\n%s", out)
		}
		if _, err := dave.WaitHangup(ctx); err != nil {
			t.Fatalf("dave's call did not end at the new Session-Timeout: %v", err)
		}
		stop := daStop(t, fr, id)
		if got := stop.get("Acct-Terminate-Cause"); got != "Session-Timeout" {
			t.Errorf("Stop Acct-Terminate-Cause = %q, want Session-Timeout", got)
		}
		if st := daInt(t, stop, "Acct-Session-Time"); st < daCoATimeout {
			t.Errorf("Acct-Session-Time = %d: the session ended before the new Session-Timeout %d", st, daCoATimeout)
		}
	}) {
		return // a failed step may leave its call up, and the next would trip on it
	}

	if !t.Run("unknown session", func(t *testing.T) {
		for _, req := range []struct{ command, attr string }{
			{"disconnect", `Acct-Session-Id = "no-such-session"`},
			{"disconnect", `User-Name = "dave"`}, // dave is not logged in now
			{"coa", `Acct-Session-Id = "no-such-session"`},
		} {
			attrs := []string{req.attr}
			if req.command == "coa" {
				attrs = append(attrs, "Session-Timeout = 60")
			}
			out := daRadclient(t, daPort, req.command, attrs...)
			nak := map[string]string{"disconnect": "Received Disconnect-NAK", "coa": "Received CoA-NAK"}[req.command]
			// Error-Cause 503 is Session-Context-Not-Found in FreeRADIUS's dictionary.
			if !strings.Contains(out, nak) || !strings.Contains(out, "Error-Cause = Session-Context-Not-Found") {
				t.Errorf("%s %s: radclient said:\n%s", req.command, req.attr, out)
			}
		}
	}) {
		return // a failed step may leave its call up, and the next would trip on it
	}

	// A normal EXEC callback: the first leg's Stop says Callback, the callback leg's records
	// are linked to it by Acct-Multi-Session-Id, and FreeRADIUS holds what the NAS's spool
	// holds (`nas acct export --format detail`, Service-Type included).
	t.Run("callback legs", func(t *testing.T) {
		cb := daCaller(t, filepath.Join(dir, "cbnumber"), "5552002")
		// The callback leg logs in again (no nocallback-verify) and logs out.
		if _, err := cb.ExecCallback(ctx, "5551002", "cbnumber", "number-secret", "nas-e2e>", true); err != nil {
			t.Fatalf("callback: %v\n%s", err, cb.Transcript())
		}
		if err := cb.SendLine("exit"); err != nil {
			t.Fatal(err)
		}
		if _, err := cb.WaitHangup(ctx); err != nil {
			t.Fatal(err)
		}
		first := daStart(t, fr, "cbnumber", seen)
		firstID := daID(first)
		second := daStart(t, fr, "cbnumber", seen)
		secondID := daID(second)
		if secondID == firstID {
			t.Fatalf("both legs have Acct-Session-Id %q", firstID)
		}
		firstStop, secondStop := daStop(t, fr, firstID), daStop(t, fr, secondID)
		if got := firstStop.get("Acct-Terminate-Cause"); got != "Callback" {
			t.Errorf("first leg's Stop Acct-Terminate-Cause = %q, want Callback", got)
		}
		if got := secondStop.get("Acct-Terminate-Cause"); got != "User-Request" {
			t.Errorf("callback leg's Stop Acct-Terminate-Cause = %q, want User-Request", got)
		}
		for name, e := range map[string]acctDetailEntry{"Start": second, "Stop": secondStop} {
			if got := e.get("Acct-Multi-Session-Id"); got != strconv.Quote(firstID) {
				t.Errorf("callback leg's %s Acct-Multi-Session-Id = %s, want the first leg's Acct-Session-Id %q", name, got, firstID)
			}
		}
		// Each leg counts what was typed on it: the login, and on the callback leg "exit".
		for _, leg := range []struct {
			name  string
			stop  acctDetailEntry
			typed string
		}{{"first", firstStop, "cbnumber\rnumber-secret\r"}, {"callback", secondStop, "cbnumber\rnumber-secret\rexit\r"}} {
			if in := daInt(t, leg.stop, "Acct-Input-Octets"); in != len(leg.typed) {
				t.Errorf("%s leg's Stop Acct-Input-Octets = %d, want %d (%q)", leg.name, in, len(leg.typed), leg.typed)
			}
			if out := daInt(t, leg.stop, "Acct-Output-Octets"); out < len("Username: Password: ") {
				t.Errorf("%s leg's Stop Acct-Output-Octets = %d, fewer than the prompts", leg.name, out)
			}
		}

		ours, err := acctParseDetail(acctRunNAS(t, bin, "acct", "export", "--format", "detail", "--spool", filepath.Join(dir, "spool")))
		if err != nil {
			t.Fatal(err)
		}
		fromFR := map[string]acctDetailEntry{}
		for _, e := range []acctDetailEntry{first, firstStop, second, secondStop} {
			fromFR[e.key()] = e
		}
		compared := 0
		for _, e := range ours {
			f, ok := fromFR[e.key()]
			if !ok {
				continue
			}
			compared++
			for name, vals := range e {
				if name == "Timestamp" { // the event time here, the reception time there
					continue
				}
				if strings.Join(f[name], "|") != strings.Join(vals, "|") {
					t.Errorf("%s: %s = %q in `nas acct export`, %q in FreeRADIUS's detail file", e.key(), name, vals, f[name])
				}
			}
		}
		if compared != len(fromFR) {
			t.Errorf("`nas acct export` has %d of the callback's %d records", compared, len(fromFR))
		}
	})
}
