package session_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/acct"
	"github.com/dialback/nas/config"
	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/ppp"
	"github.com/dialback/nas/ppp/dataplane"
	"github.com/dialback/nas/session"
	"github.com/dialback/nas/session/caller"
	"github.com/dialback/nas/session/event"
)

// fakePlane is a data plane in memory: it records each attachment and lets the test play the
// network, sending datagrams to the caller through the session's Send.
type fakePlane struct {
	refuse   error
	attached chan *fakeIP
}

func newFakePlane() *fakePlane { return &fakePlane{attached: make(chan *fakeIP, 4)} }

func (f *fakePlane) Attach(_ context.Context, sc dataplane.SessionConfig) (session.IPSession, error) {
	if f.refuse != nil {
		return nil, fmt.Errorf("data plane attach %s: %w", sc.ID, f.refuse)
	}
	s := &fakeIP{sc: sc, last: time.Now()}
	f.attached <- s
	return s, nil
}

func (f *fakePlane) wait(t *testing.T, ctx context.Context) *fakeIP {
	t.Helper()
	select {
	case s := <-f.attached:
		return s
	case <-ctx.Done():
		t.Fatal("the session never attached to the data plane")
		return nil
	}
}

// fakeIP is one attachment. With filter set it drops what the caller sends, as an access
// list would: counted apart, and no activity.
type fakeIP struct {
	sc     dataplane.SessionConfig
	mu     sync.Mutex
	filter bool
	got    [][]byte
	c      dataplane.Counters
	last   time.Time
	closed int
}

func (s *fakeIP) Receive(ip []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed > 0 {
		return
	}
	if s.filter {
		s.c.InFiltered++
		return
	}
	s.got = append(s.got, slices.Clone(ip))
	s.c.InPackets++
	s.c.InOctets += uint64(len(ip))
	s.last = time.Now()
}

// send is the network sending to the caller, from the test's goroutine as from the plane's
// writer.
func (s *fakeIP) send(ip []byte) error {
	if err := s.sc.Send(ip); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.c.OutPackets++
	s.c.OutOctets += uint64(len(ip))
	s.last = time.Now()
	return nil
}

func (s *fakeIP) received() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

func (s *fakeIP) Counters() dataplane.Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c
}

func (s *fakeIP) LastActivity() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func (s *fakeIP) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed++
	return nil
}

func (s *fakeIP) closes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// withProfile is a method that changes every profile it gives out.
type withProfile struct {
	aaa.Method
	mod func(*aaa.Profile)
}

func (m withProfile) Authenticate(ctx context.Context, r *aaa.Request) (*aaa.Profile, error) {
	p, err := m.Method.Authenticate(ctx, r)
	if err == nil {
		q := *p
		m.mod(&q)
		p = &q
	}
	return p, err
}

// dpLab is a PPP lab whose sessions attach to dp, with profiles changed by mod and an
// accounting spool in memory.
func dpLab(t *testing.T, dp session.DataPlane, mod func(*aaa.Profile)) (*lab, *memSpool) {
	t.Helper()
	sp := &memSpool{}
	cfg := pppConfig("", config.User{Name: "dave", Password: "dave-secret"})
	l := newLab(t, cfg, withOptions(func(o *session.Options) {
		p, err := session.NewPPP(o.Config, session.PPPOptions{
			Methods:      aaa.MethodList{Methods: []aaa.Method{withProfile{Method: o.Local, mod: mod}}},
			RestartTimer: 300 * time.Millisecond, DataPlane: dp,
		})
		if err != nil {
			t.Fatal(err)
		}
		o.PPP, o.Accounting = p.Handle, sp
	}))
	return l, sp
}

// ipFrame is an IP datagram as the caller puts it on the line.
func ipFrame(ip []byte) string { return string(ppp.NewEncoder().AppendFrame(nil, ppp.ProtoIP, ip)) }

// datagram is a test datagram of n octets (the fake plane does not look inside).
func datagram(tag byte, n int) []byte {
	b := make([]byte, n)
	b[0], b[1] = 0x45, tag
	return b
}

