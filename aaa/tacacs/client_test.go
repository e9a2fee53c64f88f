package tacacs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tq "github.com/facebookincubator/tacquito"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/config"
)

var papAlice = aaa.Request{Service: aaa.ServicePPP, User: "alice", Password: "wonderland"}

func auth(c *Client, r aaa.Request) error {
	_, err := c.Authenticate(context.Background(), &r)
	return err
}

func TestConfig(t *testing.T) {
	pki := newPKI(t)
	tests := []struct {
		name    string
		srv     Server
		wantErr string
	}{
		{"tcp needs a secret", Server{Address: "127.0.0.1:49"}, "secret is empty"},
		{"no address", Server{Secret: "k"}, "address is empty"},
		{"tls needs a port", Server{Address: "127.0.0.1", TLS: &TLS{RootCAs: pki.pool}}, "explicit port"},
		{"tls needs a CA", Server{Address: "127.0.0.1:4949", TLS: &TLS{}}, "CA"},
		{"negative timeout", Server{Address: "h:49", Secret: "k", Timeout: -1}, "negative"},
		{"default port", Server{Address: "127.0.0.1", Secret: "k"}, ""},
		{"tls without secret", Server{Address: "127.0.0.1:4949", TLS: &TLS{RootCAs: pki.pool}}, ""},
	}
	for _, tt := range tests {
		c, err := New(Config{Servers: []Server{tt.srv}})
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.wantErr)
		}
		_ = c
	}
	if c, _ := New(Config{Servers: []Server{{Address: "127.0.0.1", Secret: "k"}}}); c.servers[0].addr != "127.0.0.1:49" {
		t.Errorf("default port: %s", c.servers[0].addr)
	}
	if _, err := New(Config{}); err == nil {
		t.Error("a group without servers was accepted")
	}
}

// localMethod stands in for aaa/local in method-list tests.
type localMethod struct{ calls int }

func (l *localMethod) Name() string { return "local" }
func (l *localMethod) Authenticate(context.Context, *aaa.Request) (*aaa.Profile, error) {
	l.calls++
	return &aaa.Profile{User: "alice"}, nil
}
func (l *localMethod) Authorize(context.Context, *aaa.Request) (*aaa.Profile, error) {
	l.calls++
	return &aaa.Profile{User: "alice"}, nil
}

func TestFailoverAndMethodList(t *testing.T) {
	f := newFake()
	good := startTQ(t, "k", f, nil)
	wrongKey := startTQ(t, "other", newFake(), nil)
	hole, _ := blackhole(t)
	fast := func(addr string) Server {
		s := tcpServer(addr, "k")
		s.Timeout = 200 * time.Millisecond
		return s
	}

	tests := []struct {
		name       string
		servers    []Server
		wantSource string // "" = local answered
		wantErr    error
		notErr     error
	}{
		{"refused, then good", []Server{fast(deadAddr(t)), fast(good.addr)}, "tacacs " + good.addr, nil, nil},
		{"silent, then good", []Server{fast(hole), fast(good.addr)}, "tacacs " + good.addr, nil, nil},
		{"wrong key, then good", []Server{fast(wrongKey.addr), fast(good.addr)}, "tacacs " + good.addr, nil, nil},
		{"all unreachable: local answers", []Server{fast(deadAddr(t)), fast(hole)}, "local", nil, nil},
		{"wrong key only: no fall-through", []Server{fast(wrongKey.addr)}, "", ErrBadSecret, aaa.ErrUnreachable},
		{"wrong key and unreachable: no fall-through", []Server{fast(deadAddr(t)), fast(wrongKey.addr)}, "", ErrBadSecret, aaa.ErrUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			local := &localMethod{}
			c := newClient(t, Config{Servers: tt.servers, SkipAuthorization: true})
			ml := aaa.MethodList{Service: aaa.ServicePPP, Methods: []aaa.Method{c, local}}
			r := papAlice
			p, err := ml.Authenticate(context.Background(), &r)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || errors.Is(err, tt.notErr) || local.calls != 0 {
					t.Fatalf("err = %v (local called %d times)", err, local.calls)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Source != tt.wantSource {
				t.Errorf("answered by %q, want %q", p.Source, tt.wantSource)
			}
		})
	}

	// A reject is an answer: the list stops there.
	local := &localMethod{}
	c := newClient(t, Config{Servers: []Server{fast(good.addr)}, SkipAuthorization: true})
	r := aaa.Request{Service: aaa.ServicePPP, User: "alice", Password: "bad"}
	if _, err := (aaa.MethodList{Methods: []aaa.Method{c, local}}).Authenticate(context.Background(), &r); !errors.Is(err, aaa.ErrRejected) || local.calls != 0 {
		t.Fatalf("err = %v, local calls %d", err, local.calls)
	}
}

