package dataplane

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestParseRule(t *testing.T) {
	tests := []struct {
		in   string
		want string // canonical form; "" = same as in
	}{
		{"permit ip any any", ""},
		{"deny tcp any host 192.0.2.1 eq 23", ""},
		{"PERMIT TCP ANY HOST 192.0.2.1 EQ www", "permit tcp any host 192.0.2.1 eq 80"},
		{"permit tcp 10.1.2.3/24 range 1024 65535 any", "permit tcp 10.1.2.0/24 range 1024 65535 any"},
		{"permit udp 10.0.0.0 0.0.255.255 any eq domain", "permit udp 10.0.0.0/16 any eq 53"},
		{"permit ip 10.0.0.5 0.0.0.0 any", "permit ip host 10.0.0.5 any"},
		{"permit ip 0.0.0.0 255.255.255.255 any", "permit ip any any"},
		{"permit tcp any any gt 1023 established", ""},
		{"deny udp any lt 1024 any neq 53", ""},
		{"permit icmp any any echo", "permit icmp any any 8"},
		{"permit icmp any any packet-too-big", "permit icmp any any 3 4"},
		{"permit icmp any any 3 1", ""},
		{"permit icmp any any 11", ""},
		{"permit 47 any any", "permit gre any any"},
		{"permit 200 any any", ""},
		{"deny ospf any any", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := ParseRule(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.want
			if want == "" {
				want = tt.in
			}
			if got := r.String(); got != want {
				t.Errorf("String() = %q, want %q", got, want)
			}
			again, err := ParseRule(r.String())
			if err != nil || again != r {
				t.Errorf("round trip: %+v, %v; want %+v", again, err, r)
			}
		})
	}
}

func TestParseRuleErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty rule"},
		{"allow ip any any", `"allow": a rule starts with permit`},
		{"permit", "missing protocol"},
		{"permit foo any any", `"foo": not a protocol`},
		{"permit 256 any any", `"256": not a protocol`},
		{"permit ip", "missing source address"},
		{"permit ip any", "missing destination address"},
		{"permit ip host", `source host: "": not an IPv4 address`},
		{"permit ip 10.0.0.0 any", "missing wildcard"},
		{"permit ip 10.0.0.0 0.255.0.255 any", "non-contiguous wildcard"},
		{"permit ip 2001:db8::/32 any", "not an IPv4 prefix"},
		{"permit ip 10.0.0.0/33 any", "not an IPv4 prefix"},
		{"permit ip any any eq 80", "only for tcp and udp"},
		{"permit icmp any eq 1 any", "only for tcp and udp"},
		{"permit tcp any any eq", "missing port"},
		{"permit tcp any any eq 65536", `"65536": not a port`},
		{"permit tcp any any eq gopher", `"gopher": not a port`},
		{"permit tcp any any range 90 80", "low port is above the high one"},
		{"permit tcp any any range 90", "missing port"},
		{"permit udp any any established", "only for tcp rules"},
		{"permit tcp any any established established", "given twice"},
		{"permit icmp any any echo 3", `"3": unexpected word`},
		{"permit icmp any any ping", "not an ICMP type"},
		{"permit icmp any any 256", "not an ICMP type"},
		{"permit ip any any log", `"log": unexpected word`},
		{"permit tcp any any 80", `"80": unexpected word`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseRule(tt.in)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrACL) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not wrap ErrACL or lacks %q", err, tt.want)
			}
		})
	}
}

func TestParseACL(t *testing.T) {
	a, err := ParseACL("web-only", []string{
		"remark callers may browse and resolve names",
		"permit tcp any any eq www",
		"",
		"  permit udp any any eq domain  ",
		"deny ip any any",
	})
	if err != nil {
		t.Fatal(err)
	}
	if a.Name() != "web-only" || len(a.Rules()) != 3 {
		t.Fatalf("%s: %d rules, want 3", a.Name(), len(a.Rules()))
	}
	_, err = ParseACL("x", []string{"permit ip any any", "permit tcp any any eq 99999"})
	if err == nil || !strings.Contains(err.Error(), "access list x line 2") {
		t.Errorf("error %v does not name the list and line", err)
	}
	for _, name := range []string{"", "a.b", "has space", strings.Repeat("n", MaxACLName+1)} {
		if _, err := ParseACL(name, nil); !errors.Is(err, ErrACL) {
			t.Errorf("name %q: err = %v, want ErrACL", name, err)
		}
	}
	lists, err := ParseAccessLists(map[string][]string{"ok": {"permit ip any any"}, "bad1": {"x"}, "bad2": {"permit"}})
	if err == nil || lists != nil || !strings.Contains(err.Error(), "bad1") || !strings.Contains(err.Error(), "bad2") {
		t.Errorf("ParseAccessLists = %v, %v: want both bad lists named", lists, err)
	}
	lists, err = ParseAccessLists(map[string][]string{"101": {"deny ip any any"}, "web": {"permit tcp any any eq 80"}})
	if err != nil || len(lists) != 2 || lists["101"].Name() != "101" {
		t.Errorf("ParseAccessLists = %v, %v", lists, err)
	}
}

