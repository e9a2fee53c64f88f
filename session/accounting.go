package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/acct"
	"github.com/dialback/nas/callback"
	"github.com/dialback/nas/config"
	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/lines/modem"
	"github.com/dialback/nas/ppp"
	"github.com/dialback/nas/session/event"
)

// Accounting of calls. Every leg of every call that gets past authentication has exactly one
// Start and one Stop in the spool: the Start is durable before the session goes on (the EXEC
// prompt, the PPP network phase, the callback), the Stop before the line is used again. While
// the spool refuses records (acct.PolicyRefuse and an unwritable disk) no line answers.

// AcctSpool is what the server needs of the accounting spool; *acct.Spool is one.
type AcctSpool interface {
	Append(ctx context.Context, rec acct.Record) (uint64, error)
	NewSessionID() string
	// Admit says whether a new call may be answered (nil) or not (an error wrapping
	// acct.ErrSpoolUnavailable).
	Admit() error
}

// Causes of session.down for accounting.
const (
	// CauseAdminReset: an operator or an RFC 5176 Disconnect-Request ended the session.
	CauseAdminReset = "admin-reset"
	// CauseAcctUnavailable: the session could not be accounted for (the spool refused its
	// Start), so it did not go on.
	CauseAcctUnavailable = "accounting-unavailable"
)

// ErrAcctUnavailable is returned by Leg.Start when the spool would not keep the Start: the
// session must not go on.
var ErrAcctUnavailable = errors.New("accounting unavailable")

// msgAcctUnavailable is what an EXEC caller sees when the Start cannot be made durable.
const msgAcctUnavailable = "% Accounting unavailable, call again later"

// Defaults of the accounting timings (Timing).
const (
	// DefaultMinInterim is the shortest Interim-Update interval honoured (RFC 2869 §5.16:
	// Acct-Interim-Interval "SHOULD NOT" be under 60 s).
	DefaultMinInterim = 60 * time.Second
	// DefaultAdmitPoll is how often a line held down by an unavailable spool asks again.
	DefaultAdmitPoll = time.Second
	// DefaultAcctRetryMax caps the wait between attempts to append a Stop the spool refused.
	DefaultAcctRetryMax = 5 * time.Second
	// acctAppendTimeout bounds one Append on a path that cannot wait for ever (shutdown,
	// Interim-Updates).
	acctAppendTimeout = 10 * time.Second
)

// Errors that end a session from outside, told apart by context.Cause.
var (
	errAdminReset     = errors.New("disconnected by the administrator")
	errSessionTimeout = errors.New("session timeout (changed by authorization)")
)

// acctService is the Record.Service of a session protocol.
func acctService(proto string) string {
	switch proto {
	case ProtoPPP:
		return string(aaa.ServicePPP)
	case ProtoARAP:
		return string(aaa.ServiceARAP)
	}
	return string(aaa.ServiceLogin)
}

// AcctCause is the RFC 2866 Acct-Terminate-Cause for a session.down cause, EXEC's and the
// ones only PPP has (the link's causes passed through, see ppp.go) alike.
func AcctCause(cause string) acct.Cause {
	switch cause {
	case CauseLogout, CauseUserAbort, CauseUserRequest, "":
		return acct.CauseUserRequest
	case CauseCarrierLost:
		return acct.CauseLostCarrier
	case CauseIdleTimeout:
		return acct.CauseIdleTimeout
	case CauseSessionTimeout:
		return acct.CauseSessionTimeout
	case CauseCallback:
		return acct.CauseCallback
	case CauseShutdown:
		return acct.CauseNASRequest
	case CauseAdminReset:
		return acct.CauseAdminReset
	case CauseAuthFailed, CauseWrongUser, ppp.CauseNegotiationFailed:
		return acct.CauseUserError
	case ppp.CauseKeepalive:
		return acct.CauseLostService
	case ppp.CauseLoopback:
		return acct.CausePortError
	}
	return acct.CauseNASError
}

// StartInfo is what a Start record says about a session beyond the call itself.
type StartInfo struct {
	User string
	// Protocol is ProtoExec, ProtoPPP or ProtoARAP.
	Protocol string
	// Profile is the user's AAA profile: its Class attributes are echoed in every record and
	// its InterimInterval asks for Interim-Updates. Nil: neither.
	Profile *aaa.Profile
	// Address is the caller's IP address, if known yet (see SetAddress).
	Address netip.Addr
}

