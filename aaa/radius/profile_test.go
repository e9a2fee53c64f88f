package radius

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"layeh.com/radius"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/dictionaries/ascend"
	"github.com/dialback/nas/dictionaries/cisco"
	"github.com/dialback/nas/dictionaries/microsoft"
	"github.com/dialback/nas/dictionaries/rfc"
)

// accept builds an Access-Accept with the attributes the functions add.
func accept(adds ...func(*radius.Packet)) *radius.Packet {
	p := &radius.Packet{Code: radius.CodeAccessAccept, Secret: []byte(testSecret)}
	for _, a := range adds {
		a(p)
	}
	return p
}

func av(s string) func(*radius.Packet) {
	return func(p *radius.Packet) { must(cisco.CiscoAVPair_AddString(p, s)) }
}
func cbNumber(s string) func(*radius.Packet) {
	return func(p *radius.Packet) { must(rfc.CallbackNumber_AddString(p, s)) }
}
func svc(st rfc.ServiceType) func(*radius.Packet) {
	return func(p *radius.Packet) { must(rfc.ServiceType_Add(p, st)) }
}
func raw(t radius.Type, b ...byte) func(*radius.Packet) {
	return func(p *radius.Packet) { p.Add(t, radius.Attribute(b)) }
}
func str(t radius.Type, s string) func(*radius.Packet) {
	return func(p *radius.Packet) { p.Add(t, radius.Attribute(s)) }
}
func integer(t radius.Type, v uint32) func(*radius.Packet) {
	return func(p *radius.Packet) { p.Add(t, radius.NewInteger(v)) }
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func TestProfileCallback(t *testing.T) {
	ids := map[string]string{"home": "5553333", "ask": ""}
	tests := []struct {
		name     string
		service  aaa.Service
		p        *radius.Packet
		want     *aaa.Callback
		warnings int
	}{
		{"none", aaa.ServicePPP, accept(), nil, 0},
		{"lcp dialstring", aaa.ServicePPP, accept(av("lcp:callback-dialstring=5551234")), &aaa.Callback{Dialstring: "5551234"}, 0},
		{"lcp empty dialstring: user supplies", aaa.ServicePPP, accept(av("lcp:callback-dialstring=")), &aaa.Callback{}, 0},
		{"optional separator", aaa.ServicePPP, accept(av("lcp:callback-dialstring*5551234")), &aaa.Callback{Dialstring: "5551234"}, 0},
		{"lcp pairs do not apply to exec", aaa.ServiceLogin, accept(av("lcp:callback-dialstring=5551234")), nil, 0},
		{"shell pairs do not apply to ppp", aaa.ServicePPP, accept(av("shell:callback-dialstring=5551234")), nil, 0},
		{"shell everything", aaa.ServiceLogin, accept(
			av("shell:callback-dialstring=5551234"), av("shell:callback-line=4"),
			av("shell:callback-rotary=7"), av("shell:nocallback-verify=1")),
			&aaa.Callback{Dialstring: "5551234", Line: 4, Rotary: 7, NoVerify: true}, 0},
		{"arap", aaa.ServiceARAP, accept(av("arap:callback-dialstring=5554444"), av("arap:callback-line=2")),
			&aaa.Callback{Dialstring: "5554444", Line: 2}, 0},
		{"no protocol applies to any service", aaa.ServicePPP, accept(av("callback-dialstring=5551234")), &aaa.Callback{Dialstring: "5551234"}, 0},
		{"case and spaces", aaa.ServicePPP, accept(av("LCP:Callback-Dialstring = 5551234")), &aaa.Callback{Dialstring: "5551234"}, 0},
		{"line without dial string is not a callback user", aaa.ServiceLogin, accept(av("shell:callback-line=4")), nil, 1},
		{"bad rotary", aaa.ServicePPP, accept(av("lcp:callback-dialstring=1"), av("lcp:callback-rotary=101")), &aaa.Callback{Dialstring: "1"}, 1},
		{"bad line", aaa.ServicePPP, accept(av("lcp:callback-dialstring=1"), av("lcp:callback-line=x")), &aaa.Callback{Dialstring: "1"}, 1},
		{"bad nocallback-verify", aaa.ServicePPP, accept(av("lcp:callback-dialstring=1"), av("lcp:nocallback-verify=maybe")), &aaa.Callback{Dialstring: "1"}, 1},
		{"not an AV pair", aaa.ServicePPP, accept(av("lcp:callback-dialstring")), nil, 1},
		{"Callback-Number", aaa.ServicePPP, accept(cbNumber("5552222")), &aaa.Callback{Dialstring: "5552222"}, 0},
		{"Callback-Framed-User alone: user supplies", aaa.ServicePPP, accept(svc(rfc.ServiceType_Value_CallbackFramedUser)), &aaa.Callback{}, 0},
		{"Callback-Framed-User and number", aaa.ServicePPP, accept(svc(rfc.ServiceType_Value_CallbackFramedUser), cbNumber("5552222")), &aaa.Callback{Dialstring: "5552222"}, 0},
		{"Callback-Login-User", aaa.ServiceLogin, accept(svc(rfc.ServiceType_Value_CallbackLoginUser)), &aaa.Callback{}, 0},
		{"Callback-NAS-Prompt", aaa.ServiceLogin, accept(svc(rfc.ServiceType_Value_CallbackNASPrompt), cbNumber("1")), &aaa.Callback{Dialstring: "1"}, 0},
		{"Callback-Id", aaa.ServicePPP, accept(str(rfc.CallbackID_Type, "home")), &aaa.Callback{Dialstring: "5553333"}, 0},
		{"Callback-Id in another case (config keys are lowercased)", aaa.ServicePPP, accept(str(rfc.CallbackID_Type, "Home")), &aaa.Callback{Dialstring: "5553333"}, 0},
		{"Callback-Id mapped to empty: user supplies", aaa.ServicePPP, accept(str(rfc.CallbackID_Type, "ask")), &aaa.Callback{}, 0},
		{"Ascend-Dial-Number", aaa.ServicePPP, accept(func(p *radius.Packet) { must(ascend.AscendDialNumber_AddString(p, "5556666")) }),
			&aaa.Callback{Dialstring: "5556666"}, 0},
		{"Ascend-Dial-Number with Callback-Yes", aaa.ServicePPP, accept(func(p *radius.Packet) {
			must(ascend.AscendDialNumber_AddString(p, "5556666"))
			must(ascend.AscendCallback_Add(p, ascend.AscendCallback_Value_CallbackYes))
		}), &aaa.Callback{Dialstring: "5556666"}, 0},
		{"Ascend-Dial-Number with Callback-No", aaa.ServicePPP, accept(func(p *radius.Packet) {
			must(ascend.AscendDialNumber_AddString(p, "5556666"))
			must(ascend.AscendCallback_Add(p, ascend.AscendCallback_Value_CallbackNo))
		}), nil, 1},
		{"Cisco wins over Callback-Number", aaa.ServicePPP, accept(cbNumber("222"), av("lcp:callback-dialstring=111")), &aaa.Callback{Dialstring: "111"}, 1},
		{"a number wins over an empty dial string", aaa.ServicePPP, accept(av("lcp:callback-dialstring="), cbNumber("222")), &aaa.Callback{Dialstring: "222"}, 0},
		{"Callback-Number wins over Ascend", aaa.ServicePPP, accept(cbNumber("222"), func(p *radius.Packet) { must(ascend.AscendDialNumber_AddString(p, "333")) }),
			&aaa.Callback{Dialstring: "222"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prof, warnings, err := ProfileFromPacket(tc.p, tc.service, ids)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(prof.Callback, tc.want) {
				t.Errorf("Callback = %+v, want %+v", prof.Callback, tc.want)
			}
			if len(warnings) != tc.warnings {
				t.Errorf("warnings = %q, want %d", warnings, tc.warnings)
			}
		})
	}
}

func TestProfileNotOffered(t *testing.T) {
	tests := []struct {
		name    string
		service aaa.Service
		p       *radius.Packet
	}{
		{"framed for exec", aaa.ServiceLogin, accept(svc(rfc.ServiceType_Value_FramedUser))},
		{"callback framed for exec", aaa.ServiceLogin, accept(svc(rfc.ServiceType_Value_CallbackFramedUser))},
		{"login for ppp", aaa.ServicePPP, accept(svc(rfc.ServiceType_Value_LoginUser))},
		{"administrative for arap", aaa.ServiceARAP, accept(svc(rfc.ServiceType_Value_AdministrativeUser))},
		{"call check", aaa.ServicePPP, accept(svc(rfc.ServiceType_Value_CallCheck))},
		{"authorize only", aaa.ServicePPP, accept(svc(rfc.ServiceType_Value_AuthorizeOnly))},
		{"unknown service type", aaa.ServicePPP, accept(svc(200))},
		{"arap protocol for ppp", aaa.ServicePPP, accept(integer(rfc.FramedProtocol_Type, uint32(rfc.FramedProtocol_Value_ARAP)))},
		{"ppp protocol for arap", aaa.ServiceARAP, accept(integer(rfc.FramedProtocol_Type, uint32(rfc.FramedProtocol_Value_PPP)))},
		{"unmapped Callback-Id", aaa.ServicePPP, accept(str(rfc.CallbackID_Type, "office"))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prof, _, err := ProfileFromPacket(tc.p, tc.service, nil)
			if !errors.Is(err, ErrNotOffered) || prof != nil {
				t.Fatalf("profile %+v, err %v; want ErrNotOffered", prof, err)
			}
		})
	}
}

