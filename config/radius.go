package config

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// RADIUS defaults: IOS's for `radius server` / `aaa group server radius`.
const (
	// DefaultRADIUSAuthPort and DefaultRADIUSAcctPort are the IANA ports (RFC 2865 §3,
	// RFC 2866 §3; IOS `radius server` defaults, not the old 1645/1646 of `radius-server host`).
	DefaultRADIUSAuthPort = 1812
	DefaultRADIUSAcctPort = 1813
	// DefaultRADIUSTimeout is the wait for each try (IOS `radius-server timeout 5`).
	DefaultRADIUSTimeout = 5 * time.Second
	// DefaultRADIUSRetransmits is how many times a request is resent (IOS `radius-server
	// retransmit 3`).
	DefaultRADIUSRetransmits = 3
	// DefaultRADIUSDeadTime is 0: a server that does not answer is never skipped (IOS
	// `radius-server deadtime 0`, the default).
	DefaultRADIUSDeadTime = time.Duration(0)
)

// Limits of the RADIUS keys. IOS ranges where IOS has them.
const (
	// minRADIUSTimeout is below IOS's 1 s so that labs and tests on loopback can fail over
	// quickly; IOS counts whole seconds, 1-1000.
	minRADIUSTimeout   = 10 * time.Millisecond
	maxRADIUSTimeout   = 1000 * time.Second
	maxRADIUSRetrans   = 100                // IOS `radius-server retransmit 0-100`
	maxRADIUSDeadTime  = 1440 * time.Minute // IOS `radius-server deadtime 0-1440` (minutes)
	maxRADIUSText      = 253                // one attribute's value (RFC 2865 §5)
	maxHostNameLen     = 253                // RFC 1035 §2.3.4
	radiusServersKey   = "radius.servers"
	dynamicAuthorKey   = "radius.dynamic-author"
	radiusNoServersMsg = "no RADIUS servers are configured: add radius.servers (the address and secret of each), or remove radius from this list"
)

var radiusServerType = reflect.TypeFor[RADIUSServer]()

// DefaultRADIUSServer returns a server entry with every default filled in and no address or
// secret. Parse starts each radius.servers entry from it, so a key left out keeps its
// default and a key written explicitly (even as 0) keeps the value written.
func DefaultRADIUSServer() RADIUSServer {
	r := DefaultRADIUSRetransmits
	return RADIUSServer{
		AuthPort:    DefaultRADIUSAuthPort,
		AcctPort:    DefaultRADIUSAcctPort,
		Timeout:     DefaultRADIUSTimeout,
		Retransmits: &r,
	}
}

// WithDefaults returns a copy of s with the defaults filled into the fields whose zero value
// is not a legal setting (ports, timeout) and into a nil Retransmits. The copy shares no
// memory with s.
func (s RADIUSServer) WithDefaults() RADIUSServer {
	if s.AuthPort == 0 {
		s.AuthPort = DefaultRADIUSAuthPort
	}
	if s.AcctPort == 0 {
		s.AcctPort = DefaultRADIUSAcctPort
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultRADIUSTimeout
	}
	r := s.RetransmitCount()
	s.Retransmits = &r
	return s
}

// RetransmitCount is how many times a request is resent (IOS `retransmit`, default 3).
func (s RADIUSServer) RetransmitCount() int {
	if s.Retransmits == nil {
		return DefaultRADIUSRetransmits
	}
	return *s.Retransmits
}

// applyDefaults fills defaults into hand-built server entries (see ApplyDefaults).
func (r *RADIUS) applyDefaults() {
	for i := range r.Servers {
		r.Servers[i] = r.Servers[i].WithDefaults()
	}
}

// radiusMethodProblem says why the method "radius" cannot be used in a method list, or ""
// when it can: exactly when at least one server is configured.
func (c *Config) radiusMethodProblem() string {
	if len(c.RADIUS.Servers) == 0 {
		return radiusNoServersMsg
	}
	return ""
}