// Leg is the accounting of one leg of a call and its entry in the server's session registry.
// A protocol handler calls Start once the caller is authenticated and before the session goes
// on, AddPackets as frames pass and SetAddress when an address is assigned; the server appends
// the Stop when the handler returns. Octets are counted on the line by the server, unless the
// handler gives the leg a source of its own with CountTraffic (PPP with a data plane). On a
// server without a spool a Leg only registers the session (Sessions, Disconnect) and Start
// always succeeds.
type Leg struct {
	srv    *Server
	log    *slog.Logger
	cancel context.CancelCauseFunc // ends the session (Disconnect, SetTimeouts)

	line     int
	port     string
	kind     string // event.LegFirst | event.LegCallback
	multi    string // the first leg's session id, on a callback leg
	callerID string
	calledID string
	connect  string

	inOctets, outOctets   atomic.Uint64
	inPackets, outPackets atomic.Uint64
	traffic               atomic.Pointer[func() Traffic] // CountTraffic's source, if set

	mu      sync.Mutex
	rec     acct.Record // the Start record, once started
	started bool
	stopped bool
	cause   acct.Cause // set by Disconnect; overrides the session's cause
	// Timeouts set by authorization during the session (SetTimeouts, RFC 5176 CoA); they
	// replace the session's own. 0 = no limit.
	idle, session       time.Duration
	idleSet, sessionSet bool
	stopTick            chan struct{} // closed to end the Interim-Update goroutine
	tickDone            chan struct{}
	timer               *time.Timer   // the session timeout set by SetTimeouts
	changed             chan struct{} // closed when SetTimeouts changes a timeout
	pending             *acct.Record
	conn                Conn // the counted line, to wake an EXEC read when its timeouts change
}

// newLeg starts the accounting of a call on w's line.
func (w *worker) newLeg(call modem.Call, kind string, job *callback.Job) *Leg {
	l := &Leg{
		srv: w.srv, log: w.log.With("leg", kind), line: w.num, port: fmt.Sprintf("tty%d", w.num), kind: kind,
		callerID: call.CallerID.Number, connect: call.Connect,
	}
	if n, ok := config.SimNumber(w.spec.Port); ok {
		l.calledID = n
	}
	if kind == event.LegCallback && job != nil {
		// The remote party of the callback leg is the number the NAS dialled.
		l.callerID = job.Decision.Number
		l.multi = job.MultiSessionID
	}
	return l
}

// SessionID is the leg's Acct-Session-Id, "" before Start.
func (l *Leg) SessionID() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rec.SessionID
}

// AddPackets counts packets (PPP frames) received from and sent to the caller.
func (l *Leg) AddPackets(in, out uint64) {
	l.inPackets.Add(in)
	l.outPackets.Add(out)
}

// Traffic is what crossed a session, each way: octets and packets.
type Traffic struct {
	InOctets, OutOctets   uint64
	InPackets, OutPackets uint64
}

// CountTraffic makes f the source of the leg's octets and packets, in place of the octets on
// the line and the frames AddPackets counts: a PPP leg whose datagrams cross the IP data
// plane is accounted for those datagrams, the service it was given (RFC 2866 §5.3-§5.6), so
// that LCP echoes, framing and line noise are not billed. f is called for every later record
// and by the registry, from any goroutine.
func (l *Leg) CountTraffic(f func() Traffic) { l.traffic.Store(&f) }

// counts are the leg's octets and packets so far.
func (l *Leg) counts() Traffic {
	if f := l.traffic.Load(); f != nil {
		return (*f)()
	}
	return Traffic{InOctets: l.inOctets.Load(), OutOctets: l.outOctets.Load(),
		InPackets: l.inPackets.Load(), OutPackets: l.outPackets.Load()}
}

// SetAddress records the caller's IP address (IPCP): in later records and the registry.
func (l *Leg) SetAddress(a netip.Addr) {
	l.mu.Lock()
	l.rec.Address = a
	l.mu.Unlock()
}

// IdleTimeout is the idle timeout authorization set after the session started (SetTimeouts;
// 0 = none), and whether it did: it replaces the session's own, so a handler checks it
// whenever it rearms its idle timer.
func (l *Leg) IdleTimeout() (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.idle, l.idleSet
}

// SessionTimeout is the session timeout authorization set after the session started
// (SetTimeouts; 0 = none), and whether it did. The Leg enforces it itself, ending the session
// with cause Session-Timeout; a handler only stops enforcing its own once this reports true.
func (l *Leg) SessionTimeout() (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.session, l.sessionSet
}

