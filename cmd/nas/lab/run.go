package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/dialback/nas/aaa/methods"
	"github.com/dialback/nas/config"
	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/lines/modem"
	"github.com/dialback/nas/lines/pstn"
	"github.com/dialback/nas/session"
	"github.com/dialback/nas/session/caller"
	"github.com/dialback/nas/session/event"
)

// Options say how a scenario's run is shown.
type Options struct {
	// Out receives the timeline (or JSON lines).
	Out io.Writer
	// JSON prints one event per line as JSON instead of the readable timeline.
	JSON bool
	// Log receives the NAS's and the callers' logs (nil: discarded).
	Log *slog.Logger
}

// Report is the outcome of one scenario.
type Report struct {
	Name     string
	Met      int
	Total    int
	Unmet    *Expectation // the first expectation not met, if any
	Events   []event.Event
	Duration time.Duration
	// Err is a failure to run the scenario at all (a bad configuration, a port not on the
	// simulated network).
	Err error
	// CallerErrors are what went wrong for the callers; they explain an unmet expectation.
	CallerErrors []error
}

// Passed reports whether every expectation was met.
func (r Report) Passed() bool { return r.Err == nil && r.Met == r.Total }

// Run runs one scenario: the NAS of its configuration on a fresh simulated network, its
// callers, until every expectation is met or the scenario's timeout passes.
func Run(ctx context.Context, s *Scenario, o Options) Report {
	start := time.Now()
	rep := Report{Name: s.Name, Total: len(s.Expect)}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("scenario", s.Name)
	cfg, err := config.Parse(s.ConfigYAML())
	if err != nil {
		rep.Err = fmt.Errorf("scenario %s: configuration: %w", s.Name, err)
		return rep
	}
	embedded, err := startEmbeddedRADIUS(s, cfg, log)
	if err != nil {
		rep.Err = fmt.Errorf("scenario %s: %w", s.Name, err)
		return rep
	}
	if embedded != nil {
		defer embedded.Close()
	}
	embeddedTACACS, err := startEmbeddedTACACS(s, cfg, log)
	if err != nil {
		rep.Err = fmt.Errorf("scenario %s: %w", s.Name, err)
		return rep
	}
	if embeddedTACACS != nil {
		defer embeddedTACACS.Close()
	}
	lists, err := methods.Build(cfg, log)
	if err != nil {
		rep.Err = fmt.Errorf("scenario %s: %w", s.Name, err)
		return rep
	}
	defer lists.Close()
	acctSpool, err := openLabSpool(cfg, lists, log)
	if err != nil {
		rep.Err = fmt.Errorf("scenario %s: %w", s.Name, err)
		return rep
	}
	defer acctSpool.close()
	x := pstn.New(pstn.Options{RingPeriod: cfg.PSTN.RingPeriod, NoAnswerRings: cfg.PSTN.NoAnswerRings,
		BitErrorRate: cfg.PSTN.BitErrorRate, Latency: cfg.PSTN.Latency, ConnectSpeed: cfg.PSTN.ConnectSpeed,
		TrainingDelay: 50 * time.Millisecond, Log: log.With("component", "pstn")})
	defer x.Close()

	ports := map[int]lines.Port{}
	for _, tty := range cfg.TTYs() {
		num, ok := config.SimNumber(tty.Spec.Port)
		if !ok {
			rep.Err = fmt.Errorf("scenario %s: line %d: port %q is not on the simulated network (sim:NUMBER)", s.Name, tty.Num, tty.Spec.Port)
			return rep
		}
		p, err := x.Attach(num)
		if err != nil {
			rep.Err = fmt.Errorf("scenario %s: line %d: %w", s.Name, tty.Num, err)
			return rep
		}
		ports[tty.Num] = p
	}

	rec := &event.Recorder{}
	sinks := event.Fanout{rec, event.LogSink{Log: log}}
	if o.Out != nil {
		sinks = append(sinks, &printer{w: o.Out, json: o.JSON, start: start})
	}
	pppSvc, err := session.NewPPP(cfg, session.PPPOptions{Methods: lists.PPP})
	if err != nil {
		rep.Err = fmt.Errorf("scenario %s: %w", s.Name, err)
		return rep
	}
	srv, err := session.New(session.Options{
		Config: cfg, Ports: ports, Login: lists.Login, Local: lists.Local, PPP: pppSvc.Handle,
		Events: sinks, Log: log, Banner: cfg.Hostname + " lab line",
		Modem: labModem(log), Accounting: acctSpool.spool,
	})
	if err != nil {
		rep.Err = fmt.Errorf("scenario %s: %w", s.Name, err)
		return rep
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	srvCtx, stopSrv := context.WithCancel(context.Background())
	srvDone := make(chan struct{})
	go func() {
		defer close(srvDone)
		_ = srv.Run(srvCtx)
	}()
	defer func() {
		stopSrv()
		<-srvDone
	}()
	for _, tty := range cfg.TTYs() {
		if _, err := srv.Table().Wait(ctx, tty.Num, func(i lines.Info) bool { return i.State == lines.Idle }); err != nil {
			rep.Err = fmt.Errorf("scenario %s: line %d did not come up: %w", s.Name, tty.Num, err)
			return rep
		}
	}

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		callErr []error
	)
	callCtx, stopCallers := context.WithCancel(ctx)
	for _, c := range s.Callers {
		cl, err := caller.New(x, c.Phone, caller.Options{Modem: labModem(log), Log: log.With("component", "caller")})
		if err != nil {
			rep.Err = fmt.Errorf("scenario %s: %w", s.Name, err)
			stopCallers()
			wg.Wait()
			return rep
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := playCaller(callCtx, cl, c, cfg.Hostname, log); err != nil && callCtx.Err() == nil {
				mu.Lock()
				callErr = append(callErr, fmt.Errorf("caller %s: %w", c.Phone, err))
				mu.Unlock()
			}
		}()
	}

	// Judge as events arrive; stop at the first moment all are met, or at the timeout.
	for {
		changed := rec.Changed()
		rep.Met = Judge(s.Expect, rec.Events())
		if rep.Met == rep.Total {
			break
		}
		select {
		case <-changed:
			continue
		case <-ctx.Done():
		}
		break
	}
	stopCallers()
	wg.Wait()
	rep.Events = rec.Events()
	rep.Met = Judge(s.Expect, rep.Events)
	if rep.Met < rep.Total {
		x := s.Expect[rep.Met]
		rep.Unmet = &x
	}
	rep.CallerErrors = callErr
	rep.Duration = time.Since(start)
	return rep
}

