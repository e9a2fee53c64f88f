package ppp

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// CBCPCode is the Code of a CBCP packet (MS-CBCP §2.2.4).
type CBCPCode uint8

// CBCP packet codes.
const (
	CBCPRequest  CBCPCode = 1 // Callback Request, answerer (NAS) to caller (MS-CBCP §2.2.4.1)
	CBCPResponse CBCPCode = 2 // Callback Response, caller to answerer (MS-CBCP §2.2.4.2)
	CBCPAck      CBCPCode = 3 // Callback Acknowledgment, answerer to caller (MS-CBCP §2.2.4.3)
)

func (c CBCPCode) String() string {
	switch c {
	case CBCPRequest:
		return "Callback-Request"
	case CBCPResponse:
		return "Callback-Response"
	case CBCPAck:
		return "Callback-Ack"
	}
	return fmt.Sprintf("CBCPCode(%d)", uint8(c))
}

// Callback Configuration Option types (MS-CBCP §2.2.3; 4 is pppd's CB_CONF_LIST, which no
// Microsoft peer sends and this package neither offers nor accepts).
const (
	CBCPNone  = 1 // no callback
	CBCPUser  = 2 // callback to a number the caller specifies
	CBCPAdmin = 3 // callback to a pre-specified (administratively configured) number
	CBCPList  = 4 // callback to any of a list of numbers (pppd only)
)

// CBCPAddrPSTN is the only Callback Address type MS-CBCP defines (§2.2.2): a PSTN/ISDN
// number in ASCII, NUL-terminated.
const CBCPAddrPSTN = 1

// MS-CBCP answerer timing (§3.2.2): the Request is retransmitted every 2 s. The spec leaves
// the number of tries open; 10 matches LCP's Max-Configure (RFC 1661 §4.6).
const (
	DefaultCBCPInterval    = 2 * time.Second
	DefaultCBCPMaxRequests = 10
	// pppdCBCPDelay is the callback delay pppd always asks for (cbcp.c: "delay 5").
	pppdCBCPDelay = 5
	// maxCallbackNumber bounds a caller-supplied number: E.164 is 15 digits; room is left
	// for access prefixes and dial modifiers.
	maxCallbackNumber = 64
)

// Errors of CBCP.
var (
	ErrCBCPMalformed  = errors.New("malformed CBCP packet")
	ErrCBCPNoResponse = errors.New("cbcp: no acceptable Callback Response")
	ErrCBCPNoOffer    = errors.New("cbcp: no callback type to offer")
	ErrCallbackNumber = errors.New("unacceptable callback number")
)

// CBCPOption is one Callback Configuration Option: Type, Length, optional Callback Delay,
// and an optional Callback Address (address type, then the number without its NUL).
type CBCPOption struct {
	Type       uint8
	HasDelay   bool
	Delay      uint8 // seconds
	HasAddress bool
	AddrType   uint8
	Number     string
}

// Len is the option's length on the wire.
func (o CBCPOption) Len() int {
	n := 2
	if o.HasDelay || o.HasAddress {
		n++
	}
	if o.HasAddress {
		n += 2 + len(o.Number)
	}
	return n
}

// Append appends the option to dst. An address implies a delay octet (the format has no
// address without one); a number longer than the option can carry is the caller's bug and
// is truncated.
func (o CBCPOption) Append(dst []byte) []byte {
	num := o.Number
	if len(num) > 0xFF-5 {
		num = num[:0xFF-5]
	}
	o.Number = num
	dst = append(dst, o.Type, byte(o.Len()))
	if o.HasDelay || o.HasAddress {
		dst = append(dst, o.Delay)
	}
	if o.HasAddress {
		dst = append(dst, o.AddrType)
		dst = append(dst, num...)
		dst = append(dst, 0)
	}
	return dst
}

// CBCPPacket is a CBCP packet: Code, Identifier and its options.
type CBCPPacket struct {
	Code    CBCPCode
	ID      uint8
	Options []CBCPOption
}