// TimeoutsChanged is closed when SetTimeouts next changes a timeout, so that a handler waiting
// on its idle timer rearms it (then call TimeoutsChanged again for the next change).
func (l *Leg) TimeoutsChanged() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed == nil {
		l.changed = make(chan struct{})
	}
	return l.changed
}

// limits applies the timeouts authorization changed to an EXEC read's limits.
func (l *Leg) limits(lim limits) limits {
	idle, idleSet := l.IdleTimeout()
	if idleSet {
		lim.idle = idle
	}
	if _, set := l.SessionTimeout(); set {
		lim.hard = time.Time{} // the Leg's own timer enforces it
	}
	return lim
}

// Start appends the leg's Start record and returns once the spool holds it (durably, or in
// its memory queue under acct.PolicyAnswer). On an error, which wraps ErrAcctUnavailable, the
// session must not go on: end it with CauseAcctUnavailable. A second call does nothing.
func (l *Leg) Start(ctx context.Context, info StartInfo) error {
	sp := l.srv.opts.Accounting
	l.mu.Lock()
	if l.started || l.stopped {
		l.mu.Unlock()
		return nil
	}
	// Without a spool the session is still registered (show users, dynamic authorization),
	// under an id of this run only.
	id := fmt.Sprintf("%08X-%08X", 0, l.srv.acct.local.Add(1))
	if sp != nil {
		id = sp.NewSessionID()
	}
	now := time.Now()
	rec := acct.Record{
		Type: acct.Start, Time: now, SessionID: id, MultiSessionID: l.multi, Leg: l.kind,
		User: info.User, Service: acctService(info.Protocol), Line: l.line, PortName: l.port,
		CallerID: l.callerID, CalledID: l.calledID, ConnectInfo: l.connect, Address: info.Address,
		StartTime: now,
	}
	if info.Profile != nil {
		rec.Class = info.Profile.Class
	}
	l.mu.Unlock()

	var err error
	if sp != nil {
		_, err = sp.Append(ctx, rec)
	}
	switch {
	case err == nil:
	case errors.Is(err, acct.ErrQueued), errors.Is(err, acct.ErrQueueFull):
		// PolicyAnswer: the spool holds the record in memory (or has logged it in full);
		// the operator chose to keep answering.
		l.log.Warn("accounting Start not yet durable; session goes on (policy answer)", "session_id", rec.SessionID, "err", err)
	case ctx.Err() != nil:
		return fmt.Errorf("line %d: start of %s session: %w", l.line, info.Protocol, err)
	default:
		l.log.Error("accounting Start refused; ending the session", "user", info.User, "err", err)
		return fmt.Errorf("line %d: start of %s session: %w: %w", l.line, info.Protocol, ErrAcctUnavailable, err)
	}
	l.mu.Lock()
	if !rec.Address.IsValid() {
		rec.Address = l.rec.Address
	}
	l.rec, l.started = rec, true
	l.mu.Unlock()
	l.srv.acct.add(rec.SessionID, l)
	if iv := l.interimInterval(info.Profile); iv > 0 && sp != nil {
		l.stopTick, l.tickDone = make(chan struct{}), make(chan struct{})
		go l.interims(iv)
	}
	l.log.Debug("accounting started", "session_id", rec.SessionID, "user", rec.User, "service", rec.Service)
	return nil
}

func (l *Leg) interimInterval(p *aaa.Profile) time.Duration {
	if p == nil || p.InterimInterval <= 0 {
		return 0
	}
	return max(p.InterimInterval, l.srv.timing.MinInterim)
}

// record is the leg's current record of type t at now, with the counters so far.
func (l *Leg) record(t acct.Type, now time.Time) acct.Record {
	l.mu.Lock()
	r := l.rec
	l.mu.Unlock()
	r.Seq, r.Type, r.Time = 0, t, now
	r.SessionTime = now.Sub(r.StartTime)
	c := l.counts()
	r.InOctets, r.OutOctets = c.InOctets, c.OutOctets
	r.InPackets, r.OutPackets = c.InPackets, c.OutPackets
	return r
}

// interims appends an Interim-Update every iv until the leg stops. A failed Interim is
// logged, not retried: the next one (and the Stop) carries the counters on.
func (l *Leg) interims(iv time.Duration) {
	defer close(l.tickDone)
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-l.stopTick:
			return
		case now := <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), acctAppendTimeout)
			rec := l.record(acct.Interim, now)
			_, err := l.srv.opts.Accounting.Append(ctx, rec)
			cancel()
			if err != nil && !errors.Is(err, acct.ErrQueued) {
				l.log.Warn("accounting Interim-Update not spooled", "session_id", rec.SessionID, "err", err)
			}
		}
	}
}

