// Package aaa owns the normalized view of authentication and authorization: the Request a
// session builds from a call, the Profile a backend answers with, the Method interface every
// backend (local, RADIUS, TACACS+) implements, and IOS-style method lists that try them in order.
// Accounting lives in its own sub-packages.
package aaa

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"time"
)

// Service is what the caller is asking for, as in IOS `aaa authentication login|ppp|arap`.
type Service string

// Services.
const (
	ServiceLogin Service = "login" // EXEC (text login)
	ServicePPP   Service = "ppp"
	ServiceARAP  Service = "arap"
)

// Legs of a call. The values match session/event.LegFirst and LegCallback; aaa may not import
// session, so they are repeated here.
const (
	LegFirst    = "first"
	LegCallback = "callback"
)

// CHAPAlgorithm is the CHAP algorithm number carried in the LCP Authentication-Protocol option.
type CHAPAlgorithm uint8

// CHAP algorithms.
const (
	// CHAPMD5 is CHAP with MD5 (RFC 1994 §3). The zero value of CHAPAlgorithm also means MD5,
	// so a CHAP built without a Type is the one RFC 1994 defines.
	CHAPMD5 CHAPAlgorithm = 5
	// CHAPMSv2 is MS-CHAPv2 (RFC 2759 §2); verified by aaa/local, RADIUS and TACACS+.
	CHAPMSv2 CHAPAlgorithm = 0x81
)

// String names the algorithm for logs.
func (a CHAPAlgorithm) String() string {
	switch a {
	case 0, CHAPMD5:
		return "CHAP-MD5"
	case CHAPMSv2:
		return "MS-CHAPv2"
	}
	return "CHAP algorithm " + strconv.Itoa(int(a))
}

// CHAP is one CHAP exchange as the NAS saw it: the Challenge it sent and the peer's Response.
type CHAP struct {
	Type      CHAPAlgorithm // 0 or CHAPMD5 for MD5
	ID        byte          // the Identifier of the Challenge/Response (RFC 1994 §4.1)
	Challenge []byte        // the Challenge Value the NAS sent
	Response  []byte        // the peer's Response Value (16 bytes for MD5)
	// For MS-CHAPv2, Challenge is the 16-byte Authenticator Challenge and Response the
	// 49-byte Response Value: Peer-Challenge(16), Reserved(8), NT-Response(24), Flags(1)
	// (RFC 2759 §4).
}

// Prompter asks the user something mid-authentication: a RADIUS Access-Challenge, or a
// TACACS+ GETUSER/GETPASS/GETDATA reply. The EXEC dialog provides one; PPP and ARAP cannot
// (nil), and a backend that gets a challenge without a Prompter rejects.
type Prompter interface {
	// Prompt shows text to the user and returns the answer. echo=false hides what is typed.
	Prompt(ctx context.Context, text string, echo bool) (string, error)
}

// Request is one authentication or authorization request, built by a session from the call.
type Request struct {
	Service Service
	User    string
	// Password is the login or PAP password. Never log it.
	Password string
	// CHAP is set instead of Password for CHAP; backends compare it against a cleartext secret.
	CHAP *CHAP
	// Prompt, if not nil, lets a backend ask the user for more (challenge-response, TACACS+
	// ASCII login). Nil means the caller cannot answer a challenge.
	Prompt Prompter

	Line        int    // TTY number
	PortName    string // e.g. "tty3" (RADIUS NAS-Port-Id)
	CallerID    string // Calling-Station-Id
	CalledID    string // Called-Station-Id
	ConnectInfo string // the modem's CONNECT string
	// CallbackNumber is the number the caller asked to be called back at, if any; a hint that
	// backends may forward (RADIUS Callback-Number in the request).
	CallbackNumber string
	Leg            string // LegFirst or LegCallback
}

