package lab

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	tlab "github.com/dialback/nas/aaa/tacacs/labserver"
	"github.com/dialback/nas/config"
	"github.com/dialback/nas/session/event"
)

func authOKs(events []event.Event) []event.Event {
	var out []event.Event
	for _, e := range events {
		if e.Kind == event.AuthOK {
			out = append(out, e)
		}
	}
	return out
}

// tacacs-exec-callback really goes through the embedded server: the first leg's login is
// answered by "tacacs 127.0.0.1:PORT", and the callback leg is authorized without a login.
func TestTACACSScenarioUsesEmbeddedServer(t *testing.T) {
	rep := Run(context.Background(), bundled(t, "tacacs-exec-callback"), Options{})
	if !rep.Passed() {
		t.Fatalf("met %d of %d; unmet %v; err %v; callers %v\n%s", rep.Met, rep.Total, rep.Unmet, rep.Err, rep.CallerErrors, dump(rep.Events))
	}
	oks := authOKs(rep.Events)
	if len(oks) != 2 || !strings.HasPrefix(oks[0].Detail, "tacacs 127.0.0.1:") || oks[1].Detail != "nocallback-verify" {
		t.Fatalf("auth.ok events: %+v, want the embedded TACACS+ server, then nocallback-verify", oks)
	}
}

// tacacs-fallback-local: with the server down, local answers both legs; with the server up,
// the same caller is refused by TACACS+ and local is never asked (IOS: a FAIL ends the list).
func TestTACACSFallbackOnlyWhenDown(t *testing.T) {
	s := bundled(t, "tacacs-fallback-local")
	rep := Run(context.Background(), s, Options{})
	if !rep.Passed() {
		t.Fatalf("met %d of %d; unmet %v; err %v; callers %v\n%s", rep.Met, rep.Total, rep.Unmet, rep.Err, rep.CallerErrors, dump(rep.Events))
	}
	for _, e := range authOKs(rep.Events) {
		if e.Detail != "local" {
			t.Errorf("auth.ok on leg %s answered by %q, want local", e.Leg, e.Detail)
		}
	}

	up := *s
	up.TACACSDown = false
	up.Expect = []Expectation{
		{Event: event.CallAnswered, Line: new(1)},
		{Event: event.AuthFail, User: "erin", Cause: "rejected"},
	}
	up.Timeout = 10 * time.Second
	rep = Run(context.Background(), &up, Options{})
	if !rep.Passed() {
		t.Fatalf("server up: met %d of %d; unmet %v; err %v\n%s", rep.Met, rep.Total, rep.Unmet, rep.Err, dump(rep.Events))
	}
	if oks := authOKs(rep.Events); len(oks) != 0 {
		t.Errorf("server up: erin logged in anyway: %+v", oks)
	}
}

func TestTACACSUsersSyntax(t *testing.T) {
	fsys := fstest.MapFS{
		"nas.yaml":   {Data: []byte("hostname: x\n")},
		"users.yaml": {Data: []byte("- {name: u1, password: p1, exec-avs: [\"callback-line=4\"]}\n")},
		"bad.yaml":   {Data: []byte("- {name: u1, password: p1, colour: blue}\n")},
	}
	const head = "config: nas.yaml\ncallers: [{phone: '1', dial: '2'}]\nexpect: [{event: x}]\n"
	s, err := Parse([]byte(head+`
tacacs-users:
  - name: terry
    password: pw
    exec-avs: ["callback-dialstring=5552007", "callback-line=4", "nocallback-verify=1"]
    ppp-avs: ["callback-dialstring="]
    ppp-ip-avs: ["addr=10.0.0.5"]
    arap-avs: ["callback-dialstring*5552009"]
  - {name: tina, password: pw2}
`), "inline.yaml", fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.tacacsUsers) != 2 {
		t.Fatalf("users = %+v", s.tacacsUsers)
	}
	u := s.tacacsUsers[0]
	if u.Name != "terry" || u.Password != "pw" || len(u.Exec) != 3 || u.PPP[0] != "callback-dialstring=" ||
		u.PPPIP[0] != "addr=10.0.0.5" || u.ARAP[0] != "callback-dialstring*5552009" || s.tacacsUsers[1].Name != "tina" {
		t.Errorf("users = %+v", s.tacacsUsers)
	}
	s, err = Parse([]byte(head+"tacacs-users: users.yaml\ntacacs-down: true\n"), "file.yaml", fsys)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.tacacsUsers) != 1 || s.tacacsUsers[0].Exec[0] != "callback-line=4" || !s.TACACSDown {
		t.Errorf("from file: %+v down %v", s.tacacsUsers, s.TACACSDown)
	}
	for _, bad := range []struct{ yaml, want string }{
		{"tacacs-users: bad.yaml\n", "field colour not found"},
		{"tacacs-users: missing.yaml\n", "tacacs-users: open missing.yaml"},
		{"tacacs-users: [{name: a, exec-avs: [\"callback-line\"]}]\n", "malformed TACACS+ argument"},
		{"tacacs-users: [{name: a}, {name: a}]\n", `"a" is listed twice`},
		{"tacacs-users: {name: a}\n", "either a list of users or a file path"},
	} {
		_, err := Parse([]byte(head+bad.yaml), "bad.yaml", fsys)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: err = %v, want %q", bad.yaml, err, bad.want)
		}
	}
}

