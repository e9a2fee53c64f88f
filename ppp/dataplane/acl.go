package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
)

// ErrACL is wrapped by every access-list parse error.
var ErrACL = errors.New("bad access list")

// Action is what a rule does with the packets it matches.
type Action uint8

// Actions.
const (
	Deny Action = iota
	Permit
)

func (a Action) String() string {
	if a == Permit {
		return "permit"
	}
	return "deny"
}

// PortOp compares a TCP or UDP port.
type PortOp uint8

// Port operators, as IOS names them.
const (
	PortAny   PortOp = iota // no port condition
	PortEq                  // eq P
	PortNeq                 // neq P
	PortLt                  // lt P
	PortGt                  // gt P
	PortRange               // range Lo Hi, inclusive
)

// PortMatch is one port condition. Lo is the operand of eq/neq/lt/gt; Hi is only for range.
type PortMatch struct {
	Op     PortOp
	Lo, Hi uint16
}

func (m PortMatch) match(p uint16) bool {
	switch m.Op {
	case PortEq:
		return p == m.Lo
	case PortNeq:
		return p != m.Lo
	case PortLt:
		return p < m.Lo
	case PortGt:
		return p > m.Lo
	case PortRange:
		return p >= m.Lo && p <= m.Hi
	}
	return true
}

func (m PortMatch) String() string {
	switch m.Op {
	case PortEq:
		return "eq " + strconv.Itoa(int(m.Lo))
	case PortNeq:
		return "neq " + strconv.Itoa(int(m.Lo))
	case PortLt:
		return "lt " + strconv.Itoa(int(m.Lo))
	case PortGt:
		return "gt " + strconv.Itoa(int(m.Lo))
	case PortRange:
		return "range " + strconv.Itoa(int(m.Lo)) + " " + strconv.Itoa(int(m.Hi))
	}
	return ""
}

// AnyProtocol is Rule.Protocol for "ip": every protocol.
const AnyProtocol = -1

// Rule is one line of an access list.
type Rule struct {
	Action Action
	// Protocol is the IP protocol number, or AnyProtocol.
	Protocol int
	Src, Dst netip.Prefix
	// SrcPort and DstPort are for tcp and udp rules.
	SrcPort, DstPort PortMatch
	// Established (tcp): only segments with ACK or RST.
	Established bool
	// ICMPType and ICMPCode (icmp): -1 = any.
	ICMPType, ICMPCode int
}

// transport says the rule looks past the IP header.
func (r *Rule) transport() bool {
	return r.SrcPort.Op != PortAny || r.DstPort.Op != PortAny || r.Established || r.ICMPType >= 0
}

// String is the rule in the syntax ParseRule reads.
func (r Rule) String() string {
	var b strings.Builder
	b.WriteString(r.Action.String())
	b.WriteByte(' ')
	b.WriteString(protoName(r.Protocol))
	for _, x := range []struct {
		p    netip.Prefix
		port PortMatch
	}{{r.Src, r.SrcPort}, {r.Dst, r.DstPort}} {
		b.WriteByte(' ')
		b.WriteString(addrString(x.p))
		if x.port.Op != PortAny {
			b.WriteByte(' ')
			b.WriteString(x.port.String())
		}
	}
	if r.Established {
		b.WriteString(" established")
	}
	if r.ICMPType >= 0 {
		b.WriteString(" " + strconv.Itoa(r.ICMPType))
		if r.ICMPCode >= 0 {
			b.WriteString(" " + strconv.Itoa(r.ICMPCode))
		}
	}
	return b.String()
}

func addrString(p netip.Prefix) string {
	switch {
	case p.Bits() == 0:
		return "any"
	case p.Bits() == 32:
		return "host " + p.Addr().String()
	}
	return p.String()
}

// compiled is a rule in the form the matcher wants: addresses and masks as integers.
type compiled struct {
	Rule
	src, srcMask, dst, dstMask uint32
	l4                         bool
}

func compile(r Rule) compiled {
	c := compiled{Rule: r, l4: r.transport()}
	c.src, c.srcMask = prefixBits(r.Src)
	c.dst, c.dstMask = prefixBits(r.Dst)
	return c
}

