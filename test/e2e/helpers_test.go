//go:build linux

package e2e

// Helpers shared by the end-to-end tests of this package: child processes, free ports, output
// buffers, and a NAS run in this process on the simulated telephone network.

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/dialback/nas/aaa/methods"
	"github.com/dialback/nas/config"
	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/lines/modem"
	"github.com/dialback/nas/lines/pstn"
	"github.com/dialback/nas/session"
	"github.com/dialback/nas/session/event"
)

// lockedBuffer collects output written from several goroutines (a child's stdout and stderr,
// the NAS's loggers) for failure reports.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// freeUDPPort is a UDP port on loopback nothing listens on (a moment ago).
func freeUDPPort(t testing.TB) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// freeTCPPort is a TCP port on loopback nothing listens on (a moment ago).
func freeTCPPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// proc is a started child process, waited for by its own goroutine.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has been waited for
	err    error         // cmd.Wait's result, once exited is closed
}

// startProc starts cmd and kills it, if it still runs, when the test ends. A test that wants a
// gentler stop registers its own cleanup after this call: cleanups run last first.
func startProc(t testing.TB, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// debugLog is a debug-level logger into a buffer that the test prints if it failed.
func debugLog(t *testing.T, what string) *slog.Logger {
	out := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log:\n%s", what, out.String())
		}
	})
	return slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// simNAS is a NAS run in this process, its lines on a simulated telephone network that the
// guests of ppp_test.go and dataplane_test.go dial through emulated modems on ptys.
type simNAS struct {
	x   *pstn.Exchange
	srv *session.Server
	ppp *session.PPP
	rec *event.Recorder
}

// startSimNAS starts the NAS of cfg with PPP (ppp's Methods filled in from cfg) and accounting
// to spool (nil for none), and waits until every line is idle. It stops when the test ends.
func startSimNAS(ctx context.Context, t *testing.T, cfg *config.Config, log *slog.Logger, ppp session.PPPOptions, spool session.AcctSpool) *simNAS {
	t.Helper()
	n := &simNAS{rec: &event.Recorder{}}
	n.x = pstn.New(pstn.Options{RingPeriod: 500 * time.Millisecond, NoAnswerRings: 40,
		TrainingDelay: 20 * time.Millisecond, Log: log.With("component", "pstn")})
	t.Cleanup(func() { n.x.Close() })
	ports := map[int]lines.Port{}
	for _, tty := range cfg.TTYs() {
		num, _ := config.SimNumber(tty.Spec.Port)
		p, err := n.x.Attach(num)
		if err != nil {
			t.Fatal(err)
		}
		ports[tty.Num] = p
	}
	lists, err := methods.Build(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lists.Close() })
	ppp.Methods = lists.PPP
	if n.ppp, err = session.NewPPP(cfg, ppp); err != nil {
		t.Fatal(err)
	}
	n.srv, err = session.New(session.Options{
		Config: cfg, Ports: ports, Login: lists.Login, Local: lists.Local, PPP: n.ppp.Handle,
		Events: event.Fanout{n.rec, event.LogSink{Log: log}}, Log: log, Accounting: spool,
		Modem: modem.Options{CommandTimeout: 2 * time.Second, GuardTime: 100 * time.Millisecond,
			ConnectTimeout: 30 * time.Second, Log: log.With("component", "modem")},
	})
	if err != nil {
		t.Fatal(err)
	}
	srvCtx, stopSrv := context.WithCancel(context.Background())
	srvDone := make(chan error, 1)
	go func() { srvDone <- n.srv.Run(srvCtx) }()
	t.Cleanup(func() {
		stopSrv()
		<-srvDone
	})
	for _, tty := range cfg.TTYs() {
		if _, err := n.srv.Table().Wait(ctx, tty.Num, func(i lines.Info) bool { return i.State == lines.Idle }); err != nil {
			t.Fatalf("line %d did not come up: %v", tty.Num, err)
		}
	}
	return n
}

// waitIdle waits until every line of cfg is idle again, after the calls.
func (n *simNAS) waitIdle(ctx context.Context, t *testing.T, cfg *config.Config) {
	t.Helper()
	for _, tty := range cfg.TTYs() {
		if _, err := n.srv.Table().Wait(ctx, tty.Num, func(i lines.Info) bool { return i.State == lines.Idle }); err != nil {
			t.Errorf("line %d did not go back to idle: %v", tty.Num, err)
		}
	}
}
