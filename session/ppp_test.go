package session_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/acct"
	"github.com/dialback/nas/callback"
	"github.com/dialback/nas/config"
	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/ppp"
	"github.com/dialback/nas/session"
	"github.com/dialback/nas/session/caller"
	"github.com/dialback/nas/session/event"
)

// pppConfig is ciscoConfig with PPP on every line: autoselect ppp, no flush, a pool of three
// addresses, and PPP callback as given.
func pppConfig(mode string, users ...config.User) *config.Config {
	cfg := ciscoConfig(users...)
	for i := range cfg.Lines {
		cfg.Lines[i].Autoselect = []string{"ppp", "during-login"}
	}
	cfg.PPP = config.PPP{
		Authentication: []string{"chap", "pap"}, Callback: mode,
		LocalAddress: "10.9.0.1", DNS: []string{"10.9.0.53"}, Pool: "dialin",
	}
	cfg.IPPools = []config.IPPool{{Name: "dialin", Start: "10.9.0.10", End: "10.9.0.12"}}
	return cfg
}

// pppLab is a lab whose server serves PPP with the configuration's settings.
func pppLab(t *testing.T, cfg *config.Config, opts ...labOption) (*lab, *session.PPP) {
	t.Helper()
	var svc *session.PPP
	opts = append(opts, withOptions(func(o *session.Options) {
		p, err := session.NewPPP(o.Config, session.PPPOptions{
			Methods:      aaa.MethodList{Service: aaa.ServicePPP, Methods: []aaa.Method{o.Local}},
			RestartTimer: 300 * time.Millisecond, AuthTimeout: 3 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		svc = p
		o.PPP = p.Handle
	}))
	return newLab(t, cfg, opts...), svc
}

// cbcpDelay is the callback delay the test callers ask for in CBCP (pppd asks for 5 s).
const cbcpDelay = time.Second

// client is a PPP caller's link configuration: fast timers, no keepalives.
func client(user, password string, auth ...ppp.AuthProto) ppp.LinkConfig {
	return ppp.LinkConfig{User: user, Password: password, Auth: auth, RestartTimer: 300 * time.Millisecond,
		Keepalive: -1, CBCPDelay: cbcpDelay}
}

// pppSession runs the client link on c's call; once IPCP is up it calls onUp (if set) and,
// after hold, closes the link as a user hanging up would. up is what the link reported when
// it came up, nil if it never did.
func pppSession(ctx context.Context, c *caller.Caller, cfg ppp.LinkConfig, hold time.Duration, onUp func(ppp.LinkResult)) (up *ppp.LinkResult, res ppp.LinkResult, err error) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var timer *time.Timer
	cfg.Up = func(r ppp.LinkResult) {
		up = &r
		if onUp != nil {
			onUp(r)
		}
		timer = time.AfterFunc(hold, cancel)
	}
	res, err = c.PPP(lctx, cfg)
	if timer != nil {
		timer.Stop()
	}
	if lctx.Err() != nil && ctx.Err() == nil {
		err = nil // we hung up
	}
	return up, res, err
}

func TestPPPLoginAddressFromPool(t *testing.T) {
	for _, auth := range []ppp.AuthProto{ppp.AuthCHAP, ppp.AuthPAP, ppp.AuthMSCHAPv2} {
		t.Run(auth.String(), func(t *testing.T) {
			cfg := pppConfig("", config.User{Name: "dave", Password: "dave-secret"})
			cfg.PPP.Authentication = []string{"ms-chap-v2", "chap", "pap"}
			l, svc := pppLab(t, cfg)
			ctx := ctxT(t)
			c := l.caller("5552004")
			if _, err := c.Dial(ctx, "5551001"); err != nil {
				t.Fatal(err)
			}
			r, res, err := pppSession(ctx, c, client("dave", "dave-secret", auth), 100*time.Millisecond, nil)
			if err != nil || r == nil {
				t.Fatalf("client link: %v (cause %s: %s)", err, res.Cause, res.Message)
			}
			// The client's view: Local is its own address, Peer the NAS's.
			if r.Local != netip.MustParseAddr("10.9.0.10") || r.Peer != netip.MustParseAddr("10.9.0.1") ||
				r.DNS[0] != netip.MustParseAddr("10.9.0.53") || r.Auth != auth {
				t.Errorf("client got local %v peer %v dns %v auth %v", r.Local, r.Peer, r.DNS, r.Auth)
			}
			l.waitEvent(event.Event{Kind: event.LineHangup, Line: 1})
			e := l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Protocol: "ppp"})
			if e.Cause != session.CauseUserRequest || e.User != "dave" {
				t.Errorf("session.down %+v", e)
			}
			up2 := l.waitEvent(event.Event{Kind: event.SessionUp, Line: 1, Protocol: "ppp"})
			if up2.Address != "10.9.0.10" || up2.User != "dave" {
				t.Errorf("session.up %+v", up2)
			}
			inOrder(t, l.rec.Events(),
				event.Event{Kind: event.CallAnswered, Line: 1},
				event.Event{Kind: event.Autoselect, Line: 1, Protocol: "ppp"},
				event.Event{Kind: event.AuthOK, Line: 1, User: "dave", Protocol: "ppp", Leg: "first"},
				event.Event{Kind: event.SessionUp, Line: 1, User: "dave", Protocol: "ppp"},
				event.Event{Kind: event.SessionDown, Line: 1, User: "dave", Protocol: "ppp"},
				event.Event{Kind: event.LineHangup, Line: 1},
			)
			pl, _ := svc.Pools().Lookup("dialin")
			l.waitState(1, lines.Idle)
			if pl.Free() != pl.Size() {
				t.Errorf("address not returned to the pool: %v in use", pl.InUse())
			}
		})
	}
}

