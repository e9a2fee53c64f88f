package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// base is a small valid configuration. Cases add to it (YAML allows a later top-level key to
// be written only once, so cases replace whole sections by building their own documents).
const baseLines = `
lines:
  - lines: 1-2
    port: "sim:555100{n}"
    script: {callback: callback}
  - lines: 3-4
    port: "sim:555100{n}"
    rotary: 77
    script: {callback: callback}
`

const baseScripts = `
chat-scripts:
  callback: 'ABORT BUSY "" ATZ OK "ATDT \T" CONNECT \c'
`

func doc(parts ...string) string { return strings.Join(parts, "\n") }

// oneLine builds a config whose only line entry has the extra keys given (indented already).
func oneLine(extra string) string {
	return doc("lines:\n  - lines: 1\n    port: \"sim:1\"\n"+extra, baseScripts)
}

func mustErrors(t *testing.T, err error) Errors {
	t.Helper()
	if err == nil {
		t.Fatal("got no error, want one")
	}
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("error %T %q is not Errors", err, err)
	}
	return es
}

// wantOneError parses yaml and checks that it is refused, with exactly one error, at path,
// whose message contains msg.
func wantOneError(t *testing.T, yaml, path, msg string) *FieldError {
	t.Helper()
	c, err := Parse([]byte(yaml))
	if c != nil {
		t.Errorf("got a config with an error")
	}
	es := mustErrors(t, err)
	if len(es) != 1 {
		t.Fatalf("got %d errors, want 1 at %s:\n%v", len(es), path, err)
	}
	if es[0].Path != path || !strings.Contains(es[0].Msg, msg) {
		t.Errorf("got %q\nwant %s: ...%s...", es[0], path, msg)
	}
	return es[0]
}