// validateRADIUS checks the RADIUS server group and the dynamic-authorization listener.
// Secrets are never part of a message.
func (c *Config) validateRADIUS(e *collector) {
	r := c.RADIUS
	type endpoint struct {
		host string
		port int
	}
	seen := map[endpoint]int{}
	for i, s := range r.Servers {
		p := index(radiusServersKey, i)
		if msg := checkHost(s.Address); msg != "" {
			e.add(join(p, "address"), "%s", msg)
		}
		intRange(e, join(p, "auth-port"), s.AuthPort, 1, 65535)
		intRange(e, join(p, "acct-port"), s.AcctPort, 1, 65535)
		if s.Secret == "" {
			e.add(join(p, "secret"), "is required: the shared secret the server has for this NAS")
		}
		durRange(e, join(p, "timeout"), s.Timeout, minRADIUSTimeout, maxRADIUSTimeout, " (IOS `timeout`, default 5s)")
		intRange(e, join(p, "retransmits"), s.RetransmitCount(), 0, maxRADIUSRetrans)
		if s.Address != "" {
			key := endpoint{strings.ToLower(s.Address), s.AuthPort}
			if j, dup := seen[key]; dup {
				e.add(join(p, "address"), "%s auth-port %d is already radius.servers[%d]: list each server once", s.Address, s.AuthPort, j)
			} else {
				seen[key] = i
			}
		}
	}
	durRange(e, "radius.dead-time", r.DeadTime, 0, maxRADIUSDeadTime, " (0 = never mark a server dead)")
	if len(r.NASIdentifier) > maxRADIUSText {
		e.add("radius.nas-identifier", "is longer than %d characters (one RADIUS attribute)", maxRADIUSText)
	}
	if r.NASIPAddress != "" {
		a, err := netip.ParseAddr(r.NASIPAddress)
		switch {
		case err != nil:
			e.add("radius.nas-ip-address", "%q is not an IP address", r.NASIPAddress)
		case !a.Is4():
			e.add("radius.nas-ip-address", "%q is not IPv4 (NAS-IP-Address carries IPv4 only, RFC 2865 §5.4)", r.NASIPAddress)
		}
	}
	for _, id := range sortedStrings(r.CallbackIDs) {
		p := join("radius.callback-ids", id)
		if len(id) > maxRADIUSText {
			e.add(p, "the Callback-Id is longer than %d characters", maxRADIUSText)
		}
		if msg := checkDialstring(r.CallbackIDs[id]); msg != "" {
			e.add(p, "%s", msg)
		}
	}
	c.validateDynamicAuthor(e)
}

func (c *Config) validateDynamicAuthor(e *collector) {
	d := c.RADIUS.DynamicAuthor
	lp := join(dynamicAuthorKey, "listen")
	cp := join(dynamicAuthorKey, "clients")
	switch {
	case d.Listen == "" && len(d.Clients) > 0:
		e.add(lp, "is required when clients are listed: the UDP address to listen on, e.g. \"0.0.0.0:3799\" (RFC 5176 §3)")
	case d.Listen != "":
		if msg := checkListen(d.Listen); msg != "" {
			e.add(lp, "%s", msg)
		}
		if len(d.Clients) == 0 {
			e.add(cp, "at least one client is required when listen is set: requests from any other address are dropped")
		}
	}
	seen := map[netip.Addr]int{}
	for i, cl := range d.Clients {
		p := index(cp, i)
		a, err := netip.ParseAddr(cl.Address)
		switch {
		case cl.Address == "":
			e.add(join(p, "address"), "is required: the IP address requests come from")
		case err != nil:
			e.add(join(p, "address"), "%q is not an IP address: requests are matched by their source address", cl.Address)
		default:
			a = a.Unmap()
			if j, dup := seen[a]; dup {
				e.add(join(p, "address"), "%s is already radius.dynamic-author.clients[%d]", cl.Address, j)
			} else {
				seen[a] = i
			}
		}
		if cl.Secret == "" {
			e.add(join(p, "secret"), "is required: the shared secret this client signs its requests with")
		}
	}
}

// checkHost checks a server address: an IP address or a host name, without a port.
func checkHost(h string) string {
	switch {
	case h == "":
		return "is required: the server's IP address or host name"
	case strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]"):
		return fmt.Sprintf("%q: write an IPv6 address without brackets", h)
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return ""
	}
	if host, port, err := net.SplitHostPort(h); err == nil {
		return fmt.Sprintf("%q has a port: write address %q and auth-port %s (acct-port for accounting)", h, host, port)
	}
	if len(h) > maxHostNameLen {
		return fmt.Sprintf("is longer than %d characters", maxHostNameLen)
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' ||
			strings.IndexFunc(label, func(r rune) bool {
				return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
			}) >= 0 {
			return fmt.Sprintf("%q is neither an IP address nor a host name", h)
		}
	}
	return ""
}

// checkListen checks a UDP listen address: IP:PORT, or :PORT for every address.
func checkListen(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("%q is not HOST:PORT (e.g. \"0.0.0.0:3799\", or \"[::1]:3799\" for IPv6)", s)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Sprintf("%q: %q is not an IP address (listen on an address of this host)", s, host)
		}
	}
	if _, ok := portNumber(port); !ok {
		return fmt.Sprintf("%q: port %q is not 1-65535 (RFC 5176 §3 uses 3799)", s, port)
	}
	return ""
}

// checkDialstring checks a dial string (users' callback-dialstring, RADIUS Callback-Ids);
// "" (the user supplies the number) is allowed.
func checkDialstring(ds string) string {
	if len(ds) > maxDialstring {
		return fmt.Sprintf("is longer than %d characters", maxDialstring)
	}
	if k := strings.IndexFunc(ds, func(r rune) bool {
		return !(r >= '0' && r <= '9') && !strings.ContainsRune(dialModifiers, r)
	}); k >= 0 {
		r, _ := utf8.DecodeRuneInString(ds[k:])
		return fmt.Sprintf("%q contains %q: allowed are digits and %s", ds, r, dialModifiers)
	}
	return ""
}

func sortedStrings[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
