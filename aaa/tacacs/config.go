package tacacs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/dialback/nas/config"
)

// DefaultPort is the TACACS+ TCP port (RFC 8907 §4).
const DefaultPort = "49"

// DefaultTimeout is how long a server has to answer one packet, as IOS `tacacs-server
// timeout` (5 s).
const DefaultTimeout = 5 * time.Second

// Config is one IOS `aaa group server tacacs+` group: servers tried in order.
type Config struct {
	// Name names the method in logs and Profile.Source; "" means "tacacs".
	Name    string
	Servers []Server
	// Deadtime, if not zero, skips a server that was unreachable for this long (IOS
	// `deadtime`), unless every server is dead.
	Deadtime time.Duration
	// SkipAuthorization makes Authenticate return after authentication alone, without the
	// authorization requests that bring the callback and address AVs.
	SkipAuthorization bool
	// Logger receives structured logs; nil means slog.Default().
	Logger *slog.Logger
}

// Server is one TACACS+ server of a group (IOS `tacacs server NAME`).
type Server struct {
	// Address is host:port; a missing port means DefaultPort for TCP. TLS has no default
	// port here: give one.
	Address string
	// Secret is the shared key that obfuscates packet bodies (RFC 8907 §4.5). Required for
	// TCP; the unencrypted flag is never used. Not used over TLS (RFC 9887).
	Secret string
	// Timeout bounds each exchange (dial, TLS handshake, one request and its reply);
	// 0 means DefaultTimeout.
	Timeout time.Duration
	// SingleConnection keeps one connection open for many sessions (IOS `single-connection`,
	// RFC 8907 §4.3). If the server does not agree, or drops the connection while it is
	// idle, the client falls back to a new connection.
	SingleConnection bool
	// TLS, if set, runs TACACS+ over TLS 1.3 (RFC 9887) instead of obfuscated TCP.
	TLS *TLS
}

// TLS is the TLS side of a server.
type TLS struct {
	// RootCAs holds the CA(s) the server's certificate must chain to. Required: the server
	// is always verified.
	RootCAs *x509.CertPool
	// ServerName is the name the certificate must carry; "" means the host of Address.
	ServerName string
	// Certificate, if set, is presented as the NAS's client certificate.
	Certificate *tls.Certificate
}

// LoadTLS builds a TLS from PEM files: the CA bundle (required) and, optionally, the client
// certificate and key.
func LoadTLS(caFile, certFile, keyFile, serverName string) (*TLS, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("tacacs+ TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tacacs+ TLS CA %s: no PEM certificate in it", caFile)
	}
	t := &TLS{RootCAs: pool, ServerName: serverName}
	switch {
	case certFile != "" && keyFile != "":
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("tacacs+ TLS client certificate: %w", err)
		}
		t.Certificate = &cert
	case certFile != "" || keyFile != "":
		return nil, errors.New("tacacs+ TLS client certificate: give both the certificate and the key file")
	}
	return t, nil
}

// check validates a server entry and returns its dial address and TLS configuration.
func (s Server) check() (addr string, tc *tls.Config, err error) {
	if s.Address == "" {
		return "", nil, errors.New("address is empty")
	}
	addr = s.Address
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		if s.TLS != nil {
			return "", nil, fmt.Errorf("address %q: TLS needs an explicit port", s.Address)
		}
		host = addr
		addr = net.JoinHostPort(addr, DefaultPort)
	}
	if s.Timeout < 0 {
		return "", nil, fmt.Errorf("timeout %v is negative", s.Timeout)
	}
	if s.TLS == nil {
		if s.Secret == "" {
			// RFC 8907 §4.5: the unencrypted flag must not be used in production.
			return "", nil, errors.New("secret is empty: a TCP server needs a shared key")
		}
		return addr, nil, nil
	}
	if s.TLS.RootCAs == nil {
		return "", nil, errors.New("TLS needs the CA that signed the server's certificate")
	}
	name := s.TLS.ServerName
	if name == "" {
		name = host
	}
	tc = &tls.Config{
		MinVersion: tls.VersionTLS13, // RFC 9887: TLS 1.3 or later
		RootCAs:    s.TLS.RootCAs,
		ServerName: name,
	}
	if s.TLS.Certificate != nil {
		tc.Certificates = []tls.Certificate{*s.TLS.Certificate}
	}
	return addr, tc, nil
}

// FromConfig turns the `tacacs` section of the NAS configuration into a Config, loading the
// TLS files it names.
func FromConfig(c config.TACACS, log *slog.Logger) (Config, error) {
	cfg := Config{Logger: log}
	for i, s := range c.Servers {
		srv := Server{Address: s.Address, Secret: s.Secret, Timeout: s.Timeout, SingleConnection: s.SingleConnection}
		if s.TLS != nil {
			t, err := LoadTLS(s.TLS.CA, s.TLS.Cert, s.TLS.Key, s.TLS.ServerName)
			if err != nil {
				return Config{}, fmt.Errorf("tacacs.servers[%d].tls: %w", i, err)
			}
			srv.TLS = t
		}
		cfg.Servers = append(cfg.Servers, srv)
	}
	return cfg, nil
}
