package radius

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"

	"layeh.com/radius"

	"github.com/dialback/nas/dictionaries/rfc"
)

// Wire layout (RFC 2865 §3): Code(1) Identifier(1) Length(2) Authenticator(16) Attributes.
const (
	headerLen = 20
	authLen   = 16
	// maLen is the length of a Message-Authenticator value: one HMAC-MD5 (RFC 3579 §3.2).
	maLen = md5.Size
	// maOffset is where the Message-Authenticator value sits when it is the first attribute:
	// after the header and the attribute's own type and length octets.
	maOffset = headerLen + 2
)

// RFC 5997 §2: Status-Server is code 12 (layeh names it CodeStatusServer).
const codeStatusServer = radius.CodeStatusServer

// Reasons a reply is discarded. None of them is an answer: a forged or corrupted datagram must
// not end an exchange, so the exchange keeps waiting for a good reply until it times out.
var (
	errShortReply     = errors.New("reply shorter than a RADIUS header")
	errReplyLength    = errors.New("reply Length field is out of range")
	errReplyID        = errors.New("reply Identifier does not match the request")
	errReplyCode      = errors.New("reply code does not answer this request")
	errResponseAuth   = errors.New("bad Response Authenticator (wrong secret, or forged)")
	errMessageAuth    = errors.New("bad Message-Authenticator (wrong secret, or forged)")
	errMissingMA      = errors.New("reply has no Message-Authenticator; mark the server legacy only if it cannot sign replies (FreeRADIUS: add `&reply:Message-Authenticator := 0x00`)")
	errMultipleMA     = errors.New("reply has more than one Message-Authenticator")
	errBadMALength    = errors.New("Message-Authenticator is not 16 octets")
	errBadAttributes  = errors.New("reply attributes are malformed")
	errRequestTooLong = errors.New("request longer than 4096 octets")
)

// signAccessRequest fills in the Message-Authenticator of an Access-Request or Status-Server
// whose first attribute is a zeroed Message-Authenticator: HMAC-MD5 keyed with the secret over
// the whole packet, Request Authenticator included, with the value taken as zero
// (RFC 3579 §3.2). The Identifier must already be in place: the HMAC covers it.
func signAccessRequest(wire, secret []byte) {
	clear(wire[maOffset : maOffset+maLen])
	mac := hmac.New(md5.New, secret)
	mac.Write(wire)
	mac.Sum(wire[maOffset:maOffset])
}

// encodeSigned marshals p (whose Attributes start with a zeroed Message-Authenticator, and
// whose Authenticator is random) and signs it.
func encodeSigned(p *radius.Packet) ([]byte, error) {
	if len(p.Attributes) == 0 || p.Attributes[0].Type != rfc.MessageAuthenticator_Type || len(p.Attributes[0].Attribute) != maLen {
		return nil, errors.New("radius: internal error: Message-Authenticator is not the first attribute")
	}
	wire, err := p.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encoding %v: %w", p.Code, err)
	}
	signAccessRequest(wire, p.Secret)
	return wire, nil
}

// newMessageAuthenticator is the zeroed placeholder every Access-Request and Status-Server
// starts with. First, so that a server can check it before parsing anything else
// (BlastRADIUS, CVE-2024-3596).
func newMessageAuthenticator() *radius.AVP {
	return &radius.AVP{Type: rfc.MessageAuthenticator_Type, Attribute: make(radius.Attribute, maLen)}
}

// replyRules says which replies answer a request and how strictly they are checked.
type replyRules struct {
	codes []radius.Code
	// requireMA: the reply must carry a Message-Authenticator (Access-Accept, -Reject and
	// -Challenge from a server that is not legacy). A Message-Authenticator that is present is
	// always checked.
	requireMA bool
}

// verifyReply checks a datagram against the request it claims to answer: Length, Identifier,
// code, the Response Authenticator (RFC 2865 §3, RFC 2866 §3), the Message-Authenticator
// (RFC 3579 §3.2), and the attribute encoding. It returns the parsed reply or why it must be
// discarded.
func verifyReply(req, resp, secret []byte, rules replyRules) (*radius.Packet, error) {
	if len(resp) < headerLen {
		return nil, errShortReply
	}
	n := int(binary.BigEndian.Uint16(resp[2:4]))
	// RFC 2865 §3: octets past Length are padding; a Length past the datagram is an error.
	if n < headerLen || n > radius.MaxPacketLength || n > len(resp) {
		return nil, errReplyLength
	}
	resp = resp[:n]
	if resp[1] != req[1] {
		return nil, errReplyID
	}
	code := radius.Code(resp[0])
	ok := false
	for _, c := range rules.codes {
		ok = ok || c == code
	}
	if !ok {
		return nil, fmt.Errorf("%w: got %v", errReplyCode, code)
	}
	// Response Authenticator = MD5(Code, ID, Length, Request Authenticator, Attributes, Secret).
	h := md5.New()
	h.Write(resp[:4])
	h.Write(req[4:headerLen])
	h.Write(resp[headerLen:])
	h.Write(secret)
	var sum [md5.Size]byte
	if !hmac.Equal(h.Sum(sum[:0]), resp[4:headerLen]) {
		return nil, errResponseAuth
	}
	attrs, err := radius.ParseAttributes(resp[headerLen:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadAttributes, err)
	}
	if err := checkMessageAuthenticator(req, resp, secret, rules.requireMA); err != nil {
		return nil, err
	}
	p := &radius.Packet{Code: code, Identifier: resp[1], Secret: secret, Attributes: attrs}
	copy(p.Authenticator[:], resp[4:headerLen])
	return p, nil
}

// checkMessageAuthenticator finds the Message-Authenticator of a reply whose attributes are
// known to be well formed and checks it: HMAC-MD5 over the reply with the Request
// Authenticator in place of the Response Authenticator and the value taken as zero.
func checkMessageAuthenticator(req, resp, secret []byte, required bool) error {
	at := -1
	for off := headerLen; off+2 <= len(resp); off += int(resp[off+1]) {
		if radius.Type(resp[off]) != rfc.MessageAuthenticator_Type {
			continue
		}
		if at >= 0 {
			return errMultipleMA
		}
		if resp[off+1] != 2+maLen {
			return errBadMALength
		}
		at = off + 2
	}
	if at < 0 {
		if required {
			return errMissingMA
		}
		return nil
	}
	buf := make([]byte, len(resp))
	copy(buf, resp)
	copy(buf[4:headerLen], req[4:headerLen])
	clear(buf[at : at+maLen])
	mac := hmac.New(md5.New, secret)
	mac.Write(buf)
	if !hmac.Equal(mac.Sum(nil), resp[at:at+maLen]) {
		return errMessageAuth
	}
	return nil
}
