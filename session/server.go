// Package session owns one call's life on a line: answering, flush-at-activation, autoselect
// (PPP, ARAP, text), the IOS EXEC login dialog and user-EXEC commands, timeouts, teardown and
// the call events. Its Server runs one worker per line that owns the line's port and modem,
// and implements callback.Lines so that the dialler can hang up, dial and start callback legs.
package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/callback"
	"github.com/dialback/nas/config"
	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/lines/chat"
	"github.com/dialback/nas/lines/modem"
	"github.com/dialback/nas/session/event"
)

// Options configure a Server.
type Options struct {
	// Config is the NAS configuration: hostname, chat scripts, service and callback switches.
	Config *config.Config
	// TTYs are the lines to run; nil means Config.TTYs().
	TTYs []config.TTY
	// Ports are open ports by TTY number. A line missing here is opened with Open.
	Ports map[int]lines.Port
	// Open opens a line's port, and reopens it after the port failed. With Open set, the
	// server closes the ports it opened; ports from Ports belong to the caller.
	Open func(ctx context.Context, tty config.TTY) (lines.Port, error)

	// Login is the aaa login method list (lines with `login authentication`).
	Login aaa.MethodList
	// Local is the local user table, for lines with `login local`.
	Local aaa.Method
	// PPP and ARAP serve callers that autoselect recognised. Nil: the caller is refused
	// ("PPP caller on line N, PPP not enabled") and the line hung up.
	PPP, ARAP Handler

	Events event.Sink
	Log    *slog.Logger
	// Banner is shown when a call activates, before the login dialog; "" for none.
	Banner string
	Timing Timing
	// Modem is the template for every line's modem driver: its timings and logger. Init,
	// Answer, AnswerRings and Hangup come from each line's configuration.
	Modem modem.Options
	// Accounting is the accounting spool (an *acct.Spool): every leg gets its Start and Stop
	// there, and lines answer only while it admits calls. Nil: no accounting.
	Accounting AcctSpool
}

// Timing holds the server's own durations. Zero fields take the defaults.
type Timing struct {
	// FlushWindow is how long input is discarded at activation (flush-at-activation).
	FlushWindow time.Duration
	// RetryMin and RetryMax bound the backoff between attempts to bring a Down line back.
	RetryMin, RetryMax time.Duration
	// DSRPoll is how often DSR is read while waiting for it to drop (callback nodsr-wait).
	DSRPoll time.Duration
	// HangupTimeout bounds a hang-up when the server is shutting down.
	HangupTimeout time.Duration
	// Chat holds the timings of the reset and startup scripts.
	Chat chat.Timing
	// MinInterim is the shortest Interim-Update interval honoured (default 60 s, RFC 2869
	// §5.16); tests lower it.
	MinInterim time.Duration
	// AdmitPoll is how often a line held down by an unavailable accounting spool asks again.
	AdmitPoll time.Duration
	// AcctRetryMax caps the wait between attempts to append a Stop the spool refused.
	AcctRetryMax time.Duration
}

// Defaults of Timing.
const (
	DefaultFlushWindow   = 200 * time.Millisecond
	DefaultRetryMin      = time.Second
	DefaultRetryMax      = time.Minute
	DefaultDSRPoll       = 10 * time.Millisecond
	DefaultHangupTimeout = 10 * time.Second
)

func (t Timing) withDefaults() Timing {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.FlushWindow, DefaultFlushWindow)
	def(&t.RetryMin, DefaultRetryMin)
	def(&t.RetryMax, DefaultRetryMax)
	def(&t.DSRPoll, DefaultDSRPoll)
	def(&t.HangupTimeout, DefaultHangupTimeout)
	def(&t.MinInterim, DefaultMinInterim)
	def(&t.AdmitPoll, DefaultAdmitPoll)
	def(&t.AcctRetryMax, DefaultAcctRetryMax)
	return t
}

