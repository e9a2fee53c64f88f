package session_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/local"
	"github.com/dialback/nas/config"
	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/lines/modem"
	"github.com/dialback/nas/lines/pstn"
	"github.com/dialback/nas/session"
	"github.com/dialback/nas/session/caller"
	"github.com/dialback/nas/session/event"
)

// testLog is quiet unless NAS_TEST_LOG is set.
func testLog(t testing.TB) *slog.Logger {
	if os.Getenv("NAS_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
}

// fastModem is the modem template for every modem in the tests: short waits everywhere.
func fastModem(log *slog.Logger) modem.Options {
	return modem.Options{
		CommandTimeout: time.Second,
		GuardTime:      20 * time.Millisecond,
		ConnectTimeout: 5 * time.Second,
		RingGap:        time.Second,
		CarrierPoll:    5 * time.Millisecond,
		HoldBack:       5 * time.Millisecond,
		Log:            log,
	}
}

// serverModem is the NAS's modem template: fast, with caller ID.
func serverModem(log *slog.Logger) modem.Options {
	o := fastModem(log)
	o.CallerID = true
	return o
}

// lineSpec is a test line: defaults, a sim port, short timeouts, no flush.
func lineSpec(n int, number string) config.LineSpec {
	s := config.DefaultLine()
	s.Lines = fmt.Sprint(n)
	s.Port = "sim:" + number
	s.Modem.Init = "AT&F E0 V1 X4 S0=0 &C1 &D2"
	s.Modem.AnswerRings = 2 // caller ID comes between the first and second RING
	s.LoginTimeout = 5 * time.Second
	s.Callback.ForcedWait = 20 * time.Millisecond
	s.Callback.NoDSRWait = 200 * time.Millisecond
	off := false
	s.FlushAtActivation = &off
	return s
}

func strp(s string) *string { return &s }

// lab is a NAS on a simulated network, with its event recorder.
type lab struct {
	t      *testing.T
	x      *pstn.Exchange
	srv    *session.Server
	rec    *event.Recorder
	mu     sync.Mutex // guards ports, which an opener fills in while the server runs
	ports  map[int]*pstn.Port
	cancel context.CancelFunc
	done   chan error
	log    *slog.Logger
}

// labSetup is what a labOption may change before the server starts.
type labSetup struct {
	validate bool
	opener   bool
	mods     []func(*session.Options)
}

// withOpener gives the server an opener instead of open ports: it attaches each line's
// number to the exchange when the server asks, and again after the port is gone.
func withOpener(s *labSetup) { s.opener = true }

type labOption func(*labSetup)

// noValidate lets a test use timeouts below what the configuration allows, to stay fast.
func noValidate(s *labSetup) { s.validate = false }

// withOptions changes the server's options.
func withOptions(f func(*session.Options)) labOption {
	return func(s *labSetup) { s.mods = append(s.mods, f) }
}

func newLab(t *testing.T, cfg *config.Config, opts ...labOption) *lab {
	t.Helper()
	before := runtime.NumGoroutine()
	log := testLog(t)
	// RINGs come slower than the modem driver's 20 ms drain after carrier loss, which would
	// otherwise swallow the RINGs of a callback that follows a hang-up at once.
	x := pstn.New(pstn.Options{RingPeriod: 30 * time.Millisecond, NoAnswerRings: 10,
		TrainingDelay: 5 * time.Millisecond, DSRDrop: 20 * time.Millisecond, DTRPulse: 5 * time.Millisecond,
		Log: log})
	setup := labSetup{validate: true}
	for _, o := range opts {
		o(&setup)
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); setup.validate && err != nil {
		t.Fatalf("test configuration: %v", err)
	}
	l := &lab{t: t, x: x, rec: &event.Recorder{}, ports: map[int]*pstn.Port{}, log: log}
	ports := map[int]lines.Port{}
	for _, tty := range cfg.TTYs() {
		if setup.opener {
			l.ports[tty.Num] = nil // attached by the opener
			continue
		}
		num, ok := config.SimNumber(tty.Spec.Port)
		if !ok {
			t.Fatalf("line %d: port %q is not sim:", tty.Num, tty.Spec.Port)
		}
		p, err := x.Attach(num)
		if err != nil {
			t.Fatal(err)
		}
		l.ports[tty.Num] = p
		ports[tty.Num] = p
	}
	loc, err := local.New(cfg.Users, local.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	so := session.Options{
		Config: cfg,
		Ports:  ports,
		Login:  aaa.MethodList{Service: aaa.ServiceLogin, Methods: []aaa.Method{loc}},
		Local:  loc,
		Events: l.rec,
		Log:    log,
		Banner: "nas test line",
		Timing: session.Timing{FlushWindow: 30 * time.Millisecond, RetryMin: 20 * time.Millisecond,
			RetryMax: 100 * time.Millisecond, HangupTimeout: time.Second},
		Modem: serverModem(log),
	}
	if setup.opener {
		so.Ports = nil
		so.Open = func(ctx context.Context, tty config.TTY) (lines.Port, error) {
			num, _ := config.SimNumber(tty.Spec.Port)
			p, err := x.Attach(num)
			if err != nil {
				return nil, err
			}
			l.mu.Lock()
			l.ports[tty.Num] = p
			l.mu.Unlock()
			return p, nil
		}
	}
	for _, f := range setup.mods {
		f(&so)
	}
	srv, err := session.New(so)
	if err != nil {
		t.Fatal(err)
	}
	l.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.done = make(chan error, 1)
	go func() { l.done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		l.stop()
		_ = x.Close()
		// Every goroutine of the server, the exchange and the callers must be gone.
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("goroutines leaked: %d before, %d after\n%s", before, n, buf)
		}
	})
	// Every line must come up before the test calls in.
	for _, tty := range cfg.TTYs() {
		l.waitState(tty.Num, lines.Idle)
	}
	return l
}

