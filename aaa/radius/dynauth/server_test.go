package dynauth

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"runtime"
	"slices"
	"testing"
	"time"

	"layeh.com/radius"

	"github.com/dialback/nas/aaa/acct"
	"github.com/dialback/nas/dictionaries/cisco"
	"github.com/dialback/nas/dictionaries/rfc"
)

func ip4(s string) []byte { return netip.MustParseAddr(s).AsSlice() }

func TestDisconnect(t *testing.T) {
	tests := []struct {
		name  string
		attrs []*radius.AVP
		gone  []string // sessions disconnected; nil = a NAK
		cause ErrorCause
	}{
		{"by Acct-Session-Id", []*radius.AVP{str(rfc.AcctSessionID_Type, "0000000B")}, []string{"s2"}, 0},
		{"by User-Name: every session of the user", []*radius.AVP{str(rfc.UserName_Type, "alice")}, []string{"s1", "s2"}, 0},
		{"by NAS-Port", []*radius.AVP{integer(rfc.NASPort_Type, 2)}, []string{"s3"}, 0},
		{"by NAS-Port 0 is a port", []*radius.AVP{integer(rfc.NASPort_Type, 0)}, nil, CauseNotFound},
		{"by NAS-Port-Id", []*radius.AVP{str(rfc.NASPortID_Type, "tty3")}, []string{"s2"}, 0},
		{"by Framed-IP-Address", []*radius.AVP{attr(rfc.FramedIPAddress_Type, ip4("10.0.0.5"))}, []string{"s1"}, 0},
		{"by Calling-Station-Id", []*radius.AVP{str(rfc.CallingStationID_Type, "5552002")}, []string{"s3"}, 0},
		{"by Acct-Multi-Session-Id: both legs", []*radius.AVP{str(rfc.AcctMultiSessionID_Type, "0000000A")}, []string{"s1", "s2"}, 0},
		{"all attributes must match", []*radius.AVP{str(rfc.UserName_Type, "alice"), integer(rfc.NASPort_Type, 3)}, []string{"s2"}, 0},
		{"a mismatch in one attribute", []*radius.AVP{str(rfc.UserName_Type, "bob"), integer(rfc.NASPort_Type, 3)}, nil, CauseNotFound},
		{"no such user", []*radius.AVP{str(rfc.UserName_Type, "mallory")}, nil, CauseNotFound},
		{"matching NAS identity", []*radius.AVP{str(rfc.NASIdentifier_Type, "nas-test"), attr(rfc.NASIPAddress_Type, ip4("192.0.2.1")), str(rfc.UserName_Type, "bob")}, []string{"s3"}, 0},
		{"event timestamp now", []*radius.AVP{integer(rfc.EventTimestamp_Type, uint32(time.Now().Unix())), str(rfc.UserName_Type, "bob")}, []string{"s3"}, 0},
		{"no session attribute", []*radius.AVP{str(rfc.NASIdentifier_Type, "nas-test")}, nil, CauseMissingAttribute},
		{"other NAS-Identifier", []*radius.AVP{str(rfc.NASIdentifier_Type, "nas-other"), str(rfc.UserName_Type, "bob")}, nil, CauseNASMismatch},
		{"other NAS-IP-Address", []*radius.AVP{attr(rfc.NASIPAddress_Type, ip4("192.0.2.99")), str(rfc.UserName_Type, "bob")}, nil, CauseNASMismatch},
		{"vendor attribute", []*radius.AVP{str(rfc.UserName_Type, "bob"), vsa(t)}, nil, CauseUnsupportedAttribute},
		{"Session-Timeout in a Disconnect", []*radius.AVP{str(rfc.UserName_Type, "bob"), integer(rfc.SessionTimeout_Type, 0)}, nil, CauseUnsupportedAttribute},
		{"Service-Type in a Disconnect", []*radius.AVP{str(rfc.UserName_Type, "bob"), integer(rfc.ServiceType_Type, 17)}, nil, CauseUnsupportedAttribute},
		{"Filter-Id", []*radius.AVP{str(rfc.UserName_Type, "bob"), str(rfc.FilterID_Type, "x")}, nil, CauseUnsupportedAttribute},
		{"NAS-Port of 3 octets", []*radius.AVP{attr(rfc.NASPort_Type, []byte{0, 0, 2})}, nil, CauseInvalidValue},
		{"empty User-Name", []*radius.AVP{attr(rfc.UserName_Type, nil)}, nil, CauseInvalidValue},
		{"User-Name twice", []*radius.AVP{str(rfc.UserName_Type, "bob"), str(rfc.UserName_Type, "alice")}, nil, CauseInvalidRequest},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			s := startServer(t, f, nil)
			conn := dial(t, s, "127.0.0.1")
			reply := exchange(t, conn, request(t, CodeDisconnectRequest, byte(i), testSecret, true, tt.attrs...), testSecret)
			if tt.gone != nil {
				if reply.Code != CodeDisconnectACK || errorCause(reply) != 0 {
					t.Fatalf("reply %v Error-Cause %v, want Disconnect-ACK", reply.Code, errorCause(reply))
				}
			} else if reply.Code != CodeDisconnectNAK || errorCause(reply) != tt.cause {
				t.Fatalf("reply %v Error-Cause %v, want Disconnect-NAK %v", reply.Code, errorCause(reply), tt.cause)
			}
			if got := f.gone(); !slices.Equal(got, tt.gone) {
				t.Errorf("disconnected %v, want %v", got, tt.gone)
			}
			for _, c := range f.causesGiven() {
				if c != acct.CauseAdminReset {
					t.Errorf("cause %v, want Admin-Reset", c)
				}
			}
		})
	}
}

