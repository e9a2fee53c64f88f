package config

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dialback/nas/lines/chat"
)

// StandardSpeeds are the DTE rates a line may use: the termios rates a modem line runs at.
var StandardSpeeds = []int{300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600}

// aaaMethods lists every method name the configuration knows. The value is empty for a
// method that can be used now, and otherwise says why it cannot: adding a backend means
// clearing its entry here once its servers can be configured.
var aaaMethods = map[string]string{
	"local":  "",
	"radius": "", // usable when radius.servers is non-empty: see radiusMethodProblem
	"tacacs": "", // usable when tacacs.servers is non-empty: see tacacsMethodProblem
}

// aaaMethodOrder is the order methods are named in messages.
var aaaMethodOrder = []string{"local", "radius", "tacacs"}

// Allowed values, shared by validation and the messages that list them.
var (
	parities      = []string{"none", "even", "odd", "mark", "space"}
	flowControls  = []string{"hardware", "software", "none"}
	answerModes   = []string{"auto", "ring"}
	modemModes    = []string{"inout", "dialin"}
	hangups       = []string{"dtr", "escape"}
	autoselects   = []string{"ppp", "arap", "during-login"}
	logins        = []string{"local", "authentication", "none"}
	logLevels     = []string{"debug", "info", "warn", "error"}
	logFormats    = []string{"text", "json"}
	dialModifiers = "*#,+-.() WwPpTt!@"
)

// Limits. IOS ranges where IOS has them.
const (
	maxRotary          = 100                 // IOS `rotary 1-100`
	maxAnswerRings     = 10                  // more rings than a caller waits for
	maxExecTimeout     = 35791 * time.Minute // IOS `exec-timeout` maximum
	maxAbsoluteTimeout = 10000 * time.Minute // IOS `absolute-timeout` maximum
	minLoginTimeout    = time.Second         // IOS `timeout login response 1-300`
	maxLoginTimeout    = 300 * time.Second
	maxForcedWait      = 2 * time.Minute
	maxNoDSRWait       = time.Minute
	maxPromptTimeout   = 10 * time.Minute
	maxRetries         = 10
	maxRingPeriod      = time.Minute
	maxNoAnswerRings   = 100
	maxLatency         = 10 * time.Second
	minConnectSpeed    = 300
	maxConnectSpeed    = 115200
	maxDialstring      = 64
	maxHostname        = 63 // one DNS label
)

// Validate checks every rule of the configuration and returns Errors listing every problem,
// or nil. Parse and Load call it; call it yourself on a Config built in code (after
// ApplyDefaults, or starting from Default and DefaultLine).
func (c *Config) Validate() error {
	var e collector
	c.validateHostname(&e)
	ttys := c.validateLines(&e)
	c.validateChatScripts(&e)
	c.validateUsers(&e, ttys)
	c.validateAAA(&e)
	durRange(&e, "callback.prompt-timeout", c.Callback.PromptTimeout, time.Second, maxPromptTimeout, "")
	intRange(&e, "callback.retries", c.Callback.Retries, 0, maxRetries)
	c.validatePSTN(&e)
	c.validateRADIUS(&e)
	c.validateTACACS(&e)
	c.validateAccounting(&e)
	c.validatePPP(&e)
	c.validateDataPlane(&e)
	c.validateMetrics(&e)
	oneOf(&e, "log.level", c.Log.Level, logLevels, "")
	oneOf(&e, "log.format", c.Log.Format, logFormats, "")
	return e.err()
}

func (c *Config) validateHostname(e *collector) {
	h := c.Hostname
	switch {
	case h == "":
		e.add("hostname", "is required")
	case len(h) > maxHostname:
		e.add("hostname", "is longer than %d characters", maxHostname)
	case strings.IndexFunc(h, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	}) >= 0:
		e.add("hostname", "%q may contain only letters, digits, '-', '_' and '.'", h)
	}
}