func TestNewACLChecks(t *testing.T) {
	any4 := netip.MustParsePrefix("0.0.0.0/0")
	good := Rule{Action: Permit, Protocol: protoTCP, Src: any4, Dst: any4, DstPort: PortMatch{Op: PortEq, Lo: 80}, ICMPType: -1, ICMPCode: -1}
	if _, err := NewACL("ok", []Rule{good}); err != nil {
		t.Fatal(err)
	}
	bad := []Rule{
		{Action: Permit, Protocol: protoUDP, Src: any4, Dst: any4, ICMPType: 8, ICMPCode: -1},
		{Action: Permit, Protocol: AnyProtocol, Src: any4, Dst: any4, DstPort: PortMatch{Op: PortEq, Lo: 1}, ICMPType: -1, ICMPCode: -1},
		{Action: Permit, Protocol: protoTCP, Src: netip.Prefix{}, Dst: any4, ICMPType: -1, ICMPCode: -1},
		{Action: 7, Protocol: protoTCP, Src: any4, Dst: any4, ICMPType: -1, ICMPCode: -1},
		{Action: Permit, Protocol: 300, Src: any4, Dst: any4, ICMPType: -1, ICMPCode: -1},
		{}, // the zero rule: protocol 0 with ICMP type 0 is contradictory
	}
	for i, r := range bad {
		if _, err := NewACL("bad", []Rule{r}); !errors.Is(err, ErrACL) {
			t.Errorf("rule %d: err = %v, want ErrACL", i, err)
		}
	}
}

func TestACLMatch(t *testing.T) {
	const (
		caller = "198.51.100.2"
		server = "192.0.2.10"
	)
	a, err := ParseACL("t", []string{
		"deny tcp any any eq telnet",                  // 0
		"permit tcp any host 192.0.2.10 range 80 443", // 1
		"permit tcp any eq 25 any established",        // 2
		"deny udp any any eq 9",                       // 3
		"permit udp 198.51.100.0/24 any",              // 4
		"permit icmp any any echo",                    // 5
		"permit icmp any any 3 4",                     // 6
		"permit gre any any",                          // 7
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		pkt    []byte
		permit bool
		rule   int
	}{
		{"telnet denied", ipv4(caller, server, protoTCP, tcp(40000, 23, 0x02)), false, 0},
		{"http permitted", ipv4(caller, server, protoTCP, tcp(40000, 80, 0x02)), true, 1},
		{"https permitted (range top)", ipv4(caller, server, protoTCP, tcp(40000, 443, 0x02)), true, 1},
		{"range excludes 444", ipv4(caller, server, protoTCP, tcp(40000, 444, 0x02)), false, -1},
		{"range is for one host", ipv4(caller, "192.0.2.11", protoTCP, tcp(40000, 80, 0x02)), false, -1},
		{"smtp reply established", ipv4(server, caller, protoTCP, tcp(25, 40000, tcpFlagACK)), true, 2},
		{"smtp rst established", ipv4(server, caller, protoTCP, tcp(25, 40000, tcpFlagRST)), true, 2},
		{"smtp syn not established", ipv4(server, caller, protoTCP, tcp(25, 40000, 0x02)), false, -1},
		{"discard denied", ipv4(caller, server, protoUDP, udp(5000, 9, nil)), false, 3},
		{"udp from the caller's net", ipv4(caller, server, protoUDP, udp(5000, 53, nil)), true, 4},
		{"udp from elsewhere", ipv4("203.0.113.1", server, protoUDP, udp(5000, 53, nil)), false, -1},
		{"echo", ipv4(caller, server, protoICMP, icmp(8, 0, nil)), true, 5},
		{"echo reply not listed", ipv4(caller, server, protoICMP, icmp(0, 0, nil)), false, -1},
		{"frag needed", ipv4(server, caller, protoICMP, icmp(3, 4, nil)), true, 6},
		{"port unreachable is another code", ipv4(server, caller, protoICMP, icmp(3, 3, nil)), false, -1},
		{"gre", ipv4(caller, server, 47, []byte{0, 0, 8, 0}), true, 7},
		{"esp falls to the implicit deny", ipv4(caller, server, 50, []byte{1, 2, 3, 4}), false, -1},
		// IOS fragment rules: a later fragment carries no ports.
		{"later fragment skips the port deny and meets the port permit", ipv4(caller, server, protoTCP, make([]byte, 8), ipOpts{fragOff: 10}), true, 1},
		{"later udp fragment to port-9 flow passes the deny", ipv4(caller, server, protoUDP, make([]byte, 8), ipOpts{fragOff: 10}), true, 4},
		{"first fragment is matched on its ports", ipv4(caller, server, protoUDP, udp(5000, 9, nil), ipOpts{more: true}), false, 3},
		{"tcp too short for its ports matches no port rule", ipv4(caller, server, protoTCP, []byte{0, 1, 0, 23}), false, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			permit, rule := a.Permits(tt.pkt)
			if permit != tt.permit || rule != tt.rule {
				t.Errorf("Permits = %v, rule %d; want %v, rule %d", permit, rule, tt.permit, tt.rule)
			}
		})
	}
	hits, implicit := a.Hits()
	var sum uint64
	for _, h := range hits {
		sum += h.Hits
	}
	if sum+implicit != uint64(len(tests)) {
		t.Errorf("hits %d + implicit %d, want %d packets counted", sum, implicit, len(tests))
	}
	if hits[1].Hits != 3 || implicit != 8 {
		t.Errorf("rule 1 hits %d (want 3), implicit %d (want 8)", hits[1].Hits, implicit)
	}
	if ok, rule := a.Permits([]byte{0x60}); ok || rule != -1 {
		t.Errorf("IPv6 datagram: %v, %d", ok, rule)
	}
	s := a.String()
	for _, want := range []string{"Extended IP access list t", "20 permit tcp any host 192.0.2.10 range 80 443 (3 matches)", "(implicit deny: 8 matches)"} {
		if !strings.Contains(s, want) {
			t.Errorf("String() lacks %q:\n%s", want, s)
		}
	}
}

