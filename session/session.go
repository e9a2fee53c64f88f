package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/callback"
	"github.com/dialback/nas/config"
	"github.com/dialback/nas/lines/modem"
	"github.com/dialback/nas/session/event"
)

// What the caller sees. The dialog follows IOS: `login local` (no aaa new-model) answers a
// failed login with "% Login invalid", an aaa method list with "% Authentication failed".
const (
	msgUserAccess      = "\r\nUser Access Verification\r\n\r\n"
	promptUsername     = "Username: "
	promptPassword     = "Password: "
	msgLoginInvalid    = "% Login invalid"
	msgAuthFailed      = "% Authentication failed"
	msgUsernameTimeout = "% Username:  timeout expired!"
	msgPasswordTimeout = "% Password:  timeout expired!"
	// MsgCallbackInitiated is printed to an EXEC caller before the first leg is hung up.
	MsgCallbackInitiated = "Callback initiated - line will be disconnected"
	promptDialstring     = "Callback Dialstring: "
)

// Causes carried by session.down, line.hangup and auth.fail events.
const (
	CauseLogout         = "logout"
	CauseCallback       = "callback"
	CauseAuthFailed     = "auth-failed"
	CauseLoginTimeout   = "login-timeout"
	CauseIdleTimeout    = "idle-timeout"
	CauseSessionTimeout = "session-timeout"
	CauseCarrierLost    = "carrier-lost"
	CauseShutdown       = "shutdown"
	CausePPPNotEnabled  = "ppp-not-enabled"
	CauseNotEnabled     = "not-enabled"
	CauseNoNumber       = "no-callback-number"
	CauseDisconnect     = "callback-refused"
	CauseUserAbort      = "user-abort"
	CauseError          = "error"
)

// maxLoginTries is how many wrong logins IOS allows before it hangs up.
const maxLoginTries = 3

// maxEmptyUsernames bounds Returns at the Username prompt, which do not count as a try.
const maxEmptyUsernames = 10

// Handoff is a line handed to a protocol handler after autoselect recognised the caller.
type Handoff struct {
	Line     int
	Leg      string // event.LegFirst or event.LegCallback
	Conn     Conn
	Call     modem.Call
	Protocol string // ProtoPPP or ProtoARAP
	// Frame holds the raw bytes seen so far, ending with the start of the caller's first frame.
	Frame []byte
	// Job is the callback that dialled this call, on a callback leg; nil on a first leg.
	Job *callback.Job
	// Acct is the leg's accounting: the handler calls Acct.Start once the caller is
	// authenticated, before the session goes on (and ends the call with CauseAcctUnavailable
	// if it fails); the server appends the Stop after the handler returns.
	Acct *Leg

	s *session // the session handing over, for the server's own handlers (PPP.Handle)
}

// Outcome is how a protocol handler's session ended.
type Outcome struct {
	// Cause says why, for session.down and line.hangup ("logout", "carrier-lost", ...).
	Cause string
	// Callback, when set, is a callback to carry out: the line is handed to the dialler
	// instead of being hung up (the dialler hangs it up after reserving the target).
	Callback *callback.Job
}

// Handler serves a caller that autoselect recognised. It owns the Conn until it returns;
// the server hangs up (or hands over for callback) afterwards.
type Handler func(ctx context.Context, h *Handoff) Outcome

// session is one call on a line, from activation to the end of EXEC (or the handover to a
// protocol handler or to the dialler).
type session struct {
	srv     *Server
	w       *worker
	spec    config.LineSpec
	leg     string
	conn    Conn
	call    modem.Call
	job     *callback.Job // the callback that dialled this call (callback leg)
	t       *term
	log     *slog.Logger
	start   time.Time
	user    string
	profile *aaa.Profile
	proto   string // ProtoExec until autoselect hands the call to another protocol
	up      bool   // session.up was emitted
	acct    *Leg
}

// errEnd ends a session with a cause; message (if any) has already been shown.
type errEnd struct{ cause string }

func (e *errEnd) Error() string { return "session ended: " + e.cause }

func end(cause string) error { return &errEnd{cause: cause} }

