package dynauth

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"layeh.com/radius"

	"github.com/dialback/nas/aaa/acct"
	"github.com/dialback/nas/dictionaries/rfc"
)

// Defaults.
const (
	// DefaultPort is the UDP port of dynamic authorization (RFC 5176 §3).
	DefaultPort = 3799
	// DefaultWindow is how far an Event-Timestamp may be from the NAS's clock before the
	// request is taken for a replay and discarded (RFC 5176 §5 suggests 300 s).
	DefaultWindow = 300 * time.Second
	// DefaultActionTimeout bounds one Disconnect or SetTimeouts on the sessions.
	DefaultActionTimeout = 10 * time.Second
	// maxConcurrent bounds the requests acted on at once; more wait in the socket buffer.
	maxConcurrent = 32
	// duplicateTTL is how long an answer is kept to resend to a retransmission (same client,
	// Identifier and Request Authenticator), so that a repeated Disconnect-Request gets the
	// same ACK rather than a 503 (RFC 5176 §2.3: retransmissions are duplicates).
	duplicateTTL  = 30 * time.Second
	maxDuplicates = 4096
)

// ErrNoSession is what Sessions returns when the session it was asked to act on is gone; the
// request is then answered 503 Session-Context-Not-Found.
var ErrNoSession = errors.New("no such session")

// Session is one live session as dynamic authorization sees it (one leg of a call).
type Session struct {
	// ID is opaque to dynauth and given back to Disconnect and SetTimeouts.
	ID                 string
	AcctSessionID      string // the leg's Acct-Session-Id
	AcctMultiSessionID string // links the legs of one callback
	User               string
	Line               int    // matched against NAS-Port
	PortName           string // NAS-Port-Id, "tty3"
	Address            netip.Addr
	CallerID           string // Calling-Station-Id
	CalledID           string // Called-Station-Id
}

// Sessions is what the NAS gives dynamic authorization to act on. The session layer
// implements it; every method must be safe for concurrent use.
type Sessions interface {
	// List returns the live sessions now.
	List() []Session
	// Disconnect ends the session with the accounting cause given (Admin-Reset for a
	// Disconnect-Request, RFC 5176 §3). It returns ErrNoSession (wrapped) if the session is
	// already gone.
	Disconnect(ctx context.Context, id string, cause acct.Cause) error
	// SetTimeouts changes the session's Session-Timeout and Idle-Timeout (nil fields stay).
	// A session already past its new Session-Timeout ends at once with cause Session-Timeout.
	SetTimeouts(ctx context.Context, id string, t Timeouts) error
}

// Client is a host allowed to send requests (IOS `client ADDRESS server-key SECRET`).
type Client struct {
	Address netip.Addr
	Secret  string // never logged
}

// Config configures a Server.
type Config struct {
	// Listen is the UDP address, e.g. "0.0.0.0:3799" (port 0 picks one, for tests).
	Listen  string
	Clients []Client
	// NASIdentifier and NASIPAddress are the NAS's identity: a request carrying a different
	// NAS-Identifier or NAS-IP-Address is answered 403 (RFC 5176 §3). Unset ones are not checked.
	NASIdentifier string
	NASIPAddress  netip.Addr
	Sessions      Sessions
	// Window bounds the age of an Event-Timestamp (0 = DefaultWindow). Requests without one
	// are accepted: the Message-Authenticator and the duplicate cache protect them.
	Window time.Duration
	// ActionTimeout bounds each Disconnect and SetTimeouts (0 = DefaultActionTimeout).
	ActionTimeout time.Duration
	Logger        *slog.Logger
}

// Stats counts what the server did.
type Stats struct {
	Received  int64 // datagrams
	Discarded int64 // unknown client, bad authenticator, replay, ...
	ACKs      int64
	NAKs      int64
	Resent    int64 // answers resent to retransmissions
}

// Server is a running listener. Serve runs it; Close or the end of Serve's context stops it.
type Server struct {
	cfg     Config
	conn    *net.UDPConn
	log     *slog.Logger
	clients map[netip.Addr][]byte
	now     func() time.Time

	received, discarded, acks, naks, resent atomic.Int64

	mu    sync.Mutex
	cache map[dupKey]*dupEntry
	order []dupKey // insertion order, for eviction

	closeOnce sync.Once
}

type dupKey struct {
	from netip.AddrPort
	id   byte
	auth [authLen]byte
}

type dupEntry struct {
	reply   []byte // nil while the request is being acted on
	expires time.Time
}