// Append appends the packet to dst.
func (p CBCPPacket) Append(dst []byte) []byte {
	start := len(dst)
	dst = append(dst, byte(p.Code), p.ID, 0, 0)
	for _, o := range p.Options {
		dst = o.Append(dst)
	}
	n := len(dst) - start
	dst[start+2], dst[start+3] = byte(n>>8), byte(n)
	return dst
}

// ParseCBCP parses a CBCP packet (without the PPP Protocol field). The Length field must
// cover the header and lie within b (octets past it are padding); the options must fill the
// data exactly, each at least 2 octets; an option of length 3 has a delay; one of 5 or more
// has a delay, an address type and a NUL-terminated number with no other NUL (MS-CBCP
// §2.2.2, §2.2.3). Anything else fails with an error wrapping ErrCBCPMalformed. A parsed
// packet appends back to exactly the octets it came from.
func ParseCBCP(b []byte) (CBCPPacket, error) {
	p, err := ParsePacket(b)
	if err != nil {
		return CBCPPacket{}, fmt.Errorf("parse CBCP: %w: %w", ErrCBCPMalformed, err)
	}
	pkt := CBCPPacket{Code: CBCPCode(p.Code), ID: p.ID}
	for d := p.Data; len(d) > 0; {
		if len(d) < 2 || int(d[1]) < 2 || int(d[1]) > len(d) {
			return pkt, fmt.Errorf("parse CBCP %v id %d: option at offset %d runs past the data: %w",
				pkt.Code, pkt.ID, len(p.Data)-len(d), ErrCBCPMalformed)
		}
		n := int(d[1])
		o := CBCPOption{Type: d[0]}
		switch {
		case n == 2:
		case n == 3:
			o.HasDelay, o.Delay = true, d[2]
		case n == 4:
			return pkt, fmt.Errorf("parse CBCP %v id %d: option %d has an address type but no address: %w",
				pkt.Code, pkt.ID, o.Type, ErrCBCPMalformed)
		default:
			addr := d[4:n]
			if addr[len(addr)-1] != 0 || bytes.IndexByte(addr[:len(addr)-1], 0) >= 0 {
				return pkt, fmt.Errorf("parse CBCP %v id %d: option %d address is not one NUL-terminated string: %w",
					pkt.Code, pkt.ID, o.Type, ErrCBCPMalformed)
			}
			o.HasDelay, o.Delay = true, d[2]
			o.HasAddress, o.AddrType, o.Number = true, d[3], string(addr[:len(addr)-1])
		}
		pkt.Options = append(pkt.Options, o)
		d = d[n:]
	}
	return pkt, nil
}

// CheckCallbackNumber reports whether s is acceptable as a caller-supplied number to dial:
// non-empty, at most 64 characters, and only digits, the DTMF letters A–D, the Hayes dial
// modifiers P, T, W, comma, '*', '#', '+', and the separators space, '-', '.', '(' and ')'.
// The number ends up in a modem's ATD command through a chat script, so anything that could
// end the dial string (';', CR, control characters) or start another command is refused.
func CheckCallbackNumber(s string) error {
	if s == "" || len(s) > maxCallbackNumber {
		return fmt.Errorf("callback number of %d characters: %w", len(s), ErrCallbackNumber)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
		case c >= 'A' && c <= 'D', c >= 'a' && c <= 'd':
		case bytes.IndexByte([]byte("PTWptw,*#+ -.()"), c) >= 0:
		default:
			return fmt.Errorf("callback number %.64q: character %q: %w", s, c, ErrCallbackNumber)
		}
	}
	return nil
}

// CBCPOffer is what the NAS lets a caller choose from (per user, from AAA).
type CBCPOffer struct {
	None  bool          // the caller may decline callback
	User  bool          // the caller may name the number (the user's callback-dialstring is empty)
	Admin string        // the pre-specified number (a non-empty callback-dialstring); "" = not offered
	Delay time.Duration // the callback delay proposed to the caller (whole seconds, at most 255)
}

