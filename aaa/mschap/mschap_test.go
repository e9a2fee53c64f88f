package mschap

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The example of RFC 2759 §9.2.
func TestRFC2759Vectors(t *testing.T) {
	const user, password = "User", "clientPass"
	auth := unhex(t, "5B 5D 7C 7D 7B 3F 2F 3E 3C 2C 60 21 32 26 26 28")
	peer := unhex(t, "21 40 23 24 25 5E 26 2A 28 29 5F 2B 3A 33 7C 7E")

	if got, want := ChallengeHash(peer, auth, user), unhex(t, "D0 2E 43 86 BC E9 12 26"); !bytes.Equal(got[:], want) {
		t.Errorf("ChallengeHash = %X, want %X", got, want)
	}
	pw := NTPasswordHash(password)
	if want := unhex(t, "44 EB BA 8D 53 12 B8 D6 11 47 44 11 F5 69 89 AE"); !bytes.Equal(pw[:], want) {
		t.Errorf("NTPasswordHash = %X, want %X", pw, want)
	}
	if got, want := md4Sum(pw[:]), unhex(t, "41 C0 0C 58 4B D2 D9 1C 40 17 A2 A1 2F A5 9F 3F"); !bytes.Equal(got[:], want) {
		t.Errorf("PasswordHashHash = %X, want %X", got, want)
	}
	wantNT := unhex(t, "82 30 9E CD 8D 70 8B 5E A0 8F AA 39 81 CD 83 54 42 33 11 4A 3D 85 D6 DF")
	nt := GenerateNTResponse(auth, peer, user, password)
	if !bytes.Equal(nt[:], wantNT) {
		t.Errorf("GenerateNTResponse = %X, want %X", nt, wantNT)
	}
	const wantAuth = "S=407A5589115FD0D6209F510FE9C04566932CDA56"
	if got := GenerateAuthenticatorResponse(password, nt[:], peer, auth, user); got != wantAuth {
		t.Errorf("GenerateAuthenticatorResponse = %s, want %s", got, wantAuth)
	}

	ok, resp := Verify(user, password, auth, peer, wantNT)
	if !ok || resp != wantAuth {
		t.Errorf("Verify = %v, %q; want true, %q", ok, resp, wantAuth)
	}
	if !CheckAuthenticatorResponse(password, wantNT, peer, auth, user, strings.ToLower(wantAuth[:2])+strings.ToLower(wantAuth[2:])) {
		t.Error("CheckAuthenticatorResponse refused the RFC's response in lower case")
	}
}

func TestVerifyRejects(t *testing.T) {
	auth := bytes.Repeat([]byte{1}, 16)
	peer := bytes.Repeat([]byte{2}, 16)
	nt := GenerateNTResponse(auth, peer, "alice", "wonderland")
	tests := []struct {
		name            string
		user, password  string
		auth, peer, ntr []byte
		ok              bool
	}{
		{"good", "alice", "wonderland", auth, peer, nt[:], true},
		{"domain is not hashed", `CORP\alice`, "wonderland", auth, peer, nt[:], true},
		{"wrong password", "alice", "Wonderland", auth, peer, nt[:], false},
		{"wrong user", "bob", "wonderland", auth, peer, nt[:], false},
		{"other auth challenge", "alice", "wonderland", peer, peer, nt[:], false},
		{"other peer challenge", "alice", "wonderland", auth, auth, nt[:], false},
		{"short nt response", "alice", "wonderland", auth, peer, nt[:23], false},
		{"short challenge", "alice", "wonderland", auth[:15], peer, nt[:], false},
		{"empty", "alice", "wonderland", nil, nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, resp := Verify(tt.user, tt.password, tt.auth, tt.peer, tt.ntr)
			if ok != tt.ok || (ok != (resp != "")) {
				t.Errorf("Verify = %v, %q; want %v", ok, resp, tt.ok)
			}
		})
	}
	if CheckAuthenticatorResponse("wonderland", nt[:], peer, auth, "alice", "S=0000000000000000000000000000000000000000") {
		t.Error("CheckAuthenticatorResponse accepted a wrong response")
	}
}

func TestNTPasswordHashUnicode(t *testing.T) {
	// A character outside the BMP becomes a surrogate pair, as Windows encodes it.
	a, b := NTPasswordHash("p\U0001F600"), NTPasswordHash("p\uFFFD")
	if a == b {
		t.Error("a supplementary character hashed like U+FFFD")
	}
	if NTPasswordHash("") != md4Sum(nil) {
		t.Error("empty password is not MD4 of nothing")
	}
}

func TestParseResponse(t *testing.T) {
	peer := bytes.Repeat([]byte{0xAA}, 16)
	nt := bytes.Repeat([]byte{0xBB}, 24)
	v := AppendResponse(nil, peer, nt)
	if len(v) != ResponseLen {
		t.Fatalf("AppendResponse length %d", len(v))
	}
	p, n, err := ParseResponse(v)
	if err != nil || !bytes.Equal(p, peer) || !bytes.Equal(n, nt) {
		t.Fatalf("ParseResponse = %X, %X, %v", p, n, err)
	}
	for _, bad := range [][]byte{v[:48], append(bytes.Clone(v), 0), func() []byte { b := bytes.Clone(v); b[20] = 1; return b }(),
		func() []byte { b := bytes.Clone(v); b[48] = 1; return b }()} {
		if _, _, err := ParseResponse(bad); err == nil {
			t.Errorf("ParseResponse(%X) accepted", bad)
		}
	}
}

func TestUserName(t *testing.T) {
	for in, want := range map[string]string{"alice": "alice", `CORP\alice`: "alice", `A\B\c`: "c", `x\`: ""} {
		if got := UserName(in); got != want {
			t.Errorf("UserName(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseResponse(f *testing.F) {
	f.Add(make([]byte, ResponseLen))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, n, err := ParseResponse(b)
		if err == nil && (len(p) != ChallengeLen || len(n) != NTResponseLen) {
			t.Fatalf("lengths %d, %d", len(p), len(n))
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	auth := bytes.Repeat([]byte{1}, 16)
	peer := bytes.Repeat([]byte{2}, 16)
	nt := GenerateNTResponse(auth, peer, "alice", "wonderland")
	b.ReportAllocs()
	for b.Loop() {
		Verify("alice", "wonderland", auth, peer, nt[:])
	}
}
