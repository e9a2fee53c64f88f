package dataplane

import (
	"encoding/binary"
	"errors"
)

// IPv4 header layout (RFC 791 §3.1) and the transport fields the filters look at.
const (
	ipv4MinHeader = 20     // RFC 791 §3.1: IHL is at least 5 32-bit words
	ipv4MoreFrags = 0x2000 // RFC 791 §3.1: the MF flag in the flags/fragment-offset word
	ipv4OffMask   = 0x1fff // RFC 791 §3.1: fragment offset, in 8-octet units

	protoICMP = 1  // RFC 792
	protoTCP  = 6  // RFC 9293
	protoUDP  = 17 // RFC 768

	tcpFlagRST = 0x04 // RFC 9293 §3.1
	tcpFlagACK = 0x10 // RFC 9293 §3.1
)

// Why a packet is not an IPv4 datagram we can forward.
var (
	errNotIPv4     = errors.New("not an IPv4 datagram")
	errShortHeader = errors.New("IPv4 header truncated")
	errBadLength   = errors.New("IPv4 total length disagrees with the datagram")
)

// packet is what the data plane reads from an IPv4 datagram: the addresses for routing and
// anti-spoofing, and the protocol, fragment position and transport ports for the filters.
type packet struct {
	src, dst uint32
	proto    uint8
	// first: the datagram is unfragmented or the first fragment (offset 0), so its transport
	// header, if any, is at the start of the payload.
	first bool
	// l4: the transport fields below were present (TCP/UDP ports, the TCP flags, the ICMP
	// type and code).
	l4           bool
	sport, dport uint16
	tcpFlags     uint8
	icmpType     uint8
	icmpCode     uint8
	// length is the datagram's total length; it may be shorter than the buffer when the link
	// padded it.
	length int
}

// parseIPv4 reads the header of the IPv4 datagram b. It checks only what forwarding relies
// on (version, header length, total length); the checksum is the kernel's to verify.
func parseIPv4(b []byte) (packet, error) {
	var p packet
	if len(b) < 1 || b[0]>>4 != 4 {
		return p, errNotIPv4
	}
	if len(b) < ipv4MinHeader {
		return p, errShortHeader
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if ihl < ipv4MinHeader || total < ihl || total > len(b) {
		return p, errBadLength
	}
	p.length = total
	frag := binary.BigEndian.Uint16(b[6:8])
	p.first = frag&ipv4OffMask == 0
	p.proto = b[9]
	p.src = binary.BigEndian.Uint32(b[12:16])
	p.dst = binary.BigEndian.Uint32(b[16:20])
	if !p.first {
		return p, nil
	}
	l4 := b[ihl:total]
	switch p.proto {
	case protoTCP:
		if len(l4) >= 14 {
			p.l4 = true
			p.sport = binary.BigEndian.Uint16(l4[0:2])
			p.dport = binary.BigEndian.Uint16(l4[2:4])
			p.tcpFlags = l4[13]
		}
	case protoUDP:
		if len(l4) >= 4 {
			p.l4 = true
			p.sport = binary.BigEndian.Uint16(l4[0:2])
			p.dport = binary.BigEndian.Uint16(l4[2:4])
		}
	case protoICMP:
		if len(l4) >= 2 {
			p.l4 = true
			p.icmpType, p.icmpCode = l4[0], l4[1]
		}
	}
	return p, nil
}

// dstOf is the destination of an IPv4 datagram, for routing what the kernel hands us without
// a full parse.
func dstOf(b []byte) (uint32, bool) {
	if len(b) < ipv4MinHeader || b[0]>>4 != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(b[16:20]), true
}