// causeOf turns an error from the dialog into a cause.
func causeOf(ctx context.Context, err error) string {
	var e *errEnd
	switch {
	case errors.As(err, &e):
		return e.cause
	case ctx.Err() != nil:
		return CauseShutdown
	case errors.Is(err, modem.ErrCarrierLost), errors.Is(err, modem.ErrHungUp):
		return CauseCarrierLost
	case errors.Is(err, ErrEndOfInput):
		return CauseUserAbort
	}
	return CauseError
}

func (s *session) emit(kind string, e event.Event) {
	e.Kind = kind
	e.Line = s.w.num
	e.Leg = s.leg
	if e.User == "" {
		e.User = s.user
	}
	s.srv.emit(e)
}

func (s *session) autoselects(what string) bool { return slices.Contains(s.spec.Autoselect, what) }

// run serves the call until it ends and says how it ended.
func (s *session) run(ctx context.Context) Outcome {
	s.start = time.Now()
	s.t = newTerm(ctx, s.conn, true)
	s.t.carrier = s.w.carrier
	defer s.t.close()

	out, err := s.serve(ctx)
	if err != nil {
		var det *DetectedError
		if errors.As(err, &det) {
			return s.handoff(ctx, det)
		}
		out.Cause = causeOf(ctx, err)
		if out.Cause == CauseError {
			s.log.Warn("session ended by an error", "err", err)
		} else {
			s.log.Info("session ended", "cause", out.Cause, "err", err)
		}
	}
	return out
}

// serve runs the dialog: activation, autoselect, login, callback decision, EXEC.
func (s *session) serve(ctx context.Context) (Outcome, error) {
	if s.spec.Flush() && s.srv.timing.FlushWindow > 0 {
		if err := s.t.discard(s.srv.timing.FlushWindow); err != nil {
			return Outcome{}, err
		}
	}
	sniffing := s.autoselects("ppp") || s.autoselects("arap")
	if sniffing && !s.autoselects("during-login") {
		// IOS autoselect without during-login: nothing is shown until the caller sends a
		// frame or presses Return.
		if _, err := s.t.readLine(limits{hard: time.Now().Add(s.spec.LoginTimeout)}, false); err != nil {
			if errors.Is(err, ErrTimeout) {
				return Outcome{}, end(CauseLoginTimeout)
			}
			if !errors.Is(err, ErrInterrupt) {
				return Outcome{}, err
			}
		}
		s.emit(event.Autoselect, event.Event{Protocol: ProtoExec})
	}
	if s.srv.banner != "" {
		if err := s.t.write("\r\n" + s.srv.banner + "\r\n"); err != nil {
			return Outcome{}, err
		}
	}

	switch {
	case s.leg == event.LegCallback && s.job != nil && s.job.Decision.NoVerify:
		if err := s.authorizeOnly(ctx); err != nil {
			return Outcome{}, err
		}
	case s.spec.NoLogin():
		// `no login`: straight to EXEC, as IOS does. A callback leg keeps its user.
		if s.job != nil {
			s.user, s.profile = s.job.User, s.job.Profile
		}
	default:
		if err := s.login(ctx); err != nil {
			return Outcome{}, err
		}
	}
	s.t.stopSniffing()
	if s.user != "" {
		s.srv.table.SetUser(s.w.num, s.user)
	}

	if s.leg == event.LegFirst {
		job, err := s.planCallback(ctx)
		if err != nil {
			return Outcome{}, err
		}
		if job != nil {
			return Outcome{Cause: CauseCallback, Callback: job}, nil
		}
	}
	return s.exec(ctx)
}

// handoff gives the line to the protocol autoselect recognised, or refuses the caller.
func (s *session) handoff(ctx context.Context, det *DetectedError) Outcome {
	s.emit(event.Autoselect, event.Event{Protocol: det.Protocol})
	return s.startProtocol(ctx, det, s.autoselects(det.Protocol))
}

