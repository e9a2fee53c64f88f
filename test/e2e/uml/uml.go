// Package uml runs the real, unchanged Debian pppd 2.4.9 as a PPP caller inside
// Debian's user-mode Linux kernel (linux.uml), so end-to-end tests can put a real
// PPP peer on the far end of a host tty. It owns the guest's whole life: the
// per-run directory, the boot command line, the init script, the LD_PRELOAD shim
// that lets UML boot on AVX-512/AMX hosts, and killing and cleaning up the guest.
//
// The host kernel needs no PPP support: the guest has its own PPP modules, and its
// root file system is the host's, read-only (hostfs). See REFERENCE.md §8.
//
// # Use
//
// Open a pty pair, give the slave's path to the guest (it becomes the guest's
// /dev/ttyS1, where pppd runs) and put the NAS under test, or the test itself, on
// the master:
//
//	func TestCaller(t *testing.T) {
//		if err := uml.Available(); err != nil {
//			peer.Missing(t, "%v", err) // fails under E2E_REQUIRED=1, skips otherwise
//		}
//		master, slave, err := uml.OpenPTY()
//		if err != nil {
//			t.Fatal(err)
//		}
//		defer master.Close()
//		defer slave.Close()
//		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
//		defer cancel()
//		res, err := uml.Run(ctx, uml.Options{
//			PTY:      slave.Name(),
//			PPPDArgs: []string{"user", "bob", "callback", "5551234"},
//			Secrets:  map[string]string{"bob": "s3cret"},
//		})
//		// ... meanwhile, the NAS answers on master ...
//		if err != nil {
//			if res != nil {
//				t.Log(res.Log)
//			}
//			t.Fatal(err)
//		}
//		if res.ExitCode != uml.ExitCallback { ... }
//	}
//
// Run blocks until pppd has exited and the guest has powered off, so run it in its
// own goroutine while the other side talks. Boot to pppd's first LCP frame takes
// about 2-3 s on an idle 2-core machine (more under load); give ctx a deadline.
// Several guests may run at once (each has its own umid and directory). pppd
// always gets "/dev/ttyS1 115200 nodetach local nocrtscts nolock debug logfd 2";
// everything else (noauth, user, callback, lcp-restart, ...) comes from
// Options.PPPDArgs. Its debug log is in Result.Log (and streamed to Options.Log);
// it never contains the secrets, which reach the guest through a file.
//
// Tests should skip when Available reports an error, unless E2E_REQUIRED=1, when
// they should fail. The Debian packages are user-mode-linux, ppp, kmod and gcc.
package uml

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// pppd's exit statuses (pppd(8), "EXIT STATUS"), as Result.ExitCode reports them.
//
// When LCP gives up on a timeout (seen with lcp-max-configure), pppd 2.4.9 takes
// the channel down inside its timer handling and, in the same main-loop turn,
// reads EOF from its ppp unit, logs "Modem hangup" and exits with ExitHangup, not
// ExitNegotiationFailed. Going by pppd's main loop, a termination driven by a
// received packet (a Terminate-Ack) leaves the loop first and keeps its status,
// as REFERENCE.md §8 saw with 14 for callback.
const (
	ExitOK                = 0  // detached, or the peer ended an established link
	ExitFatalError        = 1  // an essential system call failed
	ExitOptionError       = 2  // bad options
	ExitNoKernelSupport   = 4  // no PPP in the kernel (the modules did not load)
	ExitUserRequest       = 5  // SIGINT, SIGTERM or SIGHUP
	ExitOpenFailed        = 7  // the serial port could not be opened
	ExitConnectFailed     = 8  // the connect script failed
	ExitNegotiationFailed = 10 // no network protocol came up (e.g. LCP gave up)
	ExitPeerAuthFailed    = 11 // the peer failed or refused to authenticate itself
	ExitIdleTimeout       = 12
	ExitConnectTime       = 13
	ExitCallback          = 14 // callback was negotiated; a call should come in
	ExitPeerDead          = 15 // no answer to LCP echo requests
	ExitHangup            = 16 // the line hung up; also when LCP gives up on a timeout (above)
	ExitLoopback          = 17 // serial loopback detected
	ExitInitFailed        = 18
	ExitAuthToPeerFailed  = 19 // we failed to authenticate ourselves to the peer
)

