package tacacs

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/dialback/nas/aaa"
)

func TestObfuscateRoundTrip(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 7) // several pad blocks and a partial one
	got := append([]byte(nil), body...)
	obfuscate(got, 0xdeadbeef, []byte("key"), 0xc1, 1)
	if bytes.Equal(got, body) {
		t.Fatal("obfuscation changed nothing")
	}
	other := append([]byte(nil), body...)
	obfuscate(other, 0xdeadbeef, []byte("key"), 0xc1, 3)
	if bytes.Equal(got, other) {
		t.Fatal("the pad does not depend on the sequence number")
	}
	obfuscate(got, 0xdeadbeef, []byte("key"), 0xc1, 1)
	if !bytes.Equal(got, body) {
		t.Fatal("obfuscating twice does not restore the body")
	}
}

// encodeAuthenReply, encodeAuthorReply and encodeAcctReply rebuild reply bodies; the fuzzer
// checks that whatever decodes re-encodes to the same bytes.
func encodeAuthenReply(r authenReply) []byte {
	var flags byte
	if r.noEcho {
		flags = replyFlagNoEcho
	}
	return authenReplyBody(r.status, flags, r.msg, r.data)
}

func FuzzDecodeReply(f *testing.F) {
	f.Add(authenReplyBody(authenGetPass, replyFlagNoEcho, "Password: ", nil))
	f.Add([]byte{authorPassAdd, 2, 0, 0, 0, 0, 11, 4, 's', 'e', 'r', 'v', 'i', 'c', 'e', '=', 'p', 'p', 'p', 'a', '=', 'b', 'c'})
	f.Add([]byte{0, 2, 0, 0, acctSuccess, 'o', 'k'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, tls := range []bool{false, true} {
			if r, err := decodeAuthenReply(b, tls); err == nil {
				if !bytes.Equal(encodeAuthenReply(r), clearFlags(b)) {
					t.Fatalf("authen reply %x re-encodes differently", b)
				}
			}
			if r, err := decodeAuthorReply(b, tls); err == nil {
				if len(r.args) != int(b[1]) || r.msg != string(b[6+len(r.args):6+len(r.args)+len(r.msg)]) {
					t.Fatalf("author reply %x decoded as %+v", b, r)
				}
				n := 6 + len(r.args) + len(r.msg) + int(binary.BigEndian.Uint16(b[4:6]))
				for _, a := range r.args {
					n += len(a)
				}
				if n != len(b) {
					t.Fatalf("author reply %x: fields cover %d of %d bytes", b, n, len(b))
				}
			}
			if st, msg, err := decodeAcctReply(b, tls); err == nil {
				if 5+len(msg)+int(binary.BigEndian.Uint16(b[2:4])) != len(b) || st != b[4] {
					t.Fatalf("acct reply %x decoded as %#x %q", b, st, msg)
				}
			}
		}
	})
}

// clearFlags keeps only the flag bit the decoder understands (NOECHO), as the encoder does.
func clearFlags(b []byte) []byte {
	out := append([]byte(nil), b...)
	out[1] &= replyFlagNoEcho
	return out
}

func BenchmarkAuthenticate(b *testing.B) {
	f := newFake()
	srv := startTQ(b, "k", f, nil)
	for _, bc := range []struct {
		name   string
		single bool
		req    aaa.Request
	}{
		{"pap/connection-per-session", false, papAlice},
		{"pap/single-connection", true, papAlice},
		{"ascii/single-connection", true, aaa.Request{Service: aaa.ServiceLogin, User: "alice", Password: "wonderland"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := tcpServer(srv.addr, "k")
			s.SingleConnection = bc.single
			c := newClient(b, Config{Servers: []Server{s}, SkipAuthorization: true})
			start := time.Now()
			for b.Loop() {
				if err := auth(c, bc.req); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "auth/s")
		})
	}
}
