package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/dialback/nas/callback"
	"github.com/dialback/nas/config"
	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/lines/chat"
	"github.com/dialback/nas/lines/modem"
	"github.com/dialback/nas/session/event"
)

// worker owns one line: its port, its modem and every call on it. Its loop is driven by the
// line's state in the table, so that a reservation made by the dialler (or the line going
// down) steers it without a second source of truth.
type worker struct {
	srv  *Server
	num  int
	tty  config.TTY
	spec config.LineSpec
	log  *slog.Logger
	cmds chan *lineCmd
	done chan struct{}

	port      lines.Port
	opened    bool // the worker opened port with Options.Open, so it closes it
	m         *modem.Modem
	failures  int
	downSaid  bool // line.down was emitted for the current outage
	startedUp bool // the startup script has run

	mu   sync.Mutex // guards loc and uses, read by other lines' `show` commands
	loc  string
	uses int
}

func (w *worker) state() lines.State {
	l, _ := w.srv.table.Line(w.num)
	return l.State()
}

func (w *worker) emit(kind string, e event.Event) {
	e.Kind = kind
	e.Line = w.num
	w.srv.emit(e)
}

// run is the line's loop until ctx ends.
func (w *worker) run(ctx context.Context) {
	defer close(w.done)
	defer w.closePort()
	for ctx.Err() == nil {
		switch st := w.state(); st {
		case lines.Down:
			w.recover(ctx)
		case lines.Resetting:
			w.reset(ctx)
		case lines.Idle:
			w.idle(ctx)
		case lines.Reserved, lines.Dialling:
			w.reserved(ctx)
		default:
			// A call state with no call: a previous phase ended without EndCall.
			w.log.Warn("line in a call state without a call; resetting", "state", st)
			_, _ = w.srv.table.EndCall(w.num, "recovered")
		}
	}
}

func (w *worker) closePort() {
	if w.opened && w.port != nil {
		if err := w.port.Close(); err != nil {
			w.log.Debug("close port", "err", err)
		}
	}
	w.port, w.m, w.opened = nil, nil, false
}

// down marks the line Down; line.down is emitted once per outage.
func (w *worker) down(reason string, err error) {
	w.failures++
	if serr := w.srv.table.SetState(w.num, lines.Down, reason); serr != nil {
		w.log.Warn("mark line down", "err", serr)
	}
	if !w.downSaid {
		w.downSaid = true
		w.emit(event.LineDown, event.Event{Cause: reason, Detail: errText(err)})
	}
	w.log.Warn("line down", "reason", reason, "err", err, "failures", w.failures)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// recover brings a Down line back: wait out the backoff, (re)open the port, reset.
func (w *worker) recover(ctx context.Context) {
	if w.failures > 0 {
		backoff := w.srv.timing.RetryMin << min(w.failures-1, 16)
		if backoff > w.srv.timing.RetryMax || backoff <= 0 {
			backoff = w.srv.timing.RetryMax
		}
		if sleep(ctx, backoff) != nil {
			return
		}
	}
	if w.port == nil {
		p, ok := w.srv.opts.Ports[w.num]
		switch {
		case ok:
			w.port = p
		default:
			op, err := w.srv.opts.Open(ctx, w.tty)
			if err != nil {
				if ctx.Err() == nil {
					w.down("port open failed", err)
				}
				return
			}
			w.port, w.opened = op, true
		}
		mo := w.srv.opts.Modem
		mo.Init, mo.Answer, mo.AnswerRings = w.spec.Modem.Init, w.spec.Modem.Answer, w.spec.Modem.AnswerRings
		mo.Hangup = w.spec.Modem.Hangup
		if mo.Log == nil {
			mo.Log = w.log
		} else {
			mo.Log = mo.Log.With("line", w.num)
		}
		w.m = modem.New(w.port, mo)
	}
	if err := w.srv.table.SetState(w.num, lines.Resetting, "reset"); err != nil {
		w.log.Warn("leave down state", "err", err)
	}
}

// reset brings the modem to a known state and the line to Idle, or the line Down.
func (w *worker) reset(ctx context.Context) {
	if w.m == nil {
		// Resetting without a port: only after a failure that closed it.
		w.down("no port", nil)
		return
	}
	err := w.m.Reset(ctx)
	if err == nil && !w.startedUp {
		err = w.runScript(ctx, "startup", w.spec.Script.Startup)
		w.startedUp = err == nil
	}
	if err == nil {
		err = w.runScript(ctx, "reset", w.spec.Script.Reset)
	}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		reason := "modem not responding"
		if portGone(err) {
			reason = "port gone"
			if w.opened {
				w.closePort() // reopened by recover
			}
		}
		w.down(reason, err)
		return
	}
	if err := w.srv.table.SetState(w.num, lines.Idle, "ready"); err != nil {
		w.log.Warn("line ready", "err", err)
		return
	}
	w.failures, w.downSaid = 0, false
}

