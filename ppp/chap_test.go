package ppp

import (
	"bytes"
	"testing"
	"time"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/mschap"
)

func TestParseCHAP(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want CHAPPacket
		err  bool
	}{
		{"challenge", "0109000b 03616263 6e6173", CHAPPacket{Code: 1, ID: 9, Value: []byte("abc"), Name: "nas"}, false},
		{"response without name", "02090006 0178", CHAPPacket{Code: 2, ID: 9, Value: []byte("x")}, false},
		{"success", "03090007 4f6b21", CHAPPacket{Code: 3, ID: 9, Message: "Ok!"}, false},
		{"failure empty", "04090004", CHAPPacket{Code: 4, ID: 9}, false},
		{"value runs past", "01090006 0561", CHAPPacket{}, true},
		{"empty value", "01090005 00", CHAPPacket{}, true},
		{"no value size", "01090004", CHAPPacket{}, true},
		{"unknown code", "05090004", CHAPPacket{}, true},
		{"short", "01", CHAPPacket{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCHAP(mustHex(t, tt.in))
			if tt.err {
				if err == nil {
					t.Errorf("ParseCHAP = %+v; want an error", got)
				}
				return
			}
			if err != nil || got.Code != tt.want.Code || got.ID != tt.want.ID || !bytes.Equal(got.Value, tt.want.Value) ||
				got.Name != tt.want.Name || got.Message != tt.want.Message {
				t.Errorf("ParseCHAP = %+v, %v; want %+v", got, err, tt.want)
			}
			if enc := got.Append(nil); !bytes.Equal(enc, mustHex(t, tt.in)) {
				t.Errorf("Append = %x", enc)
			}
		})
	}
}

// chapPair wires a server and a client by hand, the client answering what the server sends.
func TestCHAPServerClient(t *testing.T) {
	for _, alg := range []AuthProto{AuthCHAP, AuthMSCHAPv2} {
		t.Run(alg.String(), func(t *testing.T) {
			now := time.Unix(0, 0)
			var toClient, toServer [][]byte
			s := &chapServer{alg: alg, name: "nas", now: func() time.Time { return now }, restart: time.Second, maxTries: 3,
				send: func(b []byte) { toClient = append(toClient, bytes.Clone(b)) }}
			c := &chapClient{alg: alg, user: "alice", password: "wonderland",
				send: func(b []byte) { toServer = append(toServer, bytes.Clone(b)) }}
			s.challengeNew()
			// A lost Challenge is resent unchanged (as pppd does).
			now = now.Add(time.Second)
			s.poll(now)
			if len(toClient) != 2 || !bytes.Equal(toClient[0], toClient[1]) {
				t.Fatalf("retransmission %x", toClient)
			}
			ch, _ := ParseCHAP(toClient[0])
			if len(ch.Value) != 16 || ch.Name != "nas" {
				t.Fatalf("challenge %+v", ch)
			}
			_ = c.receive(toClient[0])
			resp, verify, err := s.receive(toServer[0])
			if !verify || err != nil || resp.Name != "alice" || len(resp.Value) != chapResponseLen(alg) {
				t.Fatalf("response %+v %v %v", resp, verify, err)
			}
			// Verify as AAA would, then answer.
			var msg string
			switch alg {
			case AuthCHAP:
				if !aaa.VerifyCHAPMD5("wonderland", &aaa.CHAP{ID: s.id, Challenge: s.challenge[:], Response: resp.Value}) {
					t.Fatal("MD5 response does not verify")
				}
				msg = "Welcome"
			case AuthMSCHAPv2:
				peer, nt, err := mschap.ParseResponse(resp.Value)
				if err != nil {
					t.Fatal(err)
				}
				ok, ar := mschap.Verify("alice", "wonderland", s.challenge[:], peer, nt)
				if !ok {
					t.Fatal("MS-CHAPv2 response does not verify")
				}
				msg = mschapv2SuccessMessage(ar, "Welcome")
			}
			s.verdict(true, msg)
			// The client answered the retransmitted Challenge too: the verdict is repeated.
			_ = c.receive(toClient[1])
			if _, verify, _ := s.receive(toServer[1]); verify {
				t.Fatal("a repeated Response went to AAA again")
			}
			if len(toClient) != 4 || !bytes.Equal(toClient[2], toClient[3]) {
				t.Fatalf("verdict not repeated: %x", toClient)
			}
			_ = c.receive(toClient[2])
			if c.result != 1 {
				t.Fatalf("client result %d (%s)", c.result, c.message)
			}
			if _, on := s.deadlineAt(); on {
				t.Error("challenge timer still on")
			}
		})
	}
}

