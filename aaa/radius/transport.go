package radius

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"layeh.com/radius"
)

// portKind says which service of a server an endpoint is.
type portKind int

const (
	portAuth portKind = iota // authentication, RFC 2865 §3 (1812)
	portAcct                 // accounting, RFC 2866 §3 (1813)
)

func (k portKind) String() string {
	if k == portAcct {
		return "acct"
	}
	return "auth"
}

// idsPerSocket is how many requests one socket carries at once: the Identifier is one octet
// (RFC 2865 §3), and a server tells requests apart by source address, port and Identifier.
const idsPerSocket = 256

// replyQueue is how many unverified datagrams wait for one exchange; more are dropped (a
// flood of forged replies must not block the reader).
const replyQueue = 8

// errNoAnswer means a server gave no acceptable reply in all its tries.
var errNoAnswer = errors.New("no valid reply")

// errBusy means every identifier of every socket an endpoint may open is in use.
var errBusy = errors.New("too many requests in flight")

// errEncode means the request could not be encoded (too long, say): no server will take it,
// so it is not a reason to try the next one.
var errEncode = errors.New("cannot encode the request")

// endpoint is one port of one server: its sockets, identifiers and health.
//
// Sockets: requests share connected UDP sockets, each carrying up to 256 requests in flight
// with distinct Identifiers; a socket is added when all identifiers of the open ones are taken
// and closed again once idle (the first one stays). One reader goroutine per socket hands each
// datagram to the exchange that owns its Identifier, which verifies it against its own request.
type endpoint struct {
	c      *Client
	srv    Server // defaults applied
	kind   portKind
	addr   *net.UDPAddr
	name   string // "127.0.0.1:1812", for logs and Profile.Source
	secret []byte
	// perSocket is idsPerSocket; tests set 1 to measure a socket per request.
	perSocket int

	mu        sync.Mutex
	socks     []*socket
	closed    bool
	dead      bool
	deadSince time.Time
	inFlight  int
}

type socket struct {
	conn    *net.UDPConn
	pending [idsPerSocket]*exchange
	inUse   int
	next    int // where the search for a free Identifier starts: identifiers rotate
}

// exchange is one request to one endpoint, with all the identifiers its tries used.
type exchange struct {
	replies chan inbound
}

type inbound struct {
	sock *socket
	id   byte
	b    []byte
}

// slot is one try of an exchange: the socket and Identifier it went out with, and its bytes.
type slot struct {
	sock *socket
	id   byte
	wire []byte
}

// request is what an exchange sends and how it judges replies.
type request struct {
	// build encodes the packet for an Identifier.
	build func(id byte) ([]byte, error)
	// rebuild: every try is a new packet with a new Identifier (accounting, whose
	// Acct-Delay-Time changes: RFC 2866 §5.2). Otherwise every try resends the same bytes with
	// the same Identifier, as RFC 2865 §2.5 asks of retransmissions.
	rebuild bool
	rules   replyRules
}

func (ep *endpoint) String() string { return ep.name }

// acquire reserves an Identifier for x, opening a socket if all are busy.
func (ep *endpoint) acquire(x *exchange) (*socket, byte, error) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.closed {
		return nil, 0, ErrClosed
	}
	for _, s := range ep.socks {
		if s.inUse < ep.perSocket {
			return s, s.take(x, ep.perSocket), nil
		}
	}
	if len(ep.socks) >= ep.c.maxSockets {
		return nil, 0, fmt.Errorf("%s: %w (%d sockets of %d requests each)", ep, errBusy, len(ep.socks), ep.perSocket)
	}
	conn, err := net.DialUDP("udp", nil, ep.addr)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: opening a socket: %w", ep, err)
	}
	s := &socket{conn: conn}
	ep.socks = append(ep.socks, s)
	ep.c.wg.Add(1)
	go ep.read(s)
	return s, s.take(x, ep.perSocket), nil
}

// take reserves the next free Identifier of s; the caller holds ep.mu and knows one is free.
func (s *socket) take(x *exchange, limit int) byte {
	for i := 0; i < limit; i++ {
		id := (s.next + i) % limit
		if s.pending[id] == nil {
			s.pending[id] = x
			s.inUse++
			s.next = id + 1
			return byte(id)
		}
	}
	panic("radius: no free identifier on a socket with room")
}