func TestPPPWrongPassword(t *testing.T) {
	l, _ := pppLab(t, pppConfig("", config.User{Name: "dave", Password: "dave-secret"}))
	ctx := ctxT(t)
	c := l.caller("5552004")
	if _, err := c.Dial(ctx, "5551001"); err != nil {
		t.Fatal(err)
	}
	_, res, _ := pppSession(ctx, c, client("dave", "guess", ppp.AuthCHAP), time.Second, nil)
	if res.Cause != ppp.CauseAuthFailed {
		t.Errorf("client link ended %q (%s), want auth-failed", res.Cause, res.Message)
	}
	l.waitEvent(event.Event{Kind: event.LineHangup, Line: 1})
	inOrder(t, l.rec.Events(),
		event.Event{Kind: event.AuthFail, Line: 1, User: "dave", Protocol: "ppp", Cause: "rejected"},
		event.Event{Kind: event.SessionDown, Line: 1, Protocol: "ppp", Cause: session.CauseAuthFailed},
		event.Event{Kind: event.LineHangup, Line: 1, Cause: session.CauseAuthFailed},
	)
	if n := count(l.rec.Events(), event.Event{Kind: event.SessionUp}); n != 0 {
		t.Errorf("session.up after a refused login")
	}
}

// The pool holds three addresses: a fourth caller is refused cleanly, and once a caller hangs
// up its address goes to the next.
func TestPPPPoolExhausted(t *testing.T) {
	cfg := pppConfig("", config.User{Name: "dave", Password: "dave-secret"})
	l1 := lineSpec(1, "5551001")
	l1.Lines, l1.Port = "1-4", "sim:555100{n}"
	l1.Autoselect = []string{"ppp"}
	cfg.Lines = []config.LineSpec{l1}
	l, svc := pppLab(t, cfg)
	ctx := ctxT(t)
	pl, _ := svc.Pools().Lookup("dialin")

	release := make(chan struct{})
	var wg sync.WaitGroup
	addrs := make(chan netip.Addr, 3)
	for i := 1; i <= 3; i++ {
		c := l.caller("555200" + string(rune('0'+i)))
		if _, err := c.Dial(ctx, "555100"+string(rune('0'+i))); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := client("dave", "dave-secret")
			lctx, cancel := context.WithCancel(ctx)
			defer cancel()
			cfg.Up = func(r ppp.LinkResult) {
				addrs <- r.Local
				go func() {
					select {
					case <-release:
					case <-lctx.Done():
					}
					cancel()
				}()
			}
			_, _ = c.PPP(lctx, cfg)
		}()
	}
	got := map[netip.Addr]bool{}
	for range 3 {
		select {
		case a := <-addrs:
			got[a] = true
		case <-ctx.Done():
			t.Fatalf("three callers did not come up:\n%s", dump(l.rec.Events()))
		}
	}
	if len(got) != 3 || pl.Free() != 0 {
		t.Fatalf("addresses %v, %d free", got, pl.Free())
	}

	c4 := l.caller("5552004")
	if _, err := c4.Dial(ctx, "5551004"); err != nil {
		t.Fatal(err)
	}
	_, res, _ := pppSession(ctx, c4, client("dave", "dave-secret"), time.Second, nil)
	if res.Reached >= ppp.PhaseOpen {
		t.Errorf("fourth caller came up with %v", res.Local)
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 4, Protocol: "ppp", Cause: session.CauseNoAddress})
	close(release)
	wg.Wait()
	for n := 1; n <= 3; n++ {
		l.waitState(n, lines.Idle)
	}
	if pl.Free() != 3 {
		t.Errorf("%d of 3 addresses free after every caller left: %v", pl.Free(), pl.InUse())
	}
}