// startProtocol runs the handler of det.Protocol; allowed says whether the line lets the
// protocol start (autoselect for a detected frame; always for an autocommand).
func (s *session) startProtocol(ctx context.Context, det *DetectedError, allowed bool) Outcome {
	s.proto = det.Protocol
	var h Handler
	if allowed && det.Protocol == ProtoPPP {
		h = s.srv.opts.PPP
	}
	if allowed && det.Protocol == ProtoARAP {
		h = s.srv.opts.ARAP
	}
	if h == nil {
		s.log.Warn(fmt.Sprintf("%s caller on line %d, %s not enabled", strings.ToUpper(det.Protocol),
			s.w.num, strings.ToUpper(det.Protocol)), "autoselect", s.spec.Autoselect)
		if det.Protocol == ProtoPPP {
			return Outcome{Cause: CausePPPNotEnabled}
		}
		return Outcome{Cause: CauseNotEnabled}
	}
	s.t.close()
	_ = s.conn.SetReadDeadline(time.Time{})
	return h(ctx, &Handoff{
		Line: s.w.num, Leg: s.leg, Conn: s.conn, Call: s.call, Protocol: det.Protocol,
		Frame: det.Frame, Job: s.job, Acct: s.acct, s: s,
	})
}

// request builds an AAA request for this call.
func (s *session) request(user, password string) *aaa.Request {
	return &aaa.Request{
		Service:     aaa.ServiceLogin,
		User:        user,
		Password:    password,
		Prompt:      prompter{s},
		Line:        s.w.num,
		PortName:    fmt.Sprintf("tty%d", s.w.num),
		CallerID:    s.call.CallerID.Number,
		ConnectInfo: s.call.Connect,
		Leg:         s.leg,
	}
}

// methods is the method list the line's `login` setting names.
func (s *session) methods() (aaa.MethodList, string) {
	if s.spec.Login == "local" {
		l := aaa.MethodList{Service: aaa.ServiceLogin}
		if s.srv.opts.Local != nil {
			l.Methods = []aaa.Method{s.srv.opts.Local}
		}
		return l, msgLoginInvalid
	}
	return s.srv.opts.Login, msgAuthFailed
}

