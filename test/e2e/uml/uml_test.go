package uml

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialback/nas/test/e2e/peer"
)

// needUML skips the test when the host cannot run guests, or fails it when
// E2E_REQUIRED=1 says it must.
func needUML(t *testing.T) {
	t.Helper()
	if err := Available(); err != nil {
		peer.Missing(t, "%v", err)
	}
}

// lcpFrame is one decoded LCP packet read off the line.
type lcpFrame struct {
	code, id byte
	options  map[byte][]byte
	at       time.Duration // since the guest was started
}

// RFC 1662 §C.2: FCS-16 over address..FCS of a good frame leaves this residue.
const goodFCS = 0xf0b8

func fcs16(p []byte) uint16 {
	fcs := uint16(0xffff)
	for _, b := range p {
		fcs ^= uint16(b)
		for i := 0; i < 8; i++ {
			if fcs&1 != 0 {
				fcs = fcs>>1 ^ 0x8408
			} else {
				fcs >>= 1
			}
		}
	}
	return fcs
}

// decodeLCP checks one HDLC-like frame body (between flags, still escaped) and
// returns its LCP packet: RFC 1662 §4.2 escapes, §C.2 FCS, address 0xFF and
// control 0x03 (RFC 1661 §6.6: never compressed for LCP), protocol 0xC021, an
// RFC 1661 §5 header whose length fits, and well-formed options.
func decodeLCP(esc []byte) (lcpFrame, error) {
	var f []byte
	for i := 0; i < len(esc); i++ {
		if esc[i] == 0x7d {
			if i+1 == len(esc) {
				return lcpFrame{}, errors.New("frame ends in an escape")
			}
			i++
			f = append(f, esc[i]^0x20)
			continue
		}
		f = append(f, esc[i])
	}
	if len(f) < 4+4+2 {
		return lcpFrame{}, fmt.Errorf("frame too short: % x", f)
	}
	if fcs16(f) != goodFCS {
		return lcpFrame{}, fmt.Errorf("bad FCS on % x", f)
	}
	f = f[:len(f)-2]
	if f[0] != 0xff || f[1] != 0x03 || f[2] != 0xc0 || f[3] != 0x21 {
		return lcpFrame{}, fmt.Errorf("not an LCP frame: % x", f)
	}
	p := f[4:]
	n := int(p[2])<<8 | int(p[3])
	if n < 4 || n > len(p) {
		return lcpFrame{}, fmt.Errorf("LCP length %d, have %d bytes", n, len(p))
	}
	out := lcpFrame{code: p[0], id: p[1], options: map[byte][]byte{}}
	if out.code == 1 { // Configure-Request: options follow (RFC 1661 §6)
		for o := p[4:n]; len(o) > 0; {
			if len(o) < 2 || o[1] < 2 || int(o[1]) > len(o) {
				return lcpFrame{}, fmt.Errorf("bad option in % x", p[:n])
			}
			out.options[o[0]] = o[2:o[1]]
			o = o[o[1]:]
		}
	}
	return out, nil
}

// lineReader reads the host end of the guest's line, keeping text before the
// first frame and decoding every frame, until the file is closed.
type lineReader struct {
	start  time.Time
	mu     sync.Mutex
	text   bytes.Buffer
	frames []lcpFrame
	errs   []error
	first  chan struct{} // closed at the first valid Configure-Request
	done   chan struct{}
}

func readLine(f *os.File, start time.Time) *lineReader {
	r := &lineReader{start: start, first: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		br := bufio.NewReader(f)
		inFrame := false
		var cur []byte
		for {
			b, err := br.ReadByte()
			if err != nil {
				return
			}
			r.mu.Lock()
			switch {
			case b == 0x7e:
				if inFrame && len(cur) > 0 {
					fr, err := decodeLCP(cur)
					if err != nil {
						r.errs = append(r.errs, err)
					} else {
						fr.at = time.Since(r.start)
						r.frames = append(r.frames, fr)
						if fr.code == 1 && len(r.frames) == 1 {
							close(r.first)
						}
					}
				}
				inFrame, cur = true, cur[:0]
			case inFrame:
				cur = append(cur, b)
			default:
				r.text.WriteByte(b)
			}
			r.mu.Unlock()
		}
	}()
	return r
}

// waitGoroutines fails the test unless the goroutine count comes back to base.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d, want %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processesWithUMID lists host processes whose command line names the guest.
func processesWithUMID(umid string) []string {
	var found []string
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		if bytes.Contains(b, []byte("\x00umid="+umid+"\x00")) || bytes.HasSuffix(b, []byte("\x00umid="+umid)) {
			found = append(found, d)
		}
	}
	return found
}

