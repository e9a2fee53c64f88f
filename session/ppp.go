package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/callback"
	"github.com/dialback/nas/config"
	"github.com/dialback/nas/ppp"
	"github.com/dialback/nas/ppp/pool"
	"github.com/dialback/nas/session/event"
)

// PPP on a line: the NAS end of a ppp.Link (server role) on the call's data stream, with
// authentication through the aaa ppp method list, callback through callback.Plan and the
// dialler, addresses from the profile or an ip local pool, and the session's events and
// accounting. Autoselect hands PPP callers to it; the EXEC `ppp` command and `autocommand ppp`
// start it from the prompt.

// Causes of session.down for PPP, beyond the EXEC ones. The link's own causes (keepalive,
// negotiation-failed, loopback, nas-error) are passed through as they are.
const (
	// CauseUserRequest: the caller ended the link (LCP Terminate-Request).
	CauseUserRequest = "user-request"
	// CauseNoAddress: no address for the caller (the pool is exhausted or none is configured).
	CauseNoAddress = "no-address"
	// CauseWrongUser: the callback leg authenticated as someone other than the user called back.
	CauseWrongUser = "wrong-user"
)

// DefaultPPPAuthentication is the `ppp authentication` order when the configuration gives none:
// IOS's usual `ppp authentication chap pap`.
var DefaultPPPAuthentication = []string{"chap", "pap"}

// DefaultPPPKeepalive is the LCP echo period when ppp.keepalive is left out (IOS `keepalive 10`).
const DefaultPPPKeepalive = 10 * time.Second

// msgEnteringPPP is what IOS prints before PPP takes the line from the EXEC.
const msgEnteringPPP = "Entering PPP mode.\r\n"

// Causes of a PPP session ended by its own timers, told apart by context.Cause.
var (
	errPPPSessionTimeout = errors.New("ppp: session timeout")
	errPPPIdleTimeout    = errors.New("ppp: idle timeout")
)

// PPPOptions configure NewPPP.
type PPPOptions struct {
	// Methods is the aaa ppp method list (IOS `aaa authentication ppp default ...`).
	Methods aaa.MethodList
	// Pools are the ip local pools; nil builds them from the configuration's ip-pools.
	Pools *pool.Pools
	// RestartTimer and AuthTimeout are the link's (0: the ppp package's defaults, 3 s and
	// 30 s); tests shorten them.
	RestartTimer time.Duration
	AuthTimeout  time.Duration
	// DataPlane carries the callers' IP datagrams (Plane of a *dataplane.Plane); nil: PPP
	// callers get their addresses but no IP service (the data plane is off).
	DataPlane DataPlane
}

// PPP serves PPP callers for a Server: give its Handle to Options.PPP. One PPP serves every
// line of a server; it is safe for concurrent use.
type PPP struct {
	cfg       *config.Config
	methods   aaa.MethodList
	pools     *pool.Pools
	auth      []ppp.AuthProto
	local     netip.Addr
	dns       [2]netip.Addr
	keepalive time.Duration // < 0: off
	// cbAccept and cbInitiate are `ppp callback accept` and `ppp callback initiate`
	// (initiate implies accept).
	cbAccept, cbInitiate bool
	o                    PPPOptions
}

