package local

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/mschap"
	"github.com/dialback/nas/config"
)

func ptr(s string) *string { return &s }

func mustBcrypt(t testing.TB, pw string, cost int) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// The sha512-crypt of "Hello world!" from the specification.
const carolHash = "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"

func testUsers(t testing.TB) []config.User {
	return []config.User{
		{Name: "alice", Password: "wonderland", CallbackDialstring: ptr("5551234"), CallbackLine: 3, NoCallbackVerify: true},
		{Name: "bob", PasswordHash: mustBcrypt(t, "builder", bcrypt.MinCost), CallbackDialstring: ptr(""), CallbackRotary: 2},
		{Name: "carol", PasswordHash: carolHash, Autocommand: "ppp"},
		{Name: "dave", CallbackDialstring: ptr("5550000")}, // authorization only
		{Name: "erin", Password: "x", CallbackDialstring: ptr("5559999"), CallbackLine: 4, CallbackRotary: 7},
	}
}

func newTable(t testing.TB, users []config.User) (*Local, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	l, err := New(users, WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return l, &buf
}

func chapFor(id byte, secret string, challenge []byte) *aaa.CHAP {
	r := aaa.CHAPMD5Response(id, secret, challenge)
	return &aaa.CHAP{Type: aaa.CHAPMD5, ID: id, Challenge: challenge, Response: r[:]}
}

func msFor(user, secret string, challenge []byte) *aaa.CHAP {
	peer := []byte("peer-challenge!!")
	nt := mschap.GenerateNTResponse(challenge, peer, user, secret)
	return &aaa.CHAP{Type: aaa.CHAPMSv2, ID: 9, Challenge: challenge, Response: mschap.AppendResponse(nil, peer, nt[:])}
}

// MS-CHAPv2 success carries the authenticator response the peer checks (RFC 2759 §5).
func TestMSCHAPv2AuthenticatorResponse(t *testing.T) {
	l, _ := newTable(t, testUsers(t))
	challenge := []byte("0123456789abcdef")
	c := msFor("alice", "wonderland", challenge)
	p, err := l.Authenticate(context.Background(), &aaa.Request{Service: aaa.ServicePPP, User: "alice", CHAP: c})
	if err != nil {
		t.Fatal(err)
	}
	peer, nt, _ := mschap.ParseResponse(c.Response)
	if !mschap.CheckAuthenticatorResponse("wonderland", nt, peer, challenge, "alice", p.AuthenticatorResponse) {
		t.Errorf("AuthenticatorResponse %q does not check", p.AuthenticatorResponse)
	}
	md5, err := l.Authenticate(context.Background(), &aaa.Request{Service: aaa.ServicePPP, User: "alice", CHAP: chapFor(1, "wonderland", challenge)})
	if err != nil || md5.AuthenticatorResponse != "" {
		t.Errorf("CHAP-MD5 profile = %+v, %v; want no authenticator response", md5, err)
	}
}

func TestAuthenticate(t *testing.T) {
	l, logs := newTable(t, testUsers(t))
	challenge := []byte("0123456789abcdef")
	good := chapFor(7, "wonderland", challenge)
	tests := []struct {
		name    string
		req     aaa.Request
		ok      bool
		logWhy  string // substring of the logged reason on reject
		generic bool   // the reject must read exactly like any bad username or password
	}{
		{name: "cleartext good", req: aaa.Request{User: "alice", Password: "wonderland"}, ok: true},
		{name: "cleartext wrong", req: aaa.Request{User: "alice", Password: "wonderlan"}, logWhy: "wrong password", generic: true},
		{name: "cleartext empty", req: aaa.Request{User: "alice"}, logWhy: "wrong password", generic: true},
		{name: "cleartext longer", req: aaa.Request{User: "alice", Password: "wonderland!"}, logWhy: "wrong password", generic: true},
		{name: "unknown user", req: aaa.Request{User: "mallory", Password: "wonderland"}, logWhy: "unknown user", generic: true},
		{name: "names are case-sensitive", req: aaa.Request{User: "Alice", Password: "wonderland"}, logWhy: "unknown user", generic: true},
		{name: "bcrypt good", req: aaa.Request{User: "bob", Password: "builder"}, ok: true},
		{name: "bcrypt wrong", req: aaa.Request{User: "bob", Password: "Builder"}, logWhy: "wrong password", generic: true},
		{name: "sha512 good", req: aaa.Request{User: "carol", Password: "Hello world!"}, ok: true},
		{name: "sha512 wrong", req: aaa.Request{User: "carol", Password: "Hello world"}, logWhy: "wrong password", generic: true},
		{name: "no password configured", req: aaa.Request{User: "dave", Password: ""}, logWhy: "no password configured", generic: true},
		{name: "chap good", req: aaa.Request{User: "alice", CHAP: good}, ok: true},
		{name: "chap zero type means MD5", req: aaa.Request{User: "alice", CHAP: &aaa.CHAP{ID: good.ID, Challenge: challenge, Response: good.Response}}, ok: true},
		{name: "chap wins over password", req: aaa.Request{User: "alice", Password: "wonderland", CHAP: chapFor(7, "nope", challenge)}, logWhy: "wrong CHAP response", generic: true},
		{name: "chap wrong secret", req: aaa.Request{User: "alice", CHAP: chapFor(7, "wonderlanD", challenge)}, logWhy: "wrong CHAP response", generic: true},
		{name: "chap wrong id", req: aaa.Request{User: "alice", CHAP: &aaa.CHAP{ID: 8, Challenge: challenge, Response: good.Response}}, logWhy: "wrong CHAP response", generic: true},
		{name: "chap other challenge", req: aaa.Request{User: "alice", CHAP: &aaa.CHAP{ID: 7, Challenge: []byte("0123456789abcdeF"), Response: good.Response}}, logWhy: "wrong CHAP response", generic: true},
		{name: "chap short response", req: aaa.Request{User: "alice", CHAP: &aaa.CHAP{ID: 7, Challenge: challenge, Response: good.Response[:15]}}, logWhy: "wrong CHAP response", generic: true},
		{name: "chap on bcrypt user", req: aaa.Request{User: "bob", CHAP: chapFor(1, "builder", challenge)}, logWhy: "CHAP needs a cleartext secret", generic: true},
		{name: "chap on sha512 user", req: aaa.Request{User: "carol", CHAP: chapFor(1, "Hello world!", challenge)}, logWhy: "CHAP needs a cleartext secret", generic: true},
		{name: "chap unknown user", req: aaa.Request{User: "mallory", CHAP: good}, logWhy: "unknown user", generic: true},
		{name: "chap no password", req: aaa.Request{User: "dave", CHAP: good}, logWhy: "no password configured", generic: true},
		{name: "ms-chapv2 good", req: aaa.Request{User: "alice", CHAP: msFor("alice", "wonderland", challenge)}, ok: true},
		{name: "ms-chapv2 wrong secret", req: aaa.Request{User: "alice", CHAP: msFor("alice", "wonderlanD", challenge)}, logWhy: "wrong CHAP response", generic: true},
		{name: "ms-chapv2 other challenge", req: aaa.Request{User: "alice", CHAP: func() *aaa.CHAP {
			c := msFor("alice", "wonderland", challenge)
			c.Challenge = []byte("0123456789abcdeF")
			return c
		}()}, logWhy: "wrong CHAP response", generic: true},
		{name: "ms-chapv2 malformed", req: aaa.Request{User: "alice", CHAP: &aaa.CHAP{Type: aaa.CHAPMSv2, Challenge: challenge, Response: make([]byte, 48)}}, logWhy: "wrong CHAP response", generic: true},
		{name: "ms-chapv2 unknown user", req: aaa.Request{User: "mallory", CHAP: msFor("mallory", "wonderland", challenge)}, logWhy: "unknown user", generic: true},
		{name: "ms-chapv2 on bcrypt user", req: aaa.Request{User: "bob", CHAP: msFor("bob", "builder", challenge)}, logWhy: "CHAP needs a cleartext secret", generic: true},
		{name: "ms-chap v1 not supported", req: aaa.Request{User: "alice", CHAP: &aaa.CHAP{Type: 0x80, Challenge: challenge, Response: make([]byte, 49)}}},
	}
	var genericMsg string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs.Reset()
			req := tt.req
			req.Service = aaa.ServiceLogin
			if req.CHAP != nil {
				req.Service = aaa.ServicePPP
			}
			p, err := l.Authenticate(context.Background(), &req)
			if tt.ok {
				if err != nil {
					t.Fatalf("Authenticate = %v, want success", err)
				}
				if p.User != req.User || p.Source != "local" {
					t.Errorf("profile = %+v, want user %q source local", p, req.User)
				}
				return
			}
			if p != nil || !errors.Is(err, aaa.ErrRejected) {
				t.Fatalf("Authenticate = %+v, %v; want a reject", p, err)
			}
			if errors.Is(err, aaa.ErrUnreachable) {
				t.Errorf("reject also wraps ErrUnreachable: %v", err)
			}
			if tt.generic {
				if genericMsg == "" {
					genericMsg = err.Error()
				} else if err.Error() != genericMsg {
					t.Errorf("reject reads %q, other rejects read %q: the caller could tell them apart", err, genericMsg)
				}
			}
			if tt.logWhy != "" && !strings.Contains(logs.String(), tt.logWhy) {
				t.Errorf("log %q does not say %q", logs.String(), tt.logWhy)
			}
			for _, secret := range []string{req.Password, "wonderland", "builder", "Hello world!"} {
				if secret != "" && strings.Contains(logs.String(), secret) {
					t.Errorf("log contains a secret %q: %s", secret, logs.String())
				}
			}
		})
	}
}