// validateLines checks every line entry and returns the configured TTYs by number.
func (c *Config) validateLines(e *collector) map[int]TTY {
	owner := map[int]int{} // TTY number -> index of the entry that configured it first
	type portUse struct{ entry, tty int }
	ports := map[string]portUse{}

	for i, s := range c.Lines {
		p := index("lines", i)
		first, last, rerr := s.Range()
		if rerr != nil {
			e.add(join(p, "lines"), "%s", rerr.Error())
		} else {
			overlaps := map[int][]int{}
			for n := first; n <= last; n++ {
				if j, taken := owner[n]; taken {
					overlaps[j] = append(overlaps[j], n)
				} else {
					owner[n] = i
				}
			}
			for _, j := range sortedInts(overlaps) {
				e.add(join(p, "lines"), "%q overlaps lines[%d] (%q) on TTY %s: each TTY may be configured once",
					s.Lines, j, c.Lines[j].Lines, compressNums(overlaps[j]))
			}
		}

		c.validatePort(e, p, s, i, first, last, rerr == nil, func(port string, n int) (string, bool) {
			key := port
			if PortScheme(port) == SchemeRFC2217 {
				key = strings.ToLower(port)
			}
			if prev, used := ports[key]; used {
				return fmt.Sprintf("TTY %d would use %q, which TTY %d (lines[%d]) already uses", n, port, prev.tty, prev.entry), false
			}
			ports[key] = portUse{i, n}
			return "", true
		})

		if !slices.Contains(StandardSpeeds, s.Speed) {
			e.add(join(p, "speed"), "%d is not a standard speed: one of %s", s.Speed, joinInts(StandardSpeeds))
		}
		oneOf(e, join(p, "parity"), s.Parity, parities, "")
		if s.StopBits != 1 && s.StopBits != 2 {
			e.add(join(p, "stop-bits"), "%d is not one of 1, 2", s.StopBits)
		}
		intRange(e, join(p, "data-bits"), s.DataBits, 5, 8)
		oneOf(e, join(p, "flowcontrol"), s.FlowControl, flowControls, "")

		mp := join(p, "modem")
		if strings.ContainsAny(s.Modem.Init, "\r\n") {
			e.add(join(mp, "init"), "contains a line break: write one command line; the NAS sends the CR")
		}
		oneOf(e, join(mp, "answer"), s.Modem.Answer, answerModes, "")
		intRange(e, join(mp, "answer-rings"), s.Modem.AnswerRings, 1, maxAnswerRings)
		oneOf(e, join(mp, "mode"), s.Modem.Mode, modemModes, "")
		if s.Modem.Hangup != "" {
			oneOf(e, join(mp, "hangup"), s.Modem.Hangup, hangups,
				" (or leave it out: dtr when the port has modem control, otherwise escape)")
		}

		intRange(e, join(p, "rotary"), s.Rotary, 0, maxRotary)

		for k, a := range s.Autoselect {
			ap := index(join(p, "autoselect"), k)
			if !oneOf(e, ap, a, autoselects, "") {
				continue
			}
			if slices.Index(s.Autoselect, a) < k {
				e.add(ap, "%q is listed twice", a)
			}
			if a == "arap" && len(c.AAA.ARAP) == 0 {
				e.add(ap, "arap needs an aaa.arap method list (e.g. [local])")
			}
		}

		if s.Login != "" {
			oneOf(e, join(p, "login"), s.Login, logins, ` (or "" for no login)`)
		}

		cp := join(p, "callback")
		durRange(e, join(cp, "forced-wait"), s.Callback.ForcedWait, 0, maxForcedWait, "")
		durRange(e, join(cp, "nodsr-wait"), s.Callback.NoDSRWait, 0, maxNoDSRWait,
			" (IOS counts nodsr-wait in milliseconds: its 5000 is 5000ms here; a plain integer means seconds)")

		sp := join(p, "script")
		for _, ref := range []struct{ key, name string }{
			{"callback", s.Script.Callback}, {"reset", s.Script.Reset},
			{"startup", s.Script.Startup}, {"dialer", s.Script.Dialer},
		} {
			if ref.name == "" {
				continue
			}
			if _, ok := c.ChatScripts[ref.name]; !ok {
				e.add(join(sp, ref.key), "chat script %q is not defined in chat-scripts (%s)", ref.name, c.definedScripts())
			}
		}

		if s.ExecTimeout != nil {
			durRange(e, join(p, "exec-timeout"), *s.ExecTimeout, 0, maxExecTimeout, " (0 disables it)")
		}
		durRange(e, join(p, "absolute-timeout"), s.AbsoluteTimeout, 0, maxAbsoluteTimeout, " (0 disables it)")
		durRange(e, join(p, "login-timeout"), s.LoginTimeout, minLoginTimeout, maxLoginTimeout, "")
	}

	ttys := map[int]TTY{}
	for _, t := range c.TTYs() {
		ttys[t.Num] = t
	}
	return ttys
}