// Paths of Debian's packages. The guest sees the host's file system, so pppd and
// the modules are found at the same paths inside it.
const (
	kernelBinary = "linux.uml"                           // user-mode-linux
	pppdPath     = "/usr/sbin/pppd"                      // ppp
	modulesDir   = "/usr/lib/uml/modules"                // user-mode-linux
	pppAsyncMod  = "kernel/drivers/net/ppp/ppp_async.ko" // the last module init.sh loads
)

// Where kmod puts insmod, which the guest runs from the host's file system.
var insmodPaths = []string{"/usr/sbin/insmod", "/sbin/insmod"}

func exists(paths ...string) bool {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// Console markers printed by init.sh.
const (
	markerPrefix = "NAS-UML: "
	markerStart  = markerPrefix + "pppd-start"
	markerExit   = markerPrefix + "pppd-exit="
	markerError  = markerPrefix + "error: "
	markerIPUp   = markerPrefix + "ip-up: "
	markerIPUpRC = markerPrefix + "ip-up-exit="
)

//go:embed init.sh
var initScript []byte

// Options describe one guest and its pppd.
type Options struct {
	// PTY is the path of a host tty, normally a pty slave from OpenPTY, that the
	// guest opens as its /dev/ttyS1 (ssl1=tty:PTY). Give exactly one of PTY and Line.
	PTY string
	// Line is an open host file (a pty master or slave, one end of a socketpair)
	// handed to the guest as fd 3 for its /dev/ttyS1 (ssl1=fd:3). Run does not
	// close it.
	Line *os.File
	// PPPDArgs are pppd options after the fixed ones, one word each, e.g.
	// {"noauth", "lcp-max-configure", "3"} or {"user", "bob", "callback", "5551234"}.
	// They reach pppd through an options file, so words may hold spaces and quotes.
	PPPDArgs []string
	// Connect, if set, is pppd's connect command, run by sh with the line on its
	// stdin and stdout, e.g. `chat -v RING ATA CONNECT ""` to answer a call.
	Connect string
	// Secrets maps a user name to its password; they become both pap-secrets and
	// chap-secrets in a tmpfs /etc/ppp in the guest (`"name" * "password" *`).
	// pppd picks the entry named by its "user" option.
	Secrets map[string]string
	// Env words are put on the kernel command line as name=value; the kernel hands
	// them to init, so pppd and its connect script see them in their environment.
	// Names are shell identifiers that are not kernel parameters; values may not
	// hold spaces or quotes. The kernel passes at most about 30 of them.
	Env map[string]string
	// Modules are extra guest kernel modules to insmod after the PPP ones, as paths
	// under kernel/ without ".ko", e.g. "drivers/net/ppp/ppp_deflate" and
	// "drivers/net/ppp/bsd_comp" to let pppd offer CCP compression.
	Modules []string
	// IPUp, if set, is a shell script the guest runs when IPCP is up, as pppd's
	// /etc/ppp/ip-up: with pppd's arguments (interface, tty, speed, local and remote
	// address, ipparam) and environment (IFNAME, IPLOCAL, IPREMOTE, DNS1, PPPD_PID,
	// ...). The guest's network is its own, with the host's programs: "ping -c 3
	// 10.1.2.3". Its output and exit status are in Result.IPUpOutput and
	// Result.IPUpExit. pppd does not wait for it; to end the call when it is done,
	// end it with `kill $PPPD_PID` (pppd then exits with ExitUserRequest).
	IPUp string
	// Log, if set, receives the guest's console (kernel messages, init.sh's marker
	// lines and pppd's debug log) as it arrives.
	Log io.Writer
	// NoShim leaves out the LD_PRELOAD ptrace shim (see shim/xstate_shim.c), to check
	// whether a host needs it.
	NoShim bool
}

// Result is what one guest run produced.
type Result struct {
	// ExitCode is pppd's exit status (see the Exit constants), or -1 when the guest
	// never reported one.
	ExitCode int
	// Log is the guest's whole console output with "\r" removed.
	Log string
	// LocalIP and RemoteIP come from pppd's "local  IP address" and "remote IP
	// address" lines; empty unless IPCP came up.
	LocalIP, RemoteIP string
	// IPUpExit is the exit status of Options.IPUp, -1 if it did not run (or did not
	// finish before the guest powered off); IPUpOutput is what it wrote, stdout and
	// stderr together.
	IPUpExit   int
	IPUpOutput string
	// PPPDStart is the time from starting linux.uml to init.sh's "pppd-start"
	// marker (guest boot plus module loading); zero if it never came.
	PPPDStart time.Duration
	// Elapsed is the time from starting linux.uml until it was gone.
	Elapsed time.Duration
	// UMID is the guest's unique machine id; its host processes carry "umid=UMID"
	// on their command line.
	UMID string
}

// Available reports, as a single error naming every missing piece and the Debian
// package that has it, whether this host can run Run. It does not boot a guest.
func Available() error {
	var missing []string
	if _, err := exec.LookPath(kernelBinary); err != nil {
		missing = append(missing, kernelBinary+" (Debian package user-mode-linux)")
	} else if m, _ := filepath.Glob(filepath.Join(modulesDir, "*", pppAsyncMod)); len(m) == 0 {
		missing = append(missing, filepath.Join(modulesDir, "*", pppAsyncMod)+" (Debian package user-mode-linux)")
	}
	if _, err := os.Stat(pppdPath); err != nil {
		missing = append(missing, pppdPath+" (Debian package ppp)")
	}
	if !exists(insmodPaths...) {
		missing = append(missing, "insmod (Debian package kmod), which loads the guest's PPP modules")
	}
	if _, err := exec.LookPath("gcc"); err != nil {
		missing = append(missing, "gcc (Debian package gcc), to build the ptrace shim")
	}
	if len(missing) > 0 {
		return fmt.Errorf("uml: cannot run pppd in user-mode Linux, missing: %s", strings.Join(missing, ", "))
	}
	return nil
}

// Run boots a guest, runs pppd once on its /dev/ttyS1, and returns when the guest
// has powered off. When ctx ends first, the guest and all its host processes are
// killed and Run returns ctx's error. Run always removes its run directory and
// leaves no process behind. The Result is non-nil whenever the guest was started,
// error or not, so that its Log can be shown.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("uml: not booting a guest: %w", err)
	}
	kernel, err := exec.LookPath(kernelBinary)
	if err != nil {
		return nil, fmt.Errorf("uml: %w", err)
	}
	dir, err := os.MkdirTemp("", "nas-uml-")
	if err != nil {
		return nil, fmt.Errorf("uml: creating the run directory: %w", err)
	}
	defer os.RemoveAll(dir)
	if !safePath(dir) {
		return nil, fmt.Errorf("uml: run directory %q has characters a kernel command line cannot carry; set TMPDIR", dir)
	}
	if err := o.writeRunDir(dir); err != nil {
		return nil, err
	}
	env := os.Environ()
	if !o.NoShim {
		shim, err := shimPath(ctx, dir)
		if err != nil {
			return nil, err
		}
		env = append(env, "LD_PRELOAD="+joinPreload(os.Getenv("LD_PRELOAD"), shim))
	}
	umid := "nas-" + randomHex(6)
	cmd := exec.Command(kernel, o.commandLine(dir, umid)...)
	cmd.Env = env
	cmd.Dir = dir
	// Its own process group, so that the guest's host processes can be killed
	// together; and killed with us if this process dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if o.Line != nil {
		cmd.ExtraFiles = []*os.File{o.Line} // fd 3
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("uml: console pipe: %w", err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw // one pipe: stderr carries UML's early messages

	res := &Result{ExitCode: -1, IPUpExit: -1, UMID: umid}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("uml: starting %s: %w", kernel, err)
	}
	pw.Close()
	pgid := cmd.Process.Pid
	stopWatchdog := startWatchdog(pgid, dir)
	defer stopWatchdog()

	con := &console{start: start, log: o.Log}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		con.read(pr)
	}()
	waitDone := make(chan error, 1)
	go func() { waitDone <- cmd.Wait() }()

	var waitErr, ctxErr error
	select {
	case waitErr = <-waitDone:
	case <-ctx.Done():
		ctxErr = ctx.Err()
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		waitErr = <-waitDone
	}
	res.Elapsed = time.Since(start)
	// UML's helper and guest-process children should die with it; make sure.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	gone := waitGroupGone(pgid, 5*time.Second)
	// Every writer of the pipe is dead unless something left the process group;
	// do not let such a straggler hold Run up.
	select {
	case <-readDone:
	case <-time.After(2 * time.Second):
		pr.Close()
		<-readDone
	}
	pr.Close()

	res.Log = con.text()
	res.PPPDStart = con.started
	res.ExitCode, res.LocalIP, res.RemoteIP = parseConsole(res.Log)
	res.IPUpExit, res.IPUpOutput = parseIPUp(res.Log)

	switch {
	case ctxErr != nil:
		return res, fmt.Errorf("uml: guest %s: %w", umid, ctxErr)
	case !gone:
		return res, fmt.Errorf("uml: guest %s: host processes of process group %d still alive after SIGKILL", umid, pgid)
	case res.ExitCode < 0:
		return res, fmt.Errorf("uml: guest %s ended without reporting pppd's exit status (linux.uml: %v)%s\n%s",
			umid, exitDescription(waitErr), diagnose(res.Log), tail(res.Log, 15))
	}
	return res, nil
}

