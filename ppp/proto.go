package ppp

// PPP protocol numbers (the Protocol field, RFC 1661 §2; assigned numbers from RFC 1700 and the
// IANA "PPP DLL Protocol Numbers" registry). A valid number has an even high octet and an odd
// low octet (RFC 1661 §2), which is what makes Protocol-Field-Compression unambiguous.
const (
	ProtoPadding  uint16 = 0x0001 // Padding Protocol (RFC 1661 §2)
	ProtoIP       uint16 = 0x0021 // Internet Protocol version 4 (RFC 1332)
	ProtoVJComp   uint16 = 0x002D // Van Jacobson compressed TCP/IP (RFC 1332 §4, RFC 1144)
	ProtoVJUncomp uint16 = 0x002F // Van Jacobson uncompressed TCP/IP (RFC 1332 §4)
	ProtoMP       uint16 = 0x003D // Multilink (RFC 1990)
	ProtoIPv6     uint16 = 0x0057 // IPv6 (RFC 5072)
	ProtoCCPData  uint16 = 0x00FD // compressed datagram (RFC 1962)
	ProtoIPCP     uint16 = 0x8021 // IP Control Protocol (RFC 1332)
	ProtoIPv6CP   uint16 = 0x8057 // IPv6 Control Protocol (RFC 5072)
	ProtoCCP      uint16 = 0x80FD // Compression Control Protocol (RFC 1962)
	ProtoLCP      uint16 = 0xC021 // Link Control Protocol (RFC 1661 §5)
	ProtoPAP      uint16 = 0xC023 // Password Authentication Protocol (RFC 1334 §2)
	ProtoLQR      uint16 = 0xC025 // Link Quality Report (RFC 1989)
	ProtoCBCP     uint16 = 0xC029 // Microsoft Callback Control Protocol (MS-CBCP)
	ProtoCHAP     uint16 = 0xC223 // Challenge Handshake Authentication Protocol (RFC 1994)
	ProtoEAP      uint16 = 0xC227 // Extensible Authentication Protocol (RFC 3748)
)

// ValidProtocol reports whether p is well formed as a PPP protocol number: the least
// significant bit of the high octet is 0 and that of the low octet is 1 (RFC 1661 §2). A frame
// carrying any other value must be treated as an unrecognised protocol (LCP Protocol-Reject).
func ValidProtocol(p uint16) bool {
	return p&0x0100 == 0 && p&0x0001 == 1
}