func prefixBits(p netip.Prefix) (addr, mask uint32) {
	if p.Bits() <= 0 {
		return 0, 0
	}
	a := p.Addr().As4()
	mask = ^uint32(0) << (32 - p.Bits())
	return (uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])) & mask, mask
}

func (c *compiled) match(p *packet) bool {
	if c.Protocol != AnyProtocol && int(p.proto) != c.Protocol {
		return false
	}
	if p.src&c.srcMask != c.src || p.dst&c.dstMask != c.dst {
		return false
	}
	if !c.l4 {
		return true
	}
	if !p.first {
		return c.Action == Permit // IOS: non-initial fragments (see the comment at the top)
	}
	if !p.l4 {
		return false // too short to carry the fields the rule asks about
	}
	if !c.SrcPort.match(p.sport) || !c.DstPort.match(p.dport) {
		return false
	}
	if c.Established && p.tcpFlags&(tcpFlagACK|tcpFlagRST) == 0 {
		return false
	}
	if c.ICMPType >= 0 {
		if int(p.icmpType) != c.ICMPType || (c.ICMPCode >= 0 && int(p.icmpCode) != c.ICMPCode) {
			return false
		}
	}
	return true
}

// ACL is a named access list with a hit counter per rule. It is immutable once parsed and
// safe for concurrent use; one list serves every session that names it, and its counters add
// up over all of them, as "show access-lists" does on IOS.
type ACL struct {
	name     string
	rules    []compiled
	hits     []atomic.Uint64
	implicit atomic.Uint64 // packets that fell through to the implicit deny
}

// NewACL returns the list NAME of rules. It checks the name and each rule as ParseACL does.
func NewACL(name string, rules []Rule) (*ACL, error) {
	if err := checkACLName(name); err != nil {
		return nil, err
	}
	a := &ACL{name: name, rules: make([]compiled, len(rules)), hits: make([]atomic.Uint64, len(rules))}
	for i, r := range rules {
		if err := r.check(); err != nil {
			return nil, fmt.Errorf("access list %s rule %d (%s): %w", name, i+1, r, err)
		}
		a.rules[i] = compile(r.canonical())
	}
	return a, nil
}

// Name is the list's name.
func (a *ACL) Name() string { return a.name }

// Rules returns a copy of the list's rules.
func (a *ACL) Rules() []Rule {
	out := make([]Rule, len(a.rules))
	for i := range a.rules {
		out[i] = a.rules[i].Rule
	}
	return out
}

// Permits runs an IPv4 datagram through the list: the first matching rule decides and counts
// a hit; no match is the implicit deny. It reports the verdict and the index of the rule that
// gave it (-1 for the implicit deny). A datagram that does not parse is denied (index -1)
// without counting.
func (a *ACL) Permits(ip []byte) (bool, int) {
	p, err := parseIPv4(ip)
	if err != nil {
		return false, -1
	}
	return a.check(&p)
}

func (a *ACL) check(p *packet) (bool, int) {
	for i := range a.rules {
		if a.rules[i].match(p) {
			a.hits[i].Add(1)
			return a.rules[i].Action == Permit, i
		}
	}
	a.implicit.Add(1)
	return false, -1
}

// RuleHits is one rule and how many packets it matched.
type RuleHits struct {
	Rule Rule
	Hits uint64
}

// Hits returns each rule with its hit count, and the count of the implicit deny.
func (a *ACL) Hits() ([]RuleHits, uint64) {
	out := make([]RuleHits, len(a.rules))
	for i := range a.rules {
		out[i] = RuleHits{Rule: a.rules[i].Rule, Hits: a.hits[i].Load()}
	}
	return out, a.implicit.Load()
}

// String renders the list as IOS "show access-lists" does, with sequence numbers 10, 20, ...
// and the hits.
func (a *ACL) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Extended IP access list %s\n", a.name)
	for i := range a.rules {
		fmt.Fprintf(&b, "    %d %s", (i+1)*10, a.rules[i].Rule)
		if n := a.hits[i].Load(); n > 0 {
			fmt.Fprintf(&b, " (%d matches)", n)
		}
		b.WriteByte('\n')
	}
	if n := a.implicit.Load(); n > 0 {
		fmt.Fprintf(&b, "    (implicit deny: %d matches)\n", n)
	}
	return b.String()
}

