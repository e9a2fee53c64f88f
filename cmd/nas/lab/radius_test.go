package lab

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/dialback/nas/aaa/radius/labserver"
	"github.com/dialback/nas/examples"
	"github.com/dialback/nas/session/event"
)

func bundled(t *testing.T, name string) *Scenario {
	t.Helper()
	all, err := LoadBundled(examples.FS, "lab")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no bundled scenario %s", name)
	return nil
}

// The RADIUS scenarios really go through the embedded server: every login is answered by
// "radius 127.0.0.1:PORT", never by the local table.
func TestRADIUSScenarioUsesEmbeddedServer(t *testing.T) {
	s := bundled(t, "radius-exec-callback")
	rep := Run(context.Background(), s, Options{})
	if !rep.Passed() {
		t.Fatalf("met %d of %d; unmet %v; err %v; callers %v\n%s", rep.Met, rep.Total, rep.Unmet, rep.Err, rep.CallerErrors, dump(rep.Events))
	}
	n := 0
	for _, e := range rep.Events {
		if e.Kind == event.AuthOK {
			n++
			if !strings.HasPrefix(e.Detail, "radius 127.0.0.1:") {
				t.Errorf("%s %s leg %s answered by %q, want the embedded RADIUS server", e.Kind, e.User, e.Leg, e.Detail)
			}
		}
	}
	if n != 2 {
		t.Errorf("%d auth.ok events, want 2 (both legs)", n)
	}
}

func TestRADIUSUsersSyntax(t *testing.T) {
	fsys := fstest.MapFS{
		"nas.yaml":   {Data: []byte("hostname: x\n")},
		"users.yaml": {Data: []byte("- {name: u1, password: p1, reply: {Callback-Number: \"555\"}}\n")},
		"bad.yaml":   {Data: []byte("- {name: u1, password: p1, colour: blue}\n")},
	}
	const head = "config: nas.yaml\ncallers: [{phone: '1', dial: '2'}]\nexpect: [{event: x}]\n"
	s, err := Parse([]byte(head+`
radius-users:
  - name: alice
    password: pw
    reply:
      Service-Type: Callback-Login-User
      Cisco-AVPair: ["shell:callback-dialstring=5552001", "shell:callback-rotary=77"]
      Callback-Number: 5552001
  - {name: bob, password: pw2}
`), "inline.yaml", fsys)
	if err != nil {
		t.Fatal(err)
	}
	want := []labserver.User{
		{Name: "alice", Password: "pw", Reply: []labserver.Attr{
			{Name: "Service-Type", Value: "Callback-Login-User"},
			{Name: "Cisco-AVPair", Value: "shell:callback-dialstring=5552001"},
			{Name: "Cisco-AVPair", Value: "shell:callback-rotary=77"},
			{Name: "Callback-Number", Value: "5552001"},
		}},
		{Name: "bob", Password: "pw2"},
	}
	if len(s.radiusUsers) != 2 || len(s.radiusUsers[0].Reply) != 4 || s.radiusUsers[1].Name != "bob" {
		t.Fatalf("users = %+v", s.radiusUsers)
	}
	for i, a := range want[0].Reply {
		if s.radiusUsers[0].Reply[i] != a {
			t.Errorf("reply[%d] = %v, want %v (the order written)", i, s.radiusUsers[0].Reply[i], a)
		}
	}
	s, err = Parse([]byte(head+"radius-users: users.yaml\n"), "file.yaml", fsys)
	if err != nil || len(s.radiusUsers) != 1 || s.radiusUsers[0].Reply[0].Value != "555" {
		t.Fatalf("from a file: %v %+v", err, s)
	}

	bad := map[string]string{
		"unknown attribute": "radius-users: [{name: a, password: p, reply: {Frobnicate: 1}}]\n",
		"bad value":         "radius-users: [{name: a, password: p, reply: {Service-Type: Wizard}}]\n",
		"nested value":      "radius-users: [{name: a, password: p, reply: {Class: {x: 1}}}]\n",
		"reply not a map":   "radius-users: [{name: a, password: p, reply: [1]}]\n",
		"unknown user key":  "radius-users: [{name: a, password: p, colour: blue}]\n",
		"missing file":      "radius-users: nope.yaml\n",
		"bad file":          "radius-users: bad.yaml\n",
		"duplicate user":    "radius-users: [{name: a, password: p}, {name: a, password: q}]\n",
		"a mapping":         "radius-users: {name: a}\n",
	}
	for name, text := range bad {
		_, err := Parse([]byte(head+text), name+".yaml", fsys)
		if err == nil || !strings.Contains(err.Error(), "radius-users") {
			t.Errorf("%s: err = %v, want one naming radius-users", name, err)
		}
	}
}

func TestEmbeddedRADIUSMisconfigured(t *testing.T) {
	const lines = `
  hostname: nas
  lines: [{lines: 1, port: "sim:5551001"}]
  aaa: {login: [radius], ppp: [local]}
`
	cases := map[string]struct{ scenario, want string }{
		"embedded without users": {`
config:` + lines + `  radius: {servers: [{address: embedded, secret: s}]}
`, "no radius-users"},
		"users without embedded": {`
config:` + lines + `  radius: {servers: [{address: 127.0.0.1, secret: s}]}
radius-users: [{name: a, password: p}]
`, `no radius.servers entry has address "embedded"`},
		"two secrets": {`
config:` + lines + `  radius: {servers: [{address: embedded, secret: s}, {address: embedded, auth-port: 1645, secret: t}]}
radius-users: [{name: a, password: p}]
`, "the same secret"},
	}
	for name, c := range cases {
		s, err := Parse([]byte(c.scenario+"callers: [{phone: '1', dial: '5551001'}]\nexpect: [{event: x}]\n"), name, fstest.MapFS{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rep := Run(context.Background(), s, Options{})
		if rep.Err == nil || !strings.Contains(rep.Err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", name, rep.Err, c.want)
		}
	}
}

// FuzzRADIUSUsers feeds scenario text with radius-users: nothing may panic, and users that
// parse must be ones the embedded server starts with.
func FuzzRADIUSUsers(f *testing.F) {
	const head = "config: nas.yaml\ncallers: [{phone: '1', dial: '2'}]\nexpect: [{event: x}]\n"
	for _, s := range []string{
		"radius-users: [{name: a, password: p, reply: {Cisco-AVPair: [x, y], Session-Timeout: 5}}]",
		"radius-users: users.yaml",
		"radius-users: [{name: a, reply: {Service-Type: [Login-User, {}]}}]",
		"radius-users: {a: 1}",
		"radius-users: [~]",
	} {
		f.Add(s)
	}
	fsys := fstest.MapFS{"nas.yaml": {Data: []byte("hostname: x\n")}, "users.yaml": {Data: []byte("- {name: b, password: q}\n")}}
	f.Fuzz(func(t *testing.T, text string) {
		s, err := Parse([]byte(head+text), "fuzz.yaml", fsys)
		if err != nil {
			return
		}
		if s.radiusUsers == nil {
			return
		}
		srv, err := labserver.Start("secret", s.radiusUsers, nil)
		if err != nil {
			t.Fatalf("users parsed but the server refused them: %v", err)
		}
		srv.Close()
	})
}
