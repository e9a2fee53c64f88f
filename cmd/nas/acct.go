package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/dialback/nas/aaa/acct"
	"github.com/dialback/nas/aaa/methods"
	"github.com/dialback/nas/config"
)

// acctDeliveryMaxBackoff caps the wait between delivery attempts to a destination that is
// down, so that records flow within seconds of the server coming back (each attempt costs one
// record's worth of packets; the RADIUS and TACACS+ clients have their own timeouts).
const acctDeliveryMaxBackoff = 10 * time.Second

// accounting is the spool of `nas serve` and what it delivers to.
type accounting struct {
	spool     *acct.Spool
	dests     []acct.Destination
	exporters []*acct.FileExporter
	log       *slog.Logger
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// openAccounting opens the configured spool, closes the sessions a crash left open (a Stop
// with cause NAS-Reboot each) and prepares the destinations: the accounting methods' server
// groups from lists and the exporters.
func openAccounting(cfg *config.Config, lists *methods.Lists, log *slog.Logger) (*accounting, error) {
	ac := cfg.Accounting
	a := &accounting{log: log.With("component", "accounting")}
	for _, m := range ac.Methods {
		switch {
		case m == methods.RADIUSName && lists.RADIUS != nil:
			a.dests = append(a.dests, lists.RADIUS)
		case m == methods.TACACSName && lists.TACACS != nil:
			a.dests = append(a.dests, lists.TACACS)
		default:
			return nil, fmt.Errorf("accounting.methods: %s: no server group was built for it", m)
		}
	}
	for _, x := range ac.Exporters {
		size := x.MaxSize
		if size == 0 {
			size = -1 // accounting.exporters[].max-size 0 means daily files only
		}
		e, err := acct.NewFileExporter(acct.FileExporterOptions{Name: x.DestName(), Dir: x.Dir, Format: acct.Format(x.Format), MaxBytes: size, Logger: log})
		if err != nil {
			a.closeExporters()
			return nil, fmt.Errorf("accounting exporter %s: %w", x.DestName(), err)
		}
		a.exporters = append(a.exporters, e)
		a.dests = append(a.dests, e)
	}
	policy, err := acct.ParsePolicy(ac.PolicyName())
	if err != nil {
		a.closeExporters()
		return nil, err
	}
	names := make([]string, 0, len(a.dests))
	for _, d := range a.dests {
		names = append(names, d.Name())
	}
	a.spool, err = acct.Open(ac.SpoolDir(), acct.Options{
		Logger: log, Policy: policy, Destinations: names,
		Retention: acct.Retention{Delete: ac.Retention.Delete, MaxAge: ac.Retention.MaxAge, MaxBytes: ac.Retention.MaxBytes},
	})
	if err != nil {
		a.closeExporters()
		return nil, fmt.Errorf("accounting spool: %w", err)
	}
	// A destination no longer configured would hold every record in the spool for ever.
	for _, d := range a.spool.Destinations() {
		if !slices.Contains(names, d) {
			a.log.Warn("accounting destination no longer configured: its undelivered records are left to the others", "dest", d)
			if err := a.spool.Unregister(d); err != nil {
				a.log.Error("unregister accounting destination", "dest", d, "err", err)
			}
		}
	}
	n, err := a.spool.Recover(context.Background(), time.Now())
	if err != nil {
		a.close()
		return nil, fmt.Errorf("accounting spool: %w", err)
	}
	a.log.Info("accounting spool open", "dir", ac.SpoolDir(), "policy", policy.String(), "destinations", names,
		"recovered_sessions", n, "clean_shutdown", a.spool.CleanShutdown())
	return a, nil
}

// start delivers the spool to the destinations until stop.
func (a *accounting) start() {
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := a.spool.RunDelivery(ctx, a.dests, acct.DeliveryOptions{MaxBackoff: acctDeliveryMaxBackoff}); err != nil {
			a.log.Error("accounting delivery", "err", err)
		}
	}()
}

// close stops delivery (records not yet delivered stay in the spool for the next run) and
// closes the exporters and the spool. Call it after the lines have stopped: their Stops are
// in the spool by then.
func (a *accounting) close() error {
	if a.cancel != nil {
		a.cancel()
	}
	a.wg.Wait()
	a.closeExporters()
	return a.spool.Close()
}

func (a *accounting) closeExporters() {
	for _, e := range a.exporters {
		if err := e.Close(); err != nil {
			a.log.Warn("close accounting exporter", "dest", e.Name(), "err", err)
		}
	}
}

const acctUsage = `usage: nas acct export --format csv|jsonl|detail [--since T] [--until T] [--output FILE]
                       [--spool DIR | --config FILE]

Writes the records of the accounting spool and its archive whose event time is in
[since, until), in sequence order. It reads a spool that nas serve has open, or one at rest.
T is RFC 3339 ("2026-03-01T00:00:00Z") or local time ("2026-03-01", "2026-03-01 14:30").
Without --spool or --config the spool is ` + config.DefaultAcctSpool + `.
`

// cmdAcct runs `nas acct SUBCOMMAND`.
func cmdAcct(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "export" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, acctUsage)
			return 0
		}
		fmt.Fprint(stderr, acctUsage)
		return 2
	}
	fs := flag.NewFlagSet("acct export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, acctUsage) }
	format := fs.String("format", "", "csv, jsonl or detail (FreeRADIUS detail file)")
	sinceS := fs.String("since", "", "first event time to include")
	untilS := fs.String("until", "", "event time to stop before")
	output := fs.String("output", "", "write to FILE (replaced once complete) instead of stdout")
	spool := fs.String("spool", "", "spool directory")
	cfgPath := fs.String("config", "", "take the spool directory from this configuration")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "nas acct export: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	f, err := acct.ParseFormat(*format)
	if err != nil {
		fmt.Fprintf(stderr, "nas acct export: --format: %v\n", err)
		return 2
	}
	since, err := parseWhen(*sinceS)
	if err != nil {
		fmt.Fprintf(stderr, "nas acct export: --since: %v\n", err)
		return 2
	}
	until, err := parseWhen(*untilS)
	if err != nil {
		fmt.Fprintf(stderr, "nas acct export: --until: %v\n", err)
		return 2
	}
	dir := config.DefaultAcctSpool
	switch {
	case *spool != "" && *cfgPath != "":
		fmt.Fprintln(stderr, "nas acct export: give --spool or --config, not both")
		return 2
	case *spool != "":
		dir = *spool
	case *cfgPath != "":
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			printConfigErrors(stderr, *cfgPath, err)
			return 1
		}
		dir = cfg.Accounting.SpoolDir()
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		fmt.Fprintf(stderr, "nas acct export: no spool directory at %s\n", dir)
		return 1
	}
	if err := export(dir, *output, stdout, f, since, until); err != nil {
		fmt.Fprintf(stderr, "nas acct export: %v\n", err)
		return 1
	}
	return 0
}

// export writes the export to stdout, or to output through a temporary file renamed over it
// once complete, so that a failed export never leaves half a file under the name asked for.
func export(dir, output string, stdout io.Writer, f acct.Format, since, until time.Time) error {
	if output == "" {
		return acct.ExportDir(dir, stdout, f, since, until)
	}
	tmp, err := os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing is left to remove
	err = acct.ExportDir(dir, tmp, f, since, until)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), output)
	}
	return err
}

// parseWhen reads a --since or --until time: RFC 3339, or a local date with an optional time.
func parseWhen(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New(`want RFC 3339 ("2026-03-01T00:00:00Z") or a local date and time ("2026-03-01", "2026-03-01 14:30")`)
}