func vsa(t *testing.T) *radius.AVP {
	p := &radius.Packet{}
	if err := cisco.CiscoAVPair_AddString(p, "subscriber:command=account-logoff"); err != nil {
		t.Fatal(err)
	}
	return p.Attributes[0]
}

func TestCoA(t *testing.T) {
	dur := func(d time.Duration) *time.Duration { return &d }
	tests := []struct {
		name  string
		attrs []*radius.AVP
		want  map[string]Timeouts // nil = a NAK
		cause ErrorCause
	}{
		{"both timeouts", []*radius.AVP{str(rfc.AcctSessionID_Type, "0000000C"), integer(rfc.SessionTimeout_Type, 600), integer(rfc.IdleTimeout_Type, 60)},
			map[string]Timeouts{"s3": {Session: dur(10 * time.Minute), Idle: dur(time.Minute)}}, 0},
		{"idle only, every alice session", []*radius.AVP{str(rfc.UserName_Type, "alice"), integer(rfc.IdleTimeout_Type, 0)},
			map[string]Timeouts{"s1": {Idle: dur(0)}, "s2": {Idle: dur(0)}}, 0},
		{"nothing to change", []*radius.AVP{str(rfc.UserName_Type, "alice")}, nil, CauseMissingAttribute},
		{"Authorize-Only", []*radius.AVP{str(rfc.UserName_Type, "alice"), integer(rfc.ServiceType_Type, 17), str(rfc.State_Type, "x")}, nil, CauseUnsupportedService},
		{"no session", []*radius.AVP{str(rfc.UserName_Type, "zed"), integer(rfc.SessionTimeout_Type, 60)}, nil, CauseNotFound},
		{"bad Session-Timeout", []*radius.AVP{str(rfc.UserName_Type, "alice"), attr(rfc.SessionTimeout_Type, []byte{1})}, nil, CauseInvalidValue},
		{"Class", []*radius.AVP{str(rfc.UserName_Type, "alice"), integer(rfc.SessionTimeout_Type, 60), str(rfc.Class_Type, "c")}, nil, CauseUnsupportedAttribute},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			s := startServer(t, f, nil)
			conn := dial(t, s, "127.0.0.1")
			reply := exchange(t, conn, request(t, CodeCoARequest, byte(i), testSecret, true, tt.attrs...), testSecret)
			if tt.want != nil {
				if reply.Code != CodeCoAACK {
					t.Fatalf("reply %v Error-Cause %v, want CoA-ACK", reply.Code, errorCause(reply))
				}
			} else if reply.Code != CodeCoANAK || errorCause(reply) != tt.cause {
				t.Fatalf("reply %v Error-Cause %v, want CoA-NAK %v", reply.Code, errorCause(reply), tt.cause)
			}
			got := f.timeoutsSet()
			if len(tt.want) != len(got) {
				t.Fatalf("timeouts set %v, want %v", got, tt.want)
			}
			for id, w := range tt.want {
				if !reflect.DeepEqual(got[id], w) {
					t.Errorf("%s: %+v, want %+v", id, got[id], w)
				}
			}
		})
	}
}