// A Framed-IP-Address from AAA inside a pool is reserved there; one outside is used as it is.
func TestPPPProfileAddress(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		inPool bool
	}{{"10.9.0.12", true}, {"192.0.2.7", false}} {
		t.Run(tc.addr, func(t *testing.T) {
			cfg := pppConfig("", config.User{Name: "dave", Password: "dave-secret"})
			var svc *session.PPP
			l := newLab(t, cfg, withOptions(func(o *session.Options) {
				m := fixedAddress{Method: o.Local, addr: netip.MustParseAddr(tc.addr)}
				p, err := session.NewPPP(o.Config, session.PPPOptions{
					Methods: aaa.MethodList{Methods: []aaa.Method{m}}, RestartTimer: 300 * time.Millisecond,
				})
				if err != nil {
					t.Fatal(err)
				}
				svc, o.PPP = p, p.Handle
			}))
			ctx := ctxT(t)
			c := l.caller("5552004")
			if _, err := c.Dial(ctx, "5551001"); err != nil {
				t.Fatal(err)
			}
			pl, _ := svc.Pools().Lookup("dialin")
			var inUse map[netip.Addr]string
			cl := client("dave", "dave-secret")
			r, _, err := pppSession(ctx, c, cl, 100*time.Millisecond, func(ppp.LinkResult) { inUse = pl.InUse() })
			if err != nil || r == nil {
				t.Fatalf("link not up: %v", err)
			}
			if r.Local.String() != tc.addr {
				t.Errorf("caller's address %v, want %s", r.Local, tc.addr)
			}
			if _, ok := inUse[r.Local]; ok != tc.inPool || len(inUse) != map[bool]int{true: 1, false: 0}[tc.inPool] {
				t.Errorf("pool in use while up: %v", inUse)
			}
			l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Protocol: "ppp"})
			l.waitState(1, lines.Idle)
			if pl.Free() != pl.Size() {
				t.Errorf("address not returned: %v", pl.InUse())
			}
		})
	}
}

// fixedAddress is a method that gives every user the same Framed-IP-Address.
type fixedAddress struct {
	aaa.Method
	addr netip.Addr
}

func (f fixedAddress) Authenticate(ctx context.Context, r *aaa.Request) (*aaa.Profile, error) {
	p, err := f.Method.Authenticate(ctx, r)
	if err == nil {
		q := *p
		q.Address = f.addr
		p = &q
	}
	return p, err
}

// pppCallback is one PPP callback case: the caller's request, the user's entitlement, and where
// the call must come back.
type pppCallback struct {
	name    string
	mode    string // ppp.callback
	user    config.User
	request ppp.CallbackRequest
	number  string // the number called back
	via     string
}

