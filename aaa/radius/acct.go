package radius

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"layeh.com/radius"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/acct"
	"github.com/dialback/nas/dictionaries/rfc"
)

// ErrBadRecord means an accounting record cannot be sent at all (unknown type, no session
// id). It is permanent: retrying will not help. Errors from Deliver that wrap
// aaa.ErrUnreachable are temporary.
var ErrBadRecord = fmt.Errorf("accounting record cannot be sent: %w", acct.ErrPermanent)

// Deliver sends one accounting record as an Accounting-Request (RFC 2866) and returns when a
// server of the group acknowledged it with a verified Accounting-Response. Every try is a new
// packet with a new Identifier, because Acct-Delay-Time (now - rec.Time) changes (RFC 2866
// §5.2); a late answer to an earlier try still counts. Errors wrap aaa.ErrUnreachable
// (temporary: keep the record and retry) or ErrBadRecord (permanent).
func (c *Client) Deliver(ctx context.Context, rec acct.Record) error {
	if err := checkRecord(&rec); err != nil {
		return fmt.Errorf("%s: accounting %s of session %q: %w", c.name, rec.Type, rec.SessionID, err)
	}
	mk := accountingRequest(func(p *radius.Packet) { c.acctAttrs(p, &rec, c.now()) })
	if _, _, err := c.send(ctx, portAcct, nil, mk); err != nil {
		if errors.Is(err, errEncode) {
			err = fmt.Errorf("%w: %w", ErrBadRecord, err)
		}
		return fmt.Errorf("%s: accounting %s of session %q: %w", c.name, rec.Type, rec.SessionID, err)
	}
	return nil
}

// AccountingOnOff tells the group's servers that the NAS starts (on) or stops (off)
// accounting (RFC 2866 §5.1 Accounting-On, Accounting-Off), so that they can close the
// sessions a crash left open. Call it at start and at an orderly stop. Errors wrap
// aaa.ErrUnreachable.
func (c *Client) AccountingOnOff(ctx context.Context, on bool) error {
	status, what := rfc.AcctStatusType_Value_AccountingOn, "Accounting-On"
	if !on {
		status, what = rfc.AcctStatusType_Value_AccountingOff, "Accounting-Off"
	}
	at := c.now()
	mk := accountingRequest(func(p *radius.Packet) {
		addInt(p, rfc.AcctStatusType_Type, uint32(status))
		// RFC 2866 §5.5 wants an Acct-Session-Id in every request; none belongs to a
		// session here, so it names the moment.
		addString(p, rfc.AcctSessionID_Type, fmt.Sprintf("%08X", at.Unix()))
		c.nasAttrs(p)
		addInt(p, rfc.EventTimestamp_Type, clamp32(at.Unix()))
		addInt(p, rfc.AcctDelayTime_Type, clamp32(int64(c.now().Sub(at)/time.Second)))
	})
	if _, _, err := c.send(ctx, portAcct, nil, mk); err != nil {
		return fmt.Errorf("%s: %s: %w", c.name, what, err)
	}
	return nil
}

// accountingRequest returns the builder of an Accounting-Request for a server: fill's
// attributes are rendered anew on every try, so that each carries the Acct-Delay-Time of its
// own moment under a new Identifier (RFC 2866 §5.2).
func accountingRequest(fill func(*radius.Packet)) func(*endpoint) (*request, error) {
	return func(ep *endpoint) (*request, error) {
		return &request{
			build: func(id byte) ([]byte, error) {
				p := &radius.Packet{Code: radius.CodeAccountingRequest, Identifier: id, Secret: ep.secret}
				fill(p)
				// Encode computes the Request Authenticator over the packet (RFC 2866 §3).
				return p.Encode()
			},
			rebuild: true,
			rules:   replyRules{codes: []radius.Code{radius.CodeAccountingResponse}},
		}, nil
	}
}

func checkRecord(rec *acct.Record) error {
	switch rec.Type {
	case acct.Start, acct.Stop, acct.Interim:
	default:
		return fmt.Errorf("%w: record type %d", ErrBadRecord, int(rec.Type))
	}
	if rec.SessionID == "" {
		return fmt.Errorf("%w: no session id (Acct-Session-Id is required, RFC 2866 §5.5)", ErrBadRecord)
	}
	return nil
}