func TestParseFilterID(t *testing.T) {
	tests := []struct {
		in   string
		def  Direction
		want FilterSpec
		err  string
	}{
		{"", Out, FilterSpec{}, ""},
		{"web", Out, FilterSpec{Out: "web"}, ""},
		{"web", In, FilterSpec{In: "web"}, ""},
		{"web.in", Out, FilterSpec{In: "web"}, ""},
		{"101.OUT", In, FilterSpec{Out: "101"}, ""},
		{"a.in b.out", Out, FilterSpec{In: "a", Out: "b"}, ""},
		{"a.in,b", Out, FilterSpec{In: "a", Out: "b"}, ""},
		{"a.in b.in", Out, FilterSpec{}, "two access lists for direction in"},
		{"a b", Out, FilterSpec{}, "two access lists for direction out"},
		{"a.up", Out, FilterSpec{}, "want NAME, NAME.in or NAME.out"},
		{".in", Out, FilterSpec{}, "want 1 to"},
		{"bad!name", Out, FilterSpec{}, "only letters"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseFilterID(tt.in, tt.def)
			if tt.err != "" {
				if err == nil || !errors.Is(err, ErrFilterID) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want ErrFilterID with %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("= %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
	_, _, err := FilterSpec{In: "nope"}.resolve(map[string]*ACL{})
	if !errors.Is(err, ErrUnknownFilter) {
		t.Errorf("resolve unknown: %v", err)
	}
}

// FuzzACL: a rule either fails to parse with ErrACL or parses to a rule whose canonical text
// parses back to the same rule, and matching any bytes against it does not panic and agrees
// with the same rule in a list.
func FuzzACL(f *testing.F) {
	for _, s := range []string{
		"permit ip any any", "deny tcp any host 192.0.2.1 eq 23", "permit tcp 10.0.0.0 0.0.0.255 range 1 2 any established",
		"permit icmp any any echo", "permit icmp any any 3 4", "deny udp any lt 1024 any neq 53", "permit 47 any any",
	} {
		f.Add(s, ipv4("10.0.0.1", "192.0.2.1", protoTCP, tcp(1000, 23, 0x10)))
	}
	f.Add("permit udp any any eq 9", ipv4("10.0.0.1", "192.0.2.1", protoUDP, udp(1, 9, nil), ipOpts{fragOff: 2}))
	f.Fuzz(func(t *testing.T, line string, pkt []byte) {
		r, err := ParseRule(line)
		if err != nil {
			if !errors.Is(err, ErrACL) {
				t.Fatalf("error %v does not wrap ErrACL", err)
			}
			return
		}
		again, err := ParseRule(r.String())
		if err != nil || again != r {
			t.Fatalf("%q -> %q -> %+v, %v; want %+v", line, r.String(), again, err, r)
		}
		a, err := NewACL("f", []Rule{r})
		if err != nil {
			t.Fatalf("NewACL rejects a parsed rule %q: %v", r, err)
		}
		permit, idx := a.Permits(pkt)
		if idx == 0 && permit != (r.Action == Permit) {
			t.Fatalf("rule %q matched but verdict %v", r, permit)
		}
		if idx == -1 && permit {
			t.Fatal("implicit deny permitted")
		}
	})
}