func TestPPPCallback(t *testing.T) {
	empty := strp("")
	fixed := strp("5552000")
	for _, tc := range []pppCallback{
		{"rfc1570 dial string", "accept", config.User{Name: "carol", Password: "carol-secret", CallbackDialstring: empty, CallbackRotary: 77},
			ppp.CallbackRequest{Requested: true, Op: ppp.CallbackOpDialString, Message: "5552000"}, "5552000", ppp.ViaRFC1570},
		{"rfc1570 from authentication", "accept", config.User{Name: "erin", Password: "erin-secret", CallbackDialstring: fixed, CallbackRotary: 77},
			ppp.CallbackRequest{Requested: true, Op: ppp.CallbackOpAuth}, "5552000", ppp.ViaRFC1570},
		{"cbcp user-specified", "accept", config.User{Name: "carol", Password: "carol-secret", CallbackDialstring: empty, CallbackRotary: 77},
			ppp.CallbackRequest{Requested: true, Op: ppp.CallbackOpCBCP, Message: "5552000"}, "5552000", ppp.ViaCBCP},
		{"cbcp pre-specified wins", "accept", config.User{Name: "erin", Password: "erin-secret", CallbackDialstring: fixed, CallbackRotary: 77},
			ppp.CallbackRequest{Requested: true, Op: ppp.CallbackOpCBCP, Message: "5559999"}, "5552000", ppp.ViaCBCP},
		{"initiate", "initiate", config.User{Name: "erin", Password: "erin-secret", CallbackDialstring: fixed, CallbackRotary: 77},
			ppp.CallbackRequest{}, "5552000", ppp.ViaInitiate},
	} {
		t.Run(tc.name, func(t *testing.T) { testPPPCallback(t, tc) })
	}
}

func testPPPCallback(t *testing.T, tc pppCallback) {
	cfg := pppConfig(tc.mode, tc.user)
	l, _ := pppLab(t, cfg)
	ctx := ctxT(t)
	c := l.caller("5552000")
	if tc.number != "5552000" {
		t.Fatalf("the caller is at 5552000")
	}
	if _, err := c.Dial(ctx, "5551001"); err != nil {
		t.Fatal(err)
	}
	cl := client(tc.user.Name, tc.user.Password)
	cl.CallbackRequest = tc.request
	_, res, _ := pppSession(ctx, c, cl, time.Second, nil)
	hungUp := time.Now()
	switch tc.via {
	case ppp.ViaInitiate:
		// The caller did not ask, so it cannot tell: the NAS just closes after authentication.
		if res.Callback != nil || res.Reached >= ppp.PhaseOpen {
			t.Errorf("caller that did not ask: callback %+v, reached %v", res.Callback, res.Reached)
		}
	default:
		if res.Callback == nil {
			t.Fatalf("the caller was not told of a callback: %s (%s)", res.Cause, res.Message)
		}
		if tc.via == ppp.ViaCBCP && res.Callback.Delay != cbcpDelay {
			t.Errorf("CBCP delay %v", res.Callback.Delay)
		}
	}
	if _, err := c.WaitHangup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Answer(ctx); err != nil {
		t.Fatal(err)
	}
	waited := time.Since(hungUp)
	r, _, err := pppSession(ctx, c, client(tc.user.Name, tc.user.Password), 100*time.Millisecond, nil)
	if err != nil || r == nil {
		t.Fatalf("callback leg not up: %v", err)
	}
	if !r.Local.IsValid() {
		t.Errorf("callback leg without an address")
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Leg: "callback", Protocol: "ppp"})
	sched := l.waitEvent(event.Event{Kind: event.CallbackScheduled, Protocol: "ppp"})
	if sched.Number != tc.number || !strings.HasSuffix(sched.Detail, "via "+tc.via) || sched.Rotary != 77 {
		t.Errorf("callback.scheduled %+v", sched)
	}
	inOrder(t, l.rec.Events(),
		event.Event{Kind: event.AuthOK, Line: 1, User: tc.user.Name, Protocol: "ppp", Leg: "first"},
		event.Event{Kind: event.CallbackScheduled, Line: 1, User: tc.user.Name, Number: tc.number},
		event.Event{Kind: event.SessionDown, Line: 1, Protocol: "ppp", Leg: "first", Cause: session.CauseCallback},
		event.Event{Kind: event.LineHangup, Line: 1, Cause: callback.CauseCallback},
		event.Event{Kind: event.CallbackDialing, Number: tc.number, Rotary: 77},
		event.Event{Kind: event.CallbackConnected, Number: tc.number},
		event.Event{Kind: event.AuthOK, User: tc.user.Name, Protocol: "ppp", Leg: "callback"},
		event.Event{Kind: event.SessionUp, User: tc.user.Name, Protocol: "ppp", Leg: "callback"},
		event.Event{Kind: event.SessionDown, User: tc.user.Name, Protocol: "ppp", Leg: "callback", Cause: session.CauseUserRequest},
	)
	if n := count(l.rec.Events(), event.Event{Kind: event.CallbackScheduled}); n != 1 {
		t.Errorf("%d callbacks scheduled: the callback leg must not call back", n)
	}
	if tc.via == ppp.ViaCBCP && waited < cbcpDelay {
		t.Errorf("called back %v after the hang-up: the caller's CBCP delay is %v", waited, cbcpDelay)
	}
}