// MaxACLName bounds an access list's name (a Filter-Id is at most 253 octets; names are short).
const MaxACLName = 64

// checkACLName: letters, digits, '-' and '_'. No dot, because a Filter-Id's ".in"/".out"
// suffix follows the name.
func checkACLName(name string) error {
	if name == "" || len(name) > MaxACLName {
		return fmt.Errorf("access list name %q: want 1 to %d characters: %w", name, MaxACLName, ErrACL)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("access list name %q: only letters, digits, '-' and '_' are allowed: %w", name, ErrACL)
		}
	}
	return nil
}

// ParseACL parses the list NAME from its lines (one rule or remark each; blank lines are
// skipped). Errors name the list, the line number and the offending word.
func ParseACL(name string, lines []string) (*ACL, error) {
	if err := checkACLName(name); err != nil {
		return nil, err
	}
	var rules []Rule
	for i, line := range lines {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if strings.EqualFold(f[0], "remark") {
			continue // IOS keeps remarks for the reader of the configuration only
		}
		r, err := parseRuleFields(f)
		if err != nil {
			return nil, fmt.Errorf("access list %s line %d %q: %w", name, i+1, strings.TrimSpace(line), err)
		}
		rules = append(rules, r)
	}
	return NewACL(name, rules)
}

// ParseAccessLists parses every list of a configuration section (name -> lines). Its error
// reports every bad list, in name order.
func ParseAccessLists(lists map[string][]string) (map[string]*ACL, error) {
	names := make([]string, 0, len(lists))
	for n := range lists {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make(map[string]*ACL, len(lists))
	var errs []error
	for _, n := range names {
		a, err := ParseACL(n, lists[n])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[n] = a
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// ParseRule parses one rule of an access list. Access lists follow the IOS extended IP access
// list ("ip access-list extended NAME"), one
// rule a line, first match wins, an implicit "deny ip any any" at the end:
//
//	permit|deny PROTOCOL SOURCE [PORTS] DESTINATION [PORTS] [established] [ICMP-TYPE [CODE]]
//
// (ParseACL also skips "remark TEXT" lines.)
// PROTOCOL is ip (any), icmp, igmp, tcp, udp, gre, esp, ahp, ospf, pim, or a number 0-255.
// An address is any, host A, A/LEN, or A WILDCARD (an IOS inverse mask such as 0.0.0.255;
// only contiguous ones). PORTS (tcp and udp only) is eq P, neq P, lt P, gt P or range P1 P2,
// with P a number or one of the IOS names (www, domain, smtp, ...). established (tcp only)
// matches segments with ACK or RST set. An icmp rule may end with a type (number or name:
// echo, echo-reply, unreachable, time-exceeded, packet-too-big, ...) and a code.
//
// Fragments are matched as IOS does: a rule without transport fields matches every fragment
// on its addresses and protocol; a rule with them matches a non-initial fragment (which carries
// no transport header) only if it permits, so that a permitted flow's later fragments pass and
// a deny rule about ports never catches them.
func ParseRule(s string) (Rule, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return Rule{}, fmt.Errorf("empty rule: %w", ErrACL)
	}
	return parseRuleFields(f)
}

func parseRuleFields(f []string) (Rule, error) {
	r := Rule{ICMPType: -1, ICMPCode: -1}
	t := tokens{f: f}
	switch w := strings.ToLower(t.next()); w {
	case "permit":
		r.Action = Permit
	case "deny":
		r.Action = Deny
	default:
		return r, fmt.Errorf("%q: a rule starts with permit, deny or remark: %w", w, ErrACL)
	}
	w := t.next()
	if w == "" {
		return r, fmt.Errorf("missing protocol: %w", ErrACL)
	}
	proto, err := parseProto(w)
	if err != nil {
		return r, err
	}
	r.Protocol = proto
	ports := proto == protoTCP || proto == protoUDP
	if r.Src, err = t.addr("source"); err != nil {
		return r, err
	}
	if r.SrcPort, err = t.port(ports); err != nil {
		return r, err
	}
	if r.Dst, err = t.addr("destination"); err != nil {
		return r, err
	}
	if r.DstPort, err = t.port(ports); err != nil {
		return r, err
	}
	for t.more() {
		w := strings.ToLower(t.next())
		switch {
		case w == "established":
			if proto != protoTCP {
				return r, fmt.Errorf("established: only for tcp rules: %w", ErrACL)
			}
			if r.Established {
				return r, fmt.Errorf("established given twice: %w", ErrACL)
			}
			r.Established = true
		case proto == protoICMP && r.ICMPType < 0:
			typ, code, ok := icmpName(w)
			if !ok {
				n, err := strconv.ParseUint(w, 10, 8)
				if err != nil {
					return r, fmt.Errorf("%q: not an ICMP type (0-255 or a name such as echo): %w", w, ErrACL)
				}
				typ, code = int(n), -1
				if t.more() {
					if c, err := strconv.ParseUint(t.peek(), 10, 8); err == nil {
						t.next()
						code = int(c)
					}
				}
			}
			r.ICMPType, r.ICMPCode = typ, code
		default:
			return r, fmt.Errorf("%q: unexpected word (log, time-range and the like are not supported): %w", w, ErrACL)
		}
	}
	return r.canonical(), r.check()
}

// canonical masks the host bits off the prefixes, as IOS does when it stores a rule.
func (r Rule) canonical() Rule {
	r.Src, r.Dst = r.Src.Masked(), r.Dst.Masked()
	return r
}

// check validates a rule built in code (NewACL) the way the parser does.
func (r *Rule) check() error {
	if r.Action != Permit && r.Action != Deny {
		return fmt.Errorf("action %d: %w", r.Action, ErrACL)
	}
	if r.Protocol < AnyProtocol || r.Protocol > 255 {
		return fmt.Errorf("protocol %d: want 0-255 or any: %w", r.Protocol, ErrACL)
	}
	for _, p := range []netip.Prefix{r.Src, r.Dst} {
		if !p.IsValid() || !p.Addr().Is4() {
			return fmt.Errorf("address %v: not an IPv4 prefix: %w", p, ErrACL)
		}
	}
	ports := r.Protocol == protoTCP || r.Protocol == protoUDP
	for _, m := range []PortMatch{r.SrcPort, r.DstPort} {
		if m.Op != PortAny && !ports {
			return fmt.Errorf("port condition %q on a %s rule: only tcp and udp have ports: %w", m, protoName(r.Protocol), ErrACL)
		}
		if m.Op > PortRange || m.Op == PortRange && m.Lo > m.Hi {
			return fmt.Errorf("port condition %q: %w", m, ErrACL)
		}
	}
	if r.Established && r.Protocol != protoTCP {
		return fmt.Errorf("established on a %s rule: only for tcp: %w", protoName(r.Protocol), ErrACL)
	}
	if r.ICMPType >= 0 && r.Protocol != protoICMP || r.ICMPType > 255 || r.ICMPCode > 255 ||
		r.ICMPCode >= 0 && r.ICMPType < 0 {
		return fmt.Errorf("ICMP type %d code %d: %w", r.ICMPType, r.ICMPCode, ErrACL)
	}
	return nil
}

type tokens struct {
	f []string
	i int
}

func (t *tokens) more() bool { return t.i < len(t.f) }

func (t *tokens) next() string {
	if t.i >= len(t.f) {
		return ""
	}
	t.i++
	return t.f[t.i-1]
}

func (t *tokens) peek() string {
	if t.i >= len(t.f) {
		return ""
	}
	return t.f[t.i]
}

// addr reads any | host A | A/LEN | A WILDCARD.
func (t *tokens) addr(what string) (netip.Prefix, error) {
	w := t.next()
	switch strings.ToLower(w) {
	case "":
		return netip.Prefix{}, fmt.Errorf("missing %s address: %w", what, ErrACL)
	case "any":
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0), nil
	case "host":
		a, err := parseV4(t.next())
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%s host: %w", what, err)
		}
		return netip.PrefixFrom(a, 32), nil
	}
	if strings.Contains(w, "/") {
		p, err := netip.ParsePrefix(w)
		if err != nil || !p.Addr().Is4() {
			return netip.Prefix{}, fmt.Errorf("%s %q: not an IPv4 prefix: %w", what, w, ErrACL)
		}
		return p.Masked(), nil
	}
	a, err := parseV4(w)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s: %w (want any, host A, A/LEN or A WILDCARD)", what, err)
	}
	wc, err := parseV4(t.next())
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%s %v: missing wildcard: %w", what, a, err)
	}
	bits, ok := wildcardBits(wc)
	if !ok {
		return netip.Prefix{}, fmt.Errorf("%s %v %v: non-contiguous wildcard masks are not supported: %w", what, a, wc, ErrACL)
	}
	return netip.PrefixFrom(a, bits).Masked(), nil
}