// port is line n's port on the exchange.
func (l *lab) port(n int) *pstn.Port {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ports[n]
}

// stop ends Run and checks it returns.
func (l *lab) stop() {
	if l.cancel == nil {
		return
	}
	l.cancel()
	l.cancel = nil
	select {
	case err := <-l.done:
		if err != nil {
			l.t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		l.t.Fatal("Run did not return after cancel")
	}
}

func (l *lab) waitState(n int, want lines.State) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if info, err := l.srv.Table().Wait(ctx, n, func(i lines.Info) bool { return i.State == want }); err != nil {
		l.t.Fatalf("line %d never %s (is %s, %q): %v", n, want, info.State, info.Reason, err)
	}
}

// caller attaches a simulated user.
func (l *lab) caller(number string) *caller.Caller {
	l.t.Helper()
	c, err := caller.New(l.x, number, caller.Options{Modem: fastModem(l.log), Log: l.log})
	if err != nil {
		l.t.Fatal(err)
	}
	return c
}

// waitEvent waits for an event matching all the fields set in want.
func (l *lab) waitEvent(want event.Event) event.Event {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := l.rec.WaitFor(ctx, func(e event.Event) bool { return matches(e, want) })
	if err != nil {
		l.t.Fatalf("no event like %+v; got:\n%s", want, dump(l.rec.Events()))
	}
	return e
}

// matches reports whether e has every non-zero field of want.
func matches(e, want event.Event) bool {
	return (want.Kind == "" || e.Kind == want.Kind) &&
		(want.Line == 0 || e.Line == want.Line) &&
		(want.User == "" || e.User == want.User) &&
		(want.Protocol == "" || e.Protocol == want.Protocol) &&
		(want.Leg == "" || e.Leg == want.Leg) &&
		(want.Number == "" || e.Number == want.Number) &&
		(want.Rotary == 0 || e.Rotary == want.Rotary) &&
		(want.Cause == "" || e.Cause == want.Cause)
}

func dump(es []event.Event) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "  %s line=%d user=%q proto=%q leg=%q number=%q rotary=%d cause=%q detail=%q\n",
			e.Kind, e.Line, e.User, e.Protocol, e.Leg, e.Number, e.Rotary, e.Cause, e.Detail)
	}
	return b.String()
}

// inOrder checks that the events matching want appear in that order (other events may come
// between them).
func inOrder(t *testing.T, es []event.Event, want ...event.Event) {
	t.Helper()
	i := 0
	for _, e := range es {
		if i < len(want) && matches(e, want[i]) {
			i++
		}
	}
	if i < len(want) {
		t.Fatalf("events out of order: matched %d of %d, first missing %+v; events:\n%s", i, len(want), want[i], dump(es))
	}
}

func count(es []event.Event, want event.Event) int {
	return len(slices.DeleteFunc(slices.Clone(es), func(e event.Event) bool { return !matches(e, want) }))
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}
