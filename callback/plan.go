// Package callback owns asynchronous callback: the policy that decides whether, where and how
// a caller is called back (Plan, a pure function of the AAA profile, what the caller asked,
// the line and the global switches), and the engine that hangs up and dials back.
// The model is Cisco IOS "Configuring Asynchronous Callback" (REFERENCE §1).
package callback

import (
	"fmt"
	"strings"
	"time"

	"github.com/dialback/nas/aaa"
)

// Protocols in Asked.Protocol.
const (
	ProtocolExec = "exec"
	ProtocolPPP  = "ppp"
	ProtocolARAP = "arap"
)

// Modem modes in LineInfo.Mode (IOS `modem inout|dialin`).
const (
	ModeInout  = "inout"
	ModeDialin = "dialin"
)

// Asked is what the caller asked for.
type Asked struct {
	// Requested: the caller asked for callback (RFC 1570 LCP option 13, CBCP, the EXEC prompt).
	Requested bool
	// Number is the number the caller offered; may be empty.
	Number string
	// Protocol is ProtocolExec, ProtocolPPP or ProtocolARAP.
	Protocol string
}

// LineInfo is the configuration of the line the call came in on.
type LineInfo struct {
	Num, Rotary int
	// ForcedWait and NoDSRWait are IOS `callback forced-wait` and `callback nodsr-wait`.
	ForcedWait, NoDSRWait time.Duration
	// Script is the line's `script callback` chat script name; empty = the dialler's default.
	Script string
	// Mode is ModeInout or ModeDialin.
	Mode string
}

// Settings are the switches that allow callback, and which leg of the call this is.
type Settings struct {
	ExecCallback bool   // IOS `service exec-callback`
	Secure       bool   // IOS `callback-secure`
	PPPAccept    bool   // IOS `ppp callback accept`: honour the caller's request
	PPPInitiate  bool   // IOS `ppp callback initiate`: call back entitled users who did not ask
	ARAPCallback bool   // IOS `arap callback`
	Leg          string // aaa.LegFirst or aaa.LegCallback
}

// Target is where the callback is dialled from: a TTY, or a free line of a rotary group.
type Target struct {
	Line   int // 0 when Rotary is set
	Rotary int // 0 when Line is set
	// SameLine: the target is the incoming line, which the dialler keeps reserved meanwhile.
	SameLine bool
}

// Decision is the outcome of Plan.
type Decision struct {
	// Callback: hang up and call back (for EXEC with NeedNumber, after prompting for a number).
	Callback bool
	// Disconnect: hang up without a callback and without a normal session.
	Disconnect bool
	// Number is the number to dial; empty when NeedNumber.
	Number string
	// NeedNumber: no number is known. EXEC prompts the user (Callback is true) and then calls
	// Plan again with Asked.Number set. PPP and ARAP cannot prompt, so Disconnect is set; a PPP
	// session that can still get one (CBCP "user-specified") should ask there and call Plan again.
	NeedNumber bool
	// Target, the waits, Script and NoVerify are set whenever the user is entitled to callback
	// and the protocol allows it, even if no number is known yet. The waits and Script are the
	// incoming line's; the dialler may prefer the target line's own `script callback`.
	Target                Target
	ForcedWait, NoDSRWait time.Duration
	Script                string
	// NoVerify: the EXEC callback leg skips re-authentication (nocallback-verify). Never set
	// for PPP or ARAP, which always authenticate again (REFERENCE §1).
	NoVerify bool
	// Reason says why, for logs and events; always set.
	Reason string
}

