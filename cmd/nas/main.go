// Command nas is the dial-up network access server. It is thin: it parses flags, loads the
// configuration and wires the packages together. Subcommands: serve, check, lab, acct.
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `usage: nas <command> [flags]

commands:
  serve --config FILE   bring every configured line up and answer calls
  check --config FILE   validate a configuration and print every problem
  lab                   run the NAS on the simulated telephone network with embedded AAA
                        (nas lab --help for its flags)
  acct export --format csv|jsonl|detail [--since T] [--until T] [--output FILE]
              [--spool DIR | --config FILE]
                        export accounting records from the spool (nas acct --help)
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:], stdout, stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "lab":
		return cmdLab(args[1:], stdout, stderr)
	case "acct":
		return cmdAcct(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "nas: unknown command %q\n%s", args[0], usage)
		return 2
	}
}
