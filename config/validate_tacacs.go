package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// TACACS+ defaults: IOS's for `tacacs server` / `aaa group server tacacs+`.
const (
	// DefaultTACACSPort is the TACACS+ TCP port (RFC 8907 §4; IOS `port 49`). A server
	// address without a port gets it, unless the server runs over TLS: RFC 9887 servers
	// listen where their operator says, so a TLS address must name its port.
	DefaultTACACSPort = 49
	// DefaultTACACSTimeout bounds each exchange with a server (IOS `tacacs-server timeout 5`).
	DefaultTACACSTimeout = 5 * time.Second
)

// Limits of the TACACS+ keys.
const (
	// minTACACSTimeout is below IOS's 1 s so that labs and tests on loopback fail over
	// quickly; IOS counts whole seconds, 1-1000.
	minTACACSTimeout   = 10 * time.Millisecond
	maxTACACSTimeout   = 1000 * time.Second
	tacacsServersKey   = "tacacs.servers"
	tacacsNoServersMsg = "no TACACS+ servers are configured: add tacacs.servers (the address and secret of each), or remove tacacs from this list"
)

var tacacsServerType = reflect.TypeFor[TACACSServer]()

// DefaultTACACSServer returns a server entry with every default filled in and no address or
// secret. Parse starts each tacacs.servers entry from it, so a key left out keeps its default
// and a key written explicitly (even as 0) keeps the value written.
func DefaultTACACSServer() TACACSServer {
	return TACACSServer{Timeout: DefaultTACACSTimeout}
}

// WithDefaults returns a copy of s with the default timeout filled into a zero one and the
// default port added to a TCP address that has none. The copy shares no memory with s.
func (s TACACSServer) WithDefaults() TACACSServer {
	if s.Timeout == 0 {
		s.Timeout = DefaultTACACSTimeout
	}
	s.Address = s.addressWithPort()
	if s.TLS != nil {
		t := *s.TLS
		s.TLS = &t
	}
	return s
}

// addressWithPort is the address with DefaultTACACSPort added when a TCP server's address
// has no port; anything else (a port already there, TLS, an address that is not host or
// host:port) is returned as written, for validation to judge.
func (s TACACSServer) addressWithPort() string {
	a := strings.TrimSpace(s.Address)
	if a == "" || s.TLS != nil {
		return s.Address
	}
	if _, _, err := net.SplitHostPort(a); err == nil {
		return s.Address
	}
	host := a
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if strings.ContainsAny(host, "[] \t") {
		return s.Address
	}
	if _, err := netip.ParseAddr(host); err != nil && strings.Contains(host, ":") {
		// Neither an IPv6 address nor a host name: leave it for validation to name.
		return s.Address
	}
	return net.JoinHostPort(host, strconv.Itoa(DefaultTACACSPort))
}

// applyDefaults fills defaults into hand-built server entries (see ApplyDefaults).
func (t *TACACS) applyDefaults() {
	for i := range t.Servers {
		t.Servers[i] = t.Servers[i].WithDefaults()
	}
}

// addDefaultPorts gives every TCP server without a port DefaultTACACSPort; Parse runs it so
// that the configuration it returns holds the address the client dials.
func (t *TACACS) addDefaultPorts() {
	for i := range t.Servers {
		t.Servers[i].Address = t.Servers[i].addressWithPort()
	}
}

// tacacsMethodProblem says why the method "tacacs" cannot be used in a method list, or ""
// when it can: exactly when at least one server is configured.
func (c *Config) tacacsMethodProblem() string {
	if len(c.TACACS.Servers) == 0 {
		return tacacsNoServersMsg
	}
	return ""
}