// validatePort checks the entry's port for every TTY it covers; claim records each port and
// reports one already taken. One problem is reported per entry, not per TTY.
func (c *Config) validatePort(e *collector, p string, s LineSpec, entry, first, last int, rangeOK bool, claim func(port string, n int) (string, bool)) {
	pp := join(p, "port")
	switch {
	case strings.TrimSpace(s.Port) == "":
		e.add(pp, "is required: a device path (/dev/ttyS0), rfc2217://host:port or sim:NUMBER")
		return
	case !rangeOK:
		if msg := checkPort(s.PortFor(0)); msg != "" {
			e.add(pp, "%s", msg)
		}
		return
	case first != last && !strings.Contains(s.Port, PortTemplate):
		e.add(pp, "%q has no %s template, so TTYs %d-%d would share one port: write e.g. %q",
			s.Port, PortTemplate, first, last, s.Port+PortTemplate)
		return
	}
	for n := first; n <= last; n++ {
		port := s.PortFor(n)
		if msg := checkPort(port); msg != "" {
			if first != last {
				msg = fmt.Sprintf("for TTY %d: %s", n, msg)
			}
			e.add(pp, "%s", msg)
			return
		}
	}
	for n := first; n <= last; n++ {
		if msg, ok := claim(s.PortFor(n), n); !ok {
			e.add(pp, "%s", msg)
			return
		}
	}
}

func (c *Config) definedScripts() string {
	if len(c.ChatScripts) == 0 {
		return "none are defined"
	}
	return "defined: " + strings.Join(sortedStrings(c.ChatScripts), ", ")
}

func (c *Config) validateChatScripts(e *collector) {
	for _, name := range sortedStrings(c.ChatScripts) {
		p := join("chat-scripts", name)
		if name == "" || strings.ContainsAny(name, " \t\r\n") {
			e.add(p, "a chat-script name must be one word")
			continue
		}
		text := c.ChatScripts[name]
		if strings.TrimSpace(text) == "" {
			e.add(p, "is empty: write EXPECT SEND pairs, e.g. \"\" ATZ OK")
			continue
		}
		if _, err := chat.Parse(text); err != nil {
			e.add(p, "does not parse: %v", err)
		}
	}
}

func (c *Config) validateUsers(e *collector, ttys map[int]TTY) {
	byName := map[string]int{}
	rotaries := map[int][]TTY{}
	for _, num := range sortedInts(ttys) {
		t := ttys[num]
		if t.Spec.Rotary > 0 {
			rotaries[t.Spec.Rotary] = append(rotaries[t.Spec.Rotary], t)
		}
	}
	canDial := func(t TTY) bool { return t.Spec.Modem.Mode == "inout" && t.Spec.Script.Callback != "" }

	for i, u := range c.Users {
		p := index("users", i)
		np := join(p, "name")
		switch {
		case u.Name == "":
			e.add(np, "is required")
		case strings.ContainsAny(u.Name, " \t\r\n"):
			e.add(np, "%q contains white space", u.Name)
		default:
			if j, dup := byName[u.Name]; dup {
				e.add(np, "%q is already defined by users[%d]", u.Name, j)
			} else {
				byName[u.Name] = i
			}
		}

		// Never echo a secret in a message.
		switch {
		case u.Password == "" && u.PasswordHash == "":
			e.add(join(p, "password"), "is required: set password (needed for CHAP) or password-hash (login and PAP only)")
		case u.Password != "" && u.PasswordHash != "":
			e.add(join(p, "password-hash"), "is set together with password: keep exactly one")
		case u.PasswordHash != "" && !validHash(u.PasswordHash):
			e.add(join(p, "password-hash"), "is not a hash this NAS can check: use bcrypt ($2a$, $2b$, $2y$) or sha512-crypt ($6$)")
		}

		if u.CallbackDialstring != nil {
			if msg := checkDialstring(*u.CallbackDialstring); msg != "" {
				e.add(join(p, "callback-dialstring"), "%s", msg)
			}
		} else {
			for _, f := range []struct {
				key string
				set bool
			}{{"callback-line", u.CallbackLine != 0}, {"callback-rotary", u.CallbackRotary != 0}, {"nocallback-verify", u.NoCallbackVerify}} {
				if f.set {
					e.add(join(p, f.key), `has no effect without callback-dialstring (add callback-dialstring: "" to let the user supply the number)`)
				}
			}
		}

		if u.CallbackLine != 0 {
			lp := join(p, "callback-line")
			t, ok := ttys[u.CallbackLine]
			switch {
			case u.CallbackLine < 0 || u.CallbackLine > MaxTTY:
				e.add(lp, "%d is out of range 0-%d", u.CallbackLine, MaxTTY)
			case !ok:
				e.add(lp, "TTY %d is not configured (configured: %s)", u.CallbackLine, configuredTTYs(ttys))
			case t.Spec.Modem.Mode != "inout":
				e.add(lp, "TTY %d is modem mode %s and cannot dial the callback (it needs inout)", u.CallbackLine, t.Spec.Modem.Mode)
			case t.Spec.Script.Callback == "":
				e.add(lp, "TTY %d has no script.callback to dial the callback with", u.CallbackLine)
			}
		}

		if u.CallbackRotary != 0 {
			rp := join(p, "callback-rotary")
			group := rotaries[u.CallbackRotary]
			switch {
			case u.CallbackRotary < 1 || u.CallbackRotary > maxRotary:
				e.add(rp, "%d is out of range 1-%d", u.CallbackRotary, maxRotary)
			case len(group) == 0:
				e.add(rp, "rotary group %d is not configured (%s)", u.CallbackRotary, configuredRotaries(rotaries))
			case !slices.ContainsFunc(group, canDial):
				e.add(rp, "no TTY of rotary group %d can dial the callback (each needs modem mode inout and script.callback)", u.CallbackRotary)
			}
		}
	}
}

