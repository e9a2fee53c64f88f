package dataplane

import (
	"fmt"
	"net/netip"
	"testing"
)

func TestTable(t *testing.T) {
	var tab table[string]
	pfx := netip.MustParsePrefix
	addr := func(s string) uint32 { return v4bits(netip.MustParseAddr(s)) }
	for _, e := range []struct {
		p string
		v string
	}{
		{"198.51.100.2/32", "alice"},
		{"198.51.100.3/32", "bob"},
		{"203.0.113.0/24", "alice"},
		{"203.0.113.128/25", "bob"},
		{"10.0.0.0/8", "carol"},
	} {
		if !tab.add(pfx(e.p), e.v) {
			t.Fatalf("add %s refused", e.p)
		}
	}
	if tab.add(pfx("198.51.100.2/32"), "mallory") {
		t.Fatal("a taken /32 was given to another session")
	}
	if tab.add(pfx("203.0.113.7/24"), "mallory") {
		t.Fatal("a taken prefix (with host bits) was given to another session")
	}
	lookups := []struct {
		dst  string
		want string
	}{
		{"198.51.100.2", "alice"},
		{"198.51.100.3", "bob"},
		{"198.51.100.4", ""},
		{"203.0.113.1", "alice"},
		{"203.0.113.129", "bob"}, // longest prefix wins
		{"203.0.113.255", "bob"},
		{"10.200.0.1", "carol"},
		{"11.0.0.1", ""},
	}
	check := func() {
		t.Helper()
		for _, l := range lookups {
			got, ok := tab.lookup(addr(l.dst))
			if ok != (l.want != "") || got != l.want {
				t.Errorf("lookup %s = %q %v, want %q", l.dst, got, ok, l.want)
			}
		}
	}
	check()
	if tab.remove(pfx("203.0.113.128/25"), "alice") {
		t.Fatal("removed another session's prefix")
	}
	if !tab.remove(pfx("203.0.113.128/25"), "bob") {
		t.Fatal("could not remove bob's /25")
	}
	lookups[4].want, lookups[5].want = "alice", "alice"
	check()
	if tab.len() != 4 || len(tab.lens) != 3 {
		t.Errorf("len %d, lens %v; want 4 prefixes of 3 lengths", tab.len(), tab.lens)
	}
	if !tab.remove(pfx("10.0.0.0/8"), "carol") || len(tab.lens) != 2 {
		t.Errorf("lens after the last /8 went: %v", tab.lens)
	}
	if v, ok := tab.get(pfx("203.0.113.0/24")); !ok || v != "alice" {
		t.Errorf("get = %q %v", v, ok)
	}
	if !tab.add(pfx("0.0.0.0/0"), "default") {
		t.Fatal("default route refused")
	}
	if v, _ := tab.lookup(addr("8.8.8.8")); v != "default" {
		t.Errorf("default route lookup = %q", v)
	}
	if v, _ := tab.lookup(addr("198.51.100.3")); v != "bob" {
		t.Errorf("host route under a default = %q", v)
	}
}

// BenchmarkTableLookup: a NAS-sized table (a host route per line, a few Framed-Routes).
func BenchmarkTableLookup(b *testing.B) {
	var tab table[int]
	const lines = 4096
	for i := range lines {
		tab.add(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 32), i)
	}
	for i := range 64 {
		tab.add(netip.MustParsePrefix(fmt.Sprintf("172.16.%d.0/24", i)), i)
	}
	dst := v4bits(netip.MustParseAddr("10.1.7.7"))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := tab.lookup(dst); !ok {
			b.Fatal("miss")
		}
	}
}
