package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialback/nas/aaa"
)

// fakeKernel stands in for the TUN and rtnetlink: it records routes and addresses, hands the
// reader what the test pushes, and keeps what sessions write.
type fakeKernel struct {
	mu      sync.Mutex
	routes  map[netip.Prefix]fakeRoute
	addrs   map[netip.Addr]bool
	refuse  map[netip.Prefix]error
	written [][]byte

	toNAS     chan []byte
	closed    chan struct{}
	closeOnce sync.Once
}

type fakeRoute struct {
	src netip.Addr
	mtu int
}

func newFakeKernel() *fakeKernel {
	return &fakeKernel{
		routes: make(map[netip.Prefix]fakeRoute), addrs: make(map[netip.Addr]bool),
		refuse: make(map[netip.Prefix]error),
		toNAS:  make(chan []byte), closed: make(chan struct{}),
	}
}

func (k *fakeKernel) Read(b []byte) (int, error) {
	select {
	case p := <-k.toNAS:
		return copy(b, p), nil
	case <-k.closed:
		return 0, os.ErrClosed
	}
}

// push hands a datagram to the reader; when it returns, the reader has finished with every
// datagram pushed before it.
func (k *fakeKernel) push(t *testing.T, b []byte) {
	t.Helper()
	select {
	case k.toNAS <- b:
	case <-time.After(5 * time.Second):
		t.Fatal("the reader does not read")
	}
}

func (k *fakeKernel) Write(b []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.written = append(k.written, append([]byte(nil), b...))
	return len(b), nil
}

func (k *fakeKernel) Close() error {
	k.closeOnce.Do(func() { close(k.closed) })
	return nil
}

func (k *fakeKernel) Name() string { return "fake0" }

func (k *fakeKernel) AddRoute(dst netip.Prefix, src netip.Addr, mtu int) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.refuse[dst]; err != nil {
		return err
	}
	if _, ok := k.routes[dst]; ok {
		return fmt.Errorf("fake add route %v: %w", dst, os.ErrExist)
	}
	k.routes[dst] = fakeRoute{src, mtu}
	return nil
}

func (k *fakeKernel) DelRoute(dst netip.Prefix) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.routes[dst]; !ok {
		return fmt.Errorf("fake delete route %v: no such route", dst)
	}
	delete(k.routes, dst)
	return nil
}

func (k *fakeKernel) AddAddr(a netip.Addr) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.addrs[a] {
		return fmt.Errorf("fake add address %v twice", a)
	}
	k.addrs[a] = true
	return nil
}

func (k *fakeKernel) DelAddr(a netip.Addr) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.addrs[a] {
		return fmt.Errorf("fake delete address %v: not there", a)
	}
	delete(k.addrs, a)
	return nil
}

func (k *fakeKernel) state() (map[netip.Prefix]fakeRoute, map[netip.Addr]bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	r := make(map[netip.Prefix]fakeRoute, len(k.routes))
	for p, v := range k.routes {
		r[p] = v
	}
	a := make(map[netip.Addr]bool, len(k.addrs))
	for x := range k.addrs {
		a[x] = true
	}
	return r, a
}

func (k *fakeKernel) takeWritten() [][]byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	w := k.written
	k.written = nil
	return w
}

// checkGoroutines fails the test if it leaves goroutines behind.
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			t.Errorf("%d goroutines left behind:\n%s", n-before, buf[:runtime.Stack(buf, true)])
		}
	})
}

// clock is a settable time source.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func testPlane(t *testing.T, cfg Config) (*Plane, *fakeKernel, *clock) {
	t.Helper()
	checkGoroutines(t)
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	k := newFakeKernel()
	p := newPlane(cfg, k, slog.New(slog.DiscardHandler))
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	p.now = c.now
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return p, k, c
}

// line collects what the plane sends to one caller.
type line struct {
	got  chan []byte
	fail atomic.Bool
}

func newLine() *line { return &line{got: make(chan []byte, 1024)} }

func (l *line) send(ip []byte) error {
	if l.fail.Load() {
		return errors.New("line down")
	}
	l.got <- append([]byte(nil), ip...)
	return nil
}

func (l *line) next(t *testing.T) []byte {
	t.Helper()
	select {
	case b := <-l.got:
		return b
	case <-time.After(5 * time.Second):
		t.Fatal("nothing reached the caller")
		return nil
	}
}

var (
	peerA  = netip.MustParseAddr("198.51.100.2")
	peerB  = netip.MustParseAddr("198.51.100.3")
	local1 = netip.MustParseAddr("198.51.100.1")
)