func TestValidationRules(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		path string // the key the single error must name
		msg  string // a substring of its message
	}{
		// Unknown keys, at every level.
		{"unknown top-level key", doc("hostnme: x", baseLines, baseScripts), "hostnme", "did you mean hostname"},
		{"unknown key in list entry", doc(`
lines:
  - {lines: 1, port: "sim:1"}
  - {lines: 2, port: "sim:2"}
  - {lines: 3, port: "sim:3", modme: {answer: ring}}
`), "lines[2].modme", "unknown key (did you mean modem?)"},
		{"unknown nested key", oneLine("    modem: {anwser: ring}\n"), "lines[0].modem.anwser", "did you mean answer"},
		{"unknown key far from any", oneLine("    zzzzzzzz: 1\n"), "lines[0].zzzzzzzz", "allowed here: lines, port, speed"},
		{"unknown user key", doc(baseLines, baseScripts, "users: [{name: a, password: p, callback: 1}]"), "users[0].callback", "unknown key; allowed here: name, password"},
		{"unknown aaa key", doc("aaa: {radius: [x]}"), "aaa.radius", "unknown key"},

		// Wrong types.
		{"speed not a number", oneLine("    speed: fast\n"), "lines[0].speed", `"fast" is not a whole number`},
		{"speed quoted", oneLine("    speed: \"115200\"\n"), "lines[0].speed", "remove the quotes"},
		{"speed fractional", oneLine("    speed: 1.5\n"), "lines[0].speed", "1.5 is not a whole number"},
		{"bool not bool", oneLine("    flush-at-activation: yes\n"), "lines[0].flush-at-activation", "not a boolean"},
		{"string is a number", doc("hostname: 5300"), "hostname", "write it in quotes"},
		{"list not a list", oneLine("    autoselect: ppp\n"), "lines[0].autoselect", "want a list"},
		{"mapping not a mapping", doc("aaa: [local]"), "aaa", "want a mapping"},
		{"lines not a list", doc("lines: tty1"), "lines", "want a list"},
		{"list entry not a mapping", doc("lines: [5]"), "lines[0]", "want a mapping"},
		{"empty list entry", doc("lines: [~]"), "lines[0]", "empty entry"},
		{"chat script not text", doc("chat-scripts: {x: [a]}"), "chat-scripts.x", "want text"},

		// Durations.
		{"duration words", oneLine("    exec-timeout: 10 minutes\n"), "lines[0].exec-timeout", "plain integer meaning seconds"},
		{"duration fraction", oneLine("    login-timeout: 1.5\n"), "lines[0].login-timeout", "whole seconds"},
		{"duration negative", oneLine("    exec-timeout: -5s\n"), "lines[0].exec-timeout", "-5s is out of range 0s-596h31m"},
		{"login-timeout zero", oneLine("    login-timeout: 0\n"), "lines[0].login-timeout", "0s is out of range 1s-5m"},
		{"login-timeout seconds too long", oneLine("    login-timeout: 600\n"), "lines[0].login-timeout", "10m is out of range 1s-5m"},
		{"absolute-timeout too long", oneLine("    absolute-timeout: 10000h\n"), "lines[0].absolute-timeout", "out of range"},
		{"forced-wait too long", oneLine("    callback: {forced-wait: 3m}\n"), "lines[0].callback.forced-wait", "3m is out of range 0s-2m"},
		{"nodsr-wait in IOS milliseconds", oneLine("    callback: {nodsr-wait: 5000}\n"), "lines[0].callback.nodsr-wait", "5000ms"},

		// Line numbers.
		{"range reversed", doc("lines: [{lines: 5-3, port: \"sim:{n}\"}]"), "lines[0].lines", `"5-3" is not a valid range: 5 is greater than 3`},
		{"range garbage", doc("lines: [{lines: abc, port: \"sim:1\"}]"), "lines[0].lines", `"abc" is not a TTY number or range`},
		{"tty too big", doc("lines: [{lines: 1000, port: \"sim:1\"}]"), "lines[0].lines", "0-999"},
		{"tty negative", doc("lines: [{lines: -1, port: \"sim:1\"}]"), "lines[0].lines", "not a TTY number"},
		{"lines missing", doc("lines: [{port: \"sim:1\"}]"), "lines[0].lines", "is required"},
		{"overlap", doc(`
lines:
  - {lines: 1-4, port: "sim:1{n}"}
  - {lines: 3-6, port: "sim:2{n}"}
`), "lines[1].lines", `"3-6" overlaps lines[0] ("1-4") on TTY 3-4`},

		// Ports.
		{"port missing", doc("lines: [{lines: 1}]"), "lines[0].port", "is required"},
		{"port unknown scheme", doc("lines: [{lines: 1, port: COM1}]"), "lines[0].port", `"COM1" is not a port`},
		{"range shares port", doc("lines: [{lines: 1-4, port: /dev/ttyS0}]"), "lines[0].port", "no {n} template, so TTYs 1-4 would share one port"},
		{"rfc2217 without port", doc("lines: [{lines: 1, port: \"rfc2217://host\"}]"), "lines[0].port", "host and TCP port"},
		{"rfc2217 port too big", doc("lines: [{lines: 4-6, port: \"rfc2217://h:6553{n}\"}]"), "lines[0].port", `for TTY 6: "rfc2217://h:65536": TCP port "65536" is out of range 1-65535`},
		{"sim not digits", doc("lines: [{lines: 1, port: \"sim:55x\"}]"), "lines[0].port", "digits only"},
		{"unknown template", doc("lines: [{lines: 1-2, port: \"/dev/ttyUSB{n}{N}\"}]"), "lines[0].port", "unknown template"},
		{"port used twice", doc(`
lines:
  - {lines: 1, port: /dev/ttyS0}
  - {lines: 2, port: /dev/ttyS0}
`), "lines[1].port", "TTY 1 (lines[0]) already uses"},

		// Serial settings.
		{"speed not standard", oneLine("    speed: 115201\n"), "lines[0].speed", "115201 is not a standard speed: one of 300,"},
		{"parity", oneLine("    parity: weird\n"), "lines[0].parity", `"weird" is not one of none, even, odd, mark, space`},
		{"stop-bits", oneLine("    stop-bits: 3\n"), "lines[0].stop-bits", "3 is not one of 1, 2"},
		{"data-bits high", oneLine("    data-bits: 9\n"), "lines[0].data-bits", "9 is out of range 5-8"},
		{"data-bits low", oneLine("    data-bits: 4\n"), "lines[0].data-bits", "4 is out of range 5-8"},
		{"flowcontrol", oneLine("    flowcontrol: rts\n"), "lines[0].flowcontrol", "is not one of hardware, software, none"},

		// Modem.
		{"answer", oneLine("    modem: {answer: sometimes}\n"), "lines[0].modem.answer", `"sometimes" is not one of auto, ring`},
		{"answer-rings zero", oneLine("    modem: {answer-rings: 0}\n"), "lines[0].modem.answer-rings", "0 is out of range 1-10"},
		{"answer-rings many", oneLine("    modem: {answer-rings: 11}\n"), "lines[0].modem.answer-rings", "11 is out of range 1-10"},
		{"mode", oneLine("    modem: {mode: dialout}\n"), "lines[0].modem.mode", "is not one of inout, dialin"},
		{"hangup", oneLine("    modem: {hangup: drop}\n"), "lines[0].modem.hangup", "is not one of dtr, escape"},
		{"init with CR", oneLine("    modem: {init: \"ATZ\\r\"}\n"), "lines[0].modem.init", "line break"},

		// Line behaviour.
		{"rotary", doc(`
lines:
  - {lines: 1, port: "sim:1"}
  - {lines: 2, port: "sim:2"}
  - {lines: 3, port: "sim:3", rotary: 500}
`), "lines[2].rotary", "500 is out of range 0-100"},
		{"rotary negative", oneLine("    rotary: -1\n"), "lines[0].rotary", "-1 is out of range 0-100"},
		{"autoselect item", oneLine("    autoselect: [ppp, slip]\n"), "lines[0].autoselect[1]", `"slip" is not one of ppp, arap, during-login`},
		{"autoselect twice", oneLine("    autoselect: [ppp, ppp]\n"), "lines[0].autoselect[1]", "listed twice"},
		{"autoselect arap without list", oneLine("    autoselect: [arap]\n"), "lines[0].autoselect[0]", "aaa.arap"},
		{"login", oneLine("    login: radius\n"), "lines[0].login", `"radius" is not one of local, authentication, none`},
		{"script not defined", oneLine("    script: {reset: nope}\n"), "lines[0].script.reset", `chat script "nope" is not defined in chat-scripts (defined: callback)`},

		// Chat scripts.
		{"chat script empty", doc("chat-scripts: {x: \"  \"}"), "chat-scripts.x", "is empty"},

		// Users.
		{"user name missing", doc("users: [{password: p}]"), "users[0].name", "is required"},
		{"user name twice", doc("users: [{name: a, password: p}, {name: b, password: p}, {name: a, password: q}]"), "users[2].name", `"a" is already defined by users[0]`},
		{"user without secret", doc("users: [{name: a}]"), "users[0].password", "is required"},
		{"user with both secrets", doc("users: [{name: a, password: p, password-hash: \"$6$x$y\"}]"), "users[0].password-hash", "keep exactly one"},
		{"user bad hash", doc("users: [{name: a, password-hash: md5:abc}]"), "users[0].password-hash", "bcrypt"},
		{"dialstring letters", doc(baseLines, baseScripts, `users: [{name: a, password: p, callback-dialstring: "555-CALL"}]`), "users[0].callback-dialstring", `contains 'C'`},
		{"dialstring number", doc(baseLines, baseScripts, `users: [{name: a, password: p, callback-dialstring: 0123}]`), "users[0].callback-dialstring", "octal"},
		{"dialstring null", doc(baseLines, baseScripts, "users: [{name: a, password: p, callback-dialstring: }]"), "users[0].callback-dialstring", `write ""`},
		{"callback-line not configured", doc(baseLines, baseScripts, `users: [{name: a, password: p, callback-dialstring: "1", callback-line: 9}]`), "users[0].callback-line", "TTY 9 is not configured (configured: 1-4)"},
		{"callback-line dialin", doc(`
lines:
  - {lines: 1, port: "sim:1", modem: {mode: dialin}, script: {callback: callback}}
`, baseScripts, `users: [{name: a, password: p, callback-dialstring: "1", callback-line: 1}]`), "users[0].callback-line", "modem mode dialin"},
		{"callback-line without script", doc("lines: [{lines: 1, port: \"sim:1\"}]", `users: [{name: a, password: p, callback-dialstring: "1", callback-line: 1}]`), "users[0].callback-line", "no script.callback"},
		{"callback-rotary range", doc(baseLines, baseScripts, `users: [{name: a, password: p, callback-dialstring: "1", callback-rotary: 101}]`), "users[0].callback-rotary", "101 is out of range 1-100"},
		{"callback-rotary not configured", doc(baseLines, baseScripts, `users: [{name: a, password: p, callback-dialstring: "1", callback-rotary: 5}]`), "users[0].callback-rotary", "rotary group 5 is not configured (configured groups: 77)"},
		{"callback-rotary cannot dial", doc("lines: [{lines: 3-4, port: \"sim:{n}\", rotary: 77}]", `users: [{name: a, password: p, callback-dialstring: "1", callback-rotary: 77}]`), "users[0].callback-rotary", "no TTY of rotary group 77 can dial"},
		{"callback-line without dialstring", doc(baseLines, baseScripts, "users: [{name: a, password: p, callback-line: 1}]"), "users[0].callback-line", "no effect without callback-dialstring"},
		{"nocallback-verify without dialstring", doc("users: [{name: a, password: p, nocallback-verify: true}]"), "users[0].nocallback-verify", "no effect"},

		// AAA.
		{"aaa empty list", doc("aaa: {login: []}"), "aaa.login", "at least one method"},
		{"aaa radius", doc("aaa: {ppp: [local, radius]}"), "aaa.ppp[1]", "radius: no RADIUS servers are configured"},
		{"aaa tacacs", doc("aaa: {login: [tacacs]}"), "aaa.login[0]", "tacacs: no TACACS+ servers are configured"},
		{"aaa unknown method", doc("aaa: {arap: [ldap]}"), "aaa.arap[0]", `"ldap" is not one of local, radius, tacacs`},
		{"aaa twice", doc("aaa: {login: [local, local]}"), "aaa.login[1]", "listed twice"},

		// Globals.
		{"hostname empty", doc(`hostname: ""`), "hostname", "is required"},
		{"hostname spaces", doc(`hostname: "my nas"`), "hostname", "letters, digits"},
		{"prompt-timeout", doc("callback: {prompt-timeout: 0}"), "callback.prompt-timeout", "0s is out of range 1s-10m"},
		{"retries", doc("callback: {retries: 11}"), "callback.retries", "11 is out of range 0-10"},
		{"ring-period", doc("pstn: {ring-period: 0}"), "pstn.ring-period", "out of range"},
		{"no-answer-rings", doc("pstn: {no-answer-rings: 0}"), "pstn.no-answer-rings", "0 is out of range 1-100"},
		{"bit-error-rate", doc("pstn: {bit-error-rate: 1.5}"), "pstn.bit-error-rate", "1.5 is out of range"},
		{"bit-error-rate NaN", doc("pstn: {bit-error-rate: .nan}"), "pstn.bit-error-rate", "NaN is out of range"},
		{"latency", doc("pstn: {latency: 11s}"), "pstn.latency", "11s is out of range 0s-10s"},
		{"connect-speed", doc("pstn: {connect-speed: 100}"), "pstn.connect-speed", "100 is out of range 300-115200"},
		{"log level", doc("log: {level: verbose}"), "log.level", `"verbose" is not one of debug, info, warn, error`},
		{"log format", doc("log: {format: xml}"), "log.format", `"xml" is not one of text, json`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := wantOneError(t, tt.yaml, tt.path, tt.msg)
			if !strings.HasPrefix(fe.Error(), tt.path+": ") {
				t.Errorf("Error() %q does not start with the path", fe.Error())
			}
		})
	}
}

