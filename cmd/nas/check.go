package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/dialback/nas/config"
)

// cmdCheck loads a configuration and prints every problem in it, one per line.
func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(stderr, "nas check: --config FILE is required")
		return 2
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		printConfigErrors(stderr, *path, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok (%d lines, %d users, %d chat scripts)\n",
		*path, len(cfg.TTYs()), len(cfg.Users), len(cfg.ChatScripts))
	return 0
}

// printConfigErrors prints each problem of a configuration on its own line.
func printConfigErrors(w io.Writer, path string, err error) {
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintf(w, "%s: %v\n", path, e)
		}
		fmt.Fprintf(w, "%s: %d problem(s)\n", path, len(errs))
		return
	}
	fmt.Fprintf(w, "%s: %v\n", path, err)
}
