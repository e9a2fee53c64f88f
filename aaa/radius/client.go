// Package radius is the AAA method "radius": a RADIUS client for one server group (IOS
// `aaa group server radius`) with failover, dead-time and Status-Server revival, that signs and
// checks every Access-Request and reply with Message-Authenticator, authenticates login, PAP,
// CHAP and MS-CHAPv2 users, maps replies to an aaa.Profile, and delivers accounting records.
// Packets are layeh.com/radius's; sockets, identifiers, timers and verification are ours.
package radius

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"layeh.com/radius"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/dictionaries/rfc"
)

// Defaults.
const (
	// DefaultAuthPort and DefaultAcctPort are the IANA ports (RFC 2865 §3, RFC 2866 §3).
	DefaultAuthPort = 1812
	DefaultAcctPort = 1813
	// DefaultTimeout is how long one try waits (IOS `radius-server timeout`, 5 s).
	DefaultTimeout = 5 * time.Second
	// DefaultRetransmits is IOS's `radius-server retransmit` default. A zero Server.Retransmits
	// means no retransmission; the configuration layer applies this default.
	DefaultRetransmits = 3
	// DefaultAuthorizeCacheTTL is how long an Access-Accept answers Authorize for the same user.
	DefaultAuthorizeCacheTTL = 5 * time.Minute
	// DefaultMaxSockets bounds the sockets per server port: 64 × 256 identifiers = 16384
	// requests in flight to one server.
	DefaultMaxSockets = 64
)

// ErrClosed means the client was closed. It wraps aaa.ErrUnreachable.
var ErrClosed = fmt.Errorf("radius client closed: %w", aaa.ErrUnreachable)

// Server is one server of a group (IOS `radius server NAME` with `address ipv4 A auth-port P
// acct-port Q` and `key K`).
type Server struct {
	// Address is the server's IP address or host name (resolved once, by New), without a port.
	Address  string
	AuthPort int // 0 = 1812
	AcctPort int // 0 = 1813
	// Secret is the shared secret. Never logged.
	Secret string
	// Timeout bounds each try; 0 = 5 s.
	Timeout time.Duration
	// Retransmits is how many times a request is sent again after the first try (0 = never).
	Retransmits int
	// Legacy accepts Access-Accept, -Reject and -Challenge without a Message-Authenticator.
	// Only for servers that cannot sign replies: it reopens BlastRADIUS (CVE-2024-3596).
	Legacy bool
	// NoStatusServer: the server does not answer Status-Server (RFC 5997), so a dead server is
	// brought back when the dead-time ends instead of when it answers a probe.
	NoStatusServer bool
}

// Config is one server group and what the NAS says about itself.
type Config struct {
	// Name is the method name in method lists, logs and errors; "" = "radius".
	Name string
	// Servers are tried in order; the next one only when the current one does not answer.
	Servers []Server
	// DeadTime is how long a server that did not answer is skipped (IOS `radius-server
	// deadtime`). 0: never marked dead, every request tries every server in order (the IOS
	// default). When all servers are dead the group answers unreachable at once, so the method
	// list moves on (to local, say) without waiting for timeouts.
	DeadTime time.Duration
	// NASIdentifier and NASIPAddress identify the NAS (RFC 2865 §5.4, §5.32: at least one is
	// sent). With neither, NAS-Identifier is the host name.
	NASIdentifier string
	NASIPAddress  netip.Addr
	// CallbackIDs maps RADIUS Callback-Id values to dial strings (RFC 2865 §5.20: the NAS
	// interprets the name). An Accept with a Callback-Id missing here is treated as a reject.
	CallbackIDs map[string]string
	// AuthorizeCacheTTL is how long Authorize answers from the last Access-Accept of the same
	// user and service (a callback leg with nocallback-verify), before asking the server with
	// Service-Type Authorize-Only. 0 = 5 min; negative = always ask.
	AuthorizeCacheTTL time.Duration
	// MaxSockets bounds the sockets per server port (each carries 256 requests); 0 = 64.
	MaxSockets int
	// Logger receives server state changes, rejects and discarded replies; nil = slog.Default().
	Logger *slog.Logger
}