func portGone(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, modem.ErrCarrierLost)
}

func (w *worker) runScript(ctx context.Context, what, name string) error {
	if name == "" {
		return nil
	}
	sc := w.srv.scripts[name]
	if _, err := sc.RunWith(ctx, w.port, chat.Vars{Logger: w.log}, w.srv.timing.Chat); err != nil {
		return fmt.Errorf("line %d: script %s %q: %w", w.num, what, name, err)
	}
	return nil
}

// idle waits for a call. It stops waiting as soon as the line is reserved for a callback or
// taken down, so that the dialler gets a modem in command mode.
func (w *worker) idle(ctx context.Context) {
	if w.acctRefusing(ctx) {
		return
	}
	actx, cancel := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		_, _ = w.srv.table.Wait(actx, w.num, func(i lines.Info) bool {
			return i.State != lines.Idle && i.State != lines.Ringing
		})
		cancel()
	}()
	defer func() {
		cancel()
		<-watched
	}()

	onRing := func(n int, cid modem.CallerID) {
		if w.state() == lines.Idle {
			if err := w.srv.table.SetState(w.num, lines.Ringing, "ring"); err != nil {
				// Reserved between the check and now: let the reservation have the line.
				cancel()
				return
			}
		}
		w.emit(event.LineRing, event.Event{Number: cid.Number, Detail: fmt.Sprintf("ring %d", n)})
	}
	call, err := w.m.Answer(actx, onRing)
	if err != nil {
		switch {
		case ctx.Err() != nil:
		case actx.Err() != nil:
			// Reserved (or taken down): a Ringing line goes back to idle first.
			if w.state() == lines.Ringing {
				_ = w.srv.table.SetState(w.num, lines.Idle, "answer cancelled")
			}
		case portGone(err):
			w.down("port gone", err)
			if w.opened {
				w.closePort()
			}
		case w.state() == lines.Ringing:
			// Rang but did not connect (no carrier, ATA timed out): reset and wait again.
			w.log.Info("answer failed", "err", err)
			_, _ = w.srv.table.EndCall(w.num, "answer failed")
		default:
			// Failed before any RING: the port or modem is in trouble. Down, with backoff,
			// rather than a tight loop of failing answers.
			w.down("answer failed", err)
		}
		return
	}
	if w.state() == lines.Idle {
		_ = w.srv.table.SetState(w.num, lines.Ringing, "auto answer")
	}
	if err := w.srv.table.SetState(w.num, lines.Connected, "answered"); err != nil {
		// The line was reserved as the modem answered: the reservation wins.
		w.log.Info("call answered on a line reserved meanwhile; hanging up", "err", err)
		w.hangup(ctx)
		return
	}
	w.emit(event.CallAnswered, event.Event{Number: call.CallerID.Number, Leg: event.LegFirst, Detail: call.Connect})
	w.serve(ctx, call, event.LegFirst, nil)
}

