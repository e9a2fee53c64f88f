package radius

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2759"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/dictionaries/microsoft"
	"github.com/dialback/nas/dictionaries/rfc"
)

const testSecret = "s3cret-shared"

// testLogger discards logs unless RADIUS_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("RADIUS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// labServer is layeh's in-process PacketServer on loopback, with a small user table and
// counters. It checks the Message-Authenticator of every Access-Request and Status-Server
// (and counts the ones that are missing, not first, or wrong) and signs its replies.
type labServer struct {
	srv    *radius.PacketServer
	done   chan error
	host   string
	port   int
	secret []byte

	noSign atomic.Bool // reply without Message-Authenticator (a legacy server)
	down   atomic.Bool // answer nothing (a silent server)

	access, status, accounting atomic.Int64
	badMA                      atomic.Int64

	mu      sync.Mutex
	last    *radius.Packet                       // the last Access-Request or Accounting-Request
	handler func(*radius.Request) *radius.Packet // nil: the default user table
}

// labUsers: name -> password. Reply attributes come from labReply.
var labUsers = map[string]string{"alice": "wonderland", "bob": "builder", "carol": "a password longer than three 16-octet blocks....."}

func newLabServer(t testing.TB) *labServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &labServer{done: make(chan error, 1), host: "127.0.0.1", port: pc.LocalAddr().(*net.UDPAddr).Port, secret: []byte(testSecret)}
	s.srv = &radius.PacketServer{
		Handler:      s,
		SecretSource: radius.StaticSecretSource(s.secret),
		ErrorLog:     log.New(io.Discard, "", 0),
	}
	go func() { s.done <- s.srv.Serve(pc) }()
	t.Cleanup(s.shutdown)
	return s
}

func (s *labServer) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	<-s.done
}

// server returns the client-side configuration for this server: one try, with a timeout
// long enough for a loaded CI machine. Tests that expect silence set a shorter one.
func (s *labServer) server() Server {
	return Server{Address: s.host, AuthPort: s.port, AcctPort: s.port, Secret: testSecret, Timeout: 500 * time.Millisecond}
}

func (s *labServer) setHandler(h func(*radius.Request) *radius.Packet) {
	s.mu.Lock()
	s.handler = h
	s.mu.Unlock()
}

