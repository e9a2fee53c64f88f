package radius

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"layeh.com/radius"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/dictionaries/ascend"
	"github.com/dialback/nas/dictionaries/cisco"
	"github.com/dialback/nas/dictionaries/microsoft"
	"github.com/dialback/nas/dictionaries/rfc"
)

// ErrNotOffered means an Access-Accept grants something the NAS cannot give for the request
// (Service-Type Framed-User to an EXEC login, Login-User to PPP, a Callback-Id it cannot map).
// Authenticate turns it into a reject.
var ErrNotOffered = errors.New("accept is for a service the NAS cannot give")

// minInterim is the shortest Acct-Interim-Interval honoured (RFC 2869 §5.16: SHOULD NOT be
// less than 60 seconds).
const minInterim = 60 * time.Second

// maxRotary is the highest rotary group (REFERENCE §2: callback-rotary 0-100, 0 = none).
const maxRotary = 100

// Framed-IP-Address values with a meaning of their own (RFC 2865 §5.8).
var (
	addrUserChooses = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	addrNASChooses  = netip.AddrFrom4([4]byte{255, 255, 255, 254})
)

// ProfileFromPacket maps an Access-Accept to the profile of a request for service. It is a
// pure function of the packet (only Access-Accept attributes are ever read: an Access-Reject's
// are ignored), so that fuzzing and the table tests cover all of the mapping.
//
// Callback comes from any of: Cisco-AVPair "lcp:" (PPP), "shell:" (login) or "arap:" (ARAP)
// callback-dialstring, callback-line, callback-rotary, nocallback-verify; Callback-Number;
// Callback-Id through callbackIDs; Ascend-Dial-Number (unless Ascend-Callback says
// Callback-No); Service-Type Callback-*. A non-empty dial string wins over an empty one, and
// among non-empty ones the order is the one above. A source that is present but empty, or
// Service-Type Callback-* alone, means the user supplies the number. callback-line,
// -rotary and nocallback-verify without any of those do not make a callback user.
//
// The warnings say which attributes were malformed or overridden; the error, wrapping
// ErrNotOffered, that the accept cannot be honoured.
func ProfileFromPacket(p *radius.Packet, service aaa.Service, callbackIDs map[string]string) (*aaa.Profile, []string, error) {
	if p == nil || p.Code != radius.CodeAccessAccept {
		return nil, nil, errors.New("not an Access-Accept")
	}
	m := mapper{p: p, prof: &aaa.Profile{}}
	if err := m.service(service); err != nil {
		return nil, m.warn, err
	}
	if err := m.callback(service, callbackIDs); err != nil {
		return nil, m.warn, err
	}
	m.session()
	return m.prof, m.warn, nil
}

type mapper struct {
	p    *radius.Packet
	prof *aaa.Profile
	warn []string
}

func (m *mapper) warnf(format string, args ...any) {
	m.warn = append(m.warn, fmt.Sprintf(format, args...))
}

// integer returns the first attribute of type t as an integer; a malformed one is warned
// about and treated as absent.
func (m *mapper) integer(t radius.Type, name string) (uint32, bool) {
	a, ok := m.p.Lookup(t)
	if !ok {
		return 0, false
	}
	if len(a) != 4 {
		m.warnf("%s is %d octets, not 4", name, len(a))
		return 0, false
	}
	return binary.BigEndian.Uint32(a), true
}

func (m *mapper) addr(t radius.Type, name string) (netip.Addr, bool) {
	a, ok := m.p.Lookup(t)
	if !ok {
		return netip.Addr{}, false
	}
	if len(a) != 4 {
		m.warnf("%s is %d octets, not 4", name, len(a))
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(a)), true
}

func (m *mapper) strings(t radius.Type) []string {
	var out []string
	for _, a := range m.p.Attributes {
		if a.Type == t {
			out = append(out, string(a.Attribute))
		}
	}
	return out
}

