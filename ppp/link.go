package ppp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dialback/nas/aaa"
)

// Role says which end of the call a Link is.
type Role int

// Roles.
const (
	Server Role = iota // the NAS: requires authentication, assigns the address, calls back
	Client             // a caller: authenticates, asks for an address, may ask to be called back
)

func (r Role) String() string {
	if r == Client {
		return "client"
	}
	return "server"
}

// Phase is a phase of the link (RFC 1661 §3.2), with callback (RFC 1570 §2.3, MS-CBCP) and the
// open link told apart from the network phase that leads to it.
type Phase int

// Phases, in the order a successful call goes through them.
const (
	PhaseDead         Phase = iota // no link
	PhaseEstablish                 // LCP negotiating
	PhaseAuthenticate              // PAP or CHAP
	PhaseCallback                  // CBCP, or deciding on RFC 1570 callback
	PhaseNetwork                   // IPCP negotiating
	PhaseOpen                      // IPCP open: IP packets flow
	PhaseTerminate                 // LCP closing
)

var phaseNames = [...]string{"dead", "establish", "authenticate", "callback", "network", "open", "terminate"}

func (p Phase) String() string {
	if p >= 0 && int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return fmt.Sprintf("Phase(%d)", int(p))
}

// Causes with which a link ends (LinkResult.Cause). They map onto RADIUS Acct-Terminate-Cause
// (RFC 2866 §5.10) where one exists.
const (
	CauseUserRequest       = "user-request"       // the peer sent Terminate-Request (User-Request)
	CauseLostCarrier       = "lost-carrier"       // the line failed: read or write error (Lost-Carrier)
	CauseCallback          = "callback"           // ended to call the caller back (Callback)
	CauseAuthFailed        = "auth-failed"        // authentication refused, timed out or impossible
	CauseKeepalive         = "keepalive"          // Echo-Requests went unanswered (Lost-Service)
	CauseNegotiationFailed = "negotiation-failed" // LCP, IPCP or CBCP did not converge
	CauseLoopback          = "loopback"           // our Magic-Number came back: the line is looped
	CauseAdmin             = "admin"              // the context was cancelled (Admin-Reset)
	CauseCallbackRefused   = "callback-refused"   // callback asked for but not possible or allowed
	CauseNASError          = "nas-error"          // the NAS could not serve the call (e.g. no address)
)

// Conn is the byte stream a link runs over: a lines.Port, or anything with read deadlines.
type Conn interface {
	io.ReadWriter
	SetReadDeadline(t time.Time) error
}

// CallbackDecision is what the LinkConfig.Callback hook decides after authentication; the
// session fills it from callback.Plan. With CBCP and NeedNumber the hook is asked a second
// time, with the number the caller gave in its CBCP Response as the request's Message.
type CallbackDecision struct {
	// Callback: hang up and call back at Number.
	Callback bool
	// Disconnect: hang up without a callback (e.g. callback-secure).
	Disconnect bool
	// NeedNumber: the user is entitled but no number is known; with CBCP the link offers
	// "user-specified" and asks the hook again with the caller's number.
	NeedNumber bool
	// Number to call back.
	Number string
	// Reason, for logs.
	Reason string
}

// CallbackResult says that, and how, the caller is to be called back.
type CallbackResult struct {
	Number string
	// Delay is the caller's CBCP callback delay: wait at least this long before dialling.
	Delay time.Duration
	// Via is "rfc1570" (LCP option 13 with a number or from authentication), "cbcp", or
	// "initiate" (IOS `ppp callback initiate`: the caller did not ask).
	Via string
}

// Callback request channels in CallbackResult.Via.
const (
	ViaRFC1570  = "rfc1570"
	ViaCBCP     = "cbcp"
	ViaInitiate = "initiate"
)

// LinkCounters counts what crossed the line.
type LinkCounters struct {
	OctetsIn, OctetsOut   uint64 // octets read from and written to the line
	FramesIn, FramesOut   uint64 // good frames decoded, frames sent
	PacketsIn, PacketsOut uint64 // IP datagrams
	IPOctetsIn            uint64 // octets of IP datagrams received
	IPOctetsOut           uint64 // octets of IP datagrams sent
	ProtocolRejects       uint64 // frames of unknown protocols rejected
	Discarded             uint64 // frames dropped as out of phase
	Decoder               DecoderStats
	LCP                   LCPStats
}

// LinkResult is how a link ended and what it achieved.
type LinkResult struct {
	// User is the authenticated name (server) or our own (client); empty without authentication.
	User    string
	Profile *aaa.Profile // server: what AAA answered; nil without authentication
	Auth    AuthProto
	// Callback is set when the call ends to be called back.
	Callback *CallbackResult
	// Local and Peer are the IPCP addresses; DNS what the caller got.
	Local, Peer netip.Addr
	DNS         [2]netip.Addr
	// Cause is one of the Cause constants.
	Cause string
	// Message is a detail for logs: the peer's Terminate-Request text, the AAA refusal, ...
	Message string
	// PeerMRU is the most the peer takes in a frame's information field: its LCP MRU, or
	// 1500 if it did not ask for one (RFC 1661 §6.1); 0 if LCP never opened. IP datagrams
	// for the peer must fit in it.
	PeerMRU int
	// Reached is the furthest phase the link got to.
	Reached  Phase
	Counters LinkCounters
}