// NewPPP builds the PPP service of cfg: the authentication order, keepalive, local and DNS
// addresses and the pools. The configuration is expected to be valid (config.Validate); what
// cannot be used is still an error here, not a panic.
func NewPPP(cfg *config.Config, o PPPOptions) (*PPP, error) {
	if cfg == nil {
		return nil, errors.New("ppp: no configuration")
	}
	p := &PPP{cfg: cfg, methods: o.Methods, o: o, pools: o.Pools, keepalive: DefaultPPPKeepalive,
		cbAccept:   cfg.PPP.Callback == "accept" || cfg.PPP.Callback == "initiate",
		cbInitiate: cfg.PPP.Callback == "initiate",
	}
	if p.methods.Service == "" {
		p.methods.Service = aaa.ServicePPP
	}
	names := cfg.PPP.Authentication
	if len(names) == 0 {
		names = DefaultPPPAuthentication
	}
	for _, n := range names {
		a, err := ppp.ParseAuthProto(n)
		if err != nil {
			return nil, fmt.Errorf("ppp.authentication: %w", err)
		}
		p.auth = append(p.auth, a)
	}
	if cfg.PPP.Keepalive != nil {
		p.keepalive = *cfg.PPP.Keepalive
		if p.keepalive == 0 {
			p.keepalive = -1 // the link's "off"
		}
	}
	if s := cfg.PPP.LocalAddress; s != "" {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return nil, fmt.Errorf("ppp.local-address %q: not an IPv4 address", s)
		}
		p.local = a
	}
	for i, s := range cfg.PPP.DNS {
		if i >= len(p.dns) {
			return nil, fmt.Errorf("ppp.dns: %d servers, at most %d", len(cfg.PPP.DNS), len(p.dns))
		}
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return nil, fmt.Errorf("ppp.dns[%d] %q: not an IPv4 address", i, s)
		}
		p.dns[i] = a
	}
	if p.pools == nil {
		pools, err := BuildPools(cfg.IPPools)
		if err != nil {
			return nil, err
		}
		p.pools = pools
	}
	if n := cfg.PPP.Pool; n != "" {
		if _, ok := p.pools.Lookup(n); !ok {
			return nil, fmt.Errorf("ppp.pool %q: no such ip-pools entry", n)
		}
	}
	return p, nil
}

// BuildPools makes the ip local pools of the configuration.
func BuildPools(defs []config.IPPool) (*pool.Pools, error) {
	var ps []*pool.Pool
	for i, d := range defs {
		start, err := netip.ParseAddr(d.Start)
		if err != nil {
			return nil, fmt.Errorf("ip-pools[%d].start %q: %w", i, d.Start, err)
		}
		var end netip.Addr
		if d.End != "" {
			if end, err = netip.ParseAddr(d.End); err != nil {
				return nil, fmt.Errorf("ip-pools[%d].end %q: %w", i, d.End, err)
			}
		}
		p, err := pool.New(d.Name, start, end)
		if err != nil {
			return nil, fmt.Errorf("ip-pools[%d]: %w", i, err)
		}
		ps = append(ps, p)
	}
	pools, err := pool.NewPools(ps...)
	if err != nil {
		return nil, fmt.Errorf("ip-pools: %w", err)
	}
	return pools, nil
}

// Pools are the ip local pools the service hands addresses out of (`show ip local pool`).
func (p *PPP) Pools() *pool.Pools { return p.pools }

// Handle is the Handler for Options.PPP: it runs PPP on the handed-over line until the link
// ends, and says whether to call the caller back.
func (p *PPP) Handle(ctx context.Context, h *Handoff) Outcome {
	if h.s == nil {
		// Not handed over by a Server: there is no line to report on.
		return Outcome{Cause: CauseError}
	}
	r := &pppRun{p: p, s: h.s, h: h, log: h.s.log.With("protocol", ProtoPPP)}
	return r.run(ctx)
}

// pppRun is one PPP session on one leg. Its fields belong to the link's goroutine, except
// those the timer goroutine reads (atomics).
type pppRun struct {
	p   *PPP
	s   *session
	h   *Handoff
	log *slog.Logger

	decision   callback.Decision // the last callback.Plan
	decided    bool
	noAddress  bool
	acctFailed bool
	wrongUser  bool
	lastInput  atomic.Int64 // unix nanoseconds of the caller's last IP datagram
	limits     chan pppLimits
	reported   ppp.LinkCounters // frames already given to accounting

	// The data plane (dataplane.go).
	link      *ppp.Link
	lctx      context.Context
	cancel    context.CancelCauseFunc
	ip        pppIP
	ipRefused bool
}

// pppLimits are the timeouts that apply once the link is open.
type pppLimits struct {
	session time.Duration // since the call started; 0 = none
	idle    time.Duration // without an IP datagram from the caller; 0 = none
}

