package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// radiusDoc is a valid configuration with one RADIUS server; cases replace the radius
// section.
func radiusDoc(radius string) string {
	return doc(baseLines, baseScripts, "aaa: {login: [radius, local], ppp: [local]}", radius)
}

func TestRADIUSValidation(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		path string
		msg  string
	}{
		{"address required", radiusDoc("radius: {servers: [{secret: s}]}"), "radius.servers[0].address", "is required"},
		{"address with port", radiusDoc("radius: {servers: [{address: \"10.0.0.1:1812\", secret: s}]}"), "radius.servers[0].address", `has a port: write address "10.0.0.1" and auth-port 1812`},
		{"address bracketed", radiusDoc("radius: {servers: [{address: \"[::1]\", secret: s}]}"), "radius.servers[0].address", "without brackets"},
		{"address junk", radiusDoc("radius: {servers: [{address: \"rad ius\", secret: s}]}"), "radius.servers[0].address", "neither an IP address nor a host name"},
		{"address label dash", radiusDoc("radius: {servers: [{address: \"-radius.example\", secret: s}]}"), "radius.servers[0].address", "neither"},
		{"secret required", radiusDoc("radius: {servers: [{address: 10.0.0.1}]}"), "radius.servers[0].secret", "is required"},
		{"secret empty", radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: \"\"}]}"), "radius.servers[0].secret", "is required"},
		{"auth-port zero", radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: s, auth-port: 0}]}"), "radius.servers[0].auth-port", "0 is out of range 1-65535"},
		{"acct-port high", radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: s, acct-port: 65536}]}"), "radius.servers[0].acct-port", "65536 is out of range 1-65535"},
		{"timeout zero", radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: s, timeout: 0}]}"), "radius.servers[0].timeout", "0s is out of range 10ms-16m40s"},
		{"timeout long", radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: s, timeout: 1001}]}"), "radius.servers[0].timeout", "out of range"},
		{"retransmits negative", radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: s, retransmits: -1}]}"), "radius.servers[0].retransmits", "-1 is out of range 0-100"},
		{"retransmits high", radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: s, retransmits: 101}]}"), "radius.servers[0].retransmits", "101 is out of range 0-100"},
		{"duplicate server", radiusDoc("radius: {servers: [{address: Radius.example, secret: s}, {address: radius.example, secret: t}]}"), "radius.servers[1].address", "is already radius.servers[0]"},
		{"dead-time negative", radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: s}], dead-time: -1}"), "radius.dead-time", "out of range 0s-24h"},
		{"dead-time long", radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: s}], dead-time: 25h}"), "radius.dead-time", "25h is out of range"},
		{"nas-ip-address v6", radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: s}], nas-ip-address: \"::1\"}"), "radius.nas-ip-address", "not IPv4"},
		{"nas-ip-address junk", radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: s}], nas-ip-address: nas}"), "radius.nas-ip-address", "not an IP address"},
		{"nas-identifier long", radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: s}], nas-identifier: " + strings.Repeat("n", 254) + "}"), "radius.nas-identifier", "longer than 253"},
		{"callback-id dial string", radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: s}], callback-ids: {office: \"555x\"}}"), "radius.callback-ids.office", `contains 'x'`},
		{"callback-id number", radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: s}], callback-ids: {office: 5551234}}"), "radius.callback-ids.office", "is a number, not text"},
		{"method without servers", doc(baseLines, baseScripts, "aaa: {login: [local, radius]}"), "aaa.login[1]", "radius: no RADIUS servers are configured: add radius.servers"},
		{"listen without clients", radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: s}], dynamic-author: {listen: \"127.0.0.1:3799\"}}"), "radius.dynamic-author.clients", "at least one client"},
		{"clients without listen", radiusDoc("radius: {dynamic-author: {clients: [{address: 10.0.0.9, secret: s}]}, servers: [{address: 10.0.0.1, secret: s}]}"), "radius.dynamic-author.listen", "is required when clients are listed"},
		{"listen no port", radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: s}], dynamic-author: {listen: \"127.0.0.1\", clients: [{address: 10.0.0.9, secret: s}]}}"), "radius.dynamic-author.listen", "is not HOST:PORT"},
		{"listen host name", radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: s}], dynamic-author: {listen: \"nas.example:3799\", clients: [{address: 10.0.0.9, secret: s}]}}"), "radius.dynamic-author.listen", "is not an IP address"},
		{"listen port zero", radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: s}], dynamic-author: {listen: \"127.0.0.1:0\", clients: [{address: 10.0.0.9, secret: s}]}}"), "radius.dynamic-author.listen", `port "0" is not 1-65535`},
		{"client host name", radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: s}], dynamic-author: {listen: \":3799\", clients: [{address: radius.example, secret: s}]}}"), "radius.dynamic-author.clients[0].address", "is not an IP address"},
		{"client address required", radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: s}], dynamic-author: {listen: \":3799\", clients: [{secret: s}]}}"), "radius.dynamic-author.clients[0].address", "is required"},
		{"client secret required", radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: s}], dynamic-author: {listen: \":3799\", clients: [{address: 10.0.0.9}]}}"), "radius.dynamic-author.clients[0].secret", "is required"},
		{"client twice", radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: s}], dynamic-author: {listen: \":3799\", clients: [{address: 10.0.0.9, secret: s}, {address: \"::ffff:10.0.0.9\", secret: t}]}}"), "radius.dynamic-author.clients[1].address", "is already radius.dynamic-author.clients[0]"},
		{"unknown server key", radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: s, key: k}]}"), "radius.servers[0].key", "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantOneError(t, tt.yaml, tt.path, tt.msg)
		})
	}
}

