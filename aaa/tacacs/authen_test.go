package tacacs

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	tq "github.com/facebookincubator/tacquito"

	"github.com/dialback/nas/aaa"
)

func TestASCIILogin(t *testing.T) {
	f := newFake()
	srv := startTQ(t, "s3cret", f, nil)
	c := newClient(t, Config{Servers: []Server{tcpServer(srv.addr, "s3cret")}, SkipAuthorization: true})

	tests := []struct {
		name      string
		req       aaa.Request
		answers   []string
		wantUser  string
		wantErr   error
		wantMsg   string
		wantAsked []prompt
	}{
		{
			name:     "user and password from the request",
			req:      aaa.Request{Service: aaa.ServiceLogin, User: "alice", Password: "wonderland"},
			wantUser: "alice",
		},
		{
			name:      "server prompts for both",
			req:       aaa.Request{Service: aaa.ServiceLogin},
			answers:   []string{"bob", "builder"},
			wantUser:  "bob",
			wantAsked: []prompt{{"login: ", true}, {"secret word: ", false}},
		},
		{
			name:      "password prompted, echo off",
			req:       aaa.Request{Service: aaa.ServiceLogin, User: "alice"},
			answers:   []string{"wonderland"},
			wantUser:  "alice",
			wantAsked: []prompt{{"secret word: ", false}},
		},
		{
			name:    "wrong password",
			req:     aaa.Request{Service: aaa.ServiceLogin, User: "alice", Password: "nope"},
			wantErr: aaa.ErrRejected,
			wantMsg: "Login incorrect",
		},
		{
			name:    "unknown user reads like a wrong password",
			req:     aaa.Request{Service: aaa.ServiceLogin, User: "mallory", Password: "x"},
			wantErr: aaa.ErrRejected,
			wantMsg: "Login incorrect",
		},
		{
			name:    "server needs input the caller cannot give",
			req:     aaa.Request{Service: aaa.ServiceLogin, User: "alice"},
			wantErr: aaa.ErrRejected,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.req
			var p *scriptPrompter
			if tt.answers != nil {
				p = &scriptPrompter{answers: tt.answers}
				r.Prompt = p
			}
			prof, err := c.Authenticate(context.Background(), &r)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				var re *aaa.RejectError
				if errors.As(err, &re) {
					if re.Message != tt.wantMsg {
						t.Errorf("message = %q, want %q", re.Message, tt.wantMsg)
					}
					if re.Reason != "authentication failed" {
						t.Errorf("reason = %q tells too much", re.Reason)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if prof.User != tt.wantUser {
				t.Errorf("user = %q, want %q", prof.User, tt.wantUser)
			}
			if prof.Source != "tacacs "+srv.addr {
				t.Errorf("source = %q", prof.Source)
			}
			if p != nil && !slices.Equal(p.asked, tt.wantAsked) {
				t.Errorf("asked %v, want %v", p.asked, tt.wantAsked)
			}
		})
	}

	starts, minors, _, _, _ := f.snapshot()
	for i, s := range starts {
		if s.Type != tq.AuthenTypeASCII || s.Action != tq.AuthenActionLogin || s.Service != tq.AuthenServiceLogin || minors[i] != minorDefault {
			t.Errorf("START %d = type %v action %v service %v minor %d", i, s.Type, s.Action, s.Service, minors[i])
		}
	}
}

// TestASCIIAbort checks that a login the caller cannot complete is aborted on the wire
// (CONTINUE with the ABORT flag) rather than left hanging.
func TestASCIIAbort(t *testing.T) {
	f := newFake()
	srv := startTQ(t, "k", f, nil)
	c := newClient(t, Config{Servers: []Server{tcpServer(srv.addr, "k")}, SkipAuthorization: true})
	_, err := c.Authenticate(context.Background(), &aaa.Request{Service: aaa.ServiceLogin, User: "alice"})
	if !errors.Is(err, aaa.ErrRejected) {
		t.Fatalf("err = %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		_, _, conts, _, _ := f.snapshot()
		if len(conts) == 1 && conts[0].Flags.Has(tq.AuthenContinueFlagAbort) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server saw %+v, want one CONTINUE with ABORT", conts)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestASCIIGetDataAndMessages(t *testing.T) {
	f := newFake()
	f.setOverride(func(resp tq.Response, req tq.Request) bool {
		if req.Header.Type != tq.Authenticate {
			return false
		}
		// START -> GETDATA (no echo) -> PASS with a banner.
		resp.Next(tq.HandlerFunc(func(resp tq.Response, req tq.Request) {
			var c tq.AuthenContinue
			_ = tq.Unmarshal(req.Body, &c)
			if string(c.UserMessage) != "123456" {
				reply(resp, tq.NewAuthenReply(tq.SetAuthenReplyStatus(tq.AuthenStatusFail)))
				return
			}
			reply(resp, tq.NewAuthenReply(tq.SetAuthenReplyStatus(tq.AuthenStatusPass), tq.SetAuthenReplyServerMsg("Welcome")))
		}))
		reply(resp, tq.NewAuthenReply(tq.SetAuthenReplyStatus(tq.AuthenStatusGetData),
			tq.SetAuthenReplyFlag(tq.AuthenReplyFlagNoEcho), tq.SetAuthenReplyServerMsg("Token: ")))
		return true
	})
	srv := startTQ(t, "k", f, nil)
	c := newClient(t, Config{Servers: []Server{tcpServer(srv.addr, "k")}, SkipAuthorization: true})
	p := &scriptPrompter{answers: []string{"123456"}}
	prof, err := c.Authenticate(context.Background(), &aaa.Request{Service: aaa.ServiceLogin, User: "alice", Prompt: p})
	if err != nil {
		t.Fatal(err)
	}
	if prof.ReplyMessage != "Welcome" {
		t.Errorf("reply message = %q", prof.ReplyMessage)
	}
	if want := []prompt{{"Token: ", false}}; !slices.Equal(p.asked, want) {
		t.Errorf("asked %v, want %v", p.asked, want)
	}

	// A prompter that fails (caller hung up) ends the login with its error, not a reject.
	hangup := errors.New("carrier lost")
	_, err = c.Authenticate(context.Background(), &aaa.Request{Service: aaa.ServiceLogin, User: "alice", Prompt: &scriptPrompter{err: hangup}})
	if !errors.Is(err, hangup) || errors.Is(err, aaa.ErrUnreachable) || errors.Is(err, aaa.ErrRejected) {
		t.Errorf("err = %v, want the prompter's error only", err)
	}
}

// TestFinalStatuses covers RESTART, FOLLOW and ERROR: failures, never "unreachable".
func TestFinalStatuses(t *testing.T) {
	tests := []struct {
		name         string
		body         []byte
		wantRejected bool
		wantErr      error
	}{
		{"restart", authenReplyBody(authenRestart, 0, "use another type", nil), true, nil},
		{"follow", authenReplyBody(authenFollow, 0, "", []byte("10.0.0.1")), true, nil},
		{"error", authenReplyBody(authenError, 0, "backend down", nil), false, ErrServerError},
		{"prompt after PAP", authenReplyBody(authenGetPass, 0, "", nil), false, ErrProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			f.setOverride(func(resp tq.Response, req tq.Request) bool {
				rawReply(resp, req, 1, 0, req.Header.Flags, tt.body)
				return true
			})
			srv := startTQ(t, "k", f, nil)
			c := newClient(t, Config{Servers: []Server{tcpServer(srv.addr, "k")}, SkipAuthorization: true})
			_, err := c.Authenticate(context.Background(), &aaa.Request{Service: aaa.ServicePPP, User: "alice", Password: "wonderland"})
			if errors.Is(err, aaa.ErrUnreachable) {
				t.Fatalf("err = %v must not be unreachable", err)
			}
			if tt.wantRejected != errors.Is(err, aaa.ErrRejected) {
				t.Fatalf("err = %v, rejected want %v", err, tt.wantRejected)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestPPPAuthentication(t *testing.T) {
	f := newFake()
	srv := startTQ(t, "k", f, nil)
	c := newClient(t, Config{Servers: []Server{tcpServer(srv.addr, "k")}, SkipAuthorization: true})

	challenge := []byte("0123456789abcdef-chal")
	good := aaa.CHAPMD5Response(7, "wonderland", challenge)
	bad := aaa.CHAPMD5Response(7, "nope", challenge)
	msChal := bytes.Repeat([]byte{0xc1}, 16)
	msResp := bytes.Repeat([]byte{0x5e}, 49)
	f.mschapOK = append(append([]byte{9}, msChal...), msResp...)

	tests := []struct {
		name     string
		req      aaa.Request
		wantType tq.AuthenType
		wantData []byte
		wantErr  error
		offline  bool // refused without asking the server
	}{
		{name: "pap", req: aaa.Request{User: "alice", Password: "wonderland"}, wantType: tq.AuthenTypePAP, wantData: []byte("wonderland")},
		{name: "pap wrong", req: aaa.Request{User: "alice", Password: "x"}, wantType: tq.AuthenTypePAP, wantData: []byte("x"), wantErr: aaa.ErrRejected},
		{
			name:     "chap",
			req:      aaa.Request{User: "alice", CHAP: &aaa.CHAP{ID: 7, Challenge: challenge, Response: good[:]}},
			wantType: tq.AuthenTypeCHAP,
			wantData: append(append([]byte{7}, challenge...), good[:]...),
		},
		{
			name:     "chap wrong",
			req:      aaa.Request{User: "alice", CHAP: &aaa.CHAP{Type: aaa.CHAPMD5, ID: 7, Challenge: challenge, Response: bad[:]}},
			wantType: tq.AuthenTypeCHAP,
			wantData: append(append([]byte{7}, challenge...), bad[:]...),
			wantErr:  aaa.ErrRejected,
		},
		{
			name:     "mschapv2",
			req:      aaa.Request{User: "alice", CHAP: &aaa.CHAP{Type: aaa.CHAPMSv2, ID: 9, Challenge: msChal, Response: msResp}},
			wantType: tq.AuthenTypeMSCHAPV2,
			wantData: f.mschapOK,
		},
		{
			name:    "chap short response",
			req:     aaa.Request{User: "alice", CHAP: &aaa.CHAP{ID: 7, Challenge: challenge, Response: good[:8]}},
			wantErr: aaa.ErrRejected, offline: true,
		},
		{
			name:    "mschapv2 short response",
			req:     aaa.Request{User: "alice", CHAP: &aaa.CHAP{Type: aaa.CHAPMSv2, ID: 9, Challenge: msChal, Response: msResp[:48]}},
			wantErr: aaa.ErrRejected, offline: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _, _, _, _ := f.snapshot()
			r := tt.req
			r.Service = aaa.ServicePPP
			prof, err := c.Authenticate(context.Background(), &r)
			if tt.wantErr == nil && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			starts, minors, _, _, _ := f.snapshot()
			if tt.offline {
				if len(starts) != len(before) {
					t.Fatal("a malformed response reached the server")
				}
				return
			}
			s := starts[len(starts)-1]
			if s.Type != tt.wantType || s.Service != tq.AuthenServicePPP || minors[len(minors)-1] != minorOne {
				t.Errorf("START type %v service %v minor %d", s.Type, s.Service, minors[len(minors)-1])
			}
			if !bytes.Equal([]byte(s.Data), tt.wantData) {
				t.Errorf("START data = %x, want %x", []byte(s.Data), tt.wantData)
			}
			if err == nil && tt.wantType == tq.AuthenTypeMSCHAPV2 && prof.AuthenticatorResponse != "S=0123456789ABCDEF0123456789ABCDEF01234567" {
				t.Errorf("authenticator response = %q", prof.AuthenticatorResponse)
			}
		})
	}
}

func TestAuthenticateARAPUnsupported(t *testing.T) {
	c := newClient(t, Config{Servers: []Server{{Address: "127.0.0.1:1", Secret: "k"}}})
	_, err := c.Authenticate(context.Background(), &aaa.Request{Service: aaa.ServiceARAP, User: "mac", Password: "x"})
	if err == nil || errors.Is(err, aaa.ErrUnreachable) || errors.Is(err, aaa.ErrRejected) {
		t.Fatalf("err = %v, want a plain error", err)
	}
}