// serve runs a session on a connected call and ends the call.
func (w *worker) serve(ctx context.Context, call modem.Call, leg string, job *callback.Job) {
	a := w.newLeg(call, leg, job)
	w.mu.Lock()
	w.loc = a.callerID // the remote party: the caller, or the number called back
	w.uses++
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.loc = ""
		w.mu.Unlock()
	}()
	if err := w.srv.table.SetState(w.num, lines.InUse, "exec"); err != nil {
		w.log.Warn("line in use", "err", err)
	}
	s := &session{
		srv: w.srv, w: w, spec: w.spec, leg: leg, conn: a.count(w.m.Data()), call: call, job: job,
		log: w.log.With("leg", leg), proto: ProtoExec, acct: a,
	}
	out := a.run(ctx, s.run)
	if out.Cause == "" {
		out.Cause = CauseLogout
	}
	a.stop(ctx, &out)
	w.emit(event.SessionDown, event.Event{User: s.user, Protocol: s.proto, Leg: leg, Cause: out.Cause})

	if out.Callback != nil && ctx.Err() == nil {
		lease := w.srv.startJob(ctx, out.Callback)
		w.holdForHangup(ctx, lease)
	} else {
		w.hangup(ctx)
		w.emit(event.LineHangup, event.Event{User: s.user, Protocol: s.proto, Leg: leg, Cause: out.Cause})
	}
	a.flush(ctx)
	if _, err := w.srv.table.EndCall(w.num, out.Cause); err != nil {
		w.log.Warn("end call", "err", err)
	}
}

// carrier reads DCD on a port with modem control: nil while the carrier is up (or cannot be
// read), an error wrapping modem.ErrCarrierLost once it has dropped.
func (w *worker) carrier() error {
	mc, err := lines.ModemControlOf(w.port)
	if err != nil {
		return nil
	}
	st, err := mc.ModemStatus()
	if err != nil || st.DCD {
		return nil
	}
	return fmt.Errorf("line %d: DCD is off: %w", w.num, modem.ErrCarrierLost)
}

// hangup ends the modem's call; when ctx has ended (shutdown) it still gets a bounded try.
func (w *worker) hangup(ctx context.Context) {
	hctx := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), w.srv.timing.HangupTimeout)
		defer cancel()
	}
	if err := w.m.Hangup(hctx); err != nil {
		w.log.Warn("hang-up failed", "err", err)
	}
}