// CBCPResult is what was agreed.
type CBCPResult struct {
	Type   int           // CBCPNone, CBCPUser or CBCPAdmin
	Number string        // the number to dial: the caller's (user) or the administrative one; "" for none
	Delay  time.Duration // the callback delay the caller asked for
}

type cbcpState uint8

const (
	cbcpIdle cbcpState = iota
	cbcpWaiting
	cbcpDone
	cbcpFailed
)

// CBCPServer is the answerer's side of MS-CBCP (§3.2), as a NAS runs it after authentication:
// it sends a Callback Request listing every type the user may use, retransmits it with a new
// Identifier every Interval, drops Responses with a stale Identifier, sends a new Request when
// a Response is malformed or picks a type that was not offered, and Acks an acceptable
// Response by echoing its option exactly. The caller then ends the link (pppd sends an LCP
// Terminate-Request); the NAS hangs up and calls back after the delay.
//
// Like the FSM it owns no goroutine: the caller feeds packets to Receive and calls Poll at
// Deadline.
type CBCPServer struct {
	// Interval between Requests (default DefaultCBCPInterval) and how many Requests to send
	// in all before giving up (default DefaultCBCPMaxRequests). Set them before Start.
	Interval    time.Duration
	MaxRequests int
	// Logger gets the exchange at Debug and failures at Info; default discards.
	Logger *slog.Logger

	offer    CBCPOffer
	send     func([]byte)
	now      func() time.Time
	state    cbcpState
	id       uint8
	sent     int
	deadline time.Time
	request  []byte
	ack      []byte
	result   CBCPResult
	err      error
}

// NewCBCPServer returns the answerer for an offer. send transmits one CBCP packet (the
// slice is only valid during the call); now is the clock (nil = time.Now).
func NewCBCPServer(o CBCPOffer, send func(pkt []byte), now func() time.Time) *CBCPServer {
	if now == nil {
		now = time.Now
	}
	if send == nil {
		send = func([]byte) {}
	}
	return &CBCPServer{offer: o, send: send, now: now}
}

func cbcpDelay(d time.Duration) uint8 {
	s := (d + time.Second - 1) / time.Second // round up: "at least" the delay
	return uint8(min(max(s, 0), 255))
}

