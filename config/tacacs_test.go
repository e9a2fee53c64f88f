package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tacacsDoc is a valid configuration that uses tacacs; cases replace the tacacs section.
func tacacsDoc(tacacs string) string {
	return doc(baseLines, baseScripts, "aaa: {login: [tacacs, local], ppp: [local]}", tacacs)
}

// tlsFiles are PEM files made at test time: a CA, a client certificate and its key, a key
// that belongs to another certificate, and files that are not what their names say.
type tlsFiles struct {
	ca, cert, key, otherKey, notPEM, badCert string
}

func makeTLSFiles(t *testing.T) tlsFiles {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	newKey := func() (*ecdsa.PrivateKey, []byte) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return k, der
	}
	caKey, _ := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	cliKey, cliKeyDER := newKey()
	cliDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "nas"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, &cliKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	_, otherDER := newKey()
	f := tlsFiles{
		ca:       write("ca.pem", "CERTIFICATE", caDER),
		cert:     write("nas.pem", "CERTIFICATE", cliDER),
		key:      write("nas-key.pem", "PRIVATE KEY", cliKeyDER),
		otherKey: write("other-key.pem", "PRIVATE KEY", otherDER),
		badCert:  write("bad.pem", "CERTIFICATE", []byte("not DER")),
	}
	f.notPEM = filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(f.notPEM, []byte("just text\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestTACACSValidation(t *testing.T) {
	f := makeTLSFiles(t)
	tlsServer := func(tls string) string {
		return tacacsDoc("tacacs: {servers: [{address: \"tacacs.example:4949\", tls: " + tls + "}]}")
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	tests := []struct {
		name string
		yaml string
		path string
		msg  string
	}{
		{"address required", tacacsDoc("tacacs: {servers: [{secret: s}]}"), "tacacs.servers[0].address", "is required"},
		{"address junk", tacacsDoc("tacacs: {servers: [{address: \"tac acs:49\", secret: s}]}"), "tacacs.servers[0].address", `the host "tac acs" is neither an IP address nor a host name`},
		{"address no host", tacacsDoc("tacacs: {servers: [{address: \":49\", secret: s}]}"), "tacacs.servers[0].address", "has no host"},
		{"port zero", tacacsDoc("tacacs: {servers: [{address: \"10.0.0.1:0\", secret: s}]}"), "tacacs.servers[0].address", `port "0" is not 1-65535`},
		{"port high", tacacsDoc("tacacs: {servers: [{address: \"10.0.0.1:65536\", secret: s}]}"), "tacacs.servers[0].address", `port "65536" is not 1-65535`},
		{"port name", tacacsDoc("tacacs: {servers: [{address: \"10.0.0.1:tacacs\", secret: s}]}"), "tacacs.servers[0].address", `port "tacacs" is not 1-65535`},
		{"two ports", tacacsDoc("tacacs: {servers: [{address: \"10.0.0.1:49:49\", secret: s}]}"), "tacacs.servers[0].address", "is not host or host:port"},
		{"duplicate", tacacsDoc("tacacs: {servers: [{address: Tacacs.example, secret: s}, {address: \"tacacs.example:49\", secret: t}]}"), "tacacs.servers[1].address", "is already tacacs.servers[0]"},
		{"secret required", tacacsDoc("tacacs: {servers: [{address: 10.0.0.1}]}"), "tacacs.servers[0].secret", "is required"},
		{"secret empty", tacacsDoc("tacacs: {servers: [{address: 10.0.0.1, secret: \"\"}]}"), "tacacs.servers[0].secret", "is required"},
		{"timeout zero", tacacsDoc("tacacs: {servers: [{address: 10.0.0.1, secret: s, timeout: 0}]}"), "tacacs.servers[0].timeout", "0s is out of range 10ms-16m40s"},
		{"timeout long", tacacsDoc("tacacs: {servers: [{address: 10.0.0.1, secret: s, timeout: 1001}]}"), "tacacs.servers[0].timeout", "out of range"},
		{"timeout syntax", tacacsDoc("tacacs: {servers: [{address: 10.0.0.1, secret: s, timeout: soon}]}"), "tacacs.servers[0].timeout", "Go syntax"},
		{"unknown server key", tacacsDoc("tacacs: {servers: [{address: 10.0.0.1, secret: s, key: k}]}"), "tacacs.servers[0].key", "unknown key"},
		{"method without servers", doc(baseLines, baseScripts, "aaa: {login: [local], ppp: [tacacs, local]}"), "aaa.ppp[0]", "tacacs: no TACACS+ servers are configured: add tacacs.servers"},
		{"tls without port", tacacsDoc("tacacs: {servers: [{address: tacacs.example, tls: {ca: " + f.ca + "}}]}"), "tacacs.servers[0].address", "a TLS server's address must name its port"},
		{"tls with secret", tacacsDoc("tacacs: {servers: [{address: \"tacacs.example:4949\", secret: s, tls: {ca: " + f.ca + "}}]}"), "tacacs.servers[0].secret", "is not used over TLS"},
		{"tls ca required", tlsServer("{server-name: tacacs.example}"), "tacacs.servers[0].tls.ca", "is required"},
		{"tls ca missing", tlsServer("{ca: " + missing + "}"), "tacacs.servers[0].tls.ca", "missing.pem does not exist"},
		{"tls ca not pem", tlsServer("{ca: " + f.notPEM + "}"), "tacacs.servers[0].tls.ca", "holds no PEM certificate"},
		{"tls ca bad certificate", tlsServer("{ca: " + f.badCert + "}"), "tacacs.servers[0].tls.ca", "its certificate does not parse"},
		{"tls ca is a key", tlsServer("{ca: " + f.key + "}"), "tacacs.servers[0].tls.ca", "holds no PEM certificate"},
		{"tls cert without key", tlsServer("{ca: " + f.ca + ", cert: " + f.cert + "}"), "tacacs.servers[0].tls.key", "is required with cert"},
		{"tls key without cert", tlsServer("{ca: " + f.ca + ", key: " + f.key + "}"), "tacacs.servers[0].tls.cert", "is required with key"},
		{"tls key missing", tlsServer("{ca: " + f.ca + ", cert: " + f.cert + ", key: " + missing + "}"), "tacacs.servers[0].tls.key", "does not exist"},
		{"tls key of another cert", tlsServer("{ca: " + f.ca + ", cert: " + f.cert + ", key: " + f.otherKey + "}"), "tacacs.servers[0].tls.cert", "private key does not match public key"},
		{"tls server-name junk", tlsServer("{ca: " + f.ca + ", server-name: \"tac acs\"}"), "tacacs.servers[0].tls.server-name", "neither an IP address nor a host name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantOneError(t, tt.yaml, tt.path, tt.msg)
		})
	}
}

// An unknown key inside tls is named. (The tls block then does not decode, so the server
// also reads as a TCP server without a secret; that second message is expected.)
func TestTACACSTLSUnknownKey(t *testing.T) {
	f := makeTLSFiles(t)
	_, err := Parse([]byte(tacacsDoc("tacacs: {servers: [{address: \"tacacs.example:4949\", tls: {ca: " + f.ca + ", verify: false}}]}")))
	es := mustErrors(t, err)
	if es[0].Path != "tacacs.servers[0].tls.verify" || !strings.Contains(es[0].Msg, "unknown key; allowed here: ca, cert, key, server-name") {
		t.Errorf("got %v", err)
	}
}

func TestTACACSValid(t *testing.T) {
	f := makeTLSFiles(t)
	c, err := Parse([]byte(doc(baseLines, baseScripts, "aaa: {login: [tacacs, radius, local], ppp: [radius, local, tacacs], arap: [local, tacacs]}", `
radius: {servers: [{address: 192.0.2.20, secret: r}]}
tacacs:
  servers:
    - {address: 192.0.2.10, secret: one, timeout: 2s, single-connection: true}
    - {address: "tacacs2.example.net:1049", secret: two}
    - {address: "2001:db8::10", secret: three, timeout: 50ms}
    - {address: "[2001:db8::11]", secret: four}
    - address: "tacacs.example.net:4949"
      tls: {ca: `+f.ca+`, cert: `+f.cert+`, key: `+f.key+`, server-name: tacacs.example.net}
    - {address: "192.0.2.12:4949", tls: {ca: `+f.ca+`}}
`)))
	if err != nil {
		t.Fatal(err)
	}
	s := c.TACACS.Servers
	want := []struct {
		addr    string
		timeout time.Duration
	}{
		{"192.0.2.10:49", 2 * time.Second},
		{"tacacs2.example.net:1049", DefaultTACACSTimeout},
		{"[2001:db8::10]:49", 50 * time.Millisecond},
		{"[2001:db8::11]:49", DefaultTACACSTimeout},
		{"tacacs.example.net:4949", DefaultTACACSTimeout},
		{"192.0.2.12:4949", DefaultTACACSTimeout},
	}
	if len(s) != len(want) {
		t.Fatalf("%d servers, want %d", len(s), len(want))
	}
	for i, w := range want {
		if s[i].Address != w.addr || s[i].Timeout != w.timeout {
			t.Errorf("servers[%d] = %s timeout %v, want %s timeout %v", i, s[i].Address, s[i].Timeout, w.addr, w.timeout)
		}
	}
	if !s[0].SingleConnection || s[1].SingleConnection || s[4].TLS == nil || s[4].TLS.ServerName != "tacacs.example.net" || s[4].TLS.Key != f.key {
		t.Errorf("servers = %+v", s)
	}
}

func TestTACACSHandBuilt(t *testing.T) {
	c := &Config{
		Lines:  []LineSpec{{Lines: "0", Port: "/dev/ttyS0"}},
		AAA:    AAA{Login: []string{"tacacs"}},
		TACACS: TACACS{Servers: []TACACSServer{{Address: "127.0.0.1", Secret: "s"}}},
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("hand-built TACACS+ config with defaults: %v", err)
	}
	if s := c.TACACS.Servers[0]; s.Address != "127.0.0.1:49" || s.Timeout != DefaultTACACSTimeout {
		t.Errorf("ApplyDefaults: %+v", s)
	}
	// Without defaults the zero timeout is caught, not silently used.
	c.TACACS.Servers[0].Timeout = 0
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "tacacs.servers[0].timeout") {
		t.Errorf("zero timeout: %v", err)
	}
}