// dialPPP dials line 1 and runs the caller's link (with cfg) until ctx ends; the link's end
// is sent on the returned channel.
func dialPPP(t *testing.T, ctx context.Context, l *lab, cfg ppp.LinkConfig) (*caller.Caller, <-chan ppp.LinkResult) {
	t.Helper()
	c := l.caller("5552004")
	if _, err := c.Dial(ctx, "5551001"); err != nil {
		t.Fatal(err)
	}
	done := make(chan ppp.LinkResult, 1)
	go func() {
		res, _ := c.PPP(ctx, cfg)
		done <- res
	}()
	return c, done
}

// A PPP session attaches when IPCP opens with its addresses, MTU, routes and filter;
// datagrams flow both ways; it detaches at hang-up; the Stop counts the data plane's
// datagrams, not the line's octets.
func TestPPPDataPlane(t *testing.T) {
	dp := newFakePlane()
	route := aaa.Route{Prefix: netip.MustParsePrefix("192.0.2.0/24")}
	l, sp := dpLab(t, dp, func(p *aaa.Profile) {
		p.MTU, p.Filter, p.Routes = 900, "Web-Only.in", []aaa.Route{route}
	})
	ctx := ctxT(t)
	lctx, hangUp := context.WithCancel(ctx)
	defer hangUp()
	toCaller := make(chan []byte, 8)
	cl := client("dave", "dave-secret")
	cl.MRU = 1000
	cl.Packets = func(ip []byte) { toCaller <- slices.Clone(ip) }
	c, linkDone := dialPPP(t, lctx, l, cl)

	s := dp.wait(t, ctx)
	sc := s.sc
	if sc.Peer != netip.MustParseAddr("10.9.0.10") || sc.Local != netip.MustParseAddr("10.9.0.1") || sc.MTU != 900 ||
		sc.Filter != "web-only.in" || !slices.Equal(sc.Routes, []aaa.Route{route}) || sc.ID != "ppp-1" {
		t.Errorf("attached with %+v", sc)
	}

	// The network to the caller, from a goroutine other than the link's.
	var outOctets uint64
	for i := range 3 {
		ip := datagram('o', 100+i)
		if err := s.send(ip); err != nil {
			t.Fatalf("send to the caller: %v", err)
		}
		outOctets += uint64(len(ip))
		select {
		case got := <-toCaller:
			if !slices.Equal(got, ip) {
				t.Errorf("caller got % x, want % x", got[:4], ip[:4])
			}
		case <-ctx.Done():
			t.Fatal("the caller did not get the datagram")
		}
	}
	// The caller to the network.
	var inOctets uint64
	for i := range 2 {
		ip := datagram('i', 60+i)
		if err := c.Send(ipFrame(ip)); err != nil {
			t.Fatal(err)
		}
		inOctets += uint64(len(ip))
	}
	for s.received() < 2 {
		if ctx.Err() != nil {
			t.Fatalf("the data plane received %d of 2 datagrams", s.received())
		}
		time.Sleep(5 * time.Millisecond)
	}

	hangUp()
	<-linkDone
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Protocol: "ppp"})
	l.waitState(1, lines.Idle)
	if n := s.closes(); n != 1 {
		t.Errorf("detached %d times, want 1", n)
	}
	if err := s.send(datagram('x', 20)); err == nil {
		t.Error("Send after the hang-up succeeded")
	}
	stops := sp.records(acct.Stop)
	if len(stops) != 1 {
		t.Fatalf("%d Stop records", len(stops))
	}
	if r := stops[0]; r.InOctets != inOctets || r.OutOctets != outOctets || r.InPackets != 2 || r.OutPackets != 3 {
		t.Errorf("Stop counts in %d octets/%d packets, out %d/%d; want in %d/2, out %d/3",
			r.InOctets, r.InPackets, r.OutOctets, r.OutPackets, inOctets, outOctets)
	}
}

