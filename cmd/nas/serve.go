package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/dialback/nas/aaa/methods"
	"github.com/dialback/nas/session"
	"github.com/dialback/nas/session/event"
)

// serveContext is the context `nas serve` runs in: until SIGINT or SIGTERM. Tests replace it.
var serveContext = func() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// cmdServe brings every configured line up and answers calls until SIGINT or SIGTERM, then
// hangs every line up.
func cmdServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(stderr, "nas serve: --config FILE is required")
		return 2
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		printConfigErrors(stderr, *path, err)
		return 1
	}
	log := newLogger(stderr, cfg.Log)
	fail := func(err error) int {
		fmt.Fprintf(stderr, "nas serve: %v\n", err)
		return 1
	}
	aaaLists, err := methods.Build(cfg, log)
	if err != nil {
		return fail(err)
	}
	defer aaaLists.Close() // the RADIUS client's sockets and goroutines
	opener := &portOpener{log: log, pstnOpts: pstnOptions(cfg.PSTN)}
	defer opener.close()
	if err := opener.expose(cfg.PSTN.Expose); err != nil {
		return fail(err)
	}
	acctg, err := openAccounting(cfg, aaaLists, log)
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err := acctg.close(); err != nil {
			log.Error("close accounting spool", "err", err)
		}
	}()

	plane, err := openDataPlane(context.Background(), cfg, log)
	if err != nil {
		return fail(err)
	}
	if plane != nil {
		defer func() { // after every line has hung up: the interface and its routes go
			if err := plane.Close(); err != nil {
				log.Error("close data plane", "err", err)
			}
		}()
	}
	pppSvc, err := session.NewPPP(cfg, session.PPPOptions{Methods: aaaLists.PPP, DataPlane: session.Plane(plane)})
	if err != nil {
		return fail(err)
	}
	srv, err := session.New(session.Options{
		Config: cfg,
		Open:   opener.open,
		Login:  aaaLists.Login,
		Local:  aaaLists.Local,
		PPP:    pppSvc.Handle,
		Events: event.LogSink{Log: log},
		Log:    log,
		Banner: fmt.Sprintf("%s: dial-up access server", cfg.Hostname),

		Accounting: acctg.spool,
	})
	if err != nil {
		return fail(err)
	}
	// The metrics endpoint (metrics.listen) is bound before any line answers too, so that a
	// port already taken fails the start rather than leaving a NAS nobody can see.
	mx, err := listenMetrics(cfg, srv, acctg.spool, aaaLists, log)
	if err != nil {
		return fail(err)
	}
	if mx != nil {
		defer mx.Close() // if the start fails from here on; closing twice is harmless
	}
	// RFC 5176 Disconnect and CoA act on the server's live sessions. The socket is opened
	// before any line answers, so that a port already taken fails the start, not later.
	da, err := methods.DynamicAuthor(cfg, srv.DynAuth(), log)
	if err != nil {
		return fail(err)
	}
	ctx, stop := serveContext()
	defer stop()
	if mx != nil {
		// Scrapes are answered until every line has hung up, so the last state is visible.
		mxCtx, mxStop := context.WithCancel(context.Background())
		wait := goServe(log, "metrics endpoint", func() error { return mx.Serve(mxCtx) })
		defer func() {
			mxStop()
			wait()
		}()
	}
	if da != nil {
		wait := goServe(log, "dynamic authorization", func() error { return da.Serve(ctx) })
		// Runs after srv.Run has hung every line up: a request still being acted on finds its
		// session gone and is answered; then the socket is closed and Serve returns.
		defer func() {
			da.Close()
			wait()
		}()
	}
	acctg.start()
	log.Info("nas serving", "config", *path, "lines", len(cfg.TTYs()))
	if err := srv.Run(ctx); err != nil {
		return fail(err)
	}
	return 0
}

// goServe runs serve on a goroutine of its own, logging why it stopped, and returns what waits
// for it to return. The caller stops serve (a context, a Close) before it waits.
func goServe(log *slog.Logger, what string, serve func() error) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := serve(); err != nil {
			log.Error(what+" stopped", "err", err)
		}
	}()
	return func() { <-done }
}
