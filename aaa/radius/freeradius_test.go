package radius

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/acct"
	"github.com/dialback/nas/test/e2e/peer"
)

// This file runs the client against a real FreeRADIUS (Debian's `freeradius` 3.2) from a
// private configuration, when the binary is installed; it is skipped otherwise and with
// -short. The full end-to-end suite lives in test/e2e; this is the client's own check that
// its packets and signatures are what FreeRADIUS wants.

const frSecret = "testing123"

// frConfig is a whole radiusd.conf: one client that must sign (require_message_authenticator),
// signed replies (Message-Authenticator in post-auth, accept and reject; an Access-Challenge
// skips post-auth, so it is signed where it is made), PAP, CHAP, MS-CHAP, a users file, a
// challenge for user "token", Status-Server, and a detail file.
const frConfig = `
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = ${exec_prefix}/sbin
raddbdir = @DIR@
confdir = ${raddbdir}
modconfdir = ${confdir}/mods-config
logdir = ${raddbdir}
radacctdir = ${raddbdir}
run_dir = ${raddbdir}
db_dir = ${raddbdir}
libdir = /usr/lib/freeradius
pidfile = ${run_dir}/radiusd.pid
name = freeradius
max_request_time = 30
cleanup_delay = 5
max_requests = 65536
hostname_lookups = no
log {
	destination = stdout
}
security {
	allow_core_dumps = no
	max_attributes = 200
	reject_delay = 0
	status_server = yes
}
thread pool {
	start_servers = 4
	max_servers = 16
	min_spare_servers = 2
	max_spare_servers = 8
	max_requests_per_server = 0
}
client nas {
	ipaddr = 127.0.0.1
	secret = ` + frSecret + `
	require_message_authenticator = yes
}
modules {
	pap {
	}
	chap {
	}
	mschap {
	}
	always handled {
		rcode = handled
	}
	always reject {
		rcode = reject
	}
	files {
		filename = ${confdir}/users
	}
	detail {
		filename = ${radacctdir}/detail
	}
}
server default {
	listen {
		type = auth
		ipaddr = 127.0.0.1
		port = @AUTH@
	}
	listen {
		type = acct
		ipaddr = 127.0.0.1
		port = @ACCT@
	}
	authorize {
		if (&User-Name == "token") {
			if (!&State) {
				update reply {
					&Reply-Message := "Token code:"
					&State := 0x726f756e6432
					&Prompt := Echo
					&Message-Authenticator := 0x00
				}
				update control {
					&Response-Packet-Type := Access-Challenge
				}
				handled
			}
			elsif (&User-Password == "123456") {
				update control {
					&Auth-Type := Accept
				}
			}
			else {
				reject
			}
		}
		chap
		mschap
		files
		pap
	}
	authenticate {
		Auth-Type PAP {
			pap
		}
		Auth-Type CHAP {
			chap
		}
		Auth-Type MS-CHAP {
			mschap
		}
	}
	preacct {
	}
	accounting {
		detail
	}
	post-auth {
		update reply {
			&Message-Authenticator := 0x00
		}
		Post-Auth-Type REJECT {
			update reply {
				&Message-Authenticator := 0x00
			}
		}
	}
}
`

const frUsers = `
alice	Cleartext-Password := "wonderland"
	Service-Type = Framed-User,
	Framed-Protocol = PPP,
	Framed-IP-Address = 10.0.0.5,
	Session-Timeout = 3600,
	Class = "alice-class",
	Callback-Number = "5551234"

bob	Cleartext-Password := "builder"
	Service-Type = Login-User,
	Cisco-AVPair = "shell:callback-dialstring=5559876",
	Cisco-AVPair += "shell:callback-rotary=1",
	Cisco-AVPair += "shell:nocallback-verify=1"

carol	Cleartext-Password := "carrot"
	Service-Type = Callback-Framed-User,
	Ascend-Dial-Number = "5550042"

mallory	Cleartext-Password := "x", Auth-Type := Reject
	Reply-Message = "Go away",
	Callback-Number = "5556666"
`

// startFreeRADIUS writes the configuration into a temporary directory, starts radiusd in the
// foreground and waits until it is ready. The process is killed at cleanup.
func startFreeRADIUS(t testing.TB) (Server, string) {
	t.Helper()
	if testing.Short() && !peer.Required() {
		t.Skip("-short: no FreeRADIUS")
	}
	bin, err := exec.LookPath("freeradius")
	if err != nil {
		if bin, err = exec.LookPath("radiusd"); err != nil {
			peer.Missing(t, "FreeRADIUS not installed (apt-get install freeradius)")
		}
	}
	dir := t.TempDir()
	auth, acctPort := freeUDPPort(t), freeUDPPort(t)
	conf := strings.NewReplacer("@DIR@", dir, "@AUTH@", strconv.Itoa(auth), "@ACCT@", strconv.Itoa(acctPort)).Replace(frConfig)
	files := map[string]string{
		"radiusd.conf": conf,
		"users":        frUsers,
		"dictionary":   "$INCLUDE /usr/share/freeradius/dictionary\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-f", "-d", dir, "-l", "stdout")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		s := bufio.NewScanner(out)
		ok := false
		for s.Scan() {
			if !ok && strings.Contains(s.Text(), "Ready to process requests") {
				ok = true
				ready <- true
			}
			if os.Getenv("RADIUS_TEST_LOG") != "" {
				t.Log("radiusd:", s.Text())
			}
		}
		if !ok {
			ready <- false
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("radiusd exited before it was ready (run with RADIUS_TEST_LOG=1 to see why)")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("radiusd not ready after 10 s")
	}
	return Server{Address: "127.0.0.1", AuthPort: auth, AcctPort: acctPort, Secret: frSecret, Timeout: time.Second, Retransmits: 2}, dir
}