// The MTU of the caller's routes is its MRU, lowered (never raised) by Framed-MTU.
func TestPPPDataPlaneMTU(t *testing.T) {
	for _, tc := range []struct{ mru, framed, want int }{
		{0, 0, ppp.DefaultMRU},
		{1000, 0, 1000},
		{1000, 1400, 1000},
		{1400, 576, 576},
	} {
		t.Run(fmt.Sprintf("mru %d framed %d", tc.mru, tc.framed), func(t *testing.T) {
			dp := newFakePlane()
			l, _ := dpLab(t, dp, func(p *aaa.Profile) { p.MTU = tc.framed })
			ctx := ctxT(t)
			lctx, hangUp := context.WithCancel(ctx)
			defer hangUp()
			cl := client("dave", "dave-secret")
			cl.MRU = tc.mru
			_, linkDone := dialPPP(t, lctx, l, cl)
			if s := dp.wait(t, ctx); s.sc.MTU != tc.want || s.sc.Filter != "" || len(s.sc.Routes) != 0 {
				t.Errorf("attached with MTU %d filter %q routes %v, want MTU %d and neither", s.sc.MTU, s.sc.Filter, s.sc.Routes, tc.want)
			}
			hangUp()
			<-linkDone
			l.waitState(1, lines.Idle)
		})
	}
}

// A Filter-Id naming an access list the NAS does not have refuses the session: the link
// ends, the session never comes up, the address goes back, and the Stop says NAS-Error.
func TestPPPDataPlaneRefused(t *testing.T) {
	dp := newFakePlane()
	dp.refuse = dataplane.ErrUnknownFilter
	l, sp := dpLab(t, dp, func(p *aaa.Profile) { p.Filter = "nosuch" })
	ctx := ctxT(t)
	_, linkDone := dialPPP(t, ctx, l, client("dave", "dave-secret"))
	select {
	case res := <-linkDone:
		if res.Reached != ppp.PhaseOpen || res.Cause != ppp.CauseUserRequest {
			t.Errorf("caller's link reached %v, ended %q (%s); want open, then the NAS terminating", res.Reached, res.Cause, res.Message)
		}
	case <-ctx.Done():
		t.Fatal("the caller's link did not end")
	}
	e := l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Protocol: "ppp"})
	if e.Cause != ppp.CauseNASError {
		t.Errorf("session.down cause %q, want %q", e.Cause, ppp.CauseNASError)
	}
	l.waitState(1, lines.Idle)
	if n := count(l.rec.Events(), event.Event{Kind: event.SessionUp}); n != 0 {
		t.Error("session.up for a refused session")
	}
	stops := sp.records(acct.Stop)
	if len(stops) != 1 || stops[0].Cause != acct.CauseNASError {
		t.Errorf("Stop records %+v, want one with cause NAS-Error", stops)
	}
}

// Idle-Timeout counts the datagrams the data plane delivered, either way: traffic to the
// caller keeps the session, and datagrams from the caller that an access list drops do not.
func TestPPPDataPlaneIdle(t *testing.T) {
	const idle = 400 * time.Millisecond
	dp := newFakePlane()
	l, _ := dpLab(t, dp, func(p *aaa.Profile) { p.IdleTimeout = idle })
	ctx := ctxT(t)
	c, linkDone := dialPPP(t, ctx, l, client("dave", "dave-secret"))
	s := dp.wait(t, ctx)

	tick := time.NewTicker(idle / 8)
	defer tick.Stop()
	for i := range 24 { // three idle periods of traffic to the caller
		<-tick.C
		if err := s.send(datagram('o', 40)); err != nil {
			t.Fatalf("session ended after %d datagrams to the caller in %v: %v", i, time.Duration(i)*idle/8, err)
		}
	}
	// Now only the caller sends, and everything it sends is filtered.
	s.mu.Lock()
	s.filter = true
	s.mu.Unlock()
	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = c.Send(ipFrame(datagram('i', 40)))
			}
		}
	}()
	e := l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Protocol: "ppp"})
	close(stop)
	<-sent
	<-linkDone
	if e.Cause != session.CauseIdleTimeout {
		t.Errorf("session.down cause %q, want %q", e.Cause, session.CauseIdleTimeout)
	}
	if c := s.Counters(); c.InFiltered == 0 {
		t.Error("the caller's datagrams never reached the data plane")
	}
	l.waitState(1, lines.Idle)
}

// A nil plane is no data plane, not a DataPlane holding nil (whose Attach would panic).
func TestPlaneNil(t *testing.T) {
	if session.Plane(nil) != nil {
		t.Error("Plane(nil) is not a nil DataPlane")
	}
}
