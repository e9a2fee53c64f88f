package dataplane

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dialback/nas/aaa"
)

// Defaults of Config.
const (
	DefaultName = "nas0"
	DefaultMTU  = 1500 // RFC 1661 §6.1: the default MRU
	// DefaultRouteProtocol marks our routes (rtnetlink rtm_protocol). It is unassigned in
	// iproute2's rt_protos; an operator can name it with a line "241 nas" in
	// /etc/iproute2/rt_protos.d/nas.conf and see our routes with `ip route show proto nas`.
	DefaultRouteProtocol = 241
	DefaultRouteTable    = 254 // RT_TABLE_MAIN
	// DefaultQueueLen is the per-session output queue in packets, IOS's `hold-queue 40 out`.
	DefaultQueueLen = 40
	// MinMTU is the smallest datagram every IPv4 host must take unfragmented (RFC 791 §3.2).
	MinMTU = 68
)

// Errors.
var (
	// ErrUnavailable: the data plane cannot run on this host or with these privileges (no TUN
	// driver, no CAP_NET_ADMIN). The NAS runs on without it: it still answers, authenticates
	// and calls back, but PPP callers get no IP service. New returns an *UnavailableError,
	// which matches it with errors.Is.
	ErrUnavailable = errors.New("IP data plane unavailable")
	// ErrInterfaceExists: the TUN's name is taken by an interface we did not create.
	ErrInterfaceExists = errors.New("interface already exists")
	// ErrAddressInUse: another session has the peer address, or the kernel routes it elsewhere.
	ErrAddressInUse = errors.New("peer address already in use")
	// ErrClosed: the plane is closed.
	ErrClosed = errors.New("data plane closed")
)

// UnavailableError says why the data plane is off.
type UnavailableError struct {
	Reason string
	Err    error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%v: %s: %v", ErrUnavailable, e.Reason, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// reservedProtocols are rtnetlink route protocols the plane must not claim, since it deletes
// every route of its protocol at start: the kernel's own (RTPROT_UNSPEC..RTPROT_STATIC,
// include/uapi/linux/rtnetlink.h) and the routing daemons' of iproute2's rt_protos.
var reservedProtocols = []uint8{0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 42, 99, 186, 187, 188, 189, 192}

// Config configures the data plane. Zero values take the defaults.
type Config struct {
	// Name of the TUN interface; default "nas0". A name with %d lets the kernel number it.
	Name string
	// MTU of the interface: the largest MRU a caller may have; default 1500. Each session's
	// own MTU (the caller's MRU) is set on its routes.
	MTU int
	// RouteProtocol marks the routes the plane installs; at start every route of this
	// protocol in RouteTable is deleted. Default 241; the kernel's and known routing daemons'
	// values are refused.
	RouteProtocol uint8
	// RouteTable for the routes; default the main table (254).
	RouteTable uint32
	// QueueLen bounds each session's queue towards the caller, in packets; default 40.
	QueueLen int
	// AccessLists are the named lists a Filter-Id may name (ParseAccessLists makes them).
	AccessLists map[string]*ACL
	// FilterDirection is where a Filter-Id without ".in"/".out" applies: Out (the IOS
	// default) or In (`radius-server attribute 11 direction default inbound`).
	FilterDirection Direction
	// Logger; default discards.
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.RouteProtocol == 0 {
		c.RouteProtocol = DefaultRouteProtocol
	}
	if c.RouteTable == 0 {
		c.RouteTable = DefaultRouteTable
	}
	if c.QueueLen <= 0 {
		c.QueueLen = DefaultQueueLen
	}
	if c.MTU < MinMTU || c.MTU > 65535 {
		return fmt.Errorf("data plane MTU %d: want %d to 65535", c.MTU, MinMTU)
	}
	if slices.Contains(reservedProtocols, c.RouteProtocol) {
		return fmt.Errorf("data plane route protocol %d belongs to the kernel or a routing daemon: "+
			"the plane flushes its protocol's routes at start, choose another (default %d)", c.RouteProtocol, DefaultRouteProtocol)
	}
	if c.RouteTable == 255 || c.RouteTable == 253 {
		return fmt.Errorf("data plane route table %d is the kernel's local or default table", c.RouteTable)
	}
	if len(c.Name) >= 16 { // IFNAMSIZ, with its NUL
		return fmt.Errorf("data plane interface name %q: at most 15 characters", c.Name)
	}
	return nil
}

// kernel is what the plane needs of the host: the TUN device's packets, and routes and
// addresses on it. The Linux implementation uses /dev/net/tun and rtnetlink; tests use a fake.
type kernel interface {
	Read(b []byte) (int, error)
	Write(b []byte) (int, error)
	// Close removes the interface, and with it its routes and addresses.
	Close() error
	Name() string
	AddRoute(dst netip.Prefix, src netip.Addr, mtu int) error
	DelRoute(dst netip.Prefix) error
	AddAddr(a netip.Addr) error
	DelAddr(a netip.Addr) error
}

// Plane is the data plane: one TUN interface shared by every session, a reader that routes
// what the kernel sends to the session of the destination, and the sessions attached to it.
// It is safe for concurrent use.
type Plane struct {
	cfg Config
	log *slog.Logger
	k   kernel

	// ctl serialises attaching and detaching: kernel programming, the local-address
	// reference counts and the session set.
	ctl        sync.Mutex
	locals     map[netip.Addr]int
	sessions   map[*Session]struct{}
	closed     bool
	kernelGone bool

	mu  sync.RWMutex // guards tab; the reader takes it for each packet
	tab table[*Session]

	bufs       sync.Pool
	readerDone chan struct{}
	now        func() time.Time // time.Now; tests step it

	noRoute, notIPv4, readErrors atomic.Uint64
}

// New creates the TUN interface, brings it up with cfg's MTU, flushes routes a previous run
// left, and starts the reader. Without the privilege or the driver for it, the error is an
// *UnavailableError (errors.Is(err, ErrUnavailable)): the NAS should say so and run without a
// data plane.
func New(ctx context.Context, cfg Config) (*Plane, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("data plane: %w", err)
	}
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	k, err := newKernel(&cfg, log)
	if err != nil {
		return nil, err
	}
	p := newPlane(cfg, k, log)
	log.Info("data plane up", "interface", k.Name(), "mtu", cfg.MTU, "route_protocol", cfg.RouteProtocol,
		"route_table", cfg.RouteTable, "access_lists", len(cfg.AccessLists))
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); err == nil && len(b) > 0 && b[0] == '0' {
		log.Warn("IPv4 forwarding is off (net.ipv4.ip_forward = 0): callers reach this host only")
	}
	return p, nil
}

