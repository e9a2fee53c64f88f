package labserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	tq "github.com/facebookincubator/tacquito"
	"layeh.com/radius/rfc2759"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/acct"
	"github.com/dialback/nas/aaa/tacacs"
)

var labUsers = []User{
	{
		Name: "bob", Password: "bob-secret",
		Exec: []string{"callback-dialstring=5552002", "callback-line=4", "nocallback-verify=1", "priv-lvl=15"},
		PPP:  []string{"callback-dialstring=5552003", "callback-rotary=77"},
		// PPPIP left empty: authorized, no address.
		ARAP: []string{"callback-dialstring=5552004"},
	},
	{Name: "pat", Password: "pat-secret", PPPIP: []string{"addr=10.0.0.5"}},
}

func start(t *testing.T, users []User) (*Server, *tacacs.Client) {
	t.Helper()
	s, err := Start("lab-key", users, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	c, err := tacacs.New(tacacs.Config{
		Servers: []tacacs.Server{{Address: s.Addr().String(), Secret: "lab-key", Timeout: 2 * time.Second}},
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return s, c
}

type prompter struct{ answers, asked []string }

func (p *prompter) Prompt(_ context.Context, text string, echo bool) (string, error) {
	p.asked = append(p.asked, fmt.Sprintf("%s echo=%v", text, echo))
	if len(p.answers) == 0 {
		return "", errors.New("no answer")
	}
	a := p.answers[0]
	p.answers = p.answers[1:]
	return a, nil
}

func TestAuthenticateAndAuthorize(t *testing.T) {
	s, c := start(t, labUsers)
	chal := []byte("0123456789abcdef")
	good := aaa.CHAPMD5Response(3, "pat-secret", chal)
	bad := aaa.CHAPMD5Response(3, "nope", chal)
	msChal := bytes.Repeat([]byte{0x11}, 16)
	peer := bytes.Repeat([]byte{0x22}, 16)
	nt, err := rfc2759.GenerateNTResponse(msChal, peer, []byte("pat"), []byte("pat-secret"))
	if err != nil {
		t.Fatal(err)
	}
	msResp := slices.Concat(peer, make([]byte, 8), nt, []byte{0})
	wantAuth, err := rfc2759.GenerateAuthenticatorResponse(msChal, peer, nt, []byte("pat"), []byte("pat-secret"))
	if err != nil {
		t.Fatal(err)
	}
	wrongNT := slices.Clone(msResp)
	wrongNT[30] ^= 1

	tests := []struct {
		name    string
		req     aaa.Request
		p       *prompter
		wantErr bool
		check   func(*testing.T, *aaa.Profile)
	}{
		{
			name: "exec login, exec AVs", req: aaa.Request{Service: aaa.ServiceLogin, User: "bob", Password: "bob-secret"},
			check: func(t *testing.T, p *aaa.Profile) {
				if p.Callback == nil || *p.Callback != (aaa.Callback{Dialstring: "5552002", Line: 4, NoVerify: true}) || p.PrivLevel != 15 {
					t.Errorf("profile %+v callback %+v", p, p.Callback)
				}
			},
		},
		{
			name: "exec login through the server's prompts", req: aaa.Request{Service: aaa.ServiceLogin},
			p: &prompter{answers: []string{"bob", "bob-secret"}},
			check: func(t *testing.T, p *aaa.Profile) {
				if p.User != "bob" {
					t.Errorf("user %q", p.User)
				}
			},
		},
		{name: "exec wrong password", req: aaa.Request{Service: aaa.ServiceLogin, User: "bob", Password: "x"}, wantErr: true},
		{name: "exec unknown user", req: aaa.Request{Service: aaa.ServiceLogin, User: "mallory", Password: "bob-secret"}, wantErr: true},
		{
			name: "pap, lcp and ip AVs", req: aaa.Request{Service: aaa.ServicePPP, User: "bob", Password: "bob-secret"},
			check: func(t *testing.T, p *aaa.Profile) {
				if p.Callback == nil || *p.Callback != (aaa.Callback{Dialstring: "5552003", Rotary: 77}) || p.PrivLevel != 0 {
					t.Errorf("profile %+v callback %+v", p, p.Callback)
				}
			},
		},
		{
			name: "chap", req: aaa.Request{Service: aaa.ServicePPP, User: "pat", CHAP: &aaa.CHAP{ID: 3, Challenge: chal, Response: good[:]}},
			check: func(t *testing.T, p *aaa.Profile) {
				if p.Callback != nil || p.Address.String() != "10.0.0.5" {
					t.Errorf("profile %+v", p)
				}
			},
		},
		{name: "chap wrong", req: aaa.Request{Service: aaa.ServicePPP, User: "pat", CHAP: &aaa.CHAP{ID: 3, Challenge: chal, Response: bad[:]}}, wantErr: true},
		{
			name: "mschapv2", req: aaa.Request{Service: aaa.ServicePPP, User: "pat", CHAP: &aaa.CHAP{Type: aaa.CHAPMSv2, ID: 9, Challenge: msChal, Response: msResp}},
			check: func(t *testing.T, p *aaa.Profile) {
				if p.AuthenticatorResponse != wantAuth {
					t.Errorf("authenticator response %q, want %q", p.AuthenticatorResponse, wantAuth)
				}
			},
		},
		{name: "mschapv2 wrong", req: aaa.Request{Service: aaa.ServicePPP, User: "pat", CHAP: &aaa.CHAP{Type: aaa.CHAPMSv2, ID: 9, Challenge: msChal, Response: wrongNT}}, wantErr: true},
		{
			name: "arap authorization", req: aaa.Request{Service: aaa.ServiceARAP, User: "bob"},
			check: func(t *testing.T, p *aaa.Profile) {
				if p.Callback == nil || p.Callback.Dialstring != "5552004" {
					t.Errorf("profile %+v", p)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.req
			if tt.p != nil {
				r.Prompt = tt.p
			}
			var p *aaa.Profile
			var err error
			if r.Service == aaa.ServiceARAP {
				p, err = c.Authorize(context.Background(), &r)
			} else {
				p, err = c.Authenticate(context.Background(), &r)
			}
			if tt.wantErr {
				if !errors.Is(err, aaa.ErrRejected) {
					t.Fatalf("err = %v, want a reject", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, p)
			if tt.p != nil && !slices.Equal(tt.p.asked, []string{"Username:  echo=true", "Password:  echo=false"}) {
				t.Errorf("asked %q", tt.p.asked)
			}
		})
	}
	st := s.Stats()
	if st.Authentications != 9 || st.Passes != 5 || st.Fails != 4 || st.Authorizations == 0 {
		t.Errorf("stats = %+v", st)
	}
}

// An authorization for a user the table does not know fails (the callback leg of a
// nocallback-verify user is authorized without a login: the server must know the name).
func TestAuthorizeUnknownUser(t *testing.T) {
	_, c := start(t, labUsers)
	if _, err := c.Authorize(context.Background(), &aaa.Request{Service: aaa.ServiceLogin, User: "mallory"}); !errors.Is(err, aaa.ErrRejected) {
		t.Fatalf("err = %v, want a reject", err)
	}
}

func TestAccounting(t *testing.T) {
	s, c := start(t, labUsers)
	start := time.Unix(1700000000, 0)
	rec := acct.Record{Type: acct.Start, Time: start, SessionID: "42", Leg: aaa.LegFirst, User: "bob",
		Service: "login", Line: 2, PortName: "tty2", StartTime: start}
	if err := c.Deliver(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	rec.Type, rec.Time, rec.SessionTime, rec.Cause = acct.Stop, start.Add(time.Minute), time.Minute, acct.CauseCallback
	if err := c.Deliver(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	got := s.Accounting()
	if len(got) != 2 || got[0].Flags != tq.AcctFlagStart || got[1].Flags != tq.AcctFlagStop ||
		got[0].User != "bob" || got[0].Port != "tty2" {
		t.Fatalf("accounting = %+v", got)
	}
	if !slices.Contains(got[0].Args, "task_id=42") || !slices.Contains(got[1].Args, "disc-cause=102") {
		t.Errorf("args: %q / %q", got[0].Args, got[1].Args)
	}
	if n := s.Stats().Accounting; n != 2 {
		t.Errorf("accounting count %d", n)
	}
}

func TestCompile(t *testing.T) {
	tests := []struct {
		users []User
		want  string
	}{
		{[]User{{Password: "x"}}, "users[0]: name is required"},
		{[]User{{Name: "a"}, {Name: "a"}}, `users[1]: "a" is listed twice`},
		{[]User{{Name: "a", Exec: []string{"callback-line"}}}, "users[0] (a): exec: argument 1: malformed TACACS+ argument"},
		{[]User{{Name: "a", PPPIP: []string{"addr=1", "=x"}}}, "users[0] (a): ppp-ip: argument 2"},
	}
	for _, tt := range tests {
		err := Compile(tt.users)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Compile(%+v) = %v, want %q", tt.users, err, tt.want)
		}
	}
	if err := Compile(labUsers); err != nil {
		t.Errorf("lab users: %v", err)
	}
	if _, err := Start("", labUsers, nil); err == nil {
		t.Error("Start with an empty secret succeeded")
	}
}

// Close ends everything, including a connection a client keeps open: tacquito's handler
// would otherwise sit in a read for 15 s.
func TestCloseLeavesNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	s, err := Start("k", labUsers, nil)
	if err != nil {
		t.Fatal(err)
	}
	idle, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	c, err := tacacs.New(tacacs.Config{
		Servers: []tacacs.Server{{Address: s.Addr().String(), Secret: "k", Timeout: 2 * time.Second, SingleConnection: true}},
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Authenticate(context.Background(), &aaa.Request{Service: aaa.ServicePPP, User: "pat", Password: "pat-secret"}); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() {
		_ = s.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	_ = c.Close()
	_ = idle.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before, %d after Close", before, runtime.NumGoroutine())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// FuzzStartData: any START data for CHAP or MS-CHAPv2 is judged without panicking, and only
// the right response passes.
func FuzzStartData(f *testing.F) {
	good := aaa.CHAPMD5Response(1, "pw", []byte("challenge"))
	f.Add(slices.Concat([]byte{1}, []byte("challenge"), good[:]))
	f.Add(make([]byte, 1+16+49))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if checkCHAP("pw", data) {
			want := aaa.CHAPMD5Response(data[0], "pw", data[1:len(data)-16])
			if !bytes.Equal(want[:], data[len(data)-16:]) {
				t.Fatal("a wrong CHAP response passed")
			}
		}
		if ok, s := checkMSCHAPv2("u", "pw", data); ok && len(s) != 42 {
			t.Fatalf("MS-CHAPv2 passed with authenticator response %q", s)
		}
	})
}