func TestRADIUSValid(t *testing.T) {
	c, err := Parse([]byte(radiusDoc(`
radius:
  servers:
    - {address: 192.0.2.10, secret: one, auth-port: 11812, acct-port: 11813, timeout: 2s, retransmits: 0, legacy: true}
    - {address: radius2.example.net, secret: two}
    - {address: "2001:db8::10", secret: three, timeout: 50ms}
  dead-time: 10m
  nas-identifier: as5300-1
  nas-ip-address: 192.0.2.1
  callback-ids: {office: "5551234", ask: ""}
  dynamic-author:
    listen: "0.0.0.0:3799"
    clients: [{address: 192.0.2.10, secret: coa}, {address: "2001:db8::10", secret: coa6}]
`)))
	if err != nil {
		t.Fatal(err)
	}
	s := c.RADIUS.Servers
	if len(s) != 3 || s[0].AuthPort != 11812 || s[0].AcctPort != 11813 || s[0].Timeout != 2*time.Second ||
		s[0].RetransmitCount() != 0 || !s[0].Legacy || s[2].Timeout != 50*time.Millisecond {
		t.Errorf("servers = %+v", s)
	}
	if c.RADIUS.DeadTime != 10*time.Minute || c.RADIUS.CallbackIDs["office"] != "5551234" ||
		len(c.RADIUS.DynamicAuthor.Clients) != 2 {
		t.Errorf("radius = %+v", c.RADIUS)
	}
}

// A key left out gets IOS's default; one written, even as 0, keeps its value.
func TestRADIUSDefaults(t *testing.T) {
	c, err := Parse([]byte(radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: s}, {address: 10.0.0.2, secret: s, retransmits: 0}]}")))
	if err != nil {
		t.Fatal(err)
	}
	s := c.RADIUS.Servers[0]
	if s.AuthPort != 1812 || s.AcctPort != 1813 || s.Timeout != 5*time.Second || s.RetransmitCount() != 3 || s.Legacy {
		t.Errorf("defaults: %+v retransmits %d", s, s.RetransmitCount())
	}
	if c.RADIUS.DeadTime != 0 {
		t.Errorf("dead-time = %v, want 0 (IOS default)", c.RADIUS.DeadTime)
	}
	if n := c.RADIUS.Servers[1].RetransmitCount(); n != 0 {
		t.Errorf("explicit retransmits 0 became %d", n)
	}
	if c.RADIUS.Servers[0].Retransmits == c.RADIUS.Servers[1].Retransmits {
		t.Error("two entries share one Retransmits pointer")
	}
}

