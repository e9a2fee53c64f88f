//go:build linux

package e2e

// End-to-end tests of the NAS's RADIUS client against FreeRADIUS 3.2 (Debian's `freeradius`),
// run from the configuration in freeradius/ — the same files docker-compose.yml mounts into
// the official freeradius/freeradius-server:3.2 image. Nothing is copied or rewritten: the
// configuration takes its directory, ports and the NAS's address from the environment
// ($ENV{...} in radiusd.conf), and the test runs
//
//	freeradius -f -d test/e2e/freeradius -l stdout
//
// with RADDB, RADIUS_STATE (a temporary directory: pid file and the accounting detail file),
// RADIUS_ADDR=127.0.0.1, free AUTH_PORT/ACCT_PORT and NAS_CLIENT=127.0.0.1. FreeRADIUS 3.2.1
// is ready in well under a second.
//
// The client's own accounting is tested below; the accounting of live sessions of `nas serve`
// (a call, an EXEC callback's two legs) in the detail file, and radclient's Disconnect and CoA
// acting on live sessions, are in dynauth_test.go.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"layeh.com/radius/rfc2759"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/acct"
	"github.com/dialback/nas/aaa/radius"
	"github.com/dialback/nas/cmd/nas/lab"
	"github.com/dialback/nas/config"
	"github.com/dialback/nas/test/e2e/peer"
)

// frSecret is the NAS's secret in freeradius/radiusd.conf (client nas).
const frSecret = "nas-radius-secret"

// frGuard bounds every wait on FreeRADIUS; it only fires when something is broken.
const frGuard = 10 * time.Second

// freeRADIUS is a running server of the test.
type freeRADIUS struct {
	auth, acct int
	state      string        // RADIUS_STATE: holds the detail file
	log        *lockedBuffer // its output, for failure reports
}

// startFreeRADIUS runs freeradius from freeradius/ on loopback until the test ends.
func startFreeRADIUS(t testing.TB) *freeRADIUS {
	t.Helper()
	return startFreeRADIUSOn(t, freeUDPPort(t), freeUDPPort(t))
}

// startFreeRADIUSOn is startFreeRADIUS on ports chosen beforehand, for a NAS configured
// before the server comes up.
func startFreeRADIUSOn(t testing.TB, authPort, acctPort int) *freeRADIUS {
	t.Helper()
	bin, err := exec.LookPath("freeradius")
	if err != nil {
		if bin, err = exec.LookPath("radiusd"); err != nil {
			peer.Missing(t, "FreeRADIUS not installed (apt-get install freeradius)")
		}
	}
	dir, err := filepath.Abs("freeradius")
	if err != nil {
		t.Fatal(err)
	}
	s := &freeRADIUS{auth: authPort, acct: acctPort, state: t.TempDir(), log: &lockedBuffer{}}
	cmd := exec.Command(bin, "-f", "-d", dir, "-l", "stdout")
	cmd.Env = append(os.Environ(),
		// TZ: the detail file writes Event-Timestamp in the server's zone; the NAS's detail
		// export writes UTC, and the tests compare the two.
		"TZ=UTC", "RADDB="+dir, "RADIUS_STATE="+s.state, "RADIUS_ADDR=127.0.0.1", "NAS_CLIENT=127.0.0.1",
		fmt.Sprintf("AUTH_PORT=%d", s.auth), fmt.Sprintf("ACCT_PORT=%d", s.acct))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			fmt.Fprintln(s.log, sc.Text())
			if !ok && strings.Contains(sc.Text(), "Ready to process requests") {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-readerDone
		cmd.Wait()
		if t.Failed() {
			t.Logf("freeradius output:\n%s", s.log)
		}
	})
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("freeradius exited before it was ready:\n%s", s.log)
		}
	case <-time.After(frGuard):
		t.Fatalf("freeradius not ready after %v:\n%s", frGuard, s.log)
	}
	return s
}

func (s *freeRADIUS) server() radius.Server {
	return radius.Server{Address: "127.0.0.1", AuthPort: s.auth, AcctPort: s.acct, Secret: frSecret, Timeout: 2 * time.Second, Retransmits: 1}
}

