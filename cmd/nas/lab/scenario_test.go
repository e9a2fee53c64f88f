package lab

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/dialback/nas/examples"
	"github.com/dialback/nas/session/event"
)

func intp(n int) *int { return &n }

func TestJudgeInOrder(t *testing.T) {
	events := []event.Event{
		{Kind: event.CallAnswered, Line: 1, Leg: "first"},
		{Kind: event.AuthOK, User: "alice", Leg: "first"},
		{Kind: event.SessionUp, User: "alice", Leg: "first"},
		{Kind: event.AuthOK, User: "alice", Leg: "callback"},
	}
	cases := []struct {
		name   string
		expect []Expectation
		met    int
	}{
		{"all in order", []Expectation{{Event: "call.answered", Line: intp(1)}, {Event: "auth.ok", Leg: "first"}, {Event: "auth.ok", Leg: "callback"}}, 3},
		{"out of order stops", []Expectation{{Event: "auth.ok", Leg: "callback"}, {Event: "call.answered"}}, 1},
		{"field mismatch", []Expectation{{Event: "call.answered", Line: intp(2)}}, 0},
		{"one event meets one expectation only", []Expectation{{Event: "auth.ok"}, {Event: "auth.ok"}, {Event: "auth.ok"}}, 2},
		{"rotary zero is a value", []Expectation{{Event: "call.answered", Rotary: intp(0)}}, 1},
	}
	for _, c := range cases {
		if got := Judge(c.expect, events); got != c.met {
			t.Errorf("%s: met %d, want %d", c.name, got, c.met)
		}
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	fsys := fstest.MapFS{"nas.yaml": {Data: []byte("hostname: x\n")}}
	cases := map[string]string{
		"unknown key":     "config: nas.yaml\ncallers: [{phone: '1', dial: '2'}]\nexpect: [{event: x}]\ncolour: blue\n",
		"bad phone":       "config: nas.yaml\ncallers: [{phone: 'abc', dial: '2'}]\nexpect: [{event: x}]\n",
		"bad speaks":      "config: nas.yaml\ncallers: [{phone: '1', dial: '2', speaks: fax}]\nexpect: [{event: x}]\n",
		"no expectations": "config: nas.yaml\ncallers: [{phone: '1', dial: '2'}]\n",
		"missing config":  "config: nope.yaml\ncallers: [{phone: '1', dial: '2'}]\nexpect: [{event: x}]\n",
	}
	want := map[string]string{
		"unknown key": "colour", "bad phone": "callers[0].phone", "bad speaks": "callers[0].speaks",
		"no expectations": "expect", "missing config": "nope.yaml",
	}
	for name, text := range cases {
		_, err := Parse([]byte(text), name+".yaml", fsys)
		if err == nil || !strings.Contains(err.Error(), want[name]) {
			t.Errorf("%s: error %v, want one naming %q", name, err, want[name])
		}
	}
}

func TestBundledScenariosParse(t *testing.T) {
	all, err := LoadBundled(examples.FS, "lab")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, s := range all {
		names[s.Name] = true
		if len(s.ConfigYAML()) == 0 {
			t.Errorf("%s: empty configuration", s.Name)
		}
	}
	for _, n := range []string{"exec-callback", "exec-callback-noverify", "exec-callback-prompt", "exec-no-callback", "exec-bad-password", "callback-busy", "radius-exec-callback", "radius-reject", "tacacs-exec-callback", "tacacs-fallback-local"} {
		if !names[n] {
			t.Errorf("bundled scenario %s is missing", n)
		}
	}
}