// What the session layer answers decides the NAK.
func TestSessionErrors(t *testing.T) {
	for _, tt := range []struct {
		code  radius.Code
		fail  error
		cause ErrorCause
	}{
		{CodeDisconnectRequest, errors.New("line stuck"), CauseNotRemovable},
		{CodeDisconnectRequest, fmt.Errorf("tty1: %w", ErrNoSession), CauseNotFound},
		{CodeCoARequest, errors.New("cannot"), CauseResourcesUnavailable},
	} {
		f := newFake()
		f.fail = tt.fail
		s := startServer(t, f, nil)
		conn := dial(t, s, "127.0.0.1")
		reply := exchange(t, conn, request(t, tt.code, 2, testSecret, true, coaAttrs(tt.code)...), testSecret)
		if reply.Code != tt.code+2 || errorCause(reply) != tt.cause {
			t.Errorf("%v failing with %v: reply %v %v, want NAK %v", tt.code, tt.fail, reply.Code, errorCause(reply), tt.cause)
		}
	}
}

func coaAttrs(code radius.Code) []*radius.AVP {
	if code == CodeCoARequest {
		return []*radius.AVP{str(rfc.UserName_Type, "bob"), integer(rfc.SessionTimeout_Type, 60)}
	}
	return []*radius.AVP{str(rfc.UserName_Type, "bob")}
}

// Proxy-State attributes come back unchanged and in order (RFC 2865 §5.33).
func TestProxyStateEchoed(t *testing.T) {
	s := startServer(t, newFake(), nil)
	conn := dial(t, s, "127.0.0.1")
	reply := exchange(t, conn, request(t, CodeDisconnectRequest, 9, testSecret, true,
		str(rfc.ProxyState_Type, "first"), str(rfc.UserName_Type, "nobody"), str(rfc.ProxyState_Type, "second")), testSecret)
	var got []string
	for _, a := range reply.Attributes {
		if a.Type == rfc.ProxyState_Type {
			got = append(got, string(a.Attribute))
		}
	}
	if !slices.Equal(got, []string{"first", "second"}) || reply.Code != CodeDisconnectNAK {
		t.Errorf("reply %v with Proxy-States %q", reply.Code, got)
	}
}

// A retransmission (same source, Identifier and authenticator) is answered with the same
// bytes and not acted on twice.
func TestRetransmissionAnsweredOnce(t *testing.T) {
	f := newFake()
	s := startServer(t, f, nil)
	conn := dial(t, s, "127.0.0.1")
	req := request(t, CodeDisconnectRequest, 5, testSecret, true, str(rfc.AcctSessionID_Type, "0000000A"))
	first := exchange(t, conn, req, testSecret)
	second := exchange(t, conn, req, testSecret)
	if first.Code != CodeDisconnectACK || second.Code != CodeDisconnectACK {
		t.Fatalf("answers %v then %v, want two ACKs (the second a resend, not a 503)", first.Code, second.Code)
	}
	if got := f.gone(); !slices.Equal(got, []string{"s1"}) || s.Stats().Resent != 1 || s.Stats().ACKs != 1 {
		t.Errorf("disconnected %v, stats %+v", got, s.Stats())
	}
}

