package lab

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/dialback/nas/examples"
	"github.com/dialback/nas/ppp"
	"github.com/dialback/nas/session/event"
)

func TestPPPCallerFields(t *testing.T) {
	fsys := fstest.MapFS{"nas.yaml": {Data: []byte("hostname: x\n")}}
	head := "config: nas.yaml\nexpect: [{event: x}]\ncallers: "
	cases := []struct {
		name, callers, want string
	}{
		{"bad auth", "[{phone: '1', dial: '2', speaks: ppp, auth: eap}]", `callers[0].auth: "eap" is not one of`},
		{"bad callback", "[{phone: '1', dial: '2', speaks: ppp, callback: always}]", `callers[0].callback: "always" is not one of cbcp, rfc1570`},
		{"negative hold", "[{phone: '1', dial: '2', speaks: ppp, hold: -1s}]", "callers[0].hold: -1s is negative"},
		{"cbcp-delay without cbcp", "[{phone: '1', dial: '2', speaks: ppp, cbcp-delay: 2s}]", "callers[0].cbcp-delay: only with callback: cbcp"},
		{"cbcp-delay too long", "[{phone: '1', dial: '2', speaks: ppp, callback: cbcp, cbcp-delay: 300s}]", "out of range 0s-255s"},
		{"ppp field on exec", "[{phone: '1', dial: '2', auth: chap}]", "callers[0].auth: only for a caller that speaks ppp"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(head+c.callers+"\n"), c.name+".yaml", fsys)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	s, err := Parse([]byte(head+"[{phone: '1', dial: '2', speaks: ppp, auth: ms-chap-v2, callback: cbcp, callback-number: '5', hold: 1s, cbcp-delay: 5s}]\n"), "ok.yaml", fsys)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := s.Callers[0].pppLink(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := ppp.CallbackRequest{Requested: true, Op: ppp.CallbackOpCBCP, Message: "5"}
	if len(cfg.Auth) != 1 || cfg.Auth[0] != ppp.AuthMSCHAPv2 || cfg.CallbackRequest != want || cfg.CBCPDelay != 5*time.Second {
		t.Errorf("link configuration %+v", cfg)
	}
}

func TestPPPCallbackRequests(t *testing.T) {
	for _, c := range []struct {
		p    Caller
		want ppp.CallbackRequest
	}{
		{Caller{Speaks: "ppp"}, ppp.CallbackRequest{}},
		{Caller{Speaks: "ppp", Callback: "rfc1570"}, ppp.CallbackRequest{Requested: true, Op: ppp.CallbackOpAuth}},
		{Caller{Speaks: "ppp", Callback: "rfc1570", CallbackNumber: "77"}, ppp.CallbackRequest{Requested: true, Op: ppp.CallbackOpDialString, Message: "77"}},
		{Caller{Speaks: "ppp", Callback: "cbcp"}, ppp.CallbackRequest{Requested: true, Op: ppp.CallbackOpCBCP}},
	} {
		cfg, err := c.p.pppLink(nil)
		if err != nil || cfg.CallbackRequest != c.want || cfg.CBCPDelay != defaultCBCPDelay {
			t.Errorf("%+v: %+v, %v", c.p, cfg.CallbackRequest, err)
		}
	}
}

func TestBundledPPPScenarios(t *testing.T) {
	all, err := LoadBundled(examples.FS, "lab")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, s := range all {
		names[s.Name] = true
	}
	for _, n := range []string{"ppp-chap", "ppp-pap-rfc1570-callback", "ppp-cbcp-callback", "ppp-cbcp-fixed-number", "ppp-callback-initiate",
		"radius-ppp-callback", "tacacs-ppp-callback"} {
		if !names[n] {
			t.Errorf("bundled scenario %s is missing", n)
		}
	}
}

// A PPP caller with the wrong password is refused, and a scenario that expects otherwise fails:
// the simulated PPP callers can lose.
func TestPPPCallerRefused(t *testing.T) {
	cfg, err := examples.FS.ReadFile("lab/configs/ppp.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := `
name: ppp-wrong-password
config: ppp.yaml
timeout: 5s
callers:
  - {phone: "5552006", dial: "5551001", speaks: ppp, auth: pap, username: frank, password: guess}
expect:
  - {event: auth.fail, line: 1, user: frank, protocol: ppp, cause: rejected}
  - {event: session.down, line: 1, protocol: ppp, cause: auth-failed}
  - {event: session.up, line: 1}
`
	s, err := Parse([]byte(text), "wrong.yaml", fstest.MapFS{"ppp.yaml": {Data: cfg}})
	if err != nil {
		t.Fatal(err)
	}
	s.Timeout = 3 * time.Second
	rep := Run(context.Background(), s, Options{})
	if rep.Err != nil {
		t.Fatal(rep.Err)
	}
	if rep.Met != 2 || rep.Unmet == nil || rep.Unmet.Event != "session.up" {
		t.Errorf("met %d of %d, unmet %v; events:\n%v", rep.Met, rep.Total, rep.Unmet, rep.Events)
	}
}

// The AAA PPP callback scenarios really go through the embedded servers on both legs, and the
// callback is the one the caller asked for in the way it asked.
func TestAAAPPPCallbackScenarios(t *testing.T) {
	for _, tc := range []struct {
		name, auth, via string
	}{
		{"radius-ppp-callback", "chap radius 127.0.0.1:", "via rfc1570"},
		{"tacacs-ppp-callback", "pap tacacs 127.0.0.1:", "via cbcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := Run(context.Background(), bundled(t, tc.name), Options{})
			if !rep.Passed() {
				t.Fatalf("met %d of %d; unmet %v; err %v; callers %v\n%s", rep.Met, rep.Total, rep.Unmet, rep.Err, rep.CallerErrors, dump(rep.Events))
			}
			oks := authOKs(rep.Events)
			if len(oks) != 2 {
				t.Fatalf("auth.ok events %+v, want one per leg", oks)
			}
			for _, e := range oks {
				if !strings.HasPrefix(e.Detail, tc.auth) {
					t.Errorf("auth.ok on leg %s answered by %q, want %q...", e.Leg, e.Detail, tc.auth)
				}
			}
			n := 0
			for _, e := range rep.Events {
				if e.Kind == event.CallbackScheduled {
					n++
					if !strings.Contains(e.Detail, tc.via) {
						t.Errorf("callback.scheduled %q, want it %s", e.Detail, tc.via)
					}
				}
			}
			if n != 1 {
				t.Errorf("%d callbacks scheduled, want 1 (a callback leg never calls back)", n)
			}
		})
	}
}
