package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMetricsListen(t *testing.T) {
	tests := []struct {
		name   string
		listen string
		msg    string // "" = valid
	}{
		{"loopback", "127.0.0.1:9464", ""},
		{"every address", ":9464", ""},
		{"ipv6", "[::1]:9464", ""},
		{"host name", "localhost:9464", ""},
		{"no port", "127.0.0.1", "is not HOST:PORT"},
		{"port only", "9464", "is not HOST:PORT"},
		{"url", "http://127.0.0.1:9464/metrics", "is not HOST:PORT"},
		{"port zero", "127.0.0.1:0", `port "0" is not 1-65535`},
		{"port too big", "127.0.0.1:65536", `port "65536" is not 1-65535`},
		{"service name", "127.0.0.1:http", `port "http" is not 1-65535`},
		{"empty port", "127.0.0.1:", `port "" is not 1-65535`},
		{"bad host", "no_such!host:9464", "neither an IP address nor a host name"},
		{"bracketed non-address", "[a:b]:9464", `"a:b" is not an IP address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := pppDoc("metrics: {listen: " + quote(tt.listen) + "}")
			if tt.msg != "" {
				wantOneError(t, yaml, "metrics.listen", tt.msg)
				return
			}
			c, err := Parse([]byte(yaml))
			if err != nil {
				t.Fatalf("%q refused:\n%v", tt.listen, err)
			}
			if c.Metrics.Listen != tt.listen {
				t.Errorf("metrics.listen = %q, want %q", c.Metrics.Listen, tt.listen)
			}
		})
	}
}

func quote(s string) string { return `"` + s + `"` }

func TestMetricsOffByDefault(t *testing.T) {
	c, err := Parse([]byte(pppDoc()))
	if err != nil {
		t.Fatal(err)
	}
	if c.Metrics.Listen != "" {
		t.Errorf("metrics.listen defaults to %q, want off", c.Metrics.Listen)
	}
	_, err = Parse([]byte(pppDoc("metrics: {path: /metrics}")))
	if es := mustErrors(t, err); len(es) != 1 || es[0].Path != "metrics.path" || !strings.Contains(es[0].Msg, "unknown key") {
		t.Errorf("got %v", err)
	}
}

func TestMetricsListenFromEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nas.yaml")
	if err := os.WriteFile(path, []byte(pppDoc()), 0o600); err != nil {
		t.Fatal(err)
	}
	for name := range EnvNames() {
		t.Setenv(name, "")
	}
	t.Setenv("NAS_METRICS_LISTEN", "127.0.0.1:9464")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Metrics.Listen != "127.0.0.1:9464" {
		t.Errorf("metrics.listen = %q from the environment", c.Metrics.Listen)
	}
	t.Setenv("NAS_METRICS_LISTEN", "9464")
	_, err = Load(path)
	if es := mustErrors(t, err); len(es) != 1 || es[0].Path != "metrics.listen" {
		t.Errorf("got %v", err)
	}
}