// What must be silently discarded gets no answer (RFC 5176 §3.5, §5).
func TestDiscarded(t *testing.T) {
	f := newFake()
	s := startServer(t, f, func(c *Config) {
		c.Clients = append(c.Clients, Client{Address: netip.MustParseAddr("127.0.0.2"), Secret: "other-secret"})
	})
	stale := uint32(time.Now().Add(-time.Hour).Unix())
	bad := map[string][]byte{
		"no Message-Authenticator": request(t, CodeDisconnectRequest, 1, testSecret, false, str(rfc.UserName_Type, "alice")),
		"wrong secret":             request(t, CodeDisconnectRequest, 2, "not-the-secret", true, str(rfc.UserName_Type, "alice")),
		"other client's secret":    request(t, CodeDisconnectRequest, 3, "other-secret", true, str(rfc.UserName_Type, "alice")),
		"stale Event-Timestamp":    request(t, CodeDisconnectRequest, 4, testSecret, true, str(rfc.UserName_Type, "alice"), integer(rfc.EventTimestamp_Type, stale)),
		"an Access-Request":        request(t, radius.CodeAccessRequest, 5, testSecret, true, str(rfc.UserName_Type, "alice")),
		"runt":                     {40, 1, 0},
	}
	tampered := request(t, CodeDisconnectRequest, 6, testSecret, true, str(rfc.UserName_Type, "alice"))
	tampered[len(tampered)-1] ^= 1 // "alicd": the authenticators no longer cover it
	bad["tampered"] = tampered
	// The Request Authenticator is right but the Message-Authenticator is not.
	p := &radius.Packet{Code: CodeDisconnectRequest, Identifier: 7, Secret: []byte(testSecret)}
	p.Attributes = radius.Attributes{attr(rfc.MessageAuthenticator_Type, bytes.Repeat([]byte{7}, 16)), str(rfc.UserName_Type, "alice")}
	wrongMA, _ := p.Encode()
	bad["wrong Message-Authenticator"] = wrongMA

	conn := dial(t, s, "127.0.0.1")
	for _, b := range bad {
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	// From an address that is no client, with the right secret.
	stranger := dial(t, s, "127.0.0.3")
	if _, err := stranger.Write(request(t, CodeDisconnectRequest, 8, testSecret, true, str(rfc.UserName_Type, "alice"))); err != nil {
		t.Fatal(err)
	}
	want := int64(len(bad) + 1)
	eventually(t, "every bad request discarded", func() bool { return s.Stats().Discarded == want })
	// Nothing was answered: the next answer on conn is for the good request.
	good := request(t, CodeDisconnectRequest, 99, testSecret, true, str(rfc.UserName_Type, "bob"))
	if reply := exchange(t, conn, good, testSecret); reply.Identifier != 99 || reply.Code != CodeDisconnectACK {
		t.Fatalf("reply id %d %v", reply.Identifier, reply.Code)
	}
	if got := f.gone(); !slices.Equal(got, []string{"s3"}) {
		t.Errorf("disconnected %v; only bob's session should be", got)
	}
	// The second client is served with its own secret.
	other := dial(t, s, "127.0.0.2")
	if reply := exchange(t, other, request(t, CodeDisconnectRequest, 1, "other-secret", true, str(rfc.UserName_Type, "alice")), "other-secret"); reply.Code != CodeDisconnectACK {
		t.Errorf("second client: %v", reply.Code)
	}
}

func TestListenChecks(t *testing.T) {
	ok := Config{Listen: "127.0.0.1:0", Clients: []Client{{Address: netip.MustParseAddr("127.0.0.1"), Secret: "s"}}, Sessions: newFake()}
	for name, mod := range map[string]func(*Config){
		"no sessions": func(c *Config) { c.Sessions = nil },
		"no clients":  func(c *Config) { c.Clients = nil },
		"no secret":   func(c *Config) { c.Clients = []Client{{Address: netip.MustParseAddr("127.0.0.1")}} },
		"bad listen":  func(c *Config) { c.Listen = "127.0.0.1" },
	} {
		c := ok
		mod(&c)
		if s, err := Listen(c); err == nil {
			s.Close()
			t.Errorf("%s: Listen succeeded", name)
		}
	}
}

func TestServeStopsCleanly(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 3 {
		f := newFake()
		cfg := Config{Listen: "127.0.0.1:0", Clients: []Client{{Address: netip.MustParseAddr("127.0.0.1"), Secret: testSecret}}, Sessions: f, Logger: testLogger()}
		s, err := Listen(cfg)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Serve(t.Context()) }()
		conn := dial(t, s, "127.0.0.1")
		exchange(t, conn, request(t, CodeDisconnectRequest, 1, testSecret, true, str(rfc.UserName_Type, "bob")), testSecret)
		s.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		conn.Close()
	}
	eventually(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}
