package labserver

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2759"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/acct"
	nasradius "github.com/dialback/nas/aaa/radius"
	"github.com/dialback/nas/dictionaries/rfc"
)

const secret = "lab-secret"

var users = []User{
	{Name: "alice", Password: "alice-secret", Reply: []Attr{
		{"Service-Type", "Login-User"},
		{"Cisco-AVPair", "shell:callback-dialstring=5552001"},
		{"cisco-avpair", "shell:callback-rotary=77"},
		{"Session-Timeout", "3600"},
		{"Class", "alice-class"},
	}},
	{Name: "pat", Password: "pat-secret", Reply: []Attr{
		{"Service-Type", "Callback-Framed-User"},
		{"Framed-Protocol", "PPP"},
		{"Callback-Number", "5552006"},
		{"Framed-IP-Address", "10.0.0.6"},
		{"Ascend-Callback", "Callback-Yes"},
		{"Acct-Interim-Interval", "300"},
	}},
}

func start(t *testing.T) (*Server, *nasradius.Client) {
	t.Helper()
	s, err := Start(secret, users, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c, err := nasradius.New(nasradius.Config{
		Servers:       []nasradius.Server{{Address: "127.0.0.1", AuthPort: s.Port(), AcctPort: s.Port(), Secret: secret, Timeout: 2 * time.Second}},
		NASIdentifier: "lab-test",
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return s, c
}

func msCHAPv2(t *testing.T, user, password string) *aaa.CHAP {
	t.Helper()
	challenge := []byte("0123456789abcdef")
	peer := []byte("fedcba9876543210")
	nt, err := rfc2759.GenerateNTResponse(challenge, peer, []byte(user), []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	resp := append(append(append([]byte{}, peer...), make([]byte, 8)...), nt...)
	return &aaa.CHAP{Type: aaa.CHAPMSv2, ID: 7, Challenge: challenge, Response: append(resp, 0)}
}

func TestAuthentication(t *testing.T) {
	s, c := start(t)
	ctx := context.Background()
	chap := func(id byte, pw string) *aaa.CHAP {
		challenge := []byte("a CHAP challenge")
		r := aaa.CHAPMD5Response(id, pw, challenge)
		return &aaa.CHAP{ID: id, Challenge: challenge, Response: r[:]}
	}
	tests := []struct {
		name  string
		req   aaa.Request
		check func(*aaa.Profile) bool
	}{
		{"pap exec callback", aaa.Request{Service: aaa.ServiceLogin, User: "alice", Password: "alice-secret"}, func(p *aaa.Profile) bool {
			return p.Callback != nil && *p.Callback == aaa.Callback{Dialstring: "5552001", Rotary: 77} &&
				p.SessionTimeout == time.Hour && len(p.Class) == 1 && string(p.Class[0]) == "alice-class"
		}},
		{"chap ppp callback-number", aaa.Request{Service: aaa.ServicePPP, User: "pat", CHAP: chap(3, "pat-secret")}, func(p *aaa.Profile) bool {
			return p.Callback != nil && p.Callback.Dialstring == "5552006" && p.Address.String() == "10.0.0.6" &&
				p.InterimInterval == 5*time.Minute
		}},
		{"ms-chapv2", aaa.Request{Service: aaa.ServicePPP, User: "pat", CHAP: msCHAPv2(t, "pat", "pat-secret")}, func(p *aaa.Profile) bool {
			return strings.HasPrefix(p.AuthenticatorResponse, "S=") && len(p.AuthenticatorResponse) == 42
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := c.Authenticate(ctx, &tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(p) {
				t.Errorf("profile %+v callback %+v", p, p.Callback)
			}
		})
	}
	rejects := []aaa.Request{
		{Service: aaa.ServiceLogin, User: "alice", Password: "wrong"},
		{Service: aaa.ServiceLogin, User: "nobody", Password: "alice-secret"},
		{Service: aaa.ServicePPP, User: "pat", CHAP: chap(4, "wrong")},
		{Service: aaa.ServicePPP, User: "pat", CHAP: msCHAPv2(t, "pat", "wrong")},
		// pat's accept is for a framed service: an EXEC login must not get it.
		{Service: aaa.ServiceLogin, User: "pat", Password: "pat-secret"},
	}
	for _, r := range rejects {
		if _, err := c.Authenticate(ctx, &r); !errors.Is(err, aaa.ErrRejected) {
			t.Errorf("%s %s: err = %v, want a reject", r.Service, r.User, err)
		}
	}
	st := s.Stats()
	if st.AccessRequests != 8 || st.Accepts != 4 || st.Rejects != 4 || st.Dropped != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestAccountingAndStatus(t *testing.T) {
	s, c := start(t)
	rec := acct.Record{Type: acct.Start, SessionID: "lab-1", User: "alice", Service: "login", Line: 1, Time: time.Now()}
	if err := c.Deliver(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	got := s.Accounting()
	if len(got) != 1 || rfc.AcctSessionID_GetString(got[0]) != "lab-1" || rfc.AcctStatusType_Get(got[0]) != rfc.AcctStatusType_Value_Start {
		t.Fatalf("accounting = %v", got)
	}
	// Status-Server (RFC 5997) through a raw exchange: answered with a signed Access-Accept.
	p := radius.New(radius.CodeStatusServer, []byte(secret))
	p.Attributes = radius.Attributes{{Type: rfc.MessageAuthenticator_Type, Attribute: make(radius.Attribute, 16)}}
	reply := exchangeSigned(t, s, p)
	if reply == nil || reply.Code != radius.CodeAccessAccept || s.Stats().StatusServer != 1 {
		t.Fatalf("Status-Server answered %v, stats %+v", reply, s.Stats())
	}
}

// signRequest fills the Message-Authenticator that is p's first attribute.
func signRequest(t *testing.T, p *radius.Packet) []byte {
	t.Helper()
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	q, err := radius.Parse(b, p.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := SignReply(q); err != nil { // same HMAC, over the request's own authenticator
		t.Fatal(err)
	}
	b, err = q.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func exchangeSigned(t *testing.T, s *Server, p *radius.Packet) *radius.Packet {
	t.Helper()
	conn, err := net.DialUDP("udp", nil, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(signRequest(t, p)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	q, err := radius.Parse(buf[:n], []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// A request without a Message-Authenticator, or with a wrong one, is dropped unanswered, as
// FreeRADIUS does with require_message_authenticator.
func TestUnsignedRequestsDropped(t *testing.T) {
	s, _ := start(t)
	conn, err := net.DialUDP("udp", nil, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	unsigned := radius.New(radius.CodeAccessRequest, []byte(secret))
	unsigned.Identifier = 1
	rfc.UserName_SetString(unsigned, "alice")
	rfc.UserPassword_SetString(unsigned, "alice-secret")
	b, err := unsigned.Encode()
	if err != nil {
		t.Fatal(err)
	}
	wrong := radius.New(radius.CodeAccessRequest, []byte(secret))
	wrong.Identifier = 2
	wrong.Attributes = radius.Attributes{{Type: rfc.MessageAuthenticator_Type, Attribute: make(radius.Attribute, 16)}}
	rfc.UserName_AddString(wrong, "alice")
	rfc.UserPassword_AddString(wrong, "alice-secret")
	w := signRequest(t, wrong)
	w[len(w)-1] ^= 1 // the password's last octet: the HMAC no longer matches
	for _, d := range [][]byte{b, w} {
		if _, err := conn.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Dropped < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v: the unsigned requests were not dropped", s.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Both were handled without a reply: the next datagram answers a signed request.
	good := radius.New(radius.CodeAccessRequest, []byte(secret))
	good.Identifier = 3
	good.Attributes = radius.Attributes{{Type: rfc.MessageAuthenticator_Type, Attribute: make(radius.Attribute, 16)}}
	rfc.UserName_AddString(good, "alice")
	rfc.UserPassword_AddString(good, "alice-secret")
	if _, err := conn.Write(signRequest(t, good)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if buf[1] != 3 || radius.Code(buf[0]) != radius.CodeAccessAccept || n < 20 {
		t.Fatalf("first reply is id %d code %v, want id 3 Access-Accept", buf[1], radius.Code(buf[0]))
	}
	if st := s.Stats(); st.AccessRequests != 1 || st.Accepts != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		users []User
		want  string
	}{
		{[]User{{Name: ""}}, "name is required"},
		{[]User{{Name: "a"}, {Name: "a"}}, `"a" is listed twice`},
		{[]User{{Name: "a", Reply: []Attr{{"Bogus-Attribute", "1"}}}}, `"Bogus-Attribute" is not one the lab server knows`},
		{[]User{{Name: "a", Reply: []Attr{{"Service-Type", "Wizard-User"}}}}, "neither a number nor one of its values (Administrative-User"},
		{[]User{{Name: "a", Reply: []Attr{{"Session-Timeout", "-5"}}}}, "Session-Timeout"},
		{[]User{{Name: "a", Reply: []Attr{{"Framed-IP-Address", "10.0.0"}}}}, "not an IPv4 address"},
		{[]User{{Name: "a", Reply: []Attr{{"Callback-Number", ""}}}}, "must be 1-253 characters"},
		{[]User{{Name: "a", Reply: []Attr{{"Reply-Message", strings.Repeat("x", 254)}}}}, "must be 1-253 characters"},
		{[]User{{Name: "a", Password: strings.Repeat("p", 129)}}, "password longer than 128"},
	}
	for _, tt := range tests {
		err := Compile(tt.users)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err = %v, want %q", tt.users, err, tt.want)
		}
	}
	if _, err := Start("", nil, nil); err == nil {
		t.Error("Start with an empty secret succeeded")
	}
}

// Every attribute the dictionary names encodes, and the client's mapping reads it back.
func TestEveryAttributeEncodes(t *testing.T) {
	samples := map[string]string{
		"Service-Type": "Framed-User", "Framed-Protocol": "PPP", "Framed-IP-Address": "10.1.2.3",
		"Framed-IP-Netmask": "255.255.255.0", "Framed-Pool": "dialup", "Framed-Route": "10.9.0.0/16 0.0.0.0",
		"Framed-MTU": "1500", "Filter-Id": "std.in", "Reply-Message": "hello", "Callback-Number": "5551",
		"Callback-Id": "office", "Class": "c1", "Session-Timeout": "60", "Idle-Timeout": "30",
		"Termination-Action": "RADIUS-Request", "Acct-Interim-Interval": "60", "Port-Limit": "2",
		"Cisco-AVPair": "lcp:callback-line=3", "Ascend-Dial-Number": "5552", "Ascend-Callback": "1",
	}
	var reply []Attr
	for _, n := range AttributeNames() {
		v, ok := samples[n]
		if !ok {
			t.Fatalf("no sample value for %s", n)
		}
		reply = append(reply, Attr{n, v})
	}
	u := []User{{Name: "all", Password: "pw", Reply: reply}}
	table, err := compile(u)
	if err != nil {
		t.Fatal(err)
	}
	p := &radius.Packet{Code: radius.CodeAccessAccept}
	for _, add := range table["all"].add {
		if err := add(p); err != nil {
			t.Fatal(err)
		}
	}
	prof, warnings, err := nasradius.ProfileFromPacket(p, aaa.ServicePPP, map[string]string{"office": "5553"})
	// Callback-Id and Ascend-Dial-Number are read too, and lose to Callback-Number.
	if err != nil || len(warnings) != 2 {
		t.Fatalf("profile: %v, warnings %v", err, warnings)
	}
	if prof.Address.String() != "10.1.2.3" || prof.Netmask.String() != "255.255.255.0" || prof.Pool != "dialup" ||
		len(prof.Routes) != 1 || prof.MTU != 1500 || prof.Filter != "std.in" || prof.ReplyMessage != "hello" ||
		prof.Callback == nil || prof.Callback.Dialstring != "5551" || prof.Callback.Line != 3 ||
		prof.SessionTimeout != time.Minute || prof.IdleTimeout != 30*time.Second || prof.PortLimit != 2 ||
		prof.InterimInterval != time.Minute || len(prof.Class) != 1 {
		t.Errorf("profile = %+v callback %+v", prof, prof.Callback)
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 5 {
		s, c := start(t)
		if _, err := c.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: "alice-secret"}); err != nil {
			t.Fatal(err)
		}
		c.Close()
		s.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines before, %d after closing", before, runtime.NumGoroutine())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// FuzzRequestSigned: whatever arrives, checking its Message-Authenticator must not panic, and
// a request this package signs must pass.
func FuzzRequestSigned(f *testing.F) {
	p := radius.New(radius.CodeAccessRequest, []byte(secret))
	p.Attributes = radius.Attributes{{Type: rfc.MessageAuthenticator_Type, Attribute: make(radius.Attribute, 16)}}
	rfc.UserName_AddString(p, "alice")
	b, _ := p.Encode()
	f.Add(b)
	f.Add([]byte{1, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := radius.Parse(b, []byte(secret))
		if err != nil {
			return
		}
		_ = RequestSigned(p)
		if len(p.Attributes) > 200 {
			return
		}
		q := &radius.Packet{Code: p.Code, Identifier: p.Identifier, Secret: p.Secret, Authenticator: p.Authenticator, Attributes: p.Attributes}
		if err := SignReply(q); err != nil {
			return // too long with the Message-Authenticator added
		}
		if !RequestSigned(q) {
			t.Fatal("a packet signed by SignReply does not verify")
		}
	})
}
