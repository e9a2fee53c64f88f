// Package dynauth is the NAS side of RFC 5176 dynamic authorization (IOS `aaa server radius
// dynamic-author`): a UDP listener that takes Disconnect-Requests and CoA-Requests from the
// configured clients only, verifies their Request Authenticator and required
// Message-Authenticator, finds the sessions they name and disconnects them or changes their
// Session-Timeout and Idle-Timeout through the Sessions interface, answering ACK or NAK with an
// Error-Cause.
package dynauth

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"layeh.com/radius"

	"github.com/dialback/nas/dictionaries/rfc"
)

// Wire layout (RFC 2865 §3, RFC 5176 §2.3): Code(1) Identifier(1) Length(2) Authenticator(16).
const (
	headerLen = 20
	authLen   = 16
	maLen     = md5.Size // Message-Authenticator value (RFC 3579 §3.2)
)

// Packet codes (RFC 5176 §2.3 and §3.5).
const (
	CodeDisconnectRequest = radius.CodeDisconnectRequest // 40
	CodeDisconnectACK     = radius.CodeDisconnectACK     // 41
	CodeDisconnectNAK     = radius.CodeDisconnectNAK     // 42
	CodeCoARequest        = radius.CodeCoARequest        // 43
	CodeCoAACK            = radius.CodeCoAACK            // 44
	CodeCoANAK            = radius.CodeCoANAK            // 45
)

// ErrorCause is an Error-Cause value (RFC 5176 §3.5).
type ErrorCause = rfc.ErrorCause

// Error-Cause values the NAS sends (RFC 5176 §3.5).
const (
	CauseUnsupportedAttribute = rfc.ErrorCause_Value_UnsupportedAttribute       // 401
	CauseMissingAttribute     = rfc.ErrorCause_Value_MissingAttribute           // 402
	CauseNASMismatch          = rfc.ErrorCause_Value_NASIdentificationMismatch  // 403
	CauseInvalidRequest       = rfc.ErrorCause_Value_InvalidRequest             // 404
	CauseUnsupportedService   = rfc.ErrorCause_Value_UnsupportedService         // 405: never in a Disconnect-NAK
	CauseInvalidValue         = rfc.ErrorCause_Value_InvalidAttributeValue      // 407
	CauseNotFound             = rfc.ErrorCause_Value_SessionContextNotFound     // 503
	CauseNotRemovable         = rfc.ErrorCause_Value_SessionContextNotRemovable // 504
	CauseResourcesUnavailable = rfc.ErrorCause_Value_ResourcesUnavailable       // 506
)

// Reasons a datagram is discarded without an answer (RFC 5176 §3.5 and §5: an unknown
// client, a bad authenticator or Message-Authenticator is silently discarded).
var (
	ErrShort         = errors.New("shorter than a RADIUS header")
	ErrLength        = errors.New("Length field out of range")
	ErrCode          = errors.New("not a Disconnect-Request or CoA-Request")
	ErrAuthenticator = errors.New("bad Request Authenticator (wrong secret, or forged)")
	ErrAttributes    = errors.New("attributes are malformed")
	ErrNoMA          = errors.New("no Message-Authenticator (required)")
	ErrMA            = errors.New("bad Message-Authenticator (wrong secret, or forged)")
)

// Match is what a request names a session by: every field that is set must match (RFC 5176
// §3: all session identification attributes present apply). The zero Match names nothing.
type Match struct {
	AcctSessionID      string
	AcctMultiSessionID string
	UserName           string
	NASPort            *int // nil = not given
	NASPortID          string
	FramedIP           netip.Addr
	CallingStationID   string
	CalledStationID    string
}

// Empty reports whether m names no session at all.
func (m Match) Empty() bool {
	return m.AcctSessionID == "" && m.AcctMultiSessionID == "" && m.UserName == "" && m.NASPort == nil &&
		m.NASPortID == "" && !m.FramedIP.IsValid() && m.CallingStationID == "" && m.CalledStationID == ""
}

// Matches reports whether s is named by m: every field m sets equals s's.
func (m Match) Matches(s Session) bool {
	return !m.Empty() &&
		(m.AcctSessionID == "" || m.AcctSessionID == s.AcctSessionID) &&
		(m.AcctMultiSessionID == "" || m.AcctMultiSessionID == s.AcctMultiSessionID) &&
		(m.UserName == "" || m.UserName == s.User) &&
		(m.NASPort == nil || *m.NASPort == s.Line) &&
		(m.NASPortID == "" || m.NASPortID == s.PortName) &&
		(!m.FramedIP.IsValid() || m.FramedIP == s.Address) &&
		(m.CallingStationID == "" || m.CallingStationID == s.CallerID) &&
		(m.CalledStationID == "" || m.CalledStationID == s.CalledID)
}