func (r *pppRun) run(ctx context.Context) Outcome {
	s, cfg := r.s, r.p.cfg
	req := s.request("", "")
	req.Service, req.Prompt = aaa.ServicePPP, nil // PPP cannot prompt the caller
	lc := ppp.LinkConfig{
		Role:             ppp.Server,
		Hostname:         cfg.Hostname,
		MRU:              cfg.PPP.MRU,
		Auth:             r.p.auth,
		Authenticate:     r.authenticate,
		Request:          *req,
		AuthTimeout:      r.p.o.AuthTimeout,
		RestartTimer:     r.p.o.RestartTimer,
		CallbackAccept:   r.p.cbAccept,
		CallbackInitiate: r.p.cbInitiate,
		Callback:         r.callback,
		Network:          r.network,
		Keepalive:        r.p.keepalive,
		KeepaliveFails:   cfg.PPP.KeepaliveRetries,
		Initial:          r.h.Frame,
		Packets:          r.packet,
		Up:               r.up,
		Opened:           r.attach,
		OnPhase:          r.phase,
		Logger:           r.log,
	}
	lctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r.lctx, r.cancel = lctx, cancel
	r.limits = make(chan pppLimits, 1)
	done := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		r.watch(cancel, done)
	}()
	r.link = ppp.NewLink(r.h.Conn, lc)
	res, err := r.link.Run(lctx)
	r.detach()
	close(done)
	<-watched

	r.account(res.Counters)
	out := Outcome{Cause: r.cause(ctx, lctx, res)}
	r.log.Info("ppp session ended", "user", s.user, "cause", out.Cause, "link_cause", res.Cause, "message", res.Message,
		"reached", res.Reached, "err", err, "frames_in", res.Counters.FramesIn, "frames_out", res.Counters.FramesOut)
	if res.Callback != nil && out.Cause == CauseCallback && ctx.Err() == nil {
		out.Callback = r.job(res)
		if out.Callback == nil {
			out.Cause = CauseDisconnect
		}
	}
	return out
}

// cause turns how the link ended into the session.down cause.
func (r *pppRun) cause(ctx, lctx context.Context, res ppp.LinkResult) string {
	if ctx.Err() == nil {
		switch context.Cause(lctx) {
		case errPPPSessionTimeout:
			return CauseSessionTimeout
		case errPPPIdleTimeout:
			return CauseIdleTimeout
		case errPPPNoIPService:
			return ppp.CauseNASError
		}
	}
	switch {
	case r.acctFailed:
		return CauseAcctUnavailable
	case r.wrongUser:
		return CauseWrongUser
	case res.Callback != nil && ctx.Err() == nil:
		// Agreed: whether the caller said goodbye or just dropped the line, it waits for us.
		return CauseCallback
	case res.Cause == ppp.CauseNASError && r.noAddress:
		return CauseNoAddress
	}
	switch res.Cause {
	case ppp.CauseUserRequest:
		return CauseUserRequest
	case ppp.CauseLostCarrier:
		return CauseCarrierLost
	case ppp.CauseAdmin:
		return CauseShutdown
	case ppp.CauseAuthFailed:
		return CauseAuthFailed
	case ppp.CauseCallbackRefused:
		return CauseDisconnect
	case ppp.CauseCallback:
		return CauseCallback
	}
	return res.Cause
}

