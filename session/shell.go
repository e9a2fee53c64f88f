package session

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dialback/nas/aaa/acct"
	"github.com/dialback/nas/lines"
)

// The user-EXEC command set. Names, abbreviations and error messages follow IOS: any unique
// prefix of a word is accepted ("sh us"), a bad word is marked with a caret.
const (
	msgInvalidInput = "% Invalid input detected at '^' marker."
	msgIncomplete   = "% Incomplete command."
	msgAmbiguous    = "%% Ambiguous command:  \"%s\""
)

type command struct {
	name string
	help string
	sub  []*command
	// run executes the command; done ends the EXEC with cause.
	run func(sh *shell, args []string) (cause string, done bool)
	// args checks the arguments and returns the index of the first bad one, or -1.
	args func(args []string) int
}

func noArgs(args []string) int {
	if len(args) > 0 {
		return 0
	}
	return -1
}

func logoutCmd(sh *shell, _ []string) (string, bool) { return CauseLogout, true }

var commands = &command{sub: []*command{
	{name: "exit", help: "Exit from the EXEC", run: logoutCmd, args: noArgs},
	{name: "help", help: "Description of the interactive help system", args: noArgs,
		run: func(sh *shell, _ []string) (string, bool) { sh.help(); return "", false }},
	{name: "logout", help: "Exit from the EXEC", run: logoutCmd, args: noArgs},
	{name: "ppp", help: "Start IETF Point-to-Point Protocol (PPP)", run: (*shell).ppp, args: pppArgs},
	{name: "quit", help: "Exit from the EXEC", run: logoutCmd, args: noArgs},
	{name: "show", help: "Show running system information", sub: []*command{
		{name: "accounting", help: "Accounting spool and delivery", run: (*shell).showAccounting, args: noArgs},
		{name: "line", help: "TTY line information", run: (*shell).showLine, args: lineArgs},
		{name: "users", help: "Display information about terminal lines", run: (*shell).showUsers, args: noArgs},
	}},
}}

// lineArgs accepts an optional TTY number.
func lineArgs(args []string) int {
	if len(args) > 1 {
		return 1
	}
	if len(args) == 1 {
		if _, err := strconv.Atoi(args[0]); err != nil {
			return 0
		}
	}
	return -1
}

// shell runs EXEC commands for one session.
type shell struct {
	s   *session
	ctx context.Context
	out strings.Builder
	// handed is the outcome of a protocol the EXEC handed the line to (the `ppp` command).
	handed *Outcome
}

func (sh *shell) printf(format string, a ...any) {
	fmt.Fprintf(&sh.out, format, a...)
}

func (sh *shell) flush() {
	if sh.out.Len() == 0 {
		return
	}
	_ = sh.s.t.write(sh.out.String())
	sh.out.Reset()
}

// word is one token of a command line and where it starts.
type word struct {
	text string
	pos  int
}

func split(line string) []word {
	var ws []word
	i := 0
	for i < len(line) {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		j := i
		for j < len(line) && line[j] != ' ' {
			j++
		}
		if j > i {
			ws = append(ws, word{line[i:j], i})
		}
		i = j
	}
	return ws
}

// execute runs one command line. done ends the EXEC with cause.
func (sh *shell) execute(line string) (cause string, done bool) {
	defer sh.flush()
	if strings.HasSuffix(strings.TrimRight(line, " "), "?") {
		sh.contextHelp(strings.TrimRight(line, " "))
		return "", false
	}
	ws := split(line)
	if len(ws) == 0 {
		return "", false
	}
	node := commands
	i := 0
	for ; i < len(ws) && node.sub != nil; i++ {
		next, err := lookup(node, ws[i].text)
		if err != "" {
			if err == msgInvalidInput {
				sh.caret(ws[i].pos)
			}
			sh.printf("%s\r\n", err)
			return "", false
		}
		node = next
	}
	if node.run == nil {
		sh.printf("%s\r\n", msgIncomplete)
		return "", false
	}
	args := make([]string, 0, len(ws)-i)
	for _, w := range ws[i:] {
		args = append(args, w.text)
	}
	if node.args != nil {
		if bad := node.args(args); bad >= 0 {
			sh.caret(ws[i+bad].pos)
			sh.printf("%s\r\n", msgInvalidInput)
			return "", false
		}
	}
	return node.run(sh, args)
}

