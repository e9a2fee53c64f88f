package aaa

import (
	"encoding/hex"
	"testing"
)

func TestCHAPMD5Response(t *testing.T) {
	// MD5(0x2a || "sesame" || 00 01 .. 0f), computed independently with Python's hashlib.
	challenge := make([]byte, 16)
	for i := range challenge {
		challenge[i] = byte(i)
	}
	got := CHAPMD5Response(0x2a, "sesame", challenge)
	if want := "3bf8699574fa2fa62893376fd69fca04"; hex.EncodeToString(got[:]) != want {
		t.Fatalf("CHAPMD5Response = %x, want %s", got, want)
	}
}

func TestVerifyCHAPMD5(t *testing.T) {
	challenge := []byte("a challenge of any length")
	resp := CHAPMD5Response(9, "s3cret", challenge)
	tests := []struct {
		name   string
		secret string
		c      *CHAP
		want   bool
	}{
		{"good", "s3cret", &CHAP{Type: CHAPMD5, ID: 9, Challenge: challenge, Response: resp[:]}, true},
		{"zero type is MD5", "s3cret", &CHAP{ID: 9, Challenge: challenge, Response: resp[:]}, true},
		{"wrong secret", "s3creT", &CHAP{ID: 9, Challenge: challenge, Response: resp[:]}, false},
		{"wrong id", "s3cret", &CHAP{ID: 10, Challenge: challenge, Response: resp[:]}, false},
		{"wrong challenge", "s3cret", &CHAP{ID: 9, Challenge: challenge[1:], Response: resp[:]}, false},
		{"short response", "s3cret", &CHAP{ID: 9, Challenge: challenge, Response: resp[:15]}, false},
		{"long response", "s3cret", &CHAP{ID: 9, Challenge: challenge, Response: append(resp[:], 0)}, false},
		{"empty response", "s3cret", &CHAP{ID: 9, Challenge: challenge}, false},
		{"ms-chapv2", "s3cret", &CHAP{Type: CHAPMSv2, ID: 9, Challenge: challenge, Response: resp[:]}, false},
		{"nil", "s3cret", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerifyCHAPMD5(tt.secret, tt.c); got != tt.want {
				t.Errorf("VerifyCHAPMD5 = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCHAPAlgorithmString(t *testing.T) {
	for a, want := range map[CHAPAlgorithm]string{0: "CHAP-MD5", CHAPMD5: "CHAP-MD5", CHAPMSv2: "MS-CHAPv2", 0x80: "CHAP algorithm 128"} {
		if got := a.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", uint8(a), got, want)
		}
	}
}