func TestProfileNotAnAccept(t *testing.T) {
	for _, code := range []radius.Code{radius.CodeAccessReject, radius.CodeAccessChallenge, radius.CodeAccountingResponse} {
		p := accept(cbNumber("5551234"), integer(rfc.SessionTimeout_Type, 60))
		p.Code = code
		if prof, _, err := ProfileFromPacket(p, aaa.ServicePPP, nil); err == nil || prof != nil {
			t.Errorf("%v: profile %+v, err %v; its attributes must be ignored", code, prof, err)
		}
	}
}

func TestProfileSession(t *testing.T) {
	p := accept(
		raw(rfc.FramedIPAddress_Type, 10, 1, 2, 3),
		raw(rfc.FramedIPNetmask_Type, 255, 255, 255, 0),
		str(rfc.FramedPool_Type, "dialup"),
		str(rfc.FilterID_Type, "std.in"),
		str(rfc.FilterID_Type, "std.out"),
		integer(rfc.SessionTimeout_Type, 7200),
		integer(rfc.IdleTimeout_Type, 600),
		integer(rfc.AcctInterimInterval_Type, 300),
		integer(rfc.FramedMTU_Type, 1500),
		integer(rfc.PortLimit_Type, 2),
		raw(rfc.Class_Type, 0, 1, 2),
		raw(rfc.Class_Type, 'b'),
		str(rfc.ReplyMessage_Type, "Hello"),
		str(rfc.ReplyMessage_Type, "World"),
		str(rfc.FramedRoute_Type, "192.168.10.0/24 0.0.0.0 1"),
		str(rfc.FramedRoute_Type, "192.168.20.1 10.1.2.254"),
		str(rfc.FramedRoute_Type, "bogus"),
		av("shell:autocmd=ppp"),
		func(p *radius.Packet) {
			must(microsoft.MSCHAP2Success_Add(p, append([]byte{9}, "S=0123456789ABCDEF0123456789ABCDEF01234567"...)))
		},
	)
	prof, warnings, err := ProfileFromPacket(p, aaa.ServicePPP, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &aaa.Profile{
		Address:         netip.MustParseAddr("10.1.2.3"),
		Netmask:         netip.MustParseAddr("255.255.255.0"),
		Pool:            "dialup",
		Filter:          "std.in",
		SessionTimeout:  2 * time.Hour,
		IdleTimeout:     10 * time.Minute,
		InterimInterval: 5 * time.Minute,
		MTU:             1500,
		PortLimit:       2,
		Class:           [][]byte{{0, 1, 2}, {'b'}},
		ReplyMessage:    "Hello\nWorld",
		Routes: []aaa.Route{
			{Prefix: netip.MustParsePrefix("192.168.10.0/24")},
			{Prefix: netip.MustParsePrefix("192.168.20.1/32"), Gateway: netip.MustParseAddr("10.1.2.254")},
		},
		AuthenticatorResponse: "S=0123456789ABCDEF0123456789ABCDEF01234567",
	}
	if !reflect.DeepEqual(prof, want) {
		t.Errorf("profile\n got %+v\nwant %+v", prof, want)
	}
	// Two Filter-Ids, a bad route; autocmd is a shell pair and a PPP request ignores it.
	if len(warnings) != 2 {
		t.Errorf("warnings = %q, want 2", warnings)
	}
	prof, _, err = ProfileFromPacket(accept(av("shell:autocmd=ppp")), aaa.ServiceLogin, nil)
	if err != nil || prof.Autocommand != "ppp" {
		t.Errorf("autocmd for exec: %+v, %v", prof, err)
	}
}

func TestProfileOddValues(t *testing.T) {
	tests := []struct {
		name     string
		add      func(*radius.Packet)
		check    func(*aaa.Profile) bool
		warnings int
	}{
		{"NAS chooses the address", raw(rfc.FramedIPAddress_Type, 255, 255, 255, 254), func(p *aaa.Profile) bool { return !p.Address.IsValid() }, 0},
		{"user chooses the address", raw(rfc.FramedIPAddress_Type, 255, 255, 255, 255), func(p *aaa.Profile) bool { return !p.Address.IsValid() }, 0},
		{"short address", raw(rfc.FramedIPAddress_Type, 10, 0, 0), func(p *aaa.Profile) bool { return !p.Address.IsValid() }, 1},
		{"short Session-Timeout", raw(rfc.SessionTimeout_Type, 0, 0, 1), func(p *aaa.Profile) bool { return p.SessionTimeout == 0 }, 1},
		{"interim below 60 s", integer(rfc.AcctInterimInterval_Type, 10), func(p *aaa.Profile) bool { return p.InterimInterval == time.Minute }, 1},
		{"interim 0", integer(rfc.AcctInterimInterval_Type, 0), func(p *aaa.Profile) bool { return p.InterimInterval == 0 }, 0},
		{"tiny MTU", integer(rfc.FramedMTU_Type, 10), func(p *aaa.Profile) bool { return p.MTU == 0 }, 1},
		{"huge Port-Limit", integer(rfc.PortLimit_Type, 1<<31), func(p *aaa.Profile) bool { return p.PortLimit == 1<<16 }, 0},
		{"bad MS-CHAP2-Success", func(p *radius.Packet) { must(microsoft.MSCHAP2Success_Add(p, []byte{1, 'X'})) },
			func(p *aaa.Profile) bool { return p.AuthenticatorResponse == "" }, 1},
		{"framed protocol on exec", integer(rfc.FramedProtocol_Type, 1), func(p *aaa.Profile) bool { return true }, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prof, warnings, err := ProfileFromPacket(accept(tc.add), aaa.ServiceLogin, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(prof) {
				t.Errorf("profile = %+v", prof)
			}
			if len(warnings) != tc.warnings {
				t.Errorf("warnings = %q, want %d", warnings, tc.warnings)
			}
		})
	}
}

// FuzzProfileFromPacket maps arbitrary attribute bytes, read as an Access-Accept, for every
// service: it must not panic, and what it returns must keep the profile's invariants.
func FuzzProfileFromPacket(f *testing.F) {
	seeds := []*radius.Packet{
		accept(av("lcp:callback-dialstring=5551234"), av("lcp:callback-rotary=3"), cbNumber("1")),
		accept(svc(rfc.ServiceType_Value_CallbackLoginUser), av("shell:callback-line=4"), av("shell:nocallback-verify=1")),
		accept(str(rfc.CallbackID_Type, "home"), func(p *radius.Packet) { must(ascend.AscendDialNumber_AddString(p, "9")) }),
		accept(raw(rfc.FramedIPAddress_Type, 10, 0, 0, 1), str(rfc.FramedRoute_Type, "10.2.0.0/16 0.0.0.0 1"),
			integer(rfc.AcctInterimInterval_Type, 5), integer(rfc.FramedMTU_Type, 1500), raw(rfc.Class_Type, 1)),
	}
	for _, p := range seeds {
		b, err := p.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{2, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	ids := map[string]string{"home": "5553333"}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := radius.Parse(b, []byte(testSecret))
		if err != nil {
			return
		}
		p.Code = radius.CodeAccessAccept
		for _, s := range []aaa.Service{aaa.ServiceLogin, aaa.ServicePPP, aaa.ServiceARAP} {
			prof, _, err := ProfileFromPacket(p, s, ids)
			if err != nil {
				if !errors.Is(err, ErrNotOffered) || prof != nil {
					t.Fatalf("err %v with profile %+v", err, prof)
				}
				continue
			}
			if cb := prof.Callback; cb != nil && (cb.Line < 0 || cb.Rotary < 0 || cb.Rotary > maxRotary) {
				t.Fatalf("callback %+v out of range", cb)
			}
			if prof.InterimInterval != 0 && prof.InterimInterval < minInterim {
				t.Fatalf("interim %v", prof.InterimInterval)
			}
			if prof.MTU != 0 && (prof.MTU < 64 || prof.MTU > 65535) {
				t.Fatalf("MTU %d", prof.MTU)
			}
			if prof.AuthenticatorResponse != "" && !strings.HasPrefix(prof.AuthenticatorResponse, "S=") {
				t.Fatalf("authenticator response %q", prof.AuthenticatorResponse)
			}
			for _, r := range prof.Routes {
				if !r.Prefix.IsValid() || r.Prefix != r.Prefix.Masked() {
					t.Fatalf("route %+v", r)
				}
			}
		}
	})
}
