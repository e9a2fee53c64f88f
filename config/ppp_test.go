package config

import (
	"testing"
	"time"
)

// pppDoc is a valid configuration with the sections given added (ppp, ip-pools).
func pppDoc(sections ...string) string {
	return doc(append([]string{baseLines, baseScripts}, sections...)...)
}

func TestPPPValidation(t *testing.T) {
	pools := "ip-pools: [{name: dialin, start: 10.1.0.10, end: 10.1.0.20}]"
	tests := []struct {
		name string
		yaml string
		path string
		msg  string
	}{
		{"auth unknown", pppDoc("ppp: {authentication: [chap, eap]}"), "ppp.authentication[1]", `"eap" is not one of chap, ms-chap-v2, pap`},
		{"auth alias not accepted", pppDoc("ppp: {authentication: [mschapv2]}"), "ppp.authentication[0]", "not one of"},
		{"auth twice", pppDoc("ppp: {authentication: [chap, pap, chap]}"), "ppp.authentication[2]", `"chap" is listed twice`},
		{"callback unknown", pppDoc("ppp: {callback: always}"), "ppp.callback", `"always" is not one of accept, initiate`},
		{"keepalive negative", pppDoc("ppp: {keepalive: -1s}"), "ppp.keepalive", "out of range 0s-"},
		{"keepalive too long", pppDoc("ppp: {keepalive: 10h}"), "ppp.keepalive", "out of range"},
		{"keepalive sub-second", pppDoc("ppp: {keepalive: 100ms}"), "ppp.keepalive", "shorter than 1s"},
		{"keepalive not a duration", pppDoc("ppp: {keepalive: often}"), "ppp.keepalive", ""},
		{"keepalive-retries high", pppDoc("ppp: {keepalive-retries: 300}"), "ppp.keepalive-retries", "300 is out of range 1-255"},
		{"keepalive-retries negative", pppDoc("ppp: {keepalive-retries: -1}"), "ppp.keepalive-retries", "out of range"},
		{"mru small", pppDoc("ppp: {mru: 64}"), "ppp.mru", "64 is out of range 128-16384"},
		{"local-address not an address", pppDoc("ppp: {local-address: nas.example}"), "ppp.local-address", "not an IPv4 address"},
		{"local-address IPv6", pppDoc("ppp: {local-address: \"2001:db8::1\"}"), "ppp.local-address", "IPCP carries IPv4 only"},
		{"local-address unspecified", pppDoc("ppp: {local-address: 0.0.0.0}"), "ppp.local-address", "cannot be a host's address"},
		{"dns bad", pppDoc("ppp: {dns: [10.0.0.53, 10.0.0.x]}"), "ppp.dns[1]", `"10.0.0.x" is not an IPv4 address`},
		{"dns three", pppDoc("ppp: {dns: [10.0.0.1, 10.0.0.2, 10.0.0.3]}"), "ppp.dns", "at most 2"},
		{"dns empty entry", pppDoc("ppp: {dns: [\"\"]}"), "ppp.dns[0]", "is empty"},
		{"pool unknown", pppDoc("ppp: {pool: nosuch}", pools), "ppp.pool", `"nosuch" is not an ip-pools entry (defined: dialin)`},
		{"pool without pools", pppDoc("ppp: {pool: dialin}"), "ppp.pool", "none is defined"},
		{"pool name missing", pppDoc("ip-pools: [{start: 10.1.0.1, end: 10.1.0.2}]"), "ip-pools[0].name", "is required"},
		{"pool name blank inside", pppDoc("ip-pools: [{name: \"a b\", start: 10.1.0.1}]"), "ip-pools[0].name", "white space"},
		{"pool name twice", pppDoc("ip-pools: [{name: a, start: 10.1.0.1}, {name: a, start: 10.2.0.1}]"), "ip-pools[1].name", `"a" is already defined by ip-pools[0]`},
		{"pool start missing", pppDoc("ip-pools: [{name: a, end: 10.1.0.2}]"), "ip-pools[0].start", "is required"},
		{"pool start bad", pppDoc("ip-pools: [{name: a, start: 10.1.0.256}]"), "ip-pools[0].start", "not an IPv4 address"},
		{"pool end IPv6", pppDoc("ip-pools: [{name: a, start: 10.1.0.1, end: \"::1\"}]"), "ip-pools[0].end", "IPv4 only"},
		{"pool end before start", pppDoc("ip-pools: [{name: a, start: 10.1.0.9, end: 10.1.0.2}]"), "ip-pools[0].end", "10.1.0.2 is before start 10.1.0.9"},
		{"pool too big", pppDoc("ip-pools: [{name: a, start: 10.0.0.1, end: 10.2.0.1}]"), "ip-pools[0].end", "more than 65536 addresses"},
		{"pools overlap", pppDoc("ip-pools: [{name: a, start: 10.1.0.1, end: 10.1.0.9}, {name: b, start: 10.1.0.9, end: 10.1.0.20}]"),
			"ip-pools[1]", "overlaps ip-pools[0] (a, 10.1.0.1-10.1.0.9)"},
		{"pools overlap written in reverse", pppDoc("ip-pools: [{name: a, start: 10.1.0.5, end: 10.1.0.9}, {name: b, start: 10.1.0.1, end: 10.1.0.5}]"),
			"ip-pools[1]", "overlaps ip-pools[0]"},
		{"single address inside another", pppDoc("ip-pools: [{name: a, start: 10.1.0.1, end: 10.1.0.9}, {name: b, start: 10.1.0.4}]"),
			"ip-pools[1]", "overlaps"},
		{"pool holds the local address", pppDoc("ppp: {local-address: 10.1.0.15}", pools), "ip-pools[0]", "contains ppp.local-address 10.1.0.15"},
		{"pool unknown key", pppDoc("ip-pools: [{name: a, start: 10.1.0.1, size: 4}]"), "ip-pools[0].size", "unknown key"},
		{"ppp unknown key", pppDoc("ppp: {authentification: [chap]}"), "ppp.authentification", "did you mean authentication"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantOneError(t, tt.yaml, tt.path, tt.msg)
		})
	}
}