func TestRADIUSHandBuilt(t *testing.T) {
	c := &Config{
		Lines:  []LineSpec{{Lines: "0", Port: "/dev/ttyS0"}},
		AAA:    AAA{Login: []string{"radius"}},
		RADIUS: RADIUS{Servers: []RADIUSServer{{Address: "127.0.0.1", Secret: "s"}}},
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("hand-built RADIUS config with defaults: %v", err)
	}
	s := c.RADIUS.Servers[0]
	if s.AuthPort != DefaultRADIUSAuthPort || s.AcctPort != DefaultRADIUSAcctPort || s.Timeout != DefaultRADIUSTimeout || s.RetransmitCount() != DefaultRADIUSRetransmits {
		t.Errorf("ApplyDefaults left zeros: %+v", s)
	}
}

// Secrets are never echoed, however they are wrong.
func TestRADIUSSecretNeverInMessages(t *testing.T) {
	for _, y := range []string{
		radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: 987654}]}"),
		radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: [s3cr3t-list]}]}"),
		radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: true}], dead-time: -1}"),
		radiusDoc("radius: {servers: [{address: \"10.0.0.1:1\", secret: s3cr3t-port}, {address: \"10.0.0.1:1\", secret: s3cr3t-dup}]}"),
		radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: s}], dynamic-author: {listen: x, clients: [{address: y, secret: 987654}, {address: y, secret: s3cr3t-client}]}}"),
	} {
		_, err := Parse([]byte(y))
		es := mustErrors(t, err)
		for _, secret := range []string{"987654", "s3cr3t", "true"} {
			if strings.Contains(es.Error(), secret) {
				t.Errorf("%s: message reveals the secret: %v", y, es)
			}
		}
	}
}

func TestRADIUSEnvOverrides(t *testing.T) {
	for name := range EnvNames() {
		t.Setenv(name, "")
	}
	path := filepath.Join(t.TempDir(), "nas.yaml")
	if err := os.WriteFile(path, []byte(radiusDoc("radius: {servers: [{address: 10.0.0.1, secret: s}]}")), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NAS_RADIUS_DEAD_TIME", "300")
	t.Setenv("NAS_RADIUS_NAS_IP_ADDRESS", "192.0.2.1")
	t.Setenv("NAS_RADIUS_DYNAMIC_AUTHOR_LISTEN", "bad")
	_, err := Load(path)
	es := mustErrors(t, err)
	if len(es) != 2 || es[0].Path != "radius.dynamic-author.listen" || es[1].Path != "radius.dynamic-author.clients" {
		t.Fatalf("got %v", err)
	}
	t.Setenv("NAS_RADIUS_DYNAMIC_AUTHOR_LISTEN", "")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.RADIUS.DeadTime != 5*time.Minute || c.RADIUS.NASIPAddress != "192.0.2.1" {
		t.Errorf("environment not applied: %+v", c.RADIUS)
	}
}

// The radius section of examples/nas.yaml is commented out (the example must pass `nas
// check` without a server); uncommented, it must be valid and use every key.
func TestExampleRADIUSSectionValid(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "examples", "nas.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var section []string
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "# radius:"):
			in = true
		case in && !strings.HasPrefix(l, "#   ") && !strings.HasPrefix(l, "#  "):
			in = false
		}
		if in {
			section = append(section, strings.TrimPrefix(l, "# "))
		}
	}
	if len(section) < 5 {
		t.Fatalf("examples/nas.yaml has no commented radius: section (found %d lines)", len(section))
	}
	y := doc(baseLines, baseScripts, "aaa: {login: [radius, local], ppp: [radius, local]}", strings.Join(section, "\n"))
	c, err := Parse([]byte(y))
	if err != nil {
		t.Fatalf("uncommented radius section:\n%v\n%s", err, strings.Join(section, "\n"))
	}
	r := c.RADIUS
	if len(r.Servers) < 2 || r.DeadTime == 0 || r.NASIdentifier == "" || len(r.CallbackIDs) == 0 ||
		r.DynamicAuthor.Listen == "" || len(r.DynamicAuthor.Clients) == 0 {
		t.Errorf("the example radius section leaves keys out: %+v", r)
	}
}
