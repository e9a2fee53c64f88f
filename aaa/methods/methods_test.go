package methods

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/acct"
	"github.com/dialback/nas/aaa/radius"
	"github.com/dialback/nas/aaa/radius/dynauth"
	"github.com/dialback/nas/aaa/radius/labserver"
	"github.com/dialback/nas/config"
)

func TestBuildLocal(t *testing.T) {
	cfg, err := config.Parse([]byte(`
users: [{name: alice, password: pw}]
aaa: {login: [local], ppp: [local]}
`))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Build(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Login.Methods) != 1 || len(l.PPP.Methods) != 1 || len(l.ARAP.Methods) != 0 {
		t.Fatalf("lists: login %d ppp %d arap %d methods", len(l.Login.Methods), len(l.PPP.Methods), len(l.ARAP.Methods))
	}
	if _, err := l.Login.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: "pw"}); err != nil {
		t.Errorf("alice through the login list: %v", err)
	}
	if _, err := l.Login.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: "nope"}); !errors.Is(err, aaa.ErrRejected) {
		t.Errorf("wrong password through the login list: %v, want a reject", err)
	}
}

func TestBuildUnknownMethod(t *testing.T) {
	cfg := &config.Config{AAA: config.AAA{Login: []string{"kerberos"}}}
	_, err := Build(cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), `aaa.login: method "kerberos"`) {
		t.Fatalf("err = %v, want one naming aaa.login and the method", err)
	}
}

func startLabRADIUS(t *testing.T) *labserver.Server {
	t.Helper()
	s, err := labserver.Start("lab-secret", []labserver.User{
		{Name: "alice", Password: "radius-pw", Reply: []labserver.Attr{{Name: "Cisco-AVPair", Value: "shell:callback-dialstring=5552001"}}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func closedUDPPort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

func TestBuildRADIUS(t *testing.T) {
	s := startLabRADIUS(t)
	before := runtime.NumGoroutine()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
hostname: as5300
users: [{name: alice, password: local-pw}, {name: bob, password: bob-pw}]
aaa: {login: [radius, local], ppp: [local]}
radius:
  servers: [{address: 127.0.0.1, auth-port: %d, acct-port: %d, secret: lab-secret, timeout: 2s}]
`, s.Port(), s.Port())))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Build(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if l.RADIUS == nil || len(l.Login.Methods) != 2 || l.Login.Methods[0] != aaa.Method(l.RADIUS) || len(l.PPP.Methods) != 1 {
		t.Fatalf("lists: %+v", l)
	}
	ctx := context.Background()
	p, err := l.Login.Authenticate(ctx, &aaa.Request{User: "alice", Password: "radius-pw"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Callback == nil || p.Callback.Dialstring != "5552001" || !strings.HasPrefix(p.Source, "radius 127.0.0.1:") {
		t.Errorf("profile %+v callback %+v", p, p.Callback)
	}
	// RADIUS answered no: the list stops there, local is not asked (IOS: FAIL ends the list).
	if _, err := l.Login.Authenticate(ctx, &aaa.Request{User: "alice", Password: "local-pw"}); !errors.Is(err, aaa.ErrRejected) {
		t.Errorf("local password through radius: %v, want a reject", err)
	}
	if _, err := l.PPP.Authenticate(ctx, &aaa.Request{User: "alice", Password: "local-pw"}); err != nil {
		t.Errorf("ppp list (local only): %v", err)
	}
	if st := l.RADIUS.Status(); len(st) != 2 || st[0].Server != fmt.Sprintf("127.0.0.1:%d", s.Port()) {
		t.Errorf("status = %+v", st)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("Close left goroutines: %d before Build, %d after Close", before, runtime.NumGoroutine())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A silent RADIUS server makes the list move on to local, as IOS does on an ERROR.
func TestBuildRADIUSUnreachableFallsBack(t *testing.T) {
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
users: [{name: alice, password: local-pw}]
aaa: {login: [radius, local]}
radius:
  servers: [{address: 127.0.0.1, auth-port: %d, secret: s, timeout: 50ms, retransmits: 0}]
`, closedUDPPort(t))))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Build(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p, err := l.Login.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: "local-pw"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Source != "local" {
		t.Errorf("answered by %q, want local", p.Source)
	}
}

func TestRADIUSConfig(t *testing.T) {
	cfg, err := config.Parse([]byte(`
hostname: as5300
aaa: {login: [local], ppp: [local]}
accounting: {methods: [radius]}
radius:
  servers:
    - {address: 192.0.2.1, secret: one}
    - {address: 192.0.2.2, auth-port: 1645, acct-port: 1646, secret: two, timeout: 1s, retransmits: 0, legacy: true}
  dead-time: 5m
  nas-ip-address: 192.0.2.100
  callback-ids: {office: "5551234"}
`))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := RADIUSConfig(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []radius.Server{
		{Address: "192.0.2.1", AuthPort: 1812, AcctPort: 1813, Secret: "one", Timeout: 5 * time.Second, Retransmits: 3},
		{Address: "192.0.2.2", AuthPort: 1645, AcctPort: 1646, Secret: "two", Timeout: time.Second, Retransmits: 0, Legacy: true},
	}
	if !reflect.DeepEqual(rc.Servers, want) || rc.DeadTime != 5*time.Minute || rc.NASIdentifier != "as5300" ||
		rc.NASIPAddress.String() != "192.0.2.100" || rc.CallbackIDs["office"] != "5551234" || rc.Name != "radius" {
		t.Errorf("config = %+v", rc)
	}
	// radius only as an accounting destination: the client exists, no list holds it.
	l, err := Build(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.RADIUS == nil || len(l.Login.Methods) != 1 || l.Login.Methods[0] != aaa.Method(l.Local) {
		t.Errorf("lists = %+v", l)
	}
	// A hand-built configuration that names radius without servers fails to build.
	bad := &config.Config{AAA: config.AAA{Login: []string{"radius"}}}
	if _, err := Build(bad, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "radius.servers is empty") {
		t.Errorf("no servers: err = %v", err)
	}
}

type noSessions struct{}

func (noSessions) List() []dynauth.Session { return nil }
func (noSessions) Disconnect(context.Context, string, acct.Cause) error {
	return dynauth.ErrNoSession
}
func (noSessions) SetTimeouts(context.Context, string, dynauth.Timeouts) error {
	return dynauth.ErrNoSession
}

func TestDynamicAuthor(t *testing.T) {
	cfg, err := config.Parse([]byte(`
hostname: as5300
radius:
  dynamic-author:
    listen: "127.0.0.1:13799"
    clients: [{address: 127.0.0.1, secret: coa}]
`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RADIUS.DynamicAuthor.Listen = "127.0.0.1:0" // any free port
	s, err := DynamicAuthor(cfg, noSessions{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if s == nil || s.Addr().Port == 0 {
		t.Fatalf("server = %v", s)
	}
	s.Close()
	cfg.RADIUS.DynamicAuthor = config.DynamicAuthor{}
	if s, err := DynamicAuthor(cfg, noSessions{}, slog.New(slog.DiscardHandler)); s != nil || err != nil {
		t.Errorf("without listen: %v %v, want nothing", s, err)
	}
}