// newPlane starts a plane on a kernel; cfg has its defaults.
func newPlane(cfg Config, k kernel, log *slog.Logger) *Plane {
	p := &Plane{
		cfg: cfg, log: log.With("interface", k.Name()), k: k,
		locals:     make(map[netip.Addr]int),
		sessions:   make(map[*Session]struct{}),
		readerDone: make(chan struct{}),
		now:        time.Now,
	}
	size := cfg.MTU
	p.bufs.New = func() any { return &pktBuf{b: make([]byte, size)} }
	go p.read()
	return p
}

// pktBuf carries one datagram from the reader to a session's writer.
type pktBuf struct {
	b []byte
	n int
}

func (p *Plane) getBuf() *pktBuf  { return p.bufs.Get().(*pktBuf) }
func (p *Plane) putBuf(b *pktBuf) { p.bufs.Put(b) }

// Name is the TUN interface's name.
func (p *Plane) Name() string { return p.k.Name() }

// MTU is the interface's MTU.
func (p *Plane) MTU() int { return p.cfg.MTU }

// AccessLists returns the lists sessions can name, for show commands.
func (p *Plane) AccessLists() map[string]*ACL { return p.cfg.AccessLists }

// Stats counts what the plane dropped before any session saw it.
type Stats struct {
	Sessions int
	// NoRoute: the kernel sent a datagram for an address no session has (a race with a
	// hang-up); NotIPv4: not an IPv4 datagram; ReadErrors: the TUN failed a read.
	NoRoute, NotIPv4, ReadErrors uint64
}

// Stats returns the plane's counters.
func (p *Plane) Stats() Stats {
	p.ctl.Lock()
	n := len(p.sessions)
	p.ctl.Unlock()
	return Stats{Sessions: n, NoRoute: p.noRoute.Load(), NotIPv4: p.notIPv4.Load(), ReadErrors: p.readErrors.Load()}
}