// run runs the session with a context the registry can end (Disconnect, SetTimeouts), and
// turns such an end into its cause.
func (l *Leg) run(ctx context.Context, serve func(context.Context) Outcome) Outcome {
	sctx, cancel := context.WithCancelCause(ctx)
	l.mu.Lock()
	l.cancel = cancel
	l.mu.Unlock()
	out := serve(sctx)
	if ctx.Err() == nil {
		switch context.Cause(sctx) {
		case errAdminReset:
			out.Cause, out.Callback = CauseAdminReset, nil
		case errSessionTimeout:
			out.Cause, out.Callback = CauseSessionTimeout, nil
		}
	}
	cancel(nil)
	return out
}

// stop ends the leg's accounting as out says: the Stop goes to the spool now, stamped with the
// session's end. If the spool refuses it, it is kept for flush, which the line runs after the
// hang-up (the caller is not held on the line for the disk). A callback job learns the leg's
// session id, for its callback leg's Acct-Multi-Session-Id.
func (l *Leg) stop(ctx context.Context, out *Outcome) {
	l.mu.Lock()
	if !l.started || l.stopped {
		l.stopped = true
		l.mu.Unlock()
		return
	}
	l.stopped = true
	cause := l.cause
	if l.timer != nil {
		l.timer.Stop()
	}
	l.mu.Unlock()
	if l.stopTick != nil {
		close(l.stopTick)
		<-l.tickDone
	}
	if cause == 0 {
		cause = AcctCause(out.Cause)
	}
	rec := l.record(acct.Stop, time.Now())
	rec.Cause = cause
	if out.Callback != nil && out.Callback.MultiSessionID == "" {
		out.Callback.MultiSessionID = rec.SessionID
	}
	l.srv.acct.remove(rec.SessionID)
	if l.srv.opts.Accounting == nil {
		return
	}
	if !l.appendStop(ctx, rec) {
		l.mu.Lock()
		l.pending = &rec
		l.mu.Unlock()
	}
}

// appendStop tries once to hand rec to the spool and says whether the spool kept it.
func (l *Leg) appendStop(ctx context.Context, rec acct.Record) bool {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), acctAppendTimeout)
	defer cancel()
	_, err := l.srv.opts.Accounting.Append(actx, rec)
	switch {
	case err == nil:
		return true
	case errors.Is(err, acct.ErrQueued):
		l.log.Warn("accounting Stop held in memory until the spool is writable", "session_id", rec.SessionID)
		return true
	case errors.Is(err, acct.ErrClosed):
		l.log.Error("ACCOUNTING STOP NOT SPOOLED: spool closed before the session ended", "session_id", rec.SessionID,
			"user", rec.User, "cause", rec.Cause.String())
		return true // nothing will take it now; the next run's recovery closes the session
	}
	l.log.Warn("accounting Stop refused by the spool; the line waits for it", "session_id", rec.SessionID, "err", err)
	return false
}

// flush appends a Stop the spool refused, retrying with backoff; the line stays out of use
// until the spool keeps it. When the server shuts down meanwhile, the record is logged in
// full: its Start is durable, so the next start's recovery closes the session (NAS-Reboot).
func (l *Leg) flush(ctx context.Context) {
	l.mu.Lock()
	rec := l.pending
	l.pending = nil
	l.mu.Unlock()
	if rec == nil {
		return
	}
	wait := l.srv.timing.RetryMin
	for ctx.Err() == nil {
		if sleep(ctx, wait) != nil {
			break
		}
		if l.appendStop(ctx, *rec) {
			return
		}
		wait = min(2*wait, l.srv.timing.AcctRetryMax)
	}
	if l.appendStop(ctx, *rec) {
		return
	}
	l.log.Error("ACCOUNTING STOP NOT SPOOLED at shutdown; the next start closes the session", "session_id", rec.SessionID,
		"user", rec.User, "cause", rec.Cause.String(), "session_time", rec.SessionTime, "in_octets", rec.InOctets,
		"out_octets", rec.OutOctets)
}