// release frees the identifiers of an exchange and closes sockets left idle (but the first).
func (ep *endpoint) release(slots []slot) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	for _, sl := range slots {
		if sl.sock.pending[sl.id] == nil {
			continue
		}
		sl.sock.pending[sl.id] = nil
		sl.sock.inUse--
	}
	for i := 0; i < len(ep.socks); {
		s := ep.socks[i]
		if i > 0 && s.inUse == 0 {
			s.conn.Close() // its reader returns
			ep.socks = append(ep.socks[:i], ep.socks[i+1:]...)
			continue
		}
		i++
	}
}

// read hands every datagram on s to the exchange holding its Identifier. It returns when s
// is closed.
func (ep *endpoint) read(s *socket) {
	defer ep.c.wg.Done()
	buf := make([]byte, radius.MaxPacketLength+1)
	for {
		n, err := s.conn.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A connected UDP socket reports an ICMP port unreachable here (ECONNREFUSED).
			// It says nothing about which request, and can be forged: the exchanges time out.
			ep.c.log.Debug("radius socket read error", slog.String("server", ep.name), slog.Any("err", err))
			continue
		}
		if n < headerLen {
			ep.c.log.Debug("radius runt datagram dropped", slog.String("server", ep.name), slog.Int("len", n))
			continue
		}
		id := buf[1]
		ep.mu.Lock()
		x := s.pending[id]
		ep.mu.Unlock()
		if x == nil {
			ep.c.log.Debug("radius reply for no outstanding request dropped (late, or duplicate)",
				slog.String("server", ep.name), slog.Int("id", int(id)))
			continue
		}
		select {
		case x.replies <- inbound{sock: s, id: id, b: append([]byte(nil), buf[:n]...)}:
		default:
			ep.c.log.Debug("radius reply queue full, datagram dropped", slog.String("server", ep.name))
		}
	}
}

// exchange sends req and waits for a reply that passes verification: up to 1+Retransmits
// tries, each bounded by the server's Timeout, and the whole by ctx.
func (ep *endpoint) exchange(ctx context.Context, req *request) (*radius.Packet, error) {
	x := &exchange{replies: make(chan inbound, replyQueue)}
	var slots []slot
	defer func() { ep.release(slots) }()
	ep.mu.Lock()
	ep.inFlight++
	ep.mu.Unlock()
	defer func() {
		ep.mu.Lock()
		ep.inFlight--
		ep.mu.Unlock()
	}()

	send := func() error {
		if len(slots) > 0 && !req.rebuild {
			sl := slots[0]
			_, err := sl.sock.conn.Write(sl.wire)
			return err
		}
		s, id, err := ep.acquire(x)
		if err != nil {
			return err
		}
		wire, err := req.build(id)
		if err == nil && len(wire) > radius.MaxPacketLength {
			err = errRequestTooLong
		}
		if err != nil {
			ep.release([]slot{{sock: s, id: id}})
			return fmt.Errorf("%w: %w", errEncode, err)
		}
		slots = append(slots, slot{sock: s, id: id, wire: wire})
		_, err = s.conn.Write(wire)
		return err
	}

	tries := 1 + ep.srv.Retransmits
	var discarded int
	var lastBad error
	timer := time.NewTimer(ep.srv.Timeout)
	defer timer.Stop()
	for try := 1; ; {
		if err := send(); err != nil {
			if len(slots) == 0 || errors.Is(err, ErrClosed) || errors.Is(err, errBusy) || errors.Is(err, errEncode) {
				return nil, err
			}
			// A write error on a sent-before socket (an ICMP error from an earlier try) is
			// no answer; the try times out like a lost datagram.
			ep.c.log.Debug("radius send failed", slog.String("server", ep.name), slog.Any("err", err))
		}
	wait:
		for {
			select {
			case in := <-x.replies:
				var sent []byte
				for _, sl := range slots {
					if sl.sock == in.sock && sl.id == in.id {
						sent = sl.wire
					}
				}
				if sent == nil {
					continue // the identifier was ours once, on another socket
				}
				p, err := verifyReply(sent, in.b, ep.secret, req.rules)
				if err != nil {
					discarded++
					lastBad = err
					ep.c.log.Debug("radius reply discarded", slog.String("server", ep.name), slog.Any("why", err))
					continue
				}
				return p, nil
			case <-timer.C:
				break wait
			case <-ctx.Done():
				return nil, fmt.Errorf("%s: %w", ep, ctx.Err())
			case <-ep.c.done:
				return nil, ErrClosed
			}
		}
		if try >= tries {
			break
		}
		try++
		timer.Reset(ep.srv.Timeout)
	}
	err := fmt.Errorf("%s: %w after %d tries of %v", ep, errNoAnswer, tries, ep.srv.Timeout)
	if discarded > 0 {
		err = fmt.Errorf("%w; %d replies discarded, last because: %w", err, discarded, lastBad)
	}
	return nil, err
}