// read is the plane's one reader: it takes what the kernel routes to the TUN and hands each
// datagram to its session's queue. It never blocks on a session, so a slow line cannot hold
// up the others.
func (p *Plane) read() {
	defer close(p.readerDone)
	for {
		b := p.getBuf()
		n, err := p.k.Read(b.b)
		if err != nil {
			p.putBuf(b)
			if errors.Is(err, os.ErrClosed) {
				return
			}
			p.readErrors.Add(1)
			p.ctl.Lock()
			closed := p.closed
			p.ctl.Unlock()
			if closed {
				return
			}
			p.log.Error("data plane: reading the TUN failed; no more packets reach the callers", "err", err)
			return
		}
		p.dispatch(b, n)
	}
}

func (p *Plane) dispatch(b *pktBuf, n int) {
	dst, ok := dstOf(b.b[:n])
	if !ok {
		p.notIPv4.Add(1)
		p.putBuf(b)
		return
	}
	p.mu.RLock()
	s, ok := p.tab.lookup(dst)
	p.mu.RUnlock()
	if !ok {
		p.noRoute.Add(1)
		p.putBuf(b)
		return
	}
	s.deliver(b, n)
}

// SessionConfig is what a session brings to the data plane when its IPCP opens.
type SessionConfig struct {
	// ID names the session in logs (its Acct-Session-Id).
	ID string
	// Local and Peer are the IPCP addresses. Peer is required; Local, when set, is put on the
	// interface (once, however many sessions share it) and is the source of what the NAS
	// itself sends to the caller.
	Local, Peer netip.Addr
	// MTU is the most the caller takes: its LCP MRU, lowered by a Framed-MTU; 0 = the
	// interface's. The kernel learns it from the routes' MTU metric.
	MTU int
	// Routes are the Framed-Routes from AAA, routed to this session while it lasts. A
	// Gateway other than the peer changes nothing: the session is point-to-point.
	Routes []aaa.Route
	// Filter is the Filter-Id / acl from AAA (see ParseFilterID); "" = no filter.
	Filter string
	// Send writes one IP datagram to the caller (PPP: an 0x0021 frame). It is called from one
	// goroutine of the session's own, never concurrently with itself, and must not keep ip.
	// It may block while the line drains; meanwhile the session's queue fills and then drops.
	Send func(ip []byte) error
}

// Counters count a session's IP traffic. In is from the caller to the network (RADIUS
// Acct-Input-*), Out from the network to the caller (Acct-Output-*); octets are whole IP
// datagrams, without PPP framing. A packet is counted once it is delivered: handed to the
// kernel (in) or to Send (out). Dropped packets are counted apart.
type Counters struct {
	InOctets, InPackets   uint64
	OutOctets, OutPackets uint64
	// InFiltered and OutFiltered: denied by the session's access lists.
	InFiltered, OutFiltered uint64
	// InSpoofed: the source address was neither the peer's nor in a Framed-Route.
	InSpoofed uint64
	// InDropped: malformed, or the TUN refused it.
	InDropped uint64
	// OutDropped: the queue was full, the datagram exceeded the session's MTU, or Send failed.
	OutDropped uint64
}

// Session is one caller's attachment to the plane, from IPCP up to hang-up.
type Session struct {
	p      *Plane
	id     string
	log    *slog.Logger
	send   func([]byte) error
	local  netip.Addr
	peer   netip.Addr
	mtu    int
	in     *ACL
	out    *ACL
	filter FilterSpec
	// prefixes are the routes installed for the session: the peer's /32 first.
	prefixes []netip.Prefix
	// sources are the prefixes the caller may send from (anti-spoofing), as integers.
	sources [][2]uint32

	q         chan *pktBuf
	stop      chan struct{}
	done      chan struct{}
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	inOctets, inPackets, outOctets, outPackets atomic.Uint64
	inFiltered, outFiltered, inSpoofed         atomic.Uint64
	inDropped, outDropped                      atomic.Uint64
	lastIn, lastOut                            atomic.Int64 // UnixNano of the last delivered datagram
}

