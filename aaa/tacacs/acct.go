package tacacs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	tq "github.com/facebookincubator/tacquito"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/acct"
)

// Accounting REQUEST flags (RFC 8907 §7.1, §7.2): a START, a STOP, or a WATCHDOG; WATCHDOG
// with START is a watchdog carrying updated counters.
const (
	acctFlagStart    = 0x02
	acctFlagStop     = 0x04
	acctFlagWatchdog = 0x08
)

// Accounting REPLY statuses (RFC 8907 §7.2).
const (
	acctSuccess = 0x01
	acctError   = 0x02
	acctFollow  = 0x21 // deprecated by RFC 8907
)

// discCause maps an RFC 2866 terminate cause onto the Cisco disconnect-cause code IOS sends
// in the TACACS+ disc-cause AV (Cisco "RADIUS Disconnect-Cause Attribute Values").
// UserRequest depends on the service and is handled in discCauseFor.
var discCause = map[acct.Cause]int{
	acct.CauseLostCarrier:    11, // Lost-Carrier
	acct.CauseLostService:    3,  // Call-Disconnect
	acct.CauseIdleTimeout:    21, // Idle-Timeout
	acct.CauseSessionTimeout: 100,
	acct.CauseAdminReset:     3,
	acct.CauseAdminReboot:    3,
	acct.CausePortError:      2, // Unknown
	acct.CauseNASError:       2,
	acct.CauseNASRequest:     3,
	acct.CauseNASReboot:      3,
	acct.CausePortUnneeded:   3,
	acct.CausePortPreempted:  3,
	acct.CausePortSuspended:  3,
	acct.CauseServiceUnavail: 33,  // Insufficient-Resources
	acct.CauseCallback:       102, // Session-End-Callback
	acct.CauseUserError:      2,
	acct.CauseHostRequest:    3,
}

// discCauseFor returns the disc-cause code of a Stop, 0 if the record has no cause.
func discCauseFor(service string, c acct.Cause) int {
	if c == acct.CauseUserRequest {
		if service == string(aaa.ServicePPP) {
			return 45 // PPP-Remote-Terminate: the peer's LCP Terminate-Request
		}
		return 20 // User-Ends-Session
	}
	return discCause[c]
}

// acctArgs renders a record as accounting arguments (RFC 8907 §8.3 and the IOS accounting
// AVs). Every leg is its own task: task_id is the leg's session id.
func acctArgs(rec acct.Record) []AV {
	avs := []AV{
		{Attr: "task_id", Value: asciiText(rec.SessionID)},
		{Attr: "timezone", Value: "UTC"},
	}
	switch rec.Service {
	case string(aaa.ServicePPP):
		avs = append(avs, AV{Attr: "service", Value: "ppp"}, AV{Attr: "protocol", Value: "ip"})
	case string(aaa.ServiceARAP):
		avs = append(avs, AV{Attr: "service", Value: "arap"}, AV{Attr: "protocol", Value: "atalk"})
	default:
		avs = append(avs, AV{Attr: "service", Value: "shell"})
	}
	if !rec.StartTime.IsZero() {
		avs = append(avs, AV{Attr: "start_time", Value: strconv.FormatInt(rec.StartTime.Unix(), 10)})
	}
	if rec.Address.IsValid() {
		avs = append(avs, AV{Attr: "addr", Value: rec.Address.String()})
	}
	if rec.Type == acct.Stop || rec.Type == acct.Interim {
		avs = append(avs,
			AV{Attr: "elapsed_time", Value: strconv.FormatInt(int64(rec.SessionTime.Seconds()), 10)},
			AV{Attr: "bytes_in", Value: strconv.FormatUint(rec.InOctets, 10)},
			AV{Attr: "bytes_out", Value: strconv.FormatUint(rec.OutOctets, 10)},
			AV{Attr: "paks_in", Value: strconv.FormatUint(rec.InPackets, 10)},
			AV{Attr: "paks_out", Value: strconv.FormatUint(rec.OutPackets, 10)},
		)
	}
	if rec.Type == acct.Stop {
		if !rec.Time.IsZero() {
			avs = append(avs, AV{Attr: "stop_time", Value: strconv.FormatInt(rec.Time.Unix(), 10)})
		}
		if dc := discCauseFor(rec.Service, rec.Cause); dc != 0 {
			avs = append(avs, AV{Attr: "disc-cause", Value: strconv.Itoa(dc)})
		}
	}
	return avs
}

