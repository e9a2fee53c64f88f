package config

import (
	"net"
	"net/netip"
	"strings"
)

// validateMetrics checks the metrics endpoint's address. It is a TCP address that `nas serve`
// binds before any line answers, so a mistake here is caught by `nas check` rather than
// leaving the NAS running with no metrics.
func (c *Config) validateMetrics(e *collector) {
	const path = "metrics.listen"
	s := c.Metrics.Listen
	if s == "" {
		return // off
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		e.add(path, "%q is not HOST:PORT (e.g. \"127.0.0.1:9464\", \"[::1]:9464\" for IPv6, \":9464\" for every "+
			"address; leave it out to turn metrics off)", s)
		return
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			// A host name is resolved when the endpoint starts; ":" here is a bracketed
			// non-address such as "[a:b]", which checkHost would misread as a port.
			if strings.Contains(host, ":") {
				e.add(path, "%q: %q is not an IP address", s, host)
			} else if msg := checkHost(host); msg != "" {
				e.add(path, "%q: %s", s, msg)
			}
		}
	}
	// Numeric only: a service name ("http") would depend on the host's /etc/services, and
	// port 0 (any free port) leaves the scraper nothing to point at.
	if _, ok := portNumber(port); !ok {
		e.add(path, "%q: port %q is not 1-65535 (e.g. 9464)", s, port)
	}
}