// Timeouts is what a CoA-Request changes; a nil field is left as it is.
type Timeouts struct {
	// Session is the new Session-Timeout (RFC 2865 §5.27): the whole time the session may
	// last, counted from its start as in an Access-Accept; 0 = no limit.
	Session *time.Duration
	// Idle is the new Idle-Timeout (RFC 2865 §5.28); 0 = no limit.
	Idle *time.Duration
}

// Request is a verified Disconnect-Request or CoA-Request.
type Request struct {
	Code          radius.Code
	Identifier    byte
	Authenticator [authLen]byte
	Match         Match
	Timeouts      Timeouts // CoA only
	// NASIdentifier and NASIPAddress are the NAS identification attributes, if given.
	NASIdentifier string
	NASIPAddress  netip.Addr
	// EventTimestamp is when the client sent it (RFC 2869 §5.3); zero if absent.
	EventTimestamp time.Time
	// ProxyStates are echoed in the reply, in order (RFC 2865 §5.33).
	ProxyStates [][]byte
	// Problem, when not zero, is why the request cannot be honoured as written: the NAK's
	// Error-Cause, with Why saying which attribute.
	Problem ErrorCause
	Why     string
}

// nak records the first problem; later ones do not replace it.
func (r *Request) nak(c ErrorCause, format string, args ...any) {
	if r.Problem == 0 {
		r.Problem, r.Why = c, fmt.Sprintf(format, args...)
	}
}

// String names the request for logs.
func (r *Request) String() string {
	if r.Code == CodeCoARequest {
		return "CoA-Request"
	}
	return "Disconnect-Request"
}