// acctAttrs renders rec as accounting attributes, with Acct-Delay-Time as of now.
func (c *Client) acctAttrs(p *radius.Packet, rec *acct.Record, now time.Time) {
	addInt(p, rfc.AcctStatusType_Type, uint32(rec.Type)) // acct.Type values are RFC 2866 §5.1's
	addString(p, rfc.AcctSessionID_Type, rec.SessionID)
	if rec.MultiSessionID != "" {
		addString(p, rfc.AcctMultiSessionID_Type, rec.MultiSessionID)
	}
	if rec.User != "" {
		addString(p, rfc.UserName_Type, rec.User)
	}
	c.nasAttrs(p)
	if rec.Line >= 0 {
		addInt(p, rfc.NASPort_Type, uint32(rec.Line))
	}
	addString(p, rfc.NASPortID_Type, portID(rec.PortName, rec.Line))
	addInt(p, rfc.NASPortType_Type, uint32(rfc.NASPortType_Value_Async))
	switch svc := aaa.Service(rec.Service); svc {
	case aaa.ServicePPP:
		addInt(p, rfc.ServiceType_Type, uint32(serviceType(svc)))
		addInt(p, rfc.FramedProtocol_Type, uint32(rfc.FramedProtocol_Value_PPP))
	case aaa.ServiceARAP:
		addInt(p, rfc.ServiceType_Type, uint32(serviceType(svc)))
		addInt(p, rfc.FramedProtocol_Type, uint32(rfc.FramedProtocol_Value_ARAP))
	case aaa.ServiceLogin:
		addInt(p, rfc.ServiceType_Type, uint32(serviceType(svc)))
	}
	if rec.CallerID != "" {
		addString(p, rfc.CallingStationID_Type, rec.CallerID)
	}
	if rec.CalledID != "" {
		addString(p, rfc.CalledStationID_Type, rec.CalledID)
	}
	if rec.ConnectInfo != "" {
		addString(p, rfc.ConnectInfo_Type, rec.ConnectInfo)
	}
	if rec.Address.Is4() {
		a := rec.Address.As4()
		p.Add(rfc.FramedIPAddress_Type, radius.Attribute(a[:]))
	}
	if !rec.Time.IsZero() {
		addInt(p, rfc.EventTimestamp_Type, clamp32(rec.Time.Unix())) // RFC 2869 §5.3
	}
	var delay int64
	if !rec.Time.IsZero() {
		delay = int64(now.Sub(rec.Time) / time.Second)
	}
	addInt(p, rfc.AcctDelayTime_Type, clamp32(delay)) // RFC 2866 §5.2
	if rec.Type == acct.Start {
		addClasses(p, rec.Class) // counters and times belong to Interim-Update and Stop
		return
	}
	addInt(p, rfc.AcctSessionTime_Type, clamp32(int64(rec.SessionTime/time.Second)))
	// RFC 2866 §5.3-5.4 carry the low 32 bits, RFC 2869 §5.1-5.2 the times they wrapped.
	addInt(p, rfc.AcctInputOctets_Type, uint32(rec.InOctets))
	addInt(p, rfc.AcctOutputOctets_Type, uint32(rec.OutOctets))
	if g := rec.InOctets >> 32; g > 0 {
		addInt(p, rfc.AcctInputGigawords_Type, uint32(min(g, math.MaxUint32)))
	}
	if g := rec.OutOctets >> 32; g > 0 {
		addInt(p, rfc.AcctOutputGigawords_Type, uint32(min(g, math.MaxUint32)))
	}
	// Packet counters have no gigawords: saturate rather than wrap.
	addInt(p, rfc.AcctInputPackets_Type, uint32(min(rec.InPackets, math.MaxUint32)))
	addInt(p, rfc.AcctOutputPackets_Type, uint32(min(rec.OutPackets, math.MaxUint32)))
	if rec.Type == acct.Stop && rec.Cause != 0 {
		addInt(p, rfc.AcctTerminateCause_Type, uint32(rec.Cause)) // acct.Cause values are RFC 2866 §5.10's
	}
	addClasses(p, rec.Class)
}

// addClasses echoes the Class attributes as received (RFC 2865 §5.25), last and only as many
// as fit in one packet: a server that sent too many must not cost the record.
func addClasses(p *radius.Packet, classes [][]byte) {
	size, _ := radius.AttributesEncodedLen(p.Attributes)
	for _, cl := range classes {
		if len(cl) > 253 || headerLen+size+2+len(cl) > radius.MaxPacketLength {
			continue
		}
		p.Add(rfc.Class_Type, radius.Attribute(cl))
		size += 2 + len(cl)
	}
}

func clamp32(v int64) uint32 {
	if v < 0 {
		return 0
	}
	return uint32(min(v, math.MaxUint32))
}
