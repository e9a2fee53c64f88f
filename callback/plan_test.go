package callback

import (
	"strings"
	"testing"
	"time"

	"github.com/dialback/nas/aaa"
)

func TestPlan(t *testing.T) {
	user := func(cb *aaa.Callback) *aaa.Profile { return &aaa.Profile{User: "u", Callback: cb, Source: "local"} }
	fixed := &aaa.Callback{Dialstring: "5551234"}
	supplies := &aaa.Callback{} // callback-dialstring "": the user supplies the number
	line := LineInfo{Num: 3, Rotary: 1, ForcedWait: 4 * time.Second, NoDSRWait: 5 * time.Second, Script: "cb", Mode: ModeInout}
	exec := Settings{ExecCallback: true, PPPAccept: true, ARAPCallback: true, Leg: aaa.LegFirst}
	// waits fills in what every callback to line 3 carries.
	waits := func(d Decision) Decision {
		d.ForcedWait, d.NoDSRWait, d.Script = 4*time.Second, 5*time.Second, "cb"
		return d
	}
	same := Target{Line: 3, SameLine: true}

	tests := []struct {
		name   string
		p      *aaa.Profile
		a      Asked
		line   LineInfo
		s      Settings
		want   Decision // Reason excluded
		reason string   // substring of Reason
	}{
		// Entitlement.
		{name: "no profile", p: nil, a: Asked{Protocol: ProtocolExec}, line: line, s: exec,
			want: Decision{}, reason: "not a callback user"},
		{name: "not a callback user", p: user(nil), a: Asked{Protocol: ProtocolExec}, line: line, s: exec,
			want: Decision{}, reason: "not a callback user"},
		{name: "not entitled, asked, not secure", p: user(nil), a: Asked{Requested: true, Number: "5550000", Protocol: ProtocolPPP}, line: line, s: exec,
			want: Decision{}, reason: "request for callback is ignored"},
		{name: "not entitled, asked, secure", p: user(nil), a: Asked{Requested: true, Protocol: ProtocolPPP}, line: line, s: Settings{Secure: true, PPPAccept: true},
			want: Decision{Disconnect: true}, reason: "callback-secure"},
		{name: "not entitled, not asked, secure", p: user(nil), a: Asked{Protocol: ProtocolPPP}, line: line, s: Settings{Secure: true, PPPAccept: true},
			want: Decision{}, reason: "not a callback user"},
		{name: "secure does not touch entitled users", p: user(fixed), a: Asked{Requested: true, Protocol: ProtocolPPP}, line: line, s: Settings{Secure: true, PPPAccept: true},
			want: waits(Decision{Callback: true, Number: "5551234", Target: same}), reason: "dial string from AAA"},

		// Callback leg.
		{name: "callback leg never calls back", p: user(fixed), a: Asked{Protocol: ProtocolExec}, line: line, s: Settings{ExecCallback: true, Leg: aaa.LegCallback},
			want: Decision{}, reason: "callback leg never calls back"},
		{name: "callback leg, PPP asks again", p: user(fixed), a: Asked{Requested: true, Protocol: ProtocolPPP}, line: line, s: Settings{PPPAccept: true, PPPInitiate: true, Leg: aaa.LegCallback},
			want: Decision{}, reason: "callback leg never calls back"},
		{name: "callback leg with secure does not disconnect", p: user(nil), a: Asked{Requested: true, Protocol: ProtocolPPP}, line: line, s: Settings{Secure: true, PPPAccept: true, Leg: aaa.LegCallback},
			want: Decision{}, reason: "callback leg never calls back"},

		// EXEC.
		{name: "exec, fixed number", p: user(fixed), a: Asked{Protocol: ProtocolExec}, line: line, s: exec,
			want: waits(Decision{Callback: true, Number: "5551234", Target: same}), reason: "dial string from AAA"},
		{name: "exec, service exec-callback off", p: user(fixed), a: Asked{Protocol: ProtocolExec}, line: line, s: Settings{PPPAccept: true},
			want: Decision{}, reason: "service exec-callback is off"},
		{name: "exec, user supplies, prompt", p: user(supplies), a: Asked{Protocol: ProtocolExec}, line: line, s: exec,
			want: waits(Decision{Callback: true, NeedNumber: true, Target: same}), reason: "prompt for a number"},
		{name: "exec, user supplies, answered the prompt", p: user(supplies), a: Asked{Requested: true, Number: "5557777", Protocol: ProtocolExec}, line: line, s: exec,
			want: waits(Decision{Callback: true, Number: "5557777", Target: same}), reason: "using the caller's number"},
		{name: "exec, nocallback-verify", p: user(&aaa.Callback{Dialstring: "5551234", NoVerify: true}), a: Asked{Protocol: ProtocolExec}, line: line, s: exec,
			want: waits(Decision{Callback: true, Number: "5551234", Target: same, NoVerify: true}), reason: "dial string from AAA"},

		// Which number.
		{name: "AAA dial string wins over the caller's", p: user(fixed), a: Asked{Requested: true, Number: "5559999", Protocol: ProtocolPPP}, line: line, s: exec,
			want: waits(Decision{Callback: true, Number: "5551234", Target: same}), reason: `AAA dial string wins over the caller's number "5559999"`},
		{name: "caller offers the same number", p: user(fixed), a: Asked{Requested: true, Number: "5551234", Protocol: ProtocolPPP}, line: line, s: exec,
			want: waits(Decision{Callback: true, Number: "5551234", Target: same}), reason: "dial string from AAA"},
		{name: "ppp, user supplies, caller's number", p: user(supplies), a: Asked{Requested: true, Number: "5552222", Protocol: ProtocolPPP}, line: line, s: exec,
			want: waits(Decision{Callback: true, Number: "5552222", Target: same}), reason: "using the caller's number"},
		{name: "ppp, user supplies, no number: disconnect", p: user(supplies), a: Asked{Requested: true, Protocol: ProtocolPPP}, line: line, s: exec,
			want: waits(Decision{Disconnect: true, NeedNumber: true, Target: same}), reason: "PPP cannot prompt"},

		// PPP accept / initiate.
		{name: "ppp asked, accept off, initiate off", p: user(fixed), a: Asked{Requested: true, Protocol: ProtocolPPP}, line: line, s: Settings{ExecCallback: true},
			want: Decision{}, reason: "ppp callback accept is off"},
		{name: "ppp not asked, initiate off", p: user(fixed), a: Asked{Protocol: ProtocolPPP}, line: line, s: exec,
			want: Decision{}, reason: "ppp callback initiate is off"},
		{name: "ppp not asked, initiate on", p: user(fixed), a: Asked{Protocol: ProtocolPPP}, line: line, s: Settings{PPPInitiate: true},
			want: waits(Decision{Callback: true, Number: "5551234", Target: same}), reason: "ppp callback initiate is on"},
		{name: "ppp asked, accept off, initiate on", p: user(fixed), a: Asked{Requested: true, Protocol: ProtocolPPP}, line: line, s: Settings{PPPInitiate: true},
			want: waits(Decision{Callback: true, Number: "5551234", Target: same}), reason: "ppp callback initiate is on"},
		{name: "ppp initiate, no number anywhere: normal session", p: user(supplies), a: Asked{Protocol: ProtocolPPP}, line: line, s: Settings{PPPInitiate: true},
			want: waits(Decision{Target: same}), reason: "did not ask or give a number"},
		{name: "ppp ignores nocallback-verify", p: user(&aaa.Callback{Dialstring: "5551234", NoVerify: true}), a: Asked{Requested: true, Protocol: ProtocolPPP}, line: line, s: exec,
			want: waits(Decision{Callback: true, Number: "5551234", Target: same}), reason: "dial string from AAA"},

		// ARAP.
		{name: "arap callback on", p: user(fixed), a: Asked{Protocol: ProtocolARAP}, line: line, s: exec,
			want: waits(Decision{Callback: true, Number: "5551234", Target: same}), reason: "dial string from AAA"},
		{name: "arap callback off", p: user(fixed), a: Asked{Protocol: ProtocolARAP}, line: line, s: Settings{ExecCallback: true, PPPAccept: true},
			want: Decision{}, reason: "arap callback is off"},
		{name: "arap asked, no number: disconnect", p: user(supplies), a: Asked{Requested: true, Protocol: ProtocolARAP}, line: line, s: exec,
			want: waits(Decision{Disconnect: true, NeedNumber: true, Target: same}), reason: "ARAP cannot prompt"},
		{name: "unknown protocol", p: user(fixed), a: Asked{Requested: true, Protocol: "slip"}, line: line, s: exec,
			want: Decision{}, reason: `protocol "slip"`},

		// Which line.
		{name: "callback-line", p: user(&aaa.Callback{Dialstring: "5551234", Line: 7}), a: Asked{Protocol: ProtocolExec}, line: line, s: exec,
			want: waits(Decision{Callback: true, Number: "5551234", Target: Target{Line: 7}}), reason: "callback-line 7"},
		{name: "callback-line is the incoming line", p: user(&aaa.Callback{Dialstring: "5551234", Line: 3}), a: Asked{Protocol: ProtocolExec}, line: line, s: exec,
			want: waits(Decision{Callback: true, Number: "5551234", Target: same}), reason: "callback-line 3"},
		{name: "callback-rotary", p: user(&aaa.Callback{Dialstring: "5551234", Rotary: 2}), a: Asked{Protocol: ProtocolExec}, line: line, s: exec,
			want: waits(Decision{Callback: true, Number: "5551234", Target: Target{Rotary: 2}}), reason: "callback-rotary 2"},
		{name: "callback-line and callback-rotary: line wins", p: user(&aaa.Callback{Dialstring: "5551234", Line: 7, Rotary: 2}), a: Asked{Protocol: ProtocolExec}, line: line, s: exec,
			want: waits(Decision{Callback: true, Number: "5551234", Target: Target{Line: 7}}), reason: "both callback-line 7 and callback-rotary 2 are set: using callback-line"},
		{name: "same line", p: user(fixed), a: Asked{Protocol: ProtocolExec}, line: line, s: exec,
			want: waits(Decision{Callback: true, Number: "5551234", Target: same}), reason: "calling back on the same line"},
		{name: "same line is modem dialin", p: user(fixed), a: Asked{Protocol: ProtocolExec}, line: LineInfo{Num: 3, Mode: ModeDialin, ForcedWait: time.Second}, s: exec,
			want: Decision{}, reason: "line 3 is modem dialin"},
		{name: "dialin line, callback on another line", p: user(&aaa.Callback{Dialstring: "5551234", Line: 7}), a: Asked{Protocol: ProtocolExec}, line: LineInfo{Num: 3, Mode: ModeDialin, ForcedWait: time.Second},
			s: exec, want: Decision{Callback: true, Number: "5551234", Target: Target{Line: 7}, ForcedWait: time.Second}, reason: "callback-line 7"},

		// Line configuration carried through.
		{name: "empty script still calls back", p: user(fixed), a: Asked{Protocol: ProtocolExec}, line: LineInfo{Num: 5, NoDSRWait: 2 * time.Second}, s: exec,
			want: Decision{Callback: true, Number: "5551234", Target: Target{Line: 5, SameLine: true}, NoDSRWait: 2 * time.Second}, reason: "dial string from AAA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Plan(tt.p, tt.a, tt.line, tt.s)
			if got.Reason == "" {
				t.Error("Reason is empty")
			}
			if !strings.Contains(got.Reason, tt.reason) {
				t.Errorf("Reason = %q, want it to contain %q", got.Reason, tt.reason)
			}
			got.Reason = ""
			if got != tt.want {
				t.Errorf("Plan =\n %+v\nwant\n %+v", got, tt.want)
			}
			if got.Callback && got.Disconnect {
				t.Error("both Callback and Disconnect")
			}
			if got.NeedNumber && got.Number != "" {
				t.Error("NeedNumber with a number")
			}
			if got.Callback && !got.NeedNumber && got.Number == "" {
				t.Error("Callback without a number or NeedNumber")
			}
		})
	}
}

