package aaa

import (
	"crypto/md5"
	"crypto/subtle"
)

// CHAPMD5ResponseLen is the length of a CHAP-MD5 Response Value: one MD5 digest (RFC 1994 §4.1
// with algorithm 5, RFC 1321).
const CHAPMD5ResponseLen = md5.Size

// CHAPMD5Response computes the CHAP-MD5 Response Value MD5(Identifier || secret || Challenge)
// (RFC 1994 §4.1). PPP's client role uses it to answer; VerifyCHAPMD5 uses it to check.
func CHAPMD5Response(id byte, secret string, challenge []byte) [md5.Size]byte {
	h := md5.New()
	h.Write([]byte{id})
	h.Write([]byte(secret))
	h.Write(challenge)
	var out [md5.Size]byte
	h.Sum(out[:0])
	return out
}

// VerifyCHAPMD5 reports whether c is a correct CHAP-MD5 response for secret. It compares in
// constant time, and answers false for a nil c, another algorithm, or a response that is not
// 16 bytes long.
func VerifyCHAPMD5(secret string, c *CHAP) bool {
	if c == nil || (c.Type != 0 && c.Type != CHAPMD5) {
		return false
	}
	want := CHAPMD5Response(c.ID, secret, c.Challenge)
	// ConstantTimeCompare returns at once on a length mismatch; the length is public anyway.
	return subtle.ConstantTimeCompare(want[:], c.Response) == 1
}
