package ppp

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/mschap"
)

// CHAP codes (RFC 1994 §4).
const (
	CHAPChallenge uint8 = 1 // Challenge (RFC 1994 §4.1)
	CHAPResponse  uint8 = 2 // Response (RFC 1994 §4.1)
	CHAPSuccess   uint8 = 3 // Success (RFC 1994 §4.2)
	CHAPFailure   uint8 = 4 // Failure (RFC 1994 §4.2)
)

// chapChallengeLen is the length of the challenges we send: 16 octets, what MS-CHAPv2
// requires (RFC 2759 §3) and plenty for MD5 (RFC 1994 §2.3 asks for unpredictable values).
const chapChallengeLen = 16

// ErrCHAP is wrapped by ParseCHAP for a malformed packet.
var ErrCHAP = errors.New("malformed CHAP packet")

// CHAPPacket is a CHAP packet (RFC 1994 §4): a Challenge or Response carries Value and Name,
// a Success or Failure carries Message.
type CHAPPacket struct {
	Code    uint8
	ID      uint8
	Value   []byte // points into the parsed buffer
	Name    string
	Message string
}

// ParseCHAP parses a CHAP packet. Octets beyond the Length field are padding and ignored; an
// unknown code is an error.
func ParseCHAP(b []byte) (CHAPPacket, error) {
	p, err := ParsePacket(b)
	if err != nil {
		return CHAPPacket{}, fmt.Errorf("chap: %w", err)
	}
	cp := CHAPPacket{Code: uint8(p.Code), ID: p.ID}
	switch cp.Code {
	case CHAPChallenge, CHAPResponse:
		v, rest, ok := lengthPrefixed(p.Data)
		if !ok || len(v) == 0 {
			return CHAPPacket{}, fmt.Errorf("chap code %d: value size %d in %d octets: %w", cp.Code,
				firstOctet(p.Data), len(p.Data), ErrCHAP)
		}
		cp.Value, cp.Name = v, string(rest)
	case CHAPSuccess, CHAPFailure:
		cp.Message = string(p.Data)
	default:
		return CHAPPacket{}, fmt.Errorf("chap code %d: %w", cp.Code, ErrCHAP)
	}
	return cp, nil
}

func firstOctet(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	return int(b[0])
}

// Append appends the packet to dst. A Value longer than 255 octets is truncated.
func (p CHAPPacket) Append(dst []byte) []byte {
	var data []byte
	switch p.Code {
	case CHAPChallenge, CHAPResponse:
		v := p.Value
		if len(v) > 255 {
			v = v[:255]
		}
		data = append(data, byte(len(v)))
		data = append(data, v...)
		data = append(data, p.Name...)
	default:
		data = append(data, p.Message...)
	}
	return Packet{Code: Code(p.Code), ID: p.ID, Data: data}.Append(dst)
}

// chapAlgorithm maps a negotiated protocol to the AAA layer's algorithm number.
func chapAlgorithm(a AuthProto) aaa.CHAPAlgorithm {
	if a == AuthMSCHAPv2 {
		return aaa.CHAPMSv2
	}
	return aaa.CHAPMD5
}

// chapResponseLen is the Response Value length the algorithm defines.
func chapResponseLen(a AuthProto) int {
	if a == AuthMSCHAPv2 {
		return mschap.ResponseLen
	}
	return aaa.CHAPMD5ResponseLen
}

// chapServer is the authenticator's side of CHAP-MD5 and MS-CHAPv2: it challenges, hands each
// fresh Response to the link (which asks AAA), and answers repeats with the verdict already given.
type chapServer struct {
	alg      AuthProto
	name     string
	send     func([]byte)
	now      func() time.Time
	restart  time.Duration
	maxTries int

	id        uint8
	challenge [chapChallengeLen]byte
	packet    []byte // the Challenge, resent as it was on timeout (as pppd does)
	tries     int
	deadline  time.Time
	waiting   bool // a Challenge is outstanding without a Response
	gaveUp    bool // the peer never answered
	decided   bool
	ok        bool
	reply     []byte // the Success or Failure, resent for a repeated Response
}

// challengeNew sends a Challenge with a fresh Identifier and value (RFC 1994 §4.1: both change
// with every new Challenge).
func (s *chapServer) challengeNew() {
	if s.packet == nil {
		var b [1]byte
		_, _ = rand.Read(b[:])
		s.id = b[0]
	}
	s.id++
	_, _ = rand.Read(s.challenge[:]) // crypto/rand never fails
	s.packet = CHAPPacket{Code: CHAPChallenge, ID: s.id, Value: s.challenge[:], Name: s.name}.Append(s.packet[:0])
	s.tries, s.waiting, s.decided, s.ok = 0, true, false, false
	s.transmit()
}