func TestAuthenticateCanceled(t *testing.T) {
	l, _ := newTable(t, testUsers(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := l.Authenticate(ctx, &aaa.Request{User: "alice", Password: "wonderland"})
	if !errors.Is(err, context.Canceled) || errors.Is(err, aaa.ErrRejected) {
		t.Errorf("Authenticate on a canceled context = %v, want context.Canceled and not a reject", err)
	}
	_, err = l.Authorize(ctx, &aaa.Request{User: "alice"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Authorize on a canceled context = %v, want context.Canceled", err)
	}
}

func TestProfileMapping(t *testing.T) {
	l, _ := newTable(t, testUsers(t))
	tests := []struct {
		user     string
		callback *aaa.Callback
		autocmd  string
	}{
		{"alice", &aaa.Callback{Dialstring: "5551234", Line: 3, NoVerify: true}, ""},
		{"bob", &aaa.Callback{Dialstring: "", Rotary: 2}, ""}, // pointer to "": the user supplies it
		{"carol", nil, "ppp"}, // no callback-dialstring: not a callback user
		{"dave", &aaa.Callback{Dialstring: "5550000"}, ""},
		{"erin", &aaa.Callback{Dialstring: "5559999", Line: 4, Rotary: 7}, ""}, // both kept; callback.Plan picks
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			p, err := l.Authorize(context.Background(), &aaa.Request{User: tt.user, Leg: aaa.LegCallback})
			if err != nil {
				t.Fatalf("Authorize: %v", err)
			}
			if p.User != tt.user || p.Autocommand != tt.autocmd || p.Source != "local" {
				t.Errorf("profile = %+v", p)
			}
			switch {
			case tt.callback == nil && p.Callback != nil:
				t.Errorf("Callback = %+v, want nil", *p.Callback)
			case tt.callback != nil && p.Callback == nil:
				t.Errorf("Callback = nil, want %+v", *tt.callback)
			case tt.callback != nil && *p.Callback != *tt.callback:
				t.Errorf("Callback = %+v, want %+v", *p.Callback, *tt.callback)
			}
		})
	}
	// A caller that edits its profile must not change the table.
	p, _ := l.Authorize(context.Background(), &aaa.Request{User: "alice"})
	p.Callback.Dialstring = "999"
	p2, _ := l.Authorize(context.Background(), &aaa.Request{User: "alice"})
	if p2.Callback.Dialstring != "5551234" {
		t.Errorf("editing a returned profile changed the table: %q", p2.Callback.Dialstring)
	}
}

func TestAuthorizeUnknown(t *testing.T) {
	l, logs := newTable(t, testUsers(t))
	p, err := l.Authorize(context.Background(), &aaa.Request{User: "mallory"})
	if p != nil || !errors.Is(err, aaa.ErrRejected) {
		t.Fatalf("Authorize(unknown) = %+v, %v; want a reject", p, err)
	}
	if !strings.Contains(logs.String(), "unknown user") {
		t.Errorf("log %q does not say unknown user", logs)
	}
}

func TestCHAPCapable(t *testing.T) {
	l, _ := newTable(t, testUsers(t))
	for user, want := range map[string]bool{"alice": true, "bob": false, "carol": false, "dave": false, "mallory": false, "erin": true} {
		if got := l.CHAPCapable(user); got != want {
			t.Errorf("CHAPCapable(%q) = %v, want %v", user, got, want)
		}
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		user config.User
		dup  bool
		want string // substring of the error
	}{
		{name: "empty name", user: config.User{Password: "x"}, want: "name is empty"},
		{name: "duplicate", user: config.User{Name: "u", Password: "x"}, dup: true, want: "defined twice"},
		{name: "both secrets", user: config.User{Name: "u", Password: "x", PasswordHash: carolHash}, want: "both password and password-hash"},
		{name: "md5-crypt", user: config.User{Name: "u", PasswordHash: "$1$salt$qJH7.N4xYta3aEG/dfqo/0"}, want: "unsupported format"},
		{name: "sha256-crypt", user: config.User{Name: "u", PasswordHash: "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZF7ZxQ4I7"}, want: "unsupported format"},
		{name: "cleartext in hash", user: config.User{Name: "u", PasswordHash: "secret"}, want: "unsupported format"},
		{name: "bcrypt truncated", user: config.User{Name: "u", PasswordHash: "$2b$10$abc"}, want: "bcrypt"},
		{name: "bcrypt bad cost", user: config.User{Name: "u", PasswordHash: "$2b$99$" + strings.Repeat("a", 53)}, want: "bcrypt"},
		{name: "bcrypt bad alphabet", user: config.User{Name: "u", PasswordHash: "$2b$04$" + strings.Repeat("!", 53)}, want: "alphabet"},
		{name: "sha512 truncated", user: config.User{Name: "u", PasswordHash: carolHash[:50]}, want: "sha512-crypt"},
		{name: "negative line", user: config.User{Name: "u", Password: "x", CallbackDialstring: ptr(""), CallbackLine: -1}, want: "callback-line"},
		{name: "rotary over 100", user: config.User{Name: "u", Password: "x", CallbackDialstring: ptr(""), CallbackRotary: 101}, want: "callback-rotary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users := []config.User{tt.user}
			if tt.dup {
				users = append(users, tt.user)
			}
			_, err := New(users)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	// Each accepted bcrypt variant.
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		h := mustBcrypt(t, "pw", bcrypt.MinCost)
		h = prefix + h[4:]
		l, err := New([]config.User{{Name: "u", PasswordHash: h}})
		if err != nil {
			t.Errorf("New with %s hash: %v", prefix, err)
			continue
		}
		if _, err := l.Authenticate(context.Background(), &aaa.Request{User: "u", Password: "pw"}); err != nil {
			t.Errorf("Authenticate with %s hash: %v", prefix, err)
		}
	}
}

func TestNewWarnsCallbackWithoutDialstring(t *testing.T) {
	_, logs := newTable(t, []config.User{{Name: "u", Password: "x", CallbackLine: 3}})
	if !strings.Contains(logs.String(), "no callback-dialstring") {
		t.Errorf("no warning for callback-line without callback-dialstring; log: %q", logs)
	}
}

// An unknown user is verified against the most expensive secret in the table, so that it costs
// what a wrong password costs (BenchmarkAuthenticate shows the timings).
func TestDummyMatchesCostliestHash(t *testing.T) {
	cheap := mustBcrypt(t, "a", bcrypt.MinCost)
	dear := mustBcrypt(t, "b", bcrypt.MinCost+1)
	tests := []struct {
		name  string
		users []config.User
		kind  secretKind
		hash  string
	}{
		{"bcrypt wins", []config.User{{Name: "c", PasswordHash: carolHash}, {Name: "a", PasswordHash: cheap}, {Name: "b", PasswordHash: dear}, {Name: "d", Password: "x"}}, secretBcrypt, dear},
		{"sha512 only", []config.User{{Name: "c", PasswordHash: carolHash}, {Name: "d", Password: "x"}}, secretSHA512, carolHash},
		{"cleartext only", []config.User{{Name: "d", Password: "x"}}, secretClear, ""},
		{"empty table", nil, secretClear, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := newTable(t, tt.users)
			if l.dummy.kind != tt.kind {
				t.Fatalf("dummy kind = %v, want %v", l.dummy.kind, tt.kind)
			}
			switch tt.kind {
			case secretBcrypt:
				if string(l.dummy.bcrypt) != tt.hash {
					t.Errorf("dummy is not the costliest bcrypt hash")
				}
			case secretSHA512:
				if l.dummy.sha512.full != tt.hash {
					t.Errorf("dummy is not the sha512-crypt hash")
				}
			case secretClear:
				if l.dummy.clear == "x" || len(l.dummy.clear) != 32 {
					t.Errorf("dummy cleartext should be a random 32-byte secret")
				}
			}
			if _, err := l.Authenticate(context.Background(), &aaa.Request{User: "nobody", Password: "a"}); !errors.Is(err, aaa.ErrRejected) {
				t.Errorf("unknown user: %v", err)
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	l, _ := newTable(t, testUsers(t))
	done := make(chan error)
	for i := range 8 {
		go func() {
			pw := "wonderland"
			if i%2 == 1 {
				pw = "nope"
			}
			_, err := l.Authenticate(context.Background(), &aaa.Request{User: "alice", Password: pw})
			if (err == nil) != (i%2 == 0) {
				done <- errors.New("wrong answer under concurrency")
				return
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// BenchmarkAuthenticate compares a wrong password with an unknown user: on a bcrypt table
// they should cost about the same.
func BenchmarkAuthenticate(b *testing.B) {
	l, err := New([]config.User{{Name: "bob", PasswordHash: mustBcrypt(b, "builder", bcrypt.DefaultCost)}},
		WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, user, pw string }{
		{"wrong-password", "bob", "nope"},
		{"unknown-user", "mallory", "nope"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				l.Authenticate(context.Background(), &aaa.Request{User: c.user, Password: c.pw})
			}
		})
	}
}
