package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/dialback/nas/aaa/methods"
	"github.com/dialback/nas/session"
	"github.com/dialback/nas/session/event"
)

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
	aaaLists, err := methods.Build(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "nas serve: %v\n", err)
		return 1
	}
	defer aaaLists.Close() // the RADIUS client's sockets and goroutines
	opener := &portOpener{log: log, pstnOpts: pstnOptions(cfg.PSTN)}
	defer opener.close()
	if err := opener.expose(cfg.PSTN.Expose); err != nil {
		fmt.Fprintf(stderr, "nas serve: %v\n", err)
		return 1
	}
	acctg, err := openAccounting(cfg, aaaLists, log)
	if err != nil {
		fmt.Fprintf(stderr, "nas serve: %v\n", err)
		return 1
	}
	defer func() {
		if err := acctg.close(); err != nil {
			log.Error("close accounting spool", "err", err)
		}
	}()

	pppSvc, err := session.NewPPP(cfg, session.PPPOptions{Methods: aaaLists.PPP})
	if err != nil {
		fmt.Fprintf(stderr, "nas serve: %v\n", err)
		return 1
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
		fmt.Fprintf(stderr, "nas serve: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	acctg.start()
	log.Info("nas serving", "config", *path, "lines", len(cfg.TTYs()))
	if err := srv.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "nas serve: %v\n", err)
		return 1
	}
	return 0
}
