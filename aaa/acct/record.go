package acct

import (
	"net/netip"
	"time"
)

// Type is the kind of an accounting record (RFC 2866 §5.1 Acct-Status-Type).
type Type int

// Record types (RFC 2866 §5.1).
const (
	Start   Type = 1
	Stop    Type = 2
	Interim Type = 3 // Interim-Update (RFC 2869 §2.1)
)

func (t Type) String() string {
	switch t {
	case Start:
		return "Start"
	case Stop:
		return "Stop"
	case Interim:
		return "Interim-Update"
	}
	return "Unknown"
}

// Cause is why a leg ended (RFC 2866 §5.10 Acct-Terminate-Cause values).
type Cause int

// Terminate causes (RFC 2866 §5.10).
const (
	CauseUserRequest    Cause = 1
	CauseLostCarrier    Cause = 2
	CauseLostService    Cause = 3
	CauseIdleTimeout    Cause = 4
	CauseSessionTimeout Cause = 5
	CauseAdminReset     Cause = 6
	CauseAdminReboot    Cause = 7
	CausePortError      Cause = 8
	CauseNASError       Cause = 9
	CauseNASRequest     Cause = 10
	CauseNASReboot      Cause = 11
	CausePortUnneeded   Cause = 12
	CausePortPreempted  Cause = 13
	CausePortSuspended  Cause = 14
	CauseServiceUnavail Cause = 15
	CauseCallback       Cause = 16
	CauseUserError      Cause = 17
	CauseHostRequest    Cause = 18
)

var causeNames = map[Cause]string{
	CauseUserRequest: "User-Request", CauseLostCarrier: "Lost-Carrier", CauseLostService: "Lost-Service",
	CauseIdleTimeout: "Idle-Timeout", CauseSessionTimeout: "Session-Timeout", CauseAdminReset: "Admin-Reset",
	CauseAdminReboot: "Admin-Reboot", CausePortError: "Port-Error", CauseNASError: "NAS-Error",
	CauseNASRequest: "NAS-Request", CauseNASReboot: "NAS-Reboot", CausePortUnneeded: "Port-Unneeded",
	CausePortPreempted: "Port-Preempted", CausePortSuspended: "Port-Suspended",
	CauseServiceUnavail: "Service-Unavailable", CauseCallback: "Callback", CauseUserError: "User-Error",
	CauseHostRequest: "Host-Request",
}

// String is the RFC 2866 name of the cause ("Lost-Carrier").
func (c Cause) String() string {
	if n, ok := causeNames[c]; ok {
		return n
	}
	return "Unknown"
}

// Record is one accounting record of one leg of a call. Every destination (RADIUS, TACACS+,
// exporters) renders it in its own form; nothing else travels between the session and them.
type Record struct {
	// Seq is the spool's sequence number, assigned when the record is appended (1, 2, ...).
	Seq  uint64 `json:"seq"`
	Type Type   `json:"type"`
	// Time is when the event happened (not when it was delivered).
	Time time.Time `json:"time"`
	// SessionID is unique per leg, across restarts (RFC 2866 Acct-Session-Id).
	SessionID string `json:"session_id"`
	// MultiSessionID links the legs of one callback (RFC 2866 Acct-Multi-Session-Id): the first
	// leg's SessionID.
	MultiSessionID string     `json:"multi_session_id,omitempty"`
	Leg            string     `json:"leg"` // first | callback
	User           string     `json:"user,omitempty"`
	Service        string     `json:"service"` // login | ppp | arap
	Line           int        `json:"line"`
	PortName       string     `json:"port_name,omitempty"` // NAS-Port-Id, "tty3"
	CallerID       string     `json:"caller_id,omitempty"`
	CalledID       string     `json:"called_id,omitempty"`
	ConnectInfo    string     `json:"connect_info,omitempty"`
	Address        netip.Addr `json:"address,omitzero"`
	Class          [][]byte   `json:"class,omitempty"`
	// StartTime is when the leg started; SessionTime is how long it has lasted at Time.
	StartTime   time.Time     `json:"start_time"`
	SessionTime time.Duration `json:"session_time"`
	InOctets    uint64        `json:"in_octets"`
	OutOctets   uint64        `json:"out_octets"`
	InPackets   uint64        `json:"in_packets"`
	OutPackets  uint64        `json:"out_packets"`
	// Cause is set on Stop records.
	Cause Cause `json:"cause,omitempty"`
}
