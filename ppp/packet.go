package ppp

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Code is the Code field of a control packet (RFC 1661 §5).
type Code uint8

// Control packet codes. 1–7 are common to LCP and every NCP; 8–11 are LCP's own (RFC 1661
// §5.7–§5.9); 12–13 are LCP extensions (RFC 1570 §2).
const (
	CodeConfigureRequest Code = 1  // RFC 1661 §5.1
	CodeConfigureAck     Code = 2  // RFC 1661 §5.2
	CodeConfigureNak     Code = 3  // RFC 1661 §5.3
	CodeConfigureReject  Code = 4  // RFC 1661 §5.4
	CodeTerminateRequest Code = 5  // RFC 1661 §5.5
	CodeTerminateAck     Code = 6  // RFC 1661 §5.5
	CodeCodeReject       Code = 7  // RFC 1661 §5.6
	CodeProtocolReject   Code = 8  // RFC 1661 §5.7 (LCP only)
	CodeEchoRequest      Code = 9  // RFC 1661 §5.8 (LCP only)
	CodeEchoReply        Code = 10 // RFC 1661 §5.8 (LCP only)
	CodeDiscardRequest   Code = 11 // RFC 1661 §5.9 (LCP only)
	CodeIdentification   Code = 12 // RFC 1570 §2.1 (LCP only)
	CodeTimeRemaining    Code = 13 // RFC 1570 §2.2 (LCP only)
)

var codeNames = [...]string{
	CodeConfigureRequest: "Configure-Request",
	CodeConfigureAck:     "Configure-Ack",
	CodeConfigureNak:     "Configure-Nak",
	CodeConfigureReject:  "Configure-Reject",
	CodeTerminateRequest: "Terminate-Request",
	CodeTerminateAck:     "Terminate-Ack",
	CodeCodeReject:       "Code-Reject",
	CodeProtocolReject:   "Protocol-Reject",
	CodeEchoRequest:      "Echo-Request",
	CodeEchoReply:        "Echo-Reply",
	CodeDiscardRequest:   "Discard-Request",
	CodeIdentification:   "Identification",
	CodeTimeRemaining:    "Time-Remaining",
}

func (c Code) String() string {
	if int(c) < len(codeNames) && codeNames[c] != "" {
		return codeNames[c]
	}
	return fmt.Sprintf("Code(%d)", uint8(c))
}

// headerLen is the size of Code, Identifier and Length (RFC 1661 §5).
const headerLen = 4

// Errors from the parsers; the returned errors wrap them.
var (
	ErrShortPacket = errors.New("control packet shorter than its header")
	ErrPacketLen   = errors.New("control packet length field out of range")
	ErrOptionLen   = errors.New("configuration option length out of range")
)

// Packet is a control packet: Code, Identifier and the Data after the Length field.
type Packet struct {
	Code Code
	ID   uint8
	Data []byte
}

// ParsePacket parses a control packet (RFC 1661 §5). The Length field must be at least 4 and
// at most len(b); octets beyond it are padding and ignored. Data points into b.
func ParsePacket(b []byte) (Packet, error) {
	if len(b) < headerLen {
		return Packet{}, fmt.Errorf("parse control packet of %d octets: %w", len(b), ErrShortPacket)
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < headerLen || n > len(b) {
		return Packet{}, fmt.Errorf("parse control packet: length %d in %d octets: %w", n, len(b), ErrPacketLen)
	}
	return Packet{Code: Code(b[0]), ID: b[1], Data: b[headerLen:n]}, nil
}

// Len is the packet's length on the wire, header included.
func (p Packet) Len() int { return headerLen + len(p.Data) }

// Append appends the packet to dst. Data longer than 65531 octets cannot be carried and is
// the caller's bug; it is truncated rather than corrupting the Length field.
func (p Packet) Append(dst []byte) []byte {
	data := p.Data
	if len(data) > 0xFFFF-headerLen {
		data = data[:0xFFFF-headerLen]
	}
	dst = append(dst, byte(p.Code), p.ID, 0, 0)
	binary.BigEndian.PutUint16(dst[len(dst)-2:], uint16(headerLen+len(data)))
	return append(dst, data...)
}

// Option is one Configuration Option: Type, and the Data after the Length octet (RFC 1661 §6).
type Option struct {
	Type uint8
	Data []byte
}

// Len is the option's length on the wire (Type and Length octets included).
func (o Option) Len() int { return 2 + len(o.Data) }

// Append appends the option to dst. Data longer than 253 octets cannot be carried and is
// truncated.
func (o Option) Append(dst []byte) []byte {
	data := o.Data
	if len(data) > 0xFF-2 {
		data = data[:0xFF-2]
	}
	dst = append(dst, o.Type, byte(2+len(data)))
	return append(dst, data...)
}

// Equal reports whether two options are the same type with the same data.
func (o Option) Equal(p Option) bool {
	return o.Type == p.Type && string(o.Data) == string(p.Data)
}

// ParseOptions parses the Configuration Options of a Configure packet (RFC 1661 §6: Type,
// Length >= 2 covering Type and Length, Data) and appends them to dst, reusing its storage.
// Each option's Data points into b. It fails if an option's length is below 2 or runs past
// the end of b; what was parsed before the bad option is returned with the error.
func ParseOptions(dst []Option, b []byte) ([]Option, error) {
	for off := 0; off < len(b); {
		if len(b)-off < 2 {
			return dst, fmt.Errorf("parse option at offset %d: %d octet(s) left: %w", off, len(b)-off, ErrOptionLen)
		}
		n := int(b[off+1])
		if n < 2 || off+n > len(b) {
			return dst, fmt.Errorf("parse option type %d at offset %d: length %d with %d octets left: %w",
				b[off], off, n, len(b)-off, ErrOptionLen)
		}
		dst = append(dst, Option{Type: b[off], Data: b[off+2 : off+n]})
		off += n
	}
	return dst, nil
}

// AppendOptions appends options to dst in order.
func AppendOptions(dst []byte, opts []Option) []byte {
	for _, o := range opts {
		dst = o.Append(dst)
	}
	return dst
}