func frLogger() *slog.Logger {
	if os.Getenv("RADIUS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func frClient(t testing.TB, cfg radius.Config) *radius.Client {
	t.Helper()
	cfg.Logger = frLogger()
	if cfg.NASIdentifier == "" {
		cfg.NASIdentifier = "nas-e2e"
	}
	c, err := radius.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func frCHAP(id byte, password string) *aaa.CHAP {
	challenge := []byte("sixteen octets!!")
	r := aaa.CHAPMD5Response(id, password, challenge)
	return &aaa.CHAP{ID: id, Challenge: challenge, Response: r[:]}
}

// frMSCHAPv2 builds what a PPP peer sends for MS-CHAPv2 (RFC 2759 §4) and the authenticator
// response a correct server must compute.
func frMSCHAPv2(t *testing.T, user, password string) (*aaa.CHAP, string) {
	t.Helper()
	challenge := []byte("authenticator-ch")
	peerChallenge := []byte("peer-challenge!!")
	nt, err := rfc2759.GenerateNTResponse(challenge, peerChallenge, []byte(user), []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	want, err := rfc2759.GenerateAuthenticatorResponse(challenge, peerChallenge, nt, []byte(user), []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	resp := append(append(append([]byte{}, peerChallenge...), make([]byte, 8)...), nt...)
	return &aaa.CHAP{Type: aaa.CHAPMSv2, ID: 9, Challenge: challenge, Response: append(resp, 0)}, want
}

type frPrompter struct{ answers, shown []string }

func (p *frPrompter) Prompt(_ context.Context, text string, _ bool) (string, error) {
	p.shown = append(p.shown, text)
	if len(p.answers) == 0 {
		return "", errors.New("no more answers")
	}
	a := p.answers[0]
	p.answers = p.answers[1:]
	return a, nil
}

func TestFreeRADIUSAuthentication(t *testing.T) {
	fr := startFreeRADIUS(t)
	c := frClient(t, radius.Config{Servers: []radius.Server{fr.server()}})
	ctx := context.Background()

	t.Run("pap", func(t *testing.T) {
		p, err := c.Authenticate(ctx, &aaa.Request{Service: aaa.ServicePPP, User: "alice", Password: "wonderland", Line: 2, CallerID: "5552001"})
		if err != nil {
			t.Fatal(err)
		}
		if p.Address.String() != "10.0.0.5" || p.SessionTimeout != time.Hour || p.IdleTimeout != 10*time.Minute ||
			len(p.Class) != 1 || string(p.Class[0]) != "alice-class" || p.Callback != nil {
			t.Errorf("profile = %+v", p)
		}
	})
	t.Run("chap", func(t *testing.T) {
		if _, err := c.Authenticate(ctx, &aaa.Request{Service: aaa.ServicePPP, User: "alice", CHAP: frCHAP(3, "wonderland")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Authenticate(ctx, &aaa.Request{Service: aaa.ServicePPP, User: "alice", CHAP: frCHAP(4, "wrong")}); !errors.Is(err, aaa.ErrRejected) {
			t.Fatalf("wrong CHAP response: %v, want a reject", err)
		}
	})
	t.Run("ms-chapv2", func(t *testing.T) {
		ch, want := frMSCHAPv2(t, "alice", "wonderland")
		p, err := c.Authenticate(ctx, &aaa.Request{Service: aaa.ServicePPP, User: "alice", CHAP: ch})
		if err != nil {
			t.Fatal(err)
		}
		if p.AuthenticatorResponse != want {
			t.Errorf("MS-CHAP2-Success %q, want %q", p.AuthenticatorResponse, want)
		}
		bad, _ := frMSCHAPv2(t, "alice", "not-wonderland")
		if _, err := c.Authenticate(ctx, &aaa.Request{Service: aaa.ServicePPP, User: "alice", CHAP: bad}); !errors.Is(err, aaa.ErrRejected) {
			t.Fatalf("wrong MS-CHAPv2 response: %v, want a reject", err)
		}
	})
	t.Run("reject", func(t *testing.T) {
		for _, r := range []aaa.Request{
			{Service: aaa.ServiceLogin, User: "dave", Password: "wrong"},
			{Service: aaa.ServiceLogin, User: "nobody", Password: "dave-secret"},
		} {
			_, err := c.Authenticate(ctx, &r)
			var rej *aaa.RejectError
			if !errors.As(err, &rej) || rej.Message != "" {
				t.Errorf("%s: err = %v, want a reject without a message", r.User, err)
			}
		}
		// A reject's attributes are ignored; its Reply-Message is for the user.
		_, err := c.Authenticate(ctx, &aaa.Request{Service: aaa.ServiceLogin, User: "mallory", Password: "mallory-secret"})
		var rej *aaa.RejectError
		if !errors.As(err, &rej) || rej.Message != "Go away" {
			t.Errorf("mallory: err = %v", err)
		}
	})
	t.Run("callback attributes", func(t *testing.T) {
		for _, tt := range []struct {
			user, pw string
			svc      aaa.Service
			want     aaa.Callback
		}{
			{"cbcisco", "cisco-secret", aaa.ServiceLogin, aaa.Callback{Dialstring: "5552001", Rotary: 77}},
			{"cbnumber", "number-secret", aaa.ServiceLogin, aaa.Callback{Dialstring: "5552002"}},
			{"cbppp", "ppp-secret", aaa.ServicePPP, aaa.Callback{Dialstring: "5552006"}},
		} {
			p, err := c.Authenticate(ctx, &aaa.Request{Service: tt.svc, User: tt.user, Password: tt.pw})
			if err != nil {
				t.Fatalf("%s: %v", tt.user, err)
			}
			if p.Callback == nil || *p.Callback != tt.want {
				t.Errorf("%s: callback %+v, want %+v", tt.user, p.Callback, tt.want)
			}
		}
		// A framed user's accept is no EXEC login.
		if _, err := c.Authenticate(ctx, &aaa.Request{Service: aaa.ServiceLogin, User: "cbppp", Password: "ppp-secret"}); !errors.Is(err, aaa.ErrRejected) {
			t.Errorf("cbppp at EXEC: %v, want a reject", err)
		}
	})
	t.Run("challenge", func(t *testing.T) {
		pr := &frPrompter{answers: []string{"123456"}}
		if _, err := c.Authenticate(ctx, &aaa.Request{User: "token", Password: "first", Prompt: pr}); err != nil {
			t.Fatal(err)
		}
		if len(pr.shown) != 1 || pr.shown[0] != "Token code:" {
			t.Errorf("prompts shown: %q", pr.shown)
		}
	})
}

// The first server of the group is down: the request goes to the second, the first is marked
// dead for the dead-time, and the next request does not wait for it.
func TestFreeRADIUSFailover(t *testing.T) {
	fr := startFreeRADIUS(t)
	dead := radius.Server{Address: "127.0.0.1", AuthPort: freeUDPPort(t), AcctPort: freeUDPPort(t), Secret: frSecret,
		Timeout: 100 * time.Millisecond, NoStatusServer: true}
	c := frClient(t, radius.Config{Servers: []radius.Server{dead, fr.server()}, DeadTime: time.Minute})
	ctx := context.Background()
	p, err := c.Authenticate(ctx, &aaa.Request{Service: aaa.ServiceLogin, User: "cbcisco", Password: "cisco-secret"})
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("radius 127.0.0.1:%d", fr.auth); p.Source != want {
		t.Errorf("answered by %q, want %q", p.Source, want)
	}
	st := c.Status()
	if !st[0].Dead || st[1].Dead {
		t.Fatalf("status after failover: %+v", st)
	}
	// The dead server is skipped: the next answer comes from FreeRADIUS without a timeout.
	p, err = c.Authenticate(ctx, &aaa.Request{Service: aaa.ServiceLogin, User: "dave", Password: "dave-secret"})
	if err != nil || p.Source != fmt.Sprintf("radius 127.0.0.1:%d", fr.auth) {
		t.Fatalf("second request: %v from %v", err, p)
	}
	// Accounting fails over the same way.
	rec := acct.Record{Type: acct.Start, SessionID: "failover-1", User: "dave", Service: "login", Line: 1, Time: time.Now()}
	if err := c.Deliver(ctx, rec); err != nil {
		t.Fatal(err)
	}
	frWaitDetail(t, fr, `Acct-Session-Id = "failover-1"`)
}

// frWaitDetail polls the detail file until it holds every string.
func frWaitDetail(t *testing.T, fr *freeRADIUS, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(frGuard)
	for {
		b, _ := os.ReadFile(filepath.Join(fr.state, "detail"))
		missing := ""
		for _, w := range want {
			if !strings.Contains(string(b), w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("detail file lacks %q:\n%s", missing, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The client's Start and Stop land in the detail file of the shared configuration, with the
// terminate cause, the counters and the link between legs.
func TestFreeRADIUSAccounting(t *testing.T) {
	fr := startFreeRADIUS(t)
	c := frClient(t, radius.Config{Servers: []radius.Server{fr.server()}})
	start := time.Now().Add(-90 * time.Second)
	base := acct.Record{SessionID: "e2e-leg1", MultiSessionID: "e2e-leg1", Leg: aaa.LegFirst, User: "cbcisco",
		Service: "login", Line: 1, PortName: "tty1", CallerID: "5552001", CalledID: "5551001", ConnectInfo: "CONNECT 33600",
		Class: [][]byte{[]byte("cls")}, StartTime: start}
	startRec := base
	startRec.Type, startRec.Time = acct.Start, start
	stopRec := base
	stopRec.Type, stopRec.Time, stopRec.SessionTime, stopRec.Cause = acct.Stop, time.Now(), 90*time.Second, acct.CauseCallback
	stopRec.InOctets, stopRec.OutOctets, stopRec.InPackets, stopRec.OutPackets = 1234, 5678, 12, 34
	for _, r := range []acct.Record{startRec, stopRec} {
		if err := c.Deliver(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	frWaitDetail(t, fr, `Acct-Status-Type = Start`, `Acct-Status-Type = Stop`, `Acct-Session-Id = "e2e-leg1"`,
		`Acct-Multi-Session-Id = "e2e-leg1"`, "Acct-Terminate-Cause = Callback", "Acct-Input-Octets = 1234",
		"Acct-Output-Octets = 5678", "Acct-Input-Packets = 12", "Acct-Output-Packets = 34", "Acct-Session-Time = 90",
		"NAS-Port-Type = Async", `Calling-Station-Id = "5552001"`, `Class = 0x636c73`)
}

// frScenario is a lab scenario whose NAS uses FreeRADIUS: the Cisco example's lines, every
// login through aaa login [radius].
func frScenario(fr *freeRADIUS, name, caller, user, password string, expect string) string {
	return fmt.Sprintf(`name: %s
timeout: 30s
config:
  hostname: nas
  lines:
    - {lines: 1-2, port: "sim:555100{n}", login: authentication, callback: {forced-wait: 300ms, nodsr-wait: 1s}, script: {callback: callback}}
    - {lines: 3-4, port: "sim:555100{n}", rotary: 77, login: authentication, callback: {forced-wait: 300ms, nodsr-wait: 1s}, script: {callback: callback}}
  chat-scripts:
    callback: 'ABORT ERROR ABORT BUSY ABORT "NO ANSWER" ABORT "NO CARRIER" "" "ATZ" OK "ATDT \T" TIMEOUT 30 CONNECT \c'
  aaa: {login: [radius], ppp: [radius]}
  radius:
    servers: [{address: 127.0.0.1, auth-port: %d, acct-port: %d, secret: %s, timeout: 2s, retransmits: 1}]
    nas-identifier: nas-e2e
  service: {exec-callback: true}
  pstn: {ring-period: 100ms}
callers:
  - {phone: "%s", dial: "5551001", speaks: exec, username: %s, password: %s, answer-callback: true}
expect:
%s`, name, fr.auth, fr.acct, frSecret, caller, user, password, expect)
}

// A whole lab callback with FreeRADIUS deciding: `nas lab --scenario-file`, in process.
func TestFreeRADIUSLabCallback(t *testing.T) {
	fr := startFreeRADIUS(t)
	cases := []struct {
		name, caller, user, password, expect string
	}{
		{"freeradius-cisco-avpair", "5552001", "cbcisco", "cisco-secret", `
  - {event: call.answered, line: 1, leg: first}
  - {event: auth.ok, user: cbcisco, protocol: exec, leg: first}
  - {event: callback.scheduled, user: cbcisco, number: "5552001", rotary: 77}
  - {event: line.hangup, line: 1, cause: callback}
  - {event: callback.dialing, line: 3, number: "5552001", rotary: 77}
  - {event: callback.connected, line: 3, number: "5552001"}
  - {event: auth.ok, user: cbcisco, line: 3, leg: callback}
  - {event: session.up, user: cbcisco, line: 3, leg: callback}
`},
		{"freeradius-callback-number", "5552002", "cbnumber", "number-secret", `
  - {event: call.answered, line: 1, leg: first}
  - {event: auth.ok, user: cbnumber, protocol: exec, leg: first}
  - {event: callback.scheduled, user: cbnumber, number: "5552002"}
  - {event: line.hangup, line: 1, cause: callback}
  - {event: callback.dialing, line: 1, number: "5552002"}
  - {event: callback.connected, line: 1, number: "5552002"}
  - {event: auth.ok, user: cbnumber, line: 1, leg: callback}
  - {event: session.up, user: cbnumber, line: 1, leg: callback}
`},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.name+".yaml")
			if err := os.WriteFile(path, []byte(frScenario(fr, tt.name, tt.caller, tt.user, tt.password, tt.expect)), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := lab.LoadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var timeline strings.Builder
			rep := lab.Run(context.Background(), s, lab.Options{Out: &timeline, Log: frLogger()})
			if !rep.Passed() {
				t.Fatalf("met %d of %d; first unmet %v; err %v; callers %v\ntimeline:\n%s", rep.Met, rep.Total, rep.Unmet, rep.Err, rep.CallerErrors, timeline.String())
			}
			want := fmt.Sprintf("radius 127.0.0.1:%d", fr.auth)
			if !strings.Contains(timeline.String(), want) {
				t.Errorf("no login was answered by FreeRADIUS (%s):\n%s", want, timeline.String())
			}
		})
	}
}

// docker-compose.yml runs the NAS beside the official FreeRADIUS 3.2 image with the files this
// test runs: it must parse, mount only files that exist, run freeradius on freeradius/, and
// give the NAS a configuration that loads.
func TestDockerCompose(t *testing.T) {
	root := filepath.Join("..", "..")
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Build       any               `yaml:"build"`
			Command     []string          `yaml:"command"`
			Volumes     []string          `yaml:"volumes"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	fr, ok := compose.Services["freeradius"]
	if !ok || !strings.HasPrefix(fr.Image, "freeradius/freeradius-server:3.2") {
		t.Fatalf("no freeradius service on the official 3.2 image: %+v", compose.Services)
	}
	nas, ok := compose.Services["nas"]
	if !ok || nas.Build == nil {
		t.Fatalf("no nas service built from the Dockerfile: %+v", compose.Services)
	}
	if _, err := os.Stat(filepath.Join(root, "Dockerfile")); err != nil {
		t.Fatal(err)
	}
	mounts := map[string]string{} // container path -> repository path
	for name, svc := range compose.Services {
		for _, v := range svc.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) < 2 || !strings.HasPrefix(parts[0], "./") {
				continue // a named volume
			}
			host := filepath.Join(root, parts[0])
			if _, err := os.Stat(host); err != nil {
				t.Errorf("service %s mounts %s, which is not in the repository: %v", name, parts[0], err)
			}
			mounts[parts[1]] = host
		}
	}
	// FreeRADIUS runs on this directory, with every variable radiusd.conf reads.
	conf := strings.Join(fr.Command, " ")
	d := fr.Environment["RADDB"]
	if !strings.Contains(conf, "-d "+d) || filepath.Clean(mounts[d]) != filepath.Clean(filepath.Join(root, "test", "e2e", "freeradius")) {
		t.Errorf("freeradius runs %q with RADDB %q mounted from %q; want test/e2e/freeradius", conf, d, mounts[d])
	}
	rc, err := os.ReadFile(filepath.Join("freeradius", "radiusd.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(rc), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			continue
		}
		for rest := line; strings.Contains(rest, "$ENV{"); {
			_, after, _ := strings.Cut(rest, "$ENV{")
			name, tail, _ := strings.Cut(after, "}")
			if fr.Environment[name] == "" {
				t.Errorf("radiusd.conf reads $ENV{%s}, which the freeradius service does not set", name)
			}
			rest = tail
		}
	}
	// The NAS's configuration loads, and its server and secret are FreeRADIUS's.
	for name := range config.EnvNames() {
		t.Setenv(name, "")
	}
	nasConf, ok := mounts["/etc/nas/nas.yaml"]
	if !ok {
		t.Fatalf("the nas service does not mount /etc/nas/nas.yaml")
	}
	cfg, err := config.Load(nasConf)
	if err != nil {
		t.Fatalf("%s: %v", nasConf, err)
	}
	if len(cfg.RADIUS.Servers) == 0 || cfg.RADIUS.Servers[0].Address != "freeradius" || cfg.RADIUS.Servers[0].Secret != frSecret {
		t.Errorf("the NAS's radius.servers %+v do not point at the freeradius service with its secret", cfg.RADIUS.Servers)
	}
}