// Server runs the lines. Create it with New, then Run it.
type Server struct {
	opts    Options
	cfg     *config.Config
	table   *lines.Table
	scripts map[string]*chat.Script
	workers map[int]*worker
	order   []*worker
	dialler *callback.Dialler
	timing  Timing
	banner  string
	log     *slog.Logger
	events  event.Sink

	jobs sync.WaitGroup
	mu   sync.Mutex
	ran  bool
	acct acctRegistry
}

// ErrLineStopped is returned for a request to a line whose worker is no longer running.
var ErrLineStopped = errors.New("line worker stopped")

// New builds a server: the line table, the parsed chat scripts, one worker per TTY and the
// callback dialler. It does not touch any port until Run.
func New(opts Options) (*Server, error) {
	if opts.Config == nil {
		return nil, errors.New("session server: no configuration")
	}
	cfg := opts.Config
	ttys := opts.TTYs
	if ttys == nil {
		ttys = cfg.TTYs()
	}
	if len(ttys) == 0 {
		return nil, errors.New("session server: no lines configured")
	}
	s := &Server{
		opts:    opts,
		cfg:     cfg,
		scripts: make(map[string]*chat.Script, len(cfg.ChatScripts)),
		workers: make(map[int]*worker, len(ttys)),
		timing:  opts.Timing.withDefaults(),
		banner:  opts.Banner,
		log:     opts.Log,
		events:  opts.Events,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.events == nil {
		s.events = event.SinkFunc(func(event.Event) {})
	}
	for name, text := range cfg.ChatScripts {
		sc, err := chat.Parse(text)
		if err != nil {
			return nil, fmt.Errorf("chat-script %q: %w", name, err)
		}
		s.scripts[name] = sc
	}
	defs := make([]lines.LineDef, 0, len(ttys))
	for _, tty := range ttys {
		spec := tty.Spec.WithDefaults()
		for what, name := range map[string]string{
			"callback": spec.Script.Callback, "reset": spec.Script.Reset, "startup": spec.Script.Startup,
		} {
			if _, ok := s.scripts[name]; name != "" && !ok {
				return nil, fmt.Errorf("line %d: script %s %q: no such chat-script", tty.Num, what, name)
			}
		}
		if _, ok := opts.Ports[tty.Num]; !ok && opts.Open == nil {
			return nil, fmt.Errorf("line %d: no port given and no opener", tty.Num)
		}
		defs = append(defs, lines.LineDef{
			Num: tty.Num, Rotary: spec.Rotary, Dialin: spec.Modem.Mode == callback.ModeDialin, Port: spec.Port,
		})
		w := &worker{
			srv: s, num: tty.Num, tty: config.TTY{Num: tty.Num, Spec: spec}, spec: spec,
			log:  s.log.With("line", tty.Num),
			cmds: make(chan *lineCmd),
			done: make(chan struct{}),
		}
		if _, dup := s.workers[tty.Num]; dup {
			return nil, fmt.Errorf("line %d configured twice", tty.Num)
		}
		s.workers[tty.Num] = w
		s.order = append(s.order, w)
	}
	t, err := lines.NewTable(defs)
	if err != nil {
		return nil, fmt.Errorf("session server: %w", err)
	}
	s.table = t
	s.dialler = &callback.Dialler{
		Table: t, Lines: s, Events: event.SinkFunc(s.emit), Log: s.log.With("component", "callback"),
		Retries: cfg.Callback.Retries, Scripts: s.scripts,
		LineScript: func(n int) string {
			if w, ok := s.workers[n]; ok {
				return w.spec.Script.Callback
			}
			return ""
		},
	}
	return s, nil
}

// Table is the line table, for `show line` and the lab.
func (s *Server) Table() *lines.Table { return s.table }

// Dialler is the callback engine the server hands callbacks to (its Retries and timings may
// be adjusted before Run).
func (s *Server) Dialler() *callback.Dialler { return s.dialler }

func (s *Server) emit(e event.Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	s.events.Emit(e)
}

// Run runs every line until ctx ends, then hangs up every call, stops the callbacks in
// progress and returns. It may be called once.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.ran {
		s.mu.Unlock()
		return errors.New("session server: Run called twice")
	}
	s.ran = true
	s.mu.Unlock()

	var wg sync.WaitGroup
	for _, w := range s.order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(ctx)
		}()
	}
	s.log.Info("lines started", "count", len(s.order))
	wg.Wait()
	s.jobs.Wait()
	s.log.Info("lines stopped")
	return nil
}