func freeUDPPort(t testing.TB) int {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

func TestFreeRADIUS(t *testing.T) {
	srv, dir := startFreeRADIUS(t)
	c := newClient(t, Config{Servers: []Server{srv}, NASIdentifier: "nas-e2e"})
	ctx := context.Background()

	t.Run("pap ppp callback-number", func(t *testing.T) {
		p, err := c.Authenticate(ctx, &aaa.Request{Service: aaa.ServicePPP, User: "alice", Password: "wonderland", Line: 2})
		if err != nil {
			t.Fatal(err)
		}
		if p.Callback == nil || p.Callback.Dialstring != "5551234" || p.Address.String() != "10.0.0.5" ||
			p.SessionTimeout != time.Hour || len(p.Class) != 1 || string(p.Class[0]) != "alice-class" {
			t.Errorf("profile = %+v callback %+v", p, p.Callback)
		}
	})
	t.Run("chap", func(t *testing.T) {
		if _, err := c.Authenticate(ctx, &aaa.Request{Service: aaa.ServicePPP, User: "alice", CHAP: chapMD5(3, "wonderland")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Authenticate(ctx, &aaa.Request{Service: aaa.ServicePPP, User: "alice", CHAP: chapMD5(3, "wrong")}); !errors.Is(err, aaa.ErrRejected) {
			t.Fatalf("wrong CHAP: %v", err)
		}
	})
	t.Run("ms-chapv2", func(t *testing.T) {
		ch, want := msCHAPv2(t, 9, "alice", "wonderland")
		p, err := c.Authenticate(ctx, &aaa.Request{Service: aaa.ServicePPP, User: "alice", CHAP: ch})
		if err != nil {
			t.Fatal(err)
		}
		if p.AuthenticatorResponse != want {
			t.Errorf("AuthenticatorResponse = %q, want %q", p.AuthenticatorResponse, want)
		}
	})
	t.Run("exec cisco-avpair callback", func(t *testing.T) {
		p, err := c.Authenticate(ctx, &aaa.Request{Service: aaa.ServiceLogin, User: "bob", Password: "builder"})
		if err != nil {
			t.Fatal(err)
		}
		if cb := p.Callback; cb == nil || *cb != (aaa.Callback{Dialstring: "5559876", Rotary: 1, NoVerify: true}) {
			t.Errorf("callback = %+v", cb)
		}
	})
	t.Run("callback-framed-user with ascend number", func(t *testing.T) {
		p, err := c.Authenticate(ctx, &aaa.Request{Service: aaa.ServicePPP, User: "carol", Password: "carrot"})
		if err != nil {
			t.Fatal(err)
		}
		if cb := p.Callback; cb == nil || cb.Dialstring != "5550042" {
			t.Errorf("callback = %+v", cb)
		}
	})
	t.Run("framed user at exec is rejected", func(t *testing.T) {
		_, err := c.Authenticate(ctx, &aaa.Request{Service: aaa.ServiceLogin, User: "alice", Password: "wonderland"})
		if !errors.Is(err, aaa.ErrRejected) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("reject with message", func(t *testing.T) {
		_, err := c.Authenticate(ctx, &aaa.Request{Service: aaa.ServicePPP, User: "mallory", Password: "x"})
		var rej *aaa.RejectError
		if !errors.As(err, &rej) || rej.Message != "Go away" {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("challenge", func(t *testing.T) {
		pr := &fakePrompter{answers: []string{"123456"}}
		if _, err := c.Authenticate(ctx, &aaa.Request{User: "token", Password: "first", Prompt: pr}); err != nil {
			t.Fatal(err)
		}
		if len(pr.texts) != 1 || pr.texts[0] != "Token code:" || !pr.echoes[0] {
			t.Errorf("prompts %q %v", pr.texts, pr.echoes)
		}
	})
	t.Run("status-server", func(t *testing.T) {
		for _, ep := range []*endpoint{c.auth[0], c.acct[0]} {
			if err := ep.probe(ctx); err != nil {
				t.Errorf("%s %s: %v", ep.kind, ep, err)
			}
		}
	})
	t.Run("accounting", func(t *testing.T) {
		if err := c.AccountingOnOff(ctx, true); err != nil {
			t.Fatal(err)
		}
		for _, typ := range []acct.Type{acct.Start, acct.Stop} {
			rec := record(typ)
			rec.SessionID = "e2e-" + typ.String()
			if err := c.Deliver(ctx, rec); err != nil {
				t.Fatal(err)
			}
		}
		detail, err := os.ReadFile(filepath.Join(dir, "detail"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`Acct-Session-Id = "e2e-Stop"`, "Acct-Terminate-Cause = Callback",
			"Acct-Input-Gigawords = 5", "Acct-Status-Type = Accounting-On", `Acct-Multi-Session-Id = "0000002A-leg1"`, "NAS-Port-Type = Async"} {
			if !strings.Contains(string(detail), want) {
				t.Errorf("detail file lacks %q:\n%s", want, detail)
			}
		}
	})
}

// BenchmarkFreeRADIUSPAP measures PAP auths/s against FreeRADIUS (skipped without it).
func BenchmarkFreeRADIUSPAP(b *testing.B) {
	srv, _ := startFreeRADIUS(b)
	c := newClient(b, Config{Servers: []Server{srv}, NASIdentifier: "nas-bench"})
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := &aaa.Request{Service: aaa.ServicePPP, User: "alice", Password: "wonderland"}
		for pb.Next() {
			if _, err := c.Authenticate(context.Background(), r); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "auths/s")
}