// login runs the IOS Username/Password dialog: three tries, each prompt bounded by the
// login timeout.
func (s *session) login(ctx context.Context) error {
	list, failMsg := s.methods()
	if err := s.t.write(msgUserAccess); err != nil {
		return err
	}
	empty := 0
	for try := 1; try <= maxLoginTries; {
		if err := s.t.write(promptUsername); err != nil {
			return err
		}
		user, err := s.t.readLine(s.loginLimits(), true)
		switch {
		case errors.Is(err, ErrTimeout):
			_ = s.t.write("\r\n" + msgUsernameTimeout + "\r\n")
			return end(CauseLoginTimeout)
		case errors.Is(err, ErrInterrupt):
			try++
			continue
		case err != nil:
			return err
		}
		user = strings.TrimSpace(user)
		if user == "" {
			if empty++; empty > maxEmptyUsernames {
				return end(CauseLoginTimeout)
			}
			continue
		}
		if err := s.t.write(promptPassword); err != nil {
			return err
		}
		password, err := s.t.readLine(s.loginLimits(), false)
		switch {
		case errors.Is(err, ErrTimeout):
			_ = s.t.write("\r\n" + msgPasswordTimeout + "\r\n")
			return end(CauseLoginTimeout)
		case errors.Is(err, ErrInterrupt):
			try++
			continue
		case err != nil:
			return err
		}
		p, err := list.Authenticate(ctx, s.request(user, password))
		if err == nil {
			s.user, s.profile = user, p
			if p.User != "" {
				s.user = p.User
			}
			s.emit(event.AuthOK, event.Event{Protocol: ProtoExec, Detail: p.Source})
			if p.ReplyMessage != "" {
				if err := s.t.write(p.ReplyMessage + "\r\n"); err != nil {
					return err
				}
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		cause := authFailCause(err)
		if cause == authRejected {
			s.log.Info("login rejected", "user", user, "err", err)
		} else {
			s.log.Warn("login authentication failed without an answer", "user", user, "err", err)
		}
		s.emit(event.AuthFail, event.Event{User: user, Protocol: ProtoExec, Cause: cause})
		msg := failMsg
		var rej *aaa.RejectError
		if errors.As(err, &rej) && rej.Message != "" {
			msg = rej.Message
		}
		if err := s.t.write("\r\n" + msg + "\r\n\r\n"); err != nil {
			return err
		}
		try++
	}
	return end(CauseAuthFailed)
}

// Causes of auth.fail events, beyond CauseError.
const (
	authRejected    = "rejected"
	authUnreachable = "unreachable"
)

// authFailCause is the auth.fail cause of a failed authentication, EXEC or PPP.
func authFailCause(err error) string {
	switch {
	case errors.Is(err, aaa.ErrRejected):
		return authRejected
	case errors.Is(err, aaa.ErrUnreachable):
		return authUnreachable
	}
	return CauseError
}

func (s *session) loginLimits() limits {
	return limits{hard: time.Now().Add(s.spec.LoginTimeout)}
}

// authorizeOnly is the callback leg of a nocallback-verify user: no dialog, the profile
// comes from authorization alone.
func (s *session) authorizeOnly(ctx context.Context) error {
	user := s.job.User
	list, _ := s.methods()
	p, err := list.Authorize(ctx, s.request(user, ""))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.log.Warn("authorization of the callback leg failed", "user", user, "err", err)
		s.emit(event.AuthFail, event.Event{User: user, Protocol: ProtoExec, Cause: "not-authorized"})
		return end(CauseAuthFailed)
	}
	s.user, s.profile = user, p
	s.emit(event.AuthOK, event.Event{Protocol: ProtoExec, Detail: "nocallback-verify"})
	return nil
}

// planCallback decides on callback after a first-leg login; it returns the job to hand to
// the dialler, nil for a normal session, or an error that ends the call.
func (s *session) planCallback(ctx context.Context) (*callback.Job, error) {
	if s.profile == nil {
		return nil, nil
	}
	cfg := s.srv.cfg
	info := s.lineInfo()
	set := callback.Settings{ExecCallback: cfg.Service.ExecCallback, Secure: cfg.Callback.Secure, Leg: s.leg}
	asked := callback.Asked{Protocol: callback.ProtocolExec}
	d := callback.Plan(s.profile, asked, info, set)
	s.log.Debug("callback plan", "user", s.user, "callback", d.Callback, "reason", d.Reason)
	switch {
	case d.Disconnect:
		_ = s.t.write("\r\n% Callback refused: " + d.Reason + "\r\n")
		return nil, end(CauseDisconnect)
	case !d.Callback:
		return nil, nil
	}
	if d.NeedNumber {
		number, err := s.askNumber()
		if err != nil {
			return nil, err
		}
		asked.Number = number
		d = callback.Plan(s.profile, asked, info, set)
		if !d.Callback || d.NeedNumber {
			_ = s.t.write("\r\n% Callback refused: " + d.Reason + "\r\n")
			return nil, end(CauseDisconnect)
		}
	}
	job := &callback.Job{
		Decision: d, User: s.user, Protocol: ProtoExec, FirstLine: s.w.num, Profile: s.profile,
	}
	if err := s.acctStart(ctx); err != nil {
		return nil, err
	}
	s.emit(event.CallbackScheduled, event.Event{
		Protocol: ProtoExec, Number: d.Number, Rotary: d.Target.Rotary, Detail: targetText(d.Target),
	})
	if err := s.t.write(MsgCallbackInitiated + "\r\n"); err != nil {
		s.log.Info("caller gone before the callback message", "err", err)
	}
	return job, nil
}

// lineInfo is the line's part of a callback decision.
func (s *session) lineInfo() callback.LineInfo {
	return callback.LineInfo{
		Num: s.w.num, Rotary: s.spec.Rotary,
		ForcedWait: s.spec.Callback.ForcedWait, NoDSRWait: s.spec.Callback.NoDSRWait,
		Script: s.spec.Script.Callback, Mode: s.spec.Modem.Mode,
	}
}

func targetText(t callback.Target) string {
	switch {
	case t.Rotary != 0:
		return fmt.Sprintf("rotary %d", t.Rotary)
	case t.SameLine:
		return fmt.Sprintf("line %d (same line)", t.Line)
	}
	return fmt.Sprintf("line %d", t.Line)
}

// askNumber prompts for the callback number (empty dial string in the user's entitlement).
func (s *session) askNumber() (string, error) {
	if err := s.t.write(promptDialstring); err != nil {
		return "", err
	}
	number, err := s.t.readLine(limits{hard: time.Now().Add(s.srv.cfg.Callback.PromptTimeout)}, true)
	switch {
	case errors.Is(err, ErrTimeout):
		_ = s.t.write("\r\n% Callback dialstring timeout expired\r\n")
		return "", end(CauseNoNumber)
	case errors.Is(err, ErrInterrupt):
		return "", end(CauseNoNumber)
	case err != nil:
		return "", err
	}
	number = strings.TrimSpace(number)
	if number == "" {
		_ = s.t.write("% No callback dialstring given\r\n")
		return "", end(CauseNoNumber)
	}
	if err := callback.CheckNumber(number); err != nil {
		_ = s.t.write("% Invalid callback dialstring\r\n")
		s.log.Info("invalid callback number from the caller", "user", s.user, "err", err)
		return "", end(CauseNoNumber)
	}
	return number, nil
}

// exec runs the EXEC: session.up, the autocommand or the prompt, until logout or a timeout.
func (s *session) exec(ctx context.Context) (Outcome, error) {
	if s.profile != nil {
		// IOS `autocommand ppp` (or `ppp default`): the user wants PPP, not a prompt.
		if f := strings.Fields(s.profile.Autocommand); len(f) > 0 && strings.EqualFold(f[0], "ppp") {
			return s.startProtocol(ctx, &DetectedError{Protocol: ProtoPPP}, true), nil
		}
	}
	if err := s.acctStart(ctx); err != nil {
		return Outcome{}, err
	}
	s.up = true
	s.emit(event.SessionUp, event.Event{Protocol: ProtoExec})
	idle := s.spec.ExecIdleTimeout()
	abs := s.spec.AbsoluteTimeout
	if s.profile != nil {
		if s.profile.IdleTimeout > 0 {
			idle = s.profile.IdleTimeout
		}
		if s.profile.SessionTimeout > 0 {
			abs = s.profile.SessionTimeout
		}
	}
	lim := limits{idle: idle}
	if abs > 0 {
		lim.hard = s.start.Add(abs)
	}
	sh := &shell{s: s, ctx: ctx}
	if s.profile != nil && s.profile.Autocommand != "" {
		// IOS autocommand: run it and hang up when it ends.
		cause, _ := sh.execute(s.profile.Autocommand)
		if cause == "" {
			cause = CauseLogout
		}
		return sh.outcome(cause), nil
	}
	prompt := s.srv.cfg.Hostname + ">"
	for {
		if err := s.t.write("\r\n" + prompt); err != nil {
			return Outcome{}, err
		}
		lim.refresh = s.acct.limits // authorization may change them during the session (CoA)
		line, err := s.t.readLine(lim, true)
		switch {
		case errors.Is(err, ErrIdle):
			_ = s.t.write("\r\n")
			return Outcome{Cause: CauseIdleTimeout}, nil
		case errors.Is(err, ErrTimeout):
			_ = s.t.write("\r\n% Session timeout expired\r\n")
			return Outcome{Cause: CauseSessionTimeout}, nil
		case errors.Is(err, ErrInterrupt):
			continue
		case errors.Is(err, ErrEndOfInput):
			return Outcome{Cause: CauseLogout}, nil
		case err != nil:
			return Outcome{}, err
		}
		if cause, done := sh.execute(line); done {
			return sh.outcome(cause), nil
		}
	}
}

// prompter lets an AAA backend ask the caller for more (RADIUS challenge, TACACS+ GETDATA).
type prompter struct{ s *session }

func (p prompter) Prompt(ctx context.Context, text string, echo bool) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := p.s.t.write(text); err != nil {
		return "", err
	}
	return p.s.t.readLine(p.s.loginLimits(), echo)
}