// authenticate asks the ppp method list, on the link's goroutine, and reports the answer.
func (r *pppRun) authenticate(ctx context.Context, req *aaa.Request) (*aaa.Profile, error) {
	s := r.s
	how := "pap"
	if req.CHAP != nil {
		how = "chap"
		if req.CHAP.Type == aaa.CHAPMSv2 {
			how = "ms-chap-v2"
		}
	}
	p, err := r.p.methods.Authenticate(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		cause := authFailCause(err)
		switch cause {
		case authRejected:
			r.log.Info("ppp authentication rejected", "user", req.User, "auth", how, "err", err)
		case authUnreachable:
			r.log.Warn("ppp authentication failed without an answer", "user", req.User, "err", err)
		default:
			r.log.Warn("ppp authentication failed", "user", req.User, "err", err)
		}
		s.emit(event.AuthFail, event.Event{User: req.User, Protocol: ProtoPPP, Cause: cause, Detail: how})
		return nil, err
	}
	user := req.User
	if p.User != "" {
		user = p.User
	}
	if j := r.h.Job; j != nil && j.User != "" && j.User != user {
		// The callback went to j.User's number: nobody else may use it.
		r.wrongUser = true
		r.log.Warn("callback leg authenticated as another user", "user", user, "called_back", j.User)
		s.emit(event.AuthFail, event.Event{User: user, Protocol: ProtoPPP, Cause: CauseWrongUser, Detail: how})
		return nil, &aaa.RejectError{Method: "session", Reason: "not the user called back"}
	}
	s.user, s.profile = user, p
	s.srv.table.SetUser(s.w.num, user)
	s.emit(event.AuthOK, event.Event{Protocol: ProtoPPP, Detail: how + " " + p.Source})
	// The Start is durable before the session goes on (to the network phase or a callback).
	if r.h.Acct != nil {
		if err := r.h.Acct.Start(ctx, StartInfo{User: user, Protocol: ProtoPPP, Profile: p}); err != nil {
			r.acctFailed = true
			return nil, &aaa.RejectError{Method: "session", Reason: "accounting unavailable",
				Message: strings.TrimPrefix(msgAcctUnavailable, "% ")}
		}
	}
	return p, nil
}

// callback is the link's Callback hook: callback.Plan for what the caller asked (RFC 1570
// option 13, CBCP, or nothing under `ppp callback initiate`). With CBCP and no number known it
// asks the caller for one ("user-specified"), and is called again with the caller's answer.
func (r *pppRun) callback(p *aaa.Profile, req ppp.CallbackRequest) ppp.CallbackDecision {
	asked := callback.Asked{Protocol: callback.ProtocolPPP, Requested: req.Requested}
	if req.Requested && req.Op != ppp.CallbackOpAuth {
		asked.Number = req.Message // a dial string (ops 1, 3) or the CBCP answer
	}
	if asked.Number != "" {
		if err := callback.CheckNumber(asked.Number); err != nil {
			r.log.Info("caller's callback number refused", "user", r.s.user, "err", err)
			return ppp.CallbackDecision{Disconnect: true, Reason: "invalid callback number"}
		}
	}
	set := callback.Settings{
		Secure: r.p.cfg.Callback.Secure, Leg: r.s.leg, PPPAccept: r.p.cbAccept, PPPInitiate: r.p.cbInitiate,
	}
	d := callback.Plan(p, asked, r.s.lineInfo(), set)
	r.decision, r.decided = d, true
	r.log.Debug("callback plan", "user", r.s.user, "asked", req.Requested, "op", req.Op, "callback", d.Callback,
		"need_number", d.NeedNumber, "disconnect", d.Disconnect, "reason", d.Reason)
	cbcpAsk := req.Requested && req.Op == ppp.CallbackOpCBCP && req.Message == ""
	switch {
	case d.Callback && d.Number != "":
		return ppp.CallbackDecision{Callback: true, Number: d.Number, Reason: d.Reason}
	case d.NeedNumber && cbcpAsk:
		return ppp.CallbackDecision{NeedNumber: true, Reason: d.Reason}
	case d.Disconnect:
		return ppp.CallbackDecision{Disconnect: true, Reason: d.Reason}
	}
	return ppp.CallbackDecision{Reason: d.Reason}
}