// play is what a simulated user does: dial, answer the NAS's prompts, run the commands,
// answer the callback (or be busy), until the scenario stops it.
func play(ctx context.Context, c *caller.Caller, p Caller, hostname string) error {
	defer c.Close()
	if p.Delay > 0 {
		select {
		case <-time.After(p.Delay):
		case <-ctx.Done():
			return nil
		}
	}
	if _, err := c.Dial(ctx, p.Dial); err != nil {
		return err
	}
	prompt := hostname + ">"
	called := false
	commands := p.Commands
	if commands == nil {
		commands = []string{"show users", "exit"}
	}
	for {
		which, _, err := c.ExpectAny(ctx, "Username: ", "Password: ", "Dialstring: ", prompt)
		if errors.Is(err, caller.ErrHungUp) {
			if p.Busy {
				// Off the hook until the scenario ends: the NAS's call back finds the line busy.
				if _, err := c.Port().Write([]byte("ATH1\r")); err != nil {
					return err
				}
				<-ctx.Done()
				return nil
			}
			if !p.AnswerCallback || called {
				return nil
			}
			called = true
			if _, err := c.Answer(ctx); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		switch which {
		case 0:
			err = c.SendLine(p.Username)
		case 1:
			err = c.SendLine(p.Password)
		case 2:
			err = c.SendLine(p.CallbackNumber)
		case 3:
			if len(commands) == 0 {
				_, err = c.WaitHangup(ctx)
				return err
			}
			err = c.SendLine(commands[0])
			commands = commands[1:]
		}
		if err != nil {
			return err
		}
	}
}

// labModem is the modem driver template of the lab: the simulated modems answer at once, so
// the waits can be short.
func labModem(log *slog.Logger) modem.Options {
	return modem.Options{CommandTimeout: 2 * time.Second, GuardTime: 100 * time.Millisecond,
		ConnectTimeout: 10 * time.Second, Log: log.With("component", "modem")}
}

// printer writes the timeline, or JSON lines.
type printer struct {
	mu    sync.Mutex
	w     io.Writer
	json  bool
	start time.Time
}

func (p *printer) Emit(e event.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		b, err := json.Marshal(e)
		if err == nil {
			fmt.Fprintf(p.w, "%s\n", b)
		}
		return
	}
	fmt.Fprintf(p.w, "  %7.3fs  %-19s %s\n", e.Time.Sub(p.start).Seconds(), e.Kind, fields(e))
}

func fields(e event.Event) string {
	var b strings.Builder
	add := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s=%s ", k, v)
		}
	}
	if e.Line != 0 {
		add("line", fmt.Sprint(e.Line))
	}
	add("user", e.User)
	add("protocol", e.Protocol)
	add("leg", e.Leg)
	add("number", e.Number)
	if e.Rotary != 0 {
		add("rotary", fmt.Sprint(e.Rotary))
	}
	add("address", e.Address)
	add("cause", e.Cause)
	if e.Detail != "" {
		fmt.Fprintf(&b, "(%s)", e.Detail)
	}
	return strings.TrimSpace(b.String())
}