// validateTACACS checks the TACACS+ server group. Secrets and key files' contents are never
// part of a message.
func (c *Config) validateTACACS(e *collector) {
	seen := map[string]int{}
	for i, s := range c.TACACS.Servers {
		p := index(tacacsServersKey, i)
		if key, ok := checkTACACSAddress(e, join(p, "address"), s); ok {
			if j, dup := seen[key]; dup {
				e.add(join(p, "address"), "%s is already tacacs.servers[%d]: list each server once", s.Address, j)
			} else {
				seen[key] = i
			}
		}
		switch {
		case s.TLS == nil && s.Secret == "":
			// RFC 8907 §4.5: the unencrypted flag must not be used; the NAS never sends it.
			e.add(join(p, "secret"), "is required: the shared key the server has for this NAS (or use tls)")
		case s.TLS != nil && s.Secret != "":
			// RFC 9887: over TLS the body is not obfuscated; a key here would be ignored.
			e.add(join(p, "secret"), "is not used over TLS (RFC 9887 replaces the shared key): remove it")
		}
		durRange(e, join(p, "timeout"), s.Timeout, minTACACSTimeout, maxTACACSTimeout, " (IOS `timeout`, default 5s)")
		if s.TLS != nil {
			checkTACACSTLS(e, join(p, "tls"), *s.TLS)
		}
	}
}

// checkTACACSAddress checks host:port and returns the address in a form that compares
// equal for the same server (lower-case host, IPv6 unmapped).
func checkTACACSAddress(e *collector, path string, s TACACSServer) (string, bool) {
	a := s.Address
	if a == "" {
		e.add(path, "is required: the server's host:port (port default %d)", DefaultTACACSPort)
		return "", false
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		if s.TLS != nil {
			e.add(path, "%q has no port: a TLS server's address must name its port, e.g. \"tacacs.example.net:4949\"", a)
		} else {
			e.add(path, "%q is not host or host:port (write an IPv6 address in brackets with a port, e.g. \"[2001:db8::1]:49\")", a)
		}
		return "", false
	}
	if host == "" {
		e.add(path, "%q has no host", a)
		return "", false
	}
	if msg := checkHost(host); msg != "" {
		e.add(path, "%q: the host %s", a, msg)
		return "", false
	}
	n, ok := portNumber(port)
	if !ok {
		e.add(path, "%q: port %q is not 1-65535 (TACACS+ uses %d)", a, port, DefaultTACACSPort)
		return "", false
	}
	return net.JoinHostPort(strings.ToLower(host), strconv.Itoa(n)), true
}

// checkTACACSTLS checks the TLS files: the CA must exist and hold a certificate; a client
// certificate needs its key and the two must match; the server name must be a host name.
func checkTACACSTLS(e *collector, path string, t TACACSTLS) {
	if t.CA == "" {
		e.add(join(path, "ca"), "is required: the PEM file of the CA that signed the server's certificate (the server is always verified)")
	} else if msg := checkCAFile(t.CA); msg != "" {
		e.add(join(path, "ca"), "%s", msg)
	}
	switch {
	case t.Cert != "" && t.Key == "":
		e.add(join(path, "key"), "is required with cert: the PEM file of the client certificate's private key")
	case t.Cert == "" && t.Key != "":
		e.add(join(path, "cert"), "is required with key: the PEM file of the client certificate")
	case t.Cert != "":
		certOK := checkReadable(e, join(path, "cert"), t.Cert)
		keyOK := checkReadable(e, join(path, "key"), t.Key)
		if certOK && keyOK {
			if _, err := tls.LoadX509KeyPair(t.Cert, t.Key); err != nil {
				// crypto/tls's messages name what is wrong, never the key's bytes.
				e.add(join(path, "cert"), "%s with key %s: %v", t.Cert, t.Key, err)
			}
		}
	}
	if t.ServerName != "" {
		if msg := checkHost(t.ServerName); msg != "" {
			e.add(join(path, "server-name"), "%s", msg)
		}
	}
}

// checkCAFile reads a CA bundle and says what is wrong with it, or "".
func checkCAFile(name string) string {
	b, err := os.ReadFile(name)
	if err != nil {
		return fileProblem(name, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		if blk, _ := pem.Decode(b); blk != nil && blk.Type == "CERTIFICATE" {
			return fmt.Sprintf("%s: its certificate does not parse", name)
		}
		return fmt.Sprintf("%s holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")", name)
	}
	return ""
}

func checkReadable(e *collector, path, name string) bool {
	f, err := os.Open(name)
	if err != nil {
		e.add(path, "%s", fileProblem(name, err))
		return false
	}
	_ = f.Close()
	return true
}

func fileProblem(name string, err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("%s does not exist", name)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Sprintf("%s cannot be read: permission denied", name)
	}
	return fmt.Sprintf("%s cannot be read: %v", name, err)
}