// sha256Prefix is what `sha256sum | cut -c1-16` prints for s.
func sha256Prefix(s string) string {
	sum := sha256.Sum256([]byte(s))
	return fmt.Sprintf("%x", sum[:8])
}

// TestPPPDCaller boots guests in parallel, each running pppd against a host pty
// with nobody answering, and checks what comes down the line and what pppd says.
func TestPPPDCaller(t *testing.T) {
	needUML(t)
	base := runtime.NumGoroutine()
	const password = "pw-Not-In-Any-Log"
	cases := []struct {
		name string
		opts Options
		// cancelAtFirst cancels the run as soon as the first frame arrives.
		cancelAtFirst bool
		// asFD hands the guest the pty slave as fd 3 (Options.Line) instead of
		// its path (Options.PTY).
		asFD         bool
		wantText     string // line text before the first frame (connect script)
		wantExit     int
		wantConfReqs int
		wantLog      []string
	}{
		{
			name: "gives up after lcp-max-configure",
			opts: Options{PPPDArgs: []string{"noauth", "lcp-max-configure", "3", "lcp-restart", "1"}},
			// Not 10: when LCP gives up on a timeout, pppd 2.4.9 takes the channel
			// down and, in the same main-loop turn, reads EOF from its ppp unit,
			// logs "Modem hangup" and exits with the hangup status.
			wantExit:     ExitHangup,
			wantConfReqs: 3,
			wantLog:      []string{"sent [LCP ConfReq", "LCP: timeout sending Config-Requests"},
		},
		{
			name: "connect script sees secrets and environment",
			opts: Options{
				PPPDArgs: []string{"noauth", "user", "bob", "lcp-max-configure", "1", "lcp-restart", "1"},
				Secrets:  map[string]string{"bob": password, "eve": `quote" back\slash`},
				Env:      map[string]string{"nas_greeting": "hello"},
				// Words with spaces, quotes and backslashes reach sh intact. pppd
				// logs this command, so it must not name the password.
				Connect: `printf 'CONNECT %s %s %s %s\r\n' "$nas_greeting" "$(sha256sum </etc/ppp/pap-secrets | cut -c1-16)" "$(stat -c %a /etc/ppp/chap-secrets)" "$(grep -c -e ^bsd_comp -e ^ppp_deflate /proc/modules)"`,
				Modules: []string{"drivers/net/ppp/bsd_comp", "drivers/net/ppp/ppp_deflate"},
			},
			asFD: true,
			wantText: "CONNECT hello " +
				sha256Prefix(`"bob" * "`+password+`" *`+"\n"+`"eve" * "quote\" back\\slash" *`+"\n") + " 600 2\r\n",
			wantExit:     ExitHangup,
			wantConfReqs: 1,
			wantLog:      []string{"Serial connection established."},
		},
		{
			name:          "cancelled context kills the guest",
			opts:          Options{PPPDArgs: []string{"noauth", "lcp-max-configure", "100", "lcp-restart", "1"}},
			cancelAtFirst: true,
		},
	}
	t.Run("guests", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				master, slave, err := OpenPTY()
				if err != nil {
					t.Fatal(err)
				}
				defer slave.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				start := time.Now()
				lr := readLine(master, start)
				if tc.asFD {
					tc.opts.Line = slave
				} else {
					tc.opts.PTY = slave.Name()
				}
				type outcome struct {
					res *Result
					err error
				}
				ran := make(chan outcome, 1)
				go func() {
					res, err := Run(ctx, tc.opts)
					ran <- outcome{res, err}
				}()
				var out outcome
				select {
				case <-lr.first:
					if tc.cancelAtFirst {
						cancel()
					}
					out = <-ran
				case out = <-ran:
				}
				master.Close()
				<-lr.done

				res, err := out.res, out.err
				if res == nil {
					t.Fatalf("Run: %v", err)
				}
				if t.Failed() || testing.Verbose() {
					defer func() {
						if t.Failed() {
							t.Logf("guest console:\n%s", res.Log)
						}
					}()
				}
				lr.mu.Lock()
				frames, errs, text := lr.frames, lr.errs, lr.text.String()
				lr.mu.Unlock()
				if len(errs) > 0 {
					t.Errorf("bad frames on the line: %v", errs)
				}
				if len(frames) == 0 {
					t.Fatalf("no LCP frame on the line (err %v)", err)
				}
				t.Logf("first LCP Configure-Request %v after boot started (pppd started at %v); guest ran %v",
					frames[0].at.Round(time.Millisecond), res.PPPDStart.Round(time.Millisecond), res.Elapsed.Round(time.Millisecond))
				if magic, ok := frames[0].options[5]; !ok || len(magic) != 4 {
					t.Errorf("first Configure-Request has no 4-byte Magic-Number option (RFC 1661 §6.4): %v", frames[0].options)
				}
				if left := processesWithUMID(res.UMID); len(left) > 0 {
					t.Errorf("guest processes left after Run: %v", left)
				}
				if strings.Contains(res.Log, markerError) {
					t.Errorf("init.sh reported an error")
				}
				if strings.Contains(res.Log, password) {
					t.Errorf("the password reached the console log")
				}
				if tc.cancelAtFirst {
					if !errors.Is(err, context.Canceled) {
						t.Fatalf("Run after cancel: %v, want context.Canceled", err)
					}
					if res.ExitCode != -1 {
						t.Errorf("ExitCode %d after a kill, want -1", res.ExitCode)
					}
					return
				}
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				if res.ExitCode != tc.wantExit {
					t.Errorf("pppd exit %d, want %d", res.ExitCode, tc.wantExit)
				}
				confReqs := 0
				for i, f := range frames {
					if f.code != 1 {
						t.Errorf("frame %d: LCP code %d, want only Configure-Requests", i, f.code)
					}
					confReqs++
				}
				if confReqs != tc.wantConfReqs {
					t.Errorf("%d Configure-Requests, want %d", confReqs, tc.wantConfReqs)
				}
				if text != tc.wantText {
					t.Errorf("line text before the first frame %q, want %q", text, tc.wantText)
				}
				for _, w := range tc.wantLog {
					if !strings.Contains(res.Log, w) {
						t.Errorf("console log lacks %q", w)
					}
				}
				if res.PPPDStart <= 0 || res.PPPDStart > res.Elapsed {
					t.Errorf("PPPDStart %v, Elapsed %v", res.PPPDStart, res.Elapsed)
				}
				if res.LocalIP != "" || res.RemoteIP != "" {
					t.Errorf("addresses %q %q without IPCP", res.LocalIP, res.RemoteIP)
				}
			})
		}
	})
	waitGoroutines(t, base)
}