func (s *labServer) lastRequest() *radius.Packet {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func (s *labServer) ServeRADIUS(w radius.ResponseWriter, r *radius.Request) {
	switch r.Code {
	case radius.CodeStatusServer:
		s.status.Add(1)
	case radius.CodeAccessRequest:
		s.access.Add(1)
	case radius.CodeAccountingRequest:
		s.accounting.Add(1)
	}
	if r.Code == radius.CodeAccessRequest || r.Code == radius.CodeStatusServer {
		if !requestMAOK(r.Packet) {
			s.badMA.Add(1)
			return
		}
	}
	if s.down.Load() {
		return
	}
	s.mu.Lock()
	if r.Code != radius.CodeStatusServer {
		s.last = r.Packet
	}
	h := s.handler
	s.mu.Unlock()
	var resp *radius.Packet
	switch {
	case r.Code == radius.CodeStatusServer && h == nil:
		resp = r.Response(radius.CodeAccessAccept)
	case h != nil:
		resp = h(r)
	case r.Code == radius.CodeAccountingRequest:
		resp = r.Response(radius.CodeAccountingResponse)
	default:
		resp = labAuth(r)
	}
	if resp == nil {
		return
	}
	if !s.noSign.Load() {
		signReply(resp)
	}
	_ = w.Write(resp)
}

// labAuth checks PAP, CHAP-MD5 and MS-CHAPv2 against labUsers.
func labAuth(r *radius.Request) *radius.Packet {
	p := r.Packet
	user := rfc.UserName_GetString(p)
	pw, known := labUsers[user]
	ok := false
	var success []byte
	switch {
	case len(rfc.CHAPPassword_Get(p)) > 0:
		cp := rfc.CHAPPassword_Get(p)
		want := aaa.CHAPMD5Response(cp[0], pw, rfc.CHAPChallenge_Get(p))
		ok = known && len(cp) == 17 && bytes.Equal(cp[1:], want[:])
	case len(microsoft.MSCHAP2Response_Get(p)) > 0:
		resp := microsoft.MSCHAP2Response_Get(p)
		challenge := microsoft.MSCHAPChallenge_Get(p)
		nt, err := rfc2759.GenerateNTResponse(challenge, resp[2:18], []byte(user), []byte(pw))
		ok = known && err == nil && bytes.Equal(nt, resp[26:50])
		if ok {
			auth, _ := rfc2759.GenerateAuthenticatorResponse(challenge, resp[2:18], nt, []byte(user), []byte(pw))
			success = append([]byte{resp[0]}, auth...)
		}
	default:
		got, err := rfc.UserPassword_LookupString(p)
		ok = known && err == nil && got == pw
	}
	if !ok {
		q := r.Response(radius.CodeAccessReject)
		rfc.ReplyMessage_AddString(q, "Authentication failed")
		// Attributes on a reject must be ignored by the NAS.
		rfc.CallbackNumber_AddString(q, "5550000")
		return q
	}
	q := r.Response(radius.CodeAccessAccept)
	if success != nil {
		microsoft.MSCHAP2Success_Add(q, success)
	}
	rfc.SessionTimeout_Add(q, 3600)
	rfc.Class_Add(q, []byte("class-"+user))
	return q
}

// requestMAOK reports whether p starts with a correct Message-Authenticator.
func requestMAOK(p *radius.Packet) bool {
	if len(p.Attributes) == 0 || p.Attributes[0].Type != rfc.MessageAuthenticator_Type || len(p.Attributes[0].Attribute) != 16 {
		return false
	}
	b, err := p.MarshalBinary()
	if err != nil {
		return false
	}
	got := append([]byte(nil), b[22:38]...)
	clear(b[22:38])
	mac := hmac.New(md5.New, p.Secret)
	mac.Write(b)
	return hmac.Equal(mac.Sum(nil), got)
}

// signReply puts a Message-Authenticator first in a reply made with Request.Response (whose
// Authenticator is still the request's, as RFC 3579 §3.2 computes it). The server's Encode
// then computes the Response Authenticator over it.
func signReply(q *radius.Packet) {
	if q.Code == radius.CodeAccountingResponse {
		return
	}
	q.Attributes = append(radius.Attributes{{Type: rfc.MessageAuthenticator_Type, Attribute: make(radius.Attribute, 16)}}, q.Attributes...)
	b, err := q.MarshalBinary()
	if err != nil {
		panic(err)
	}
	mac := hmac.New(md5.New, q.Secret)
	mac.Write(b)
	copy(q.Attributes[0].Attribute, mac.Sum(nil))
}

// rawServer answers each datagram with what reply returns (any bytes, possibly several
// datagrams), so tests can send what no well-behaved server would.
type rawServer struct {
	pc   net.PacketConn
	port int
	wg   sync.WaitGroup
	seen atomic.Int64
}

func newRawServer(t testing.TB, reply func(req []byte) [][]byte) *rawServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{pc: pc, port: pc.LocalAddr().(*net.UDPAddr).Port}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		buf := make([]byte, 4096)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			s.seen.Add(1)
			if reply == nil {
				continue
			}
			for _, d := range reply(append([]byte(nil), buf[:n]...)) {
				_, _ = pc.WriteTo(d, from)
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); s.wg.Wait() })
	return s
}

// server returns the client-side configuration for this server: three tries of 100 ms, so
// that a reply to discard is waited for through a scheduling hiccup.
func (s *rawServer) server() Server {
	return Server{Address: "127.0.0.1", AuthPort: s.port, AcctPort: s.port, Secret: testSecret, Timeout: 100 * time.Millisecond, Retransmits: 2}
}

// buildReply encodes a reply to req: code, attrs, a Message-Authenticator first if sign, and
// the Response Authenticator, all with secret.
func buildReply(req []byte, secret string, code radius.Code, sign bool, attrs ...*radius.AVP) []byte {
	q := &radius.Packet{Code: code, Identifier: req[1], Secret: []byte(secret)}
	copy(q.Authenticator[:], req[4:20])
	q.Attributes = append(q.Attributes, attrs...)
	if sign {
		signReply(q)
	}
	b, err := q.Encode()
	if err != nil {
		panic(err)
	}
	return b
}

// closedPort returns a loopback UDP port nothing listens on.
func closedPort(t testing.TB) int {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	return port
}

func newClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	if cfg.NASIdentifier == "" {
		cfg.NASIdentifier = "nas-test"
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakePrompter answers challenges from a list and records what it was shown.
type fakePrompter struct {
	answers []string
	texts   []string
	echoes  []bool
}

func (f *fakePrompter) Prompt(_ context.Context, text string, echo bool) (string, error) {
	f.texts = append(f.texts, text)
	f.echoes = append(f.echoes, echo)
	if len(f.answers) == 0 {
		return "", io.EOF
	}
	a := f.answers[0]
	f.answers = f.answers[1:]
	return a, nil
}

func openFDs(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(ents)
}

func itoa(i int) string { return strconv.Itoa(i) }