// hangupDSR is the callback hang-up: drop the call, then wait up to nodsr for DSR to drop
// (IOS `callback nodsr-wait`), watching from before the hang-up so a short drop is not missed.
func (w *worker) hangupDSR(ctx context.Context, nodsr time.Duration) error {
	mc, err := lines.ModemControlOf(w.port)
	if err != nil || nodsr <= 0 {
		return w.m.Hangup(ctx)
	}
	start := time.Now()
	dropped := make(chan struct{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(w.srv.timing.DSRPoll)
		defer tick.Stop()
		for {
			st, err := mc.ModemStatus()
			if err != nil || !st.DSR {
				close(dropped)
				return
			}
			select {
			case <-tick.C:
			case <-stop:
				return
			}
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()
	herr := w.m.Hangup(ctx)
	t := time.NewTimer(nodsr - time.Since(start))
	defer t.Stop()
	select {
	case <-dropped:
	case <-t.C:
		w.log.Info("DSR did not drop within nodsr-wait", "nodsr_wait", nodsr)
	case <-ctx.Done():
	}
	return herr
}

// holdForHangup keeps a first leg whose session asked for a callback until the dialler hangs
// it up (after reserving the callback line), or gives up on the job.
func (w *worker) holdForHangup(ctx context.Context, lease context.Context) {
	for {
		select {
		case c := <-w.cmds:
			if c.kind != cmdHangup {
				c.reply <- cmdReply{err: fmt.Errorf("line %d holds a call for a callback: %s: %w",
					w.num, c.kind, lines.ErrLineBusy)}
				continue
			}
			c.reply <- cmdReply{err: w.hangupDSR(c.ctx, c.nodsr)}
			return
		case <-lease.Done():
			w.log.Warn("callback ended without hanging up the first leg; hanging up")
			w.hangup(ctx)
			w.emit(event.LineHangup, event.Event{Leg: event.LegFirst, Cause: CauseCallback})
			return
		case <-ctx.Done():
			w.hangup(ctx)
			w.emit(event.LineHangup, event.Event{Leg: event.LegFirst, Cause: CauseShutdown})
			return
		}
	}
}

// reserved waits, with the modem in command mode, for the reservation's owner to dial, or
// for the reservation to end.
func (w *worker) reserved(ctx context.Context) {
	wctx, cancel := context.WithCancel(ctx)
	left := make(chan struct{})
	go func() {
		defer close(left)
		_, _ = w.srv.table.Wait(wctx, w.num, func(i lines.Info) bool {
			return i.State != lines.Reserved && i.State != lines.Dialling
		})
	}()
	defer func() {
		cancel()
		<-left
	}()
	for {
		select {
		case c := <-w.cmds:
			switch c.kind {
			case cmdDial:
				w.dial(ctx, c)
				return
			case cmdHangup:
				c.reply <- cmdReply{} // nothing on the line to hang up
			default:
				c.reply <- cmdReply{err: fmt.Errorf("line %d has no call to start a leg on", w.num)}
			}
		case <-left:
			return
		case <-ctx.Done():
			return
		}
	}
}

// dial carries out the dialler's Dial on this line and, on CONNECT, holds the call for
// StartLeg.
func (w *worker) dial(ctx context.Context, c *lineCmd) {
	dctx, cancel := context.WithCancel(c.ctx)
	stop := context.AfterFunc(ctx, cancel)
	call, err := w.m.Dial(dctx, c.script, c.number)
	stop()
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			// Shutting down mid-dial: the modem may still be off-hook; no reset follows.
			w.hangup(ctx)
		}
		if _, eerr := w.srv.table.EndCall(w.num, "callback dial failed"); eerr != nil {
			w.log.Warn("end failed dial", "err", eerr)
		}
		c.reply <- cmdReply{err: fmt.Errorf("line %d: %w", w.num, err)}
		return
	}
	if err := w.srv.table.SetState(w.num, lines.Connected, "callback connected"); err != nil {
		w.log.Warn("callback connected on a line not dialling", "err", err)
		w.hangup(ctx)
		_, _ = w.srv.table.EndCall(w.num, "callback connected on a line not dialling")
		c.reply <- cmdReply{err: fmt.Errorf("line %d: %w", w.num, err)}
		return
	}
	c.reply <- cmdReply{call: call}
	w.holdDialled(ctx, c.ctx, call)
}

// holdDialled keeps a connected callback until the dialler starts its leg.
func (w *worker) holdDialled(ctx, lease context.Context, call modem.Call) {
	for {
		select {
		case c := <-w.cmds:
			switch c.kind {
			case cmdStartLeg:
				c.reply <- cmdReply{}
				w.serve(ctx, call, event.LegCallback, c.job)
				return
			case cmdHangup:
				c.reply <- cmdReply{err: w.hangupDSR(c.ctx, c.nodsr)}
				_, _ = w.srv.table.EndCall(w.num, "callback hung up")
				return
			default:
				c.reply <- cmdReply{err: fmt.Errorf("line %d holds a connected callback: %s: %w",
					w.num, c.kind, lines.ErrLineBusy)}
			}
		case <-lease.Done():
			w.log.Warn("connected callback abandoned by the dialler; hanging up")
			w.hangup(ctx)
			_, _ = w.srv.table.EndCall(w.num, "callback abandoned")
			return
		case <-ctx.Done():
			w.hangup(ctx)
			_, _ = w.srv.table.EndCall(w.num, CauseShutdown)
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