// The user-supplies flow for EXEC: the first Plan asks for a number, the second (with the
// number the user typed) calls back, and everything else stays the same.
func TestPlanExecPromptThenCall(t *testing.T) {
	p := &aaa.Profile{User: "u", Callback: &aaa.Callback{Rotary: 4}}
	line := LineInfo{Num: 2, ForcedWait: time.Second, Script: "dial"}
	s := Settings{ExecCallback: true, Leg: aaa.LegFirst}
	first := Plan(p, Asked{Protocol: ProtocolExec}, line, s)
	if !first.Callback || !first.NeedNumber || first.Number != "" {
		t.Fatalf("first Plan = %+v, want a prompt", first)
	}
	second := Plan(p, Asked{Requested: true, Number: "5553333", Protocol: ProtocolExec}, line, s)
	if !second.Callback || second.NeedNumber || second.Number != "5553333" {
		t.Fatalf("second Plan = %+v, want a callback to 5553333", second)
	}
	if first.Target != second.Target || first.Target != (Target{Rotary: 4}) || second.Script != "dial" {
		t.Errorf("target or script changed between the two plans: %+v vs %+v", first, second)
	}
}

// Plan must not keep or change what it is given.
func TestPlanDoesNotModifyProfile(t *testing.T) {
	cb := &aaa.Callback{Dialstring: "", Line: 1, Rotary: 2, NoVerify: true}
	p := &aaa.Profile{User: "u", Callback: cb}
	Plan(p, Asked{Requested: true, Number: "5551111", Protocol: ProtocolExec}, LineInfo{Num: 1}, Settings{ExecCallback: true})
	if *cb != (aaa.Callback{Line: 1, Rotary: 2, NoVerify: true}) {
		t.Errorf("profile changed: %+v", *cb)
	}
}