// LinkConfig configures a Link. Zero values take the defaults noted.
type LinkConfig struct {
	Role Role
	// Hostname is our name in CHAP Challenges (server); default "nas".
	Hostname string

	// MRU we ask for; 0 = the default 1500 (not asked).
	MRU int
	// ACCM we ask the peer to use towards us; zero = escape nothing (as pppd). DefaultACCM = do
	// not ask. 0x000A0000 for a line with XON/XOFF flow control.
	ACCM uint32

	// Auth: the server's protocols in order (IOS `ppp authentication chap pap`), empty = no
	// authentication; the client's protocols it accepts in order of preference, empty = PAP,
	// CHAP and MS-CHAPv2 with CHAP preferred.
	Auth []AuthProto
	// Authenticate asks AAA (server). It is called on the link's goroutine with a context
	// bounded by AuthTimeout; a method list fits.
	Authenticate func(ctx context.Context, r *aaa.Request) (*aaa.Profile, error)
	// Request is the template of the AAA requests: line, port, caller id, leg... The link
	// fills Service, User, Password, CHAP and CallbackNumber.
	Request aaa.Request
	// MaxBadAuth is how many failed authentications end the link (IOS `ppp max-bad-auth`,
	// default 1).
	MaxBadAuth int
	// AuthTimeout bounds the authentication phase and each AAA call; default 30 s.
	AuthTimeout time.Duration

	// CallbackAccept: ack the caller's LCP Callback option (IOS `ppp callback accept`).
	CallbackAccept bool
	// CallbackInitiate: consult Callback also when the caller did not ask (IOS `ppp callback
	// initiate`).
	CallbackInitiate bool
	// Callback decides on callback after authentication (server); nil = never call back (a
	// CBCP caller is offered "no callback").
	Callback func(p *aaa.Profile, requested CallbackRequest) CallbackDecision

	// Network gives the IPCP configuration for the authenticated user (server: the
	// addresses, from the profile or a pool) and a release function called when the link
	// ends; an error ends the link with CauseNASError. nil: IPCPConfig{Server: role == Server}.
	Network func(p *aaa.Profile) (IPCPConfig, func(), error)

	// User and Password are the client's credentials.
	User, Password string
	// CallbackRequest (client): ask to be called back. Op 1 or 3 with the number in Message
	// (RFC 1570), or op 6 (CBCP) with the number to give in Message.
	CallbackRequest CallbackRequest
	// CBCPDelay (client) is the callback delay asked for in CBCP; 0 = pppd's 5 s.
	CBCPDelay time.Duration

	// Keepalive is the Echo-Request period once LCP is open (IOS `keepalive`); 0 = 10 s,
	// negative = off. KeepaliveFails unanswered ones end the link; default 5.
	Keepalive      time.Duration
	KeepaliveFails int

	// The automaton's timers and counters for LCP, IPCP and the authentication protocols'
	// retransmissions (RFC 1661 §4.6 defaults).
	RestartTimer time.Duration
	MaxConfigure int
	MaxTerminate int
	MaxFailure   int

	// Magic draws LCP Magic-Numbers; default crypto/rand (tests make loops with it).
	Magic func() uint32

	// Initial is what the session's autoselect already read from the line: the start of the
	// caller's first frame. It is decoded before anything else is read.
	Initial []byte
	// Packets receives each IP datagram in the open phase; the slice is valid during the call.
	Packets func([]byte)
	// Up is called once when the link opens (IPCP up), with the result so far.
	Up func(LinkResult)
	// Opened is called each time the link opens, with the result so far: the first time just
	// before Up, and again when it opens after the peer renegotiated LCP or IPCP (the
	// addresses and the peer's MRU may then be new). The open phase lasts until the next
	// OnPhase call. A data plane attaches here.
	Opened func(LinkResult)
	// OnPhase is called at every phase change.
	OnPhase func(Phase)
	// Logger; default discards. The link adds role and phase; passwords are never logged.
	Logger *slog.Logger
}

// Link runs PPP over one line, from the caller's first Configure-Request to the hang-up: LCP,
// authentication, callback, IPCP and the open link. It owns no goroutine: Run reads the line
// and drives every timer on the caller's goroutine. SendPacket and Counters may also be called
// from other goroutines.
type Link struct {
	conn Conn
	cfg  LinkConfig
	log  *slog.Logger
	dec  *Decoder
	lcp  *LCP
	ipcp *IPCP

	// wmu serialises sending, which SendPacket may do from another goroutine (a data plane's
	// writer): the encoder's state (the peer's ACCM, PFC, ACFC), the output buffer and the
	// writes to conn, so that frames never interleave on the line and an IP datagram never
	// follows the Terminate-Request. The read loop never waits for it.
	wmu sync.Mutex
	enc *Encoder
	out []byte
	// cmu guards res.Counters, which the reading and the sending side both update.
	cmu sync.Mutex
	// ioErr is the first line error of either side.
	ioErr atomic.Pointer[error]
	// phaseA mirrors phase for SendPacket on other goroutines.
	phaseA atomic.Int32

	phase   Phase
	reached Phase
	ctx     context.Context
	res     LinkResult
	done    bool
	release func()
	upDone  bool

	// Bounds on negotiation that the RFC 1661 counters alone do not give.
	phaseDeadline time.Time
	lcpRequests   int
	ncpRequests   int

	// Authentication.
	authDeadline time.Time
	badAuth      int
	papS         *papServer
	papC         *papClient
	chapS        *chapServer
	chapC        *chapClient
	authed       bool

	// Callback.
	cbcpS        *CBCPServer
	cbcpC        *CBCPClient
	cbDecision   CallbackDecision
	cbGrace      time.Time // after CBCP, when to close if the caller has not
	cbGraceOn    bool
	terminating  bool
	peerTermSeen bool
}

