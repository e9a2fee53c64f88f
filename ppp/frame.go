package ppp

import "slices"

// RFC 1662 framing octets.
const (
	flagSequence   = 0x7E // Flag Sequence, begins and ends every frame (RFC 1662 §3.1)
	controlEscape  = 0x7D // Control Escape (RFC 1662 §4.2)
	escapeXOR      = 0x20 // the escaped octet is sent XORed with this (RFC 1662 §4.2)
	allStations    = 0xFF // Address field, All-Stations (RFC 1662 §3.1)
	unnumberedInfo = 0x03 // Control field, Unnumbered Information (RFC 1662 §3.1)
)

// Framing sizes.
const (
	// DefaultACCM is the Async-Control-Character-Map in force until LCP negotiates another:
	// every control character 0x00–0x1F is escaped (RFC 1662 §7.1).
	DefaultACCM uint32 = 0xFFFFFFFF
	// DefaultMRU is the Maximum-Receive-Unit before negotiation (RFC 1661 §6.1), and the
	// smallest information field any implementation must accept whatever was negotiated.
	DefaultMRU = 1500
	// minFrame is the shortest frame, FCS included, a receiver accepts (RFC 1662 §4.3:
	// "less than 4 octets when using the 16-bit FCS" are silently discarded).
	minFrame = 4
	// frameOverhead is what a frame may hold besides its information field (before
	// escaping): address and control (2), protocol (2), FCS-16 (2).
	frameOverhead = 6
)

// escapeTable says, for each octet, whether the transmitter escapes it.
type escapeTable [256]bool

// newEscapeTable builds the table for an ACCM: the flag and the escape always, plus the
// control characters whose bit is set (RFC 1662 §4.2, §7.1). Octets 0x80–0x9F (the "ACCM
// equivalents with the 8th bit set" that RFC 1662 §7.1 says a transmitter MAY escape) and DEL
// are not escaped: only the 32-bit map for 0x00–0x1F is standard, and every receiver
// un-escapes whatever it gets.
func newEscapeTable(accm uint32) (t escapeTable) {
	t[flagSequence] = true
	t[controlEscape] = true
	for c := range 32 {
		if accm&(1<<c) != 0 {
			t[c] = true
		}
	}
	return t
}

// defaultEscape is the table for DefaultACCM, used for every LCP frame.
var defaultEscape = newEscapeTable(DefaultACCM)

// Encoder turns PPP packets into RFC 1662 async HDLC-like frames. Its settings are what LCP
// negotiated for the transmit direction. The zero value is not ready: use NewEncoder.
//
// LCP frames ignore the negotiated settings: they always carry the address and control
// fields and an uncompressed protocol (RFC 1661 §6.5, §6.6) and escape with the default ACCM
// (RFC 1662 §7.1), so that a peer can read them whatever state its negotiation is in — a
// renegotiating peer has already gone back to the defaults. Linux's ppp_async does the same
// for LCP codes 1–7; doing it for every LCP code costs a few octets per Echo.
// An Encoder is not safe for concurrent use.
type Encoder struct {
	accm   uint32
	acfc   bool
	pfc    bool
	escape escapeTable
}

// NewEncoder returns an Encoder with the settings of a link before negotiation: default ACCM,
// address and control fields sent, protocol field uncompressed.
func NewEncoder() *Encoder {
	return &Encoder{accm: DefaultACCM, escape: defaultEscape}
}

// SetACCM sets the transmit Async-Control-Character-Map: the peer's receive map, from its
// LCP Async-Control-Character-Map option (RFC 1662 §7.1).
func (e *Encoder) SetACCM(accm uint32) {
	e.accm = accm
	e.escape = newEscapeTable(accm)
}

// ACCM returns the transmit Async-Control-Character-Map.
func (e *Encoder) ACCM() uint32 { return e.accm }

// SetACFC says whether the address and control fields may be omitted: the peer asked for
// Address-and-Control-Field-Compression in its Configure-Request and we acked it (RFC 1661
// §6.6: the option tells the peer that its sender can receive compressed fields).
func (e *Encoder) SetACFC(on bool) { e.acfc = on }

// SetPFC says whether the protocol field may be sent in one octet: the peer asked for
// Protocol-Field-Compression in its Configure-Request and we acked it (RFC 1661 §6.5).
func (e *Encoder) SetPFC(on bool) { e.pfc = on }

// MaxEncodedLen is the most bytes AppendFrame appends for an information field of n octets:
// two flags and every other octet escaped.
func MaxEncodedLen(n int) int {
	return 2 + 2*(frameOverhead+n)
}