// Profile is what AAA decided about a user, normalized across backends.
type Profile struct {
	User string
	// Callback is nil when the user is not a callback user.
	Callback *Callback

	Address        netip.Addr // Framed-IP-Address; zero = from the pool or the line
	Pool           string     // Framed-Pool
	SessionTimeout time.Duration
	IdleTimeout    time.Duration
	Filter         string   // Filter-Id
	Class          [][]byte // RADIUS Class attributes, echoed in accounting
	Autocommand    string   // IOS autocommand, e.g. "ppp"
	ReplyMessage   string   // shown to the user
	// Routes are per-user routes to install while the session lasts (RADIUS Framed-Route,
	// TACACS+ route).
	Routes []Route
	// AuthenticatorResponse is the MS-CHAPv2 authenticator response ("S=" and 40 hex digits,
	// RFC 2759 §5) the server computed, for the Success packet; empty if the backend gave none.
	AuthenticatorResponse string
	// Netmask is RADIUS Framed-IP-Netmask; zero = unset (a point-to-point link needs none).
	Netmask netip.Addr
	// InterimInterval is how often to send Interim-Update accounting (RADIUS
	// Acct-Interim-Interval, at least 60 s per RFC 2869 §5.16); 0 = none asked for.
	InterimInterval time.Duration
	// MTU is RADIUS Framed-MTU; 0 = unset.
	MTU int
	// PortLimit is RADIUS Port-Limit, the most ports (links) the user may hold; 0 = unset.
	PortLimit int
	// PrivLevel is the EXEC privilege level AAA granted (TACACS+ priv-lvl, 0-15; IOS sends
	// priv-lvl=15 as a mandatory AV for administrators); 0 = unset. The NAS's EXEC has no
	// privileged commands, so it is carried for logs and accounting only.
	PrivLevel int
	// Source names the method that answered: "local", "radius 127.0.0.1:1812", ...
	Source string
}

// Route is one per-user route: traffic for Prefix goes to Gateway (zero = the user's link).
type Route struct {
	Prefix  netip.Prefix
	Gateway netip.Addr
}

// Callback is a user's callback entitlement (REFERENCE §1, §2).
type Callback struct {
	// Dialstring is the number to call; "" means the user supplies it.
	Dialstring string
	// Line is the TTY to call back on, Rotary the rotary group; 0 = unset.
	Line, Rotary int
	// NoVerify skips re-authentication on the callback leg (nocallback-verify).
	NoVerify bool
}

// Method is one AAA backend.
type Method interface {
	// Name identifies the method in logs and Profile.Source, e.g. "local".
	Name() string
	// Authenticate checks the credentials and, where the backend can, authorizes in the same
	// step. It returns an error wrapping ErrRejected or ErrUnreachable, or another error for
	// anything else (which also stops a method list).
	Authenticate(ctx context.Context, r *Request) (*Profile, error)
	// Authorize returns the user's profile without checking credentials (callback legs with
	// nocallback-verify, or authorization after another method authenticated).
	Authorize(ctx context.Context, r *Request) (*Profile, error)
}

// ErrRejected means the method answered and said no. Backends wrap it with a reason that must
// not tell an unknown user from a wrong password; the difference goes to the log only.
var ErrRejected = errors.New("rejected")

// ErrUnreachable means the method could not give an answer (server down, timeout). Only this
// makes a method list try the next method.
var ErrUnreachable = errors.New("unreachable")

// ErrNoMethods means a method list has no methods.
var ErrNoMethods = errors.New("no methods configured")

// RejectError is a rejection that may carry a message for the user (RADIUS Reply-Message on
// an Access-Reject, TACACS+ server_msg). errors.Is(err, ErrRejected) holds for it.
type RejectError struct {
	Method string // the method that rejected
	// Reason says why, for logs and the caller. It must read the same for an unknown user as
	// for a wrong password.
	Reason string
	// Message is what the server wants shown to the user; may be empty.
	Message string
}

// Error implements error.
func (e *RejectError) Error() string {
	s := e.Method + ": " + ErrRejected.Error()
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Unwrap makes errors.Is(err, ErrRejected) true.
func (e *RejectError) Unwrap() error { return ErrRejected }
