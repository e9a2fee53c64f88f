package local

import (
	"strings"
	"testing"
)

// Vectors: the first seven are the SHA-512 examples of Drepper's specification; the rest were
// made with `openssl passwd -6` and Python's crypt.crypt (glibc). Settings with a salt longer
// than 16 characters or rounds below 1000 show the spec's truncation and clamping.
var sha512Vectors = []struct {
	setting, key, want string
}{
	{"$6$saltstring", "Hello world!",
		"$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
	{"$6$rounds=10000$saltstringsaltstring", "Hello world!",
		"$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
	{"$6$rounds=5000$toolongsaltstring", "This is just a test",
		"$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0"},
	{"$6$rounds=1400$anotherlongsaltstring", "a very much longer text to encrypt.  This one even stretches over morethan one line.",
		"$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1"},
	{"$6$rounds=77777$short", "we have a short salt string but not a short password",
		"$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0"},
	{"$6$rounds=123456$asaltof16chars..", "a short string",
		"$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1"},
	{"$6$rounds=10$roundstoolow", "the minimum number is still observed",
		"$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX."},
	{"$6$x", "",
		"$6$x$QSmr1Bx2g4O6BzKvdkgOcyU6H91X6I/XBv5pSalMhSPkwdH6Beo3F455xZJg0v//bxVK5F4OE5k1.0xuR26MK0"},
	{"$6$rounds=1000$1234567890abcdef", "pässwörd",
		"$6$rounds=1000$1234567890abcdef$03JJ938xZxNSzd/1ikCfZ/He3MgDEp19MuEYPB0QCUczcrZ2lNZQzoxF.UojZHDT.97NWzjG6QduqBlWsvhLJ/"},
	// A key longer than one SHA-512 block (200 bytes) exercises the repeated-B and P-sequence steps.
	{"$6$abcdefgh", strings.Repeat("p", 200),
		"$6$abcdefgh$ac9f5gTZY1Edd3zu5QYHfEnbttTccyQzEaHoOhZwLOEPVADwT/qn0hUbt/RD9EsxNcXbdXpx7TKwQLO9tLbxp1"},
}

func TestSHA512CryptVectors(t *testing.T) {
	for _, v := range sha512Vectors {
		t.Run(v.want[:min(len(v.want), 30)], func(t *testing.T) {
			h, err := parseSHA512Crypt(v.want)
			if err != nil {
				t.Fatalf("parse %q: %v", v.want, err)
			}
			if got := h.prefix() + sha512Crypt([]byte(v.key), []byte(h.salt), h.rounds); got != v.want {
				t.Fatalf("crypt(%q, %q)\n got %s\nwant %s", v.key, v.setting, got, v.want)
			}
			if !h.verify(v.key) {
				t.Error("verify with the right key = false")
			}
			if h.verify(v.key + "x") {
				t.Error("verify with a wrong key = true")
			}
		})
	}
}

func TestParseSHA512CryptRejects(t *testing.T) {
	good := "QSmr1Bx2g4O6BzKvdkgOcyU6H91X6I/XBv5pSalMhSPkwdH6Beo3F455xZJg0v//bxVK5F4OE5k1.0xuR26MK0"
	for _, s := range []string{
		"$5$x$" + good,                      // SHA-256 crypt
		"$6$x" + good,                       // no $ between salt and hash
		"$6$x$" + good[:85],                 // short
		"$6$x$" + good + "A",                // long
		"$6$x$" + good[:85] + "!",           // outside the alphabet
		"$6$rounds=abc$x$" + good,           // rounds not a number
		"$6$rounds=1000",                    // rounds without $
		"$6$rounds=10$x$" + good,            // not clamped: a correct crypt never writes this
		"$6$rounds=01000$x$" + good,         // not canonical
		"$6$12345678901234567$" + good,      // salt over 16
		"$6$rounds=-5$x$" + good,            // negative
		"$6$rounds=9999999999$x$" + good,    // over the maximum, not clamped
		"$6$rounds=18446744073709551616$x$", // overflows
	} {
		if _, err := parseSHA512Crypt(s); err == nil {
			t.Errorf("parseSHA512Crypt(%q) = nil error", s)
		}
	}
}

func BenchmarkSHA512Crypt(b *testing.B) {
	for b.Loop() {
		sha512Crypt([]byte("password"), []byte("saltsalt"), sha512RoundsDefault)
	}
}