// lookup finds the child of node that word abbreviates; on failure it returns the message.
func lookup(node *command, w string) (*command, string) {
	var found []*command
	for _, c := range node.sub {
		if c.name == strings.ToLower(w) {
			return c, ""
		}
		if strings.HasPrefix(c.name, strings.ToLower(w)) {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 0:
		return nil, msgInvalidInput
	case 1:
		return found[0], ""
	}
	return nil, fmt.Sprintf(msgAmbiguous, w)
}

// caret marks column pos of the typed line, under the prompt IOS-style.
func (sh *shell) caret(pos int) {
	prompt := sh.s.srv.cfg.Hostname + ">"
	sh.printf("%s^\r\n", strings.Repeat(" ", len(prompt)+pos))
}

// contextHelp answers "?" at the end of a line: "?" or "show ?" lists what may follow,
// "sh?" lists the words that start with "sh".
func (sh *shell) contextHelp(line string) {
	body := strings.TrimSuffix(line, "?")
	partial := body != "" && !strings.HasSuffix(body, " ")
	ws := split(body)
	prefix := ""
	if partial {
		prefix = strings.ToLower(ws[len(ws)-1].text)
		ws = ws[:len(ws)-1]
	}
	node := commands
	for _, w := range ws {
		next, err := lookup(node, w.text)
		if err != "" || next.sub == nil {
			if err == "" && next.run != nil && !partial {
				sh.printf("  <cr>\r\n")
				return
			}
			sh.printf("%s\r\n", msgInvalidInput)
			return
		}
		node = next
	}
	if node == commands && !partial {
		sh.printf("Exec commands:\r\n")
	}
	width := 0
	for _, c := range node.sub {
		width = max(width, len(c.name))
	}
	for _, c := range node.sub {
		if strings.HasPrefix(c.name, prefix) {
			sh.printf("  %-*s  %s\r\n", width, c.name, c.help)
		}
	}
}

func (sh *shell) help() {
	sh.printf("Type '?' at the prompt, or after a word and a space, to list what may come next\r\n" +
		"(e.g. 'show ?'); type '?' right after letters to list the words that begin with them\r\n" +
		"(e.g. 'sh?'). Any unique beginning of a word is enough ('sh us' is 'show users').\r\n")
}

// clock formats a duration as IOS does in `show users`: hh:mm:ss.
func clock(d time.Duration) string {
	d = d.Truncate(time.Second)
	return fmt.Sprintf("%02d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}

func (sh *shell) showUsers(_ []string) (string, bool) {
	sh.printf("    Line       User       Host(s)              Idle       Location\r\n")
	now := time.Now()
	for _, in := range sh.s.srv.table.Snapshot() {
		own := in.Num == sh.s.w.num
		if in.User == "" && !own {
			continue
		}
		mark := ' '
		if own {
			mark = '*'
		}
		idle := now.Sub(in.Since)
		if own {
			idle = 0
		}
		sh.printf("%c%4d %-10s %-10s %-20s %8s %s\r\n", mark, in.Num, fmt.Sprintf("tty %d", in.Num),
			in.User, "idle", clock(idle), sh.s.srv.location(in.Num))
	}
	return "", false
}

// spoolReport is what `show accounting` reads from a spool that can tell it (acct.Spool does).
type spoolReport interface {
	Health() (ok bool, reason string)
	Stats() acct.Stats
	Status() []acct.DestStatus
}

// showAccounting shows whether the spool can be written, how much is in it, and how far
// each destination has got: the first place an operator looks when billing is at risk.
func (sh *shell) showAccounting(_ []string) (string, bool) {
	sp, ok := sh.s.srv.opts.Accounting.(spoolReport)
	if !ok {
		sh.printf("%% Accounting is not configured\r\n")
		return "", false
	}
	if ok, reason := sp.Health(); ok {
		sh.printf("Spool: writable\r\n")
	} else {
		sh.printf("Spool: NOT WRITABLE: %s\r\n", reason)
	}
	st := sp.Stats()
	sh.printf("  %d records appended (%d per fsync), head %d, %d open sessions\r\n",
		st.Appended, perBatch(st.Appended, st.Batches), st.Head, st.OpenSessions)
	sh.printf("  %d segments, %d bytes; %d append errors, %d queued in memory, %d dropped, %d corrupt regions skipped\r\n",
		st.Segments, st.Bytes, st.AppendErrors, st.Queued, st.Dropped, st.Corrupt)
	sh.printf("Destination          Delivered  Lag      Failures Dead-letter Last error\r\n")
	for _, d := range sp.Status() {
		sh.printf("%-20s %-10d %-8d %-8d %-11d %s\r\n", d.Name, d.Delivered, d.Lag, d.Failures, d.DeadLettered, d.LastError)
	}
	return "", false
}

func perBatch(n, batches uint64) uint64 {
	if batches == 0 {
		return 0
	}
	return n / batches
}

func (sh *shell) showLine(args []string) (string, bool) {
	want := -1
	if len(args) == 1 {
		want, _ = strconv.Atoi(args[0])
	}
	sh.printf("   Tty Typ     Tx/Rx      Modem  Roty State      User       Uses\r\n")
	shown := 0
	for _, in := range sh.s.srv.table.Snapshot() {
		if want >= 0 && in.Num != want {
			continue
		}
		shown++
		mark := ' '
		if in.Num == sh.s.w.num {
			mark = '*'
		}
		speed, mode, uses := sh.s.srv.lineFacts(in.Num)
		roty := "-"
		if in.Rotary != 0 {
			roty = strconv.Itoa(in.Rotary)
		}
		if in.Dialin {
			mode = "dialin"
		}
		sh.printf("%c%5d TTY %15s %-6s %4s %-10s %-10s %4d\r\n", mark, in.Num,
			fmt.Sprintf("%d/%d", speed, speed), mode, roty, stateText(in), in.User, uses)
	}
	if want >= 0 && shown == 0 {
		sh.printf("%% Line %d does not exist\r\n", want)
	}
	return "", false
}

func stateText(in lines.Info) string { return in.State.String() }