// A TLS server keeps its address as written (no default port) and its TLS settings are a
// copy: WithDefaults shares nothing with its receiver.
func TestTACACSWithDefaultsCopies(t *testing.T) {
	in := TACACSServer{Address: "tacacs.example", TLS: &TACACSTLS{CA: "ca.pem"}}
	out := in.WithDefaults()
	if out.Address != "tacacs.example" || out.Timeout != DefaultTACACSTimeout {
		t.Errorf("WithDefaults = %+v", out)
	}
	out.TLS.CA = "changed"
	if in.TLS.CA != "ca.pem" {
		t.Error("WithDefaults shares the TLS settings")
	}
}

// Secrets are never echoed, however they are wrong.
func TestTACACSSecretNeverInMessages(t *testing.T) {
	f := makeTLSFiles(t)
	for _, y := range []string{
		tacacsDoc("tacacs: {servers: [{address: 10.0.0.1, secret: 987654}]}"),
		tacacsDoc("tacacs: {servers: [{address: 10.0.0.1, secret: [s3cr3t-list]}]}"),
		tacacsDoc("tacacs: {servers: [{address: 10.0.0.1, secret: {k: s3cr3t-map}}]}"),
		tacacsDoc("tacacs: {servers: [{address: \"10.0.0.1:1\", secret: s3cr3t-port}, {address: \"10.0.0.1:1\", secret: s3cr3t-dup}]}"),
		tacacsDoc("tacacs: {servers: [{address: \"bad host\", secret: s3cr3t-bad, timeout: -1}]}"),
		tacacsDoc("tacacs: {servers: [{address: \"10.0.0.1:4949\", secret: s3cr3t-tls, tls: {ca: " + f.ca + "}}]}"),
	} {
		_, err := Parse([]byte(y))
		es := mustErrors(t, err)
		for _, secret := range []string{"987654", "s3cr3t"} {
			if strings.Contains(es.Error(), secret) {
				t.Errorf("%s: message reveals the secret: %v", y, es)
			}
		}
	}
	// The key file's contents never appear either, even when it is not a key.
	b, err := os.ReadFile(f.key)
	if err != nil {
		t.Fatal(err)
	}
	keyBody := strings.Split(string(b), "\n")[1]
	for _, y := range []string{
		tacacsDoc("tacacs: {servers: [{address: \"10.0.0.1:4949\", tls: {ca: " + f.ca + ", cert: " + f.key + ", key: " + f.key + "}}]}"),
		tacacsDoc("tacacs: {servers: [{address: \"10.0.0.1:4949\", tls: {ca: " + f.key + "}}]}"),
	} {
		_, err := Parse([]byte(y))
		es := mustErrors(t, err)
		if strings.Contains(es.Error(), keyBody) {
			t.Errorf("message reveals the private key: %v", es)
		}
	}
}