func TestCHAPServerGivesUp(t *testing.T) {
	now := time.Unix(0, 0)
	n := 0
	s := &chapServer{alg: AuthCHAP, now: func() time.Time { return now }, restart: time.Second, maxTries: 3,
		send: func([]byte) { n++ }}
	s.challengeNew()
	for range 5 {
		now = now.Add(time.Second)
		s.poll(now)
	}
	if n != 3 || !s.gaveUp {
		t.Errorf("%d challenges, gave up %v", n, s.gaveUp)
	}
}

// An MS-CHAPv2 client hangs up on a Success whose authenticator response is wrong.
func TestMSCHAPv2ClientChecksServer(t *testing.T) {
	for _, tt := range []struct {
		name string
		msg  func(good string) string
		ok   bool
	}{
		{"good", func(g string) string { return g + " M=hi" }, true},
		{"good lower case", func(g string) string { return "S=" + string(bytes.ToLower([]byte(g[2:]))) }, true},
		{"wrong", func(g string) string { return "S=" + string(bytes.Repeat([]byte("0"), 40)) + " M=hi" }, false},
		{"missing", func(string) string { return "M=Welcome" }, false},
		{"short", func(g string) string { return g[:30] }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var resp []byte
			c := &chapClient{alg: AuthMSCHAPv2, user: "alice", password: "wonderland", send: func(b []byte) { resp = bytes.Clone(b) }}
			auth := bytes.Repeat([]byte{7}, 16)
			_ = c.receive(CHAPPacket{Code: CHAPChallenge, ID: 4, Value: auth, Name: "nas"}.Append(nil))
			r, _ := ParseCHAP(resp)
			peer, nt, _ := mschap.ParseResponse(r.Value)
			_, good := mschap.Verify("alice", "wonderland", auth, peer, nt)
			_ = c.receive(CHAPPacket{Code: CHAPSuccess, ID: 4, Message: tt.msg(good)}.Append(nil))
			if (c.result == 1) != tt.ok {
				t.Errorf("result %d (%s), want ok=%v", c.result, c.message, tt.ok)
			}
		})
	}
}

func TestMSCHAPv2Messages(t *testing.T) {
	f := mschapv2FailureMessage("Authentication failed")
	if len(f) != len("E=691 R=0 C=")+32+len(" V=3 M=Authentication failed") || f[:12] != "E=691 R=0 C=" {
		t.Errorf("failure message %q", f)
	}
	ar, text, ok := parseMSCHAPv2Success("S=407A5589115FD0D6209F510FE9C04566932CDA56 M=Welcome home")
	if !ok || ar != "S=407A5589115FD0D6209F510FE9C04566932CDA56" || text != "Welcome home" {
		t.Errorf("parse success = %q %q %v", ar, text, ok)
	}
	if _, _, ok := parseMSCHAPv2Success("S=407A5589115FD0D6209F510FE9C04566932CDAZZ"); ok {
		t.Error("non-hex authenticator response accepted")
	}
}

// FuzzCHAP: outside bytes to the parser and to both roles.
func FuzzCHAP(f *testing.F) {
	f.Add(mustHex(f, "0109000b 03616263 6e6173"))
	f.Add(mustHex(f, "02090006 0178"))
	f.Add(mustHex(f, "03090007 4f6b21"))
	f.Add(append(mustHex(f, "01010015 10"), bytes.Repeat([]byte{1}, 16)...))
	f.Add(append(mustHex(f, "03010030"), "S=407A5589115FD0D6209F510FE9C04566932CDA56 M=x"...))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseCHAP(b)
		if err == nil {
			q, err := ParseCHAP(p.Append(nil))
			if err != nil || q.Code != p.Code || q.ID != p.ID || !bytes.Equal(q.Value, p.Value) || q.Name != p.Name || q.Message != p.Message {
				t.Fatalf("%+v re-parses as %+v, %v", p, q, err)
			}
		}
		for _, alg := range []AuthProto{AuthCHAP, AuthMSCHAPv2} {
			s := &chapServer{alg: alg, send: func([]byte) {}, now: time.Now, restart: time.Second, maxTries: 1}
			s.challengeNew()
			if len(b) > 1 {
				s.id = b[1]
			}
			if r, verify, err := s.receive(b); verify && (err != nil || r.Code != CHAPResponse) {
				t.Fatalf("server handed over %+v, %v", r, err)
			}
			var out []byte
			c := &chapClient{alg: alg, user: "u", password: "p", send: func(o []byte) { out = bytes.Clone(o) }}
			_ = c.receive(b)
			if out != nil {
				if _, err := ParseCHAP(out); err != nil {
					t.Fatalf("client sent a malformed response %x", out)
				}
			}
			_ = c.receive(b) // a verdict after a response
			if c.result == 1 && p.Code != CHAPSuccess {
				t.Fatalf("client succeeded on %x", b)
			}
		}
	})
}