// disconnect ends the session with cause (from another goroutine).
func (l *Leg) disconnect(cause acct.Cause, why error) {
	l.mu.Lock()
	if l.cause == 0 {
		l.cause = cause
	}
	cancel := l.cancel
	l.mu.Unlock()
	if cancel != nil {
		cancel(why)
	}
}

// count wraps the call's byte stream so that the leg counts the octets on the line.
func (l *Leg) count(c Conn) Conn {
	l.conn = &countingConn{Conn: c, leg: l}
	return l.conn
}

// countingConn counts the octets of a call: input is what the caller sent (RFC 2866 §5.3).
type countingConn struct {
	Conn
	leg *Leg
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.leg.inOctets.Add(uint64(max(n, 0)))
	return n, err
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.leg.outOctets.Add(uint64(max(n, 0)))
	return n, err
}

// Unwrap returns the underlying connection (the modem's data stream).
func (c *countingConn) Unwrap() Conn { return c.Conn }

// acctStart starts the accounting of an EXEC leg (after login, before the prompt or the
// callback). On failure the caller is told and the session ends.
func (s *session) acctStart(ctx context.Context) error {
	err := s.acct.Start(ctx, StartInfo{User: s.user, Protocol: ProtoExec, Profile: s.profile})
	if err != nil && ctx.Err() != nil {
		return ctx.Err() // shutting down: not the spool's fault
	}
	if err != nil {
		_ = s.t.write("\r\n" + msgAcctUnavailable + "\r\n")
		return end(CauseAcctUnavailable)
	}
	return nil
}

// The session registry.

// SessionInfo is one live session: a leg whose Start the spool holds and whose Stop it does
// not yet, for `show users` and RFC 5176 Disconnect and CoA.
type SessionInfo struct {
	SessionID      string // Acct-Session-Id
	MultiSessionID string // the first leg's, on a callback leg
	User           string
	Line           int    // NAS-Port
	PortName       string // NAS-Port-Id, "tty3"
	CallerID       string // Calling-Station-Id (the remote party)
	CalledID       string
	Address        netip.Addr // Framed-IP-Address; zero for EXEC
	Protocol       string     // exec | ppp | arap
	Leg            string     // first | callback
	Start          time.Time
	InOctets       uint64
	OutOctets      uint64
}

// acctRegistry holds the server's started legs and the state of the spool's admission.
type acctRegistry struct {
	mu    sync.Mutex
	legs  map[string]*Leg
	down  bool          // acct.unavailable was said and acct.available not yet
	local atomic.Uint32 // session ids without a spool
}

func (r *acctRegistry) add(id string, l *Leg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.legs == nil {
		r.legs = map[string]*Leg{}
	}
	r.legs[id] = l
}

func (r *acctRegistry) remove(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.legs, id)
}

func (r *acctRegistry) get(id string) (*Leg, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.legs[id]
	return l, ok
}

func (l *Leg) info() SessionInfo {
	c := l.counts()
	l.mu.Lock()
	defer l.mu.Unlock()
	proto := ProtoExec
	switch l.rec.Service {
	case string(aaa.ServicePPP):
		proto = ProtoPPP
	case string(aaa.ServiceARAP):
		proto = ProtoARAP
	}
	return SessionInfo{
		SessionID: l.rec.SessionID, MultiSessionID: l.rec.MultiSessionID, User: l.rec.User, Line: l.line,
		PortName: l.port, CallerID: l.callerID, CalledID: l.calledID, Address: l.rec.Address, Protocol: proto,
		Leg: l.kind, Start: l.rec.StartTime, InOctets: c.InOctets, OutOctets: c.OutOctets,
	}
}

// Sessions lists the live sessions, by line.
func (s *Server) Sessions() []SessionInfo {
	return s.FindSessions(nil)
}

// FindSessions lists the live sessions match accepts (nil: all), by line. RFC 5176 §3 matches
// on Acct-Session-Id, User-Name, NAS-Port, Framed-IP-Address or Calling-Station-Id.
func (s *Server) FindSessions(match func(SessionInfo) bool) []SessionInfo {
	s.acct.mu.Lock()
	legs := make([]*Leg, 0, len(s.acct.legs))
	for _, l := range s.acct.legs {
		legs = append(legs, l)
	}
	s.acct.mu.Unlock()
	out := make([]SessionInfo, 0, len(legs))
	for _, l := range legs {
		if in := l.info(); match == nil || match(in) {
			out = append(out, in)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Line != out[j].Line {
			return out[i].Line < out[j].Line
		}
		return out[i].SessionID < out[j].SessionID
	})
	return out
}