func validHash(h string) bool {
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$", "$6$"} {
		if strings.HasPrefix(h, prefix) && len(h) > len(prefix) {
			return true
		}
	}
	return false
}

func (c *Config) validateAAA(e *collector) {
	for _, list := range []struct {
		key      string
		methods  []string
		required bool
	}{{"aaa.login", c.AAA.Login, true}, {"aaa.ppp", c.AAA.PPP, true}, {"aaa.arap", c.AAA.ARAP, false}} {
		if list.required && len(list.methods) == 0 {
			e.add(list.key, "must list at least one method (%s)", strings.Join(aaaMethodOrder, ", "))
			continue
		}
		for k, m := range list.methods {
			p := index(list.key, k)
			why, known := aaaMethods[m]
			if m == "radius" {
				why = c.radiusMethodProblem()
			}
			if m == "tacacs" {
				why = c.tacacsMethodProblem()
			}
			switch {
			case !known:
				e.add(p, "%q is not one of %s", m, strings.Join(aaaMethodOrder, ", "))
			case why != "":
				e.add(p, "%s: %s", m, why)
			case slices.Index(list.methods, m) < k:
				e.add(p, "%q is listed twice", m)
			}
		}
	}
}

func (c *Config) validatePSTN(e *collector) {
	durRange(e, "pstn.ring-period", c.PSTN.RingPeriod, time.Millisecond, maxRingPeriod, "")
	intRange(e, "pstn.no-answer-rings", c.PSTN.NoAnswerRings, 1, maxNoAnswerRings)
	if r := c.PSTN.BitErrorRate; !(r >= 0 && r < 1) || math.IsNaN(r) {
		e.add("pstn.bit-error-rate", "%s is out of range: a probability from 0 up to (not including) 1", strconv.FormatFloat(r, 'g', -1, 64))
	}
	durRange(e, "pstn.latency", c.PSTN.Latency, 0, maxLatency, "")
	intRange(e, "pstn.connect-speed", c.PSTN.ConnectSpeed, minConnectSpeed, maxConnectSpeed)
	c.validatePSTNExpose(e)
}

// oneOf reports val if it is not in allowed, and says whether it was.
func oneOf(e *collector, path, val string, allowed []string, extra string) bool {
	if slices.Contains(allowed, val) {
		return true
	}
	e.add(path, "%q is not one of %s%s", val, strings.Join(allowed, ", "), extra)
	return false
}

// portNumber parses a numeric TCP or UDP port, 1-65535. Service names ("http") are refused:
// they would depend on the host's /etc/services.
func portNumber(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 1 && n <= 65535
}

func intRange(e *collector, path string, val, lo, hi int) {
	if val < lo || val > hi {
		e.add(path, "%d is out of range %d-%d", val, lo, hi)
	}
}

func durRange(e *collector, path string, d, lo, hi time.Duration, extra string) {
	if d < lo || d > hi {
		e.add(path, "%s is out of range %s-%s%s", fmtDur(d), fmtDur(lo), fmtDur(hi), extra)
	}
}

// fmtDur writes a duration without trailing zero units: 5m rather than 5m0s.
func fmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func joinInts(ns []int) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, ", ")
}

func sortedInts[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	return keys
}

func configuredTTYs(ttys map[int]TTY) string {
	if len(ttys) == 0 {
		return "none"
	}
	return compressNums(sortedInts(ttys))
}

func configuredRotaries(r map[int][]TTY) string {
	if len(r) == 0 {
		return "no line has a rotary group"
	}
	return "configured groups: " + joinInts(sortedInts(r))
}
