package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Accounting defaults. IOS has no spool (it keeps records in memory and loses them); these
// are this NAS's.
const (
	// DefaultAcctSpool is the spool directory when accounting.spool is left out.
	DefaultAcctSpool = "/var/spool/nas/acct"
	// DefaultAcctPolicy refuses new calls while the spool cannot be written: billing
	// integrity comes first.
	DefaultAcctPolicy = "refuse"
	// DefaultRetentionMaxAge and DefaultRetentionMaxBytes bound the archive of delivered
	// records kept for `nas acct export`.
	DefaultRetentionMaxAge   = 31 * 24 * time.Hour
	DefaultRetentionMaxBytes = int64(1 << 30)
)

// Allowed values and limits of the accounting section.
var (
	acctPolicies      = []string{"refuse", "answer"}
	acctMethods       = []string{"radius", "tacacs"}
	acctFormats       = []string{"csv", "jsonl", "detail"}
	minRetentionAge   = time.Hour
	maxRetentionAge   = 10 * 365 * 24 * time.Hour
	minRetentionBytes = int64(1 << 20)
	maxRetentionBytes = int64(1 << 50)
	minExportSize     = int64(4 << 10)
	maxExportSize     = int64(1 << 40)
)

// SpoolDir is the spool directory: accounting.spool, or DefaultAcctSpool.
func (a Accounting) SpoolDir() string {
	if a.Spool == "" {
		return DefaultAcctSpool
	}
	return a.Spool
}

// PolicyName is the full-disk policy: accounting.policy, or DefaultAcctPolicy.
func (a Accounting) PolicyName() string {
	if a.Policy == "" {
		return DefaultAcctPolicy
	}
	return a.Policy
}

// DestName is the exporter's name as a spool destination (its cursor): name, or
// "export-FORMAT" when left out.
func (e Exporter) DestName() string {
	if e.Name != "" {
		return e.Name
	}
	return "export-" + e.Format
}

// validateAccounting checks the accounting spool, its destinations and exporters.
func (c *Config) validateAccounting(e *collector) {
	a := c.Accounting
	spool := ""
	if a.Spool != "" {
		if msg := checkDir(a.Spool); msg != "" {
			e.add("accounting.spool", "%s", msg)
		} else {
			spool = filepath.Clean(a.Spool)
		}
	}
	if a.Policy != "" {
		oneOf(e, "accounting.policy", a.Policy, acctPolicies, " (refuse: new calls are not answered while the spool cannot be written)")
	}

	for k, m := range a.Methods {
		p := index("accounting.methods", k)
		switch {
		case m == "local":
			e.add(p, `"local" is not an accounting destination: records always stay in the spool (and the exporters); list radius or tacacs, or nothing`)
		case !slices.Contains(acctMethods, m):
			e.add(p, "%q is not one of %s", m, strings.Join(acctMethods, ", "))
		case slices.Index(a.Methods, m) < k:
			e.add(p, "%q is listed twice", m)
		case m == "radius" && len(c.RADIUS.Servers) == 0:
			e.add(p, "radius: no RADIUS servers are configured: add radius.servers")
		case m == "tacacs" && len(c.TACACS.Servers) == 0:
			e.add(p, "tacacs: no TACACS+ servers are configured: add tacacs.servers")
		}
	}

	r := a.Retention
	if r.MaxAge != 0 {
		durRange(e, "accounting.retention.max-age", r.MaxAge, minRetentionAge, maxRetentionAge, " (0 = the default, 31 days)")
	}
	if r.MaxBytes != 0 {
		int64Range(e, "accounting.retention.max-bytes", r.MaxBytes, minRetentionBytes, maxRetentionBytes, " (0 = the default, 1 GiB)")
	}
	if r.Delete {
		for _, f := range []struct {
			key string
			set bool
		}{{"max-age", r.MaxAge != 0}, {"max-bytes", r.MaxBytes != 0}} {
			if f.set {
				e.add(join("accounting.retention", f.key), "has no effect with delete: true (delivered records are not archived)")
			}
		}
	}

	names := map[string]int{}
	files := map[string]int{} // dir + format: two exporters would write the same files
	for i, x := range a.Exporters {
		p := index("accounting.exporters", i)
		formatOK := oneOf(e, join(p, "format"), x.Format, acctFormats, "")
		if x.Name != "" {
			if msg := checkDestName(x.Name); msg != "" {
				e.add(join(p, "name"), "%s", msg)
			}
		}
		if x.Name != "" || formatOK {
			name := x.DestName()
			key := join(p, "name")
			switch j, dup := names[name]; {
			case dup && x.Name == "":
				e.add(key, "is required: accounting.exporters[%d] already has the name %q (give each exporter its own name)", j, name)
			case dup:
				e.add(key, "%q is already accounting.exporters[%d]", name, j)
			case slices.Contains(acctMethods, name):
				e.add(key, "%q is the name of an accounting method: choose another", name)
			default:
				names[name] = i
			}
		}
		dp := join(p, "dir")
		switch msg := checkDir(x.Dir); {
		case x.Dir == "":
			e.add(dp, "is required: the directory the rotated files go to")
		case msg != "":
			e.add(dp, "%s", msg)
		case within(filepath.Clean(x.Dir), spoolOrDefault(spool, a)):
			e.add(dp, "%q is inside the spool directory %s: choose a directory of its own", x.Dir, spoolOrDefault(spool, a))
		case formatOK:
			key := filepath.Clean(x.Dir) + "\x00" + x.Format
			if j, dup := files[key]; dup {
				e.add(dp, "accounting.exporters[%d] already writes %s files to %q: use another directory", j, x.Format, x.Dir)
			} else {
				files[key] = i
			}
		}
		if x.MaxSize != 0 {
			int64Range(e, join(p, "max-size"), x.MaxSize, minExportSize, maxExportSize, " (0 = rotate daily only)")
		}
	}
}

func spoolOrDefault(clean string, a Accounting) string {
	if clean != "" {
		return clean
	}
	return filepath.Clean(a.SpoolDir())
}

// within reports whether dir is base or below it (both clean).
func within(dir, base string) bool {
	rel, err := filepath.Rel(base, dir)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// checkDir says what is wrong with a directory setting, or "".
func checkDir(d string) string {
	switch {
	case strings.TrimSpace(d) == "":
		return "is empty: leave it out or give a directory"
	case strings.ContainsRune(d, 0):
		return "contains a NUL byte"
	case !filepath.IsAbs(d):
		return fmt.Sprintf("%q is not an absolute path: the NAS may run from any working directory", d)
	}
	return ""
}

// checkDestName applies the spool's rule for destination names (they name cursor files).
func checkDestName(n string) string {
	if len(n) > 128 || n[0] == '.' {
		return fmt.Sprintf("%q: want 1-128 characters, not starting with a dot", n)
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._:@-", r)) {
			return fmt.Sprintf("%q contains %q: allowed are letters, digits and . _ : @ -", n, r)
		}
	}
	return ""
}

func int64Range(e *collector, path string, val, lo, hi int64, extra string) {
	if val < lo || val > hi {
		e.add(path, "%d is out of range %d-%d%s", val, lo, hi, extra)
	}
}
