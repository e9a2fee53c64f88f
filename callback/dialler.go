package callback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/lines/chat"
	"github.com/dialback/nas/lines/modem"
	"github.com/dialback/nas/session/event"
)

// DefaultScript is the `script callback` run on a line that names none: the modem driver's
// dialer script (the IOS canonical one with every failure word as an ABORT and 60 s to connect).
const DefaultScript = modem.DefaultDialScript

var defaultScript = func() *chat.Script {
	s, err := chat.Parse(DefaultScript)
	if err != nil {
		panic("callback: default script does not parse: " + err.Error())
	}
	return s
}()

// Causes of callback.failed events.
const (
	CauseBusy       = "busy"
	CauseNoAnswer   = "no-answer"
	CauseNoCarrier  = "no-carrier"
	CauseNoDialtone = "no-dialtone"
	CauseNoFreeLine = "no-free-line"
	CauseTimeout    = "timeout"
	CauseLineDown   = "line-down"
	CauseBadNumber  = "invalid-number"
	CauseNoScript   = "no-script"
	CauseCancelled  = "cancelled"
	CauseError      = "error"
	// CauseCallback is the line.hangup cause of a first leg hung up for a callback.
	CauseCallback = "callback"
)

// Job is one callback to carry out: the Decision and who it is for.
type Job struct {
	Decision Decision
	User     string
	// Protocol is ProtocolExec, ProtocolPPP or ProtocolARAP.
	Protocol string
	// FirstLine is the line of the first leg, which Run hangs up.
	FirstLine int
	// Profile is the first leg's AAA profile (for logs; the callback leg asks AAA again).
	Profile *aaa.Profile
	// MultiSessionID is the first leg's Acct-Session-Id, which the callback leg's accounting
	// carries as Acct-Multi-Session-Id (RFC 2866 §5.11); "" without accounting.
	MultiSessionID string
}

// Lines is what the dialler needs from the owner of the lines' modems (the session server).
// Every method addresses a line by TTY number; the owner carries the work out on the line's
// modem and returns when it is done.
type Lines interface {
	// Hangup ends the call on line (the first leg, held for the dialler since the session
	// handed it over): drop DTR (or escape and ATH) and wait up to nodsrWait for DSR to drop.
	Hangup(ctx context.Context, line int, nodsrWait time.Duration) error
	// Dial runs script on line with \T = number. The line is Dialling (claimed from the
	// dialler's reservation). On success the line is Connected and the call is held for the
	// dialler until StartLeg, or until ctx ends (then it is hung up); on failure the line has
	// ended the attempt (Resetting) and goes back to idle by itself.
	Dial(ctx context.Context, line int, script *chat.Script, number string) (modem.Call, error)
	// StartLeg hands the connected call on line to a new session, the callback leg of job.
	// It returns once the session has taken the call, not when the session ends.
	StartLeg(ctx context.Context, line int, call modem.Call, job *Job) error
}

// Dialler carries out callback Decisions: reserve, hang up, wait, dial, start the callback leg.
type Dialler struct {
	Table  *lines.Table
	Lines  Lines
	Events event.Sink
	Log    *slog.Logger
	// Retries is how many times a failed dial is tried again (IOS and RFC 1570: none).
	Retries int
	// Scripts are the chat scripts by name (IOS `chat-script`), for Decision.Script and
	// LineScript.
	Scripts map[string]*chat.Script
	// LineScript, if set, names the `script callback` of a line, so that a callback dialled
	// on another line (callback-line, callback-rotary) uses that line's own script.
	LineScript func(line int) string
	// ReserveWait bounds the wait for a line to come back to idle before a retry, default 30 s.
	ReserveWait time.Duration
}

func (d *Dialler) log() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}

func (d *Dialler) emit(job *Job, e event.Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if e.User == "" {
		e.User = job.User
	}
	e.Protocol = job.Protocol
	if e.Leg == "" {
		e.Leg = event.LegCallback
	}
	if e.Rotary == 0 && e.Kind != event.LineHangup {
		e.Rotary = job.Decision.Target.Rotary
	}
	if d.Events != nil {
		d.Events.Emit(e)
	}
}

