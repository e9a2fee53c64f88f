package ppp

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"testing"
)

// FuzzIPCPOptions gives arbitrary option bytes to IPCP, server and client, as the peer's
// Configure-Request and as a Configure-Nak and -Reject of our request. It must never panic;
// the answer to a request must be a well-formed Ack repeating it, a Nak of address options
// only, or a Reject of options taken from the request in order.
func FuzzIPCPOptions(f *testing.F) {
	for _, s := range []string{
		"0206002d0f01030600000000810600000000830600000000", // pppd with usepeerdns
		"0206002d0f01030600000000",                         // pppd
		"03060a000007",
		"010a0a0000070a000001820600000000840600000000",
		"0304",
		"ff02",
		"",
	} {
		b, _ := hex.DecodeString(s)
		f.Add(b, true)
		f.Add(b, false)
	}
	f.Fuzz(fuzzIPCPOne)
}

func fuzzIPCPOne(t *testing.T, opts []byte, server bool) {
	if len(opts) > 1000 {
		return
	}
	cfg := IPCPConfig{Server: server}
	if server {
		cfg.Local, cfg.Peer = netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("10.0.0.7")
		cfg.DNS = [2]netip.Addr{netip.MustParseAddr("198.51.100.53"), netip.MustParseAddr("198.51.100.54")}
	}
	var out [][]byte
	p := NewIPCP(cfg, Config{Send: func(b []byte) { out = append(out, bytes.Clone(b)) }, MaxFailure: 2})
	p.FSM().Open()
	p.FSM().Up()
	out = out[:0]

	req := Packet{Code: CodeConfigureRequest, ID: 9, Data: opts}.Append(nil)
	for round := 0; round < 3; round++ { // past Max-Failure
		p.FSM().Receive(req)
		if len(out) == 0 {
			continue // malformed options: silently discarded
		}
		ans, err := ParsePacket(out[0])
		if err != nil || ans.ID != 9 {
			t.Fatalf("answer % x: %v", out[0], err)
		}
		got, err := ParseOptions(nil, ans.Data)
		if err != nil {
			t.Fatalf("answer % x has malformed options: %v", out[0], err)
		}
		switch ans.Code {
		case CodeConfigureAck:
			if !bytes.Equal(ans.Data, opts) {
				t.Fatalf("Ack % x does not repeat % x", ans.Data, opts)
			}
		case CodeConfigureNak:
			for _, o := range got {
				if (o.Type != IPCPOptAddress && o.Type != IPCPOptPrimaryDNS && o.Type != IPCPOptSecondaryDNS) || len(o.Data) != 4 {
					t.Fatalf("Nak of option %d % x", o.Type, o.Data)
				}
			}
		case CodeConfigureReject:
			in, _ := ParseOptions(nil, opts)
			j := 0
			for _, o := range got {
				for j < len(in) && !in[j].Equal(o) {
					j++
				}
				if j == len(in) {
					t.Fatalf("Reject % x is not a subsequence of the request % x", ans.Data, opts)
				}
				j++
			}
		default:
			t.Fatalf("answered a request with %v", ans.Code)
		}
		out = out[:0]
	}

	// The same bytes as a Nak and a Reject of our current request.
	for _, code := range []Code{CodeConfigureNak, CodeConfigureReject} {
		out = out[:0]
		p.FSM().Timeout() // make sure a request of ours is outstanding
		var id uint8
		for _, b := range out {
			if pk, err := ParsePacket(b); err == nil && pk.Code == CodeConfigureRequest {
				id = pk.ID
			}
		}
		p.FSM().Receive(Packet{Code: code, ID: id, Data: opts}.Append(nil))
		for _, b := range out {
			if _, err := ParsePacket(b); err != nil {
				t.Fatalf("sent malformed packet % x", b)
			}
		}
	}
	_, _ = p.Result()
}