// job is the dialler's job for a callback the link agreed, or nil if the plan does not allow
// one after all.
func (r *pppRun) job(res ppp.LinkResult) *callback.Job {
	d := r.decision
	if !r.decided || !d.Callback || res.Callback.Number == "" {
		r.log.Warn("link ended for a callback the plan did not make", "via", res.Callback.Via)
		return nil
	}
	d.Number, d.NeedNumber = res.Callback.Number, false
	// MS-CBCP: the caller asked for a delay before the call; forced-wait is the floor.
	d.ForcedWait = max(d.ForcedWait, res.Callback.Delay)
	job := &callback.Job{Decision: d, User: r.s.user, Protocol: callback.ProtocolPPP, FirstLine: r.s.w.num,
		Profile: r.s.profile}
	r.s.emit(event.CallbackScheduled, event.Event{Protocol: ProtoPPP, Number: d.Number, Rotary: d.Target.Rotary,
		Detail: targetText(d.Target) + " via " + res.Callback.Via})
	return job
}

// network is the link's Network hook: the caller's address from the profile
// (Framed-IP-Address, reserved in its pool if it lies in one), the profile's pool
// (Framed-Pool), or the default pool (IOS `peer default ip address pool`).
func (r *pppRun) network(p *aaa.Profile) (ppp.IPCPConfig, func(), error) {
	c := ppp.IPCPConfig{Local: r.p.local, DNS: r.p.dns}
	owner := r.s.user
	if owner == "" {
		owner = fmt.Sprintf("tty%d", r.s.w.num)
	}
	pools := r.p.pools
	allocate := func(name, from string) (func(), error) {
		pl, ok := pools.Lookup(name)
		if !ok {
			return nil, fmt.Errorf("%s names ip local pool %q, which is not configured", from, name)
		}
		a, err := pl.Allocate(owner)
		if err != nil {
			r.noAddress = true
			return nil, err
		}
		c.Peer = a
		return func() { pl.Release(a) }, nil
	}
	var release func()
	var err error
	switch {
	case p != nil && p.Address.IsValid() && !p.Address.IsUnspecified():
		a := p.Address
		c.Peer = a
		if pl, ok := pools.Owner(a); ok {
			if err = pl.Reserve(a, owner); err != nil {
				r.noAddress = true
				break
			}
			release = func() { pl.Release(a) }
		}
	case p != nil && p.Pool != "":
		release, err = allocate(p.Pool, "the profile")
	case r.p.cfg.PPP.Pool != "":
		release, err = allocate(r.p.cfg.PPP.Pool, "ppp.pool")
	default:
		r.noAddress = true
		err = errors.New("no address for the caller: no address or pool from AAA and no ppp.pool")
	}
	if err != nil {
		r.log.Warn("no address for the caller", "user", r.s.user, "err", err)
		return c, nil, err
	}
	if release == nil {
		release = func() {}
	}
	r.log.Debug("address assigned", "user", r.s.user, "peer", c.Peer, "local", c.Local)
	return c, release, nil
}

// up is the link's Up hook: IPCP is open.
func (r *pppRun) up(res ppp.LinkResult) {
	s := r.s
	if r.ipRefused {
		return // the link is ending: the session never came up
	}
	s.up = true
	r.lastInput.Store(time.Now().UnixNano())
	if r.h.Acct != nil {
		r.h.Acct.SetAddress(res.Peer)
	}
	r.account(res.Counters)
	detail := fmt.Sprintf("%s, local %v", res.Auth, res.Local)
	if res.DNS[0].IsValid() {
		detail += fmt.Sprintf(", dns %v", res.DNS[0])
	}
	s.emit(event.SessionUp, event.Event{Protocol: ProtoPPP, Address: res.Peer.String(), Detail: detail})

	var lim pppLimits
	lim.session = s.spec.AbsoluteTimeout
	if p := s.profile; p != nil {
		if p.SessionTimeout > 0 {
			lim.session = p.SessionTimeout
		}
		lim.idle = p.IdleTimeout
	}
	if lim.session > 0 {
		lim.session = max(time.Until(s.start.Add(lim.session)), time.Nanosecond)
	}
	select {
	case r.limits <- lim:
	default:
	}
}

// packet is the link's Packets hook: an IP datagram from the caller goes to the data plane.
// Without one, its arrival is the activity of the idle timer.
func (r *pppRun) packet(ip []byte) {
	r.lastInput.Store(time.Now().UnixNano())
	r.receive(ip)
}