// The tacacs section of examples/nas.yaml is commented out (the example must pass `nas check`
// without a server); uncommented, it must be valid and show every server key.
func TestExampleTACACSSectionValid(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "examples", "nas.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var section []string
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "# tacacs:"):
			in = true
		case in && !strings.HasPrefix(l, "#   ") && !strings.HasPrefix(l, "#  "):
			in = false
		}
		if in {
			section = append(section, strings.TrimPrefix(l, "# "))
		}
	}
	if len(section) < 4 {
		t.Fatalf("examples/nas.yaml has no commented tacacs: section (found %d lines)", len(section))
	}
	text := strings.Join(section, "\n")
	y := doc(baseLines, baseScripts, "aaa: {login: [tacacs, local], ppp: [tacacs, local], arap: [tacacs]}", text)
	c, err := Parse([]byte(y))
	if err != nil {
		t.Fatalf("uncommented tacacs section:\n%v\n%s", err, text)
	}
	var single bool
	for _, s := range c.TACACS.Servers {
		single = single || s.SingleConnection
	}
	if len(c.TACACS.Servers) < 2 || !single {
		t.Errorf("the example tacacs section leaves keys out: %+v", c.TACACS)
	}
	// The TLS variant is shown commented inside the section: it names files that exist only
	// on a real installation, so check its keys by name.
	for _, k := range []string{"tls:", "ca:", "cert:", "key:", "server-name:", "timeout:", "secret:"} {
		if !strings.Contains(text, k) {
			t.Errorf("the example tacacs section does not show %s", k)
		}
	}
}