func acctFlags(t acct.Type) (tq.AcctRequestFlag, error) {
	switch t {
	case acct.Start:
		return acctFlagStart, nil
	case acct.Stop:
		return acctFlagStop, nil
	case acct.Interim:
		return acctFlagWatchdog | acctFlagStart, nil
	}
	return 0, fmt.Errorf("record type %d is not Start, Stop or Interim-Update", t)
}

// decodeAcctReply decodes server_msg_len(2) data_len(2) status(1) server_msg data.
func decodeAcctReply(b []byte, tls bool) (status byte, msg string, err error) {
	if len(b) < 5 {
		return 0, "", undecodable(tls, fmt.Sprintf("accounting reply of %d bytes is shorter than 5", len(b)))
	}
	msgLen := int(binary.BigEndian.Uint16(b[0:2]))
	dataLen := int(binary.BigEndian.Uint16(b[2:4]))
	if 5+msgLen+dataLen != len(b) {
		return 0, "", undecodable(tls, fmt.Sprintf("accounting reply fields add up to %d bytes, the body has %d", 5+msgLen+dataLen, len(b)))
	}
	switch b[4] {
	case acctSuccess, acctError, acctFollow:
	default:
		return 0, "", undecodable(tls, fmt.Sprintf("accounting reply has unknown status %#x", b[4]))
	}
	return b[4], string(b[5 : 5+msgLen]), nil
}

var _ acct.Destination = (*Client)(nil)

// Deliver sends one accounting record to the first server of the group that takes it, so
// that the Client is an accounting spool destination (acct.Destination). Every failure to
// deliver (no server, a server ERROR, a garbled reply or a wrong secret) is temporary and
// wraps aaa.ErrUnreachable, so the spool keeps the record and retries; only a record that
// cannot be encoded at all wraps acct.ErrPermanent.
func (c *Client) Deliver(ctx context.Context, rec acct.Record) error {
	log := c.log.With("user", rec.User, "session", rec.SessionID, "type", rec.Type.String(), "seq", rec.Seq)
	flags, err := acctFlags(rec.Type)
	if err != nil {
		return acct.Permanent(fmt.Errorf("tacacs+ accounting of record %d: %w", rec.Seq, err))
	}
	avs := acctArgs(rec)
	args := make(tq.Args, 0, len(avs))
	for _, av := range avs {
		s := av.String()
		if len(s) > maxAVLen {
			s = s[:maxAVLen]
		}
		args = append(args, tq.Arg(s))
	}
	body, err := tq.NewAcctRequest(
		tq.SetAcctRequestFlag(flags),
		tq.SetAcctRequestMethod(tq.AuthenMethodNotSet),
		tq.SetAcctRequestPrivLvl(tq.PrivLvlUser),
		tq.SetAcctRequestType(tq.AuthenTypeNotSet),
		tq.SetAcctRequestService(authenService(aaa.Service(rec.Service))),
		tq.SetAcctRequestUser(tq.AuthenUser(asciiText(rec.User))),
		tq.SetAcctRequestPort(tq.AuthenPort(portName(&aaa.Request{PortName: rec.PortName, Line: rec.Line}))),
		tq.SetAcctRequestRemAddr(tq.AuthenRemAddr(asciiText(rec.CallerID))),
		tq.SetAcctRequestArgs(args),
	).MarshalBinary()
	if err != nil {
		return acct.Permanent(fmt.Errorf("tacacs+ accounting of record %d: encoding REQUEST: %w", rec.Seq, err))
	}
	srv, err := c.run(ctx, "accounting", tq.Accounting, minorDefault, log, func(s *session) error {
		b, err := s.exchange(body)
		if err != nil {
			return err
		}
		status, msg, err := decodeAcctReply(b, s.c.tls)
		if err != nil {
			return err
		}
		s.done = true
		switch status {
		case acctSuccess:
			return nil
		case acctFollow:
			return fmt.Errorf("%w: accounting: FOLLOW (deprecated by RFC 8907) is not supported", ErrServerError)
		}
		return fmt.Errorf("%w: accounting: %q", ErrServerError, msg)
	})
	if err != nil {
		if !errors.Is(err, aaa.ErrUnreachable) && ctxErr(ctx) == nil {
			// Wrong secret, server ERROR: still worth another try once it is fixed; the spool
			// must not drop the record.
			err = fmt.Errorf("%w: %w", aaa.ErrUnreachable, err)
		}
		return err
	}
	log.Debug("tacacs+ accounting delivered", "server", srv.addr)
	return nil
}
