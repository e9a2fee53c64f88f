package ppp

// FCS-16, RFC 1662 §C.2 (the CRC-CCITT polynomial x^16 + x^12 + x^5 + 1, bit-reversed 0x8408,
// as used by HDLC and X.25).
const (
	fcsInit uint16 = 0xFFFF // initial FCS value (RFC 1662 §C.2 PPPINITFCS16)
	fcsGood uint16 = 0xF0B8 // FCS over a frame including its received FCS (RFC 1662 §C.2 PPPGOODFCS16)
	fcsPoly uint16 = 0x8408 // the polynomial, bit-reversed (RFC 1662 §C.2)
)

// fcsTable is the lookup table of RFC 1662 §C.2, generated the way its "fcstab" program does.
var fcsTable = func() (t [256]uint16) {
	for b := range 256 {
		v := uint16(b)
		for range 8 {
			if v&1 != 0 {
				v = v>>1 ^ fcsPoly
			} else {
				v >>= 1
			}
		}
		t[b] = v
	}
	return t
}()

// fcsUpdate runs the FCS over p (RFC 1662 §C.2 pppfcs16).
func fcsUpdate(fcs uint16, p []byte) uint16 {
	for _, c := range p {
		fcs = fcs>>8 ^ fcsTable[byte(fcs)^c]
	}
	return fcs
}

// FCS16 returns the FCS-16 as it goes on the wire for p: complemented, to be sent least
// significant octet first (RFC 1662 §C.2).
func FCS16(p []byte) uint16 {
	return fcsUpdate(fcsInit, p) ^ 0xFFFF
}
