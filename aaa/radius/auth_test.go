package radius

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2759"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/dictionaries/rfc"
)

func chapMD5(id byte, secret string) *aaa.CHAP {
	challenge := []byte("0123456789abcdef-challenge")
	r := aaa.CHAPMD5Response(id, secret, challenge)
	return &aaa.CHAP{Type: aaa.CHAPMD5, ID: id, Challenge: challenge, Response: r[:]}
}

func msCHAPv2(t *testing.T, id byte, user, password string) (*aaa.CHAP, string) {
	t.Helper()
	auth := make([]byte, 16)
	peer := make([]byte, 16)
	rand.Read(auth)
	rand.Read(peer)
	nt, err := rfc2759.GenerateNTResponse(auth, peer, []byte(user), []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	resp := append(append(append(append([]byte(nil), peer...), make([]byte, 8)...), nt...), 0)
	want, err := rfc2759.GenerateAuthenticatorResponse(auth, peer, nt, []byte(user), []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	return &aaa.CHAP{Type: aaa.CHAPMSv2, ID: id, Challenge: auth, Response: resp}, want
}

func TestAuthenticateCredentials(t *testing.T) {
	srv := newLabServer(t)
	c := newClient(t, Config{Servers: []Server{srv.server()}})
	msGood, msWant := msCHAPv2(t, 7, "alice", "wonderland")
	msBad, _ := msCHAPv2(t, 7, "alice", "looking-glass")
	tests := []struct {
		name    string
		req     aaa.Request
		accept  bool
		authRsp string
	}{
		{"pap good", aaa.Request{Service: aaa.ServicePPP, User: "alice", Password: "wonderland"}, true, ""},
		{"login good", aaa.Request{Service: aaa.ServiceLogin, User: "bob", Password: "builder"}, true, ""},
		{"long password hidden in 16-octet blocks", aaa.Request{User: "carol", Password: labUsers["carol"]}, true, ""},
		{"pap wrong password", aaa.Request{Service: aaa.ServicePPP, User: "alice", Password: "wonderlanD"}, false, ""},
		{"pap unknown user", aaa.Request{Service: aaa.ServicePPP, User: "mallory", Password: "wonderland"}, false, ""},
		{"chap good", aaa.Request{Service: aaa.ServicePPP, User: "alice", CHAP: chapMD5(42, "wonderland")}, true, ""},
		{"chap wrong secret", aaa.Request{Service: aaa.ServicePPP, User: "alice", CHAP: chapMD5(42, "nope")}, false, ""},
		{"ms-chapv2 good", aaa.Request{Service: aaa.ServicePPP, User: "alice", CHAP: msGood}, true, msWant},
		{"ms-chapv2 wrong password", aaa.Request{Service: aaa.ServicePPP, User: "alice", CHAP: msBad}, false, ""},
	}
	var reasons []string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := c.Authenticate(context.Background(), &tc.req)
			if !tc.accept {
				var rej *aaa.RejectError
				if !errors.As(err, &rej) || !errors.Is(err, aaa.ErrRejected) {
					t.Fatalf("err = %v, want a RejectError", err)
				}
				if rej.Message != "Authentication failed" {
					t.Errorf("Message = %q, want the server's Reply-Message", rej.Message)
				}
				reasons = append(reasons, rej.Reason)
				if p != nil {
					t.Errorf("profile %+v on a reject", p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.User != tc.req.User || p.SessionTimeout != time.Hour || string(p.Class[0]) != "class-"+tc.req.User {
				t.Errorf("profile = %+v", p)
			}
			if p.Callback != nil {
				t.Errorf("callback %+v from a server that sent none", p.Callback)
			}
			if !strings.HasPrefix(p.Source, "radius 127.0.0.1:") {
				t.Errorf("Source = %q", p.Source)
			}
			if p.AuthenticatorResponse != tc.authRsp {
				t.Errorf("AuthenticatorResponse = %q, want %q", p.AuthenticatorResponse, tc.authRsp)
			}
		})
	}
	for _, r := range reasons[min(1, len(reasons)):] {
		if r != reasons[0] {
			t.Errorf("reject reasons differ (%q vs %q): they must not tell an unknown user from a wrong password", r, reasons[0])
		}
	}
	if n := srv.badMA.Load(); n != 0 {
		t.Errorf("server saw %d requests without a correct first Message-Authenticator", n)
	}
}

func TestMalformedCredentialsNotSent(t *testing.T) {
	srv := newLabServer(t)
	c := newClient(t, Config{Servers: []Server{srv.server()}})
	bad := []aaa.Request{
		{User: "a", Password: strings.Repeat("p", 129)},
		{User: "a", CHAP: &aaa.CHAP{ID: 1, Challenge: []byte("c"), Response: make([]byte, 15)}},
		{User: "a", CHAP: &aaa.CHAP{ID: 1, Challenge: nil, Response: make([]byte, 16)}},
		{User: "a", CHAP: &aaa.CHAP{Type: aaa.CHAPMSv2, ID: 1, Challenge: make([]byte, 16), Response: make([]byte, 48)}},
		{User: "a", CHAP: &aaa.CHAP{Type: 0x80, ID: 1, Challenge: make([]byte, 8), Response: make([]byte, 49)}},
	}
	for i, r := range bad {
		if _, err := c.Authenticate(context.Background(), &r); !errors.Is(err, aaa.ErrRejected) {
			t.Errorf("case %d: err = %v, want a reject", i, err)
		}
	}
	if n := srv.access.Load(); n != 0 {
		t.Errorf("%d malformed requests reached the server", n)
	}
}

func TestRequestAttributes(t *testing.T) {
	srv := newLabServer(t)
	c := newClient(t, Config{Servers: []Server{srv.server()}, NASIdentifier: "as5300"})
	tests := []struct {
		service  aaa.Service
		st       rfc.ServiceType
		protocol rfc.FramedProtocol
	}{
		{aaa.ServiceLogin, rfc.ServiceType_Value_NASPromptUser, 0}, // an EXEC: a prompt on the NAS
		{aaa.ServicePPP, rfc.ServiceType_Value_FramedUser, rfc.FramedProtocol_Value_PPP},
		{aaa.ServiceARAP, rfc.ServiceType_Value_FramedUser, rfc.FramedProtocol_Value_ARAP},
	}
	for _, tc := range tests {
		t.Run(string(tc.service), func(t *testing.T) {
			r := &aaa.Request{Service: tc.service, User: "alice", Password: "wonderland", Line: 3,
				CallerID: "5551234", CalledID: "5550001", ConnectInfo: "CONNECT 33600/ARQ/V34/LAPM/V42BIS",
				CallbackNumber: "5559999"}
			if tc.service == aaa.ServiceARAP {
				r.PortName = "tty3-arap"
			}
			if _, err := c.Authenticate(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			p := srv.lastRequest()
			if !requestMAOK(p) {
				t.Error("Message-Authenticator missing, not first, or wrong")
			}
			check := func(name, got, want string) {
				t.Helper()
				if got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			check("User-Name", rfc.UserName_GetString(p), "alice")
			check("User-Password", rfc.UserPassword_GetString(p), "wonderland")
			check("NAS-Identifier", rfc.NASIdentifier_GetString(p), "as5300")
			check("NAS-Port-Id", rfc.NASPortID_GetString(p), map[bool]string{true: "tty3-arap", false: "tty3"}[tc.service == aaa.ServiceARAP])
			check("Calling-Station-Id", rfc.CallingStationID_GetString(p), "5551234")
			check("Called-Station-Id", rfc.CalledStationID_GetString(p), "5550001")
			check("Connect-Info", rfc.ConnectInfo_GetString(p), "CONNECT 33600/ARQ/V34/LAPM/V42BIS")
			check("Callback-Number", rfc.CallbackNumber_GetString(p), "5559999")
			if v := rfc.NASPort_Get(p); v != 3 {
				t.Errorf("NAS-Port = %d", v)
			}
			if v, err := rfc.NASPortType_Lookup(p); err != nil || v != rfc.NASPortType_Value_Async {
				t.Errorf("NAS-Port-Type = %v, %v", v, err)
			}
			if v := rfc.ServiceType_Get(p); v != tc.st {
				t.Errorf("Service-Type = %v, want %v", v, tc.st)
			}
			if v := rfc.FramedProtocol_Get(p); v != tc.protocol {
				t.Errorf("Framed-Protocol = %v, want %v", v, tc.protocol)
			}
		})
	}
}

func TestChallenge(t *testing.T) {
	srv := newLabServer(t)
	srv.setHandler(func(r *radius.Request) *radius.Packet {
		p := r.Packet
		pw := rfc.UserPassword_GetString(p)
		switch {
		case rfc.State_GetString(p) == "" && pw == "wonderland":
			q := r.Response(radius.CodeAccessChallenge)
			rfc.ReplyMessage_AddString(q, "Token code:")
			rfc.State_AddString(q, "round-2")
			rfc.Prompt_Add(q, rfc.Prompt_Value_Echo)
			return q
		case rfc.State_GetString(p) == "round-2" && pw == "123456":
			q := r.Response(radius.CodeAccessAccept)
			rfc.ReplyMessage_AddString(q, "Welcome")
			return q
		}
		return r.Response(radius.CodeAccessReject)
	})
	c := newClient(t, Config{Servers: []Server{srv.server()}})

	t.Run("answered", func(t *testing.T) {
		pr := &fakePrompter{answers: []string{"123456"}}
		p, err := c.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: "wonderland", Prompt: pr})
		if err != nil {
			t.Fatal(err)
		}
		if len(pr.texts) != 1 || pr.texts[0] != "Token code:" || !pr.echoes[0] {
			t.Errorf("prompted %q echo %v", pr.texts, pr.echoes)
		}
		if p.ReplyMessage != "Welcome" {
			t.Errorf("ReplyMessage = %q", p.ReplyMessage)
		}
	})
	t.Run("wrong answer", func(t *testing.T) {
		pr := &fakePrompter{answers: []string{"000000"}}
		_, err := c.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: "wonderland", Prompt: pr})
		if !errors.Is(err, aaa.ErrRejected) {
			t.Fatalf("err = %v, want reject", err)
		}
	})
	t.Run("no prompter", func(t *testing.T) {
		before := srv.access.Load()
		_, err := c.Authenticate(context.Background(), &aaa.Request{Service: aaa.ServicePPP, User: "alice", Password: "wonderland"})
		if !errors.Is(err, aaa.ErrRejected) {
			t.Fatalf("err = %v, want reject", err)
		}
		if n := srv.access.Load() - before; n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
	})
	t.Run("prompter fails", func(t *testing.T) {
		_, err := c.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: "wonderland", Prompt: &fakePrompter{}})
		if err == nil || errors.Is(err, aaa.ErrRejected) || errors.Is(err, aaa.ErrUnreachable) {
			t.Fatalf("err = %v, want the prompter's error", err)
		}
	})
}