func (s *chapServer) transmit() {
	s.tries++
	s.send(s.packet)
	s.deadline = s.now().Add(s.restart)
}

func (s *chapServer) deadlineAt() (time.Time, bool) { return s.deadline, s.waiting }

func (s *chapServer) poll(now time.Time) {
	if !s.waiting || now.Before(s.deadline) {
		return
	}
	if s.tries >= s.maxTries {
		s.waiting, s.gaveUp = false, true
		return
	}
	s.transmit()
}

// receive parses a packet from the peer and returns a Response that needs a verdict; ok is
// false when there is none (another code, a stale Identifier, or a repeat answered here).
func (s *chapServer) receive(b []byte) (CHAPPacket, bool, error) {
	p, err := ParseCHAP(b)
	if err != nil {
		return CHAPPacket{}, false, err
	}
	if p.Code != CHAPResponse || p.ID != s.id {
		return CHAPPacket{}, false, nil
	}
	if s.decided {
		// Our Success or Failure was lost; the peer answered the Challenge again (RFC 1994 §4.2).
		s.send(s.reply)
		return CHAPPacket{}, false, nil
	}
	if !s.waiting {
		return CHAPPacket{}, false, nil
	}
	s.waiting = false
	return p, true, nil
}

// verdict answers the Response to the current Challenge with Success or Failure.
func (s *chapServer) verdict(ok bool, message string) {
	s.decided, s.ok = true, ok
	code := CHAPFailure
	if ok {
		code = CHAPSuccess
	}
	s.reply = CHAPPacket{Code: code, ID: s.id, Message: message}.Append(s.reply[:0])
	s.send(s.reply)
}

// chapClient is the peer's side: it answers every Challenge and waits for the verdict.
type chapClient struct {
	alg      AuthProto
	user     string
	password string
	send     func([]byte)

	id        uint8
	answered  bool
	challenge []byte // the Challenge Value answered
	// MS-CHAPv2: what the authenticator response is checked against (RFC 2759 §8.8).
	authChallenge []byte
	peerChallenge [mschap.ChallengeLen]byte
	ntResponse    [mschap.NTResponseLen]byte

	result  int // 0 pending, 1 success, -1 failure
	message string
	buf     []byte
}

func (c *chapClient) receive(b []byte) error {
	p, err := ParseCHAP(b)
	if err != nil {
		return err
	}
	switch p.Code {
	case CHAPChallenge:
		if c.result != 0 {
			return nil
		}
		c.respond(p)
	case CHAPSuccess, CHAPFailure:
		if !c.answered || p.ID != c.id || c.result != 0 {
			return nil
		}
		c.message = p.Message
		if p.Code == CHAPFailure {
			c.result = -1
			return nil
		}
		c.result = 1
		if c.alg == AuthMSCHAPv2 {
			// The server must prove it knows the password too (RFC 2759 §5: without a
			// correct authenticator response the peer MUST end the session).
			got, _, ok := parseMSCHAPv2Success(p.Message)
			if !ok || !mschap.CheckAuthenticatorResponse(c.password, c.ntResponse[:], c.peerChallenge[:],
				c.authChallenge, c.user, got) {
				c.result, c.message = -1, "server's authenticator response is missing or wrong"
			}
		}
	}
	return nil
}

func (c *chapClient) respond(p CHAPPacket) {
	if c.answered && p.ID == c.id && bytes.Equal(p.Value, c.challenge) {
		// The server resent its Challenge (our Response was lost, or crossed it): answer
		// with the same Response, since a new MS-CHAPv2 Peer-Challenge would not match the
		// authenticator response the server computes for the first.
		c.send(c.buf)
		return
	}
	c.challenge = append(c.challenge[:0], p.Value...)
	var value []byte
	switch c.alg {
	case AuthMSCHAPv2:
		if len(p.Value) != mschap.ChallengeLen {
			return // RFC 2759 §3: the challenge is 16 octets; anything else is not MS-CHAPv2
		}
		c.authChallenge = append(c.authChallenge[:0], p.Value...)
		_, _ = rand.Read(c.peerChallenge[:])
		c.ntResponse = mschap.GenerateNTResponse(c.authChallenge, c.peerChallenge[:], c.user, c.password)
		value = mschap.AppendResponse(nil, c.peerChallenge[:], c.ntResponse[:])
	default:
		r := aaa.CHAPMD5Response(p.ID, c.password, p.Value)
		value = r[:]
	}
	c.id, c.answered = p.ID, true
	c.buf = CHAPPacket{Code: CHAPResponse, ID: p.ID, Value: value, Name: c.user}.Append(c.buf[:0])
	c.send(c.buf)
}