// startWatchdog starts a process outside the guest's process group that, should
// this process die before calling the returned stop function, kills the group
// and removes the run directory. Pdeathsig alone is not enough: it reaches
// linux.uml's main process but not its I/O helper processes (clone()d threads
// with their own pids), which would sleep in poll(2) forever. If the watchdog
// cannot start, Run goes on without it.
func startWatchdog(pgid int, dir string) (stop func()) {
	r, w, err := os.Pipe()
	if err != nil {
		return func() {}
	}
	// dash: "kill -KILL -PGID" signals a process group. "read" fails only on EOF
	// without a line, that is, when every writer (this process) is gone.
	wd := exec.Command("/bin/sh", "-c", `read line || { kill -KILL -"$1"; rm -rf -- "$2"; }`,
		"nas-uml-watchdog", strconv.Itoa(pgid), dir)
	wd.Stdin = r
	wd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // survives a Ctrl-C to our group
	err = wd.Start()
	r.Close()
	if err != nil {
		w.Close()
		return func() {}
	}
	return func() {
		_, _ = w.WriteString("done\n")
		w.Close()
		_ = wd.Wait()
	}
}

func (o *Options) validate() error {
	if (o.PTY == "") == (o.Line == nil) {
		return errors.New("uml: give exactly one of Options.PTY and Options.Line")
	}
	if o.PTY != "" && !safePath(o.PTY) {
		return fmt.Errorf("uml: tty path %q cannot go on a kernel command line", o.PTY)
	}
	for name, value := range o.Env {
		if !envName.MatchString(name) || reservedEnv[strings.ToLower(name)] {
			return fmt.Errorf("uml: Env name %q: want a shell identifier that is not a kernel or UML parameter", name)
		}
		if strings.ContainsAny(value, " \t\r\n\"'\x00") {
			return fmt.Errorf("uml: Env %s: the value cannot hold spaces, quotes or control characters on a kernel command line", name)
		}
	}
	if len(o.Env) > 24 {
		return fmt.Errorf("uml: %d Env words: the kernel passes init at most 32 environment variables, some taken", len(o.Env))
	}
	for _, m := range o.Modules {
		if !modulePath.MatchString(m) || strings.Contains(m, "..") {
			return fmt.Errorf("uml: module %q: want a path under kernel/ without .ko, like drivers/net/ppp/ppp_deflate", m)
		}
	}
	for name, secret := range o.Secrets {
		if strings.ContainsRune(name, 0) || strings.ContainsRune(secret, 0) {
			return fmt.Errorf("uml: secret for %q: NUL bytes cannot go in a pppd secrets file", name)
		}
	}
	for _, a := range append(append([]string(nil), o.PPPDArgs...), o.Connect, o.IPUp) {
		if strings.ContainsRune(a, 0) {
			return fmt.Errorf("uml: pppd option %q: NUL bytes cannot go in an options file", a)
		}
	}
	return nil
}