func TestDeadtime(t *testing.T) {
	f := newFake()
	good := startTQ(t, "k", f, nil)
	for _, tt := range []struct {
		deadtime    time.Duration
		wantAccepts int32
	}{{0, 2}, {time.Minute, 1}} {
		hole, accepts := blackhole(t)
		s1 := tcpServer(hole, "k")
		s1.Timeout = 100 * time.Millisecond
		c := newClient(t, Config{Servers: []Server{s1, tcpServer(good.addr, "k")}, Deadtime: tt.deadtime, SkipAuthorization: true})
		for i := 0; i < 2; i++ {
			if err := auth(c, papAlice); err != nil {
				t.Fatal(err)
			}
		}
		if got := accepts.Load(); got != tt.wantAccepts {
			t.Errorf("deadtime %v: the silent server was tried %d times, want %d", tt.deadtime, got, tt.wantAccepts)
		}
	}
}

func TestSingleConnection(t *testing.T) {
	f := newFake()
	for _, tt := range []struct {
		name        string
		single      bool
		disagree    bool
		cut         bool
		wantAccepts int32
	}{
		{name: "one connection per session", single: false, wantAccepts: 4},
		{name: "single-connection", single: true, wantAccepts: 1},
		{name: "server closes the idle connection: reconnect", single: true, cut: true, wantAccepts: 2},
		{name: "server does not agree", single: true, disagree: true, wantAccepts: 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := startTQ(t, "k", f, nil)
			if tt.disagree {
				f.setOverride(func(resp tq.Response, req tq.Request) bool {
					b, _ := tq.NewAuthenReply(tq.SetAuthenReplyStatus(tq.AuthenStatusPass)).MarshalBinary()
					rawReply(resp, req, 1, 0, req.Header.Flags&^tq.SingleConnect, b)
					return true
				})
				defer f.setOverride(nil)
			}
			s := tcpServer(srv.addr, "k")
			s.SingleConnection = tt.single
			c := newClient(t, Config{Servers: []Server{s}, SkipAuthorization: true})
			for i := 0; i < 4; i++ {
				if tt.cut && i == 2 {
					srv.l.cut()
				}
				if err := auth(c, papAlice); err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
			}
			if got := srv.l.accepts.Load(); got != tt.wantAccepts {
				t.Errorf("%d connections, want %d", got, tt.wantAccepts)
			}
		})
	}
}

func TestContextCancel(t *testing.T) {
	hole, _ := blackhole(t)
	s := tcpServer(hole, "k")
	s.Timeout = time.Minute
	c := newClient(t, Config{Servers: []Server{s}, SkipAuthorization: true})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	r := papAlice
	_, err := c.Authenticate(ctx, &r)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, aaa.ErrUnreachable) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
}

