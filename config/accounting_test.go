package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// acctDoc is a valid configuration with one RADIUS and one TACACS+ server; cases add an
// accounting section.
func acctDoc(accounting string) string {
	return doc(baseLines, baseScripts,
		"radius: {servers: [{address: 10.0.0.1, secret: s}]}",
		"tacacs: {servers: [{address: \"10.0.0.2:49\", secret: s}]}",
		accounting)
}

func TestAccountingValidation(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		path string
		msg  string
	}{
		{"policy unknown", acctDoc("accounting: {policy: drop}"), "accounting.policy", `"drop" is not one of refuse, answer`},
		{"spool relative", acctDoc("accounting: {spool: var/acct}"), "accounting.spool", "not an absolute path"},
		{"spool blank", acctDoc("accounting: {spool: \" \"}"), "accounting.spool", "is empty"},
		{"method unknown", acctDoc("accounting: {methods: [syslog]}"), "accounting.methods[0]", `"syslog" is not one of radius, tacacs`},
		{"method local", acctDoc("accounting: {methods: [local]}"), "accounting.methods[0]", "not an accounting destination"},
		{"method twice", acctDoc("accounting: {methods: [radius, tacacs, radius]}"), "accounting.methods[2]", "listed twice"},
		{"radius without servers", doc(baseLines, baseScripts, "accounting: {methods: [radius]}"), "accounting.methods[0]", "add radius.servers"},
		{"tacacs without servers", doc(baseLines, baseScripts, "accounting: {methods: [tacacs]}"), "accounting.methods[0]", "add tacacs.servers"},
		{"max-age short", acctDoc("accounting: {retention: {max-age: 1m}}"), "accounting.retention.max-age", "1m is out of range 1h"},
		{"max-age negative", acctDoc("accounting: {retention: {max-age: -1h}}"), "accounting.retention.max-age", "out of range"},
		{"max-bytes small", acctDoc("accounting: {retention: {max-bytes: 1000}}"), "accounting.retention.max-bytes", "1000 is out of range 1048576-"},
		{"max-bytes text", acctDoc("accounting: {retention: {max-bytes: 1G}}"), "accounting.retention.max-bytes", "not a whole number"},
		{"delete with max-age", acctDoc("accounting: {retention: {delete: true, max-age: 48h}}"), "accounting.retention.max-age", "no effect with delete: true"},
		{"exporter format", acctDoc("accounting: {exporters: [{format: xml, dir: /x}]}"), "accounting.exporters[0].format", `"xml" is not one of csv, jsonl, detail`},
		{"exporter dir missing", acctDoc("accounting: {exporters: [{format: csv}]}"), "accounting.exporters[0].dir", "is required"},
		{"exporter dir relative", acctDoc("accounting: {exporters: [{format: csv, dir: out}]}"), "accounting.exporters[0].dir", "not an absolute path"},
		{"exporter dir in spool", acctDoc("accounting: {spool: /s, exporters: [{format: csv, dir: /s/csv}]}"), "accounting.exporters[0].dir", "inside the spool directory /s"},
		{"exporter dir in default spool", acctDoc("accounting: {exporters: [{format: csv, dir: /var/spool/nas/acct/x}]}"), "accounting.exporters[0].dir", "inside the spool"},
		{"exporter same files", acctDoc("accounting: {exporters: [{name: a, format: csv, dir: /x}, {name: b, format: csv, dir: /x/}]}"), "accounting.exporters[1].dir", "already writes csv files"},
		{"exporter default names clash", acctDoc("accounting: {exporters: [{format: csv, dir: /x}, {format: csv, dir: /y}]}"), "accounting.exporters[1].name", `is required: accounting.exporters[0] already has the name "export-csv"`},
		{"exporter names clash", acctDoc("accounting: {exporters: [{name: e, format: csv, dir: /x}, {name: e, format: jsonl, dir: /y}]}"), "accounting.exporters[1].name", `"e" is already accounting.exporters[0]`},
		{"exporter named like a method", acctDoc("accounting: {exporters: [{name: radius, format: csv, dir: /x}]}"), "accounting.exporters[0].name", "name of an accounting method"},
		{"exporter name chars", acctDoc("accounting: {exporters: [{name: \"a/b\", format: csv, dir: /x}]}"), "accounting.exporters[0].name", `contains '/'`},
		{"exporter name dot", acctDoc("accounting: {exporters: [{name: .hidden, format: csv, dir: /x}]}"), "accounting.exporters[0].name", "not starting with a dot"},
		{"exporter max-size small", acctDoc("accounting: {exporters: [{format: csv, dir: /x, max-size: 100}]}"), "accounting.exporters[0].max-size", "100 is out of range 4096-"},
		{"exporter unknown key", acctDoc("accounting: {exporters: [{format: csv, dir: /x, rotate: daily}]}"), "accounting.exporters[0].rotate", "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantOneError(t, tt.yaml, tt.path, tt.msg)
		})
	}
}

func TestAccountingValid(t *testing.T) {
	c, err := Parse([]byte(acctDoc(`
accounting:
  spool: /var/spool/nas/acct-test
  policy: answer
  methods: [radius, tacacs]
  retention: {max-age: 720h, max-bytes: 104857600}
  exporters:
    - {format: csv, dir: /var/log/nas/csv}
    - {name: billing, format: detail, dir: /var/log/nas/detail, max-size: 10485760}
    - {format: jsonl, dir: /var/log/nas/csv}
`)))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Accounting
	if a.SpoolDir() != "/var/spool/nas/acct-test" || a.PolicyName() != "answer" {
		t.Errorf("spool %q policy %q", a.SpoolDir(), a.PolicyName())
	}
	if a.Retention.MaxAge != 720*time.Hour || a.Retention.MaxBytes != 100<<20 {
		t.Errorf("retention = %+v", a.Retention)
	}
	var names []string
	for _, x := range a.Exporters {
		names = append(names, x.DestName())
	}
	if got := strings.Join(names, ","); got != "export-csv,billing,export-jsonl" {
		t.Errorf("exporter names = %s", got)
	}
	if a.Exporters[1].MaxSize != 10<<20 {
		t.Errorf("max-size = %d", a.Exporters[1].MaxSize)
	}
}

func TestAccountingDefaults(t *testing.T) {
	c, err := Parse([]byte(doc(baseLines, baseScripts)))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Accounting
	if a.SpoolDir() != DefaultAcctSpool || a.PolicyName() != "refuse" || len(a.Methods) != 0 || len(a.Exporters) != 0 {
		t.Errorf("defaults: spool %q policy %q methods %v exporters %v", a.SpoolDir(), a.PolicyName(), a.Methods, a.Exporters)
	}
	if a.Retention != (Retention{}) {
		t.Errorf("retention %+v, want zero (the spool's defaults)", a.Retention)
	}
}

func TestAccountingEnvOverrides(t *testing.T) {
	t.Setenv("NAS_ACCOUNTING_POLICY", "answer")
	t.Setenv("NAS_ACCOUNTING_METHODS", "radius,tacacs")
	t.Setenv("NAS_ACCOUNTING_RETENTION_MAX_BYTES", "2097152")
	path := filepath.Join(t.TempDir(), "nas.yaml")
	if err := os.WriteFile(path, []byte(acctDoc("")), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	a := c.Accounting
	if a.Policy != "answer" || strings.Join(a.Methods, " ") != "radius tacacs" || a.Retention.MaxBytes != 2<<20 {
		t.Errorf("env overrides: %+v", a)
	}
}