var (
	envName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	modulePath = regexp.MustCompile(`^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$`)
	// Words the kernel or UML consume instead of passing them on to init.
	reservedEnv = map[string]bool{
		"mem": true, "init": true, "root": true, "rootfstype": true, "rootflags": true, "ro": true,
		"rw": true, "con": true, "ssl": true, "umid": true, "uml_dir": true, "console": true,
		"quiet": true, "debug": true, "loglevel": true, "panic": true, "hostfs": true, "ubd": true,
		"eth": true, "iomem": true, "initrd": true, "rdinit": true, "home": true, "term": true,
	}
)

// safePath reports whether p can be one word of a kernel command line and of
// LD_PRELOAD.
func safePath(p string) bool {
	return p != "" && !strings.ContainsAny(p, " \t\r\n\"':,\x00")
}

func (o *Options) commandLine(dir, umid string) []string {
	ssl1 := "ssl1=fd:3"
	if o.PTY != "" {
		ssl1 = "ssl1=tty:" + o.PTY
	}
	args := []string{
		"mem=64M", "rootfstype=hostfs", "rootflags=/", "ro",
		"init=" + filepath.Join(dir, "init"),
		"con=null", "con0=null,fd:1", "ssl=null", ssl1,
		"uml_dir=" + dir, "umid=" + umid,
	}
	names := make([]string, 0, len(o.Env))
	for name := range o.Env {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		args = append(args, name+"="+o.Env[name])
	}
	return args
}