func TestPasswordNeverInMessages(t *testing.T) {
	for _, y := range []string{
		"users: [{name: a, password: 987654}]",
		"users: [{name: a, password: [s3cr3t-list]}]",
		"users: [{name: a, password-hash: 987654}]",
		"users: [{name: a, password: s3cr3t-both, password-hash: \"$6$s3cr3t\"}]",
	} {
		_, err := Parse([]byte(y))
		es := mustErrors(t, err)
		for _, secret := range []string{"987654", "s3cr3t"} {
			if strings.Contains(es.Error(), secret) {
				t.Errorf("%s: message reveals the secret: %v", y, es)
			}
		}
	}
}

func TestThreeProblemsThreeErrors(t *testing.T) {
	y := `
hostname: nas
lines:
  - lines: 1-2
    port: "sim:555100{n}"
  - lines: 3
    port: "sim:5551003"
    modme: {answer: ring}     # 1: unknown key inside a list entry
    rotary: 500               # 2: out of range
log:
  level: loud                 # 3: not an allowed value
`
	_, err := Parse([]byte(y))
	es := mustErrors(t, err)
	want := []string{
		`lines[1].modme: unknown key (did you mean modem?)`,
		`lines[1].rotary: 500 is out of range 0-100`,
		`log.level: "loud" is not one of debug, info, warn, error`,
	}
	if len(es) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(es), len(want), err)
	}
	for i, w := range want {
		if es[i].Error() != w {
			t.Errorf("error %d = %q, want %q", i, es[i].Error(), w)
		}
	}
	if got := strings.Count(err.Error(), "\n") + 1; got != 3 {
		t.Errorf("Error() has %d lines, want 3", got)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "lines[1].modme" {
		t.Errorf("errors.As(*FieldError) = %v", fe)
	}
}