// reserve takes the Decision's target line: the reservation is what keeps the line from
// answering or being taken by another callback until the dial.
func (d *Dialler) reserve(job *Job, retry bool) (*lines.Reservation, error) {
	owner := fmt.Sprintf("callback %s from line %d", job.User, job.FirstLine)
	t := job.Decision.Target
	switch {
	case t.Rotary != 0:
		return d.Table.ReserveRotary(t.Rotary, owner)
	case t.SameLine && !retry:
		return d.Table.ReserveSame(t.Line, owner)
	case t.Line != 0:
		return d.Table.ReserveLine(t.Line, owner)
	}
	return nil, fmt.Errorf("callback for %s: no target line or rotary in the decision", job.User)
}

// Run carries out job: reserve the target, hang up the first leg, wait forced-wait, run the
// callback script, and on CONNECT start the callback leg. Every path ends with the first leg
// hung up and the target line released or handed to the new session. The error says why a
// callback did not connect; it has been logged and emitted as callback.failed already.
func (d *Dialler) Run(ctx context.Context, job *Job) error {
	log := d.log().With("user", job.User, "first_line", job.FirstLine, "number", job.Decision.Number)
	dec := job.Decision

	res, rerr := d.reserve(job, false)
	if res != nil {
		defer res.Release()
	}
	// The first leg is hung up whatever happens next: the caller was told so.
	herr := d.Lines.Hangup(ctx, job.FirstLine, dec.NoDSRWait)
	if herr != nil {
		log.Warn("hang-up of the first leg failed", "err", herr)
	}
	if herr == nil || ctx.Err() == nil {
		// Tried and done (maybe untidily). When ctx ended first, the line's owner hangs up
		// by itself as the job ends, and says so.
		d.emit(job, event.Event{Kind: event.LineHangup, Line: job.FirstLine, Leg: event.LegFirst,
			Cause: CauseCallback, Detail: errString(herr)})
	}

	if rerr != nil {
		return d.fail(job, 0, causeOfReserve(rerr), rerr, log)
	}
	if err := CheckNumber(dec.Number); err != nil {
		return d.fail(job, res.Line(), CauseBadNumber, err, log)
	}
	for attempt := 0; ; attempt++ {
		line := res.Line()
		script, err := d.script(dec, line)
		if err != nil {
			return d.fail(job, line, CauseNoScript, err, log)
		}
		if err := sleep(ctx, dec.ForcedWait); err != nil {
			return d.fail(job, line, CauseCancelled, err, log)
		}
		if err := d.Table.SetState(line, lines.Dialling, "callback to "+dec.Number); err != nil {
			// The line went down (or was taken) while we waited.
			return d.fail(job, line, CauseLineDown, err, log)
		}
		d.emit(job, event.Event{Kind: event.CallbackDialing, Line: line, Number: dec.Number})
		log.Info("dialling callback", "line", line, "attempt", attempt+1)
		call, err := d.Lines.Dial(ctx, line, script, dec.Number)
		if err == nil {
			d.emit(job, event.Event{Kind: event.CallbackConnected, Line: line, Number: dec.Number,
				Detail: call.Connect})
			if err := d.Lines.StartLeg(ctx, line, call, job); err != nil {
				return d.fail(job, line, CauseError, fmt.Errorf("start the callback leg on line %d: %w", line, err), log)
			}
			return nil
		}
		cause := causeOfDial(ctx, err)
		if attempt >= d.Retries || cause == CauseCancelled || cause == CauseLineDown {
			return d.fail(job, line, cause, err, log)
		}
		d.emit(job, event.Event{Kind: event.CallbackFailed, Line: line, Number: dec.Number, Cause: cause,
			Detail: fmt.Sprintf("attempt %d of %d; retrying", attempt+1, d.Retries+1)})
		log.Info("callback dial failed; retrying", "line", line, "cause", cause, "err", err)
		if res, err = d.rereserve(ctx, job, line); err != nil {
			return d.fail(job, line, causeOfReserve(err), err, log)
		}
		defer res.Release()
	}
}