// ParseRequest verifies and reads a datagram from a client whose shared secret is secret.
// An error means the datagram must be silently discarded (RFC 5176 §3.5); a request that
// verifies but cannot be honoured comes back with Problem set, for a NAK.
func ParseRequest(b, secret []byte) (*Request, error) {
	if len(b) < headerLen {
		return nil, ErrShort
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	// RFC 2865 §3: octets past Length are padding; a Length past the datagram is an error.
	if n < headerLen || n > radius.MaxPacketLength || n > len(b) {
		return nil, ErrLength
	}
	b = b[:n]
	code := radius.Code(b[0])
	if code != CodeDisconnectRequest && code != CodeCoARequest {
		return nil, fmt.Errorf("%w: code %d", ErrCode, b[0])
	}
	// RFC 5176 §2.3: Request Authenticator = MD5(Code, Identifier, Length, 16 zero octets,
	// Attributes, Secret), as for Accounting-Request (RFC 2866 §3).
	h := md5.New()
	h.Write(b[:4])
	h.Write(make([]byte, authLen))
	h.Write(b[headerLen:])
	h.Write(secret)
	if !hmac.Equal(h.Sum(nil), b[4:headerLen]) {
		return nil, ErrAuthenticator
	}
	attrs, err := radius.ParseAttributes(b[headerLen:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAttributes, err)
	}
	if err := checkMessageAuthenticator(b, secret); err != nil {
		return nil, err
	}
	r := &Request{Code: code, Identifier: b[1]}
	copy(r.Authenticator[:], b[4:headerLen])
	r.readAttributes(attrs)
	if r.Match.Empty() {
		r.nak(CauseMissingAttribute, "no session identification attribute (Acct-Session-Id, User-Name, NAS-Port, Framed-IP-Address, Calling-Station-Id, ...)")
	}
	if code == CodeCoARequest && r.Timeouts.Session == nil && r.Timeouts.Idle == nil {
		r.nak(CauseMissingAttribute, "nothing this NAS can change: a CoA-Request may change Session-Timeout and Idle-Timeout")
	}
	return r, nil
}

// checkMessageAuthenticator finds the one Message-Authenticator of a well-formed request and
// checks it: HMAC-MD5 over the packet with the Request Authenticator and the value taken as
// zero (RFC 5176 §3.5, RFC 3579 §3.2; as FreeRADIUS and hostapd compute it).
func checkMessageAuthenticator(b, secret []byte) error {
	at := -1
	for off := headerLen; off+2 <= len(b); off += int(b[off+1]) {
		if radius.Type(b[off]) != rfc.MessageAuthenticator_Type {
			continue
		}
		if at >= 0 || b[off+1] != 2+maLen {
			return ErrMA
		}
		at = off + 2
	}
	if at < 0 {
		return ErrNoMA
	}
	buf := append([]byte(nil), b...)
	clear(buf[4:headerLen])
	clear(buf[at : at+maLen])
	mac := hmac.New(md5.New, secret)
	mac.Write(buf)
	if !hmac.Equal(mac.Sum(nil), b[at:at+maLen]) {
		return ErrMA
	}
	return nil
}

func (r *Request) readAttributes(attrs radius.Attributes) {
	coa := r.Code == CodeCoARequest
	text := func(a *radius.AVP, name string) string {
		if len(a.Attribute) == 0 {
			r.nak(CauseInvalidValue, "%s is empty", name)
		}
		return string(a.Attribute)
	}
	integer := func(a *radius.AVP, name string) (uint32, bool) {
		if len(a.Attribute) != 4 {
			r.nak(CauseInvalidValue, "%s is %d octets, not 4", name, len(a.Attribute))
			return 0, false
		}
		return binary.BigEndian.Uint32(a.Attribute), true
	}
	addr := func(a *radius.AVP, name string) netip.Addr {
		if len(a.Attribute) != 4 {
			r.nak(CauseInvalidValue, "%s is %d octets, not 4", name, len(a.Attribute))
			return netip.Addr{}
		}
		return netip.AddrFrom4([4]byte(a.Attribute))
	}
	seen := map[radius.Type]bool{}
	for _, a := range attrs {
		// Session identification and the timeouts may appear once (RFC 5176 §3.6 table: 0-1).
		if seen[a.Type] && a.Type != rfc.ProxyState_Type && a.Type != rfc.ReplyMessage_Type && a.Type != rfc.VendorSpecific_Type {
			r.nak(CauseInvalidRequest, "attribute %d appears more than once", a.Type)
		}
		seen[a.Type] = true
		m := &r.Match
		switch a.Type {
		// Session identification (RFC 5176 §3).
		case rfc.AcctSessionID_Type:
			m.AcctSessionID = text(a, "Acct-Session-Id")
		case rfc.AcctMultiSessionID_Type:
			m.AcctMultiSessionID = text(a, "Acct-Multi-Session-Id")
		case rfc.UserName_Type:
			m.UserName = text(a, "User-Name")
		case rfc.NASPort_Type:
			if v, ok := integer(a, "NAS-Port"); ok {
				if v > 1<<20 {
					r.nak(CauseInvalidValue, "NAS-Port %d is no line of this NAS", v)
				} else {
					n := int(v)
					m.NASPort = &n
				}
			}
		case rfc.NASPortID_Type:
			m.NASPortID = text(a, "NAS-Port-Id")
		case rfc.FramedIPAddress_Type:
			m.FramedIP = addr(a, "Framed-IP-Address")
		case rfc.CallingStationID_Type:
			m.CallingStationID = text(a, "Calling-Station-Id")
		case rfc.CalledStationID_Type:
			m.CalledStationID = text(a, "Called-Station-Id")
		// NAS identification.
		case rfc.NASIdentifier_Type:
			r.NASIdentifier = text(a, "NAS-Identifier")
		case rfc.NASIPAddress_Type:
			r.NASIPAddress = addr(a, "NAS-IP-Address")
		// What a CoA changes.
		case rfc.SessionTimeout_Type, rfc.IdleTimeout_Type:
			name := "Session-Timeout"
			if a.Type == rfc.IdleTimeout_Type {
				name = "Idle-Timeout"
			}
			if !coa {
				r.nak(CauseUnsupportedAttribute, "%s in a Disconnect-Request", name)
				continue
			}
			if v, ok := integer(a, name); ok {
				d := time.Duration(v) * time.Second
				if a.Type == rfc.SessionTimeout_Type {
					r.Timeouts.Session = &d
				} else {
					r.Timeouts.Idle = &d
				}
			}
		case rfc.ServiceType_Type:
			v, ok := integer(a, "Service-Type")
			switch {
			case !ok:
			case !coa:
				// 405 must not answer a Disconnect-Request (RFC 5176 §3.5).
				r.nak(CauseUnsupportedAttribute, "Service-Type %v in a Disconnect-Request", rfc.ServiceType(v))
			case rfc.ServiceType(v) == rfc.ServiceType_Value_AuthorizeOnly:
				r.nak(CauseUnsupportedService, "Service-Type Authorize-Only: this NAS does not re-authorize sessions")
			default:
				r.nak(CauseUnsupportedService, "Service-Type %v", rfc.ServiceType(v))
			}
		// Carried, not acted on.
		case rfc.ProxyState_Type:
			r.ProxyStates = append(r.ProxyStates, append([]byte(nil), a.Attribute...))
		case rfc.EventTimestamp_Type:
			if v, ok := integer(a, "Event-Timestamp"); ok {
				r.EventTimestamp = time.Unix(int64(v), 0)
			}
		case rfc.MessageAuthenticator_Type, rfc.State_Type, rfc.ReplyMessage_Type:
		default:
			// Vendor-Specific, Filter-Id, Class, EAP, IPv6 identification, ...: the NAS cannot
			// act on them, and acting on part of a request would be wrong.
			r.nak(CauseUnsupportedAttribute, "attribute %d is not supported", a.Type)
		}
	}
}