// The embedded server is used only where the configuration names it, and a scenario that
// half-names it is refused with a reason.
func TestStartEmbeddedTACACS(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	users := []tlab.User{{Name: "u", Password: "p"}}
	cfgWith := func(servers ...config.TACACSServer) *config.Config {
		return &config.Config{TACACS: config.TACACS{Servers: servers}}
	}
	emb := config.TACACSServer{Address: "embedded:49", Secret: "k"}
	other := config.TACACSServer{Address: "192.0.2.1:49", Secret: "k"}

	cfg := cfgWith(other, emb, emb)
	srv, err := startEmbeddedTACACS(&Scenario{tacacsUsers: users}, cfg, log)
	if err != nil || srv == nil {
		t.Fatalf("srv %v err %v", srv, err)
	}
	defer srv.Close()
	if a := cfg.TACACS.Servers[1].Address; a != srv.Addr().String() || cfg.TACACS.Servers[2].Address != a || cfg.TACACS.Servers[0].Address != "192.0.2.1:49" {
		t.Errorf("addresses = %+v, server at %s", cfg.TACACS.Servers, srv.Addr())
	}

	cfg = cfgWith(emb)
	srv, err = startEmbeddedTACACS(&Scenario{tacacsUsers: users, TACACSDown: true}, cfg, log)
	if err != nil || srv != nil || !strings.HasPrefix(cfg.TACACS.Servers[0].Address, "127.0.0.1:") {
		t.Errorf("down: srv %v err %v address %s", srv, err, cfg.TACACS.Servers[0].Address)
	}

	if srv, err := startEmbeddedTACACS(&Scenario{}, cfgWith(other), log); srv != nil || err != nil {
		t.Errorf("no embedded entry: srv %v err %v", srv, err)
	}
	tlsEmb := emb
	tlsEmb.Secret, tlsEmb.TLS = "", &config.TACACSTLS{CA: "ca.pem"}
	diffSecret := emb
	diffSecret.Secret = "other"
	for _, bad := range []struct {
		s    *Scenario
		cfg  *config.Config
		want string
	}{
		{&Scenario{tacacsUsers: users}, cfgWith(other), "no tacacs.servers entry has address"},
		{&Scenario{TACACSDown: true}, cfgWith(other), "no tacacs.servers entry has address"},
		{&Scenario{}, cfgWith(emb), "has no tacacs-users"},
		{&Scenario{tacacsUsers: users}, cfgWith(tlsEmb), "not TLS"},
		{&Scenario{tacacsUsers: users}, cfgWith(emb, diffSecret), "the same secret"},
	} {
		srv, err := startEmbeddedTACACS(bad.s, bad.cfg, log)
		if srv != nil {
			_ = srv.Close()
		}
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("err = %v, want %q", err, bad.want)
		}
	}
}