// service checks Service-Type and Framed-Protocol against what was asked (RFC 2865 §5.6,
// §5.7).
func (m *mapper) service(service aaa.Service) error {
	if st, ok := m.integer(rfc.ServiceType_Type, "Service-Type"); ok {
		if !serviceAllowed(service, rfc.ServiceType(st)) {
			return fmt.Errorf("%w: Service-Type %v for a %s request", ErrNotOffered, rfc.ServiceType(st), service)
		}
	}
	fp, ok := m.integer(rfc.FramedProtocol_Type, "Framed-Protocol")
	if !ok {
		return nil
	}
	want := map[aaa.Service]rfc.FramedProtocol{
		aaa.ServicePPP:  rfc.FramedProtocol_Value_PPP,
		aaa.ServiceARAP: rfc.FramedProtocol_Value_ARAP,
	}[service]
	switch {
	case want == 0:
		m.warnf("Framed-Protocol %v on a %s accept", rfc.FramedProtocol(fp), service)
	case rfc.FramedProtocol(fp) != want:
		return fmt.Errorf("%w: Framed-Protocol %v for a %s request", ErrNotOffered, rfc.FramedProtocol(fp), service)
	}
	return nil
}

func serviceAllowed(s aaa.Service, st rfc.ServiceType) bool {
	switch st {
	case rfc.ServiceType_Value_AuthenticateOnly:
		return true // no authorization in it: nothing the NAS cannot give
	case rfc.ServiceType_Value_LoginUser, rfc.ServiceType_Value_CallbackLoginUser,
		rfc.ServiceType_Value_AdministrativeUser, rfc.ServiceType_Value_CallbackAdministrative,
		rfc.ServiceType_Value_NASPromptUser, rfc.ServiceType_Value_CallbackNASPrompt:
		return s == aaa.ServiceLogin
	case rfc.ServiceType_Value_FramedUser, rfc.ServiceType_Value_CallbackFramedUser:
		return s == aaa.ServicePPP || s == aaa.ServiceARAP
	}
	return false // Outbound, Call-Check, Authorize-Only, unknown
}

func isCallbackService(st rfc.ServiceType) bool {
	switch st {
	case rfc.ServiceType_Value_CallbackLoginUser, rfc.ServiceType_Value_CallbackFramedUser,
		rfc.ServiceType_Value_CallbackNASPrompt, rfc.ServiceType_Value_CallbackAdministrative:
		return true
	}
	return false
}

// avProtocol is the Cisco-AVPair protocol whose callback pairs apply to a service.
func avProtocol(s aaa.Service) string {
	switch s {
	case aaa.ServicePPP:
		return "lcp"
	case aaa.ServiceARAP:
		return "arap"
	}
	return "shell"
}

// splitAV splits "protocol:attribute=value" (or "*" for an optional pair, as in TACACS+).
// The protocol may be absent.
func splitAV(av string) (proto, attr, value string, ok bool) {
	i := strings.IndexAny(av, "=*")
	if i < 0 {
		return "", "", "", false
	}
	attr, value = av[:i], av[i+1:]
	if j := strings.IndexByte(attr, ':'); j >= 0 {
		proto, attr = attr[:j], attr[j+1:]
	}
	return strings.ToLower(strings.TrimSpace(proto)), strings.ToLower(strings.TrimSpace(attr)), strings.TrimSpace(value), attr != ""
}

// dialSource is one place a dial string came from.
type dialSource struct {
	name   string
	number string
}

