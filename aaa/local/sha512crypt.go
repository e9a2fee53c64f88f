package local

import (
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SHA-crypt with SHA-512 ("$6$"), implemented from Ulrich Drepper's public specification
// "Unix crypt using SHA-256 and SHA-512" (2008), the scheme glibc crypt(3) uses.
const (
	sha512Prefix        = "$6$"
	sha512RoundsPrefix  = "rounds="
	sha512RoundsDefault = 5000      // spec: rounds when none is given
	sha512RoundsMin     = 1000      // spec: smaller values are raised to this
	sha512RoundsMax     = 999999999 // spec: larger values are lowered to this
	sha512SaltMax       = 16        // spec: at most 16 salt characters are used
	sha512HashLen       = 86        // 64 bytes in the spec's base-64 encoding
	cryptAlphabet       = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// sha512Hash is a parsed "$6$[rounds=N$]salt$hash" string.
type sha512Hash struct {
	full   string
	salt   string
	rounds int
	custom bool // rounds= was given, so it is part of the output
}

func parseSHA512Crypt(s string) (*sha512Hash, error) {
	if !strings.HasPrefix(s, sha512Prefix) {
		return nil, errors.New("not a $6$ hash")
	}
	rest := s[len(sha512Prefix):]
	h := &sha512Hash{full: s, rounds: sha512RoundsDefault}
	if strings.HasPrefix(rest, sha512RoundsPrefix) {
		num, after, ok := strings.Cut(rest[len(sha512RoundsPrefix):], "$")
		if !ok {
			return nil, errors.New("rounds= without a closing $")
		}
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("rounds=%q is not a number", num)
		}
		// Clamp as the spec does; a stored hash made by a correct implementation is already
		// in range, so a mismatch after clamping is reported below as a malformed hash.
		h.rounds = int(min(max(n, sha512RoundsMin), sha512RoundsMax))
		h.custom = true
		rest = after
	}
	salt, hash, ok := strings.Cut(rest, "$")
	if !ok {
		return nil, errors.New("missing $ between salt and hash")
	}
	if len(salt) > sha512SaltMax {
		return nil, fmt.Errorf("salt is %d characters, at most %d are allowed", len(salt), sha512SaltMax)
	}
	if len(hash) != sha512HashLen {
		return nil, fmt.Errorf("hash part is %d characters, want %d", len(hash), sha512HashLen)
	}
	for i := 0; i < len(hash); i++ {
		if strings.IndexByte(cryptAlphabet, hash[i]) < 0 {
			return nil, fmt.Errorf("hash part has %q, outside the crypt alphabet", hash[i])
		}
	}
	h.salt = salt
	if got := h.prefix(); got+hash != s {
		// E.g. "rounds=01000" or "rounds=10": would never compare equal.
		return nil, errors.New("rounds= is not in canonical form")
	}
	return h, nil
}

func (h *sha512Hash) prefix() string {
	p := sha512Prefix
	if h.custom {
		p += sha512RoundsPrefix + strconv.Itoa(h.rounds) + "$"
	}
	return p + h.salt + "$"
}

// verify reports, in constant time over the result, whether password hashes to h.
func (h *sha512Hash) verify(password string) bool {
	got := h.prefix() + sha512Crypt([]byte(password), []byte(h.salt), h.rounds)
	return subtle.ConstantTimeCompare([]byte(got), []byte(h.full)) == 1
}

// sha512Crypt returns the 86-character encoded hash (without the prefix and salt), following
// the numbered steps of the specification.
func sha512Crypt(key, salt []byte, rounds int) string {
	// Steps 4-8: digest B = SHA512(key || salt || key).
	b := sha512.New()
	b.Write(key)
	b.Write(salt)
	b.Write(key)
	sumB := b.Sum(nil)

	// Steps 1-3, 9-12: digest A.
	a := sha512.New()
	a.Write(key)
	a.Write(salt)
	writeRepeated(a.Write, sumB, len(key))
	for n := len(key); n > 0; n >>= 1 {
		if n&1 != 0 {
			a.Write(sumB)
		} else {
			a.Write(key)
		}
	}
	sumA := a.Sum(nil)

	// Steps 13-16: the P sequence from DP = SHA512(key repeated len(key) times).
	dp := sha512.New()
	for range key {
		dp.Write(key)
	}
	p := repeatTo(dp.Sum(nil), len(key))

	// Steps 17-20: the S sequence from DS = SHA512(salt repeated 16+A[0] times).
	ds := sha512.New()
	for i := 0; i < 16+int(sumA[0]); i++ {
		ds.Write(salt)
	}
	s := repeatTo(ds.Sum(nil), len(salt))

	// Step 21: the rounds.
	c := sumA
	h := sha512.New()
	for i := 0; i < rounds; i++ {
		h.Reset()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(s)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(p)
		}
		c = h.Sum(c[:0])
	}

	// Step 22: the spec's byte order for SHA-512, three bytes to four characters.
	var out strings.Builder
	out.Grow(sha512HashLen)
	// Group k holds bytes k, k+21 and k+42, rotated one place per group: (0,21,42),
	// (22,43,1), (44,2,23), (3,24,45), ... (62,20,41); byte 63 comes last on its own.
	for k := 0; k < 21; k++ {
		x, y, z := c[k], c[k+21], c[k+42]
		switch k % 3 {
		case 0:
			b64From24(&out, x, y, z, 4)
		case 1:
			b64From24(&out, y, z, x, 4)
		case 2:
			b64From24(&out, z, x, y, 4)
		}
	}
	b64From24(&out, 0, 0, c[63], 2)
	return out.String()
}

func b64From24(out *strings.Builder, b2, b1, b0 byte, n int) {
	w := uint(b2)<<16 | uint(b1)<<8 | uint(b0)
	for ; n > 0; n-- {
		out.WriteByte(cryptAlphabet[w&0x3f])
		w >>= 6
	}
}

// writeRepeated writes n bytes taken from block repeated end to end.
func writeRepeated(write func([]byte) (int, error), block []byte, n int) {
	for ; n > len(block); n -= len(block) {
		write(block)
	}
	write(block[:n])
}

func repeatTo(block []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, block[:min(len(block), n-len(out))]...)
	}
	return out
}