// ErrNoSession is returned for an Acct-Session-Id that names no live session.
var ErrNoSession = errors.New("no such session")

// Disconnect ends the live session id (RFC 5176 Disconnect-Request, or an operator's clear
// line): the session ends with session.down cause admin-reset and its Stop says cause
// (Admin-Reset; 0 means Admin-Reset). It returns once the session has been told, not when it
// has ended.
func (s *Server) Disconnect(id string, cause acct.Cause) error {
	l, ok := s.acct.get(id)
	if !ok {
		return fmt.Errorf("disconnect session %q: %w", id, ErrNoSession)
	}
	if cause == 0 {
		cause = acct.CauseAdminReset
	}
	l.log.Info("session disconnected by the administrator", "session_id", id, "cause", cause.String())
	l.disconnect(cause, errAdminReset)
	return nil
}

// SetTimeouts changes the timeouts of the live session id (RFC 5176 CoA Session-Timeout and
// Idle-Timeout); a nil one is left as it is, 0 means no limit, and either replaces the
// session's own. A session timeout counts from the leg's Start: the session ends then (at
// once if that has passed) with Stop cause Session-Timeout. An idle timeout applies from the
// session's next wait for input.
func (s *Server) SetTimeouts(id string, session, idle *time.Duration) error {
	l, ok := s.acct.get(id)
	if !ok {
		return fmt.Errorf("set timeouts of session %q: %w", id, ErrNoSession)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
	if idle != nil {
		l.idle, l.idleSet = max(*idle, 0), true
		if l.rec.Service == string(aaa.ServiceLogin) && l.conn != nil {
			// Wake the EXEC's read so that it takes the new idle timeout now.
			_ = l.conn.SetReadDeadline(time.Now())
		}
	}
	if session != nil {
		l.session, l.sessionSet = max(*session, 0), true
		if l.timer != nil {
			l.timer.Stop()
			l.timer = nil
		}
		if l.session > 0 {
			left := max(time.Until(l.rec.StartTime.Add(l.session)), 0)
			l.timer = time.AfterFunc(left, func() { l.disconnect(acct.CauseSessionTimeout, errSessionTimeout) })
		}
	}
	l.log.Info("session timeouts changed", "session_id", id, "session_timeout", l.session, "idle_timeout", l.idle)
	return nil
}

// Back-pressure: a line answers only while the spool admits calls.

// acctRefusing is the check before a line waits for a call: while the spool refuses calls the
// line is Down ("accounting unavailable"), does not answer, and is brought back through a
// modem reset once the spool admits calls again. It reports whether it held the line (the
// caller's loop then looks at the line's state again).
func (w *worker) acctRefusing(ctx context.Context) bool {
	sp := w.srv.opts.Accounting
	if sp == nil {
		return false
	}
	err := sp.Admit()
	if err == nil {
		return false
	}
	const reason = "accounting unavailable"
	if serr := w.srv.table.SetState(w.num, lines.Down, reason); serr != nil {
		w.log.Warn("mark line down", "err", serr)
		return false
	}
	w.srv.acctDown(err)
	w.emit(event.LineDown, event.Event{Cause: CauseAcctUnavailable, Detail: errText(err)})
	for {
		if sleep(ctx, w.srv.timing.AdmitPoll) != nil {
			return true
		}
		if err = sp.Admit(); err == nil {
			break
		}
	}
	w.srv.acctUp()
	if serr := w.srv.table.SetState(w.num, lines.Resetting, "accounting available"); serr != nil {
		w.log.Warn("leave down state", "err", serr)
	}
	return true
}

// acctDown says once per episode, loudly, that the lines stop answering.
func (s *Server) acctDown(err error) {
	s.acct.mu.Lock()
	first := !s.acct.down
	s.acct.down = true
	s.acct.mu.Unlock()
	if first {
		s.log.Error("ACCOUNTING UNAVAILABLE: lines do not answer new calls until the spool takes records again", "err", err)
		s.emit(event.Event{Kind: event.AcctUnavailable, Cause: CauseAcctUnavailable, Detail: errText(err)})
	}
}

// acctUp ends the episode acctDown began.
func (s *Server) acctUp() {
	s.acct.mu.Lock()
	was := s.acct.down
	s.acct.down = false
	s.acct.mu.Unlock()
	if was {
		s.log.Warn("accounting available again: lines answer calls")
		s.emit(event.Event{Kind: event.AcctAvailable})
	}
}