func (m *mapper) callback(service aaa.Service, callbackIDs map[string]string) error {
	var (
		sources       []dialSource // in precedence order
		line, rotary  int
		noVerify      bool
		lineOrRotary  bool
		wantsCallback bool
	)
	if st, ok := m.integer(rfc.ServiceType_Type, "Service-Type"); ok && isCallbackService(rfc.ServiceType(st)) {
		wantsCallback = true
	}

	proto := avProtocol(service)
	avs, _ := cisco.CiscoAVPair_GetStrings(m.p)
	var avDial *string
	for _, av := range avs {
		pr, attr, val, ok := splitAV(av)
		if !ok {
			m.warnf("Cisco-AVPair %q is not protocol:attribute=value", av)
			continue
		}
		if pr != "" && pr != proto {
			continue // another service's pair (lcp: on an EXEC login, ...)
		}
		switch attr {
		case "callback-dialstring":
			if avDial != nil && *avDial != val {
				m.warnf("Cisco-AVPair callback-dialstring given twice; using the first")
				continue
			}
			avDial = &val
		case "callback-line":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				m.warnf("Cisco-AVPair callback-line %q is not a line number", val)
				continue
			}
			line, lineOrRotary = n, lineOrRotary || n > 0
		case "callback-rotary":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 || n > maxRotary {
				m.warnf("Cisco-AVPair callback-rotary %q is not a rotary group 0-%d", val, maxRotary)
				continue
			}
			rotary, lineOrRotary = n, lineOrRotary || n > 0
		case "nocallback-verify":
			switch strings.ToLower(val) {
			case "1", "true", "yes":
				noVerify = true
			case "0", "false", "no":
				noVerify = false
			default:
				m.warnf("Cisco-AVPair nocallback-verify %q is not 0 or 1", val)
			}
		case "autocmd":
			if proto == "shell" {
				m.prof.Autocommand = val
			}
		}
	}
	if avDial != nil {
		sources = append(sources, dialSource{"Cisco-AVPair " + proto + ":callback-dialstring", *avDial})
	}
	if nums := m.strings(rfc.CallbackNumber_Type); len(nums) > 0 {
		sources = append(sources, dialSource{"Callback-Number", nums[0]})
	}
	if ids := m.strings(rfc.CallbackID_Type); len(ids) > 0 {
		num, ok := lookupCallbackID(callbackIDs, ids[0])
		if !ok {
			return fmt.Errorf("%w: Callback-Id %q is not in the callback-id map", ErrNotOffered, ids[0])
		}
		sources = append(sources, dialSource{"Callback-Id " + ids[0], num})
	}
	if nums, _ := ascend.AscendDialNumber_GetStrings(m.p); len(nums) > 0 {
		if v, err := ascend.AscendCallback_Lookup(m.p); err == nil && v == ascend.AscendCallback_Value_CallbackNo {
			m.warnf("Ascend-Dial-Number ignored: Ascend-Callback is Callback-No")
		} else {
			sources = append(sources, dialSource{"Ascend-Dial-Number", nums[0]})
		}
	}

	if len(sources) == 0 && !wantsCallback {
		if lineOrRotary || noVerify {
			m.warnf("callback-line, callback-rotary or nocallback-verify without a dial string: not a callback user")
		}
		return nil
	}
	cb := &aaa.Callback{Line: line, Rotary: rotary, NoVerify: noVerify}
	var from string
	for _, s := range sources {
		if s.number == "" {
			continue
		}
		if from == "" {
			cb.Dialstring, from = s.number, s.name
		} else if s.number != cb.Dialstring {
			m.warnf("%s %q overridden by %s %q", s.name, s.number, from, cb.Dialstring)
		}
	}
	m.prof.Callback = cb
	return nil
}

// lookupCallbackID finds a Callback-Id in the map: exactly, or else ignoring case, because the
// configuration loader (viper) lowercases map keys, so "Office" is configured as "office".
func lookupCallbackID(m map[string]string, id string) (string, bool) {
	if num, ok := m[id]; ok {
		return num, true
	}
	for k, num := range m {
		if strings.EqualFold(k, id) {
			return num, true
		}
	}
	return "", false
}