// A user entitled to callback with an empty dial string who asks by RFC 1570 without a number
// cannot be asked for one: PPP disconnects.
func TestPPPCallbackNoNumber(t *testing.T) {
	l, _ := pppLab(t, pppConfig("accept", config.User{Name: "carol", Password: "carol-secret", CallbackDialstring: strp(""), CallbackRotary: 77}))
	ctx := ctxT(t)
	c := l.caller("5552000")
	if _, err := c.Dial(ctx, "5551001"); err != nil {
		t.Fatal(err)
	}
	cl := client("carol", "carol-secret")
	cl.CallbackRequest = ppp.CallbackRequest{Requested: true, Op: ppp.CallbackOpAuth}
	// The caller cannot tell a refusal from a callback (RFC 1570 has no message for it); it
	// must not get a network.
	_, res, _ := pppSession(ctx, c, cl, time.Second, nil)
	if res.Reached >= ppp.PhaseOpen {
		t.Errorf("reached %v", res.Reached)
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Protocol: "ppp", Cause: session.CauseDisconnect})
	if n := count(l.rec.Events(), event.Event{Kind: event.CallbackScheduled}); n != 0 {
		t.Errorf("a callback was scheduled without a number")
	}
}

// Without ppp callback accept the caller's request is ignored: a normal session.
func TestPPPCallbackNotAccepted(t *testing.T) {
	l, _ := pppLab(t, pppConfig("", config.User{Name: "erin", Password: "erin-secret", CallbackDialstring: strp("5552000"), CallbackRotary: 77}))
	ctx := ctxT(t)
	c := l.caller("5552000")
	if _, err := c.Dial(ctx, "5551001"); err != nil {
		t.Fatal(err)
	}
	cl := client("erin", "erin-secret")
	cl.CallbackRequest = ppp.CallbackRequest{Requested: true, Op: ppp.CallbackOpCBCP, Message: "5552000"}
	r, _, err := pppSession(ctx, c, cl, 50*time.Millisecond, nil)
	if err != nil || r == nil {
		t.Fatalf("link not up: %v", err)
	}
	if r.Callback != nil {
		t.Errorf("callback %+v", r.Callback)
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Protocol: "ppp", Cause: session.CauseUserRequest})
}

