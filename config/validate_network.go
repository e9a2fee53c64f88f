package config

import (
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"
)

// Allowed values and limits of the ppp and ip-pools sections.
var (
	// pppAuthNames are the protocols of IOS `ppp authentication` this NAS implements.
	pppAuthNames = []string{"chap", "ms-chap-v2", "pap"}
	// pppCallbackModes: off, IOS `ppp callback accept`, IOS `ppp callback initiate`.
	pppCallbackModes = []string{"", "accept", "initiate"}
)

const (
	// IOS `keepalive` takes 0-32767 seconds; 0 turns echoes off.
	maxKeepalive = 32767 * time.Second
	// IOS `keepalive PERIOD RETRIES` takes 1-255 retries; 0 here means the default.
	maxKeepaliveRetries = 255
	// An MRU below RFC 1661's 128 octets is Naked by a peer; above 16 KiB no async line
	// gains anything and a frame would take seconds at modem speeds.
	minMRU, maxMRU = 128, 16384
	// maxDNS: RFC 1877 has a primary (129) and a secondary (131) DNS option.
	maxDNS = 2
	// maxPoolSize matches ppp/pool.MaxSize (config does not import ppp).
	maxPoolSize = 1 << 16
)

// validatePPP checks the PPP settings and the address pools.
func (c *Config) validatePPP(e *collector) {
	p := c.PPP
	for i, name := range p.Authentication {
		path := index("ppp.authentication", i)
		switch {
		case !slices.Contains(pppAuthNames, name):
			e.add(path, "%q is not one of %s", name, strings.Join(pppAuthNames, ", "))
		case slices.Index(p.Authentication, name) < i:
			e.add(path, "%q is listed twice", name)
		}
	}
	if !slices.Contains(pppCallbackModes, p.Callback) {
		e.add("ppp.callback", "%q is not one of accept, initiate (leave it out for no PPP callback)", p.Callback)
	}
	if p.Keepalive != nil {
		if k := *p.Keepalive; k > 0 && k < time.Second {
			e.add("ppp.keepalive", "%s is shorter than 1s: LCP echoes that often would swamp a modem line", fmtDur(k))
		} else {
			durRange(e, "ppp.keepalive", k, 0, maxKeepalive, " (0s turns keepalives off)")
		}
	}
	if p.KeepaliveRetries != 0 {
		intRange(e, "ppp.keepalive-retries", p.KeepaliveRetries, 1, maxKeepaliveRetries)
	}
	if p.MRU != 0 {
		intRange(e, "ppp.mru", p.MRU, minMRU, maxMRU)
	}
	local, localOK := ipv4(e, "ppp.local-address", p.LocalAddress)
	if len(p.DNS) > maxDNS {
		e.add("ppp.dns", "lists %d servers: PPP (RFC 1877) offers a primary and a secondary, at most %d", len(p.DNS), maxDNS)
	}
	for i, d := range p.DNS {
		if d == "" {
			e.add(index("ppp.dns", i), "is empty: want an IPv4 address")
			continue
		}
		ipv4(e, index("ppp.dns", i), d)
	}

	type span struct {
		i          int
		name       string
		start, end netip.Addr
	}
	var spans []span
	byName := map[string]int{}
	for i, pl := range c.IPPools {
		path := index("ip-pools", i)
		np := join(path, "name")
		switch {
		case pl.Name == "":
			e.add(np, "is required")
		case strings.ContainsAny(pl.Name, " \t\r\n"):
			e.add(np, "%q contains white space", pl.Name)
		default:
			if j, dup := byName[pl.Name]; dup {
				e.add(np, "%q is already defined by ip-pools[%d]", pl.Name, j)
			} else {
				byName[pl.Name] = i
			}
		}
		if pl.Start == "" {
			e.add(join(path, "start"), "is required: the first IPv4 address of the pool")
			continue
		}
		start, okS := ipv4(e, join(path, "start"), pl.Start)
		end, okE := start, okS
		if pl.End != "" {
			end, okE = ipv4(e, join(path, "end"), pl.End)
		}
		if !okS || !okE {
			continue
		}
		if end.Less(start) {
			e.add(join(path, "end"), "%v is before start %v", end, start)
			continue
		}
		if n := u32(end) - u32(start) + 1; n > maxPoolSize || n == 0 {
			e.add(join(path, "end"), "the pool %v-%v holds more than %d addresses", start, end, maxPoolSize)
			continue
		}
		if localOK && !local.Less(start) && !end.Less(local) {
			e.add(path, "%v-%v contains ppp.local-address %v, which would be handed to a caller", start, end, local)
		}
		spans = append(spans, span{i, pl.Name, start, end})
	}
	// Two pools sharing an address could hand it to two callers at once.
	sort.Slice(spans, func(a, b int) bool { return spans[a].start.Less(spans[b].start) })
	for k := 1; k < len(spans); k++ {
		a, b := spans[k-1], spans[k]
		if !a.end.Less(b.start) {
			later, earlier := b, a
			if a.i > b.i {
				later, earlier = a, b
			}
			e.add(index("ip-pools", later.i), "%v-%v overlaps ip-pools[%d] (%s, %v-%v)",
				later.start, later.end, earlier.i, earlier.name, earlier.start, earlier.end)
		}
	}
	if p.Pool != "" {
		if _, ok := byName[p.Pool]; !ok {
			have := "none is defined"
			if len(byName) > 0 {
				have = "defined: " + strings.Join(sortedStrings(byName), ", ")
			}
			e.add("ppp.pool", "%q is not an ip-pools entry (%s)", p.Pool, have)
		}
	}
}

// ipv4 parses an IPv4 address; "" is allowed (ok false) and anything else is reported.
func ipv4(e *collector, path, s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		e.add(path, "%q is not an IPv4 address", s)
		return netip.Addr{}, false
	case !a.Is4():
		e.add(path, "%q is not an IPv4 address (PPP's IPCP carries IPv4 only)", s)
		return netip.Addr{}, false
	case a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		e.add(path, "%v cannot be a host's address", a)
		return netip.Addr{}, false
	}
	return a, true
}

func u32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
