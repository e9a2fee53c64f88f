// Package mschap owns the MS-CHAPv2 cryptography of RFC 2759 §8: the NT password hash, the
// NT-Response a peer computes from a challenge and its password, and the authenticator response
// by which the server proves it knew the password too. It is shared by the local AAA method
// (which verifies against a cleartext secret) and the PPP client role, so neither imports the other.
package mschap

import (
	"crypto/des"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"

	"golang.org/x/crypto/md4"
)

// Sizes of the MS-CHAPv2 values (RFC 2759 §3, §4).
const (
	ChallengeLen     = 16 // Authenticator Challenge and Peer-Challenge
	NTResponseLen    = 24 // NT-Response
	ResponseLen      = 49 // Response Value: Peer-Challenge(16), Reserved(8), NT-Response(24), Flags(1)
	reservedOffset   = 16
	ntResponseOffset = 24
	flagsOffset      = 48
)

// ErrResponse is wrapped by ParseResponse when a Response Value is malformed.
var ErrResponse = errors.New("malformed MS-CHAPv2 response")

// ParseResponse splits a 49-octet MS-CHAPv2 Response Value (RFC 2759 §4) into its Peer-Challenge
// and NT-Response. The Reserved octets and the Flags octet must be zero. The results point into v.
func ParseResponse(v []byte) (peerChallenge, ntResponse []byte, err error) {
	if len(v) != ResponseLen {
		return nil, nil, fmt.Errorf("response value of %d octets, want %d: %w", len(v), ResponseLen, ErrResponse)
	}
	for _, b := range v[reservedOffset:ntResponseOffset] {
		if b != 0 {
			return nil, nil, fmt.Errorf("reserved octets are not zero: %w", ErrResponse)
		}
	}
	if v[flagsOffset] != 0 {
		return nil, nil, fmt.Errorf("flags octet is %#x, not zero: %w", v[flagsOffset], ErrResponse)
	}
	return v[:ChallengeLen], v[ntResponseOffset:flagsOffset], nil
}

// AppendResponse appends a Response Value built from peerChallenge (16 octets) and ntResponse
// (24 octets), with Reserved and Flags zero (RFC 2759 §4).
func AppendResponse(dst, peerChallenge, ntResponse []byte) []byte {
	dst = append(dst, peerChallenge[:ChallengeLen]...)
	dst = append(dst, make([]byte, ntResponseOffset-reservedOffset)...)
	dst = append(dst, ntResponse[:NTResponseLen]...)
	return append(dst, 0)
}

// UserName is the part of a CHAP Name that enters the hashes: the account name without a
// "DOMAIN\" prefix (RFC 2759 §4: "only the user name is used, without any associated Windows NT
// domain name"; pppd strips it the same way).
func UserName(name string) string {
	if i := strings.LastIndexByte(name, '\\'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// NTPasswordHash is MD4 of the password in UTF-16 little-endian (RFC 2759 §8.3).
func NTPasswordHash(password string) [16]byte {
	u := utf16.Encode([]rune(password))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i], b[2*i+1] = byte(c), byte(c>>8)
	}
	return md4Sum(b)
}

func md4Sum(b []byte) [16]byte {
	h := md4.New()
	h.Write(b)
	var out [16]byte
	h.Sum(out[:0])
	return out
}

// ChallengeHash is the first 8 octets of SHA-1(Peer-Challenge || Authenticator-Challenge ||
// user name), the user name stripped of any domain (RFC 2759 §8.2).
func ChallengeHash(peerChallenge, authChallenge []byte, user string) [8]byte {
	h := sha1.New()
	h.Write(peerChallenge)
	h.Write(authChallenge)
	h.Write([]byte(UserName(user)))
	var sum [sha1.Size]byte
	h.Sum(sum[:0])
	var out [8]byte
	copy(out[:], sum[:8])
	return out
}