// NewLink returns a link over conn with cfg's defaults filled in. Run starts it; a Link runs
// once.
func NewLink(conn Conn, cfg LinkConfig) *Link {
	if cfg.Hostname == "" {
		cfg.Hostname = "nas"
	}
	if cfg.MaxBadAuth <= 0 {
		cfg.MaxBadAuth = 1
	}
	if cfg.AuthTimeout <= 0 {
		cfg.AuthTimeout = 30 * time.Second
	}
	if cfg.Keepalive == 0 {
		cfg.Keepalive = 10 * time.Second
	}
	if cfg.KeepaliveFails <= 0 {
		cfg.KeepaliveFails = 5
	}
	if cfg.RestartTimer <= 0 {
		cfg.RestartTimer = DefaultRestartTimer
	}
	if cfg.MaxConfigure <= 0 {
		cfg.MaxConfigure = DefaultMaxConfigure
	}
	if cfg.MaxTerminate <= 0 {
		cfg.MaxTerminate = DefaultMaxTerminate
	}
	if cfg.MaxFailure <= 0 {
		cfg.MaxFailure = DefaultMaxFailure
	}
	if cfg.Role == Client && len(cfg.Auth) == 0 {
		cfg.Auth = []AuthProto{AuthCHAP, AuthMSCHAPv2, AuthPAP}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("role", cfg.Role.String())
	l := &Link{conn: conn, cfg: cfg, log: log, enc: NewEncoder(), dec: NewDecoder(max(cfg.MRU, DefaultMRU))}

	lc := LCPConfig{
		Server:         cfg.Role == Server,
		MRU:            cfg.MRU,
		ACCM:           cfg.ACCM,
		Auth:           cfg.Auth,
		CallbackAccept: cfg.CallbackAccept,
		Magic:          cfg.Magic,
		EchoFailures:   cfg.KeepaliveFails,
	}
	if cfg.Keepalive > 0 {
		lc.EchoInterval = cfg.Keepalive
	}
	if cfg.Role == Client {
		lc.Callback = cfg.CallbackRequest
	}
	l.lcp = NewLCP(lc, l.fsmConfig("LCP", ProtoLCP))
	l.lcp.onUp = l.lcpUp
	l.lcp.onDown = l.lcpDown
	l.lcp.onFinished = l.lcpFinished
	l.lcp.onFail = l.lcpFail
	l.lcp.onProtoRejected = l.protocolRejected
	l.lcp.onTerminate = l.peerTerminated
	return l
}

func (l *Link) fsmConfig(name string, proto uint16) Config {
	return Config{
		Name:         name,
		Send:         func(pkt []byte) { l.sendControl(proto, pkt) },
		RestartTimer: l.cfg.RestartTimer,
		MaxConfigure: l.cfg.MaxConfigure,
		MaxTerminate: l.cfg.MaxTerminate,
		MaxFailure:   l.cfg.MaxFailure,
		Logger:       l.log,
	}
}

// sendControl frames a control packet; Configure-Requests are counted to bound negotiations
// that the automaton alone would let run for ever (a peer that Naks or Rejects every request).
func (l *Link) sendControl(proto uint16, pkt []byte) {
	if len(pkt) > 0 && Code(pkt[0]) == CodeConfigureRequest {
		switch proto {
		case ProtoLCP:
			l.lcpRequests++
		case ProtoIPCP:
			l.ncpRequests++
		}
	}
	l.send(proto, pkt)
}

func (l *Link) send(proto uint16, info []byte) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.sendLocked(proto, info)
}

// sendLocked frames and writes one packet; l.wmu is held. It reports whether the frame went.
func (l *Link) sendLocked(proto uint16, info []byte) bool {
	if l.ioError() != nil {
		return false
	}
	l.out = l.enc.AppendFrame(l.out[:0], proto, info)
	n, err := l.conn.Write(l.out)
	l.cmu.Lock()
	l.res.Counters.OctetsOut += uint64(max(n, 0))
	if err == nil {
		l.res.Counters.FramesOut++
	}
	l.cmu.Unlock()
	if err != nil {
		l.setIOErr(fmt.Errorf("ppp: write %d octets of protocol %#04x: %w", len(l.out), proto, err))
		return false
	}
	return true
}

// setIOErr records a line error; the first one wins.
func (l *Link) setIOErr(err error) { l.ioErr.CompareAndSwap(nil, &err) }

// ioError is the line error, if there was one.
func (l *Link) ioError() error {
	if p := l.ioErr.Load(); p != nil {
		return *p
	}
	return nil
}

// count updates the counters under their lock.
func (l *Link) count(f func(c *LinkCounters)) {
	l.cmu.Lock()
	f(&l.res.Counters)
	l.cmu.Unlock()
}

// Counters returns the link's counters so far. It is safe to call from any goroutine, while
// Run runs and after; Decoder and LCP are filled in when Run returns.
func (l *Link) Counters() LinkCounters {
	l.cmu.Lock()
	defer l.cmu.Unlock()
	return l.res.Counters
}

// result is a copy of the result so far; on the link's goroutine.
func (l *Link) result() LinkResult {
	l.cmu.Lock()
	defer l.cmu.Unlock()
	return l.res
}

// requestCap is how many Configure-Requests one negotiation may send: the Restart counter's
// worth several times over, so only a peer that never lets it converge reaches it.
func (l *Link) requestCap() int { return 3*l.cfg.MaxConfigure + l.cfg.MaxFailure }

// phaseTimeout bounds a negotiating phase in time, for peers that keep it going slowly.
func (l *Link) phaseTimeout() time.Duration {
	return time.Duration(2*l.cfg.MaxConfigure) * l.cfg.RestartTimer
}

