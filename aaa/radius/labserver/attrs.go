package labserver

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"layeh.com/radius"

	"github.com/dialback/nas/dictionaries/ascend"
	"github.com/dialback/nas/dictionaries/cisco"
	"github.com/dialback/nas/dictionaries/rfc"
)

// kind is how an attribute's text value is encoded.
type kind int

const (
	kindText    kind = iota // string (RFC 2865 §5: 1-253 octets)
	kindInteger             // integer, by number or by a VALUE name
	kindAddr                // ipaddr (IPv4)
)

// attrDef is one reply attribute the lab server can send. add puts an encoded value into a
// packet; standard attributes go in as they are, vendor ones through the generated helpers
// (their _Add, never _Set: layeh/radius issue #150).
type attrDef struct {
	name   string
	kind   kind
	values map[string]uint32 // VALUE names of an integer attribute
	std    radius.Type       // standard attribute type, or 0 for a vendor attribute
	vendor func(p *radius.Packet, text string, n uint32) error
}

func names[T ~uint32](m map[T]string) map[string]uint32 {
	out := make(map[string]uint32, len(m))
	for v, n := range m {
		out[n] = uint32(v)
	}
	return out
}

// dictionary lists the reply attributes of REFERENCE §2 that the NAS maps (dictionaries/
// dictionary.*): enough for every callback form and session attribute.
var dictionary = func() map[string]attrDef {
	defs := []attrDef{
		{name: "Service-Type", kind: kindInteger, std: rfc.ServiceType_Type, values: names(rfc.ServiceType_Strings)},
		{name: "Framed-Protocol", kind: kindInteger, std: rfc.FramedProtocol_Type, values: names(rfc.FramedProtocol_Strings)},
		{name: "Framed-IP-Address", kind: kindAddr, std: rfc.FramedIPAddress_Type},
		{name: "Framed-IP-Netmask", kind: kindAddr, std: rfc.FramedIPNetmask_Type},
		{name: "Framed-Pool", kind: kindText, std: rfc.FramedPool_Type},
		{name: "Framed-Route", kind: kindText, std: rfc.FramedRoute_Type},
		{name: "Framed-MTU", kind: kindInteger, std: rfc.FramedMTU_Type},
		{name: "Filter-Id", kind: kindText, std: rfc.FilterID_Type},
		{name: "Reply-Message", kind: kindText, std: rfc.ReplyMessage_Type},
		{name: "Callback-Number", kind: kindText, std: rfc.CallbackNumber_Type},
		{name: "Callback-Id", kind: kindText, std: rfc.CallbackID_Type},
		{name: "Class", kind: kindText, std: rfc.Class_Type},
		{name: "Session-Timeout", kind: kindInteger, std: rfc.SessionTimeout_Type},
		{name: "Idle-Timeout", kind: kindInteger, std: rfc.IdleTimeout_Type},
		{name: "Termination-Action", kind: kindInteger, std: rfc.TerminationAction_Type, values: names(rfc.TerminationAction_Strings)},
		{name: "Acct-Interim-Interval", kind: kindInteger, std: rfc.AcctInterimInterval_Type},
		{name: "Port-Limit", kind: kindInteger, std: rfc.PortLimit_Type},
		{name: "Cisco-AVPair", kind: kindText, vendor: func(p *radius.Packet, s string, _ uint32) error {
			return cisco.CiscoAVPair_AddString(p, s)
		}},
		{name: "Ascend-Dial-Number", kind: kindText, vendor: func(p *radius.Packet, s string, _ uint32) error {
			return ascend.AscendDialNumber_AddString(p, s)
		}},
		{name: "Ascend-Callback", kind: kindInteger, values: names(ascend.AscendCallback_Strings), vendor: func(p *radius.Packet, _ string, n uint32) error {
			return ascend.AscendCallback_Add(p, ascend.AscendCallback(n))
		}},
	}
	m := make(map[string]attrDef, len(defs))
	for _, d := range defs {
		m[strings.ToLower(d.name)] = d
	}
	return m
}()

// AttributeNames lists the reply attributes the server knows, sorted.
func AttributeNames() []string {
	out := make([]string, 0, len(dictionary))
	for _, d := range dictionary {
		out = append(out, d.name)
	}
	slices.Sort(out)
	return out
}

// encoder checks a and returns what adds it to a reply. Names are case-insensitive, as in
// FreeRADIUS.
func encoder(a Attr) (func(*radius.Packet) error, error) {
	d, ok := dictionary[strings.ToLower(a.Name)]
	if !ok {
		return nil, fmt.Errorf("reply attribute %q is not one the lab server knows (%s)", a.Name, strings.Join(AttributeNames(), ", "))
	}
	var (
		raw radius.Attribute
		n   uint32
	)
	switch d.kind {
	case kindText:
		if a.Value == "" || len(a.Value) > 253 {
			return nil, fmt.Errorf("%s: %q must be 1-253 characters (RFC 2865 §5)", d.name, a.Value)
		}
		raw = radius.Attribute(a.Value)
	case kindInteger:
		if v, ok := d.values[a.Value]; ok {
			n = v
		} else {
			v, err := strconv.ParseUint(a.Value, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is neither a number nor one of its values%s", d.name, a.Value, valueList(d.values))
			}
			n = uint32(v)
		}
		raw = radius.NewInteger(n)
	case kindAddr:
		ip, err := netip.ParseAddr(a.Value)
		if err != nil || !ip.Is4() {
			return nil, fmt.Errorf("%s: %q is not an IPv4 address", d.name, a.Value)
		}
		raw, _ = radius.NewIPAddr(net.IP(ip.AsSlice()))
	}
	if d.vendor != nil {
		text := a.Value
		return func(p *radius.Packet) error { return d.vendor(p, text, n) }, nil
	}
	return func(p *radius.Packet) error {
		p.Add(d.std, append(radius.Attribute(nil), raw...))
		return nil
	}, nil
}

func valueList(values map[string]uint32) string {
	if len(values) == 0 {
		return ""
	}
	ns := make([]string, 0, len(values))
	for n := range values {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return " (" + strings.Join(ns, ", ") + ")"
}
