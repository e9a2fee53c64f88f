package dataplane

import (
	"net/netip"
	"slices"
)

// table is the data plane's own routing table: which session a datagram from the kernel goes
// to, by longest-prefix match on its destination. It mirrors the kernel routes the plane
// installed via the TUN (a host route per peer, the Framed-Routes), so the two agree on every
// address the kernel sends us. It is not safe for concurrent use; the Plane locks it.
type table[V comparable] struct {
	byLen [33]map[uint32]V
	lens  []int // prefix lengths in use, longest first
}

func v4bits(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func maskOf(bits int) uint32 {
	if bits <= 0 {
		return 0
	}
	return ^uint32(0) << (32 - bits)
}

// add inserts prefix -> v; it reports false (and changes nothing) when the prefix is taken.
func (t *table[V]) add(p netip.Prefix, v V) bool {
	bits := p.Bits()
	key := v4bits(p.Addr()) & maskOf(bits)
	m := t.byLen[bits]
	if m == nil {
		m = make(map[uint32]V)
		t.byLen[bits] = m
	}
	if _, taken := m[key]; taken {
		return false
	}
	m[key] = v
	if len(m) == 1 {
		t.lens = append(t.lens, bits)
		slices.SortFunc(t.lens, func(a, b int) int { return b - a })
	}
	return true
}

// remove deletes prefix if it maps to v; it reports whether it did.
func (t *table[V]) remove(p netip.Prefix, v V) bool {
	bits := p.Bits()
	key := v4bits(p.Addr()) & maskOf(bits)
	m := t.byLen[bits]
	if cur, ok := m[key]; !ok || cur != v {
		return false
	}
	delete(m, key)
	if len(m) == 0 {
		t.lens = slices.DeleteFunc(t.lens, func(l int) bool { return l == bits })
	}
	return true
}

// lookup returns the value of the longest prefix holding dst.
func (t *table[V]) lookup(dst uint32) (V, bool) {
	for _, bits := range t.lens {
		if v, ok := t.byLen[bits][dst&maskOf(bits)]; ok {
			return v, true
		}
	}
	var zero V
	return zero, false
}

// get returns the value stored for exactly prefix p.
func (t *table[V]) get(p netip.Prefix) (V, bool) {
	v, ok := t.byLen[p.Bits()][v4bits(p.Addr())&maskOf(p.Bits())]
	return v, ok
}

// len is the number of prefixes.
func (t *table[V]) len() int {
	n := 0
	for _, bits := range t.lens {
		n += len(t.byLen[bits])
	}
	return n
}