func (l *Link) setPhase(p Phase) {
	if p == l.phase {
		return
	}
	l.log.Debug("phase", "from", l.phase, "to", p)
	l.phase = p
	l.phaseA.Store(int32(p))
	if p > l.reached && p != PhaseTerminate {
		l.reached = p
	}
	switch p {
	case PhaseEstablish, PhaseNetwork, PhaseCallback:
		l.phaseDeadline = time.Now().Add(l.phaseTimeout())
	default:
		l.phaseDeadline = time.Time{}
	}
	if l.cfg.OnPhase != nil {
		l.cfg.OnPhase(p)
	}
}

// setCause records why the link ends; the first cause wins.
func (l *Link) setCause(cause, msg string) {
	if l.res.Cause == "" {
		l.res.Cause = cause
		l.res.Message = msg
	}
}

// terminate closes LCP with a reason in its Terminate-Request; the link ends when LCP has
// finished (Terminate-Ack, or Max-Terminate timeouts).
func (l *Link) terminate(cause, reason string) {
	l.setCause(cause, reason)
	if l.terminating {
		return
	}
	l.terminating = true
	l.log.Info("terminating link", "cause", cause, "reason", reason)
	l.setPhase(PhaseTerminate)
	l.lcp.fsm.Close(reason)
	l.checkClosed()
}

// closeNow sends one Terminate-Request, if LCP is open, and ends the link without waiting
// for the answer.
func (l *Link) closeNow(reason string) {
	if !l.terminating {
		l.terminating = true
		l.setPhase(PhaseTerminate)
		if l.lcp.fsm.State() == StateOpened {
			l.lcp.fsm.Close(reason)
		}
	}
	l.done = true
}

// checkClosed ends the link when LCP sits in a state it will not leave by itself.
func (l *Link) checkClosed() {
	switch l.lcp.fsm.State() {
	case StateInitial, StateStarting, StateClosed, StateStopped:
		l.done = true
	}
}