type runFile struct {
	name string
	data []byte
	mode os.FileMode
}

// writeRunDir writes what init.sh reads: itself, pppd's options file, the secrets
// and the extra module list.
func (o *Options) writeRunDir(dir string) error {
	var opts bytes.Buffer
	for _, a := range o.PPPDArgs {
		opts.WriteString(quoteWord(a))
		opts.WriteByte('\n')
	}
	if o.Connect != "" {
		fmt.Fprintf(&opts, "connect %s\n", quoteWord(o.Connect))
	}
	files := []runFile{
		{"init", initScript, 0o755},
		{"pppd-options", opts.Bytes(), 0o644},
	}
	if len(o.Secrets) > 0 {
		names := make([]string, 0, len(o.Secrets))
		for name := range o.Secrets {
			names = append(names, name)
		}
		sort.Strings(names)
		var s bytes.Buffer
		for _, name := range names {
			fmt.Fprintf(&s, "%s * %s *\n", quoteWord(name), quoteWord(o.Secrets[name]))
		}
		files = append(files, runFile{"pap-secrets", s.Bytes(), 0o600}, runFile{"chap-secrets", s.Bytes(), 0o600})
	}
	if len(o.Modules) > 0 {
		files = append(files, runFile{"modules", []byte(strings.Join(o.Modules, "\n") + "\n"), 0o644})
	}
	if o.IPUp != "" {
		files = append(files, runFile{"ip-up", []byte(o.IPUp + "\n"), 0o644})
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return fmt.Errorf("uml: writing %s: %w", f.name, err)
		}
	}
	return nil
}

