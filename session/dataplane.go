package session

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dialback/nas/ppp"
	"github.com/dialback/nas/ppp/dataplane"
)

// PPP sessions and the IP data plane: each time a PPP link opens (IPCP up) the session
// attaches to the data plane with its addresses, MTU, Framed-Routes and Filter-Id; the
// caller's datagrams go to it and its datagrams for the caller go out on the link; it detaches
// when the link leaves the open phase. Its counters are the leg's accounting, and its last
// activity the base of Idle-Timeout.

// DataPlane is the IP data plane PPP sessions attach to: a *dataplane.Plane, through Plane.
type DataPlane interface {
	Attach(ctx context.Context, sc dataplane.SessionConfig) (IPSession, error)
}

// IPSession is one PPP session's attachment to the data plane (a *dataplane.Session).
type IPSession interface {
	// Receive takes a datagram from the caller.
	Receive(ip []byte)
	Counters() dataplane.Counters
	// LastActivity is when a datagram last crossed, either way.
	LastActivity() time.Time
	// Close detaches: no Send once it returns.
	Close() error
}

// Plane is p as a DataPlane; a nil p is a nil DataPlane (no IP service).
func Plane(p *dataplane.Plane) DataPlane {
	if p == nil {
		return nil
	}
	return plane{p}
}

type plane struct{ p *dataplane.Plane }

func (p plane) Attach(ctx context.Context, sc dataplane.SessionConfig) (IPSession, error) {
	s, err := p.p.Attach(ctx, sc)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// errPPPNoIPService ends a link whose data plane attachment failed (a Filter-Id naming an
// unknown access list, an address another session holds).
var errPPPNoIPService = errors.New("ppp: no IP service for the session")

// pppIP is a PPP session's attachments, one per opening of its link. The link's goroutine
// attaches and detaches; accounting and the idle timer read from their own goroutines.
type pppIP struct {
	mu       sync.Mutex
	cur      IPSession
	base     dataplane.Counters // of the attachments already closed
	last     time.Time          // their last activity
	attached bool               // once at least
}

// attach connects the opened link to the data plane; on failure it ends the link. It runs
// on the link's goroutine (the Opened hook).
func (r *pppRun) attach(res ppp.LinkResult) {
	dp := r.p.o.DataPlane
	if dp == nil {
		return
	}
	r.detach() // a renegotiated link whose open phase did not end through OnPhase
	sc := dataplane.SessionConfig{
		ID: r.sessionID(), Peer: res.Peer, MTU: res.PeerMRU,
		Send: r.link.SendPacket,
	}
	if res.Local.IsValid() && !res.Local.IsUnspecified() {
		sc.Local = res.Local
	}
	if p := r.s.profile; p != nil {
		if p.MTU > 0 && (sc.MTU <= 0 || p.MTU < sc.MTU) {
			sc.MTU = p.MTU // Framed-MTU lowers the caller's MRU, never raises it
		}
		sc.Routes = p.Routes
		// Access-list names are read from the configuration in lower case.
		sc.Filter = strings.ToLower(p.Filter)
	}
	s, err := dp.Attach(r.lctx, sc)
	if err != nil {
		r.log.Warn("ppp session refused: no IP service", "user", r.s.user, "peer", res.Peer, "err", err)
		r.ipRefused = true
		r.cancel(errPPPNoIPService)
		return
	}
	r.ip.mu.Lock()
	r.ip.cur, r.ip.attached = s, true
	r.ip.mu.Unlock()
	if r.h.Acct != nil {
		r.h.Acct.CountTraffic(r.traffic)
	}
}

// detach ends the current attachment, keeping its counters; on the link's goroutine.
func (r *pppRun) detach() {
	r.ip.mu.Lock()
	s := r.ip.cur
	r.ip.cur = nil
	r.ip.mu.Unlock()
	if s == nil {
		return
	}
	err := s.Close() // waits for the writer, outside the lock: accounting reads meanwhile
	c := s.Counters()
	r.ip.mu.Lock()
	r.ip.base = addCounters(r.ip.base, c)
	r.ip.last = s.LastActivity()
	r.ip.mu.Unlock()
	if err != nil {
		r.log.Warn("data plane detach", "user", r.s.user, "err", err)
	}
}

// traffic is the data plane's count of the session's datagrams, for accounting; safe from
// any goroutine.
func (r *pppRun) traffic() Traffic {
	r.ip.mu.Lock()
	c := r.ip.base
	if r.ip.cur != nil {
		c = addCounters(c, r.ip.cur.Counters())
	}
	r.ip.mu.Unlock()
	return Traffic{InOctets: c.InOctets, OutOctets: c.OutOctets, InPackets: c.InPackets, OutPackets: c.OutPackets}
}

// activity is the base of the idle timer: the last datagram the data plane delivered, either
// way, once the session has been attached; before that (or without a data plane) the last
// datagram from the caller.
func (r *pppRun) activity() time.Time {
	r.ip.mu.Lock()
	defer r.ip.mu.Unlock()
	switch {
	case r.ip.cur != nil:
		return r.ip.cur.LastActivity()
	case r.ip.attached:
		return r.ip.last
	}
	return time.Unix(0, r.lastInput.Load())
}

// receive hands a datagram from the caller to the data plane; on the link's goroutine.
func (r *pppRun) receive(ip []byte) {
	r.ip.mu.Lock()
	s := r.ip.cur
	r.ip.mu.Unlock()
	if s != nil {
		s.Receive(ip)
	}
}

// sessionID names the session to the data plane: its Acct-Session-Id, or its line.
func (r *pppRun) sessionID() string {
	if r.h.Acct != nil {
		if id := r.h.Acct.SessionID(); id != "" {
			return id
		}
	}
	return "tty" + strconv.Itoa(r.s.w.num)
}

func addCounters(a, b dataplane.Counters) dataplane.Counters {
	a.InOctets += b.InOctets
	a.InPackets += b.InPackets
	a.OutOctets += b.OutOctets
	a.OutPackets += b.OutPackets
	a.InFiltered += b.InFiltered
	a.OutFiltered += b.OutFiltered
	a.InSpoofed += b.InSpoofed
	a.InDropped += b.InDropped
	a.OutDropped += b.OutDropped
	return a
}
