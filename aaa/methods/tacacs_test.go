package methods

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/radius/labserver"
	tlab "github.com/dialback/nas/aaa/tacacs/labserver"
	"github.com/dialback/nas/config"
)

func startLabTACACS(t *testing.T) *tlab.Server {
	t.Helper()
	s, err := tlab.Start("tac-key", []tlab.User{
		{Name: "alice", Password: "tacacs-pw", Exec: []string{"callback-dialstring=5552009"}, PPP: []string{"callback-dialstring=5552008"}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// closedTCPPort is a loopback port nothing listens on: connecting is refused at once, as
// with a TACACS+ server that is down.
func closedTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func buildFrom(t *testing.T, y string) *Lists {
	t.Helper()
	cfg, err := config.Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Build(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// radius, tacacs and local mix in any order per service; each list asks its methods in its
// own order, and the next only when one is unreachable.
func TestBuildMixedLists(t *testing.T) {
	tac := startLabTACACS(t)
	rad, err := labserver.Start("rad-key", []labserver.User{{Name: "alice", Password: "radius-pw"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rad.Close() })
	l := buildFrom(t, fmt.Sprintf(`
users: [{name: alice, password: local-pw}]
aaa:
  login: [tacacs, radius, local]
  ppp: [radius, local, tacacs]
  arap: [local, tacacs]
radius: {servers: [{address: 127.0.0.1, auth-port: %d, acct-port: %d, secret: rad-key, timeout: 2s}]}
tacacs: {servers: [{address: "127.0.0.1:%d", secret: tac-key, timeout: 2s}]}
`, rad.Port(), rad.Port(), tac.Port()))
	if l.TACACS == nil || l.RADIUS == nil {
		t.Fatalf("clients: tacacs %v radius %v", l.TACACS, l.RADIUS)
	}
	order := func(ms []aaa.Method) string {
		var names []string
		for _, m := range ms {
			names = append(names, m.Name())
		}
		return strings.Join(names, ",")
	}
	for _, c := range []struct {
		list aaa.MethodList
		want string
	}{{l.Login, "tacacs,radius,local"}, {l.PPP, "radius,local,tacacs"}, {l.ARAP, "local,tacacs"}} {
		if got := order(c.list.Methods); got != c.want {
			t.Errorf("%s list: %s, want %s", c.list.Service, got, c.want)
		}
	}
	ctx := context.Background()
	p, err := l.Login.Authenticate(ctx, &aaa.Request{User: "alice", Password: "tacacs-pw"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.Source, "tacacs 127.0.0.1:") || p.Callback == nil || p.Callback.Dialstring != "5552009" {
		t.Errorf("login answered by %q with callback %+v", p.Source, p.Callback)
	}
	// TACACS+ answered no: IOS does not ask the next method after a FAIL.
	if _, err := l.Login.Authenticate(ctx, &aaa.Request{User: "alice", Password: "radius-pw"}); !errors.Is(err, aaa.ErrRejected) {
		t.Errorf("radius password on the tacacs-first list: %v, want a reject", err)
	}
	if p, err := l.PPP.Authenticate(ctx, &aaa.Request{User: "alice", Password: "radius-pw"}); err != nil || !strings.HasPrefix(p.Source, "radius") {
		t.Errorf("ppp list: %v, profile %+v", err, p)
	}
	if p, err := l.ARAP.Authorize(ctx, &aaa.Request{User: "alice"}); err != nil || p.Source != "local" {
		t.Errorf("arap list: %v, profile %+v", err, p)
	}
}

// A TACACS+ server that is down hands the login to the next method; with RADIUS down too,
// local answers.
func TestBuildTACACSUnreachableFallsThrough(t *testing.T) {
	rad, err := labserver.Start("rad-key", []labserver.User{{Name: "alice", Password: "radius-pw"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rad.Close() })
	down := closedTCPPort(t)
	l := buildFrom(t, fmt.Sprintf(`
users: [{name: alice, password: local-pw}]
aaa: {login: [tacacs, radius, local], ppp: [tacacs, local]}
radius: {servers: [{address: 127.0.0.1, auth-port: %d, secret: rad-key, timeout: 2s}]}
tacacs: {servers: [{address: "127.0.0.1:%d", secret: tac-key, timeout: 200ms}]}
`, rad.Port(), down))
	ctx := context.Background()
	p, err := l.Login.Authenticate(ctx, &aaa.Request{User: "alice", Password: "radius-pw"})
	if err != nil || !strings.HasPrefix(p.Source, "radius") {
		t.Fatalf("login: %v, profile %+v; want radius after tacacs", err, p)
	}
	p, err = l.PPP.Authenticate(ctx, &aaa.Request{User: "alice", Password: "local-pw"})
	if err != nil || p.Source != "local" {
		t.Fatalf("ppp: %v, profile %+v; want local after tacacs", err, p)
	}
}

// tacacs only as an accounting destination: the client exists for Deliver, no list holds it.
// Close closes it, and the default port and timeout apply.
func TestBuildTACACSAccountingOnlyAndClose(t *testing.T) {
	tac := startLabTACACS(t)
	before := runtime.NumGoroutine()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
aaa: {login: [local], ppp: [local]}
accounting: {methods: [tacacs]}
tacacs: {servers: [{address: "127.0.0.1:%d", secret: tac-key, single-connection: true}, {address: 192.0.2.1, secret: other}]}
`, tac.Port())))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Build(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if l.TACACS == nil || len(l.Login.Methods) != 1 || l.Login.Methods[0] != aaa.Method(l.Local) {
		t.Fatalf("lists = %+v", l)
	}
	if cfg.TACACS.Servers[1].Address != "192.0.2.1:49" || cfg.TACACS.Servers[1].Timeout != config.DefaultTACACSTimeout {
		t.Errorf("defaults not applied: %+v", cfg.TACACS.Servers[1])
	}
	// A single-connection session leaves an idle connection for Close to end.
	if _, err := l.TACACS.Authorize(context.Background(), &aaa.Request{Service: aaa.ServiceLogin, User: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := l.TACACS.Authorize(context.Background(), &aaa.Request{Service: aaa.ServiceLogin, User: "alice"}); err == nil {
		t.Error("the TACACS+ client still answers after Close")
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("Close left goroutines: %d before Build, %d after Close", before, runtime.NumGoroutine())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A configuration built in code that names tacacs without servers, or with a TLS CA that
// does not exist, fails to build and leaves nothing open.
func TestBuildTACACSErrors(t *testing.T) {
	bad := &config.Config{AAA: config.AAA{Login: []string{"tacacs"}}}
	if _, err := Build(bad, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "tacacs.servers is empty") {
		t.Errorf("no servers: err = %v", err)
	}
	tlsMissing := &config.Config{
		AAA:    config.AAA{Login: []string{"radius", "tacacs"}},
		RADIUS: config.RADIUS{Servers: []config.RADIUSServer{{Address: "127.0.0.1", Secret: "s"}}},
		TACACS: config.TACACS{Servers: []config.TACACSServer{{Address: "127.0.0.1:4949",
			TLS: &config.TACACSTLS{CA: "/nonexistent/ca.pem"}}}},
	}
	if _, err := Build(tlsMissing, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "tacacs.servers[0].tls") {
		t.Errorf("missing CA: err = %v", err)
	}
}
