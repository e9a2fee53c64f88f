package dataplane

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

// Builders of test datagrams with valid checksums, so the same packets serve the kernel.

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

type ipOpts struct {
	fragOff uint16 // in 8-octet units
	more    bool
	ttl     uint8
}

func ipv4(src, dst string, proto uint8, payload []byte, o ...ipOpts) []byte {
	var opt ipOpts
	if len(o) > 0 {
		opt = o[0]
	}
	if opt.ttl == 0 {
		opt.ttl = 64
	}
	b := make([]byte, 20+len(payload))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[4:], 0x1234)
	frag := opt.fragOff & ipv4OffMask
	if opt.more {
		frag |= ipv4MoreFrags
	}
	binary.BigEndian.PutUint16(b[6:], frag)
	b[8] = opt.ttl
	b[9] = proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	binary.BigEndian.PutUint16(b[10:], checksum(b[:20]))
	copy(b[20:], payload)
	return b
}

// udp is a UDP header and data; checksum 0 means none (RFC 768), which IPv4 allows.
func udp(sport, dport uint16, data []byte) []byte {
	b := make([]byte, 8+len(data))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	copy(b[8:], data)
	return b
}

func tcp(sport, dport uint16, flags uint8) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	b[12] = 5 << 4
	b[13] = flags
	return b
}

func icmp(typ, code uint8, data []byte) []byte {
	b := make([]byte, 8+len(data))
	b[0], b[1] = typ, code
	copy(b[8:], data)
	binary.BigEndian.PutUint16(b[2:], checksum(b))
	return b
}

func TestParseIPv4(t *testing.T) {
	udpPkt := ipv4("10.0.0.1", "10.0.0.2", protoUDP, udp(1234, 53, []byte("q")))
	padded := append(append([]byte(nil), udpPkt...), 0, 0, 0)
	longHdr := ipv4("10.0.0.1", "10.0.0.2", protoUDP, append(make([]byte, 4), udp(1, 2, nil)...))
	longHdr[0] = 0x46 // 24-octet header: the 4 zero octets are options
	truncated := append([]byte(nil), udpPkt...)
	binary.BigEndian.PutUint16(truncated[2:], uint16(len(udpPkt)+1))
	tests := []struct {
		name string
		b    []byte
		err  error
		want packet
	}{
		{"udp", udpPkt, nil, packet{src: 0x0a000001, dst: 0x0a000002, proto: protoUDP, first: true, l4: true, sport: 1234, dport: 53, length: len(udpPkt)}},
		{"padding after the datagram", padded, nil, packet{src: 0x0a000001, dst: 0x0a000002, proto: protoUDP, first: true, l4: true, sport: 1234, dport: 53, length: len(udpPkt)}},
		{"options", longHdr, nil, packet{src: 0x0a000001, dst: 0x0a000002, proto: protoUDP, first: true, l4: true, sport: 1, dport: 2, length: len(longHdr)}},
		{"tcp flags", ipv4("1.2.3.4", "5.6.7.8", protoTCP, tcp(80, 1025, tcpFlagACK)), nil,
			packet{src: 0x01020304, dst: 0x05060708, proto: protoTCP, first: true, l4: true, sport: 80, dport: 1025, tcpFlags: tcpFlagACK, length: 40}},
		{"icmp", ipv4("1.2.3.4", "5.6.7.8", protoICMP, icmp(3, 4, nil)), nil,
			packet{src: 0x01020304, dst: 0x05060708, proto: protoICMP, first: true, l4: true, icmpType: 3, icmpCode: 4, length: 28}},
		{"first fragment", ipv4("1.2.3.4", "5.6.7.8", protoUDP, udp(7, 9, nil), ipOpts{more: true}), nil,
			packet{src: 0x01020304, dst: 0x05060708, proto: protoUDP, first: true, l4: true, sport: 7, dport: 9, length: 28}},
		{"later fragment has no ports", ipv4("1.2.3.4", "5.6.7.8", protoUDP, udp(7, 9, nil), ipOpts{fragOff: 3}), nil,
			packet{src: 0x01020304, dst: 0x05060708, proto: protoUDP, length: 28}},
		{"short tcp header", ipv4("1.2.3.4", "5.6.7.8", protoTCP, []byte{0, 80}), nil,
			packet{src: 0x01020304, dst: 0x05060708, proto: protoTCP, first: true, length: 22}},
		{"empty", nil, errNotIPv4, packet{}},
		{"ipv6", []byte{0x60, 0, 0, 0}, errNotIPv4, packet{}},
		{"short header", udpPkt[:19], errShortHeader, packet{}},
		{"total length beyond the buffer", truncated, errBadLength, packet{}},
		{"IHL below 5", append([]byte{0x44}, udpPkt[1:]...), errBadLength, packet{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseIPv4(tt.b)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if err == nil && got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// FuzzPacket: any bytes parse or fail cleanly, and what parses is consistent with the bytes.
func FuzzPacket(f *testing.F) {
	f.Add(ipv4("10.0.0.1", "10.0.0.2", protoUDP, udp(1234, 53, []byte("q"))))
	f.Add(ipv4("10.0.0.1", "10.0.0.2", protoTCP, tcp(1, 2, 0x12)))
	f.Add(ipv4("10.0.0.1", "10.0.0.2", protoICMP, icmp(8, 0, []byte("ping"))))
	f.Add(ipv4("10.0.0.1", "10.0.0.2", protoUDP, udp(7, 9, nil), ipOpts{fragOff: 1}))
	f.Add([]byte{0x4f})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseIPv4(b)
		dst, ok := dstOf(b)
		if err != nil {
			return
		}
		if !ok || dst != p.dst {
			t.Fatalf("dstOf = %#x %v, parse = %#x", dst, ok, p.dst)
		}
		if p.length < ipv4MinHeader || p.length > len(b) {
			t.Fatalf("length %d outside [20, %d]", p.length, len(b))
		}
		if p.l4 && !p.first {
			t.Fatal("transport fields of a non-initial fragment")
		}
	})
}