func parseV4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%q: not an IPv4 address: %w", s, ErrACL)
	}
	return a, nil
}

// wildcardBits turns an IOS inverse mask (0.0.0.255) into a prefix length.
func wildcardBits(w netip.Addr) (int, bool) {
	b := w.As4()
	inv := ^(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))
	ones := 0
	for ones < 32 && inv&(1<<(31-ones)) != 0 {
		ones++
	}
	if ones < 32 && inv<<ones != 0 {
		return 0, false
	}
	return ones, true
}

// port reads an optional port condition.
func (t *tokens) port(allowed bool) (PortMatch, error) {
	op := map[string]PortOp{"eq": PortEq, "neq": PortNeq, "lt": PortLt, "gt": PortGt, "range": PortRange}[strings.ToLower(t.peek())]
	if op == PortAny {
		return PortMatch{}, nil
	}
	w := t.next()
	if !allowed {
		return PortMatch{}, fmt.Errorf("%q: port conditions are only for tcp and udp: %w", w, ErrACL)
	}
	lo, err := parsePort(t.next())
	if err != nil {
		return PortMatch{}, fmt.Errorf("%s: %w", w, err)
	}
	m := PortMatch{Op: op, Lo: lo}
	if op == PortRange {
		if m.Hi, err = parsePort(t.next()); err != nil {
			return PortMatch{}, fmt.Errorf("range %d: %w", lo, err)
		}
		if m.Lo > m.Hi {
			return PortMatch{}, fmt.Errorf("range %d %d: the low port is above the high one: %w", m.Lo, m.Hi, ErrACL)
		}
	}
	return m, nil
}

