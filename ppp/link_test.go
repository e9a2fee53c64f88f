package ppp

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/local"
	"github.com/dialback/nas/config"
)

// Short timers keep the tests fast; generous enough that a loaded CI machine does not
// retransmit before the peer could answer (a retransmission would be harmless anyway).
const (
	lkRestart = 40 * time.Millisecond
	lkBound   = 10 * time.Second // no test link may run this long
)

func lkStr(s string) *string { return &s }

var (
	lkNASAddr  = netip.MustParseAddr("10.0.0.1")
	lkPeerAddr = netip.MustParseAddr("10.0.0.2")
)

func lkLog(t testing.TB) *slog.Logger {
	if testing.Verbose() && os.Getenv("PPP_LINK_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// lkAAA is the local user table the server authenticates against.
func lkAAA(t testing.TB) func(context.Context, *aaa.Request) (*aaa.Profile, error) {
	t.Helper()
	tab, err := local.New([]config.User{
		{Name: "alice", Password: "wonderland"},
		{Name: "bob", Password: "builder", CallbackDialstring: lkStr("5550001")},
		{Name: "carol", Password: "caroline", CallbackDialstring: lkStr("")},
	}, local.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	return tab.Authenticate
}

// lkNet hands out the same addresses to every user and counts releases.
type lkNet struct{ allocated, released atomic.Int32 }

func (n *lkNet) network(p *aaa.Profile) (IPCPConfig, func(), error) {
	n.allocated.Add(1)
	return IPCPConfig{Local: lkNASAddr, Peer: lkPeerAddr}, func() { n.released.Add(1) }, nil
}

func lkServer(t testing.TB, auth ...AuthProto) LinkConfig {
	return LinkConfig{Role: Server, Auth: auth, Authenticate: lkAAA(t), Keepalive: -1,
		RestartTimer: lkRestart, Logger: lkLog(t).With("side", "server"), Network: new(lkNet).network}
}

func lkClient(t testing.TB, user, password string) LinkConfig {
	return LinkConfig{Role: Client, User: user, Password: password, Keepalive: -1,
		RestartTimer: lkRestart, Logger: lkLog(t).With("side", "client")}
}

type lkOutcome struct {
	res LinkResult
	err error
}

// lkRun runs a server and a client link over one in-memory line. When the server's link
// opens, the client is stopped (it sends Terminate-Request and leaves), as a user hanging up.
func lkRun(t testing.TB, s, c LinkConfig) (server, client lkOutcome) {
	t.Helper()
	se, ce := lkPipe()
	defer se.Close()
	ctx, cancel := context.WithTimeout(context.Background(), lkBound)
	defer cancel()
	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()
	up := s.Up
	s.Up = func(r LinkResult) {
		if up != nil {
			up(r)
		}
		ccancel()
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		server.res, server.err = NewLink(se, s).Run(ctx)
	}()
	go func() {
		defer wg.Done()
		client.res, client.err = NewLink(ce, c).Run(cctx)
	}()
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatalf("links still running after %v: server %+v, client %+v", lkBound, server.res, client.res)
	}
	return server, client
}

func lkWantCause(t testing.TB, side string, o lkOutcome, cause string) {
	t.Helper()
	if o.res.Cause != cause {
		t.Errorf("%s cause = %q (%q, err %v), want %q", side, o.res.Cause, o.res.Message, o.err, cause)
	}
}

func TestLinkAuthentication(t *testing.T) {
	tests := []struct {
		name       string
		server     []AuthProto
		client     []AuthProto // nil: the default (all three)
		user, pass string
		ok         bool
		auth       AuthProto
		// clientCause, if set, is the client's cause when authentication fails; default auth-failed.
		clientCause string
	}{
		{"pap ok", []AuthProto{AuthPAP}, nil, "alice", "wonderland", true, AuthPAP, ""},
		{"pap bad password", []AuthProto{AuthPAP}, nil, "alice", "wonderlanD", false, AuthPAP, ""},
		{"pap unknown user", []AuthProto{AuthPAP}, nil, "mallory", "wonderland", false, AuthPAP, ""},
		{"chap ok", []AuthProto{AuthCHAP}, nil, "alice", "wonderland", true, AuthCHAP, ""},
		{"chap bad password", []AuthProto{AuthCHAP}, nil, "alice", "wonderlan", false, AuthCHAP, ""},
		{"ms-chap-v2 ok", []AuthProto{AuthMSCHAPv2}, nil, "alice", "wonderland", true, AuthMSCHAPv2, ""},
		{"ms-chap-v2 bad password", []AuthProto{AuthMSCHAPv2}, nil, "alice", "x", false, AuthMSCHAPv2, ""},
		// IOS `ppp authentication chap pap` with a caller that only does PAP: it Naks CHAP
		// with PAP and the server moves on.
		{"fallback chap to pap", []AuthProto{AuthCHAP, AuthPAP}, []AuthProto{AuthPAP}, "alice", "wonderland", true, AuthPAP, ""},
		{"fallback skips what the client refuses", []AuthProto{AuthMSCHAPv2, AuthCHAP, AuthPAP}, []AuthProto{AuthPAP, AuthCHAP},
			"alice", "wonderland", true, AuthPAP, ""},
		// The server gives up during LCP: all the client sees is a Terminate-Request.
		{"no common protocol", []AuthProto{AuthCHAP}, []AuthProto{AuthPAP}, "alice", "wonderland", false, AuthNone, CauseUserRequest},
		{"no authentication", nil, nil, "", "", true, AuthNone, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var nw lkNet
			s := lkServer(t, tt.server...)
			s.Network = nw.network
			c := lkClient(t, tt.user, tt.pass)
			c.Auth = tt.client
			var upRes LinkResult
			s.Up = func(r LinkResult) { upRes = r }
			so, co := lkRun(t, s, c)
			if tt.ok {
				lkWantCause(t, "server", so, CauseUserRequest)
				lkWantCause(t, "client", co, CauseAdmin)
				if so.res.Reached != PhaseOpen || co.res.Reached != PhaseOpen {
					t.Errorf("reached server %v client %v, want open", so.res.Reached, co.res.Reached)
				}
				if so.res.Auth != tt.auth || co.res.Auth != tt.auth {
					t.Errorf("auth server %v client %v, want %v", so.res.Auth, co.res.Auth, tt.auth)
				}
				if so.res.User != tt.user {
					t.Errorf("server user %q, want %q", so.res.User, tt.user)
				}
				if so.res.Peer != lkPeerAddr || co.res.Local != lkPeerAddr || co.res.Peer != lkNASAddr || so.res.Local != lkNASAddr {
					t.Errorf("addresses server %v-%v client %v-%v", so.res.Local, so.res.Peer, co.res.Local, co.res.Peer)
				}
				if upRes.Peer != lkPeerAddr {
					t.Errorf("Up hook saw peer %v", upRes.Peer)
				}
				if so.err != nil || !errors.Is(co.err, context.Canceled) {
					t.Errorf("errors server %v client %v", so.err, co.err)
				}
			} else {
				lkWantCause(t, "server", so, CauseAuthFailed)
				lkWantCause(t, "client", co, orDefault(tt.clientCause, CauseAuthFailed))
				if so.res.Reached >= PhaseNetwork {
					t.Errorf("server reached %v after failed authentication", so.res.Reached)
				}
				if so.err != nil || co.err != nil {
					t.Errorf("errors server %v client %v", so.err, co.err)
				}
			}
			if a, r := nw.allocated.Load(), nw.released.Load(); a != r {
				t.Errorf("allocated %d addresses, released %d", a, r)
			}
		})
	}
}

// A Windows caller sends DOMAIN\user as its CHAP Name; the domain does not enter the hash.
func TestLinkMSCHAPv2Domain(t *testing.T) {
	s := lkServer(t, AuthMSCHAPv2)
	inner := s.Authenticate
	var seen string
	s.Authenticate = func(ctx context.Context, r *aaa.Request) (*aaa.Profile, error) {
		seen = r.User
		r2 := *r
		r2.User = strings.TrimPrefix(r.User, `CORP\`)
		return inner(ctx, &r2)
	}
	so, co := lkRun(t, s, lkClient(t, `CORP\alice`, "wonderland"))
	lkWantCause(t, "server", so, CauseUserRequest)
	lkWantCause(t, "client", co, CauseAdmin)
	if seen != `CORP\alice` {
		t.Errorf("AAA saw user %q", seen)
	}
}

// The client checks the server's authenticator response (RFC 2759 §5): a server that cannot
// produce it (AAA gave none) is hung up on.
func TestLinkMSCHAPv2NoAuthenticatorResponse(t *testing.T) {
	s := lkServer(t, AuthMSCHAPv2)
	inner := s.Authenticate
	s.Authenticate = func(ctx context.Context, r *aaa.Request) (*aaa.Profile, error) {
		p, err := inner(ctx, r)
		if p != nil {
			p.AuthenticatorResponse = ""
		}
		return p, err
	}
	so, co := lkRun(t, s, lkClient(t, "alice", "wonderland"))
	lkWantCause(t, "client", co, CauseAuthFailed)
	if !strings.Contains(co.res.Message, "authenticator response") {
		t.Errorf("client message %q", co.res.Message)
	}
	if so.res.Reached >= PhaseOpen {
		t.Errorf("server reached %v", so.res.Reached)
	}
}

// What AAA sees: the CHAP id, challenge and response, and the service.
func TestLinkAAARequest(t *testing.T) {
	for _, alg := range []AuthProto{AuthCHAP, AuthMSCHAPv2, AuthPAP} {
		t.Run(alg.String(), func(t *testing.T) {
			s := lkServer(t, alg)
			inner := s.Authenticate
			var got aaa.Request
			s.Request = aaa.Request{Line: 3, PortName: "tty3", CallerID: "5551000", Leg: aaa.LegFirst}
			s.Authenticate = func(ctx context.Context, r *aaa.Request) (*aaa.Profile, error) {
				got = *r
				return inner(ctx, r)
			}
			so, _ := lkRun(t, s, lkClient(t, "alice", "wonderland"))
			lkWantCause(t, "server", so, CauseUserRequest)
			if got.Service != aaa.ServicePPP || got.User != "alice" || got.Line != 3 || got.PortName != "tty3" ||
				got.CallerID != "5551000" || got.Leg != aaa.LegFirst {
				t.Errorf("request %+v", got)
			}
			switch alg {
			case AuthPAP:
				if got.Password != "wonderland" || got.CHAP != nil {
					t.Errorf("PAP request carries password %v, CHAP %v", got.Password != "", got.CHAP)
				}
			default:
				c := got.CHAP
				if c == nil || got.Password != "" || len(c.Challenge) != 16 || c.Type != chapAlgorithm(alg) ||
					len(c.Response) != chapResponseLen(alg) {
					t.Fatalf("CHAP request %+v", c)
				}
			}
		})
	}
}

// IOS `ppp max-bad-auth 2`: after a CHAP Failure the server challenges again. Our client (like
// pppd) gives up on the first Failure, and the server still says why the call ended.
func TestLinkMaxBadAuth(t *testing.T) {
	se, ce := lkPipe()
	defer se.Close()
	ctx, cancel := context.WithTimeout(context.Background(), lkBound)
	defer cancel()
	s := lkServer(t, AuthCHAP)
	s.MaxBadAuth = 2
	var challenges atomic.Int32
	dec := NewDecoder(DefaultMRU)
	dec.SetACCM(0) // after LCP the server sends control characters raw, as the client asked
	se.setTap(func(b []byte) {
		dec.Feed(b, func(f Frame) {
			if f.Protocol == ProtoCHAP && len(f.Info) > 0 && f.Info[0] == CHAPChallenge {
				challenges.Add(1)
			}
		})
	})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = NewLink(ce, lkClient(t, "alice", "nope")).Run(ctx)
	}()
	res, _ := NewLink(se, s).Run(ctx)
	wg.Wait()
	if res.Cause != CauseAuthFailed {
		t.Errorf("server cause %q (%q)", res.Cause, res.Message)
	}
	if n := challenges.Load(); n != 2 {
		t.Errorf("%d Challenges sent, want 2", n)
	}
}

func TestLinkCallbackRFC1570(t *testing.T) {
	tests := []struct {
		name     string
		accept   bool
		initiate bool
		req      CallbackRequest
		user     string
		cause    string
		number   string
		via      string
	}{
		{"op 1 with a number, user supplies", true, false, CallbackRequest{Requested: true, Op: CallbackOpDialString, Message: "5551234"},
			"carol", CauseCallback, "5551234", ViaRFC1570},
		{"op 3, AAA number wins", true, false, CallbackRequest{Requested: true, Op: CallbackOpE164, Message: "5551234"},
			"bob", CauseCallback, "5550001", ViaRFC1570},
		{"op 0, number from AAA", true, false, CallbackRequest{Requested: true, Op: CallbackOpAuth},
			"bob", CauseCallback, "5550001", ViaRFC1570},
		{"op 0, no number anywhere", true, false, CallbackRequest{Requested: true, Op: CallbackOpAuth},
			"carol", CauseCallbackRefused, "", ""},
		{"not a callback user: normal session", true, false, CallbackRequest{Requested: true, Op: CallbackOpDialString, Message: "5551234"},
			"alice", CauseUserRequest, "", ""},
		{"accept off: option rejected, normal session", false, false, CallbackRequest{Requested: true, Op: CallbackOpDialString, Message: "5551234"},
			"carol", CauseUserRequest, "", ""},
		{"op 2 is not accepted", true, false, CallbackRequest{Requested: true, Op: CallbackOpLocationID, Message: "home"},
			"carol", CauseUserRequest, "", ""},
		{"initiate: caller did not ask", false, true, CallbackRequest{}, "bob", CauseCallback, "5550001", ViaInitiate},
		{"initiate without a number: normal session", false, true, CallbackRequest{}, "carol", CauseUserRequest, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var nw lkNet
			s := lkServer(t, AuthPAP)
			s.Network = nw.network
			s.CallbackAccept, s.CallbackInitiate = tt.accept, tt.initiate
			s.Callback = lkPlan
			c := lkClient(t, tt.user, map[string]string{"alice": "wonderland", "bob": "builder", "carol": "caroline"}[tt.user])
			c.CallbackRequest = tt.req
			so, co := lkRun(t, s, c)
			lkWantCause(t, "server", so, tt.cause)
			cb := so.res.Callback
			if tt.number == "" {
				if cb != nil {
					t.Fatalf("server callback %+v, want none", cb)
				}
				return
			}
			if cb == nil || cb.Number != tt.number || cb.Via != tt.via {
				t.Fatalf("server callback %+v, want %s via %s", cb, tt.number, tt.via)
			}
			if so.res.Reached >= PhaseNetwork || nw.allocated.Load() != 0 {
				t.Errorf("server reached %v, allocated %d addresses: no NCP after callback (RFC 1570)",
					so.res.Reached, nw.allocated.Load())
			}
			if tt.via == ViaRFC1570 {
				lkWantCause(t, "client", co, CauseCallback)
				if co.res.Callback == nil || co.res.Callback.Via != ViaRFC1570 {
					t.Errorf("client callback %+v", co.res.Callback)
				}
			}
		})
	}
}

// lkPlan is a small stand-in for callback.Plan: the AAA number wins, else the caller's.
func lkPlan(p *aaa.Profile, req CallbackRequest) CallbackDecision {
	if p == nil || p.Callback == nil {
		return CallbackDecision{Reason: "not a callback user"}
	}
	switch {
	case p.Callback.Dialstring != "":
		return CallbackDecision{Callback: true, Number: p.Callback.Dialstring}
	case req.Message != "":
		return CallbackDecision{Callback: true, Number: req.Message}
	case req.Requested:
		return CallbackDecision{Disconnect: true, NeedNumber: true, Reason: "no number"}
	}
	return CallbackDecision{}
}

func TestLinkCallbackCBCP(t *testing.T) {
	tests := []struct {
		name   string
		user   string
		number string // the client's
		cause  string
		want   string // number called
	}{
		{"user-specified", "carol", "5551234", CauseCallback, "5551234"},
		{"pre-specified wins", "bob", "5551234", CauseCallback, "5550001"},
		{"pre-specified, caller gave none", "bob", "", CauseCallback, "5550001"},
		{"not a callback user: none, then IPCP", "alice", "5551234", CauseUserRequest, ""},
		{"user-specified but no number: no agreement", "carol", "", CauseNegotiationFailed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := lkServer(t, AuthCHAP)
			s.CallbackAccept = true
			s.Callback = lkPlan
			c := lkClient(t, tt.user, map[string]string{"alice": "wonderland", "bob": "builder", "carol": "caroline"}[tt.user])
			c.CallbackRequest = CallbackRequest{Requested: true, Op: CallbackOpCBCP, Message: tt.number}
			c.MaxConfigure = 3 // the failing case: the server gives up after three Requests
			s.MaxConfigure = 3
			so, co := lkRun(t, s, c)
			lkWantCause(t, "server", so, tt.cause)
			if tt.want == "" {
				if so.res.Callback != nil {
					t.Errorf("server callback %+v", so.res.Callback)
				}
				return
			}
			lkWantCause(t, "client", co, CauseCallback)
			cb := so.res.Callback
			if cb == nil || cb.Number != tt.want || cb.Via != ViaCBCP || cb.Delay != 5*time.Second {
				t.Fatalf("server callback %+v, want %s via cbcp after 5s", cb, tt.want)
			}
			if co.res.Callback == nil || co.res.Callback.Via != ViaCBCP {
				t.Errorf("client callback %+v", co.res.Callback)
			}
			// pppd's words, which the server logs as the caller's reason.
			if so.res.Message != "Call me back, please" {
				t.Errorf("server message %q", so.res.Message)
			}
		})
	}
}

func TestLinkKeepalive(t *testing.T) {
	se, ce := lkPipe()
	defer se.Close()
	ctx, cancel := context.WithTimeout(context.Background(), lkBound)
	defer cancel()
	s := lkServer(t, AuthPAP)
	s.Keepalive, s.KeepaliveFails = 20*time.Millisecond, 3
	var echoes atomic.Int32
	dec := NewDecoder(DefaultMRU)
	se.setTap(func(b []byte) {
		dec.Feed(b, func(f Frame) {
			if f.Protocol == ProtoLCP && len(f.Info) > 0 && Code(f.Info[0]) == CodeEchoRequest {
				echoes.Add(1)
			}
		})
	})
	s.Up = func(LinkResult) {
		// The caller's side of the line goes deaf and dumb, without a carrier drop.
		ce.setDrop(true)
		se.setDrop(true)
	}
	c := lkClient(t, "alice", "wonderland")
	var wg sync.WaitGroup
	var co lkOutcome
	wg.Add(1)
	cctx, ccancel := context.WithCancel(ctx)
	go func() {
		defer wg.Done()
		co.res, co.err = NewLink(ce, c).Run(cctx)
	}()
	res, err := NewLink(se, s).Run(ctx)
	ccancel()
	wg.Wait()
	if res.Cause != CauseKeepalive || err != nil {
		t.Fatalf("server = %q (%q), %v; want keepalive", res.Cause, res.Message, err)
	}
	if n := echoes.Load(); n != 3 {
		t.Errorf("%d Echo-Requests sent before giving up, want 3", n)
	}
}

// Echo-Requests are answered while the link is up, so keepalive does not end a live link.
func TestLinkKeepaliveAnswered(t *testing.T) {
	s := lkServer(t, AuthPAP)
	s.Keepalive, s.KeepaliveFails = 5*time.Millisecond, 2
	c := lkClient(t, "alice", "wonderland")
	c.Keepalive = 5 * time.Millisecond
	// Hold the link open until each side has had several Echo-Replies.
	se, ce := lkPipe()
	defer se.Close()
	ctx, cancel := context.WithTimeout(context.Background(), lkBound)
	defer cancel()
	var replies atomic.Int32
	dec := NewDecoder(DefaultMRU)
	cctx, ccancel := context.WithCancel(ctx)
	ce.setTap(func(b []byte) {
		dec.Feed(b, func(f Frame) {
			if f.Protocol == ProtoLCP && len(f.Info) > 0 && Code(f.Info[0]) == CodeEchoReply {
				if replies.Add(1) == 10 {
					ccancel()
				}
			}
		})
	})
	var wg sync.WaitGroup
	var co lkOutcome
	wg.Add(1)
	go func() {
		defer wg.Done()
		co.res, co.err = NewLink(ce, c).Run(cctx)
	}()
	res, _ := NewLink(se, s).Run(ctx)
	wg.Wait()
	if res.Cause != CauseUserRequest {
		t.Errorf("server cause %q (%q), want user-request", res.Cause, res.Message)
	}
	if res.Counters.LCP.EchoRepliesRcvd == 0 || co.res.Counters.LCP.EchoRepliesSent < 10 {
		t.Errorf("echo counters server %+v client %+v", res.Counters.LCP, co.res.Counters.LCP)
	}
}

// pppd offers CCP and IPv6CP after authentication; the NAS rejects both protocols.
func TestLinkProtocolReject(t *testing.T) {
	se, ce := lkPipe()
	defer se.Close()
	ctx, cancel := context.WithTimeout(context.Background(), lkBound)
	defer cancel()
	cctx, ccancel := context.WithCancel(ctx)
	var mu sync.Mutex
	rejected := map[uint16][]byte{}
	dec := NewDecoder(DefaultMRU)
	se.setTap(func(b []byte) {
		dec.Feed(b, func(f Frame) {
			p, err := ParsePacket(f.Info)
			if f.Protocol != ProtoLCP || err != nil || p.Code != CodeProtocolReject || len(p.Data) < 2 {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			rejected[binary.BigEndian.Uint16(p.Data)] = bytes.Clone(p.Data[2:])
			if len(rejected) == 3 {
				ccancel()
			}
		})
	})
	enc := NewEncoder()
	ccpReq := []byte{1, 1, 0, 10, 0x1A, 4, 0x78, 0, 0x18, 4} // Configure-Request, deflate
	s := lkServer(t, AuthCHAP)
	s.Up = func(LinkResult) {
		se.inject(enc.AppendFrame(nil, ProtoCCP, ccpReq))
		se.inject(enc.AppendFrame(nil, ProtoIPv6CP, []byte{1, 1, 0, 14, 1, 10, 1, 2, 3, 4, 5, 6, 7, 8}))
		se.inject(enc.AppendFrame(nil, 0x4021, []byte("an unassigned protocol")))
	}
	var wg sync.WaitGroup
	var co lkOutcome
	wg.Add(1)
	go func() {
		defer wg.Done()
		co.res, co.err = NewLink(ce, lkClient(t, "alice", "wonderland")).Run(cctx)
	}()
	res, _ := NewLink(se, s).Run(ctx)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if !bytes.Equal(rejected[ProtoCCP], ccpReq) || rejected[ProtoIPv6CP] == nil || rejected[0x4021] == nil {
		t.Errorf("Protocol-Rejects seen: %x", rejected)
	}
	if res.Counters.ProtocolRejects != 3 || res.Cause != CauseUserRequest {
		t.Errorf("server rejected %d protocols, cause %q", res.Counters.ProtocolRejects, res.Cause)
	}
}

// IP datagrams flow only in the open phase, to the Packets hook, and are counted.
func TestLinkPackets(t *testing.T) {
	se, ce := lkPipe()
	defer se.Close()
	ctx, cancel := context.WithTimeout(context.Background(), lkBound)
	defer cancel()
	cctx, ccancel := context.WithCancel(ctx)
	var nw lkNet
	s := lkServer(t, AuthPAP)
	s.Network = nw.network
	var got [][]byte
	s.Packets = func(p []byte) {
		got = append(got, bytes.Clone(p))
		if len(got) == 2 {
			ccancel()
		}
	}
	c := lkClient(t, "alice", "wonderland")
	var cl *Link
	c.Up = func(LinkResult) {
		for _, p := range []string{"datagram one", "datagram two"} {
			if err := cl.SendPacket([]byte(p)); err != nil {
				t.Errorf("SendPacket: %v", err)
			}
		}
	}
	cl = NewLink(ce, c)
	if err := cl.SendPacket([]byte("too early")); err == nil {
		t.Error("SendPacket before the link is open succeeded")
	}
	var wg sync.WaitGroup
	var co lkOutcome
	wg.Add(1)
	go func() {
		defer wg.Done()
		co.res, co.err = cl.Run(cctx)
	}()
	res, _ := NewLink(se, s).Run(ctx)
	wg.Wait()
	if len(got) != 2 || string(got[0]) != "datagram one" || string(got[1]) != "datagram two" {
		t.Errorf("server got %q", got)
	}
	if res.Counters.PacketsIn != 2 || res.Counters.IPOctetsIn != 24 || co.res.Counters.PacketsOut != 2 {
		t.Errorf("counters server %+v client %+v", res.Counters, co.res.Counters)
	}
}

// The first bytes autoselect consumed are handed over and decoded before the line is read.
func TestLinkInitial(t *testing.T) {
	se, ce := lkPipe()
	defer se.Close()
	ctx, cancel := context.WithTimeout(context.Background(), lkBound)
	defer cancel()
	cctx, ccancel := context.WithCancel(ctx)
	// Capture the client's first frame off the line and give it to the server as Initial.
	var first []byte
	var once sync.Once
	held := make(chan struct{})
	ce.setTap(func(b []byte) {
		once.Do(func() {
			first = bytes.Clone(b)
			close(held)
		})
	})
	ce.setDrop(true)
	var wg sync.WaitGroup
	var co lkOutcome
	wg.Add(1)
	c := lkClient(t, "alice", "wonderland")
	c.RestartTimer = time.Hour // no retransmission: only Initial can carry the request
	go func() {
		defer wg.Done()
		co.res, co.err = NewLink(ce, c).Run(cctx)
	}()
	<-held
	ce.setTap(nil)
	ce.setDrop(false)
	s := lkServer(t, AuthPAP)
	s.Initial = append([]byte("CONNECT 33600\r\n"), first...)
	s.Up = func(LinkResult) { ccancel() }
	res, _ := NewLink(se, s).Run(ctx)
	wg.Wait()
	if res.Cause != CauseUserRequest || res.Reached != PhaseOpen {
		t.Errorf("server %q reached %v", res.Cause, res.Reached)
	}
}

// A looped-back line: we read our own frames. The Magic-Number gives it away (RFC 1661 §6.4).
func TestLinkLoopback(t *testing.T) {
	line := lkLoop()
	ctx, cancel := context.WithTimeout(context.Background(), lkBound)
	defer cancel()
	cfg := lkServer(t, AuthCHAP)
	res, err := NewLink(line, cfg).Run(ctx)
	if res.Cause != CauseLoopback || err != nil {
		t.Fatalf("looped line: %q (%q), %v; want loopback", res.Cause, res.Message, err)
	}
}

// Two ends that keep drawing the same Magic-Number look looped to each other.
func TestLinkSameMagic(t *testing.T) {
	s := lkServer(t, AuthPAP)
	c := lkClient(t, "alice", "wonderland")
	s.Magic = func() uint32 { return 0x1234 }
	c.Magic = s.Magic
	so, co := lkRun(t, s, c)
	lkWantCause(t, "server", so, CauseLoopback)
	if co.res.Reached > PhaseEstablish {
		t.Errorf("client reached %v", co.res.Reached)
	}
}

// A coincidence is not a loop: the same number once, then different ones.
func TestLinkMagicCollisionRecovers(t *testing.T) {
	s := lkServer(t, AuthPAP)
	c := lkClient(t, "alice", "wonderland")
	var sn, cn atomic.Uint32
	s.Magic = func() uint32 { return 0x1000 + sn.Add(1) }
	c.Magic = func() uint32 { return 0x1000 + cn.Add(2) - 1 } // first draw collides with the server's
	so, _ := lkRun(t, s, c)
	lkWantCause(t, "server", so, CauseUserRequest)
}

func TestLinkRenegotiation(t *testing.T) {
	// After the link is open the client's LCP sends a new Configure-Request: both go back to
	// establish, authenticate again and reopen (RFC 1661 §3.7 Opened + RCR).
	se, ce := lkPipe()
	defer se.Close()
	ctx, cancel := context.WithTimeout(context.Background(), lkBound)
	defer cancel()
	cctx, ccancel := context.WithCancel(ctx)
	var ups atomic.Int32
	s := lkServer(t, AuthCHAP)
	var nw lkNet
	s.Network = nw.network
	var phases []Phase
	s.OnPhase = func(p Phase) { phases = append(phases, p) }
	s.Up = func(LinkResult) {
		if ups.Add(1) == 1 {
			se.inject(NewEncoder().AppendFrame(nil, ProtoLCP, []byte{1, 200, 0, 4}))
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	var co lkOutcome
	c := lkClient(t, "alice", "wonderland")
	go func() {
		defer wg.Done()
		co.res, co.err = NewLink(ce, c).Run(cctx)
	}()
	var authCount atomic.Int32
	inner := s.Authenticate
	s.Authenticate = func(ctx context.Context, r *aaa.Request) (*aaa.Profile, error) {
		if authCount.Add(1) == 2 {
			ccancel()
		}
		return inner(ctx, r)
	}
	res, _ := NewLink(se, s).Run(ctx)
	wg.Wait()
	if authCount.Load() != 2 {
		t.Errorf("authenticated %d times, want 2 (again after renegotiation); phases %v; cause %q",
			authCount.Load(), phases, res.Cause)
	}
	if a, r := nw.allocated.Load(), nw.released.Load(); a == 0 || a != r {
		t.Errorf("allocated %d addresses, released %d", a, r)
	}
}

func TestLinkCarrierLoss(t *testing.T) {
	se, ce := lkPipe()
	ctx, cancel := context.WithTimeout(context.Background(), lkBound)
	defer cancel()
	s := lkServer(t, AuthPAP)
	s.Up = func(LinkResult) { ce.Close() }
	go func() { _, _ = NewLink(ce, lkClient(t, "alice", "wonderland")).Run(ctx) }()
	res, err := NewLink(se, s).Run(ctx)
	if res.Cause != CauseLostCarrier || err == nil {
		t.Errorf("cause %q err %v, want lost-carrier with an error", res.Cause, err)
	}
}

// A Network hook that cannot give an address (pool exhausted) ends the call cleanly.
func TestLinkNoAddress(t *testing.T) {
	s := lkServer(t, AuthPAP)
	s.Network = func(*aaa.Profile) (IPCPConfig, func(), error) {
		return IPCPConfig{}, nil, errors.New("pool default exhausted")
	}
	so, co := lkRun(t, s, lkClient(t, "alice", "wonderland"))
	lkWantCause(t, "server", so, CauseNASError)
	lkWantCause(t, "client", co, CauseUserRequest)
}

func TestLinkNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 5 {
		lkRun(t, lkServer(t, AuthCHAP), lkClient(t, "alice", "wonderland"))
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines before, %d after", before, n)
	}
}