// phase is the link's OnPhase hook: leaving the open phase detaches from the data plane.
func (r *pppRun) phase(p ppp.Phase) {
	if p != ppp.PhaseOpen {
		r.detach()
	}
}

// account gives accounting the frames counted since the last report.
func (r *pppRun) account(c ppp.LinkCounters) {
	if r.h.Acct == nil {
		return
	}
	in, out := c.FramesIn-r.reported.FramesIn, c.FramesOut-r.reported.FramesOut
	r.reported.FramesIn, r.reported.FramesOut = c.FramesIn, c.FramesOut
	if in > 0 || out > 0 {
		r.h.Acct.AddPackets(in, out)
	}
}

// idleRecheck is how often an open link without an idle timeout looks whether authorization
// gave it one since (RFC 5176 CoA).
const idleRecheck = 5 * time.Second

// watch runs the open link's session and idle timeouts until done; it ends the link by
// cancelling its context with the timeout as the cause. Timeouts that authorization changed
// later (RFC 5176 CoA, through the leg's accounting) replace the profile's.
func (r *pppRun) watch(cancel context.CancelCauseFunc, done <-chan struct{}) {
	var lim pppLimits
	sessionT := time.NewTimer(time.Hour)
	idleT := time.NewTimer(time.Hour)
	sessionT.Stop()
	idleT.Stop()
	defer sessionT.Stop()
	defer idleT.Stop()
	var sessionC, idleC <-chan time.Time
	idle := func() time.Duration {
		if r.h.Acct != nil {
			if d, set := r.h.Acct.IdleTimeout(); set {
				return d
			}
		}
		return lim.idle
	}
	armIdle := func(d time.Duration) {
		idleT.Reset(d)
		idleC = idleT.C
	}
	for {
		select {
		case <-done:
			return
		case lim = <-r.limits:
			if lim.session > 0 {
				sessionT.Reset(lim.session)
				sessionC = sessionT.C
			}
			if d := idle(); d > 0 {
				armIdle(d)
			} else {
				armIdle(idleRecheck)
			}
		case <-sessionC:
			sessionC = nil
			if r.h.Acct != nil {
				if _, set := r.h.Acct.SessionTimeout(); set {
					continue // authorization changed it, and the leg enforces that one
				}
			}
			r.log.Info("ppp session timeout", "user", r.s.user)
			cancel(errPPPSessionTimeout)
			return
		case <-idleC:
			d := idle()
			if d <= 0 {
				armIdle(idleRecheck)
				continue
			}
			since := time.Since(r.activity())
			if since >= d {
				r.log.Info("ppp idle timeout", "user", r.s.user, "idle", since.Round(time.Millisecond))
				cancel(errPPPIdleTimeout)
				return
			}
			armIdle(d - since)
		}
	}
}

// ppp is the EXEC `ppp` command (IOS `ppp /default`): the caller's PPP takes the line
// from the prompt.
func (sh *shell) ppp(_ []string) (string, bool) {
	s := sh.s
	if s.srv.opts.PPP == nil {
		sh.printf("%% PPP is not enabled on this line\r\n")
		return "", false
	}
	sh.printf(msgEnteringPPP)
	sh.flush()
	if s.up {
		// The EXEC session ends here; PPP is a session of its own, with its own session.up.
		s.emit(event.SessionDown, event.Event{Protocol: ProtoExec, Cause: ProtoPPP})
		s.up = false
	}
	out := s.startProtocol(sh.ctx, &DetectedError{Protocol: ProtoPPP}, true)
	sh.handed = &out
	return out.Cause, true
}

// pppArgs accepts IOS's `ppp` and `ppp /default` (use the default address).
func pppArgs(args []string) int {
	for i, a := range args {
		if !strings.EqualFold(a, "/default") || i > 0 {
			return i
		}
	}
	return -1
}

// outcome is how the EXEC ends after a command that ended it.
func (sh *shell) outcome(cause string) Outcome {
	if sh.handed != nil {
		return *sh.handed
	}
	return Outcome{Cause: cause}
}
