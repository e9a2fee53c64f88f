// Package tacacs is the NAS's TACACS+ client (RFC 8907, and RFC 9887 for TLS): it
// authenticates EXEC logins (ASCII, driven by the server's prompts) and PPP peers (PAP, CHAP,
// MS-CHAPv2), maps authorization AV pairs (callback, address, timeouts) onto aaa.Profile, and
// delivers accounting records. It owns the connections to the servers of one IOS
// `aaa group server tacacs+`: order, failover, timeouts, single-connection mode and TLS.
package tacacs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	tq "github.com/facebookincubator/tacquito"

	"github.com/dialback/nas/aaa"
)

// ErrProtocol means a server's reply broke the protocol: wrong session or sequence number,
// a body that does not decode, a status that does not belong. Such a server is answering but
// is not to be trusted; it is not "unreachable", so a method list does not fall through to the
// next method on it.
var ErrProtocol = errors.New("tacacs+ protocol error")

// ErrBadSecret is the ErrProtocol of a reply whose body does not decode over a plain TCP
// connection: almost always a shared secret that differs between the NAS and the server.
// Deliberately not ErrUnreachable: a misconfigured key must not silently send every login to
// the next method (local users).
var ErrBadSecret = fmt.Errorf("%w: reply does not decode, the shared secret is probably wrong", ErrProtocol)

// ErrServerError means the server answered with status ERROR: it is up but cannot decide.
// The next server of the group is tried; it is not ErrUnreachable either.
var ErrServerError = errors.New("tacacs+ server reported an error")

// errStop marks an error that ends a request at once, on whatever server: a prompt the
// user did not answer, a request that cannot be encoded.
type errStop struct{ err error }

func (e errStop) Error() string { return e.err.Error() }
func (e errStop) Unwrap() error { return e.err }

func stop(err error) error { return errStop{err} }

// idleLimit is how long an idle single-connection stays in the pool. Servers drop idle
// connections (tacquito after 15 s); reusing a fresher one saves the reconnect.
const idleLimit = 10 * time.Second

// maxIdle bounds the idle connections kept per server.
const maxIdle = 4

// Client is a TACACS+ server group. It implements aaa.Method and, with Deliver, is an
// accounting destination. It is safe for concurrent use.
type Client struct {
	name       string
	log        *slog.Logger
	servers    []*server
	deadtime   time.Duration
	skipAuthor bool
	closed     atomic.Bool
}

var _ aaa.Method = (*Client)(nil)

// server is one configured server with its idle connections.
type server struct {
	addr    string
	secret  []byte
	tlsConf *tls.Config
	timeout time.Duration
	single  bool

	mu        sync.Mutex
	idle      []*conn
	closed    bool
	deadUntil time.Time
}