// Start sends the first Callback Request, Identifier 1 (MS-CBCP §2.2.4.1), listing in order
// no callback, user-specified and pre-specified as offered. An empty offer fails at once
// (Failed returns ErrCBCPNoOffer): a Request must carry at least one option.
//
// The order is load-bearing for pppd: its Request parser does not step over the
// user-specified option's (empty) number and reads what follows misaligned. In this order
// the misread — the NUL and the `03 03` of the pre-specified option, taken as "type 0,
// length 3" — ends exactly at the end of the Request, so pppd answers (it picks
// user-specified anyway). Any option after user-specified other than the pre-specified one,
// or in another order, makes pppd drop the Request silently.
func (s *CBCPServer) Start() {
	if s.state != cbcpIdle {
		return
	}
	if s.Interval <= 0 {
		s.Interval = DefaultCBCPInterval
	}
	if s.MaxRequests <= 0 {
		s.MaxRequests = DefaultCBCPMaxRequests
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	delay := cbcpDelay(s.offer.Delay)
	req := CBCPPacket{Code: CBCPRequest}
	if s.offer.None {
		req.Options = append(req.Options, CBCPOption{Type: CBCPNone})
	}
	if s.offer.User {
		// An empty number: the caller supplies it (`02 05 dd 01 00`, which pppd and
		// Windows expect).
		req.Options = append(req.Options, CBCPOption{Type: CBCPUser, HasDelay: true, Delay: delay,
			HasAddress: true, AddrType: CBCPAddrPSTN})
	}
	if s.offer.Admin != "" {
		req.Options = append(req.Options, CBCPOption{Type: CBCPAdmin, HasDelay: true, Delay: delay})
	}
	if len(req.Options) == 0 {
		s.fail(ErrCBCPNoOffer)
		return
	}
	s.request = req.Append(nil)
	s.state = cbcpWaiting
	s.id = 0
	s.sendRequest()
}

// sendRequest sends the Request with the next Identifier and restarts the timer.
func (s *CBCPServer) sendRequest() {
	s.id++
	s.request[1] = s.id
	s.sent++
	s.deadline = s.now().Add(s.Interval)
	s.Logger.Debug("cbcp send request", "id", s.id, "try", s.sent)
	s.send(s.request)
}

// again answers a bad Response with a new Request, or gives up if it was the last.
func (s *CBCPServer) again(why string) {
	s.Logger.Debug("cbcp response refused", "id", s.id, "why", why)
	if s.sent >= s.MaxRequests {
		s.fail(fmt.Errorf("%w after %d requests (last: %s)", ErrCBCPNoResponse, s.sent, why))
		return
	}
	s.sendRequest()
}

func (s *CBCPServer) fail(err error) {
	s.state, s.err = cbcpFailed, err
	if s.Logger != nil {
		s.Logger.Info("cbcp failed", "err", err)
	}
}

// Receive handles one CBCP packet from the caller.
func (s *CBCPServer) Receive(pkt []byte) {
	hdr, err := ParsePacket(pkt)
	if err != nil || CBCPCode(hdr.Code) != CBCPResponse {
		return // not a Response we can read: nothing to answer
	}
	switch s.state {
	case cbcpDone:
		// Our Ack was lost and the caller repeated its Response: repeat the Ack.
		if hdr.ID == s.id && bytes.Equal(hdr.Data, s.ack[headerLen:]) {
			s.send(s.ack)
		}
		return
	case cbcpWaiting:
	default:
		return
	}
	if hdr.ID != s.id {
		s.Logger.Debug("cbcp response with a stale id dropped", "id", hdr.ID, "want", s.id)
		return // MS-CBCP §3.2.5.3: silently
	}
	p, err := ParseCBCP(pkt)
	if err != nil {
		s.again(err.Error())
		return
	}
	if len(p.Options) != 1 {
		s.again(fmt.Sprintf("%d options, want 1", len(p.Options)))
		return
	}
	o := p.Options[0]
	res := CBCPResult{Type: int(o.Type), Delay: time.Duration(o.Delay) * time.Second}
	switch o.Type {
	case CBCPNone:
		if !s.offer.None {
			s.again("no callback was not offered")
			return
		}
		res.Delay = 0
	case CBCPUser:
		if !s.offer.User {
			s.again("user-specified number was not offered")
			return
		}
		if !o.HasAddress || o.AddrType != CBCPAddrPSTN {
			s.again("user-specified callback without a PSTN number")
			return
		}
		if err := CheckCallbackNumber(o.Number); err != nil {
			s.again(err.Error())
			return
		}
		res.Number = o.Number
	case CBCPAdmin:
		if s.offer.Admin == "" {
			s.again("pre-specified number was not offered")
			return
		}
		res.Number = s.offer.Admin
	default:
		s.again(fmt.Sprintf("callback type %d was not offered", o.Type))
		return
	}
	// MS-CBCP §3.2.5.3: the Ack carries the Identifier, delay and address of the Response.
	s.ack = append(s.ack[:0], pkt[:hdr.Len()]...)
	s.ack[0] = byte(CBCPAck)
	s.state, s.result = cbcpDone, res
	s.Logger.Debug("cbcp ack", "id", s.id, "type", res.Type, "delay", res.Delay)
	s.send(s.ack)
}

// Poll retransmits the Request (with a new Identifier) if its timer has expired at now, or
// gives up after MaxRequests Requests.
func (s *CBCPServer) Poll(now time.Time) {
	if s.state != cbcpWaiting || now.Before(s.deadline) {
		return
	}
	if s.sent >= s.MaxRequests {
		s.fail(fmt.Errorf("%w: no answer to %d requests", ErrCBCPNoResponse, s.sent))
		return
	}
	s.sendRequest()
}

// Deadline is when Poll must next be called, while a Request is unanswered.
func (s *CBCPServer) Deadline() (time.Time, bool) {
	return s.deadline, s.state == cbcpWaiting
}

// Done returns the agreed callback once the Ack has been sent.
func (s *CBCPServer) Done() (CBCPResult, bool) {
	return s.result, s.state == cbcpDone
}

// Failed returns why the exchange failed (ErrCBCPNoResponse, ErrCBCPNoOffer), or nil.
func (s *CBCPServer) Failed() error { return s.err }

// CBCPClient is the caller's side of MS-CBCP, behaving like pppd 2.4.9 with `callback
// NUMBER`: it answers every Callback Request, preferring a user-specified callback to its
// number, then a pre-specified one, then none; it always asks for a 5 s delay and never
// retransmits (the answerer does). Without a number it can only take pre-specified or none.
type CBCPClient struct {
	number string
	send   func([]byte)
	// Delay is the callback delay asked for, in whole seconds up to 255 (MS-CBCP §2.2.3);
	// zero asks for pppd's 5 s. Set it before the first Receive.
	Delay time.Duration

	id        uint8
	responded bool
	response  CBCPOption
	done      bool
	result    CBCPResult
	out       []byte
}

// NewCBCPClient returns a caller that asks to be called back at number ("" = no number).
func NewCBCPClient(number string, send func([]byte)) *CBCPClient {
	if send == nil {
		send = func([]byte) {}
	}
	return &CBCPClient{number: number, send: send}
}

// Receive handles one CBCP packet from the answerer.
func (c *CBCPClient) Receive(pkt []byte) {
	if c.done {
		return
	}
	p, err := ParseCBCP(pkt)
	if err != nil {
		return // MS-CBCP §3.1.5.3: a malformed Request is dropped silently
	}
	switch p.Code {
	case CBCPRequest:
		var offered [5]bool
		for _, o := range p.Options {
			if int(o.Type) < len(offered) {
				offered[o.Type] = true
			}
		}
		var r CBCPOption
		delay := uint8(pppdCBCPDelay)
		if c.Delay > 0 {
			delay = uint8(min((c.Delay+time.Second-1)/time.Second, 0xFF))
		}
		switch {
		case offered[CBCPUser] && c.number != "":
			r = CBCPOption{Type: CBCPUser, HasDelay: true, Delay: delay,
				HasAddress: true, AddrType: CBCPAddrPSTN, Number: c.number}
		case offered[CBCPAdmin]:
			r = CBCPOption{Type: CBCPAdmin, HasDelay: true, Delay: delay}
		case offered[CBCPNone]:
			r = CBCPOption{Type: CBCPNone, HasDelay: true} // pppd sends `01 03 00`
		default:
			return // nothing we can use: pppd stays silent too
		}
		c.id, c.responded, c.response = p.ID, true, r
		c.out = CBCPPacket{Code: CBCPResponse, ID: p.ID, Options: []CBCPOption{r}}.Append(c.out[:0])
		c.send(c.out)
	case CBCPAck:
		// pppd only logs an Identifier mismatch; MS-CBCP §3.1 expects the Request's
		// Identifier, and checking it keeps a stale Ack from ending the exchange.
		if !c.responded || p.ID != c.id {
			return
		}
		o := c.response
		if len(p.Options) == 1 {
			o = p.Options[0]
		}
		c.done = true
		c.result = CBCPResult{Type: int(o.Type), Delay: time.Duration(o.Delay) * time.Second}
		if o.Type == CBCPUser {
			c.result.Number = o.Number
		}
	}
}

// Done returns what the answerer acknowledged. For a pre-specified callback the number is
// the answerer's secret, so Number is empty.
func (c *CBCPClient) Done() (CBCPResult, bool) { return c.result, c.done }