func TestChallengeForever(t *testing.T) {
	srv := newLabServer(t)
	srv.setHandler(func(r *radius.Request) *radius.Packet {
		q := r.Response(radius.CodeAccessChallenge)
		rfc.State_AddString(q, "again")
		return q
	})
	c := newClient(t, Config{Servers: []Server{srv.server()}})
	answers := make([]string, 100)
	_, err := c.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: "x", Prompt: &fakePrompter{answers: answers}})
	if !errors.Is(err, aaa.ErrRejected) {
		t.Fatalf("err = %v, want reject", err)
	}
	if n := srv.access.Load(); n != maxChallengeRounds {
		t.Errorf("%d rounds, want %d", n, maxChallengeRounds)
	}
}

func TestAcceptNotOfferedIsReject(t *testing.T) {
	srv := newLabServer(t)
	reply := func(st rfc.ServiceType, extra func(*radius.Packet)) func(r *radius.Request) *radius.Packet {
		return func(r *radius.Request) *radius.Packet {
			q := r.Response(radius.CodeAccessAccept)
			if st != 0 {
				rfc.ServiceType_Add(q, st)
			}
			if extra != nil {
				extra(q)
			}
			return q
		}
	}
	c := newClient(t, Config{Servers: []Server{srv.server()}, CallbackIDs: map[string]string{"home": "5551111"}})
	tests := []struct {
		name    string
		service aaa.Service
		handler func(*radius.Request) *radius.Packet
		accept  bool
	}{
		{"framed for exec", aaa.ServiceLogin, reply(rfc.ServiceType_Value_FramedUser, nil), false},
		{"login for ppp", aaa.ServicePPP, reply(rfc.ServiceType_Value_LoginUser, nil), false},
		{"outbound", aaa.ServicePPP, reply(rfc.ServiceType_Value_OutboundUser, nil), false},
		{"slip for ppp", aaa.ServicePPP, reply(rfc.ServiceType_Value_FramedUser, func(q *radius.Packet) {
			rfc.FramedProtocol_Add(q, rfc.FramedProtocol_Value_SLIP)
		}), false},
		{"unknown callback-id", aaa.ServicePPP, reply(0, func(q *radius.Packet) { rfc.CallbackID_AddString(q, "office") }), false},
		{"known callback-id", aaa.ServicePPP, reply(0, func(q *radius.Packet) { rfc.CallbackID_AddString(q, "home") }), true},
		{"framed for ppp", aaa.ServicePPP, reply(rfc.ServiceType_Value_FramedUser, nil), true},
		{"nas-prompt for exec", aaa.ServiceLogin, reply(rfc.ServiceType_Value_NASPromptUser, nil), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv.setHandler(tc.handler)
			p, err := c.Authenticate(context.Background(), &aaa.Request{Service: tc.service, User: "alice", Password: "x"})
			if tc.accept != (err == nil) {
				t.Fatalf("profile %+v, err %v; want accept=%v", p, err, tc.accept)
			}
			if !tc.accept && !errors.Is(err, aaa.ErrRejected) {
				t.Fatalf("err = %v, want a reject", err)
			}
		})
	}
}

