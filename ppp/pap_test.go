package ppp

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestParsePAP(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want PAPPacket
		err  bool
	}{
		{"request", "01070015 05616c696365 0a776f6e6465726c616e64", PAPPacket{Code: 1, ID: 7, Peer: "alice", Password: "wonderland"}, false},
		{"request, empty password", "01010008 02686900", PAPPacket{Code: 1, ID: 1, Peer: "hi"}, false},
		{"request with padding", "01010006 0000 ffff", PAPPacket{Code: 1, ID: 1}, false},
		{"ack with message", "02020008 034f4b21", PAPPacket{Code: 2, ID: 2, Message: "OK!"}, false},
		{"nak without message octet", "03030004", PAPPacket{Code: 3, ID: 3}, false},
		{"peer-id runs past", "01010006 0561", PAPPacket{}, true},
		{"password runs past", "01010008 01610561", PAPPacket{}, true},
		{"password length missing", "01010006 0161", PAPPacket{}, true},
		{"message runs past", "02010005 05", PAPPacket{}, true},
		{"unknown code", "04010004", PAPPacket{}, true},
		{"short", "0101", PAPPacket{}, true},
		{"length beyond data", "01010010 00", PAPPacket{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePAP(mustHex(t, tt.in))
			if tt.err {
				if err == nil || (!errors.Is(err, ErrPAP) && !errors.Is(err, ErrShortPacket) && !errors.Is(err, ErrPacketLen)) {
					t.Errorf("ParsePAP = %+v, %v; want an error", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParsePAP = %+v, %v; want %+v", got, err, tt.want)
			}
			if tt.name != "request with padding" && tt.name != "nak without message octet" {
				if enc := got.Append(nil); !bytes.Equal(enc, mustHex(t, tt.in)) {
					t.Errorf("Append = %x", enc)
				}
			}
		})
	}
}

func TestPAPServerRepeats(t *testing.T) {
	var sent []PAPPacket
	s := &papServer{send: func(b []byte) {
		p, err := ParsePAP(b)
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, p)
	}}
	req := PAPPacket{Code: PAPAuthRequest, ID: 1, Peer: "alice", Password: "x"}.Append(nil)
	if _, verify, _ := s.receive(req); !verify {
		t.Fatal("first request not handed over")
	}
	s.answer(1, false, "no")
	// Not final: a new attempt is handed over again.
	req2 := PAPPacket{Code: PAPAuthRequest, ID: 2, Peer: "alice", Password: "y"}.Append(nil)
	if _, verify, _ := s.receive(req2); !verify {
		t.Fatal("second attempt not handed over")
	}
	s.answer(2, true, "ok")
	// The peer missed the Ack and retransmits with a new Identifier: Ack again, no AAA.
	req3 := PAPPacket{Code: PAPAuthRequest, ID: 3, Peer: "alice", Password: "y"}.Append(nil)
	if _, verify, _ := s.receive(req3); verify {
		t.Fatal("a repeat after the Ack went to AAA again")
	}
	if len(sent) != 3 || sent[2].Code != PAPAuthAck || sent[2].ID != 3 || sent[2].Message != "ok" {
		t.Errorf("sent %+v", sent)
	}
	// Acks and Naks from the peer are not for the authenticator.
	if _, verify, err := s.receive(PAPPacket{Code: PAPAuthAck, ID: 3}.Append(nil)); verify || err != nil {
		t.Errorf("ack handed over: %v %v", verify, err)
	}
}

func TestPAPClient(t *testing.T) {
	now := time.Unix(0, 0)
	var sent []PAPPacket
	c := &papClient{now: func() time.Time { return now }, user: "alice", password: "pw", restart: time.Second, maxTries: 3,
		send: func(b []byte) { p, _ := ParsePAP(b); sent = append(sent, p) }}
	c.start(1)
	for range 5 {
		now = now.Add(time.Second)
		c.poll(now)
	}
	if len(sent) != 3 || c.result != -1 {
		t.Fatalf("%d requests, result %d; want 3 and a failure", len(sent), c.result)
	}
	// RFC 1334 §2.2.1: a new Identifier for each request.
	if sent[0].ID == sent[1].ID || sent[1].ID == sent[2].ID || sent[0].Peer != "alice" || sent[0].Password != "pw" {
		t.Errorf("requests %+v", sent)
	}

	c = &papClient{now: func() time.Time { return now }, user: "alice", password: "pw", restart: time.Second, maxTries: 3,
		send: func(b []byte) {}}
	c.start(1)
	now = now.Add(time.Second)
	c.poll(now) // id 2 now
	_ = c.receive(PAPPacket{Code: PAPAuthAck, ID: 1}.Append(nil))
	if c.result != 0 {
		t.Fatal("an Ack of the stale request counted")
	}
	_ = c.receive(PAPPacket{Code: PAPAuthAck, ID: 2, Message: "hi"}.Append(nil))
	if c.result != 1 || c.message != "hi" {
		t.Fatalf("result %d %q", c.result, c.message)
	}
	if _, on := c.deadlineAt(); on {
		t.Error("timer still on after the Ack")
	}
}

// FuzzPAP: outside bytes to the parser and to both roles; what parses re-encodes to the same
// fields.
func FuzzPAP(f *testing.F) {
	f.Add(mustHex(f, "01070015 05616c696365 0a776f6e6465726c616e64"))
	f.Add(mustHex(f, "02020008 034f4b21"))
	f.Add(mustHex(f, "03030004"))
	f.Add([]byte{1, 1, 0, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePAP(b)
		if err == nil {
			q, err := ParsePAP(p.Append(nil))
			if err != nil || q != p {
				t.Fatalf("%+v re-parses as %+v, %v", p, q, err)
			}
		}
		s := &papServer{send: func([]byte) {}}
		if req, verify, err := s.receive(b); verify && (err != nil || req.Code != PAPAuthRequest) {
			t.Fatalf("server handed over %+v, %v", req, err)
		}
		id := uint8(1)
		if len(b) > 1 {
			id = b[1] // so that the client sometimes waits for exactly this packet
		}
		c := &papClient{send: func([]byte) {}, now: time.Now, restart: time.Second, maxTries: 1}
		c.start(id)
		_ = c.receive(b)
		if c.result == 1 && (err != nil || p.Code != PAPAuthAck || p.ID != id) {
			t.Fatalf("client took %x as an Ack of request %d", b, id)
		}
	})
}
