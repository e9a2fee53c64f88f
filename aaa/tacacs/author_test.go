package tacacs

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	tq "github.com/facebookincubator/tacquito"

	"github.com/dialback/nas/aaa"
)

func TestAuthorize(t *testing.T) {
	tests := []struct {
		name      string
		service   aaa.Service
		policy    map[string][]string
		status    tq.AuthorStatus
		wantReqs  [][]string
		want      func(*testing.T, *aaa.Profile)
		wantError bool
	}{
		{
			name:     "exec callback line",
			service:  aaa.ServiceLogin,
			policy:   map[string][]string{"shell/": {"callback-dialstring=5551234", "callback-line=3", "nocallback-verify=1", "timeout=30", "idletime=5", "acl=101", "autocmd=menu"}},
			wantReqs: [][]string{{"service=shell", "cmd="}},
			want: func(t *testing.T, p *aaa.Profile) {
				if p.Callback == nil || *p.Callback != (aaa.Callback{Dialstring: "5551234", Line: 3, NoVerify: true}) {
					t.Errorf("callback = %+v", p.Callback)
				}
				if p.SessionTimeout != 30*time.Minute || p.IdleTimeout != 5*time.Minute || p.Filter != "101" || p.Autocommand != "menu" {
					t.Errorf("profile = %+v", p)
				}
			},
		},
		{
			name:    "ppp lcp then ip",
			service: aaa.ServicePPP,
			policy: map[string][]string{
				"ppp/lcp": {"callback-dialstring=", "callback-rotary=2"},
				"ppp/ip":  {"addr=10.9.8.7", "route=10.50.0.0 255.255.0.0"},
			},
			wantReqs: [][]string{{"service=ppp", "protocol=lcp"}, {"service=ppp", "protocol=ip"}},
			want: func(t *testing.T, p *aaa.Profile) {
				if p.Callback == nil || *p.Callback != (aaa.Callback{Rotary: 2}) {
					t.Errorf("callback = %+v", p.Callback)
				}
				if p.Address != netip.MustParseAddr("10.9.8.7") || len(p.Routes) != 1 {
					t.Errorf("profile = %+v", p)
				}
			},
		},
		{
			name:      "ppp without ip authorization fails",
			service:   aaa.ServicePPP,
			policy:    map[string][]string{"ppp/lcp": {}},
			wantReqs:  [][]string{{"service=ppp", "protocol=lcp"}, {"service=ppp", "protocol=ip"}},
			wantError: true,
		},
		{
			name:     "arap",
			service:  aaa.ServiceARAP,
			policy:   map[string][]string{"arap/atalk": {"callback-dialstring=777"}},
			wantReqs: [][]string{{"service=arap", "protocol=atalk"}},
			want: func(t *testing.T, p *aaa.Profile) {
				if p.Callback == nil || p.Callback.Dialstring != "777" {
					t.Errorf("callback = %+v", p.Callback)
				}
			},
		},
		{
			name:      "unknown mandatory fails",
			service:   aaa.ServiceLogin,
			policy:    map[string][]string{"shell/": {"inacl#1=permit ip any any"}},
			wantReqs:  [][]string{{"service=shell", "cmd="}},
			wantError: true,
		},
		{
			// What an IOS-style policy (tac_plus, ISE) sends an administrator.
			name:     "mandatory priv-lvl accepted",
			service:  aaa.ServiceLogin,
			policy:   map[string][]string{"shell/": {"priv-lvl=15", "callback-dialstring=5552001"}},
			wantReqs: [][]string{{"service=shell", "cmd="}},
			want: func(t *testing.T, p *aaa.Profile) {
				if p.PrivLevel != 15 || p.Callback == nil || p.Callback.Dialstring != "5552001" {
					t.Errorf("profile = %+v", p)
				}
			},
		},
		{
			name:     "unknown optional ignored",
			service:  aaa.ServiceLogin,
			policy:   map[string][]string{"shell/": {"inacl#1*permit ip any any", "idletime=2"}},
			wantReqs: [][]string{{"service=shell", "cmd="}},
			want: func(t *testing.T, p *aaa.Profile) {
				if p.IdleTimeout != 2*time.Minute {
					t.Errorf("profile = %+v", p)
				}
			},
		},
		{
			name:     "pass_repl replaces",
			service:  aaa.ServiceLogin,
			policy:   map[string][]string{"shell/": {"service=shell", "timeout=1"}},
			status:   tq.AuthorStatusPassRepl,
			wantReqs: [][]string{{"service=shell", "cmd="}},
			want: func(t *testing.T, p *aaa.Profile) {
				if p.SessionTimeout != time.Minute {
					t.Errorf("profile = %+v", p)
				}
			},
		},
		{
			name:      "pass_repl may not change the service",
			service:   aaa.ServiceLogin,
			policy:    map[string][]string{"shell/": {"service=ppp"}},
			status:    tq.AuthorStatusPassRepl,
			wantReqs:  [][]string{{"service=shell", "cmd="}},
			wantError: true,
		},
		{
			name:      "pass_add may not change the service either",
			service:   aaa.ServiceLogin,
			policy:    map[string][]string{"shell/": {"service=ppp"}},
			wantReqs:  [][]string{{"service=shell", "cmd="}},
			wantError: true,
		},
		{
			name:      "fail",
			service:   aaa.ServiceLogin,
			policy:    map[string][]string{},
			wantReqs:  [][]string{{"service=shell", "cmd="}},
			wantError: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			f.author = tt.policy
			f.authorSt = tt.status
			srv := startTQ(t, "k", f, nil)
			c := newClient(t, Config{Servers: []Server{tcpServer(srv.addr, "k")}})
			p, err := c.Authorize(context.Background(), &aaa.Request{Service: tt.service, User: "alice", PortName: "tty3", CallerID: "5550100"})
			_, _, _, authors, _ := f.snapshot()
			var got [][]string
			for _, a := range authors {
				got = append(got, argStrings(a.Args))
				if a.User != "alice" || a.Port != "tty3" || a.RemAddr != "5550100" || a.Method != tq.AuthenMethodNotSet {
					t.Errorf("request header fields %+v", a)
				}
			}
			if !slices.EqualFunc(got, tt.wantReqs, slices.Equal) {
				t.Errorf("requests = %q, want %q", got, tt.wantReqs)
			}
			if tt.wantError {
				if !errors.Is(err, aaa.ErrRejected) {
					t.Fatalf("err = %v, want a rejection", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.User != "alice" || p.Source != "tacacs "+srv.addr {
				t.Errorf("user %q source %q", p.User, p.Source)
			}
			tt.want(t, p)
		})
	}
}

// TestAuthenticateThenAuthorize: Authenticate brings the callback AVs, and its authorization
// says how the user was authenticated.
func TestAuthenticateThenAuthorize(t *testing.T) {
	f := newFake()
	f.author = map[string][]string{"ppp/lcp": {"callback-dialstring=5550199"}, "ppp/ip": {"addr-pool=dial"}}
	srv := startTQ(t, "k", f, nil)
	c := newClient(t, Config{Servers: []Server{tcpServer(srv.addr, "k")}})
	p, err := c.Authenticate(context.Background(), &aaa.Request{Service: aaa.ServicePPP, User: "alice", Password: "wonderland"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Callback == nil || p.Callback.Dialstring != "5550199" || p.Pool != "dial" || p.User != "alice" {
		t.Fatalf("profile = %+v callback %+v", p, p.Callback)
	}
	_, _, _, authors, _ := f.snapshot()
	for _, a := range authors {
		if a.Method != tq.AuthenMethodTacacsPlus || a.Type != tq.AuthenTypePAP || a.Service != tq.AuthenServicePPP {
			t.Errorf("authorization after PAP: method %v type %v service %v", a.Method, a.Type, a.Service)
		}
	}

	// A user the server authenticates but does not authorize is rejected.
	f.author = map[string][]string{}
	if _, err := c.Authenticate(context.Background(), &aaa.Request{Service: aaa.ServicePPP, User: "alice", Password: "wonderland"}); !errors.Is(err, aaa.ErrRejected) {
		t.Fatalf("err = %v", err)
	}
}

func TestAuthorFollowAndError(t *testing.T) {
	for _, tt := range []struct {
		status       byte
		wantRejected bool
	}{{authorFollow, true}, {authorError, false}} {
		f := newFake()
		f.setOverride(func(resp tq.Response, req tq.Request) bool {
			rawReply(resp, req, 1, 0, req.Header.Flags, []byte{tt.status, 0, 0, 0, 0, 0})
			return true
		})
		srv := startTQ(t, "k", f, nil)
		c := newClient(t, Config{Servers: []Server{tcpServer(srv.addr, "k")}})
		_, err := c.Authorize(context.Background(), &aaa.Request{Service: aaa.ServiceLogin, User: "alice"})
		if errors.Is(err, aaa.ErrRejected) != tt.wantRejected || errors.Is(err, aaa.ErrUnreachable) {
			t.Errorf("status %#x: err = %v", tt.status, err)
		}
		if !tt.wantRejected && !errors.Is(err, ErrServerError) {
			t.Errorf("status %#x: err = %v, want ErrServerError", tt.status, err)
		}
	}
}
