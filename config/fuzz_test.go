package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse: it must never panic, every failure must be Errors
// made of FieldErrors with a message (a YAML syntax problem is one FieldError with an empty
// path), and every success must be a configuration that validates and expands.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "examples", "nas.yaml")); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		"",
		"hostname: x",
		"lines: [{lines: 1-4, port: \"sim:55510{n}\", rotary: 7, script: {callback: cb}}]\nchat-scripts: {cb: '\"\" ATZ'}\nusers: [{name: a, password: p, callback-dialstring: \"\", callback-rotary: 7}]",
		"lines: [{lines: 1, port: \"rfc2217://[::1]:2000\"}, {lines: 2, port: /dev/ttyS0}]",
		"lines: [{lines: 3-1, port: 5, modme: 1}]\nusers: [~, {name: 1}]",
		"aaa: {login: [radius, local, local]}\nlog: verbose",
		"lines: [{lines: 1, port: \"sim:1\", exec-timeout: 1e300, login-timeout: 99999999999999999999}]",
		"pstn: {bit-error-rate: .nan, latency: -1}",
		"a: &a [*a]",
		"{1: 2, [3]: 4}",
		"lines:\n  - lines: 1\n    port: \"sim:1\"\n    modem: {1: 2}\n",
		"chat-scripts: {\"a::b\": x, \"\": y, \"c d\": z}",
		"aaa: {login: [radius, local]}\nradius: {servers: [{address: 10.0.0.1, secret: s, retransmits: 0}, {address: \"h:1\", auth-port: 0, timeout: 1ms}], dead-time: 1h, callback-ids: {A: \"55x\"}, dynamic-author: {listen: \":3799\", clients: [{address: \"::1\", secret: c}, {address: h}]}}",
		"ppp: {authentication: [chap, pap, chap], callback: initiate, keepalive: 0, dns: [1.2.3.4, \"::1\", x], pool: p}\nip-pools: [{name: p, start: 10.0.0.9, end: 10.0.0.1}, {name: q, start: 10.0.0.5}, {start: 1.1.1.1, end: 255.255.255.255}]",
		"aaa: {login: [tacacs, local]}\ntacacs: {servers: [{address: \"[::1]\", secret: s}, {address: \"h:0\", tls: {ca: /nonexistent}}, {address: \"a:b:c\", timeout: -1}]}",
		"accounting: {spool: rel, policy: x, methods: [radius, local, radius], retention: {delete: true, max-age: 1m, max-bytes: 9223372036854775807}, exporters: [{format: csv, dir: /s/x}, {name: \".a\", format: jsonl, dir: /y, max-size: -1}, {format: csv, dir: /z}]}\npstn: {expose: [{number: \"1\", link: /a}, {number: \"\", link: /a}]}",
		"dataplane: {enabled: false, interface: \"n%d\", mtu: 68, route-protocol: 241, route-table: 4294967295, queue-len: 1, filter-direction: in}\naccess-lists: {A: [\"permit tcp any host 10.0.0.1 eq www established\", \"remark x\", \"\", \"deny icmp 10.0.0.0 0.0.0.255 any echo\"], b: [], \"c.d\": [\"permit\"]}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err != nil {
			if c != nil {
				t.Fatal("config returned together with an error")
			}
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error is not a non-empty Errors: %T %v", err, err)
			}
			for _, fe := range es {
				if fe == nil || fe.Msg == "" {
					t.Fatalf("empty FieldError in %v", es)
				}
			}
			return
		}
		if c == nil {
			t.Fatal("nil config without an error")
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("parsed config does not validate again: %v", err)
		}
		// Validation and the data plane agree on what a usable dataplane section is.
		if _, err := c.DataPlaneConfig(); err != nil {
			t.Fatalf("valid configuration refused by DataPlaneConfig: %v", err)
		}
		seen := map[int]bool{}
		for _, tt := range c.TTYs() {
			if seen[tt.Num] {
				t.Fatalf("TTY %d expanded twice", tt.Num)
			}
			seen[tt.Num] = true
			if msg := checkPort(tt.Spec.Port); msg != "" {
				t.Fatalf("TTY %d has a bad port after validation: %s", tt.Num, msg)
			}
		}
		for r, nums := range c.Rotaries() {
			for _, n := range nums {
				if tt, ok := c.TTY(n); !ok || tt.Spec.Rotary != r {
					t.Fatalf("rotary %d lists TTY %d wrongly", r, n)
				}
			}
		}
	})
}

func BenchmarkParseExample(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("..", "examples", "nas.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
