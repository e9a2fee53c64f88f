package session

import "fmt"

// Autoselect: what the caller speaks, from the first bytes it sends (IOS `autoselect ppp|arap`).
//
// A PPP peer starts by sending LCP Configure-Requests. On an async line each frame is
// HDLC-like framed (RFC 1662 §4): a Flag, then Address 0xFF, Control 0x03 and the protocol
// 0xC021 (LCP), with every octet that is in the async control character map, or is Flag or
// Control Escape, sent as 0x7D followed by the octet XOR 0x20 (RFC 1662 §4.2). Until LCP has
// negotiated otherwise, the map holds every octet below 0x20 (RFC 1662 §7.1), so the Control
// octet 0x03 goes out as 7D 23: the classic signature 7E FF 7D 23 C0 21 (mgetty's AutoPPP).
// Peers vary: some escape nothing, some escape everything, some compress the Address and
// Control fields even on LCP (which RFC 1661 §6.6 forbids, but they are out there). So rather
// than match a list of byte strings, Sniff undoes the octet stuffing after a Flag and compares
// the decoded header with the two shapes a first LCP frame can take.

// Protocol names, as carried in events.
const (
	ProtoExec = "exec"
	ProtoPPP  = "ppp"
	ProtoARAP = "arap"
)

// PPP framing octets (RFC 1662 §4.1, §4.2).
const (
	pppFlag   = 0x7E // Flag Sequence
	pppEscape = 0x7D // Control Escape
	pppXOR    = 0x20 // the escaped octet is XORed with this
)

// pppHeaders are the decoded starts of a first LCP frame: Address 0xFF, Control 0x03 (RFC 1662
// §3.1) and protocol 0xC021 (LCP, RFC 1661 §6), or with Address and Control compressed away
// (ACFC, RFC 1661 §6.6). The LCP protocol number cannot be compressed (PFC, RFC 1661 §6.5,
// applies only to protocols whose high octet is 0x00).
var pppHeaders = [][]byte{
	{0xFF, 0x03, 0xC0, 0x21},
	{0xC0, 0x21},
}

// Match is what Sniff made of the bytes so far.
type Match int

// Matches.
const (
	// NoMatch: nothing in the bytes is, or could become, a known signature.
	NoMatch Match = iota
	// Partial: the bytes end in the beginning of a signature; more input may complete it.
	Partial
	// MatchPPP: a PPP (LCP) frame start.
	MatchPPP
	// MatchARAP is reserved for ARAP detection. No public specification of the ARAP line
	// protocol exists (REFERENCE §9), so Sniff never returns it yet; sniffARAP is the hook.
	MatchARAP
)

// String names the match for logs and test failures.
func (m Match) String() string {
	switch m {
	case NoMatch:
		return "no match"
	case Partial:
		return "partial"
	case MatchPPP:
		return "ppp"
	case MatchARAP:
		return "arap"
	}
	return fmt.Sprintf("Match(%d)", int(m))
}

// maxSniff bounds how many recent bytes a sniffer keeps: enough for a fully escaped header
// (Flag + 4 octets escaped = 9 bytes) with room for repeated Flags.
const maxSniff = 32

// Sniff looks for the start of a PPP or ARAP frame anywhere in b.
func Sniff(b []byte) Match {
	if sniffARAP(b) {
		return MatchARAP
	}
	best := NoMatch
	for i := 0; i < len(b); i++ {
		if b[i] != pppFlag {
			continue
		}
		switch matchPPPAt(b[i+1:]) {
		case MatchPPP:
			return MatchPPP
		case Partial:
			best = Partial
		}
	}
	return best
}

// sniffARAP is the hook for ARAP detection; see MatchARAP.
func sniffARAP([]byte) bool { return false }

// matchPPPAt decodes the octets after a Flag and compares them with pppHeaders.
func matchPPPAt(b []byte) Match {
	var dec [4]byte
	n := 0
	esc := false
	for _, c := range b {
		switch {
		case c == pppFlag && n == 0 && !esc:
			continue // back-to-back Flags (RFC 1662 §4.1 allows them between frames)
		case c == pppFlag:
			return NoMatch // an empty or aborted frame
		case esc:
			c ^= pppXOR
			esc = false
		case c == pppEscape:
			esc = true
			continue
		}
		dec[n] = c
		n++
		if m := headerMatch(dec[:n]); m != Partial {
			return m
		}
	}
	return headerMatch(dec[:n])
}

// headerMatch compares decoded octets with the headers: a full match, a prefix of one, or none.
func headerMatch(d []byte) Match {
	partial := false
	for _, h := range pppHeaders {
		k := min(len(d), len(h))
		if string(d[:k]) != string(h[:k]) {
			continue
		}
		if len(d) >= len(h) {
			return MatchPPP
		}
		partial = true
	}
	if partial {
		return Partial
	}
	return NoMatch
}

// sniffer keeps the most recent raw input of a line until autoselect has decided.
type sniffer struct {
	buf []byte
}

// feed adds raw input and reports what it now matches. It looks at everything new before
// trimming to the tail: one read may hold a whole first frame longer than maxSniff (pppd's
// Configure-Request is 46 octets escaped), and a match keeps all of it for the handler.
func (s *sniffer) feed(p []byte) Match {
	s.buf = append(s.buf, p...)
	m := Sniff(s.buf)
	if m != MatchPPP && m != MatchARAP && len(s.buf) > maxSniff {
		s.buf = append(s.buf[:0], s.buf[len(s.buf)-maxSniff:]...)
	}
	return m
}

// bytes returns what the sniffer holds (the frame start, for a protocol handler to resume from).
func (s *sniffer) bytes() []byte { return append([]byte(nil), s.buf...) }