// The EXEC `ppp` command hands the line to PPP after a text login.
func TestPPPFromExec(t *testing.T) {
	cfg := pppConfig("", config.User{Name: "dave", Password: "dave-secret"})
	l, _ := pppLab(t, cfg)
	ctx := ctxT(t)
	c := l.caller("5552004")
	if _, err := c.Dial(ctx, "5551001"); err != nil {
		t.Fatal(err)
	}
	if err := c.Login(ctx, "dave", "dave-secret"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect(ctx, "nas>"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendLine("ppp"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect(ctx, "Entering PPP mode.\r\n"); err != nil {
		t.Fatal(err)
	}
	r, _, err := pppSession(ctx, c, client("dave", "dave-secret"), 50*time.Millisecond, nil)
	if err != nil || r == nil {
		t.Fatalf("link not up: %v", err)
	}
	if r.Local != netip.MustParseAddr("10.9.0.10") {
		t.Errorf("caller's address %v", r.Local)
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Protocol: "ppp"})
	inOrder(t, l.rec.Events(),
		event.Event{Kind: event.AuthOK, User: "dave", Protocol: "exec"},
		event.Event{Kind: event.SessionUp, User: "dave", Protocol: "exec"},
		event.Event{Kind: event.SessionDown, User: "dave", Protocol: "exec", Cause: "ppp"},
		event.Event{Kind: event.AuthOK, User: "dave", Protocol: "ppp"},
		event.Event{Kind: event.SessionUp, User: "dave", Protocol: "ppp"},
		event.Event{Kind: event.SessionDown, User: "dave", Protocol: "ppp", Cause: session.CauseUserRequest},
	)
}

// `ppp` with an argument other than /default is refused with a caret, as IOS does.
func TestPPPCommandArgs(t *testing.T) {
	l, _ := pppLab(t, pppConfig("", config.User{Name: "dave", Password: "dave-secret"}))
	ctx := ctxT(t)
	c := l.caller("5552004")
	if _, err := c.Dial(ctx, "5551001"); err != nil {
		t.Fatal(err)
	}
	if err := c.Login(ctx, "dave", "dave-secret"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect(ctx, "nas>"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendLine("ppp 10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect(ctx, "% Invalid input detected at '^' marker."); err != nil {
		t.Fatal(err)
	}
	if err := c.SendLine("exit"); err != nil {
		t.Fatal(err)
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Protocol: "exec", Cause: session.CauseLogout})
}

// autocommand ppp: PPP starts right after the text login, without a prompt.
func TestPPPAutocommand(t *testing.T) {
	cfg := pppConfig("", config.User{Name: "dave", Password: "dave-secret", Autocommand: "ppp"})
	l, _ := pppLab(t, cfg)
	ctx := ctxT(t)
	c := l.caller("5552004")
	if _, err := c.Dial(ctx, "5551001"); err != nil {
		t.Fatal(err)
	}
	if err := c.Login(ctx, "dave", "dave-secret"); err != nil {
		t.Fatal(err)
	}
	if r, _, err := pppSession(ctx, c, client("dave", "dave-secret"), 50*time.Millisecond, nil); err != nil || r == nil {
		t.Fatalf("link not up: %v", err)
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Protocol: "ppp", Cause: session.CauseUserRequest})
	if n := count(l.rec.Events(), event.Event{Kind: event.SessionUp, Protocol: "exec"}); n != 0 {
		t.Errorf("an autocommand ppp user got an EXEC session")
	}
}

// absolute-timeout ends an open PPP session; the caller sees the NAS close the link.
func TestPPPSessionTimeout(t *testing.T) {
	cfg := pppConfig("", config.User{Name: "dave", Password: "dave-secret"})
	cfg.Lines[0].AbsoluteTimeout = 500 * time.Millisecond
	l, _ := pppLab(t, cfg, noValidate)
	ctx := ctxT(t)
	c := l.caller("5552004")
	if _, err := c.Dial(ctx, "5551001"); err != nil {
		t.Fatal(err)
	}
	_, res, err := pppSession(ctx, c, client("dave", "dave-secret"), time.Minute, nil)
	if res.Reached != ppp.PhaseOpen || (err != nil && !errors.Is(err, context.Canceled)) {
		t.Errorf("client: reached %v, cause %s, err %v", res.Reached, res.Cause, err)
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Protocol: "ppp", Cause: session.CauseSessionTimeout})
}

// The idle timeout from AAA ends a link on which the caller sends no IP datagram.
func TestPPPIdleTimeout(t *testing.T) {
	cfg := pppConfig("", config.User{Name: "dave", Password: "dave-secret"})
	l := newLab(t, cfg, withOptions(func(o *session.Options) {
		p, err := session.NewPPP(o.Config, session.PPPOptions{
			Methods:      aaa.MethodList{Methods: []aaa.Method{idleAfter{Method: o.Local, d: 400 * time.Millisecond}}},
			RestartTimer: 300 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		o.PPP = p.Handle
	}))
	ctx := ctxT(t)
	c := l.caller("5552004")
	if _, err := c.Dial(ctx, "5551001"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	up, _, _ := pppSession(ctx, c, client("dave", "dave-secret"), time.Minute, nil)
	if up == nil {
		t.Fatal("link never came up")
	}
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Protocol: "ppp", Cause: session.CauseIdleTimeout})
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("idle timeout after %v, want at least 400ms", d)
	}
}

// idleAfter is a method whose profiles carry an idle timeout.
type idleAfter struct {
	aaa.Method
	d time.Duration
}

func (m idleAfter) Authenticate(ctx context.Context, r *aaa.Request) (*aaa.Profile, error) {
	p, err := m.Method.Authenticate(ctx, r)
	if err == nil {
		q := *p
		q.IdleTimeout = m.d
		p = &q
	}
	return p, err
}

// pppdFirstFrame is pppd 2.4.9's first Configure-Request (asyncmap 0, magic, PFC, ACFC) as it
// goes on the line: 46 octets, more than the autoselect sniffer keeps between reads.
const pppdFirstFrame = "\x7e\xff\x7d\x23\xc0\x21\x7d\x21\x7d\x21\x7d\x20\x7d\x34\x7d\x22\x7d\x26\x7d\x20" +
	"\x7d\x20\x7d\x20\x7d\x20\x7d\x25\x7d\x26\x12\x34\x56\x78\x7d\x27\x7d\x22\x7d\x28\x7d\x22\x3b\x2a\x7e"

// A whole first frame arriving in one read is recognised (the sniffer used to trim it to its
// tail before looking).
func TestAutoselectWholeFirstFrame(t *testing.T) {
	l := newLab(t, pppLine(false, "ppp", "during-login"))
	ctx := ctxT(t)
	c := l.caller("5552000")
	if _, err := c.Dial(ctx, "5551001"); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(pppdFirstFrame); err != nil {
		t.Fatal(err)
	}
	l.waitEvent(event.Event{Kind: event.Autoselect, Line: 1, Protocol: "ppp"})
	l.waitEvent(event.Event{Kind: event.SessionDown, Line: 1, Cause: session.CausePPPNotEnabled})
}

func TestNewPPPErrors(t *testing.T) {
	base := func() *config.Config { return pppConfig("") }
	for _, tc := range []struct {
		name string
		mod  func(*config.Config)
		want string
	}{
		{"auth", func(c *config.Config) { c.PPP.Authentication = []string{"eap"} }, "ppp.authentication"},
		{"local", func(c *config.Config) { c.PPP.LocalAddress = "::1" }, "ppp.local-address"},
		{"dns", func(c *config.Config) { c.PPP.DNS = []string{"x"} }, "ppp.dns[0]"},
		{"pool range", func(c *config.Config) { c.IPPools[0].End = "10.9.0.1" }, "ip-pools[0]"},
		{"pool overlap", func(c *config.Config) {
			c.IPPools = append(c.IPPools, config.IPPool{Name: "b", Start: "10.9.0.11"})
		}, "overlaps"},
		{"pool missing", func(c *config.Config) { c.PPP.Pool = "nosuch" }, "ppp.pool"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.mod(cfg)
			_, err := session.NewPPP(cfg, session.PPPOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error about %s", err, tc.want)
			}
		})
	}
	if _, err := session.NewPPP(base(), session.PPPOptions{}); err != nil {
		t.Errorf("valid configuration: %v", err)
	}
}

