package rfc2217

// The Telnet layer: a decoder for the server's byte stream and the encoders for what the
// client sends. The decoder is a pure state machine over bytes from outside (fuzzed by
// FuzzDecoder); it keeps no more than maxSubneg bytes of any subnegotiation.

// maxSubneg bounds a subnegotiation's payload. RFC 2217 payloads are a few bytes; only the
// SIGNATURE text is free-form. Longer payloads are cut and flagged.
const maxSubneg = 1024

type eventKind uint8

const (
	evNegotiation eventKind = iota + 1 // IAC WILL/WONT/DO/DONT option (RFC 854)
	evSubneg                           // IAC SB option payload IAC SE (RFC 855)
	evCommand                          // any other IAC command: NOP, DM, BRK, AYT, GA...
)

// event is one Telnet command decoded from the stream.
type event struct {
	kind      eventKind
	verb      byte   // WILL/WONT/DO/DONT, or the command byte of an evCommand
	option    byte   // the option of a negotiation or subnegotiation
	data      []byte // subnegotiation payload after the option byte, IAC IAC undone
	truncated bool   // the payload was longer than maxSubneg; data holds its start
}

type decState uint8

const (
	stData  decState = iota
	stIAC            // after IAC
	stOpt            // after IAC WILL/WONT/DO/DONT: the option byte comes next
	stSBOpt          // after IAC SB: the option byte comes next
	stSB             // inside a subnegotiation
	stSBIAC          // IAC inside a subnegotiation
)

// decoder splits the server's stream into data bytes and Telnet events. Feeding a stream in
// any number of pieces gives the same result as feeding it whole.
type decoder struct {
	// nvt is set while the server is not sending in BINARY mode (RFC 856): then CR NUL on
	// the wire stands for a bare CR (RFC 854, "THE NVT PRINTER AND KEYBOARD") and the NUL is
	// dropped.
	nvt bool

	state   decState
	afterCR bool
	verb    byte
	sbOpt   byte
	sb      []byte
	sbTrunc bool

	data   []byte
	events []event
}

// decode consumes in, appending its data bytes to data and its events to events.
func (d *decoder) decode(in, data []byte, events []event) ([]byte, []event) {
	d.data, d.events = data, events
	for _, b := range in {
		d.step(b)
	}
	data, events = d.data, d.events
	d.data, d.events = nil, nil
	return data, events
}

func (d *decoder) step(b byte) {
	switch d.state {
	case stData:
		if b == cmdIAC {
			d.state = stIAC
			return
		}
		if d.nvt && d.afterCR && b == 0 {
			d.afterCR = false
			return
		}
		d.afterCR = b == '\r'
		d.data = append(d.data, b)
	case stIAC:
		switch b {
		case cmdIAC:
			d.data = append(d.data, cmdIAC)
			d.afterCR = false
			d.state = stData
		case cmdWILL, cmdWONT, cmdDO, cmdDONT:
			d.verb = b
			d.state = stOpt
		case cmdSB:
			d.state = stSBOpt
		default:
			d.events = append(d.events, event{kind: evCommand, verb: b})
			d.state = stData
		}
	case stOpt:
		d.events = append(d.events, event{kind: evNegotiation, verb: d.verb, option: b})
		d.state = stData
	case stSBOpt:
		d.sbOpt = b
		d.sb = d.sb[:0]
		d.sbTrunc = false
		d.state = stSB
	case stSB:
		if b == cmdIAC {
			d.state = stSBIAC
			return
		}
		d.sbAppend(b)
	case stSBIAC:
		switch b {
		case cmdIAC:
			d.sbAppend(cmdIAC)
			d.state = stSB
		case cmdSE:
			d.events = append(d.events, event{
				kind:      evSubneg,
				option:    d.sbOpt,
				data:      append([]byte(nil), d.sb...),
				truncated: d.sbTrunc,
			})
			d.state = stData
		default:
			// RFC 855 does not define IAC <command> inside a subnegotiation. Read it as a
			// peer that lost the IAC SE: drop the half subnegotiation and obey the command,
			// so a broken server cannot swallow the rest of the stream.
			d.state = stIAC
			d.step(b)
		}
	}
}

func (d *decoder) sbAppend(b byte) {
	if len(d.sb) >= maxSubneg {
		d.sbTrunc = true
		return
	}
	d.sb = append(d.sb, b)
}

// appendData appends p as Telnet data: IAC doubled (RFC 854) and, when not sending in
// BINARY mode, a CR not followed by LF sent as CR NUL (RFC 854, NVT).
func appendData(dst, p []byte, nvt bool) []byte {
	for i, b := range p {
		switch {
		case b == cmdIAC:
			dst = append(dst, cmdIAC, cmdIAC)
		case nvt && b == '\r' && (i+1 >= len(p) || p[i+1] != '\n'):
			dst = append(dst, '\r', 0)
		default:
			dst = append(dst, b)
		}
	}
	return dst
}

// appendNegotiation appends IAC verb option.
func appendNegotiation(dst []byte, verb, opt byte) []byte {
	return append(dst, cmdIAC, verb, opt)
}

// appendSubneg appends IAC SB option payload IAC SE with IAC doubled in the payload
// (RFC 855). COM-PORT-OPTION values need it too: a baud rate such as 65535 has 0xFF octets.
func appendSubneg(dst []byte, opt byte, payload ...byte) []byte {
	dst = append(dst, cmdIAC, cmdSB, opt)
	for _, b := range payload {
		if b == cmdIAC {
			dst = append(dst, cmdIAC)
		}
		dst = append(dst, b)
	}
	return append(dst, cmdIAC, cmdSE)
}