// Run runs the link until it ends: the peer terminates, authentication fails, the call is to
// be called back, the line drops, keepalives fail, or ctx is done. The error is non-nil only
// for a line error (cause lost-carrier) or a cancelled ctx (cause admin); every protocol
// outcome is in the result's Cause.
func (l *Link) Run(ctx context.Context) (LinkResult, error) {
	l.ctx = ctx
	stop := context.AfterFunc(ctx, func() {
		// Wake a blocked Read; the loop sees ctx done and ends.
		_ = l.conn.SetReadDeadline(time.Unix(1, 0))
	})
	defer stop()
	defer func() {
		if l.release != nil {
			l.release()
			l.release = nil
		}
	}()
	if l.cfg.Role == Client {
		l.res.User = l.cfg.User
	}

	l.setPhase(PhaseEstablish)
	l.lcp.fsm.Open()
	l.lcp.fsm.Up()
	l.feed(l.cfg.Initial)

	buf := make([]byte, 4096)
	var runErr error
	for !l.done && l.ioError() == nil {
		if err := ctx.Err(); err != nil {
			l.setCause(CauseAdmin, "administrative shutdown")
			l.closeNow("Administrative shutdown")
			runErr = fmt.Errorf("ppp: link stopped: %w", err)
			break
		}
		l.poll(time.Now())
		if l.done || l.ioError() != nil {
			break
		}
		deadline, _ := l.deadline()
		if err := l.conn.SetReadDeadline(deadline); err != nil {
			l.setIOErr(fmt.Errorf("ppp: set read deadline: %w", err))
			break
		}
		if ctx.Err() != nil {
			continue // cancelled between the check and the deadline: do not block
		}
		n, err := l.conn.Read(buf)
		if n > 0 {
			l.count(func(c *LinkCounters) { c.OctetsIn += uint64(n) })
			l.feed(buf[:n])
		}
		if err != nil && !isTimeout(err) {
			l.setIOErr(fmt.Errorf("ppp: read: %w", err))
		}
	}
	if ioErr := l.ioError(); ioErr != nil && runErr == nil {
		l.setCause(CauseLostCarrier, ioErr.Error())
		// A line that drops while we wait for the Terminate-Ack is the expected end.
		if !l.terminating {
			runErr = ioErr
		}
	}
	l.setCause(CauseNegotiationFailed, "link ended")
	l.res.Reached = l.reached
	// Dead before the last counters: a SendPacket from now on fails and counts nothing.
	l.setPhase(PhaseDead)
	l.count(func(c *LinkCounters) {
		c.Decoder = l.dec.Stats()
		c.LCP = l.lcp.Stats()
	})
	res := l.result()
	l.log.Info("link ended", "cause", res.Cause, "message", res.Message, "user", res.User,
		"reached", res.Reached, "octets_in", res.Counters.OctetsIn, "octets_out", res.Counters.OctetsOut)
	return res, runErr
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// deadline is the earliest time something is due.
func (l *Link) deadline() (time.Time, bool) {
	var d time.Time
	on := false
	add := func(t time.Time, ok bool) {
		if ok && (!on || t.Before(d)) {
			d, on = t, true
		}
	}
	add(l.lcp.Deadline())
	add(l.phaseDeadline, !l.phaseDeadline.IsZero())
	if l.phase == PhaseAuthenticate {
		add(l.authDeadline, true)
	}
	if l.papC != nil {
		add(l.papC.deadlineAt())
	}
	if l.chapS != nil {
		add(l.chapS.deadlineAt())
	}
	if l.cbcpS != nil {
		add(l.cbcpS.Deadline())
	}
	add(l.cbGrace, l.cbGraceOn)
	if l.ipcp != nil {
		add(l.ipcp.FSM().Deadline())
	}
	return d, on
}

// poll runs every timer that is due.
func (l *Link) poll(now time.Time) {
	l.lcp.Poll(now)
	if l.ipcp != nil {
		l.ipcp.FSM().Poll(now)
	}
	if l.terminating {
		l.checkClosed()
		return
	}
	if !l.phaseDeadline.IsZero() && !now.Before(l.phaseDeadline) {
		l.phaseDeadline = time.Time{}
		l.terminate(CauseNegotiationFailed, "Negotiation timed out in "+l.phase.String()+" phase")
		return
	}
	if l.phase == PhaseAuthenticate && !now.Before(l.authDeadline) {
		l.terminate(CauseAuthFailed, "Authentication timed out")
		return
	}
	if l.papC != nil {
		l.papC.poll(now)
		l.checkClientAuth()
	}
	if l.chapS != nil {
		l.chapS.poll(now)
		if l.chapS.gaveUp {
			l.chapS.gaveUp = false
			l.terminate(CauseAuthFailed, "No response to CHAP Challenge")
			return
		}
	}
	if l.cbcpS != nil {
		l.cbcpS.Poll(now)
		l.checkCBCP()
	}
	if l.cbGraceOn && !now.Before(l.cbGrace) {
		l.cbGraceOn = false
		l.terminate(CauseCallback, "Callback")
	}
	l.checkBounds()
}

// checkBounds ends negotiations that would otherwise never end.
func (l *Link) checkBounds() {
	if l.terminating {
		return
	}
	if l.lcpRequests > l.requestCap() {
		l.terminate(CauseNegotiationFailed, "LCP did not converge")
	} else if l.ncpRequests > l.requestCap() {
		l.terminate(CauseNegotiationFailed, "IPCP did not converge")
	}
}

// feed decodes octets from the line and handles each frame.
func (l *Link) feed(p []byte) {
	for len(p) > 0 && !l.done && l.ioError() == nil {
		f, n, ok := l.dec.Next(p)
		p = p[n:]
		if ok {
			l.count(func(c *LinkCounters) { c.FramesIn++ })
			l.frame(f)
		}
	}
	if !l.done {
		l.checkBounds()
	}
}

// frame dispatches one frame by protocol and phase (RFC 1661 §3: before LCP is open only LCP
// is accepted; NCP packets before the network phase are silently discarded; unknown protocols
// get a Protocol-Reject once LCP is open).
func (l *Link) frame(f Frame) {
	if f.Protocol == ProtoLCP {
		l.lcp.fsm.Receive(f.Info)
		if l.peerTermSeen && (l.lcp.fsm.State() != StateStopping || l.res.Callback != nil) {
			// Terminate-Ack sent outside Opened: the automaton would carry on negotiating,
			// but the peer has said it is leaving. After an agreed callback the Ack has gone
			// out and the caller is waiting for our call: the Restart period that Stopping
			// would wait (RFC 1661 §4.4) only delays the callback.
			l.done = true
		}
		if l.terminating {
			l.checkClosed()
		}
		return
	}
	if l.lcp.fsm.State() != StateOpened {
		l.count(func(c *LinkCounters) { c.Discarded++ })
		return
	}
	switch f.Protocol {
	case ProtoPAP:
		l.receivePAP(f.Info)
	case ProtoCHAP:
		l.receiveCHAP(f.Info)
	case ProtoCBCP:
		switch {
		case l.cbcpS != nil:
			l.cbcpS.Receive(f.Info)
			l.checkCBCP()
		case l.cbcpC != nil:
			l.cbcpC.Receive(f.Info)
			l.checkCBCPClient()
		case l.lcp.Result().Callback.Op == CallbackOpCBCP && l.lcp.Result().Callback.Requested:
			l.count(func(c *LinkCounters) { c.Discarded++ }) // negotiated; it is just early or late
		default:
			l.rejectProtocol(f)
		}
	case ProtoIPCP:
		if l.ipcp == nil {
			l.count(func(c *LinkCounters) { c.Discarded++ })
			return
		}
		l.ipcp.FSM().Receive(f.Info)
	case ProtoIP:
		if l.phase != PhaseOpen {
			l.count(func(c *LinkCounters) { c.Discarded++ })
			return
		}
		l.count(func(c *LinkCounters) {
			c.PacketsIn++
			c.IPOctetsIn += uint64(len(f.Info))
		})
		if l.cfg.Packets != nil {
			l.cfg.Packets(f.Info)
		}
	default:
		l.rejectProtocol(f)
	}
}

func (l *Link) rejectProtocol(f Frame) {
	l.count(func(c *LinkCounters) { c.ProtocolRejects++ })
	l.log.Debug("rejecting protocol", "protocol", fmt.Sprintf("%#04x", f.Protocol))
	l.lcp.SendProtocolReject(f.Protocol, f.Info)
}

// SendPacket sends an IP datagram on the open link; it fails in any other phase. It is safe
// to call from any goroutine, beside Run (a data plane's writer) as well as from its hooks; it
// blocks while the line takes the frame. It does not keep ip.
func (l *Link) SendPacket(ip []byte) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	// Checked under wmu: the link changes phase before it sends what ends the open phase
	// (Terminate-Request, Configure-Request), so no datagram follows those on the line.
	if p := Phase(l.phaseA.Load()); p != PhaseOpen {
		return fmt.Errorf("ppp: send IP datagram in %s phase: link not open", p)
	}
	if !l.sendLocked(ProtoIP, ip) {
		return l.ioError()
	}
	l.count(func(c *LinkCounters) {
		c.PacketsOut++
		c.IPOctetsOut += uint64(len(ip))
	})
	return nil
}

// --- LCP events ---