// A key that fails to decode must not also be reported by validation (e.g. "is required").
func TestNoDuplicateErrorForUndecodedKey(t *testing.T) {
	_, err := Parse([]byte(doc("lines: [{lines: 1, port: 17}]")))
	es := mustErrors(t, err)
	if len(es) != 1 || es[0].Path != "lines[0].port" {
		t.Fatalf("got %v, want one error at lines[0].port", err)
	}
}

func TestYAMLSyntaxError(t *testing.T) {
	for _, y := range []string{"lines: [", "- just\n- a list\n", "hostname: a\n  bad: indent\n"} {
		_, err := Parse([]byte(y))
		es := mustErrors(t, err)
		if len(es) != 1 || es[0].Path != "" || !strings.HasPrefix(es[0].Msg, "YAML syntax: ") {
			t.Errorf("%q: got %v, want one YAML syntax error", y, err)
		}
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte("lines: [{lines: 1, port: \"sim:1\"}]"))
	if err != nil {
		t.Fatal(err)
	}
	s := c.Lines[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"hostname", c.Hostname, "nas"},
		{"speed", s.Speed, 115200},
		{"parity", s.Parity, "none"},
		{"data-bits", s.DataBits, 8},
		{"stop-bits", s.StopBits, 1},
		{"flowcontrol", s.FlowControl, "hardware"},
		{"modem.answer", s.Modem.Answer, "ring"},
		{"modem.answer-rings", s.Modem.AnswerRings, 1},
		{"modem.mode", s.Modem.Mode, "inout"},
		{"modem.hangup", s.Modem.Hangup, ""},
		{"rotary", s.Rotary, 0},
		{"flush-at-activation", s.Flush(), true},
		{"exec-timeout", s.ExecIdleTimeout(), 10 * time.Minute},
		{"login-timeout", s.LoginTimeout, 30 * time.Second},
		{"absolute-timeout", s.AbsoluteTimeout, time.Duration(0)},
		{"callback.forced-wait", s.Callback.ForcedWait, 4 * time.Second},
		{"callback.nodsr-wait", s.Callback.NoDSRWait, 5 * time.Second},
		{"login", s.Login, "authentication"},
		{"aaa.login", c.AAA.Login, []string{"local"}},
		{"aaa.ppp", c.AAA.PPP, []string{"local"}},
		{"aaa.arap", len(c.AAA.ARAP), 0},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "text"},
		{"pstn.ring-period", c.PSTN.RingPeriod, time.Second},
		{"pstn.no-answer-rings", c.PSTN.NoAnswerRings, 5},
		{"pstn.connect-speed", c.PSTN.ConnectSpeed, 33600},
		{"callback.prompt-timeout", c.Callback.PromptTimeout, 30 * time.Second},
		{"callback.retries", c.Callback.Retries, 0},
	}
	for _, ch := range checks {
		if !reflect.DeepEqual(ch.got, ch.want) {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

// A key written explicitly keeps its value even when it is the zero value.
func TestExplicitValuesOverrideDefaults(t *testing.T) {
	c, err := Parse([]byte(doc(`
lines:
  - lines: 1
    port: "sim:1"
    flush-at-activation: false
    exec-timeout: 0
    login: none
    callback: {forced-wait: 0, nodsr-wait: 250ms}
    modem: {answer: auto, mode: dialin, hangup: escape}
    parity: even
    data-bits: 7
    speed: 9600
aaa: {login: [local], ppp: [local], arap: [local]}
log: {level: debug, format: json}
pstn: {ring-period: 20ms, bit-error-rate: 0.001, latency: 5ms}
`)))
	if err != nil {
		t.Fatal(err)
	}
	s := c.TTYs()[0].Spec
	if s.Flush() || s.ExecIdleTimeout() != 0 || !s.NoLogin() || s.Login != "" ||
		s.Callback.ForcedWait != 0 || s.Callback.NoDSRWait != 250*time.Millisecond ||
		s.Modem.Answer != "auto" || s.Modem.Mode != "dialin" || s.Modem.Hangup != "escape" ||
		s.Parity != "even" || s.DataBits != 7 || s.Speed != 9600 {
		t.Errorf("explicit values lost: %+v", s)
	}
	if c.Log.Level != "debug" || c.Log.Format != "json" || c.PSTN.RingPeriod != 20*time.Millisecond ||
		c.PSTN.BitErrorRate != 0.001 || c.PSTN.Latency != 5*time.Millisecond || len(c.AAA.ARAP) != 1 {
		t.Errorf("explicit globals lost: %+v %+v", c.Log, c.PSTN)
	}
}

func TestDurationSyntax(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30":      30 * time.Second,
		"\"45\"":  45 * time.Second,
		"2m":      2 * time.Minute,
		"1m30s":   90 * time.Second,
		"1500ms":  1500 * time.Millisecond,
		"0":       0,
		"\"0s\"":  0,
		"2h":      2 * time.Hour,
		"\"10m\"": 10 * time.Minute,
	} {
		c, err := Parse([]byte("lines: [{lines: 1, port: \"sim:1\", exec-timeout: " + in + "}]"))
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got := c.Lines[0].ExecIdleTimeout(); got != want {
			t.Errorf("%s = %v, want %v", in, got, want)
		}
	}
}

func TestRangeExpansion(t *testing.T) {
	c, err := Parse([]byte(doc(`
lines:
  - lines: 10-12
    port: "/dev/ttyUSB{n}"
    rotary: 5
    autoselect: [ppp]
    script: {callback: cb}
  - lines: 3
    port: "rfc2217://modems.example:2003"
  - lines: "1-2"
    port: "sim:55510{n}"
    rotary: 5
`, "chat-scripts: {cb: '\"\" ATZ'}")))
	if err != nil {
		t.Fatal(err)
	}
	ttys := c.TTYs()
	var nums []int
	ports := map[int]string{}
	for _, tt := range ttys {
		nums = append(nums, tt.Num)
		ports[tt.Num] = tt.Spec.Port
		if tt.Spec.Lines != strconv.Itoa(tt.Num) {
			t.Errorf("TTY %d Spec.Lines = %q", tt.Num, tt.Spec.Lines)
		}
	}
	if !reflect.DeepEqual(nums, []int{1, 2, 3, 10, 11, 12}) {
		t.Errorf("TTY numbers = %v", nums)
	}
	wantPorts := map[int]string{1: "sim:555101", 2: "sim:555102", 3: "rfc2217://modems.example:2003",
		10: "/dev/ttyUSB10", 11: "/dev/ttyUSB11", 12: "/dev/ttyUSB12"}
	if !reflect.DeepEqual(ports, wantPorts) {
		t.Errorf("ports = %v, want %v", ports, wantPorts)
	}
	if got := c.Rotaries(); !reflect.DeepEqual(got, map[int][]int{5: {1, 2, 10, 11, 12}}) {
		t.Errorf("Rotaries() = %v", got)
	}
	t11, ok := c.TTY(11)
	if !ok || t11.Spec.Script.Callback != "cb" || t11.Spec.Speed != 115200 || t11.Spec.Port != "/dev/ttyUSB11" {
		t.Errorf("TTY(11) = %+v, %v", t11, ok)
	}
	if _, ok := c.TTY(4); ok {
		t.Error("TTY(4) found, but it is not configured")
	}

	// TTYs of one range share no memory: changing one leaves the others and the entry alone.
	*ttys[3].Spec.FlushAtActivation = false
	ttys[3].Spec.Autoselect[0] = "arap"
	if !ttys[4].Spec.Flush() || ttys[4].Spec.Autoselect[0] != "ppp" || !c.Lines[0].Flush() || c.Lines[0].Autoselect[0] != "ppp" {
		t.Error("expanded TTYs share memory with each other or with the entry")
	}
}

func TestHandBuiltConfig(t *testing.T) {
	c := &Config{Lines: []LineSpec{{Lines: "0", Port: "/dev/ttyS0"}}}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("hand-built config with defaults: %v", err)
	}
	if c.Hostname != DefaultHostname || c.Lines[0].Speed != DefaultSpeed || !c.Lines[0].Flush() {
		t.Errorf("ApplyDefaults left zeros: %+v", c)
	}
	bad := &Config{Lines: []LineSpec{{Lines: "0", Port: "/dev/ttyS0"}}}
	es := mustErrors(t, bad.Validate())
	if len(es) < 3 {
		t.Errorf("zero-valued config gave only %v", es)
	}
}