// Listen checks cfg and opens the UDP socket.
func Listen(cfg Config) (*Server, error) {
	if cfg.Sessions == nil {
		return nil, errors.New("dynamic-author: no Sessions to act on")
	}
	if len(cfg.Clients) == 0 {
		return nil, errors.New("dynamic-author: no clients: requests from any address would be dropped")
	}
	clients := make(map[netip.Addr][]byte, len(cfg.Clients))
	for i, c := range cfg.Clients {
		if !c.Address.IsValid() || c.Secret == "" {
			return nil, fmt.Errorf("dynamic-author: clients[%d]: an address and a secret are required", i)
		}
		clients[c.Address.Unmap()] = []byte(c.Secret)
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.ActionTimeout <= 0 {
		cfg.ActionTimeout = DefaultActionTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	addr, err := net.ResolveUDPAddr("udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("dynamic-author: listen address %q: %w", cfg.Listen, err)
	}
	conn, err := net.ListenUDP("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("dynamic-author: %w", err)
	}
	return &Server{cfg: cfg, conn: conn, log: log.With("component", "dynamic-author"), clients: clients,
		now: time.Now, cache: map[dupKey]*dupEntry{}}, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() *net.UDPAddr { return s.conn.LocalAddr().(*net.UDPAddr) }

// Close closes the socket; Serve returns once the requests in progress are answered.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.conn.Close() })
	return nil
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{Received: s.received.Load(), Discarded: s.discarded.Load(), ACKs: s.acks.Load(),
		NAKs: s.naks.Load(), Resent: s.resent.Load()}
}

// Serve answers requests until ctx ends or Close is called, then waits for the requests in
// progress. It returns nil after Close or the end of ctx.
func (s *Server) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	// Actions get their own context: a request being acted on is finished and answered even
	// as the server stops, bounded by ActionTimeout.
	sem := make(chan struct{}, maxConcurrent)
	buf := make([]byte, radius.MaxPacketLength+1)
	s.log.Info("dynamic authorization listening", slog.String("addr", s.Addr().String()), slog.Int("clients", len(s.clients)))
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			s.log.Debug("dynamic authorization read error", slog.Any("err", err))
			continue
		}
		s.received.Add(1)
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		secret, ok := s.clients[from.Addr()]
		if !ok {
			s.discard(from, "not a configured client")
			continue
		}
		d := append([]byte(nil), buf[:n]...)
		req, err := ParseRequest(d, secret)
		if err != nil {
			s.discard(from, err.Error())
			continue
		}
		if !req.EventTimestamp.IsZero() {
			if skew := s.now().Sub(req.EventTimestamp); skew > s.cfg.Window || skew < -s.cfg.Window {
				s.discard(from, fmt.Sprintf("Event-Timestamp %v is outside the %v window (a replay, or a clock off)", req.EventTimestamp.UTC(), s.cfg.Window))
				continue
			}
		}
		key := dupKey{from: from, id: req.Identifier, auth: req.Authenticator}
		if s.duplicate(key) {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s.handle(from, key, req, secret)
		}()
	}
}

func (s *Server) discard(from netip.AddrPort, why string) {
	s.discarded.Add(1)
	s.log.Warn("dynamic authorization request discarded", slog.String("from", from.String()), slog.String("why", why))
}

// duplicate reports whether key was seen recently, resending its answer if it has one; if
// not, it records key as in progress.
func (s *Server) duplicate(key dupKey) bool {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	// Entries expire in insertion order (one TTL for all); over the bound the oldest go first,
	// even one still in progress (its retransmissions would then be acted on again).
	for len(s.order) > 0 {
		k := s.order[0]
		if e := s.cache[k]; e != nil && now.Before(e.expires) && len(s.order) < maxDuplicates {
			break
		}
		delete(s.cache, k)
		s.order = s.order[1:]
	}
	if e, ok := s.cache[key]; ok {
		if e.reply != nil {
			s.resent.Add(1)
			if _, err := s.conn.WriteToUDPAddrPort(e.reply, key.from); err != nil {
				s.log.Debug("dynamic authorization answer not resent", slog.Any("err", err))
			}
		}
		return true
	}
	s.cache[key] = &dupEntry{expires: now.Add(duplicateTTL)}
	s.order = append(s.order, key)
	return false
}

// handle acts on a verified request and answers it.
func (s *Server) handle(from netip.AddrPort, key dupKey, req *Request, secret []byte) {
	log := s.log.With(slog.String("from", from.String()), slog.String("request", req.String()), slog.Int("id", int(req.Identifier)))
	cause, detail, acted := s.act(req)
	var reply []byte
	var err error
	if cause == 0 {
		reply, err = answer(req, secret, req.Code+1, 0)
		s.acks.Add(1)
		log.Info("dynamic authorization done", slog.Int("sessions", acted), slog.String("match", describeMatch(req.Match)))
	} else {
		reply, err = answer(req, secret, req.Code+2, cause)
		s.naks.Add(1)
		log.Info("dynamic authorization refused", slog.String("error_cause", cause.String()), slog.String("why", detail),
			slog.String("match", describeMatch(req.Match)))
	}
	if err != nil {
		log.Error("dynamic authorization answer not encoded", slog.Any("err", err))
		return
	}
	s.mu.Lock()
	if e := s.cache[key]; e != nil {
		e.reply = reply
	}
	s.mu.Unlock()
	if _, err := s.conn.WriteToUDPAddrPort(reply, from); err != nil {
		log.Warn("dynamic authorization answer not sent", slog.Any("err", err))
	}
}

