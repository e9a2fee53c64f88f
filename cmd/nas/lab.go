package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"

	"github.com/dialback/nas/cmd/nas/lab"
	"github.com/dialback/nas/examples"
)

// cmdLab runs the NAS on the simulated telephone network with embedded AAA and judges
// scenarios: every bundled one by default.
func cmdLab(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("lab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	list := fs.Bool("list", false, "list the bundled scenarios and exit")
	name := fs.String("scenario", "", "run only the bundled scenario NAME")
	file := fs.String("scenario-file", "", "run the scenario in FILE instead of the bundled ones")
	asJSON := fs.Bool("json", false, "print one event per line as JSON on stdout")
	verbose := fs.Bool("verbose", false, "log what the NAS, the modems and the callers do, on stderr")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: nas lab [--list] [--scenario NAME | --scenario-file FILE] [--json] [--verbose]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	bundled, err := lab.LoadBundled(examples.FS, "lab")
	if err != nil {
		fmt.Fprintf(stderr, "nas lab: bundled scenarios: %v\n", err)
		return 1
	}
	if *list {
		for _, s := range bundled {
			fmt.Fprintf(stdout, "%-26s %s\n", s.Name, strings.TrimSpace(s.Description))
		}
		return 0
	}
	var run []*lab.Scenario
	switch {
	case *file != "":
		s, err := lab.LoadFile(*file)
		if err != nil {
			fmt.Fprintf(stderr, "nas lab: %v\n", err)
			return 1
		}
		run = append(run, s)
	case *name != "":
		for _, s := range bundled {
			if s.Name == *name {
				run = append(run, s)
			}
		}
		if len(run) == 0 {
			fmt.Fprintf(stderr, "nas lab: no bundled scenario %q (nas lab --list shows them)\n", *name)
			return 1
		}
	default:
		run = bundled
	}

	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// With --json, stdout holds events only; the verdicts go to stderr.
	verdicts := stdout
	if *asJSON {
		verdicts = stderr
	}
	failed := 0
	for _, s := range run {
		if !*asJSON {
			fmt.Fprintf(stdout, "=== %s\n", s.Name)
		}
		rep := lab.Run(ctx, s, lab.Options{Out: stdout, JSON: *asJSON, Log: log})
		switch {
		case rep.Err != nil:
			failed++
			fmt.Fprintf(verdicts, "FAIL %s: %v\n", s.Name, rep.Err)
		case !rep.Passed():
			failed++
			fmt.Fprintf(verdicts, "FAIL %s: expectation %d of %d not met: %s (%.1fs)\n",
				s.Name, rep.Met+1, rep.Total, rep.Unmet, rep.Duration.Seconds())
			for _, e := range rep.CallerErrors {
				fmt.Fprintf(verdicts, "     %v\n", e)
			}
		default:
			fmt.Fprintf(verdicts, "PASS %s (%d expectations, %.1fs)\n", s.Name, rep.Total, rep.Duration.Seconds())
		}
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Fprintf(verdicts, "%d passed, %d failed\n", len(run)-failed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}