// portNames are the IOS keywords for well-known ports (IANA service names registry).
var portNames = map[string]uint16{
	"ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "tacacs": 49, "domain": 53,
	"bootps": 67, "bootpc": 68, "tftp": 69, "www": 80, "pop3": 110, "ntp": 123, "snmp": 161,
	"bgp": 179, "https": 443, "syslog": 514,
}

func parsePort(w string) (uint16, error) {
	if w == "" {
		return 0, fmt.Errorf("missing port: %w", ErrACL)
	}
	if p, ok := portNames[strings.ToLower(w)]; ok {
		return p, nil
	}
	n, err := strconv.ParseUint(w, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("%q: not a port (0-65535 or a name such as www): %w", w, ErrACL)
	}
	return uint16(n), nil
}

// protoNumbers are the IOS protocol keywords (IANA protocol numbers).
var protoNumbers = map[string]int{
	"ip": AnyProtocol, "icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ahp": 51,
	"ospf": 89, "pim": 103,
}

func parseProto(w string) (int, error) {
	if p, ok := protoNumbers[strings.ToLower(w)]; ok {
		return p, nil
	}
	n, err := strconv.ParseUint(w, 10, 8)
	if err != nil {
		return 0, fmt.Errorf("%q: not a protocol (ip, icmp, tcp, udp, ... or 0-255): %w", w, ErrACL)
	}
	return int(n), nil
}

func protoName(p int) string {
	for n, v := range protoNumbers {
		if v == p {
			return n
		}
	}
	return strconv.Itoa(p)
}

// icmpNames are IOS's ICMP message keywords (RFC 792 types and codes).
var icmpNames = map[string][2]int{
	"echo-reply": {0, -1}, "unreachable": {3, -1}, "packet-too-big": {3, 4}, "source-quench": {4, -1},
	"redirect": {5, -1}, "echo": {8, -1}, "time-exceeded": {11, -1}, "parameter-problem": {12, -1},
	"timestamp-request": {13, -1}, "timestamp-reply": {14, -1},
}

func icmpName(w string) (typ, code int, ok bool) {
	v, ok := icmpNames[w]
	return v[0], v[1], ok
}