func (l *Link) lcpUp() {
	r := l.lcp.Result()
	// Transmit with the peer's wishes; receive accepts both forms anyway (RFC 1661 §6.5, §6.6).
	l.wmu.Lock()
	l.enc.SetACCM(r.PeerACCM)
	l.enc.SetPFC(r.PeerPFC)
	l.enc.SetACFC(r.PeerACFC)
	l.wmu.Unlock()
	l.res.PeerMRU = r.PeerMRU
	l.dec.SetACCM(r.ACCM)
	l.dec.SetMRU(r.MRU)
	l.lcpRequests = 0
	l.res.Auth = r.Auth
	if l.terminating {
		return
	}
	l.startAuth()
}

func (l *Link) lcpDown() {
	// Out of the open phase first, so that no datagram goes out from now on.
	l.stopUpperLayers()
	l.wmu.Lock()
	l.enc.SetACCM(DefaultACCM)
	l.enc.SetPFC(false)
	l.enc.SetACFC(false)
	l.wmu.Unlock()
	l.dec.SetACCM(DefaultACCM)
	if !l.terminating {
		// The peer renegotiates: everything above LCP starts again once it is back up.
		l.log.Info("LCP left Opened: renegotiating")
		l.setPhase(PhaseEstablish)
	}
}

func (l *Link) stopUpperLayers() {
	if l.ipcp != nil {
		l.ipcp.FSM().Down()
		l.ipcp = nil
	}
	if l.release != nil {
		// IPCP is down, so the address is free again; a renegotiated link allocates anew.
		l.release()
		l.release = nil
	}
	l.papS, l.papC, l.chapS, l.chapC = nil, nil, nil, nil
	l.cbcpS, l.cbcpC = nil, nil
	l.authed = false
	l.cbGraceOn = false
}

func (l *Link) lcpFinished() {
	switch {
	case l.peerTermSeen:
		l.setCause(CauseUserRequest, l.lcp.PeerTerminateReason())
	case l.reached <= PhaseEstablish:
		l.setCause(CauseNegotiationFailed, "LCP negotiation failed")
	default:
		l.setCause(CauseNegotiationFailed, "LCP closed")
	}
	l.done = true
}

func (l *Link) lcpFail(f lcpFailure) {
	switch f {
	case lcpAuthRefused:
		l.terminate(CauseAuthFailed, "Peer refuses to authenticate")
	case lcpLoopback:
		l.terminate(CauseLoopback, "Loopback detected")
	case lcpKeepalive:
		// The peer is gone; a Terminate-Request is a courtesy nobody will answer.
		l.setCause(CauseKeepalive, "No answer to Echo-Requests")
		l.closeNow("Keepalive failure")
	}
}

func (l *Link) peerTerminated(reason string) {
	l.peerTermSeen = true
	switch {
	case l.res.Callback != nil:
		l.setCause(CauseCallback, reason)
	case l.phase == PhaseAuthenticate && l.badAuth > 0:
		// The caller gave up after a refusal (pppd does at the first one).
		l.setCause(CauseAuthFailed, reason)
	case l.cfg.Role == Client && l.authed && l.lcp.Result().Callback.Requested:
		// We asked for RFC 1570 callback, it was acked, and after authentication the server
		// hangs up: that is the callback.
		cb := l.lcp.Result().Callback
		l.res.Callback = &CallbackResult{Number: cb.Message, Via: ViaRFC1570}
		l.setCause(CauseCallback, reason)
	default:
		l.setCause(CauseUserRequest, reason)
	}
	l.setPhase(PhaseTerminate)
	l.terminating = true
}

func (l *Link) protocolRejected(proto uint16) {
	switch proto {
	case ProtoIPCP:
		if l.ipcp != nil {
			l.ipcp.FSM().ProtocolRejected()
		}
	case ProtoPAP, ProtoCHAP:
		if l.phase == PhaseAuthenticate {
			l.terminate(CauseAuthFailed, "Peer rejected the authentication protocol")
		}
	case ProtoCBCP:
		if l.phase == PhaseCallback {
			l.terminate(CauseCallbackRefused, "Peer rejected CBCP")
		}
	}
}

// --- Authentication ---

func (l *Link) startAuth() {
	r := l.lcp.Result()
	if r.Auth == AuthNone {
		if l.cfg.Role == Server && len(l.cfg.Auth) > 0 {
			l.terminate(CauseAuthFailed, "Authentication required")
			return
		}
		l.authDone(nil)
		return
	}
	l.setPhase(PhaseAuthenticate)
	l.authDeadline = time.Now().Add(l.cfg.AuthTimeout)
	send := func(proto uint16) func([]byte) { return func(b []byte) { l.send(proto, b) } }
	switch {
	case l.cfg.Role == Server && r.Auth == AuthPAP:
		l.papS = &papServer{send: send(ProtoPAP)}
	case l.cfg.Role == Server:
		l.chapS = &chapServer{alg: r.Auth, name: l.cfg.Hostname, send: send(ProtoCHAP), now: time.Now,
			restart: l.cfg.RestartTimer, maxTries: l.cfg.MaxConfigure}
		l.chapS.challengeNew()
	case r.Auth == AuthPAP:
		l.papC = &papClient{send: send(ProtoPAP), now: time.Now, user: l.cfg.User, password: l.cfg.Password,
			restart: l.cfg.RestartTimer, maxTries: l.cfg.MaxConfigure}
		l.papC.start(1)
	default:
		l.chapC = &chapClient{alg: r.Auth, user: l.cfg.User, password: l.cfg.Password, send: send(ProtoCHAP)}
	}
}