func TestPPPValid(t *testing.T) {
	c, err := Parse([]byte(pppDoc(`
ppp:
  authentication: [ms-chap-v2, chap, pap]
  callback: initiate
  keepalive: 0s
  keepalive-retries: 3
  local-address: 10.1.0.1
  dns: [10.1.0.53, 192.0.2.53]
  pool: dialin
  mru: 1500
ip-pools:
  - {name: dialin, start: 10.1.0.10, end: 10.1.0.20}
  - {name: staff, start: 10.1.0.21, end: 10.1.0.21}
  - {name: one, start: 10.1.1.1}
`)))
	if err != nil {
		t.Fatal(err)
	}
	if c.PPP.Keepalive == nil || *c.PPP.Keepalive != 0 {
		t.Errorf("keepalive 0s: got %v, want an explicit 0 (off)", c.PPP.Keepalive)
	}
	if got := c.PPP.Authentication; len(got) != 3 || got[0] != "ms-chap-v2" {
		t.Errorf("authentication: %v", got)
	}
	if len(c.IPPools) != 3 || c.IPPools[2].End != "" {
		t.Errorf("pools: %+v", c.IPPools)
	}

	// Leaving the section out is valid: no callback, default keepalive, no pool.
	c, err = Parse([]byte(pppDoc()))
	if err != nil {
		t.Fatal(err)
	}
	if c.PPP.Keepalive != nil || c.PPP.Callback != "" {
		t.Errorf("defaults: %+v", c.PPP)
	}
	k := 10 * time.Second
	c.PPP.Keepalive = &k
	if err := c.Validate(); err != nil {
		t.Errorf("keepalive 10s: %v", err)
	}
}

// Every problem in the section is reported, not just the first.
func TestPPPValidationReportsAll(t *testing.T) {
	_, err := Parse([]byte(pppDoc(`
ppp: {authentication: [eap], callback: yes-please, local-address: x, pool: p}
ip-pools: [{name: q, start: 10.0.0.9, end: 10.0.0.1}]
`)))
	es := mustErrors(t, err)
	want := []string{"ppp.authentication[0]", "ppp.callback", "ppp.local-address", "ip-pools[0].end", "ppp.pool"}
	got := map[string]bool{}
	for _, e := range es {
		got[e.Path] = true
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("no error at %s; got:\n%v", w, err)
		}
	}
}