func TestAuthorize(t *testing.T) {
	srv := newLabServer(t)
	var sawAuthorizeOnly atomic.Bool
	handler := func(r *radius.Request) *radius.Packet {
		if rfc.ServiceType_Get(r.Packet) == rfc.ServiceType_Value_AuthorizeOnly {
			sawAuthorizeOnly.Store(true)
			if _, err := rfc.UserPassword_Lookup(r.Packet); err == nil {
				return r.Response(radius.CodeAccessReject) // no credentials expected
			}
			q := r.Response(radius.CodeAccessAccept)
			rfc.CallbackNumber_AddString(q, "5552222")
			return q
		}
		q := r.Response(radius.CodeAccessAccept)
		rfc.CallbackNumber_AddString(q, "5551111")
		return q
	}
	srv.setHandler(handler)
	c := newClient(t, Config{Servers: []Server{srv.server()}})
	now := time.Unix(1_700_000_000, 0)
	c.now = func() time.Time { return now }
	req := &aaa.Request{Service: aaa.ServicePPP, User: "alice", Password: "x"}
	p, err := c.Authenticate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	p.Callback.Dialstring = "changed by the caller"
	before := srv.access.Load()
	q, err := c.Authorize(context.Background(), &aaa.Request{Service: aaa.ServicePPP, User: "alice"})
	if err != nil || q.Callback == nil || q.Callback.Dialstring != "5551111" {
		t.Fatalf("cached authorize = %+v, %v", q, err)
	}
	if srv.access.Load() != before {
		t.Error("a cached authorization went to the server")
	}
	// A reject drops the cached accept.
	if _, err := c.Authenticate(context.Background(), &aaa.Request{Service: aaa.ServicePPP, User: "alice", Password: "x"}); err != nil {
		t.Fatal(err)
	}
	srv.setHandler(func(r *radius.Request) *radius.Packet { return r.Response(radius.CodeAccessReject) })
	if _, err := c.Authenticate(context.Background(), req); !errors.Is(err, aaa.ErrRejected) {
		t.Fatalf("err = %v, want reject", err)
	}
	if _, err := c.Authorize(context.Background(), &aaa.Request{Service: aaa.ServicePPP, User: "alice"}); !errors.Is(err, aaa.ErrRejected) {
		t.Fatalf("authorize after a reject: err = %v, want the server's reject, not the cache", err)
	}
	srv.setHandler(handler)
	now = now.Add(DefaultAuthorizeCacheTTL)
	q, err = c.Authorize(context.Background(), &aaa.Request{Service: aaa.ServicePPP, User: "alice"})
	if err != nil || q.Callback == nil || q.Callback.Dialstring != "5552222" || !sawAuthorizeOnly.Load() {
		t.Fatalf("expired cache: authorize = %+v, %v (Authorize-Only seen: %v)", q, err, sawAuthorizeOnly.Load())
	}
}