func TestTLS(t *testing.T) {
	pki := newPKI(t)
	other := newPKI(t)
	f := newFake()
	optional := startTQ(t, "", f, &tls.Config{
		MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{pki.serverCert},
		ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pki.pool,
	})
	required := startTQ(t, "", f, &tls.Config{
		MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{pki.serverCert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki.pool,
	})
	tlsServer := func(addr string, tc *TLS, single bool) Server {
		return Server{Address: addr, TLS: tc, Timeout: 2 * time.Second, SingleConnection: single}
	}
	tests := []struct {
		name        string
		srv         Server
		wantAccepts int32 // for the server, after 3 requests; 0 = do not check
		fail        bool
	}{
		{name: "verified server", srv: tlsServer(optional.addr, &TLS{RootCAs: pki.pool}, false)},
		{name: "with client certificate", srv: tlsServer(required.addr, &TLS{RootCAs: pki.pool, Certificate: &pki.clientCert}, false)},
		{name: "single-connection over TLS", srv: tlsServer(optional.addr, &TLS{RootCAs: pki.pool}, true)},
		{name: "certificate from another CA", srv: tlsServer(optional.addr, &TLS{RootCAs: other.pool}, false), fail: true},
		{name: "wrong server name", srv: tlsServer(optional.addr, &TLS{RootCAs: pki.pool, ServerName: "elsewhere"}, false), fail: true},
		{name: "server wants a client certificate", srv: tlsServer(required.addr, &TLS{RootCAs: pki.pool}, false), fail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, Config{Servers: []Server{tt.srv}})
			f.author = map[string][]string{"ppp/lcp": {"callback-dialstring=1"}, "ppp/ip": {}}
			before := optional.l.accepts.Load()
			for i := 0; i < 3; i++ {
				r := papAlice
				p, err := c.Authenticate(context.Background(), &r)
				if tt.fail {
					if err == nil || errors.Is(err, aaa.ErrUnreachable) || errors.Is(err, aaa.ErrRejected) {
						t.Fatalf("err = %v, want a configuration failure that does not fall through", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if p.Callback == nil {
					t.Fatal("no authorization over TLS")
				}
			}
			if tt.srv.SingleConnection {
				if n := optional.l.accepts.Load() - before; n != 1 {
					t.Errorf("%d TLS connections for 9 sessions, want 1", n)
				}
			}
		})
	}
}

// TestBadServers: each misbehaviour ends that request with a clear failure of the right
// kind, the next request on the same client works, and nothing leaks.
func TestBadServers(t *testing.T) {
	check := leakCheck(t)
	t.Run("cases", func(t *testing.T) {
		f := newFake()
		tqs := startTQ(t, "k", f, nil)
		raw := startRaw(t, "k")

		type kind int
		const (
			onTQ kind = iota
			onRaw
		)
		asciiAlice := aaa.Request{Service: aaa.ServiceLogin, User: "alice", Password: "wonderland"}
		tests := []struct {
			name    string
			on      kind
			req     aaa.Request
			setup   func()
			wantErr error
		}{
			{name: "wrong sequence number", on: onTQ, req: papAlice, wantErr: ErrProtocol, setup: func() {
				f.setOverride(func(resp tq.Response, req tq.Request) bool {
					b, _ := tq.NewAuthenReply(tq.SetAuthenReplyStatus(tq.AuthenStatusPass)).MarshalBinary()
					rawReply(resp, req, 3, 0, req.Header.Flags, b)
					return true
				})
			}},
			{name: "wrong session id", on: onTQ, req: papAlice, wantErr: ErrProtocol, setup: func() {
				f.setOverride(func(resp tq.Response, req tq.Request) bool {
					b, _ := tq.NewAuthenReply(tq.SetAuthenReplyStatus(tq.AuthenStatusPass)).MarshalBinary()
					rawReply(resp, req, 1, 1, req.Header.Flags, b)
					return true
				})
			}},
			{name: "never answers", on: onTQ, req: papAlice, wantErr: aaa.ErrUnreachable, setup: func() {
				f.setOverride(func(tq.Response, tq.Request) bool { return true })
			}},
			{name: "different secret", on: onTQ, req: papAlice, wantErr: ErrBadSecret, setup: func() {
				// tacquito picks the secret when it accepts: drop the open connections.
				tqs.setSecret("not-k")
				tqs.l.cut()
			}},
			{name: "closes mid-session", on: onRaw, req: asciiAlice, wantErr: aaa.ErrUnreachable, setup: func() {
				raw.set(func(c net.Conn, h header, body []byte) bool {
					if h.seq == 1 {
						raw.write(c, h, authenReplyBody(authenGetPass, replyFlagNoEcho, "Password: ", nil), -1)
						return true
					}
					return false // close on the CONTINUE
				})
			}},
			{name: "body longer than sent, then close", on: onRaw, req: papAlice, wantErr: aaa.ErrUnreachable, setup: func() {
				raw.set(func(c net.Conn, h header, body []byte) bool {
					raw.write(c, h, authenReplyBody(authenPass, 0, "", nil), 200)
					return false
				})
			}},
			{name: "body longer than sent, stays open", on: onRaw, req: papAlice, wantErr: aaa.ErrUnreachable, setup: func() {
				raw.set(func(c net.Conn, h header, body []byte) bool {
					raw.write(c, h, authenReplyBody(authenPass, 0, "", nil), 200)
					return true
				})
			}},
			{name: "body shorter than sent", on: onRaw, req: papAlice, wantErr: ErrProtocol, setup: func() {
				raw.set(func(c net.Conn, h header, body []byte) bool {
					raw.write(c, h, authenReplyBody(authenPass, 0, "hello", nil), 4)
					return true
				})
			}},
			{name: "body over the limit", on: onRaw, req: papAlice, wantErr: ErrProtocol, setup: func() {
				raw.set(func(c net.Conn, h header, body []byte) bool {
					raw.write(c, h, authenReplyBody(authenPass, 0, "", nil), maxBody+1)
					return true
				})
			}},
			{name: "wrong version", on: onRaw, req: papAlice, wantErr: ErrProtocol, setup: func() {
				raw.set(func(c net.Conn, h header, body []byte) bool {
					h.version = 0xd0
					raw.write(c, h, authenReplyBody(authenPass, 0, "", nil), -1)
					return true
				})
			}},
			{name: "clear reply over TCP", on: onRaw, req: papAlice, wantErr: ErrProtocol, setup: func() {
				raw.set(func(c net.Conn, h header, body []byte) bool {
					b := authenReplyBody(authenPass, 0, "", nil)
					out := make([]byte, headerLen, headerLen+len(b))
					out[0], out[1], out[2], out[3] = h.version, byte(h.typ), h.seq+1, flagUnencrypted
					out[4], out[5], out[6], out[7] = byte(h.sessionID>>24), byte(h.sessionID>>16), byte(h.sessionID>>8), byte(h.sessionID)
					out[11] = byte(len(b))
					_, _ = c.Write(append(out, b...))
					return true
				})
			}},
		}
		for _, single := range []bool{false, true} {
			for _, tt := range tests {
				name := tt.name
				if single {
					name += " (single-connection)"
				}
				t.Run(name, func(t *testing.T) {
					addr := tqs.addr
					if tt.on == onRaw {
						addr = raw.addr
					}
					s := tcpServer(addr, "k")
					s.Timeout = 300 * time.Millisecond
					s.SingleConnection = single
					c := newClient(t, Config{Servers: []Server{s}, SkipAuthorization: true})
					// A good request first, so single-connection mode has a connection to spoil.
					f.setOverride(nil)
					tqs.setSecret("k")
					raw.set(goodRaw(raw))
					if err := auth(c, tt.req); err != nil {
						t.Fatalf("warm-up: %v", err)
					}

					tt.setup()
					err := auth(c, tt.req)
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("err = %v, want %v", err, tt.wantErr)
					}
					if tt.wantErr != aaa.ErrUnreachable && errors.Is(err, aaa.ErrUnreachable) {
						t.Fatalf("err = %v must not read as unreachable", err)
					}
					if !strings.Contains(err.Error(), addr) {
						t.Errorf("err = %v does not name the server", err)
					}

					f.setOverride(nil)
					tqs.setSecret("k")
					raw.set(goodRaw(raw))
					if err := auth(c, tt.req); err != nil {
						t.Fatalf("the next request failed: %v", err)
					}
				})
			}
		}
	})
	check()
}

// TestConcurrent runs many logins at once on one client (run with -race).
func TestConcurrent(t *testing.T) {
	f := newFake()
	f.author = map[string][]string{"ppp/lcp": {"callback-dialstring=5551234"}, "ppp/ip": {"addr-pool=p"}}
	srv := startTQ(t, "k", f, nil)
	for _, single := range []bool{false, true} {
		s := tcpServer(srv.addr, "k")
		s.SingleConnection = single
		c := newClient(t, Config{Servers: []Server{s}})
		errs := make(chan error, 8)
		for g := 0; g < 8; g++ {
			go func() {
				for i := 0; i < 20; i++ {
					r := papAlice
					p, err := c.Authenticate(context.Background(), &r)
					if err == nil && (p.Callback == nil || p.Pool != "p") {
						err = errors.New("incomplete profile")
					}
					if err != nil {
						errs <- err
						return
					}
				}
				errs <- nil
			}()
		}
		for g := 0; g < 8; g++ {
			if err := <-errs; err != nil {
				t.Errorf("single=%v: %v", single, err)
			}
		}
	}
}

func TestFromConfig(t *testing.T) {
	pki := newPKI(t)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	cert := filepath.Join(dir, "nas.pem")
	key := filepath.Join(dir, "nas.key")
	writePEM(t, ca, "CERTIFICATE", pki.caDER)
	writePEM(t, cert, "CERTIFICATE", pki.clientCert.Certificate[0])
	kb, err := x509.MarshalPKCS8PrivateKey(pki.clientCert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, key, "PRIVATE KEY", kb)

	f := newFake()
	srv := startTQ(t, "", f, &tls.Config{
		MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{pki.serverCert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki.pool,
	})
	cfg, err := FromConfig(config.TACACS{Servers: []config.TACACSServer{{
		Address: srv.addr, Timeout: time.Second, SingleConnection: true,
		TLS: &config.TACACSTLS{CA: ca, Cert: cert, Key: key},
	}}}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	cfg.SkipAuthorization = true
	if err := auth(newClient(t, cfg), papAlice); err != nil {
		t.Fatal(err)
	}

	if _, err := FromConfig(config.TACACS{Servers: []config.TACACSServer{{Address: "h:1", TLS: &config.TACACSTLS{CA: filepath.Join(dir, "missing.pem")}}}}, nil); err == nil {
		t.Error("a missing CA file was accepted")
	}
	if _, err := FromConfig(config.TACACS{Servers: []config.TACACSServer{{Address: "h:1", TLS: &config.TACACSTLS{CA: ca, Cert: cert}}}}, nil); err == nil {
		t.Error("a certificate without its key was accepted")
	}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