// rereserve takes a line again for a retry, once the failed line is back to idle.
func (d *Dialler) rereserve(ctx context.Context, job *Job, failed int) (*lines.Reservation, error) {
	wait := d.ReserveWait
	if wait <= 0 {
		wait = 30 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if _, err := d.Table.Wait(wctx, failed, func(i lines.Info) bool {
		return i.State == lines.Idle || i.State == lines.Down
	}); err != nil {
		return nil, fmt.Errorf("wait for line %d to reset before a retry: %w", failed, err)
	}
	return d.reserve(job, true)
}

// script picks the chat script: the target line's own `script callback`, else the one the
// decision names (the incoming line's), else DefaultScript.
func (d *Dialler) script(dec Decision, line int) (*chat.Script, error) {
	name := ""
	if d.LineScript != nil {
		name = d.LineScript(line)
	}
	if name == "" {
		name = dec.Script
	}
	if name == "" {
		return defaultScript, nil
	}
	s, ok := d.Scripts[name]
	if !ok || s == nil {
		return nil, fmt.Errorf("line %d: script callback %q: no such chat-script", line, name)
	}
	return s, nil
}

func (d *Dialler) fail(job *Job, line int, cause string, err error, log *slog.Logger) error {
	d.emit(job, event.Event{Kind: event.CallbackFailed, Line: line, Number: job.Decision.Number, Cause: cause,
		Detail: err.Error()})
	log.Warn("callback failed", "line", line, "cause", cause, "err", err)
	return fmt.Errorf("callback for %s to %q: %s: %w", job.User, job.Decision.Number, cause, err)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func causeOfReserve(err error) string {
	switch {
	case errors.Is(err, lines.ErrNoFreeLine), errors.Is(err, lines.ErrLineBusy),
		errors.Is(err, lines.ErrDialinOnly), errors.Is(err, lines.ErrIllegalTransition),
		errors.Is(err, lines.ErrNoSuchLine), errors.Is(err, lines.ErrNoSuchRotary):
		// Whatever the reason, there is no line to call back on; the detail says which.
		return CauseNoFreeLine
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return CauseCancelled
	}
	return CauseError
}

func causeOfDial(ctx context.Context, err error) string {
	switch {
	case ctx.Err() != nil:
		return CauseCancelled
	case errors.Is(err, modem.ErrBusy):
		return CauseBusy
	case errors.Is(err, modem.ErrNoAnswer):
		return CauseNoAnswer
	case errors.Is(err, modem.ErrNoCarrier), errors.Is(err, modem.ErrCarrierLost):
		return CauseNoCarrier
	case errors.Is(err, modem.ErrNoDialtone):
		return CauseNoDialtone
	case errors.Is(err, chat.ErrTimeout), errors.Is(err, modem.ErrNoResponse):
		return CauseTimeout
	case errors.Is(err, lines.ErrIllegalTransition):
		return CauseLineDown
	}
	return CauseError
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// MaxNumberLen bounds a callback number; a longer one is refused.
const MaxNumberLen = 40

// ErrBadNumber is a callback number that could smuggle modem commands into the dial script.
var ErrBadNumber = errors.New("callback number is not a dial string")

// CheckNumber accepts a dial string: digits and the V.250 §6.3.1 dial modifiers (* # + , ! @
// W P T, and A-D for DTMF) plus the blanks, dashes, dots and parentheses people write in
// numbers. It refuses anything else, since the number is sent inside `ATDT \T` and a ';',
// CR or letter could append commands of the caller's choosing.
func CheckNumber(n string) error {
	if n == "" {
		return fmt.Errorf("%w: empty", ErrBadNumber)
	}
	if len(n) > MaxNumberLen {
		return fmt.Errorf("%w: longer than %d characters", ErrBadNumber, MaxNumberLen)
	}
	digits := 0
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'A' && c <= 'D', c >= 'a' && c <= 'd':
		case c == '*' || c == '#' || c == '+' || c == ',' || c == '!' || c == '@':
		case c == 'W' || c == 'w' || c == 'P' || c == 'p' || c == 'T' || c == 't':
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return fmt.Errorf("%w: character %q at %d", ErrBadNumber, c, i)
		}
	}
	if digits == 0 {
		return fmt.Errorf("%w: no digits", ErrBadNumber)
	}
	return nil
}