func (l *Link) receivePAP(b []byte) {
	switch {
	case l.papS != nil:
		req, verify, err := l.papS.receive(b)
		if err != nil {
			l.log.Debug("bad PAP packet", "err", err)
			return
		}
		if !verify || l.terminating {
			return
		}
		r := l.cfg.Request
		r.Service, r.User, r.Password = aaa.ServicePPP, req.Peer, req.Password
		l.res.User = req.Peer
		p, msg, ok := l.authenticate(&r)
		if !ok {
			msg = orDefault(msg, "Authentication failed")
			l.papS.final = l.badAuth+1 >= l.cfg.MaxBadAuth
			l.papS.answer(req.ID, false, msg)
			l.authFailed(msg)
			return
		}
		l.papS.answer(req.ID, true, orDefault(msg, "Login ok"))
		l.authDone(p)
	case l.papC != nil:
		if err := l.papC.receive(b); err != nil {
			l.log.Debug("bad PAP packet", "err", err)
			return
		}
		l.checkClientAuth()
	default:
		l.count(func(c *LinkCounters) { c.Discarded++ })
	}
}

func (l *Link) receiveCHAP(b []byte) {
	switch {
	case l.chapS != nil:
		resp, verify, err := l.chapS.receive(b)
		if err != nil {
			l.log.Debug("bad CHAP packet", "err", err)
			return
		}
		if !verify || l.terminating {
			return
		}
		s := l.chapS
		r := l.cfg.Request
		r.Service, r.User = aaa.ServicePPP, resp.Name
		l.res.User = resp.Name
		var p *aaa.Profile
		var msg string
		ok := len(resp.Value) == chapResponseLen(s.alg)
		if ok {
			r.CHAP = &aaa.CHAP{Type: chapAlgorithm(s.alg), ID: s.id,
				Challenge: append([]byte(nil), s.challenge[:]...), Response: append([]byte(nil), resp.Value...)}
			p, msg, ok = l.authenticate(&r)
		} else {
			l.log.Info("CHAP response of the wrong length", "user", resp.Name, "length", len(resp.Value))
		}
		if !ok {
			msg = orDefault(msg, "Authentication failed")
			if s.alg == AuthMSCHAPv2 {
				s.verdict(false, mschapv2FailureMessage(msg))
			} else {
				s.verdict(false, msg)
			}
			if l.authFailed(msg) {
				s.challengeNew() // another try (IOS ppp max-bad-auth > 1)
			}
			return
		}
		msg = orDefault(msg, "Welcome")
		if s.alg == AuthMSCHAPv2 {
			if p.AuthenticatorResponse == "" {
				l.log.Warn("MS-CHAPv2 success without an authenticator response from AAA: the peer will hang up",
					"user", resp.Name, "source", p.Source)
			}
			msg = mschapv2SuccessMessage(p.AuthenticatorResponse, msg)
		}
		s.verdict(true, msg)
		l.authDone(p)
	case l.chapC != nil:
		if err := l.chapC.receive(b); err != nil {
			l.log.Debug("bad CHAP packet", "err", err)
			return
		}
		l.checkClientAuth()
	default:
		l.count(func(c *LinkCounters) { c.Discarded++ })
	}
}

// authenticate asks AAA. ok false is a refusal (msg is for the peer); a cancelled link context
// ends the link.
func (l *Link) authenticate(r *aaa.Request) (*aaa.Profile, string, bool) {
	if l.cfg.Authenticate == nil {
		l.log.Warn("no AAA configured: refusing", "user", r.User)
		return nil, "", false
	}
	if cb := l.lcp.Result().Callback; cb.Requested && (cb.Op == CallbackOpDialString || cb.Op == CallbackOpE164) {
		r.CallbackNumber = cb.Message
	}
	ctx, cancel := context.WithTimeout(l.ctx, l.cfg.AuthTimeout)
	defer cancel()
	p, err := l.cfg.Authenticate(ctx, r)
	if l.ctx.Err() != nil {
		l.setCause(CauseAdmin, "administrative shutdown")
		return nil, "", false
	}
	if err != nil || p == nil {
		var rej *aaa.RejectError
		msg := ""
		if errors.As(err, &rej) {
			msg = rej.Message
		}
		l.log.Info("authentication refused", "user", r.User, "err", err)
		return nil, msg, false
	}
	return p, p.ReplyMessage, true
}

// authFailed counts a refusal and ends the link when IOS `ppp max-bad-auth` is reached; it
// reports whether the peer may try again.
func (l *Link) authFailed(msg string) bool {
	l.badAuth++
	if l.badAuth >= l.cfg.MaxBadAuth {
		l.setCause(CauseAuthFailed, msg)
		l.terminate(CauseAuthFailed, "Authentication failed")
		return false
	}
	return true
}