// quoteWord makes s one word of a pppd options or secrets file: double-quoted,
// with the backslash escapes pppd's getword understands (pppd options.c).
func quoteWord(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 || c == 0x7f {
				fmt.Fprintf(&b, `\%03o`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

func joinPreload(existing, shim string) string {
	if existing == "" {
		return shim
	}
	return shim + ":" + existing
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}

// console collects the guest's output and notes when the pppd-start marker came.
type console struct {
	start   time.Time
	log     io.Writer
	mu      sync.Mutex
	buf     bytes.Buffer
	started time.Duration
}

func (c *console) read(r io.Reader) {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			if c.log != nil {
				_, _ = c.log.Write(line)
			}
			line = bytes.ReplaceAll(line, []byte("\r"), nil)
			c.mu.Lock()
			if c.started == 0 && bytes.HasPrefix(line, []byte(markerStart)) {
				c.started = time.Since(c.start)
			}
			c.buf.Write(line)
			c.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

func (c *console) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

var ipLine = regexp.MustCompile(`^(local|remote) +IP address +([0-9A-Fa-f.:]+)`)

// parseConsole finds pppd's exit status (-1 if not reported) and the addresses
// IPCP settled on in a guest's console output.
func parseConsole(log string) (exit int, local, remote string) {
	exit = -1
	for _, line := range strings.Split(log, "\n") {
		line = strings.TrimRight(line, "\r")
		if v, ok := strings.CutPrefix(line, markerExit); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 && n <= 255 {
				exit = n
			}
			continue
		}
		if m := ipLine.FindStringSubmatch(line); m != nil {
			if m[1] == "local" {
				local = m[2]
			} else {
				remote = m[2]
			}
		}
	}
	return exit, local, remote
}

// parseIPUp finds the exit status (-1 if not reported) and the output of the
// ip-up script in a guest's console output.
func parseIPUp(log string) (exit int, output string) {
	exit = -1
	var out strings.Builder
	for _, line := range strings.Split(log, "\n") {
		line = strings.TrimRight(line, "\r")
		if v, ok := strings.CutPrefix(line, markerIPUpRC); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 && n <= 255 {
				exit = n
			}
			continue
		}
		if v, ok := strings.CutPrefix(line, markerIPUp); ok {
			out.WriteString(v)
			out.WriteByte('\n')
		}
	}
	return exit, out.String()
}

// diagnose names known causes of a guest that died early.
func diagnose(log string) string {
	var hints []string
	if strings.Contains(log, "ptrace set fp regs failed") {
		hints = append(hints, "UML could not restore vector registers (the AVX-512/AMX XSTATE crash): is the xstate shim preloaded?")
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.HasPrefix(line, markerError) {
			hints = append(hints, strings.TrimPrefix(line, markerPrefix))
		}
	}
	if strings.Contains(log, "Kernel panic") && len(hints) == 0 {
		hints = append(hints, "the guest kernel panicked")
	}
	if len(hints) == 0 {
		return ""
	}
	return "; " + strings.Join(hints, "; ")
}

func exitDescription(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func tail(log string, n int) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitGroupGone polls until no process is left in process group pgid (zombies
// included: they are reaped by whoever adopted them), or the timeout passes.
func waitGroupGone(pgid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if len(groupMembers(pgid)) == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// groupMembers lists the live (non-zombie) processes in process group pgid.
func groupMembers(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 3 || f[0] == "Z" {
			continue
		}
		if g, err := strconv.Atoi(f[2]); err == nil && g == pgid {
			pids = append(pids, pid)
		}
	}
	return pids
}

// OpenPTY opens a host pty pair for a guest. Give slave.Name() to Options.PTY and
// keep slave open until Run returns (while no slave is open, reads on the master
// fail with EIO). The slave is in raw mode from the start, so nothing written on
// the master before the guest opens the line is echoed or translated. Unlike the
// file creack/pty returns, master is non-blocking under the Go poller: deadlines
// work on it and Close wakes a blocked Read.
func OpenPTY() (master, slave *os.File, err error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("uml: opening a pty: %w", err)
	}
	defer m.Close()
	fd, err := unix.FcntlInt(m.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("uml: duplicating pty master %s: %w", m.Name(), err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		s.Close()
		return nil, nil, fmt.Errorf("uml: pty master %s non-blocking: %w", m.Name(), err)
	}
	master = os.NewFile(uintptr(fd), m.Name())
	if err := makeRaw(s); err != nil {
		master.Close()
		s.Close()
		return nil, nil, err
	}
	return master, s, nil
}

// makeRaw does what cfmakeraw(3) does to a tty.
func makeRaw(f *os.File) error {
	fd := int(f.Fd())
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("uml: reading termios of %s: %w", f.Name(), err)
	}
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("uml: making %s raw: %w", f.Name(), err)
	}
	return nil
}
