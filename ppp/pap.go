package ppp

import (
	"errors"
	"fmt"
	"time"
)

// PAP codes (RFC 1334 §2.2).
const (
	PAPAuthRequest uint8 = 1 // Authenticate-Request (RFC 1334 §2.2.1)
	PAPAuthAck     uint8 = 2 // Authenticate-Ack (RFC 1334 §2.2.2)
	PAPAuthNak     uint8 = 3 // Authenticate-Nak (RFC 1334 §2.2.2)
)

// ErrPAP is wrapped by ParsePAP for a malformed packet.
var ErrPAP = errors.New("malformed PAP packet")

// PAPPacket is a PAP packet (RFC 1334 §2.2): a request carries Peer and Password, an Ack or
// Nak carries Message.
type PAPPacket struct {
	Code     uint8
	ID       uint8
	Peer     string
	Password string
	Message  string
}

// ParsePAP parses a PAP packet. Octets beyond the Length field are padding and ignored; an
// unknown code is an error.
func ParsePAP(b []byte) (PAPPacket, error) {
	p, err := ParsePacket(b)
	if err != nil {
		return PAPPacket{}, fmt.Errorf("pap: %w", err)
	}
	pp := PAPPacket{Code: uint8(p.Code), ID: p.ID}
	d := p.Data
	switch pp.Code {
	case PAPAuthRequest:
		peer, rest, ok := lengthPrefixed(d)
		if !ok {
			return PAPPacket{}, fmt.Errorf("pap request: peer-id runs past the packet: %w", ErrPAP)
		}
		pw, _, ok := lengthPrefixed(rest)
		if !ok {
			return PAPPacket{}, fmt.Errorf("pap request: password runs past the packet: %w", ErrPAP)
		}
		pp.Peer, pp.Password = string(peer), string(pw)
	case PAPAuthAck, PAPAuthNak:
		// The Msg-Length octet is there in every implementation, but an empty Data is
		// read as an empty message rather than refused.
		if len(d) > 0 {
			msg, _, ok := lengthPrefixed(d)
			if !ok {
				return PAPPacket{}, fmt.Errorf("pap reply: message runs past the packet: %w", ErrPAP)
			}
			pp.Message = string(msg)
		}
	default:
		return PAPPacket{}, fmt.Errorf("pap code %d: %w", pp.Code, ErrPAP)
	}
	return pp, nil
}

// lengthPrefixed reads a one-octet length and that many octets.
func lengthPrefixed(b []byte) (field, rest []byte, ok bool) {
	if len(b) < 1 || int(b[0]) > len(b)-1 {
		return nil, nil, false
	}
	n := int(b[0])
	return b[1 : 1+n], b[1+n:], true
}

func appendLengthPrefixed(dst []byte, s string) []byte {
	if len(s) > 255 {
		s = s[:255]
	}
	dst = append(dst, byte(len(s)))
	return append(dst, s...)
}

// Append appends the packet to dst. Fields longer than 255 octets are truncated.
func (p PAPPacket) Append(dst []byte) []byte {
	var data []byte
	switch p.Code {
	case PAPAuthRequest:
		data = appendLengthPrefixed(data, p.Peer)
		data = appendLengthPrefixed(data, p.Password)
	default:
		data = appendLengthPrefixed(data, p.Message)
	}
	return Packet{Code: Code(p.Code), ID: p.ID, Data: data}.Append(dst)
}

// papServer is the authenticator's side of PAP: it waits for Authenticate-Requests, hands new
// ones to the link (which asks AAA), and answers repeats with the answer already given.
type papServer struct {
	send    func([]byte)
	decided bool
	ok      bool
	final   bool // no more attempts: a Nak is repeated, not reconsidered
	msg     string
	buf     []byte
}

// receive parses a packet from the peer. It returns a request that needs a verdict, or ok
// false when there is nothing to decide (not a request, or a repeat answered here).
func (s *papServer) receive(b []byte) (PAPPacket, bool, error) {
	p, err := ParsePAP(b)
	if err != nil {
		return PAPPacket{}, false, err
	}
	if p.Code != PAPAuthRequest {
		return PAPPacket{}, false, nil // Acks and Naks are not for the authenticator
	}
	if s.decided && (s.ok || s.final) {
		// The peer missed our answer (RFC 1334 §2.2.1: it retransmits with a new Identifier).
		s.answer(p.ID, true, s.msg)
		return PAPPacket{}, false, nil
	}
	return p, true, nil
}

// answer sends the verdict on request id.
func (s *papServer) answer(id uint8, ok bool, msg string) {
	s.decided, s.ok, s.msg = true, ok, msg
	code := PAPAuthNak
	if ok {
		code = PAPAuthAck
	}
	s.buf = PAPPacket{Code: code, ID: id, Message: msg}.Append(s.buf[:0])
	s.send(s.buf)
}

// papClient is the peer's side: it sends its id and password until answered.
type papClient struct {
	send     func([]byte)
	now      func() time.Time
	user     string
	password string
	restart  time.Duration
	maxTries int

	id       uint8
	tries    int
	deadline time.Time
	waiting  bool
	result   int // 0 pending, 1 acked, -1 naked or gave up
	message  string
	buf      []byte
}

func (c *papClient) start(firstID uint8) {
	c.id = firstID - 1
	c.waiting = true
	c.transmit()
}

func (c *papClient) transmit() {
	// RFC 1334 §2.2.1: the Identifier changes with every Authenticate-Request.
	c.id++
	c.tries++
	c.buf = PAPPacket{Code: PAPAuthRequest, ID: c.id, Peer: c.user, Password: c.password}.Append(c.buf[:0])
	c.send(c.buf)
	c.deadline = c.now().Add(c.restart)
}

func (c *papClient) deadlineAt() (time.Time, bool) { return c.deadline, c.waiting }

func (c *papClient) poll(now time.Time) {
	if !c.waiting || now.Before(c.deadline) {
		return
	}
	if c.tries >= c.maxTries {
		c.waiting, c.result, c.message = false, -1, "no answer to Authenticate-Request"
		return
	}
	c.transmit()
}

func (c *papClient) receive(b []byte) error {
	p, err := ParsePAP(b)
	if err != nil {
		return err
	}
	if !c.waiting || p.ID != c.id || p.Code == PAPAuthRequest {
		return nil // stale, or not for us
	}
	c.waiting, c.message = false, p.Message
	if p.Code == PAPAuthAck {
		c.result = 1
	} else {
		c.result = -1
	}
	return nil
}
