package tacacs

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dialback/nas/aaa"
)

func TestParseAV(t *testing.T) {
	tests := []struct {
		in      string
		want    AV
		wantErr bool
	}{
		{in: "service=ppp", want: AV{Attr: "service", Value: "ppp"}},
		{in: "cmd=", want: AV{Attr: "cmd"}},
		{in: "callback-dialstring=", want: AV{Attr: "callback-dialstring"}},
		{in: "timeout*30", want: AV{Attr: "timeout", Value: "30", Optional: true}},
		// The first separator splits; later ones belong to the value.
		{in: "autocmd=telnet a=b*c", want: AV{Attr: "autocmd", Value: "telnet a=b*c"}},
		{in: "x*=", want: AV{Attr: "x", Value: "=", Optional: true}},
		{in: "route=10.0.0.0 255.0.0.0", want: AV{Attr: "route", Value: "10.0.0.0 255.0.0.0"}},
		{in: "=value", wantErr: true},
		{in: "*value", wantErr: true},
		{in: "novalue", wantErr: true},
		{in: "", wantErr: true},
		{in: "a=b\r\nc", wantErr: true},
		{in: "a=\xff", wantErr: true},
		{in: "a=" + strings.Repeat("x", 254), wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseAV(tt.in)
		if tt.wantErr {
			if !errors.Is(err, ErrBadAV) {
				t.Errorf("ParseAV(%q) err = %v, want ErrBadAV", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseAV(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if got.String() != tt.in {
			t.Errorf("%+v.String() = %q, want %q", got, got.String(), tt.in)
		}
	}
}

func mustAVs(t *testing.T, s ...string) []AV {
	t.Helper()
	avs, err := ParseAVs(s)
	if err != nil {
		t.Fatal(err)
	}
	return avs
}

func TestProfileFromAVs(t *testing.T) {
	tests := []struct {
		name        string
		avs         []string
		want        aaa.Profile
		wantIgnored int
		wantErr     bool
	}{
		{
			name: "exec callback",
			avs:  []string{"service=shell", "cmd=", "callback-dialstring=5551234", "callback-line=3", "nocallback-verify=1"},
			want: aaa.Profile{Callback: &aaa.Callback{Dialstring: "5551234", Line: 3, NoVerify: true}},
		},
		{
			name: "user supplies the number",
			avs:  []string{"callback-dialstring=", "callback-rotary=100"},
			want: aaa.Profile{Callback: &aaa.Callback{Rotary: 100}},
		},
		{
			name: "blank around values",
			avs:  []string{"callback-dialstring= 408-555-1212", "callback-line= 4 "},
			want: aaa.Profile{Callback: &aaa.Callback{Dialstring: "408-555-1212", Line: 4}},
		},
		{
			name: "callback line without a dial string is no callback",
			avs:  []string{"callback-line=3"},
			want: aaa.Profile{},
		},
		{
			name: "session values",
			avs: []string{"addr=10.1.2.3", "addr-pool=dialin", "timeout=60", "idletime=5", "acl=101", "autocmd=ppp",
				"route=192.168.10.0 255.255.255.0 10.1.2.1", "route=172.16.0.0/12"},
			want: aaa.Profile{
				Address: netip.MustParseAddr("10.1.2.3"), Pool: "dialin", SessionTimeout: time.Hour,
				IdleTimeout: 5 * time.Minute, Filter: "101", Autocommand: "ppp",
				Routes: []aaa.Route{
					{Prefix: netip.MustParsePrefix("192.168.10.0/24"), Gateway: netip.MustParseAddr("10.1.2.1")},
					{Prefix: netip.MustParsePrefix("172.16.0.0/12")},
				},
			},
		},
		{
			name: "last value wins",
			avs:  []string{"timeout=10", "timeout=0"},
			want: aaa.Profile{},
		},
		{name: "unknown mandatory", avs: []string{"inacl#1=deny ip any any"}, wantErr: true},
		{name: "unknown optional", avs: []string{"inacl#1*deny ip any any", "idletime=1"}, want: aaa.Profile{IdleTimeout: time.Minute}, wantIgnored: 1},
		{name: "priv-lvl mandatory", avs: []string{"service=shell", "priv-lvl=15"}, want: aaa.Profile{PrivLevel: 15}},
		{name: "priv-lvl optional", avs: []string{"priv-lvl*1"}, want: aaa.Profile{PrivLevel: 1}},
		{name: "priv-lvl out of range", avs: []string{"priv-lvl=16"}, wantErr: true},
		{name: "priv-lvl bad optional ignored", avs: []string{"priv-lvl*admin"}, want: aaa.Profile{}, wantIgnored: 1},
		{name: "bad mandatory value", avs: []string{"callback-rotary=101"}, wantErr: true},
		{name: "bad optional value keeps the earlier one", avs: []string{"timeout=2", "timeout*soon"}, want: aaa.Profile{SessionTimeout: 2 * time.Minute}, wantIgnored: 1},
		{name: "dial string injection", avs: []string{"callback-dialstring=555;ATH"}, wantErr: true},
		{name: "bad address", avs: []string{"addr=10.1.2"}, wantErr: true},
		{name: "non-contiguous mask", avs: []string{"route=10.0.0.0 255.0.255.0"}, wantErr: true},
		{name: "nocallback-verify garbage", avs: []string{"nocallback-verify=maybe"}, wantErr: true},
		{name: "negative timeout", avs: []string{"timeout=-1"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ignored, err := ProfileFromAVs(mustAVs(t, tt.avs...))
			if tt.wantErr {
				if !errors.Is(err, ErrMandatoryAV) {
					t.Fatalf("err = %v, want ErrMandatoryAV", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*p, tt.want) {
				t.Errorf("profile = %+v (callback %+v)\nwant      %+v (callback %+v)", *p, p.Callback, tt.want, tt.want.Callback)
			}
			if len(ignored) != tt.wantIgnored {
				t.Errorf("ignored = %v, want %d", ignored, tt.wantIgnored)
			}
		})
	}
}

func TestEffectiveAVs(t *testing.T) {
	req := mustAVs(t, "service=ppp", "protocol=lcp")
	rep := mustAVs(t, "callback-dialstring=1")
	if got := EffectiveAVs(req, false, rep); len(got) != 3 || got[2] != rep[0] {
		t.Errorf("PASS_ADD = %v", got)
	}
	if got := EffectiveAVs(req, true, rep); len(got) != 1 || got[0] != rep[0] {
		t.Errorf("PASS_REPL = %v", got)
	}
}

// FuzzParseAV: whatever parses renders back to the same bytes and parses to the same AV.
func FuzzParseAV(f *testing.F) {
	for _, s := range []string{"service=ppp", "cmd=", "timeout*30", "a=b=c", "=x", "x", "route=1.2.3.0 255.255.255.0 1.2.3.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		av, err := ParseAV(s)
		if err != nil {
			if !errors.Is(err, ErrBadAV) {
				t.Fatalf("error %v does not wrap ErrBadAV", err)
			}
			return
		}
		if av.Attr == "" || strings.ContainsAny(av.Attr, "=*") {
			t.Fatalf("attribute %q", av.Attr)
		}
		if av.String() != s {
			t.Fatalf("round trip %q -> %q", s, av.String())
		}
		again, err := ParseAV(av.String())
		if err != nil || again != av {
			t.Fatalf("reparse %+v: %+v %v", av, again, err)
		}
	})
}

// FuzzProfileFromAVs: any list of arguments (one per line) maps without panicking, and
// what it produces respects the rules the callback engine relies on.
func FuzzProfileFromAVs(f *testing.F) {
	f.Add("service=ppp\nprotocol=lcp\ncallback-dialstring=5551234\ncallback-line=3\nnocallback-verify=1")
	f.Add("callback-dialstring=\ncallback-rotary=7\naddr=10.0.0.1\nroute=10.0.0.0 255.0.0.0 10.0.0.254")
	f.Add("timeout*abc\nidletime=5\nfoo*bar\nacl=101")
	f.Add("priv-lvl=15")
	f.Fuzz(func(t *testing.T, s string) {
		var avs []AV
		for _, line := range strings.Split(s, "\n") {
			if av, err := ParseAV(line); err == nil {
				avs = append(avs, av)
			}
		}
		p, ignored, err := ProfileFromAVs(avs)
		mandatoryUnknown := false
		for _, av := range avs {
			if _, ok := knownAVs[av.Attr]; !ok && !av.Optional {
				mandatoryUnknown = true
			}
		}
		if mandatoryUnknown && err == nil {
			t.Fatal("an unknown mandatory argument was accepted")
		}
		if err != nil {
			if !errors.Is(err, ErrMandatoryAV) {
				t.Fatalf("error %v does not wrap ErrMandatoryAV", err)
			}
			return
		}
		for _, av := range ignored {
			if !av.Optional {
				t.Fatalf("mandatory %v was ignored", av)
			}
		}
		if p.PrivLevel < 0 || p.PrivLevel > 15 {
			t.Fatalf("privilege level %d out of 0-15", p.PrivLevel)
		}
		if p.SessionTimeout < 0 || p.IdleTimeout < 0 {
			t.Fatalf("negative timeout in %+v", p)
		}
		if cb := p.Callback; cb != nil {
			if cb.Rotary < 0 || cb.Rotary > 100 || cb.Line < 0 {
				t.Fatalf("callback %+v out of range", cb)
			}
			if checkDialstring(cb.Dialstring) != nil {
				t.Fatalf("dial string %q passed through", cb.Dialstring)
			}
		}
		for _, r := range p.Routes {
			if !r.Prefix.IsValid() || r.Prefix != r.Prefix.Masked() {
				t.Fatalf("route %+v", r)
			}
		}
	})
}