// AppendFrame appends to dst one frame carrying info under protocol proto, from opening flag
// to closing flag, and returns the extended buffer. It allocates only when dst lacks room
// (MaxEncodedLen tells how much to reserve).
//
// proto should be a valid protocol number (ValidProtocol); Protocol-Field-Compression is
// applied only to numbers that can be sent in one octet unambiguously.
func (e *Encoder) AppendFrame(dst []byte, proto uint16, info []byte) []byte {
	esc, acfc, pfc := &e.escape, e.acfc, e.pfc
	if proto == ProtoLCP {
		esc, acfc, pfc = &defaultEscape, false, false
	}
	var hdr [4]byte
	h := hdr[:0]
	// A one-octet protocol needs an odd value below 0x100 (RFC 1661 §6.5). With ACFC too and
	// no information the frame would be 3 octets, which every receiver drops as too short,
	// so such a frame keeps its two-octet protocol.
	compress := pfc && proto <= 0xFF && proto&1 == 1 && (len(info) > 0 || !acfc)
	first := byte(proto >> 8)
	if compress {
		first = byte(proto)
	}
	// A receiver reads a leading 0xFF as the address field, so a frame whose protocol field
	// would start with 0xFF keeps its address and control fields.
	if !acfc || first == allStations {
		h = append(h, allStations, unnumberedInfo)
	}
	if compress {
		h = append(h, byte(proto))
	} else {
		h = append(h, byte(proto>>8), byte(proto))
	}
	fcs := fcsUpdate(fcsUpdate(fcsInit, h), info) ^ 0xFFFF
	trailer := [2]byte{byte(fcs), byte(fcs >> 8)} // least significant octet first (RFC 1662 §C.2)

	dst = slices.Grow(dst, MaxEncodedLen(len(info)))
	dst = append(dst, flagSequence)
	dst = appendEscaped(dst, h, esc)
	dst = appendEscaped(dst, info, esc)
	dst = appendEscaped(dst, trailer[:], esc)
	return append(dst, flagSequence)
}

// appendEscaped appends p with every octet flagged in esc sent as Control Escape followed by
// the octet XOR 0x20 (RFC 1662 §4.2). Runs of plain octets are copied in one append.
func appendEscaped(dst, p []byte, esc *escapeTable) []byte {
	start := 0
	for i, c := range p {
		if esc[c] {
			dst = append(dst, p[start:i]...)
			dst = append(dst, controlEscape, c^escapeXOR)
			start = i + 1
		}
	}
	return append(dst, p[start:]...)
}

// Frame is one received PPP frame, address, control and FCS removed.
type Frame struct {
	Protocol uint16
	// Info is the information field. It points into the Decoder's buffer and is valid only
	// until the next call of Next or Feed (copy it to keep it).
	Info []byte
}

// DecoderStats counts what a Decoder saw. Every kind of bad frame is dropped and counted;
// none stops the decoder.
type DecoderStats struct {
	Frames    uint64 // good frames delivered
	BadFCS    uint64 // frames whose FCS did not check
	Runts     uint64 // frames shorter than 4 octets, FCS included (RFC 1662 §4.3)
	Oversize  uint64 // frames longer than the MRU allows
	Aborts    uint64 // frames ended by Control Escape + Flag (RFC 1662 §4.2)
	BadHeader uint64 // frames with a good FCS but a wrong address/control field or no protocol
	Discarded uint64 // octets outside any frame: before the first flag (modem text, line noise)
}

// Decoder reassembles frames from a byte stream in chunks of any size (RFC 1662 §4).
//
// It hunts for the first Flag Sequence and discards what comes before it (a modem's
// "CONNECT 33600" line, noise); after that every flag ends a frame and starts the next, so
// back-to-back flags and a single flag shared by two frames both work. Frames are
// accepted with or without the address and control fields and with one- or two-octet
// protocol fields whatever was negotiated (a receiver must accept both, RFC 1661 §6.5, §6.6).
//
// Receive ACCM: a control character (0x00–0x1F) flagged in the receive map is dropped
// wherever it appears, before un-escaping (RFC 1662 §4.2: it "may have been inserted by
// intervening data communications equipment", e.g. XON/XOFF from a modem doing software flow
// control). Unflagged control characters are frame data, and escaped ones are always data.
// So the decoder accepts escaped and raw control characters alike, except raw ones the
// peer promised to escape.
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	accm     uint32
	limit    int // longest frame accepted, unescaped, FCS included
	buf      []byte
	synced   bool // a flag has been seen
	escaped  bool // the previous octet was a Control Escape
	overflow bool // the current frame outgrew limit
	stats    DecoderStats
}