// New checks cfg and returns a client. It does not connect: the first request does.
func New(cfg Config) (*Client, error) {
	if len(cfg.Servers) == 0 {
		return nil, errors.New("tacacs+: no servers configured")
	}
	c := &Client{name: cfg.Name, log: cfg.Logger, deadtime: cfg.Deadtime, skipAuthor: cfg.SkipAuthorization}
	if c.name == "" {
		c.name = "tacacs"
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("method", c.name)
	for i, s := range cfg.Servers {
		addr, tc, err := s.check()
		if err != nil {
			return nil, fmt.Errorf("tacacs+ server %d (%s): %w", i+1, s.Address, err)
		}
		t := s.Timeout
		if t == 0 {
			t = DefaultTimeout
		}
		c.servers = append(c.servers, &server{
			addr: addr, secret: []byte(s.Secret), tlsConf: tc, timeout: t, single: s.SingleConnection,
		})
	}
	return c, nil
}

// Name implements aaa.Method.
func (c *Client) Name() string { return c.name }

// Close closes the idle connections. Requests in flight finish on their own connections,
// which are then closed too.
func (c *Client) Close() error {
	c.closed.Store(true)
	for _, s := range c.servers {
		s.mu.Lock()
		idle := s.idle
		s.idle, s.closed = nil, true
		s.mu.Unlock()
		for _, cn := range idle {
			cn.close()
		}
	}
	return nil
}

// get returns a connection: an idle one if there is a fresh one, else a new one.
func (s *server) get(ctx context.Context) (c *conn, reused bool, err error) {
	var stale []*conn
	s.mu.Lock()
	for len(s.idle) > 0 && c == nil {
		cn := s.idle[len(s.idle)-1]
		s.idle = s.idle[:len(s.idle)-1]
		if time.Since(cn.lastUsed) > idleLimit {
			stale = append(stale, cn)
			continue
		}
		c = cn
	}
	closed := s.closed
	s.mu.Unlock()
	for _, cn := range stale {
		cn.close()
	}
	if c != nil {
		return c, true, nil
	}
	if closed {
		return nil, false, stop(errors.New("client is closed"))
	}
	c, err = s.dial(ctx)
	return c, false, err
}

// put keeps c for the next session if the server agreed to single-connection mode and the
// last session ended cleanly; otherwise it closes c.
func (s *server) put(c *conn) {
	if c.single && !c.broken {
		c.lastUsed = time.Now()
		s.mu.Lock()
		if !s.closed && len(s.idle) < maxIdle {
			s.idle = append(s.idle, c)
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
	c.close()
}

// dial opens a connection with our own timeout (tacquito's dialler has none).
func (s *server) dial(ctx context.Context) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", s.addr)
	if err != nil {
		return nil, err
	}
	if s.tlsConf != nil {
		tc := tls.Client(nc, s.tlsConf)
		if err := tc.HandshakeContext(dctx); err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		nc = tc
	}
	return &conn{nc: nc, addr: s.addr, tls: s.tlsConf != nil, secret: s.secret, askSingle: s.single}, nil
}

func (s *server) isDead(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return now.Before(s.deadUntil)
}

func (s *server) setDead(until time.Time) {
	s.mu.Lock()
	s.deadUntil = until
	s.mu.Unlock()
}

// order lists the servers to try: configured order, dead ones (IOS deadtime) left out
// unless all are dead.
func (c *Client) order() []*server {
	if c.deadtime == 0 {
		return c.servers
	}
	now := time.Now()
	var alive []*server
	for _, s := range c.servers {
		if !s.isDead(now) {
			alive = append(alive, s)
		}
	}
	if len(alive) == 0 {
		return c.servers
	}
	return alive
}

// failure is how a failed attempt on one server affects the group.
type failure int

const (
	failFinal       failure = iota // an answer, or a request that cannot go anywhere
	failUnreachable                // no answer: try the next server, may fall through
	failHard                       // a misbehaving or misconfigured server: try the next, never fall through
)

func classify(ctx context.Context, err error) failure {
	var verr *tls.CertificateVerificationError
	var alert tls.AlertError
	var oe *net.OpError
	switch {
	case ctxErr(ctx) != nil:
		// The caller gave up; a timeout of our own (dial, exchange) is not this.
		return failFinal
	case errors.Is(err, aaa.ErrRejected), errors.As(err, new(errStop)):
		return failFinal
	case errors.Is(err, ErrProtocol), errors.Is(err, ErrServerError),
		errors.As(err, &verr), errors.As(err, &alert),
		errors.As(err, &oe) && oe.Op == "remote error":
		// A certificate that does not verify, or a TLS alert from a server that refuses
		// ours ("remote error" is how crypto/tls reports a received alert), is a
		// configuration fault like a wrong secret.
		return failHard
	}
	return failUnreachable
}

// isStale reports whether err is what a server's earlier close of an idle connection
// looks like on the next use.
func isStale(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed)
}

// attempt runs one session's exchanges. It sets s.done when the final reply arrived.
type attempt func(s *session) error

// run tries fn on the servers in order until one answers (IOS server-group failover).
// It returns the server that answered, and an error wrapping aaa.ErrRejected (an answer),
// aaa.ErrUnreachable (no server answered at all), ErrProtocol/ErrServerError (a server
// answered but unusably), or the context's error.
func (c *Client) run(ctx context.Context, op string, typ tq.HeaderType, minor byte, log *slog.Logger, fn attempt) (*server, error) {
	if c.closed.Load() {
		return nil, fmt.Errorf("tacacs+ %s: client is closed", op)
	}
	servers := c.order()
	var hard, unreachable []error
	for _, srv := range servers {
		if err := ctxErr(ctx); err != nil {
			return nil, fmt.Errorf("tacacs+ %s: %w", op, err)
		}
		err := c.onServer(ctx, srv, typ, minor, log, fn)
		if err == nil {
			if c.deadtime > 0 {
				srv.setDead(time.Time{})
			}
			return srv, nil
		}
		switch classify(ctx, err) {
		case failFinal:
			if cerr := ctxErr(ctx); cerr != nil && !errors.Is(err, cerr) {
				err = fmt.Errorf("tacacs+ %s: %w: %w", op, cerr, err)
			}
			return srv, err
		case failHard:
			log.Error("tacacs+ server misbehaves or is misconfigured; trying the next server",
				"op", op, "server", srv.addr, "err", err)
			hard = append(hard, err)
		case failUnreachable:
			log.Warn("tacacs+ server unreachable; trying the next server", "op", op, "server", srv.addr, "err", err)
			if c.deadtime > 0 {
				srv.setDead(time.Now().Add(c.deadtime))
			}
			unreachable = append(unreachable, fmt.Errorf("%w: %w", aaa.ErrUnreachable, err))
		}
	}
	if len(hard) > 0 {
		// Not wrapping aaa.ErrUnreachable: a broken server must not hand the login to the
		// next method silently.
		return nil, fmt.Errorf("tacacs+ %s: no usable answer from %d servers (%d unreachable): %w",
			op, len(servers), len(unreachable), errors.Join(hard...))
	}
	return nil, fmt.Errorf("tacacs+ %s: all %d servers failed: %w", op, len(servers), errors.Join(unreachable...))
}

// onServer runs fn on one server, with the reconnect fallback of single-connection mode:
// a reused connection the server has meanwhile closed is replaced once by a new one.
func (c *Client) onServer(ctx context.Context, srv *server, typ tq.HeaderType, minor byte, log *slog.Logger, fn attempt) error {
	for try := 0; ; try++ {
		cn, reused, err := srv.get(ctx)
		if err != nil {
			return fmt.Errorf("server %s: connecting: %w", srv.addr, err)
		}
		s := newSession(ctx, cn, typ, minor, srv.timeout)
		err = fn(s)
		if s.done && !cn.broken {
			cn.sessions++
			srv.put(cn)
		} else {
			cn.close()
		}
		if err == nil {
			return nil
		}
		if reused && try == 0 && s.replies == 0 && isStale(err) && ctxErr(ctx) == nil {
			log.Debug("tacacs+ idle connection closed by the server; reconnecting", "server", srv.addr, "err", err)
			continue
		}
		if classify(ctx, err) == failFinal {
			return err
		}
		return fmt.Errorf("server %s: %w", srv.addr, err)
	}
}