func TestCaseAndScriptNames(t *testing.T) {
	c, err := Parse([]byte(`
Hostname: Access1
Lines:
  - Lines: 1
    Port: "sim:1"
    Script: {Callback: DialBack}
Chat-Scripts:
  DialBack: '"" ATZ'
`))
	if err != nil {
		t.Fatal(err)
	}
	name := c.Lines[0].Script.Callback
	if _, ok := c.ChatScripts[name]; !ok || c.Hostname != "Access1" {
		t.Errorf("script reference %q does not resolve in %v (hostname %q)", name, c.ChatScripts, c.Hostname)
	}
}

func TestChatScriptsMustParse(t *testing.T) {
	_, err := Parse([]byte(`chat-scripts: {good: '"" ATZ OK', bad: '"" "ATZ'}`))
	es := mustErrors(t, err)
	if len(es) != 1 || !strings.HasPrefix(es[0].Error(), "chat-scripts.bad: does not parse: chat script: position") {
		t.Errorf("got %v", err)
	}
}

func TestExampleLoads(t *testing.T) {
	for name := range EnvNames() {
		t.Setenv(name, "") // empty counts as unset: the developer's environment must not leak in
	}
	c, err := Load(filepath.Join("..", "examples", "nas.yaml"))
	if err != nil {
		t.Fatalf("examples/nas.yaml:\n%v", err)
	}
	if got := c.Rotaries(); !reflect.DeepEqual(got, map[int][]int{77: {3, 4}}) {
		t.Errorf("rotaries = %v, want 77: [3 4]", got)
	}
	var ports []string
	for _, tt := range c.TTYs() {
		ports = append(ports, tt.Spec.Port)
	}
	if !reflect.DeepEqual(ports, []string{"sim:5551001", "sim:5551002", "sim:5551003", "sim:5551004"}) {
		t.Errorf("ports = %v", ports)
	}
	for _, s := range []string{"callback", "reset"} {
		if c.ChatScripts[s] == "" {
			t.Errorf("chat script %q missing", s)
		}
	}
	if want := `ABORT ERROR ABORT BUSY ABORT "NO ANSWER" ABORT "NO CARRIER" "" "ATZ" OK "ATDT \T" TIMEOUT 60 CONNECT \c`; c.ChatScripts["callback"] != want {
		t.Errorf("callback script = %s", c.ChatScripts["callback"])
	}
	var rotaryUser, lineUser, emptyUser bool
	for _, u := range c.Users {
		rotaryUser = rotaryUser || (u.CallbackRotary == 77 && u.IsCallbackUser() && !u.UserSuppliesNumber())
		lineUser = lineUser || (u.CallbackLine != 0 && u.NoCallbackVerify)
		emptyUser = emptyUser || u.UserSuppliesNumber()
	}
	if !rotaryUser || !lineUser || !emptyUser {
		t.Errorf("example lacks a user kind: rotary %v, line+nocallback-verify %v, empty dial string %v", rotaryUser, lineUser, emptyUser)
	}
}