// Attach connects a session whose IPCP has opened: it routes the peer address (and the
// Framed-Routes) to the TUN, resolves the Filter-Id, and starts the session's writer. It
// fails when the Filter-Id names a list the NAS does not have (ErrUnknownFilter: the session
// should be refused, see the package doc), the peer address is taken (ErrAddressInUse), or the
// kernel refuses the peer's route. A Framed-Route the kernel refuses (one that would replace an
// existing route) is logged and skipped.
func (p *Plane) Attach(ctx context.Context, sc SessionConfig) (*Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("data plane attach %s: %w", sc.ID, err)
	}
	peer, local := sc.Peer.Unmap(), sc.Local.Unmap()
	if !peer.Is4() || peer.IsUnspecified() {
		return nil, fmt.Errorf("data plane attach %s: peer address %v: not an IPv4 host address", sc.ID, sc.Peer)
	}
	if local.IsValid() && (!local.Is4() || local.IsUnspecified() || local == peer) {
		return nil, fmt.Errorf("data plane attach %s: local address %v: not an IPv4 address other than the peer's", sc.ID, sc.Local)
	}
	if sc.Send == nil {
		return nil, fmt.Errorf("data plane attach %s: no Send function", sc.ID)
	}
	spec, err := ParseFilterID(sc.Filter, p.cfg.FilterDirection)
	if err != nil {
		return nil, fmt.Errorf("data plane attach %s: %w", sc.ID, err)
	}
	in, out, err := spec.resolve(p.cfg.AccessLists)
	if err != nil {
		return nil, fmt.Errorf("data plane attach %s: Filter-Id %q: %w", sc.ID, sc.Filter, err)
	}
	mtu := sc.MTU
	if mtu <= 0 || mtu > p.cfg.MTU {
		mtu = p.cfg.MTU
	}
	if mtu < MinMTU {
		return nil, fmt.Errorf("data plane attach %s: MTU %d is below the IPv4 minimum %d", sc.ID, mtu, MinMTU)
	}
	routeMTU := 0 // the interface's
	if mtu < p.cfg.MTU {
		routeMTU = mtu
	}
	s := &Session{
		p: p, id: sc.ID, send: sc.Send, local: local, peer: peer, mtu: mtu, in: in, out: out, filter: spec,
		log:  p.log.With("session", sc.ID, "peer", peer),
		q:    make(chan *pktBuf, p.cfg.QueueLen),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	host := netip.PrefixFrom(peer, 32)

	p.ctl.Lock()
	defer p.ctl.Unlock()
	if p.closed {
		return nil, fmt.Errorf("data plane attach %s: %w", sc.ID, ErrClosed)
	}
	p.mu.RLock()
	other, taken := p.tab.get(host)
	p.mu.RUnlock()
	if taken {
		return nil, fmt.Errorf("data plane attach %s: %v is session %s's: %w", sc.ID, peer, other.id, ErrAddressInUse)
	}
	if local.IsValid() {
		if p.locals[local] == 0 {
			if err := p.k.AddAddr(local); err != nil {
				return nil, fmt.Errorf("data plane attach %s: add local address %v to %s: %w", sc.ID, local, p.k.Name(), err)
			}
		}
		p.locals[local]++
	}
	if err := p.k.AddRoute(host, local, routeMTU); err != nil {
		p.releaseLocal(local)
		if errors.Is(err, fs.ErrExist) {
			err = fmt.Errorf("%w: %w", ErrAddressInUse, err)
		}
		return nil, fmt.Errorf("data plane attach %s: route %v via %s: %w", sc.ID, host, p.k.Name(), err)
	}
	s.prefixes = append(s.prefixes, host)
	s.sources = append(s.sources, [2]uint32{v4bits(peer), ^uint32(0)})
	for _, r := range sc.Routes {
		s.addFramedRoute(r, local, routeMTU)
	}
	p.mu.Lock()
	for _, pr := range s.prefixes {
		p.tab.add(pr, s)
	}
	p.mu.Unlock()
	p.sessions[s] = struct{}{}
	now := p.now()
	s.lastIn.Store(now.UnixNano())
	s.lastOut.Store(now.UnixNano())
	go s.write()
	s.log.Info("data plane attached", "local", local, "mtu", mtu, "routes", s.prefixes[1:],
		"filter_in", spec.In, "filter_out", spec.Out)
	return s, nil
}

