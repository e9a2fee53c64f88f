package config

import (
	"slices"
	"strings"

	"github.com/dialback/nas/ppp/dataplane"
)

// Limits of the dataplane section.
const (
	// A datagram of 68 octets must pass unfragmented (RFC 791 §3.2); 65535 is IPv4's largest.
	minDataPlaneMTU, maxDataPlaneMTU = dataplane.MinMTU, 65535
	// Linux interface names are at most IFNAMSIZ-1 = 15 characters.
	maxIfName = 15
	// IOS `hold-queue` takes up to 4096 packets; more only adds latency on a modem line.
	maxQueueLen = 4096
	// rtnetlink route tables are 32-bit; 253 (default) and 255 (local) belong to the kernel.
	maxRouteTable = 1<<32 - 1
)

// reservedRouteProtocols are the rtnetlink route protocols the data plane refuses, because it
// deletes every route of its own protocol at start: the kernel's (RTPROT_UNSPEC..RTPROT_STATIC,
// include/uapi/linux/rtnetlink.h) and the routing daemons' of iproute2's rt_protos. The same
// list as ppp/dataplane's, which checks it again when the plane starts.
var reservedRouteProtocols = []int{0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 42, 99, 186, 187, 188, 189, 192}

var filterDirections = []string{"in", "out"}

// validateDataPlane checks the dataplane section and parses every access list the way the
// data plane will, so that a rule it cannot read fails `nas check`, not a caller.
func (c *Config) validateDataPlane(e *collector) {
	d := c.DataPlane
	if d.Interface != "" {
		switch {
		case len(d.Interface) > maxIfName:
			e.add("dataplane.interface", "%q is longer than %d characters (Linux IFNAMSIZ)", d.Interface, maxIfName)
		case d.Interface == "." || d.Interface == "..":
			e.add("dataplane.interface", "%q is not an interface name", d.Interface)
		case strings.ContainsFunc(d.Interface, func(r rune) bool { return r <= ' ' || r == '/' || r == ':' || r > '~' }):
			e.add("dataplane.interface", "%q: an interface name has no white space, '/', ':' or non-ASCII characters", d.Interface)
		case strings.Count(d.Interface, "%") > 1 || strings.Contains(d.Interface, "%") && !strings.Contains(d.Interface, "%d"):
			e.add("dataplane.interface", "%q: the only '%%' allowed is one \"%%d\", which the kernel replaces by a number", d.Interface)
		}
	}
	if d.MTU != 0 {
		intRange(e, "dataplane.mtu", d.MTU, minDataPlaneMTU, maxDataPlaneMTU)
	}
	if p := d.RouteProtocol; p != 0 {
		switch {
		case p < 1 || p > 255:
			e.add("dataplane.route-protocol", "%d is out of range 1-255", p)
		case slices.Contains(reservedRouteProtocols, p):
			e.add("dataplane.route-protocol", "%d belongs to the kernel or a routing daemon, and the NAS deletes every route of "+
				"its protocol at start: choose another (default %d)", p, dataplane.DefaultRouteProtocol)
		}
	}
	if t := d.RouteTable; t != 0 {
		switch {
		case t < 1 || t > maxRouteTable:
			e.add("dataplane.route-table", "%d is out of range 1-%d", t, maxRouteTable)
		case t == 253 || t == 255:
			e.add("dataplane.route-table", "%d is the kernel's %s table", t, map[int]string{253: "default", 255: "local"}[t])
		}
	}
	if d.QueueLen != 0 {
		intRange(e, "dataplane.queue-len", d.QueueLen, 1, maxQueueLen)
	}
	if d.FilterDirection != "" {
		oneOf(e, "dataplane.filter-direction", d.FilterDirection, filterDirections, " (leave it out for out)")
	}

	for _, name := range sortedStrings(c.AccessLists) {
		path := join("access-lists", name)
		if _, err := dataplane.ParseACL(name, c.AccessLists[name]); err != nil {
			// The path names the list already; the message keeps the line and the rule.
			e.add(path, "%s", strings.TrimPrefix(err.Error(), "access list "+name+" "))
		}
	}
}

// DataPlaneConfig is the data plane's configuration: the dataplane section, the access lists
// parsed, and the filter direction. It fails only on a configuration Validate refuses.
func (c *Config) DataPlaneConfig() (dataplane.Config, error) {
	d := c.DataPlane
	lists, err := dataplane.ParseAccessLists(c.AccessLists)
	if err != nil {
		return dataplane.Config{}, err
	}
	dc := dataplane.Config{
		Name: d.Interface, MTU: d.MTU, RouteProtocol: uint8(d.RouteProtocol), RouteTable: uint32(d.RouteTable),
		QueueLen: d.QueueLen, AccessLists: lists, FilterDirection: dataplane.Out,
	}
	if d.FilterDirection == "in" {
		dc.FilterDirection = dataplane.In
	}
	return dc, nil
}