func (l *Link) checkClientAuth() {
	result, msg := 0, ""
	switch {
	case l.papC != nil:
		result, msg = l.papC.result, l.papC.message
	case l.chapC != nil:
		result, msg = l.chapC.result, l.chapC.message
	}
	switch result {
	case 1:
		if !l.authed {
			l.authDone(nil)
		}
	case -1:
		if l.papC != nil {
			l.papC.result = -2 // reported
		} else {
			l.chapC.result = -2
		}
		l.terminate(CauseAuthFailed, orDefault(msg, "Authentication failed"))
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// authDone moves on from authentication (or from its absence) to callback or the network.
func (l *Link) authDone(p *aaa.Profile) {
	if l.terminating {
		return
	}
	l.authed = true
	l.res.Profile = p
	if p != nil {
		if p.User != "" {
			l.res.User = p.User
		}
		l.log.Info("authenticated", "user", l.res.User, "auth", l.res.Auth, "source", p.Source)
	}
	if l.cfg.Role == Client {
		if cb := l.lcp.Result().Callback; cb.Requested && cb.Op == CallbackOpCBCP {
			l.setPhase(PhaseCallback)
			l.cbcpC = NewCBCPClient(cb.Message, func(b []byte) { l.send(ProtoCBCP, b) })
			l.cbcpC.Delay = l.cfg.CBCPDelay
			return
		}
		l.startNetwork()
		return
	}
	l.serverCallback(p)
}

// --- Callback ---

func (l *Link) serverCallback(p *aaa.Profile) {
	asked := l.lcp.Result().Callback
	cbcp := asked.Requested && asked.Op == CallbackOpCBCP
	var d CallbackDecision
	consult := l.cfg.Callback != nil && (asked.Requested || l.cfg.CallbackInitiate)
	if consult {
		d = l.cfg.Callback(p, asked)
		l.cbDecision = d
		l.log.Info("callback decision", "asked", asked.Requested, "op", asked.Op, "callback", d.Callback,
			"disconnect", d.Disconnect, "need_number", d.NeedNumber, "reason", d.Reason)
	}
	if cbcp {
		l.startCBCP(d)
		return
	}
	switch {
	case d.Callback && d.Number != "":
		via := ViaRFC1570
		if !asked.Requested {
			via = ViaInitiate
		}
		l.res.Callback = &CallbackResult{Number: d.Number, Via: via}
		l.setPhase(PhaseCallback)
		l.terminate(CauseCallback, "Callback")
	case d.Disconnect:
		l.terminate(CauseCallbackRefused, orDefault(d.Reason, "Callback refused"))
	default:
		l.startNetwork()
	}
}

// startCBCP offers the caller what the decision allows (MS-CBCP: a pre-specified number from
// AAA, a number of the caller's choosing, or no callback).
func (l *Link) startCBCP(d CallbackDecision) {
	var o CBCPOffer
	switch {
	case d.Callback && d.Number != "":
		o.Admin = d.Number
	case d.NeedNumber:
		o.User = true
	case d.Disconnect:
		l.terminate(CauseCallbackRefused, orDefault(d.Reason, "Callback refused"))
		return
	default:
		o.None = true
	}
	l.setPhase(PhaseCallback)
	l.cbcpS = NewCBCPServer(o, func(b []byte) { l.send(ProtoCBCP, b) }, time.Now)
	l.cbcpS.Interval = min(DefaultCBCPInterval, l.cfg.RestartTimer) // shorter only in tests
	l.cbcpS.MaxRequests = l.cfg.MaxConfigure
	l.cbcpS.Logger = l.log
	l.cbcpS.Start()
	l.checkCBCP() // an offer it cannot make fails at once
}

func (l *Link) checkCBCP() {
	s := l.cbcpS
	if s == nil || l.terminating {
		return
	}
	if err := s.Failed(); err != nil {
		l.cbcpS = nil
		l.terminate(CauseNegotiationFailed, "CBCP failed: "+err.Error())
		return
	}
	r, ok := s.Done()
	if !ok {
		return
	}
	l.cbcpS = nil
	switch r.Type {
	case CBCPNone:
		l.startNetwork()
		return
	case CBCPUser:
		d := l.cfg.Callback(l.res.Profile, CallbackRequest{Requested: true, Op: CallbackOpCBCP, Message: r.Number})
		if !d.Callback || d.Number == "" {
			l.terminate(CauseCallbackRefused, orDefault(d.Reason, "Callback refused"))
			return
		}
		l.res.Callback = &CallbackResult{Number: d.Number, Delay: r.Delay, Via: ViaCBCP}
	default:
		l.res.Callback = &CallbackResult{Number: l.cbDecision.Number, Delay: r.Delay, Via: ViaCBCP}
	}
	// The caller now sends Terminate-Request (MS-CBCP); if it does not, we close.
	l.cbGrace, l.cbGraceOn = time.Now().Add(l.cfg.RestartTimer), true
}

func (l *Link) checkCBCPClient() {
	c := l.cbcpC
	if c == nil || l.terminating {
		return
	}
	r, ok := c.Done()
	if !ok {
		return
	}
	l.cbcpC = nil
	if r.Type == CBCPNone {
		l.startNetwork()
		return
	}
	l.res.Callback = &CallbackResult{Number: r.Number, Delay: r.Delay, Via: ViaCBCP}
	l.terminate(CauseCallback, "Call me back, please")
}

// --- Network ---

func (l *Link) startNetwork() {
	var c IPCPConfig
	if l.cfg.Network != nil {
		var release func()
		var err error
		c, release, err = l.cfg.Network(l.res.Profile)
		if err != nil {
			l.log.Warn("no network configuration for the user", "user", l.res.User, "err", err)
			l.terminate(CauseNASError, "No address available")
			return
		}
		l.release = release
	}
	c.Server = l.cfg.Role == Server
	c.OnUp = l.ipcpUp
	c.OnDown = func() {
		if l.phase == PhaseOpen {
			l.setPhase(PhaseNetwork)
		}
	}
	c.OnFinished = func(err error) {
		msg := "IPCP negotiation failed"
		if err != nil {
			msg = err.Error()
		}
		l.terminate(CauseNegotiationFailed, msg)
	}
	l.setPhase(PhaseNetwork)
	l.ncpRequests = 0
	l.ipcp = NewIPCP(c, l.fsmConfig("IPCP", ProtoIPCP))
	l.ipcp.FSM().Open()
	l.ipcp.FSM().Up()
}

func (l *Link) ipcpUp(r IPCPResult) {
	l.res.Local, l.res.Peer, l.res.DNS = r.Local, r.Peer, r.DNS
	l.ncpRequests = 0
	l.setPhase(PhaseOpen)
	if l.cfg.Opened != nil {
		l.cfg.Opened(l.result())
	}
	if !l.upDone {
		l.upDone = true
		if l.cfg.Up != nil {
			l.cfg.Up(l.result())
		}
	}
}