// addFramedRoute installs one Framed-Route; p.ctl is held.
func (s *Session) addFramedRoute(r aaa.Route, local netip.Addr, routeMTU int) {
	p := s.p
	pr := r.Prefix.Masked()
	if !pr.IsValid() || !pr.Addr().Unmap().Is4() {
		s.log.Warn("Framed-Route skipped: not an IPv4 prefix", "route", r.Prefix)
		return
	}
	pr = netip.PrefixFrom(pr.Addr().Unmap(), pr.Bits())
	if slices.Contains(s.prefixes, pr) {
		return // the peer's own /32, or a duplicate
	}
	if r.Gateway.IsValid() && r.Gateway.Unmap() != s.peer {
		s.log.Debug("Framed-Route gateway ignored: the session is point-to-point", "route", pr, "gateway", r.Gateway)
	}
	p.mu.RLock()
	other, taken := p.tab.get(pr)
	p.mu.RUnlock()
	if taken {
		s.log.Warn("Framed-Route skipped: another session routes it", "route", pr, "owner", other.id)
		return
	}
	if err := p.k.AddRoute(pr, local, routeMTU); err != nil {
		s.log.Warn("Framed-Route skipped: the kernel refused it", "route", pr, "err", err)
		return
	}
	s.prefixes = append(s.prefixes, pr)
	m := maskOf(pr.Bits())
	s.sources = append(s.sources, [2]uint32{v4bits(pr.Addr()) & m, m})
}

// releaseLocal drops a reference to a local address; p.ctl is held.
func (p *Plane) releaseLocal(a netip.Addr) error {
	if !a.IsValid() {
		return nil
	}
	p.locals[a]--
	if p.locals[a] > 0 {
		return nil
	}
	delete(p.locals, a)
	if p.kernelGone {
		return nil
	}
	if err := p.k.DelAddr(a); err != nil {
		return fmt.Errorf("delete local address %v from %s: %w", a, p.k.Name(), err)
	}
	return nil
}

// Receive takes a datagram from the caller (PPP's Packets hook) into the network: it checks
// the source (the peer's address or a Framed-Route: no spoofing other callers), applies the
// inbound access list and writes it to the TUN. It does not keep ip. Safe for concurrent use.
func (s *Session) Receive(ip []byte) {
	if s.closed.Load() {
		return
	}
	pk, err := parseIPv4(ip)
	if err != nil {
		s.inDropped.Add(1)
		return
	}
	ip = ip[:pk.length] // whatever follows the datagram is link padding
	if !s.sourceOK(pk.src) {
		s.inSpoofed.Add(1)
		return
	}
	if s.in != nil {
		if ok, _ := s.in.check(&pk); !ok {
			s.inFiltered.Add(1)
			return
		}
	}
	if _, err := s.p.k.Write(ip); err != nil {
		s.inDropped.Add(1)
		s.log.Debug("TUN write failed", "err", err)
		return
	}
	s.inPackets.Add(1)
	s.inOctets.Add(uint64(len(ip)))
	s.lastIn.Store(s.p.now().UnixNano())
}

func (s *Session) sourceOK(src uint32) bool {
	for _, p := range s.sources {
		if src&p[1] == p[0] {
			return true
		}
	}
	return false
}

// deliver queues a datagram from the kernel for the caller; it never blocks.
func (s *Session) deliver(b *pktBuf, n int) {
	if n > s.mtu {
		// The route's MTU makes the kernel fragment or answer "fragmentation needed"; this
		// is only for a race with a changed route.
		s.outDropped.Add(1)
		s.p.putBuf(b)
		return
	}
	if s.out != nil {
		pk, err := parseIPv4(b.b[:n])
		if err != nil {
			s.outDropped.Add(1)
			s.p.putBuf(b)
			return
		}
		if ok, _ := s.out.check(&pk); !ok {
			s.outFiltered.Add(1)
			s.p.putBuf(b)
			return
		}
	}
	b.n = n
	select {
	case s.q <- b:
	default:
		s.outDropped.Add(1)
		s.p.putBuf(b)
	}
}

// write is the session's writer: it feeds Send from the queue until the session closes.
func (s *Session) write() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case b := <-s.q:
			ip := b.b[:b.n]
			if err := s.send(ip); err != nil {
				s.outDropped.Add(1)
				s.log.Debug("send to the caller failed", "err", err)
			} else {
				s.outPackets.Add(1)
				s.outOctets.Add(uint64(len(ip)))
				s.lastOut.Store(s.p.now().UnixNano())
			}
			s.p.putBuf(b)
		}
	}
}