// startJob hands a callback to the dialler. The returned context ends when the dialler is
// done with the job: a line held for it stops waiting then.
func (s *Server) startJob(ctx context.Context, job *callback.Job) context.Context {
	jctx, cancel := context.WithCancel(ctx)
	s.jobs.Add(1)
	go func() {
		defer s.jobs.Done()
		defer cancel()
		if err := s.dialler.Run(jctx, job); err != nil {
			s.log.Debug("callback ended without a callback leg", "user", job.User, "err", err)
		}
	}()
	return jctx
}

// location is the caller's number on line n's current call, for `show users`.
func (s *Server) location(n int) string {
	if w, ok := s.workers[n]; ok {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.loc
	}
	return ""
}

// lineFacts are line n's speed, modem mode and number of calls, for `show line`.
func (s *Server) lineFacts(n int) (speed int, mode string, uses int) {
	if w, ok := s.workers[n]; ok {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.spec.Speed, w.spec.Modem.Mode, w.uses
	}
	return 0, "", 0
}

// Requests from the dialler to a line's worker (callback.Lines).

type cmdKind int

const (
	cmdHangup cmdKind = iota
	cmdDial
	cmdStartLeg
)

func (k cmdKind) String() string {
	return [...]string{"hangup", "dial", "start-leg"}[k]
}

type lineCmd struct {
	kind   cmdKind
	ctx    context.Context
	nodsr  time.Duration
	script *chat.Script
	number string
	job    *callback.Job
	reply  chan cmdReply // buffered: the worker never blocks on a requester that gave up
}

type cmdReply struct {
	call modem.Call
	err  error
}

// errNotDelivered: the request never reached the worker.
var errNotDelivered = errors.New("request not delivered")

func (s *Server) send(ctx context.Context, line int, c *lineCmd) (cmdReply, error) {
	w, ok := s.workers[line]
	if !ok {
		return cmdReply{}, fmt.Errorf("line %d: %s: %w", line, c.kind, lines.ErrNoSuchLine)
	}
	c.ctx = ctx
	c.reply = make(chan cmdReply, 1)
	select {
	case w.cmds <- c:
	case <-ctx.Done():
		return cmdReply{}, fmt.Errorf("line %d: %s: %w: %w", line, c.kind, errNotDelivered, ctx.Err())
	case <-w.done:
		return cmdReply{}, fmt.Errorf("line %d: %s: %w: %w", line, c.kind, errNotDelivered, ErrLineStopped)
	}
	select {
	case r := <-c.reply:
		return r, r.err
	case <-ctx.Done():
		return cmdReply{}, fmt.Errorf("line %d: %s: %w", line, c.kind, ctx.Err())
	}
}

// Hangup implements callback.Lines: it hangs up the call held on line for the dialler.
func (s *Server) Hangup(ctx context.Context, line int, nodsrWait time.Duration) error {
	_, err := s.send(ctx, line, &lineCmd{kind: cmdHangup, nodsr: nodsrWait})
	return err
}

// Dial implements callback.Lines.
func (s *Server) Dial(ctx context.Context, line int, script *chat.Script, number string) (modem.Call, error) {
	r, err := s.send(ctx, line, &lineCmd{kind: cmdDial, script: script, number: number})
	if errors.Is(err, errNotDelivered) {
		// The worker never saw the dial: end the attempt for it, as Lines promises.
		if _, eerr := s.table.EndCall(line, "callback dial not started"); eerr != nil {
			s.log.Warn("end of an undelivered dial", "line", line, "err", eerr)
		}
	}
	return r.call, err
}

// StartLeg implements callback.Lines. The worker serves the call it dialled itself, so the
// call passed back here is not needed.
func (s *Server) StartLeg(ctx context.Context, line int, _ modem.Call, job *callback.Job) error {
	_, err := s.send(ctx, line, &lineCmd{kind: cmdStartLeg, job: job})
	return err
}
