package tacacs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tq "github.com/facebookincubator/tacquito"

	"github.com/dialback/nas/aaa"
)

// quietLog keeps test output readable; set TACACS_TEST_LOG=1 to see the client's logs.
func quietLog() *slog.Logger {
	if os.Getenv("TACACS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// tqLogger is tacquito's logger interface, discarding.
type tqLogger struct{}

func (tqLogger) Infof(context.Context, string, ...any)                {}
func (tqLogger) Errorf(context.Context, string, ...any)               {}
func (tqLogger) Debugf(context.Context, string, ...any)               {}
func (tqLogger) Record(context.Context, map[string]string, ...string) {}

// secretProvider hands tacquito the server's current secret (tests change it).
type secretProvider struct {
	secret *atomic.Pointer[[]byte]
	h      tq.Handler
}

func (p secretProvider) Get(context.Context, net.Addr) ([]byte, tq.Handler, error) {
	return *p.secret.Load(), p.h, nil
}

// countingListener counts the connections a server accepts and can cut them all.
type countingListener struct {
	*net.TCPListener
	accepts atomic.Int32
	mu      sync.Mutex
	conns   []net.Conn
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.TCPListener.Accept()
	if err != nil {
		return nil, err
	}
	l.accepts.Add(1)
	l.mu.Lock()
	l.conns = append(l.conns, c)
	l.mu.Unlock()
	return c, nil
}

// cut closes every accepted connection from the server side.
func (l *countingListener) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		_ = c.Close()
	}
	l.conns = nil
}

// tlsListener is a TLS listener with the deadline tacquito's Serve wants.
type tlsListener struct {
	net.Listener
	tcp *countingListener
}

func (l tlsListener) SetDeadline(t time.Time) error { return l.tcp.SetDeadline(t) }

// tqServer is tacquito's in-process server on a random loopback port.
type tqServer struct {
	addr   string
	l      *countingListener
	secret atomic.Pointer[[]byte]
	stop   func()
}

func (s *tqServer) setSecret(secret string) {
	b := []byte(secret)
	s.secret.Store(&b)
}

func startTQ(t testing.TB, secret string, h tq.Handler, tlsConf *tls.Config) *tqServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{TCPListener: ln.(*net.TCPListener)}
	var dl tq.DeadlineListener = cl
	var opts []tq.Option
	if tlsConf != nil {
		dl = tlsListener{Listener: tls.NewListener(cl, tlsConf), tcp: cl}
		opts = append(opts, tq.SetUseTLS(true))
	}
	s := &tqServer{addr: ln.Addr().String(), l: cl}
	s.setSecret(secret)
	srv := tq.NewServer(tqLogger{}, secretProvider{secret: &s.secret, h: h}, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ctx, dl)
	}()
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			_ = ln.Close()
			cl.cut()
			<-done
		})
	}
	t.Cleanup(s.stop)
	return s
}

// newClient builds a client on the given servers and closes it when the test ends (before
// the servers stop: cleanups run last-in first-out).
func newClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLog()
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func tcpServer(addr, secret string) Server {
	return Server{Address: addr, Secret: secret, Timeout: 2 * time.Second}
}

// reply writes v as the reply to req through tacquito's normal path.
func reply(resp tq.Response, v tq.EncoderDecoder) {
	_, _ = resp.Reply(v)
}

// rawReply writes a reply with a header of our choosing (tacquito obfuscates the body with
// the server's secret and fixes the length).
func rawReply(resp tq.Response, req tq.Request, seqDelta int, sessionDelta uint32, flags tq.HeaderFlag, body []byte) {
	h := tq.NewHeader(
		tq.SetHeaderVersion(req.Header.Version),
		tq.SetHeaderType(req.Header.Type),
		tq.SetHeaderSeqNo(int(req.Header.SeqNo)+seqDelta),
		tq.SetHeaderFlag(flags),
		tq.SetHeaderSessionID(req.Header.SessionID+tq.SessionID(sessionDelta)),
	)
	_, _ = resp.Write(tq.NewPacket(tq.SetPacketHeader(h), tq.SetPacketBody(body)))
}

// prompt is one question put to a scripted user.
type prompt struct {
	text string
	echo bool
}

// scriptPrompter answers prompts from a list and records them.
type scriptPrompter struct {
	mu      sync.Mutex
	answers []string
	asked   []prompt
	err     error
}

func (p *scriptPrompter) Prompt(_ context.Context, text string, echo bool) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.asked = append(p.asked, prompt{text, echo})
	if p.err != nil {
		return "", p.err
	}
	if len(p.answers) == 0 {
		return "", errors.New("script has no more answers")
	}
	a := p.answers[0]
	p.answers = p.answers[1:]
	return a, nil
}