// TestXstateShim checks the ptrace shim the way UML uses it, against a real child
// whose AVX-512 register zmm16 UML's 832-byte buffer cannot hold.
func TestXstateShim(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		peer.Missing(t, "gcc not installed (apt-get install gcc): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	shim, err := shimPath(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	check := filepath.Join(dir, "xstate_check")
	if msg, err := exec.CommandContext(ctx, "gcc", "-O1", "-o", check, "testdata/xstate_check.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, msg)
	}
	run := func(withShim bool, args ...string) map[string]string {
		t.Helper()
		cmd := exec.CommandContext(ctx, check, args...)
		cmd.Env = os.Environ()
		if withShim {
			cmd.Env = append(cmd.Env, "LD_PRELOAD="+shim)
		}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("xstate_check %v (shim %v): %v", args, withShim, err)
		}
		fields := map[string]string{}
		for _, w := range strings.Fields(string(out)) {
			k, v, _ := strings.Cut(w, "=")
			fields[k] = v
		}
		return fields
	}
	if _, ok := run(false, "832")["noavx512"]; ok {
		// The 832 bytes are the whole state here (or close): the shim must only
		// pass through, which the next cases show as equal results.
		t.Log("no AVX-512 on this CPU: checking pass-through only")
		for _, l := range []string{"832", "0"} {
			if a, b := run(false, l), run(true, l); fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("len %s: without shim %v, with %v", l, a, b)
			}
		}
		return
	}
	host := run(false, "0")["host"]
	t.Logf("host NT_X86_XSTATE size %s bytes", host)
	if host == "832" {
		t.Fatalf("the CPU has AVX-512 but the host's XSAVE area is only 832 bytes: the check's CPU detection is wrong")
	}
	cases := []struct {
		name string
		shim bool
		args []string
		want map[string]string
	}{
		{"UML's 832 bytes without the shim: the host refuses the SET", false, []string{"832"},
			map[string]string{"get": "ok", "set": "errno14", "xmm0": "kept"}},
		{"UML's 832 bytes with the shim", true, []string{"832"},
			map[string]string{"get": "ok", "set": "ok", "xmm0": "changed", "zmm16": "kept"}},
		{"full size without the shim", false, []string{"0"},
			map[string]string{"get": "ok", "set": "ok", "xmm0": "changed", "zmm16": "kept"}},
		{"full size with the shim passes through", true, []string{"0"},
			map[string]string{"get": "ok", "set": "ok", "xmm0": "changed", "zmm16": "kept"}},
		{"oversized buffer with the shim passes through", true, []string{"20000"},
			map[string]string{"get": "ok", "set": "ok", "xmm0": "changed", "zmm16": "kept"}},
		{"zero-padding instead of a side buffer loses zmm16 (the check can fail)", false, []string{"832", "zeropad"},
			map[string]string{"set": "ok", "xmm0": "changed", "zmm16": "lost"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := run(tc.shim, tc.args...)
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s=%s, want %s (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
}

func TestQuoteWord(t *testing.T) {
	cases := []struct{ in, want string }{
		{"noauth", `"noauth"`},
		{"", `""`},
		{`chat -v RING ATA CONNECT ""`, `"chat -v RING ATA CONNECT \"\""`},
		{`a\b`, `"a\\b"`},
		{"tab\there\nnl\r", `"tab\there\nnl\r"`},
		{"bell\x07del\x7f", `"bell\007del\177"`},
		{"# not a comment", `"# not a comment"`},
	}
	for _, tc := range cases {
		if got := quoteWord(tc.in); got != tc.want {
			t.Errorf("quoteWord(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name    string
		o       Options
		wantErr string
	}{
		{"no line", Options{}, "exactly one of"},
		{"both lines", Options{PTY: "/dev/pts/1", Line: os.Stdin}, "exactly one of"},
		{"pty path with space", Options{PTY: "/dev/my pts"}, "kernel command line"},
		{"env name", Options{PTY: "/dev/pts/1", Env: map[string]string{"a-b": "1"}}, "Env name"},
		{"env reserved", Options{PTY: "/dev/pts/1", Env: map[string]string{"init": "/bin/sh"}}, "Env name"},
		{"env value", Options{PTY: "/dev/pts/1", Env: map[string]string{"x": "a b"}}, "cannot hold spaces"},
		{"module", Options{PTY: "/dev/pts/1", Modules: []string{"../../etc/x"}}, "module"},
		{"nul in args", Options{PTY: "/dev/pts/1", PPPDArgs: []string{"a\x00"}}, "NUL"},
		{"nul in secret", Options{PTY: "/dev/pts/1", Secrets: map[string]string{"u": "\x00"}}, "NUL"},
		{"good", Options{PTY: "/dev/pts/1", Env: map[string]string{"nas_x": "1"}, Modules: []string{"drivers/net/ppp/bsd_comp"}}, ""},
	}
	for _, tc := range cases {
		err := tc.o.validate()
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.wantErr)
		}
	}
}

func TestParseConsole(t *testing.T) {
	cases := []struct {
		name          string
		log           string
		exit          int
		local, remote string
	}{
		{"nothing", "Linux version 6.1\nKernel panic\n", -1, "", ""},
		{"exit", "NAS-UML: pppd-start\nsent [LCP ConfReq id=0x1]\nNAS-UML: pppd-exit=10\r\n", 10, "", ""},
		{"ipcp", "local  IP address 10.0.0.2\nremote IP address 10.0.0.1\nNAS-UML: pppd-exit=0\n", 0, "10.0.0.2", "10.0.0.1"},
		{"garbage exit", "NAS-UML: pppd-exit=x\n", -1, "", ""},
		{"marker mid-line is not a marker", "echo NAS-UML: pppd-exit=3\n", -1, "", ""},
	}
	for _, tc := range cases {
		exit, local, remote := parseConsole(tc.log)
		if exit != tc.exit || local != tc.local || remote != tc.remote {
			t.Errorf("%s: got %d %q %q, want %d %q %q", tc.name, exit, local, remote, tc.exit, tc.local, tc.remote)
		}
	}
}

func FuzzParseConsole(f *testing.F) {
	f.Add("NAS-UML: pppd-exit=14\nlocal  IP address 10.1.2.3\nremote IP address 10.1.2.4\n")
	f.Add("NAS-UML: pppd-exit=99999999999999999999\n")
	f.Fuzz(func(t *testing.T, log string) {
		exit, local, remote := parseConsole(log)
		if exit < -1 || exit > 255 {
			t.Fatalf("exit %d out of range", exit)
		}
		if exit >= 0 && !strings.Contains(log, markerExit) {
			t.Fatalf("exit %d without a marker", exit)
		}
		for _, ip := range []string{local, remote} {
			if ip != "" && !strings.Contains(log, ip) {
				t.Fatalf("address %q not in the log", ip)
			}
		}
	})
}

func FuzzDecodeLCP(f *testing.F) {
	f.Add([]byte("\xff\x7d\x23\xc0\x21\x7d\x21\x7d\x21\x7d\x20\x7d\x34"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if fr, err := decodeLCP(b); err == nil && fr.code == 1 {
			for k, v := range fr.options {
				if len(v) > 253 {
					t.Fatalf("option %d of %d bytes", k, len(v))
				}
			}
		}
	})
}