func TestAttachInstallsAndDetachRemoves(t *testing.T) {
	p, k, _ := testPlane(t, Config{MTU: 1500})
	ctx := context.Background()
	a, err := p.Attach(ctx, SessionConfig{
		ID: "a", Local: local1, Peer: peerA, MTU: 576, Send: newLine().send,
		Routes: []aaa.Route{
			{Prefix: netip.MustParsePrefix("203.0.113.0/24")},
			{Prefix: netip.MustParsePrefix("192.0.2.77/25"), Gateway: netip.MustParseAddr("10.9.9.9")}, // host bits, foreign gateway
			{Prefix: netip.MustParsePrefix("2001:db8::/32")},                                           // not IPv4: skipped
			{Prefix: netip.MustParsePrefix("198.51.100.2/32")},                                         // the peer itself: once
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("198.51.100.2/32"), netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("192.0.2.0/25")}
	if got := a.Routes(); !slices.Equal(got, want) {
		t.Errorf("Routes() = %v, want %v", got, want)
	}
	routes, addrs := k.state()
	if len(routes) != 3 || !addrs[local1] || len(addrs) != 1 {
		t.Fatalf("kernel after attach: routes %v, addresses %v", routes, addrs)
	}
	for _, pr := range want {
		if r := routes[pr]; r.mtu != 576 || r.src != local1 {
			t.Errorf("route %v: %+v, want MTU 576 from %v", pr, r, local1)
		}
	}
	// A second session with the same local address and the interface's MTU.
	b, err := p.Attach(ctx, SessionConfig{ID: "b", Local: local1, Peer: peerB, MTU: 1500, Send: newLine().send})
	if err != nil {
		t.Fatal(err)
	}
	routes, _ = k.state()
	if r := routes[netip.PrefixFrom(peerB, 32)]; r.mtu != 0 {
		t.Errorf("a session at the interface MTU got route MTU %d, want none (0)", r.mtu)
	}
	if b.MTU() != 1500 || a.MTU() != 576 {
		t.Errorf("MTUs %d, %d", a.MTU(), b.MTU())
	}
	if st := p.Stats(); st.Sessions != 2 {
		t.Errorf("Stats().Sessions = %d", st.Sessions)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	routes, addrs = k.state()
	if len(routes) != 1 || !addrs[local1] {
		t.Errorf("after a's hang-up: routes %v, addresses %v; want b's route and the shared address", routes, addrs)
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	routes, addrs = k.state()
	if len(routes) != 0 || len(addrs) != 0 {
		t.Errorf("after both hang-ups: routes %v, addresses %v; want nothing", routes, addrs)
	}
	// The address can be reattached.
	if _, err := p.Attach(ctx, SessionConfig{ID: "a2", Peer: peerA, Send: newLine().send}); err != nil {
		t.Errorf("reattach: %v", err)
	}
}

func TestAttachRefusals(t *testing.T) {
	web, err := ParseACL("web", []string{"permit tcp any any eq 80"})
	if err != nil {
		t.Fatal(err)
	}
	p, k, _ := testPlane(t, Config{AccessLists: map[string]*ACL{"web": web}})
	ctx := context.Background()
	if _, err := p.Attach(ctx, SessionConfig{ID: "held", Local: local1, Peer: peerA, Send: newLine().send}); err != nil {
		t.Fatal(err)
	}
	k.refuse[netip.PrefixFrom(peerB, 32)] = fmt.Errorf("fake: %w", os.ErrExist)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		sc   SessionConfig
		is   error
		text string
	}{
		{"unknown filter", ctx, SessionConfig{Peer: netip.MustParseAddr("198.51.100.9"), Filter: "nosuch", Send: newLine().send}, ErrUnknownFilter, `"nosuch"`},
		{"unknown filter in one direction", ctx, SessionConfig{Peer: netip.MustParseAddr("198.51.100.9"), Filter: "web.in nosuch.out", Send: newLine().send}, ErrUnknownFilter, ""},
		{"bad Filter-Id", ctx, SessionConfig{Peer: netip.MustParseAddr("198.51.100.9"), Filter: "web.sideways", Send: newLine().send}, ErrFilterID, ""},
		{"peer taken", ctx, SessionConfig{ID: "dup", Peer: peerA, Send: newLine().send}, ErrAddressInUse, "session held"},
		{"kernel routes the peer elsewhere", ctx, SessionConfig{Local: netip.MustParseAddr("192.0.2.1"), Peer: peerB, Send: newLine().send}, ErrAddressInUse, ""},
		{"no peer", ctx, SessionConfig{Send: newLine().send}, nil, "not an IPv4 host address"},
		{"IPv6 peer", ctx, SessionConfig{Peer: netip.MustParseAddr("2001:db8::1"), Send: newLine().send}, nil, "not an IPv4 host address"},
		{"local is the peer", ctx, SessionConfig{Local: peerB, Peer: peerB, Send: newLine().send}, nil, "other than the peer's"},
		{"no Send", ctx, SessionConfig{Peer: netip.MustParseAddr("198.51.100.9")}, nil, "no Send"},
		{"MTU below 68", ctx, SessionConfig{Peer: netip.MustParseAddr("198.51.100.9"), MTU: 40, Send: newLine().send}, nil, "below the IPv4 minimum"},
		{"cancelled", cancelled, SessionConfig{Peer: netip.MustParseAddr("198.51.100.9"), Send: newLine().send}, context.Canceled, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := p.Attach(tt.ctx, tt.sc)
			if err == nil {
				s.Close()
				t.Fatal("attached")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			if tt.text != "" && !strings.Contains(err.Error(), tt.text) {
				t.Errorf("err = %v, want it to say %q", err, tt.text)
			}
		})
	}
	routes, addrs := k.state()
	if len(routes) != 1 || len(addrs) != 1 || !addrs[local1] {
		t.Errorf("refusals left kernel state: routes %v, addresses %v", routes, addrs)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Attach(ctx, SessionConfig{Peer: peerB, Send: newLine().send}); !errors.Is(err, ErrClosed) {
		t.Errorf("attach after Close: %v, want ErrClosed", err)
	}
}

func TestFramedRouteConflicts(t *testing.T) {
	p, k, _ := testPlane(t, Config{})
	ctx := context.Background()
	shared := netip.MustParsePrefix("203.0.113.0/24")
	refused := netip.MustParsePrefix("0.0.0.0/0")
	k.refuse[refused] = fmt.Errorf("fake: %w", os.ErrExist) // an operator's default route
	a, err := p.Attach(ctx, SessionConfig{ID: "a", Peer: peerA, Send: newLine().send, Routes: []aaa.Route{{Prefix: shared}, {Prefix: refused}}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Attach(ctx, SessionConfig{ID: "b", Peer: peerB, Send: newLine().send, Routes: []aaa.Route{{Prefix: shared}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Routes(); len(got) != 2 || got[1] != shared {
		t.Errorf("a's routes %v: want its host route and %v (the refused default skipped)", got, shared)
	}
	if got := b.Routes(); len(got) != 1 {
		t.Errorf("b's routes %v: the shared prefix is a's", got)
	}
	// b's hang-up must not take a's route.
	b.Close()
	routes, _ := k.state()
	if _, ok := routes[shared]; !ok || len(routes) != 2 {
		t.Errorf("routes after b left: %v; want a's host route and %v", routes, shared)
	}
}

func TestReceive(t *testing.T) {
	noDiscard, err := ParseACL("no-discard", []string{"deny udp any any eq 9", "permit ip any any"})
	if err != nil {
		t.Fatal(err)
	}
	p, k, clk := testPlane(t, Config{AccessLists: map[string]*ACL{"no-discard": noDiscard}})
	s, err := p.Attach(context.Background(), SessionConfig{
		ID: "a", Peer: peerA, Send: newLine().send, Filter: "no-discard.in",
		Routes: []aaa.Route{{Prefix: netip.MustParsePrefix("203.0.113.0/24")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	attached := s.LastActivity()
	good := ipv4("198.51.100.2", "192.0.2.2", protoUDP, udp(1000, 53, []byte("query")))
	fromRoute := ipv4("203.0.113.9", "192.0.2.2", protoICMP, icmp(8, 0, nil))
	padded := append(append([]byte(nil), good...), 0xff, 0xff)
	steps := []struct {
		name    string
		pkt     []byte
		written []byte // nil: nothing reaches the kernel
		field   func(Counters) uint64
	}{
		{"from the peer", good, good, func(c Counters) uint64 { return c.InPackets }},
		{"from a Framed-Route", fromRoute, fromRoute, func(c Counters) uint64 { return c.InPackets }},
		{"padding trimmed", padded, good, func(c Counters) uint64 { return c.InPackets }},
		{"spoofed source", ipv4("198.51.100.3", "192.0.2.2", protoUDP, udp(1, 2, nil)), nil, func(c Counters) uint64 { return c.InSpoofed }},
		{"filtered", ipv4("198.51.100.2", "192.0.2.2", protoUDP, udp(1, 9, nil)), nil, func(c Counters) uint64 { return c.InFiltered }},
		{"malformed", []byte{0x45, 0, 0}, nil, func(c Counters) uint64 { return c.InDropped }},
		{"not IPv4", []byte{0x60, 0, 0, 0, 0, 0, 0, 0}, nil, func(c Counters) uint64 { return c.InDropped }},
	}
	var octets uint64
	for _, st := range steps {
		before := s.Counters()
		last := s.LastActivity()
		clk.advance(time.Second)
		s.Receive(st.pkt)
		after := s.Counters()
		if st.field(after) != st.field(before)+1 {
			t.Errorf("%s: counter did not move: %+v", st.name, after)
		}
		w := k.takeWritten()
		if st.written == nil {
			if len(w) != 0 {
				t.Errorf("%s: reached the kernel: %x", st.name, w)
			}
			if !s.LastActivity().Equal(last) {
				t.Errorf("%s: LastActivity moved to %v for a datagram that was not delivered", st.name, s.LastActivity())
			}
			continue
		}
		octets += uint64(len(st.written))
		if len(w) != 1 || string(w[0]) != string(st.written) {
			t.Errorf("%s: kernel got %x, want %x", st.name, w, st.written)
		}
		if !s.LastActivity().Equal(clk.now()) || !s.LastInput().Equal(clk.now()) {
			t.Errorf("%s: LastActivity %v, LastInput %v, want %v", st.name, s.LastActivity(), s.LastInput(), clk.now())
		}
	}
	c := s.Counters()
	if c.InPackets != 3 || c.InOctets != octets || c.OutPackets != 0 {
		t.Errorf("counters %+v: want 3 packets of %d octets in", c, octets)
	}
	if hits, _ := noDiscard.Hits(); hits[0].Hits != 1 || hits[1].Hits != 3 {
		t.Errorf("access-list hits %v: want 1 deny and 3 permits", hits)
	}
	if s.LastActivity().Equal(attached) {
		t.Error("LastActivity never moved")
	}
	s.Close()
	s.Receive(good)
	if w := k.takeWritten(); len(w) != 0 || s.Counters().InPackets != 3 {
		t.Errorf("a closed session still forwards: %x", w)
	}
}

func TestDeliver(t *testing.T) {
	noTelnet, err := ParseACL("no-telnet", []string{"deny tcp any any eq telnet", "permit ip any any"})
	if err != nil {
		t.Fatal(err)
	}
	p, k, clk := testPlane(t, Config{AccessLists: map[string]*ACL{"no-telnet": noTelnet}})
	la := newLine()
	a, err := p.Attach(context.Background(), SessionConfig{ID: "a", Peer: peerA, MTU: 296, Send: la.send, Filter: "no-telnet",
		Routes: []aaa.Route{{Prefix: netip.MustParsePrefix("203.0.113.0/24")}}})
	if err != nil {
		t.Fatal(err)
	}
	lb := newLine()
	b, err := p.Attach(context.Background(), SessionConfig{ID: "b", Peer: peerB, Send: lb.send})
	if err != nil {
		t.Fatal(err)
	}
	clk.advance(time.Minute)
	toA := ipv4("192.0.2.2", "198.51.100.2", protoICMP, icmp(0, 0, []byte("pong")))
	toARoute := ipv4("192.0.2.2", "203.0.113.200", protoUDP, udp(53, 1000, []byte("answer")))
	toB := ipv4("192.0.2.2", "198.51.100.3", protoICMP, icmp(0, 0, make([]byte, 1000)))
	k.push(t, toA)
	k.push(t, toB)
	k.push(t, toARoute)
	if got := la.next(t); string(got) != string(toA) {
		t.Errorf("a got %x, want %x", got, toA)
	}
	if got := la.next(t); string(got) != string(toARoute) {
		t.Errorf("a got %x, want the Framed-Route's %x", got, toARoute)
	}
	if got := lb.next(t); string(got) != string(toB) {
		t.Errorf("b got %x", got)
	}
	// Dropped before or at the session.
	k.push(t, ipv4("192.0.2.2", "198.51.100.2", protoICMP, icmp(0, 0, make([]byte, 300)))) // above a's MTU 296
	k.push(t, ipv4("192.0.2.2", "198.51.100.2", protoTCP, tcp(1000, 23, 0x02)))            // filtered out
	k.push(t, ipv4("192.0.2.2", "198.51.100.77", protoICMP, icmp(0, 0, nil)))              // nobody's
	k.push(t, []byte{0x60, 0, 0, 0})                                                       // IPv6
	k.push(t, []byte{0x60, 0, 0, 0})                                                       // all of the above are dispatched
	// Send has returned for what the lines got once the writers count it.
	deadline := time.Now().Add(5 * time.Second)
	for (a.Counters().OutPackets < 2 || b.Counters().OutPackets < 1 || p.Stats().NotIPv4 < 2) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	ca, cb := a.Counters(), b.Counters()
	if ca.OutPackets != 2 || ca.OutOctets != uint64(len(toA)+len(toARoute)) || ca.OutDropped != 1 || ca.OutFiltered != 1 {
		t.Errorf("a's counters %+v", ca)
	}
	if cb.OutPackets != 1 || cb.OutOctets != uint64(len(toB)) {
		t.Errorf("b's counters %+v", cb)
	}
	if st := p.Stats(); st.NoRoute != 1 || st.NotIPv4 != 2 {
		t.Errorf("plane stats %+v: want 1 without route and 2 not IPv4", st)
	}
	if !a.LastActivity().Equal(clk.now()) || a.LastInput().Equal(clk.now()) {
		t.Errorf("LastActivity %v, LastInput %v: traffic to the caller counts for activity only", a.LastActivity(), a.LastInput())
	}
	// A line that refuses: counted as dropped, nothing else breaks.
	lb.fail.Store(true)
	k.push(t, toB)
	deadline = time.Now().Add(5 * time.Second)
	for b.Counters().OutDropped != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if c := b.Counters(); c.OutDropped != 1 || c.OutPackets != 1 {
		t.Errorf("after a failed send: %+v", c)
	}
}

func TestQueueTailDrop(t *testing.T) {
	const queue = 4
	p, k, _ := testPlane(t, Config{QueueLen: queue})
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	var sent atomic.Int64
	s, err := p.Attach(context.Background(), SessionConfig{ID: "slow", Peer: peerA, Send: func([]byte) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
		sent.Add(1)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	pkt := ipv4("192.0.2.2", "198.51.100.2", protoUDP, udp(1, 2, nil))
	k.push(t, pkt)
	select {
	case <-entered: // the writer holds one datagram in Send
	case <-time.After(5 * time.Second):
		t.Fatal("Send not called")
	}
	const extra = 3
	for range queue + extra {
		k.push(t, pkt)
	}
	k.push(t, []byte{0x60}) // everything before it has been dispatched
	if c := s.Counters(); c.OutDropped != extra {
		t.Errorf("dropped %d, want %d beyond the queue of %d", c.OutDropped, extra, queue)
	}
	// Another session is not held up by the slow one.
	fast := newLine()
	if _, err := p.Attach(context.Background(), SessionConfig{ID: "fast", Peer: peerB, Send: fast.send}); err != nil {
		t.Fatal(err)
	}
	k.push(t, ipv4("192.0.2.2", "198.51.100.3", protoUDP, udp(1, 2, nil)))
	fast.next(t)
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for sent.Load() < queue+1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := sent.Load(); n != queue+1 {
		t.Errorf("sent %d, want %d (one in Send and a full queue)", n, queue+1)
	}
}

func TestPlaneCloseDetachesAll(t *testing.T) {
	p, k, _ := testPlane(t, Config{})
	var sessions []*Session
	for i := range 5 {
		s, err := p.Attach(context.Background(), SessionConfig{ID: fmt.Sprint(i), Local: local1,
			Peer: netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i)}), Send: newLine().send})
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	routes, addrs := k.state()
	if len(routes) != 0 || len(addrs) != 0 {
		t.Errorf("after Close: routes %v, addresses %v", routes, addrs)
	}
	select {
	case <-k.closed:
	default:
		t.Error("the kernel side was not closed")
	}
	for _, s := range sessions {
		if err := s.Close(); err != nil {
			t.Errorf("session Close after the plane's: %v", err)
		}
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	var c Config
	if err := c.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if c.Name != DefaultName || c.MTU != DefaultMTU || c.RouteProtocol != DefaultRouteProtocol ||
		c.RouteTable != DefaultRouteTable || c.QueueLen != DefaultQueueLen || c.FilterDirection != Out {
		t.Errorf("defaults %+v", c)
	}
	for _, bad := range []Config{
		{MTU: 67}, {MTU: 70000}, {RouteProtocol: 4}, {RouteProtocol: 186}, {RouteTable: 255},
		{Name: "a-name-far-too-long"},
	} {
		if err := bad.setDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	err := (&UnavailableError{Reason: "no TUN", Err: os.ErrNotExist})
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("UnavailableError matches neither ErrUnavailable nor its cause: %v", err)
	}
}