// NewDecoder returns a Decoder with the default receive ACCM that accepts information fields
// up to mru octets (and never fewer than DefaultMRU: an implementation must accept 1500
// whatever it negotiated, RFC 1661 §6.1).
func NewDecoder(mru int) *Decoder {
	d := &Decoder{accm: DefaultACCM}
	d.SetMRU(mru)
	return d
}

// SetACCM sets the receive Async-Control-Character-Map: the one we asked the peer to use.
func (d *Decoder) SetACCM(accm uint32) { d.accm = accm }

// SetMRU sets the longest information field accepted (at least DefaultMRU). A frame in
// progress is kept if it still fits, and counted as oversize if not.
func (d *Decoder) SetMRU(mru int) {
	d.limit = max(mru, DefaultMRU) + frameOverhead
	if len(d.buf) > d.limit {
		d.buf = d.buf[:d.limit]
		d.overflow = true
	}
	d.buf = slices.Grow(d.buf, d.limit-len(d.buf))
}

// Stats returns the counters.
func (d *Decoder) Stats() DecoderStats { return d.stats }

// Reset drops any partial frame and goes back to hunting for a flag, as after a new carrier.
func (d *Decoder) Reset() {
	d.buf = d.buf[:0]
	d.synced, d.escaped, d.overflow = false, false, false
}

// Feed decodes p and calls emit for each good frame in it. A frame may span several calls.
// Frame.Info is valid only during the call of emit.
func (d *Decoder) Feed(p []byte, emit func(Frame)) {
	for len(p) > 0 {
		f, n, ok := d.Next(p)
		p = p[n:]
		if ok {
			emit(f)
		}
	}
}

// Next decodes p up to and including the flag that ends the first good frame, and returns
// that frame, how many octets of p it consumed, and true. With no good frame ending in p it
// consumes all of p and returns false; the partial frame is kept for the next call.
func (d *Decoder) Next(p []byte) (Frame, int, bool) {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == flagSequence {
			if f, ok := d.endFrame(); ok {
				return f, i + 1, true
			}
			continue
		}
		if !d.synced {
			d.stats.Discarded++
			continue
		}
		if c < 0x20 && d.accm&(1<<c) != 0 {
			continue // inserted by the modem or the line; never part of the frame
		}
		if d.escaped {
			c ^= escapeXOR
			d.escaped = false
		} else if c == controlEscape {
			d.escaped = true
			continue
		}
		if len(d.buf) >= d.limit {
			d.overflow = true
			continue
		}
		d.buf = append(d.buf, c)
		// Fast path: copy the run of octets that need no attention.
		j := i + 1
		for j < len(p) && len(d.buf) < d.limit {
			c = p[j]
			if c == flagSequence || c == controlEscape || c < 0x20 {
				break
			}
			d.buf = append(d.buf, c)
			j++
		}
		i = j - 1
	}
	return Frame{}, len(p), false
}

// endFrame handles a flag: it checks and strips the frame collected so far and starts the next.
func (d *Decoder) endFrame() (Frame, bool) {
	b := d.buf
	escaped, overflow, synced := d.escaped, d.overflow, d.synced
	d.buf = d.buf[:0]
	d.escaped, d.overflow, d.synced = false, false, true
	switch {
	case !synced:
		return Frame{}, false
	case escaped:
		d.stats.Aborts++
		return Frame{}, false
	case overflow:
		d.stats.Oversize++
		return Frame{}, false
	case len(b) == 0:
		return Frame{}, false // two flags in a row: an empty frame, silently discarded (RFC 1662 §3.1)
	case len(b) < minFrame:
		d.stats.Runts++
		return Frame{}, false
	case fcsUpdate(fcsInit, b) != fcsGood:
		d.stats.BadFCS++
		return Frame{}, false
	}
	b = b[:len(b)-2]
	if b[0] == allStations {
		if b[1] != unnumberedInfo {
			d.stats.BadHeader++ // RFC 1662 §3.1: unrecognised control field, discard
			return Frame{}, false
		}
		b = b[2:]
	}
	var proto uint16
	switch {
	case len(b) >= 1 && b[0]&1 == 1: // compressed: the high octet (0x00) was omitted (RFC 1661 §6.5)
		proto, b = uint16(b[0]), b[1:]
	case len(b) >= 2:
		proto, b = uint16(b[0])<<8|uint16(b[1]), b[2:]
	default:
		d.stats.BadHeader++
		return Frame{}, false
	}
	d.stats.Frames++
	return Frame{Protocol: proto, Info: b}, true
}