var _ aaa.Prompter = (*scriptPrompter)(nil)

// rawServer is a hand-written TACACS+ server for replies tacquito cannot produce: bodies
// whose length lies, connections closed mid-session, broken headers.
type rawServer struct {
	addr   string
	secret []byte
	// behave handles one client packet (clear body) and reports whether to keep the
	// connection open.
	behave atomic.Pointer[func(c net.Conn, h header, body []byte) bool]
	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

func startRaw(t testing.TB, secret string) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{addr: ln.Addr().String(), secret: []byte(secret), ln: ln, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.conns, c)
					s.mu.Unlock()
					_ = c.Close()
				}()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(s.stop)
	return s
}

func (s *rawServer) stop() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *rawServer) set(f func(c net.Conn, h header, body []byte) bool) { s.behave.Store(&f) }

func (s *rawServer) serve(c net.Conn) {
	for {
		var hb [headerLen]byte
		if _, err := io.ReadFull(c, hb[:]); err != nil {
			return
		}
		h := parseHeader(hb[:])
		body := make([]byte, h.length)
		if _, err := io.ReadFull(c, body); err != nil {
			return
		}
		obfuscate(body, h.sessionID, s.secret, h.version, h.seq)
		f := s.behave.Load()
		if f == nil || !(*f)(c, h, body) {
			return
		}
	}
}

// write sends a reply to h: seq+1, same session, the body obfuscated with secret. length,
// if not negative, replaces the true body length in the header.
func (s *rawServer) write(c net.Conn, h header, body []byte, length int) {
	out := make([]byte, headerLen+len(body))
	out[0] = h.version
	out[1] = byte(h.typ)
	out[2] = h.seq + 1
	out[3] = 0
	binary.BigEndian.PutUint32(out[4:], h.sessionID)
	if length < 0 {
		length = len(body)
	}
	binary.BigEndian.PutUint32(out[8:], uint32(length))
	copy(out[headerLen:], body)
	obfuscate(out[headerLen:], h.sessionID, s.secret, h.version, h.seq+1)
	_, _ = c.Write(out)
}

// authenReplyBody builds a REPLY body by hand (tacquito will not marshal FOLLOW).
func authenReplyBody(status, flags byte, msg string, data []byte) []byte {
	b := []byte{status, flags, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(b[2:], uint16(len(msg)))
	binary.BigEndian.PutUint16(b[4:], uint16(len(data)))
	b = append(b, msg...)
	return append(b, data...)
}

// goodRaw is a correct raw server: PAP and ASCII (user in START) pass for any password.
func goodRaw(s *rawServer) func(c net.Conn, h header, body []byte) bool {
	return func(c net.Conn, h header, body []byte) bool {
		if h.seq == 1 && len(body) > 2 && body[2] == byte(tq.AuthenTypeASCII) {
			s.write(c, h, authenReplyBody(authenGetPass, replyFlagNoEcho, "Password: ", nil), -1)
			return true
		}
		s.write(c, h, authenReplyBody(authenPass, 0, "", nil), -1)
		return true
	}
}

// leakCheck records goroutines and open files now and, at the end, waits until they are
// back to that level.
func leakCheck(t *testing.T) func() {
	t.Helper()
	g0, f0 := runtime.NumGoroutine(), openFDs(t)
	return func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			g, f := runtime.NumGoroutine(), openFDs(t)
			if g <= g0 && f <= f0 {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				n := runtime.Stack(buf, true)
				t.Fatalf("leak: %d goroutines (was %d), %d fds (was %d)\n%s", g, g0, f, f0, buf[:n])
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func openFDs(t *testing.T) int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(es)
}

// testPKI is a CA made at test time, a server certificate for 127.0.0.1 and a client
// certificate, all signed by the CA.
type testPKI struct {
	caDER      []byte
	pool       *x509.CertPool
	serverCert tls.Certificate
	clientCert tls.Certificate
}

func newPKI(t testing.TB) *testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "nas test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) tls.Certificate {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testPKI{
		caDER:      caDER,
		pool:       pool,
		serverCert: leaf(2, "tacacs.test", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)}),
		clientCert: leaf(3, "nas.test", x509.ExtKeyUsageClientAuth, nil),
	}
}

// deadAddr is a loopback address nothing listens on: connecting is refused.
func deadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// blackhole accepts connections and never answers; it counts them.
func blackhole(t testing.TB) (addr string, accepts *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepts = new(atomic.Int32)
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String(), accepts
}