// Plan decides whether and how to call the caller back. It is pure: it does not check that the
// target line is free or can dial (the dialler does), except that it will not call back on the
// incoming line itself when that line is `modem dialin`.
func Plan(p *aaa.Profile, a Asked, line LineInfo, s Settings) Decision {
	var d Decision
	var why []string
	done := func() Decision {
		d.Reason = strings.Join(why, "; ")
		return d
	}

	// A callback leg never calls back: that is how a callback loop is avoided.
	if s.Leg == aaa.LegCallback {
		why = append(why, "callback leg never calls back")
		return done()
	}

	if p == nil || p.Callback == nil {
		switch {
		case a.Requested && s.Secure:
			d.Disconnect = true
			why = append(why, "callback-secure: the caller asked for callback but is not a callback user")
		case a.Requested:
			why = append(why, "not a callback user; the caller's request for callback is ignored")
		default:
			why = append(why, "not a callback user")
		}
		return done()
	}
	cb := p.Callback

	switch a.Protocol {
	case ProtocolExec:
		if !s.ExecCallback {
			why = append(why, "service exec-callback is off")
			return done()
		}
	case ProtocolPPP:
		switch {
		case a.Requested && s.PPPAccept:
			why = append(why, "the caller asked and ppp callback accept is on")
		case s.PPPInitiate && a.Requested:
			why = append(why, "ppp callback accept is off but ppp callback initiate is on")
		case s.PPPInitiate:
			why = append(why, "the caller did not ask; ppp callback initiate is on")
		case a.Requested:
			why = append(why, "the caller asked for callback but ppp callback accept is off")
			return done()
		default:
			why = append(why, "the caller did not ask for callback and ppp callback initiate is off")
			return done()
		}
	case ProtocolARAP:
		if !s.ARAPCallback {
			why = append(why, "arap callback is off")
			return done()
		}
	default:
		why = append(why, fmt.Sprintf("no callback for protocol %q", a.Protocol))
		return done()
	}

	switch {
	case cb.Line > 0 && cb.Rotary > 0:
		d.Target = Target{Line: cb.Line}
		why = append(why, fmt.Sprintf("both callback-line %d and callback-rotary %d are set: using callback-line",
			cb.Line, cb.Rotary))
	case cb.Line > 0:
		d.Target = Target{Line: cb.Line}
		why = append(why, fmt.Sprintf("callback-line %d", cb.Line))
	case cb.Rotary > 0:
		d.Target = Target{Rotary: cb.Rotary}
		why = append(why, fmt.Sprintf("callback-rotary %d", cb.Rotary))
	default:
		d.Target = Target{Line: line.Num}
		why = append(why, "no callback-line or callback-rotary: calling back on the same line")
	}
	d.Target.SameLine = d.Target.Line != 0 && d.Target.Line == line.Num
	if d.Target.SameLine && line.Mode == ModeDialin {
		d.Target = Target{}
		why = append(why, fmt.Sprintf("line %d is modem dialin and cannot dial: no callback", line.Num))
		return done()
	}
	d.ForcedWait, d.NoDSRWait, d.Script = line.ForcedWait, line.NoDSRWait, line.Script
	// IOS: nocallback-verify is for EXEC callback; PPP always authenticates on the callback leg.
	d.NoVerify = cb.NoVerify && a.Protocol == ProtocolExec

	switch {
	case cb.Dialstring != "":
		d.Callback, d.Number = true, cb.Dialstring
		if a.Number != "" && a.Number != cb.Dialstring {
			why = append(why, fmt.Sprintf("AAA dial string wins over the caller's number %q", a.Number))
		} else {
			why = append(why, "dial string from AAA")
		}
	case a.Number != "":
		d.Callback, d.Number = true, a.Number
		why = append(why, "dial string empty: using the caller's number")
	case a.Protocol == ProtocolExec:
		d.Callback, d.NeedNumber = true, true
		why = append(why, "dial string empty and the caller gave none: prompt for a number")
	case !a.Requested:
		// Initiated callback to a caller who did not ask and whose number nobody knows: the
		// caller is not waiting to be called, so give a normal session rather than hang up.
		why = append(why, "dial string empty and the caller did not ask or give a number: no callback")
	default:
		d.Disconnect, d.NeedNumber = true, true
		why = append(why, fmt.Sprintf("dial string empty and the caller gave none: %s cannot prompt, disconnecting",
			strings.ToUpper(a.Protocol)))
	}
	return done()
}