// Client is a RADIUS server group: an aaa.Method for authentication and authorization, and an
// accounting destination (Deliver). It is safe for concurrent use; Close releases its sockets
// and goroutines.
type Client struct {
	cfg        Config
	name       string
	log        *slog.Logger
	auth, acct []*endpoint
	maxSockets int
	now        func() time.Time
	cache      *profileCache

	ctx    context.Context // canceled by Close; bounds probes
	cancel context.CancelFunc
	done   <-chan struct{}
	wg     sync.WaitGroup // readers and revivers
	once   sync.Once
}

// ServerStatus is one server port as the client sees it (for `show radius`).
type ServerStatus struct {
	Server    string // "192.0.2.1:1812"
	Port      string // "auth" or "acct"
	Dead      bool
	DeadSince time.Time
	InFlight  int // requests waiting for this port now
	Sockets   int // sockets open to it
}

// New checks cfg, resolves the servers' addresses and returns a client. It opens no socket
// until the first request.
func New(cfg Config) (*Client, error) {
	c := &Client{cfg: cfg, name: cfg.Name, log: cfg.Logger, now: time.Now, maxSockets: cfg.MaxSockets}
	if c.name == "" {
		c.name = "radius"
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.maxSockets <= 0 {
		c.maxSockets = DefaultMaxSockets
	}
	if len(cfg.Servers) == 0 {
		return nil, fmt.Errorf("%s: no servers configured; add at least one server with an address and a secret", c.name)
	}
	if cfg.DeadTime < 0 {
		return nil, fmt.Errorf("%s: dead-time %v is negative; use 0 to never mark a server dead", c.name, cfg.DeadTime)
	}
	if cfg.NASIPAddress.IsValid() && !cfg.NASIPAddress.Is4() {
		return nil, fmt.Errorf("%s: nas-ip-address %v is not IPv4 (NAS-IP-Address, RFC 2865 §5.4)", c.name, cfg.NASIPAddress)
	}
	if cfg.NASIdentifier == "" && !cfg.NASIPAddress.IsValid() {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "nas"
		}
		c.cfg.NASIdentifier = h
	}
	ttl := cfg.AuthorizeCacheTTL
	if ttl == 0 {
		ttl = DefaultAuthorizeCacheTTL
	}
	if ttl > 0 {
		c.cache = newProfileCache(ttl)
	}
	for i, s := range cfg.Servers {
		if err := applyDefaults(&s); err != nil {
			return nil, fmt.Errorf("%s: servers[%d] (%q): %w", c.name, i, s.Address, err)
		}
		for _, k := range []portKind{portAuth, portAcct} {
			port := s.AuthPort
			if k == portAcct {
				port = s.AcctPort
			}
			hostport := net.JoinHostPort(s.Address, strconv.Itoa(port))
			addr, err := net.ResolveUDPAddr("udp", hostport)
			if err != nil {
				return nil, fmt.Errorf("%s: servers[%d]: resolving %s: %w (use an IP address if DNS is not up at start)", c.name, i, hostport, err)
			}
			ep := &endpoint{c: c, srv: s, kind: k, addr: addr, name: addr.String(), secret: []byte(s.Secret), perSocket: idsPerSocket}
			if k == portAuth {
				c.auth = append(c.auth, ep)
			} else {
				c.acct = append(c.acct, ep)
			}
		}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.done = c.ctx.Done()
	return c, nil
}

func applyDefaults(s *Server) error {
	switch {
	case s.Address == "":
		return errors.New("address is empty")
	case s.Secret == "":
		return errors.New("secret is empty; set the shared secret the server has for this NAS")
	case s.AuthPort < 0 || s.AuthPort > 65535 || s.AcctPort < 0 || s.AcctPort > 65535:
		return fmt.Errorf("ports %d/%d: must be 1-65535 (0 = the default 1812/1813)", s.AuthPort, s.AcctPort)
	case s.Timeout < 0:
		return fmt.Errorf("timeout %v is negative", s.Timeout)
	case s.Retransmits < 0 || s.Retransmits > 100:
		return fmt.Errorf("retransmits %d: must be 0-100", s.Retransmits)
	}
	if _, _, err := net.SplitHostPort(s.Address); err == nil {
		return errors.New("address has a port; give the ports as auth-port and acct-port")
	}
	if s.AuthPort == 0 {
		s.AuthPort = DefaultAuthPort
	}
	if s.AcctPort == 0 {
		s.AcctPort = DefaultAcctPort
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
	}
	return nil
}

// Name implements aaa.Method (and names the accounting destination).
func (c *Client) Name() string { return c.name }

// Close stops the probes, closes every socket and waits for the client's goroutines. Requests
// in flight return ErrClosed.
func (c *Client) Close() error {
	c.once.Do(func() {
		c.cancel()
		for _, ep := range c.auth {
			ep.closeAll()
		}
		for _, ep := range c.acct {
			ep.closeAll()
		}
	})
	c.wg.Wait()
	return nil
}

// Status returns the state of every server port, authentication ports first, in group order.
func (c *Client) Status() []ServerStatus {
	var out []ServerStatus
	for _, ep := range c.auth {
		out = append(out, ep.status())
	}
	for _, ep := range c.acct {
		out = append(out, ep.status())
	}
	return out
}

// send runs one request through the group: each live server in order until one answers. With
// only set, it goes to that server alone (the rest of an Access-Challenge dialogue belongs to
// the server that started it). mk builds the request for a server (each has its own secret).
// Errors when no server answered wrap aaa.ErrUnreachable.
func (c *Client) send(ctx context.Context, kind portKind, only *endpoint, mk func(*endpoint) (*request, error)) (*radius.Packet, *endpoint, error) {
	eps := c.auth
	if kind == portAcct {
		eps = c.acct
	}
	if only != nil {
		eps = []*endpoint{only}
	}
	var errs []error
	tried := 0
	for _, ep := range eps {
		if only == nil && !ep.usable() {
			continue
		}
		tried++
		req, err := mk(ep)
		if err != nil {
			return nil, nil, err
		}
		p, err := ep.exchange(ctx, req)
		if err == nil {
			return p, ep, nil
		}
		switch {
		case errors.Is(err, ErrClosed), errors.Is(err, errEncode):
			return nil, nil, err
		case ctx.Err() != nil:
			return nil, nil, fmt.Errorf("%s: %w: %w", c.name, aaa.ErrUnreachable, err)
		case errors.Is(err, errNoAnswer):
			ep.failed(err)
		}
		errs = append(errs, err)
		if len(eps) > 1 {
			c.log.Warn("radius server did not answer, trying the next", slog.String("group", c.name),
				slog.String("server", ep.name), slog.Any("err", err))
		}
	}
	if tried == 0 {
		return nil, nil, fmt.Errorf("%s: all %d %s servers are marked dead: %w", c.name, len(eps), kind, aaa.ErrUnreachable)
	}
	return nil, nil, fmt.Errorf("%s: no %s server answered: %w: %w", c.name, kind, aaa.ErrUnreachable, errors.Join(errs...))
}

// nasAttrs adds what identifies the NAS (RFC 2865 §5.4, §5.32).
func (c *Client) nasAttrs(p *radius.Packet) {
	if c.cfg.NASIPAddress.IsValid() {
		a := c.cfg.NASIPAddress.As4()
		p.Add(rfc.NASIPAddress_Type, radius.Attribute(a[:]))
	}
	if c.cfg.NASIdentifier != "" {
		addString(p, rfc.NASIdentifier_Type, c.cfg.NASIdentifier)
	}
}

// addString adds a text attribute, cut to the 253 octets an attribute can hold (RFC 2865 §5).
// Cutting, not failing: a long CONNECT string must not cost the caller the login or the record.
func addString(p *radius.Packet, t radius.Type, s string) {
	if len(s) > 253 {
		s = s[:253]
	}
	p.Add(t, radius.Attribute(s))
}

func addInt(p *radius.Packet, t radius.Type, v uint32) {
	p.Add(t, radius.NewInteger(v))
}