// session maps the attributes that shape the session.
func (m *mapper) session() {
	p := m.prof
	if a, ok := m.addr(rfc.FramedIPAddress_Type, "Framed-IP-Address"); ok {
		// 255.255.255.254 (NAS chooses) and 0.0.0.0 leave the zero Address, which means the
		// pool or the line's address. 255.255.255.255 (the user may choose) is not offered:
		// the NAS assigns.
		if a != addrUserChooses && a != addrNASChooses && !a.IsUnspecified() {
			p.Address = a
		}
	}
	if a, ok := m.addr(rfc.FramedIPNetmask_Type, "Framed-IP-Netmask"); ok {
		p.Netmask = a
	}
	if v := m.strings(rfc.FramedPool_Type); len(v) > 0 {
		p.Pool = v[0]
	}
	if v := m.strings(rfc.FilterID_Type); len(v) > 0 {
		p.Filter = v[0]
		if len(v) > 1 {
			m.warnf("%d Filter-Id attributes; using the first, %q", len(v), v[0])
		}
	}
	if v, ok := m.integer(rfc.SessionTimeout_Type, "Session-Timeout"); ok {
		p.SessionTimeout = time.Duration(v) * time.Second
	}
	if v, ok := m.integer(rfc.IdleTimeout_Type, "Idle-Timeout"); ok {
		p.IdleTimeout = time.Duration(v) * time.Second
	}
	if v, ok := m.integer(rfc.AcctInterimInterval_Type, "Acct-Interim-Interval"); ok && v > 0 {
		p.InterimInterval = time.Duration(v) * time.Second
		if p.InterimInterval < minInterim {
			m.warnf("Acct-Interim-Interval %d s raised to %v (RFC 2869 §5.16)", v, minInterim)
			p.InterimInterval = minInterim
		}
	}
	if v, ok := m.integer(rfc.FramedMTU_Type, "Framed-MTU"); ok {
		if v < 64 || v > 65535 { // RFC 2865 §5.12
			m.warnf("Framed-MTU %d is outside 64-65535", v)
		} else {
			p.MTU = int(v)
		}
	}
	if v, ok := m.integer(rfc.PortLimit_Type, "Port-Limit"); ok {
		if v > 1<<16 {
			v = 1 << 16 // no NAS has more ports; keeps the int small on any platform
		}
		p.PortLimit = int(v)
	}
	for _, a := range m.p.Attributes {
		if a.Type == rfc.Class_Type {
			p.Class = append(p.Class, append([]byte(nil), a.Attribute...))
		}
	}
	for _, s := range m.strings(rfc.FramedRoute_Type) {
		r, err := parseFramedRoute(s)
		if err != nil {
			m.warnf("Framed-Route %q: %v", s, err)
			continue
		}
		p.Routes = append(p.Routes, r)
	}
	p.ReplyMessage = replyMessage(m.p)
	// MS-CHAP2-Success (RFC 2548 §2.3.3): Ident, then "S=" and 40 hex digits for the peer.
	if v := microsoft.MSCHAP2Success_Get(m.p); v != nil {
		if len(v) < 3 || string(v[1:3]) != "S=" {
			m.warnf("MS-CHAP2-Success is not an Ident and an S= authenticator response")
		} else {
			p.AuthenticatorResponse = string(v[1:])
		}
	}
}

// parseFramedRoute reads "prefix[/bits] gateway [metrics...]" (RFC 2865 §5.22). A prefix
// without /bits is a host route; gateway 0.0.0.0 means the user's own address (zero Gateway).
func parseFramedRoute(s string) (aaa.Route, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return aaa.Route{}, errors.New("empty")
	}
	dst := f[0]
	if !strings.Contains(dst, "/") {
		dst += "/32"
	}
	pfx, err := netip.ParsePrefix(dst)
	if err != nil || !pfx.Addr().Is4() {
		return aaa.Route{}, fmt.Errorf("destination %q is not an IPv4 prefix", f[0])
	}
	r := aaa.Route{Prefix: pfx.Masked()}
	if len(f) > 1 {
		gw, err := netip.ParseAddr(f[1])
		if err != nil || !gw.Is4() {
			return aaa.Route{}, fmt.Errorf("gateway %q is not an IPv4 address", f[1])
		}
		if !gw.IsUnspecified() {
			r.Gateway = gw
		}
	}
	return r, nil
}