// Counters returns the session's counters so far.
func (s *Session) Counters() Counters {
	return Counters{
		InOctets: s.inOctets.Load(), InPackets: s.inPackets.Load(),
		OutOctets: s.outOctets.Load(), OutPackets: s.outPackets.Load(),
		InFiltered: s.inFiltered.Load(), OutFiltered: s.outFiltered.Load(),
		InSpoofed: s.inSpoofed.Load(), InDropped: s.inDropped.Load(), OutDropped: s.outDropped.Load(),
	}
}

// LastActivity is when the last IP datagram crossed the session, either way, or when it was
// attached if none has: the base of Idle-Timeout. Only delivered IP datagrams count: LCP
// echoes, other control frames, line noise and filtered or dropped datagrams do not reach the
// data plane or are not delivered.
func (s *Session) LastActivity() time.Time {
	return time.Unix(0, max(s.lastIn.Load(), s.lastOut.Load()))
}

// LastInput is when the caller last sent a delivered datagram (or the attach time): the base
// for an idle timer that only the caller's own traffic resets (IOS `ppp timeout idle N
// inbound`).
func (s *Session) LastInput() time.Time { return time.Unix(0, s.lastIn.Load()) }

// Peer is the caller's address.
func (s *Session) Peer() netip.Addr { return s.peer }

// MTU is the most the session sends to the caller in one datagram.
func (s *Session) MTU() int { return s.mtu }

// Routes are the prefixes routed to the session: the peer's /32, then the Framed-Routes the
// kernel accepted.
func (s *Session) Routes() []netip.Prefix { return slices.Clone(s.prefixes) }

// Filters are the access lists the session's Filter-Id named.
func (s *Session) Filters() FilterSpec { return s.filter }

// Close detaches the session: its routes and (when no other session uses it) the local
// address go, the writer stops, and Send is not called again once Close returns. Receive
// drops from then on. It is idempotent; the error reports routes the kernel would not delete.
func (s *Session) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.p.detach(s) })
	return s.closeErr
}

func (p *Plane) detach(s *Session) error {
	s.closed.Store(true)
	p.mu.Lock()
	for _, pr := range s.prefixes {
		p.tab.remove(pr, s)
	}
	p.mu.Unlock()
	close(s.stop)
	<-s.done
	for drained := false; !drained; {
		select {
		case b := <-s.q:
			p.putBuf(b)
		default:
			drained = true
		}
	}

	p.ctl.Lock()
	defer p.ctl.Unlock()
	delete(p.sessions, s)
	var errs []error
	if !p.kernelGone {
		for i := len(s.prefixes) - 1; i >= 0; i-- {
			if err := p.k.DelRoute(s.prefixes[i]); err != nil {
				errs = append(errs, fmt.Errorf("delete route %v: %w", s.prefixes[i], err))
			}
		}
	}
	errs = append(errs, p.releaseLocal(s.local))
	c := s.Counters()
	s.log.Info("data plane detached", "in_octets", c.InOctets, "in_packets", c.InPackets,
		"out_octets", c.OutOctets, "out_packets", c.OutPackets, "in_filtered", c.InFiltered,
		"out_filtered", c.OutFiltered, "in_spoofed", c.InSpoofed, "in_dropped", c.InDropped, "out_dropped", c.OutDropped)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("data plane detach %s: %w", s.id, err)
	}
	return nil
}

// Close detaches every session, removes the interface (and so whatever routes remain on it)
// and stops the reader. It is idempotent.
func (p *Plane) Close() error {
	p.ctl.Lock()
	if p.closed {
		p.ctl.Unlock()
		return nil
	}
	p.closed = true
	sessions := make([]*Session, 0, len(p.sessions))
	for s := range p.sessions {
		sessions = append(sessions, s)
	}
	p.ctl.Unlock()
	var errs []error
	for _, s := range sessions {
		errs = append(errs, s.Close())
	}
	p.ctl.Lock()
	p.kernelGone = true
	errs = append(errs, p.k.Close())
	p.ctl.Unlock()
	<-p.readerDone
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("data plane close %s: %w", p.k.Name(), err)
	}
	return nil
}
