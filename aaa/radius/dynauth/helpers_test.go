package dynauth

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"

	"github.com/dialback/nas/aaa/acct"
	"github.com/dialback/nas/dictionaries/rfc"
)

const testSecret = "coa-secret"

func testLogger() *slog.Logger {
	if os.Getenv("RADIUS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// fakeSessions is a session table that records what it was asked to do.
type fakeSessions struct {
	mu       sync.Mutex
	sessions []Session
	// fail makes Disconnect and SetTimeouts return this error.
	fail         error
	disconnected []string
	causes       []acct.Cause
	timeouts     map[string]Timeouts
}

func (f *fakeSessions) List() []Session {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Session(nil), f.sessions...)
}

func (f *fakeSessions) Disconnect(_ context.Context, id string, cause acct.Cause) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	for i, s := range f.sessions {
		if s.ID == id {
			f.sessions = append(f.sessions[:i], f.sessions[i+1:]...)
			f.disconnected = append(f.disconnected, id)
			f.causes = append(f.causes, cause)
			return nil
		}
	}
	return ErrNoSession
}

func (f *fakeSessions) SetTimeouts(_ context.Context, id string, t Timeouts) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if f.timeouts == nil {
		f.timeouts = map[string]Timeouts{}
	}
	f.timeouts[id] = t
	return nil
}

func (f *fakeSessions) timeoutsSet() map[string]Timeouts {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]Timeouts{}
	for k, v := range f.timeouts {
		out[k] = v
	}
	return out
}

func (f *fakeSessions) causesGiven() []acct.Cause {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]acct.Cause(nil), f.causes...)
}

func (f *fakeSessions) gone() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.disconnected...)
}

func newFake() *fakeSessions {
	return &fakeSessions{sessions: []Session{
		{ID: "s1", AcctSessionID: "0000000A", AcctMultiSessionID: "0000000A", User: "alice", Line: 1, PortName: "tty1",
			Address: netip.MustParseAddr("10.0.0.5"), CallerID: "5552001", CalledID: "5551001"},
		{ID: "s2", AcctSessionID: "0000000B", AcctMultiSessionID: "0000000A", User: "alice", Line: 3, PortName: "tty3",
			Address: netip.MustParseAddr("10.0.0.6"), CallerID: "", CalledID: "5552001"},
		{ID: "s3", AcctSessionID: "0000000C", User: "bob", Line: 2, PortName: "tty2", CallerID: "5552002"},
	}}
}

// startServer runs a server for the fake on loopback, with 127.0.0.1 as its only client.
func startServer(t *testing.T, f Sessions, mod func(*Config)) *Server {
	t.Helper()
	cfg := Config{
		Listen:        "127.0.0.1:0",
		Clients:       []Client{{Address: netip.MustParseAddr("127.0.0.1"), Secret: testSecret}},
		NASIdentifier: "nas-test",
		NASIPAddress:  netip.MustParseAddr("192.0.2.1"),
		Sessions:      f,
		Logger:        testLogger(),
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

// attr builds one attribute.
func attr(t radius.Type, v []byte) *radius.AVP { return &radius.AVP{Type: t, Attribute: v} }
func str(t radius.Type, s string) *radius.AVP  { return attr(t, []byte(s)) }
func integer(t radius.Type, n uint32) *radius.AVP {
	return attr(t, radius.NewInteger(n))
}

// request encodes a Disconnect- or CoA-Request as a DAC does: a Message-Authenticator first
// (unless sign is false) computed with a zero Request Authenticator, then the Request
// Authenticator over the signed packet (RFC 5176 §2.3, §3.5).
func request(t testing.TB, code radius.Code, id byte, secret string, sign bool, attrs ...*radius.AVP) []byte {
	t.Helper()
	p := &radius.Packet{Code: code, Identifier: id, Secret: []byte(secret)}
	if sign {
		p.Attributes = append(p.Attributes, attr(rfc.MessageAuthenticator_Type, make([]byte, 16)))
	}
	p.Attributes = append(p.Attributes, attrs...)
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if sign {
		mac := hmac.New(md5.New, []byte(secret))
		mac.Write(b) // authenticator still zero
		copy(p.Attributes[0].Attribute, mac.Sum(nil))
	}
	b, err = p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dial opens a socket to s from the loopback address from.
func dial(t *testing.T, s *Server, from string) *net.UDPConn {
	t.Helper()
	conn, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(from)}, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// exchange sends b and returns the verified reply.
func exchange(t *testing.T, conn *net.UDPConn, b []byte, secret string) *radius.Packet {
	t.Helper()
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
	return readReply(t, conn, b, secret)
}

func readReply(t *testing.T, conn *net.UDPConn, req []byte, secret string) *radius.Packet {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	resp := buf[:n]
	if err := verifyAnswer(req, resp, []byte(secret)); err != nil {
		t.Fatalf("reply: %v", err)
	}
	p, err := radius.Parse(resp, []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// verifyAnswer checks the Response Authenticator and the Message-Authenticator of an answer,
// the way a DAC does.
func verifyAnswer(req, resp, secret []byte) error {
	if !radius.IsAuthenticResponse(resp, req, secret) {
		return errors.New("bad Response Authenticator")
	}
	if resp[1] != req[1] {
		return errors.New("identifier mismatch")
	}
	if len(resp) < 38 || resp[20] != byte(rfc.MessageAuthenticator_Type) || resp[21] != 18 {
		return errors.New("no Message-Authenticator first")
	}
	buf := append([]byte(nil), resp...)
	copy(buf[4:20], req[4:20])
	clear(buf[22:38])
	mac := hmac.New(md5.New, secret)
	mac.Write(buf)
	if !hmac.Equal(mac.Sum(nil), resp[22:38]) {
		return errors.New("bad Message-Authenticator")
	}
	return nil
}

func errorCause(p *radius.Packet) ErrorCause {
	v, err := rfc.ErrorCause_Lookup(p)
	if err != nil {
		return 0
	}
	return v
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