// memSpool is an accounting spool in memory.
type memSpool struct {
	mu   sync.Mutex
	recs []acct.Record
	ids  int
}

func (m *memSpool) Append(_ context.Context, r acct.Record) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, r)
	return uint64(len(m.recs)), nil
}

func (m *memSpool) NewSessionID() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ids++
	return fmt.Sprintf("ppp-%d", m.ids)
}

func (m *memSpool) Admit() error { return nil }

func (m *memSpool) records(typ acct.Type) []acct.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []acct.Record
	for _, r := range m.recs {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}

// Both legs of a PPP callback are accounted: service ppp, the address on the leg that got one,
// frames and octets counted, cause Callback on the first, and the legs linked.
func TestPPPAccounting(t *testing.T) {
	sp := &memSpool{}
	cfg := pppConfig("accept", config.User{Name: "carol", Password: "carol-secret", CallbackDialstring: strp(""), CallbackRotary: 77})
	l, _ := pppLab(t, cfg, withOptions(func(o *session.Options) { o.Accounting = sp }))
	ctx := ctxT(t)
	c := l.caller("5552000")
	if _, err := c.Dial(ctx, "5551001"); err != nil {
		t.Fatal(err)
	}
	cl := client("carol", "carol-secret")
	cl.CallbackRequest = ppp.CallbackRequest{Requested: true, Op: ppp.CallbackOpDialString, Message: "5552000"}
	if _, _, err := pppSession(ctx, c, cl, time.Second, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitHangup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Answer(ctx); err != nil {
		t.Fatal(err)
	}
	if up, _, err := pppSession(ctx, c, client("carol", "carol-secret"), 100*time.Millisecond, nil); err != nil || up == nil {
		t.Fatalf("callback leg: %v", err)
	}
	l.waitEvent(event.Event{Kind: event.LineHangup, Leg: "callback"})
	starts, stops := sp.records(acct.Start), sp.records(acct.Stop)
	if len(starts) != 2 || len(stops) != 2 {
		t.Fatalf("%d starts and %d stops, want 2 of each: %+v", len(starts), len(stops), sp.recs)
	}
	first, second := stops[0], stops[1]
	for _, r := range stops {
		if r.Service != "ppp" || r.User != "carol" || r.InOctets == 0 || r.OutOctets == 0 || r.InPackets == 0 || r.OutPackets == 0 {
			t.Errorf("stop record %+v", r)
		}
	}
	if first.Leg != "first" || first.Cause != acct.CauseCallback || first.Address.IsValid() {
		t.Errorf("first leg's stop %+v", first)
	}
	if second.Leg != "callback" || second.Address != netip.MustParseAddr("10.9.0.10") || second.MultiSessionID != first.SessionID ||
		second.Cause != acct.CauseUserRequest {
		t.Errorf("callback leg's stop %+v (first leg %s)", second, first.SessionID)
	}
}

// FuzzPPPConfig: whatever configuration validates, the PPP service builds from it (validation
// and NewPPP agree on what a usable ppp section and set of pools is).
func FuzzPPPConfig(f *testing.F) {
	f.Add([]byte("ppp: {authentication: [ms-chap-v2, pap], local-address: 10.0.0.1, dns: [10.0.0.53], pool: a}\nip-pools: [{name: a, start: 10.0.0.10, end: 10.0.0.20}, {name: b, start: 10.0.1.1}]"))
	f.Add([]byte("ppp: {keepalive: 0s, keepalive-retries: 3, mru: 128}"))
	f.Add([]byte("ip-pools: [{name: a, start: 10.0.0.1, end: 10.0.255.255}, {name: b, start: 10.1.0.0, end: 10.1.0.0}]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		doc := "lines: [{lines: 1, port: \"sim:1\"}]\n" + string(b)
		cfg, err := config.Parse([]byte(doc))
		if err != nil {
			return
		}
		p, err := session.NewPPP(cfg, session.PPPOptions{})
		if err != nil {
			t.Fatalf("valid configuration refused by NewPPP: %v\n%s", err, doc)
		}
		if got, want := len(p.Pools().Names()), len(cfg.IPPools); got != want {
			t.Fatalf("%d pools built from %d", got, want)
		}
	})
}
