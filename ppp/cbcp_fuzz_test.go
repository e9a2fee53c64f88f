package ppp

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

// FuzzCBCP parses arbitrary bytes as a CBCP packet and gives them to an answerer waiting for
// a Response and to a caller. Nothing may panic; a packet that parses must append back to
// exactly its octets; whatever either side sends must parse; the answerer may only ever Ack
// by echoing a Response it received, with the number it offered or a checked one.
func FuzzCBCP(f *testing.F) {
	for _, s := range [][]byte{
		{0x01, 0x01, 0x00, 0x0E, 0x01, 0x02, 0x02, 0x05, 0x00, 0x01, 0x00, 0x03, 0x03, 0x00},
		append([]byte{0x02, 0x01, 0x00, 0x10, 0x02, 0x0C, 0x05, 0x01}, "5551234\x00"...),
		append([]byte{0x03, 0x01, 0x00, 0x10, 0x02, 0x0C, 0x05, 0x01}, "5551234\x00"...),
		{0x02, 0x01, 0x00, 0x07, 0x03, 0x03, 0x05},
		{0x02, 0x01, 0x00, 0x07, 0x01, 0x03, 0x00},
		{0x02, 0x01, 0x00, 0x06, 0x01, 0x02},
		{0x02, 0x01, 0x00, 0x08, 0x02, 0x04, 0x05, 0x01},
		{0x01, 0x01, 0x00, 0x04},
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		b = bytes.Clone(b) // the answerer loop below bumps the id
		p, err := ParseCBCP(b)
		if err == nil {
			n := int(binary.BigEndian.Uint16(b[2:4]))
			if again := p.Append(nil); !bytes.Equal(again, b[:n]) {
				t.Fatalf("% x parsed as %+v appends as % x", b[:n], p, again)
			}
		}

		var sent [][]byte
		clock := time.Unix(0, 0)
		srv := NewCBCPServer(CBCPOffer{None: true, User: true, Admin: "5550000"},
			func(b []byte) { sent = append(sent, bytes.Clone(b)) }, func() time.Time { return clock })
		srv.MaxRequests = 3
		srv.Start()
		for range 4 {
			sent = sent[:0]
			srv.Receive(b)
			for _, out := range sent {
				q, err := ParseCBCP(out)
				if err != nil {
					t.Fatalf("answerer sent malformed % x: %v", out, err)
				}
				if q.Code == CBCPAck {
					n := int(binary.BigEndian.Uint16(b[2:4]))
					if !bytes.Equal(out[1:], b[1:n]) || b[0] != byte(CBCPResponse) {
						t.Fatalf("Ack % x does not echo Response % x", out, b)
					}
				}
			}
			if res, ok := srv.Done(); ok {
				if res.Type == CBCPUser && CheckCallbackNumber(res.Number) != nil {
					t.Fatalf("accepted number %q", res.Number)
				}
				if res.Type == CBCPAdmin && res.Number != "5550000" {
					t.Fatalf("pre-specified number %q", res.Number)
				}
			}
			if len(b) > 1 {
				b[1]++ // the answerer's next id, if it re-requested
			}
		}

		for _, number := range []string{"5551234", ""} {
			var out [][]byte
			c := NewCBCPClient(number, func(b []byte) { out = append(out, bytes.Clone(b)) })
			c.Receive(b)
			for _, o := range out {
				if _, err := ParseCBCP(o); err != nil {
					t.Fatalf("caller sent malformed % x: %v", o, err)
				}
			}
			_, _ = c.Done()
		}
	})
}