// The commented-out serial and rfc2217 examples must also be valid when uncommented.
func TestExampleCommentedLinesValid(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "examples", "nas.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	inLines := false
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "lines:") {
			inLines = true
		} else if l != "" && !strings.HasPrefix(l, " ") && !strings.HasPrefix(l, "#") {
			inLines = false
		}
		if inLines && strings.HasPrefix(l, "  # ") && len(l) > 4 && (l[4] == ' ' || l[4] == '-') {
			l = "  " + l[4:]
		}
		out = append(out, l)
	}
	c, err := Parse([]byte(strings.Join(out, "\n")))
	if err != nil {
		t.Fatalf("uncommented example:\n%v", err)
	}
	schemes := map[string]bool{}
	for _, tt := range c.TTYs() {
		schemes[PortScheme(tt.Spec.Port)] = true
	}
	if !schemes[SchemeDevice] || !schemes[SchemeRFC2217] || !schemes[SchemeSim] {
		t.Errorf("uncommented example covers schemes %v, want all three", schemes)
	}
}

func TestEnvOverrides(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nas.yaml")
	if err := os.WriteFile(path, []byte("hostname: fromfile\nlog: {level: warn}\nlines: [{lines: 1, port: \"sim:1\"}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name := range EnvNames() {
		t.Setenv(name, "")
	}
	t.Setenv("NAS_HOSTNAME", "fromenv")
	t.Setenv("NAS_LOG_LEVEL", "debug")
	t.Setenv("NAS_LOG_FORMAT", "json")
	t.Setenv("NAS_PSTN_RING_PERIOD", "2")
	t.Setenv("NAS_PSTN_NO_ANSWER_RINGS", "7")
	t.Setenv("NAS_PSTN_BIT_ERROR_RATE", "0.01")
	t.Setenv("NAS_CALLBACK_PROMPT_TIMEOUT", "45s")
	t.Setenv("NAS_SERVICE_EXEC_CALLBACK", "true")
	t.Setenv("NAS_AAA_PPP", "local")

	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != "fromenv" || c.Log.Level != "debug" || c.Log.Format != "json" ||
		c.PSTN.RingPeriod != 2*time.Second || c.PSTN.NoAnswerRings != 7 || c.PSTN.BitErrorRate != 0.01 ||
		c.Callback.PromptTimeout != 45*time.Second || !c.Service.ExecCallback || !reflect.DeepEqual(c.AAA.PPP, []string{"local"}) {
		t.Errorf("environment not applied: %+v", c)
	}

	// Parse ignores the environment.
	b, _ := os.ReadFile(path)
	if c, err := Parse(b); err != nil || c.Hostname != "fromfile" || c.Log.Level != "warn" {
		t.Errorf("Parse used the environment: %v %+v", err, c)
	}

	// Bad environment values are reported under the key, like file values.
	t.Setenv("NAS_PSTN_NO_ANSWER_RINGS", "many")
	t.Setenv("NAS_AAA_LOGIN", "local,radius")
	_, err = Load(path)
	es := mustErrors(t, err)
	if len(es) != 2 || es[0].Path != "aaa.login[1]" || es[1].Path != "pstn.no-answer-rings" {
		t.Errorf("got %v", err)
	}

	// A file scalar where the environment needs a mapping is reported, deterministically.
	if err := os.WriteFile(path, []byte("log: verbose\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NAS_PSTN_NO_ANSWER_RINGS", "")
	t.Setenv("NAS_AAA_LOGIN", "")
	for range 5 {
		_, err = Load(path)
		es = mustErrors(t, err)
		if len(es) != 2 || es[0].Path != "log" || es[1].Path != "log" ||
			es.Error() != "log: got \"verbose\", want a mapping of keys (level, format)\n"+
				"log: NAS_LOG_FORMAT, NAS_LOG_LEVEL cannot apply: the file sets log to something other than a mapping" {
			t.Fatalf("got %v", err)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want a wrapped ErrNotExist", err)
	}
}

func TestEnvNames(t *testing.T) {
	names := EnvNames()
	for env, key := range map[string]string{
		"NAS_HOSTNAME":                "hostname",
		"NAS_LOG_LEVEL":               "log.level",
		"NAS_PSTN_NO_ANSWER_RINGS":    "pstn.no-answer-rings",
		"NAS_CALLBACK_PROMPT_TIMEOUT": "callback.prompt-timeout",
		"NAS_SERVICE_EXEC_CALLBACK":   "service.exec-callback",
		"NAS_AAA_ARAP":                "aaa.arap",
	} {
		if names[env] != key {
			t.Errorf("%s -> %q, want %q", env, names[env], key)
		}
	}
	// "_" stands for both "." and "-": two keys must never map to one variable.
	if len(names) != len(envKeys()) {
		t.Errorf("%d variables for %d keys: a collision", len(names), len(envKeys()))
	}
	for env := range names {
		if !strings.Contains(loadDoc(t), env) {
			t.Errorf("%s is not documented on Load", env)
		}
	}
}

func loadDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("load.go")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