// usable reports whether requests may go to ep now.
func (ep *endpoint) usable() bool {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return !ep.dead
}

// failed marks ep dead for the group's dead-time (IOS `radius-server deadtime`) and starts
// the goroutine that brings it back. With no dead-time a server is never marked dead.
func (ep *endpoint) failed(cause error) {
	if ep.c.cfg.DeadTime <= 0 {
		return
	}
	ep.mu.Lock()
	if ep.dead || ep.closed {
		ep.mu.Unlock()
		return
	}
	ep.dead = true
	ep.deadSince = ep.c.now()
	ep.c.wg.Add(1)
	ep.mu.Unlock()
	ep.c.log.Warn("radius server marked dead", slog.String("server", ep.name), slog.String("port", ep.kind.String()),
		slog.Duration("dead_time", ep.c.cfg.DeadTime), slog.Any("err", cause))
	go ep.revive()
}

// revive waits out the dead-time, then probes with Status-Server (RFC 5997) until the server
// answers; a server configured without Status-Server comes back when the dead-time ends.
func (ep *endpoint) revive() {
	defer ep.c.wg.Done()
	t := time.NewTimer(ep.c.cfg.DeadTime)
	defer t.Stop()
	for {
		select {
		case <-ep.c.done:
			return
		case <-t.C:
		}
		how := "dead-time over"
		if !ep.srv.NoStatusServer {
			if err := ep.probe(ep.c.ctx); err != nil {
				ep.c.log.Debug("radius server still dead", slog.String("server", ep.name), slog.Any("err", err))
				t.Reset(ep.c.cfg.DeadTime)
				continue
			}
			how = "answered Status-Server"
		}
		ep.mu.Lock()
		ep.dead = false
		ep.mu.Unlock()
		ep.c.log.Info("radius server alive again", slog.String("server", ep.name), slog.String("port", ep.kind.String()),
			slog.String("how", how))
		return
	}
}

// probe sends one Status-Server exchange (RFC 5997 §3): answered with Access-Accept on the
// authentication port and Accounting-Response on the accounting port. The reply's Response
// Authenticator proves the server knows the secret; its Message-Authenticator is checked when
// present but not required (FreeRADIUS 3.2 does not sign it, and a reply that authorizes
// nothing gives BlastRADIUS nothing to forge).
func (ep *endpoint) probe(ctx context.Context) error {
	rules := replyRules{codes: []radius.Code{radius.CodeAccessAccept}}
	if ep.kind == portAcct {
		rules.codes = []radius.Code{radius.CodeAccountingResponse}
	}
	p := radius.New(codeStatusServer, ep.secret)
	p.Attributes = radius.Attributes{newMessageAuthenticator()}
	ep.c.nasAttrs(p)
	_, err := ep.exchange(ctx, &request{
		build: func(id byte) ([]byte, error) {
			p.Identifier = id
			return encodeSigned(p)
		},
		rules: rules,
	})
	return err
}

// closeAll closes every socket; readers return, and exchanges see ErrClosed.
func (ep *endpoint) closeAll() {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	ep.closed = true
	for _, s := range ep.socks {
		s.conn.Close()
	}
	ep.socks = nil
}

// status is a snapshot for Client.Status.
func (ep *endpoint) status() ServerStatus {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	st := ServerStatus{Server: ep.name, Port: ep.kind.String(), Dead: ep.dead, InFlight: ep.inFlight, Sockets: len(ep.socks)}
	if ep.dead {
		st.DeadSince = ep.deadSince
	}
	return st
}