// ChallengeResponse DES-encrypts the 8-octet challenge under the three 7-octet thirds of the
// password hash padded with zeros to 21 octets (RFC 2759 §8.5).
func ChallengeResponse(challenge [8]byte, passwordHash [16]byte) [NTResponseLen]byte {
	var z [21]byte
	copy(z[:], passwordHash[:])
	var out [NTResponseLen]byte
	for i := range 3 {
		desEncrypt(out[8*i:8*i+8], challenge[:], z[7*i:7*i+7])
	}
	return out
}

// desEncrypt encrypts one block with a 56-bit key given as 7 octets, spread over the 8 key
// octets with the low (parity) bit of each left zero, which DES ignores (RFC 2759 §8.6).
func desEncrypt(dst, clear, key7 []byte) {
	var k [8]byte
	k[0] = key7[0]
	k[1] = key7[0]<<7 | key7[1]>>1
	k[2] = key7[1]<<6 | key7[2]>>2
	k[3] = key7[2]<<5 | key7[3]>>3
	k[4] = key7[3]<<4 | key7[4]>>4
	k[5] = key7[4]<<3 | key7[5]>>5
	k[6] = key7[5]<<2 | key7[6]>>6
	k[7] = key7[6] << 1
	c, err := des.NewCipher(k[:])
	if err != nil {
		panic("mschap: DES key of 8 octets refused: " + err.Error()) // cannot happen: the length is fixed
	}
	c.Encrypt(dst, clear)
}

// GenerateNTResponse computes the NT-Response a peer sends (RFC 2759 §8.1).
func GenerateNTResponse(authChallenge, peerChallenge []byte, user, password string) [NTResponseLen]byte {
	return ChallengeResponse(ChallengeHash(peerChallenge, authChallenge, user), NTPasswordHash(password))
}

// The constants of GenerateAuthenticatorResponse (RFC 2759 §8.7).
var (
	magic1 = []byte("Magic server to client signing constant")
	magic2 = []byte("Pad to make it do more than one iteration")
)

// GenerateAuthenticatorResponse computes the authenticator response the server puts in its
// Success packet: "S=" and 40 upper-case hexadecimal digits (RFC 2759 §8.7, §5).
func GenerateAuthenticatorResponse(password string, ntResponse, peerChallenge, authChallenge []byte, user string) string {
	pwHash := NTPasswordHash(password)
	return authenticatorResponse(md4Sum(pwHash[:]), ntResponse, peerChallenge, authChallenge, user)
}

func authenticatorResponse(pwHashHash [16]byte, ntResponse, peerChallenge, authChallenge []byte, user string) string {
	h := sha1.New()
	h.Write(pwHashHash[:])
	h.Write(ntResponse)
	h.Write(magic1)
	var digest [sha1.Size]byte
	h.Sum(digest[:0])
	ch := ChallengeHash(peerChallenge, authChallenge, user)
	h.Reset()
	h.Write(digest[:])
	h.Write(ch[:])
	h.Write(magic2)
	h.Sum(digest[:0])
	return "S=" + strings.ToUpper(hex.EncodeToString(digest[:]))
}

// Verify checks an NT-Response against the cleartext password (RFC 2759 §8.1), comparing in
// constant time. On success it also returns the authenticator response for the Success packet.
// Challenges of the wrong length fail.
func Verify(user, password string, authChallenge, peerChallenge, ntResponse []byte) (ok bool, authenticatorResponse string) {
	if len(authChallenge) != ChallengeLen || len(peerChallenge) != ChallengeLen {
		return false, ""
	}
	want := GenerateNTResponse(authChallenge, peerChallenge, user, password)
	if subtle.ConstantTimeCompare(want[:], ntResponse) != 1 {
		return false, ""
	}
	return true, GenerateAuthenticatorResponse(password, ntResponse, peerChallenge, authChallenge, user)
}

// CheckAuthenticatorResponse is the peer's check of the server's Success message (RFC 2759
// §8.8): got must be the expected "S=..." string. Hex digits are compared case-insensitively.
func CheckAuthenticatorResponse(password string, ntResponse, peerChallenge, authChallenge []byte, user, got string) bool {
	want := GenerateAuthenticatorResponse(password, ntResponse, peerChallenge, authChallenge, user)
	return subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToUpper(got))) == 1
}