// act does what req asks; it returns the Error-Cause to NAK with (0 = ACK), why, and how many
// sessions it acted on.
func (s *Server) act(req *Request) (ErrorCause, string, int) {
	if req.Problem != 0 {
		return req.Problem, req.Why, 0
	}
	if req.NASIdentifier != "" && s.cfg.NASIdentifier != "" && req.NASIdentifier != s.cfg.NASIdentifier {
		return CauseNASMismatch, fmt.Sprintf("NAS-Identifier %q is not this NAS (%q)", req.NASIdentifier, s.cfg.NASIdentifier), 0
	}
	if req.NASIPAddress.IsValid() && s.cfg.NASIPAddress.IsValid() && req.NASIPAddress != s.cfg.NASIPAddress.Unmap() {
		return CauseNASMismatch, fmt.Sprintf("NAS-IP-Address %v is not this NAS (%v)", req.NASIPAddress, s.cfg.NASIPAddress), 0
	}
	var ids []string
	for _, sess := range s.cfg.Sessions.List() {
		if req.Match.Matches(sess) {
			ids = append(ids, sess.ID)
		}
	}
	if len(ids) == 0 {
		return CauseNotFound, "no session matches", 0
	}
	var (
		done, gone int
		lastErr    error
	)
	for _, id := range ids {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ActionTimeout)
		var err error
		if req.Code == CodeDisconnectRequest {
			err = s.cfg.Sessions.Disconnect(ctx, id, acct.CauseAdminReset)
		} else {
			err = s.cfg.Sessions.SetTimeouts(ctx, id, req.Timeouts)
		}
		cancel()
		switch {
		case err == nil:
			done++
		case errors.Is(err, ErrNoSession):
			gone++
		default:
			lastErr = err
			s.log.Warn("dynamic authorization action failed", slog.String("session", id), slog.Any("err", err))
		}
	}
	switch {
	case done > 0:
		return 0, "", done
	case lastErr == nil:
		return CauseNotFound, "the matching sessions ended meanwhile", 0
	case req.Code == CodeDisconnectRequest:
		return CauseNotRemovable, lastErr.Error(), 0
	}
	return CauseResourcesUnavailable, lastErr.Error(), 0
}

// answer encodes an ACK or NAK to req: Message-Authenticator first, Error-Cause, the
// Proxy-States in order; the Message-Authenticator is HMAC-MD5 over the reply with the
// Request Authenticator in place, and the Response Authenticator MD5 over the signed reply
// (RFC 5176 §3.5, RFC 3579 §3.2, RFC 2865 §3).
func answer(req *Request, secret []byte, code radius.Code, cause ErrorCause) ([]byte, error) {
	p := &radius.Packet{Code: code, Identifier: req.Identifier, Secret: secret, Authenticator: req.Authenticator}
	p.Attributes = radius.Attributes{{Type: rfc.MessageAuthenticator_Type, Attribute: make(radius.Attribute, maLen)}}
	if cause != 0 {
		p.Add(rfc.ErrorCause_Type, radius.NewInteger(uint32(cause)))
	}
	for _, ps := range req.ProxyStates {
		p.Add(rfc.ProxyState_Type, ps)
	}
	b, err := p.MarshalBinary()
	if err != nil {
		return nil, err
	}
	mac := hmac.New(md5.New, secret)
	mac.Write(b)
	copy(p.Attributes[0].Attribute, mac.Sum(nil))
	return p.Encode()
}

func describeMatch(m Match) string {
	s := ""
	add := func(k, v string) {
		if v != "" {
			if s != "" {
				s += " "
			}
			s += k + "=" + v
		}
	}
	add("acct-session-id", m.AcctSessionID)
	add("acct-multi-session-id", m.AcctMultiSessionID)
	add("user", m.UserName)
	if m.NASPort != nil {
		add("nas-port", fmt.Sprint(*m.NASPort))
	}
	add("nas-port-id", m.NASPortID)
	if m.FramedIP.IsValid() {
		add("framed-ip", m.FramedIP.String())
	}
	add("calling-station-id", m.CallingStationID)
	add("called-station-id", m.CalledStationID)
	return s
}
