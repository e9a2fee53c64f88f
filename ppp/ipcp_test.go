package ppp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

var addrOf = netip.MustParseAddr

// ncpPipe carries control packets between two automata in memory, in order, one at a time.
type ncpPipe struct {
	toA, toB [][]byte
}

func (l *ncpPipe) sendToA(b []byte) { l.toA = append(l.toA, bytes.Clone(b)) }
func (l *ncpPipe) sendToB(b []byte) { l.toB = append(l.toB, bytes.Clone(b)) }

// pump delivers packets until both directions are quiet (or a bound is hit: a negotiation
// that loops is a failure).
func (l *ncpPipe) pump(t *testing.T, a, b *FSM) {
	t.Helper()
	for n := 0; len(l.toA)+len(l.toB) > 0; n++ {
		if n > 200 {
			t.Fatalf("negotiation did not settle after %d packets", n)
		}
		if len(l.toA) > 0 {
			p := l.toA[0]
			l.toA = l.toA[1:]
			a.Receive(p)
		}
		if len(l.toB) > 0 {
			p := l.toB[0]
			l.toB = l.toB[1:]
			b.Receive(p)
		}
	}
}

func startIPCPPair(t *testing.T, server, client IPCPConfig) (*IPCP, *IPCP, *ncpPipe) {
	t.Helper()
	l := &ncpPipe{}
	s := NewIPCP(server, Config{Send: l.sendToB})
	c := NewIPCP(client, Config{Send: l.sendToA})
	for _, f := range []*FSM{s.FSM(), c.FSM()} {
		f.Open()
		f.Up()
	}
	l.pump(t, s.FSM(), c.FSM())
	return s, c, l
}

func TestIPCPServerClient(t *testing.T) {
	nas, dns1, dns2 := addrOf("192.0.2.1"), addrOf("198.51.100.53"), addrOf("198.51.100.54")
	pooled := addrOf("10.0.0.7")
	tests := []struct {
		name           string
		server, client IPCPConfig
		wantServer     IPCPResult
		wantClient     IPCPResult
	}{
		{
			name:       "pool address and DNS, pppd-like client with VJ",
			server:     IPCPConfig{Server: true, Local: nas, Peer: pooled, DNS: [2]netip.Addr{dns1, dns2}},
			client:     IPCPConfig{OfferVJ: true},
			wantServer: IPCPResult{Local: nas, Peer: pooled, DNS: [2]netip.Addr{dns1, dns2}},
			wantClient: IPCPResult{Local: pooled, Peer: nas, DNS: [2]netip.Addr{dns1, dns2}},
		},
		{
			name:       "client does not ask for DNS",
			server:     IPCPConfig{Server: true, Local: nas, Peer: pooled, DNS: [2]netip.Addr{dns1, dns2}},
			client:     IPCPConfig{NoDNS: true},
			wantServer: IPCPResult{Local: nas, Peer: pooled},
			wantClient: IPCPResult{Local: pooled, Peer: nas},
		},
		{
			name:       "only a primary DNS server configured",
			server:     IPCPConfig{Server: true, Local: nas, Peer: pooled, DNS: [2]netip.Addr{dns1}},
			client:     IPCPConfig{},
			wantServer: IPCPResult{Local: nas, Peer: pooled, DNS: [2]netip.Addr{dns1}},
			wantClient: IPCPResult{Local: pooled, Peer: nas, DNS: [2]netip.Addr{dns1}},
		},
		{
			name:       "no DNS configured",
			server:     IPCPConfig{Server: true, Local: nas, Peer: pooled},
			client:     IPCPConfig{OfferVJ: true},
			wantServer: IPCPResult{Local: nas, Peer: pooled},
			wantClient: IPCPResult{Local: pooled, Peer: nas},
		},
		{
			name:       "client asks for an address of its own and is corrected",
			server:     IPCPConfig{Server: true, Local: nas, Peer: pooled},
			client:     IPCPConfig{Local: addrOf("10.9.9.9"), DNS: [2]netip.Addr{addrOf("1.1.1.1")}},
			wantServer: IPCPResult{Local: nas, Peer: pooled},
			wantClient: IPCPResult{Local: pooled, Peer: nas},
		},
		{
			name:       "client already asks for the right address and DNS",
			server:     IPCPConfig{Server: true, Local: nas, Peer: pooled, DNS: [2]netip.Addr{dns1, dns2}},
			client:     IPCPConfig{Local: pooled, DNS: [2]netip.Addr{dns1, dns2}},
			wantServer: IPCPResult{Local: nas, Peer: pooled, DNS: [2]netip.Addr{dns1, dns2}},
			wantClient: IPCPResult{Local: pooled, Peer: nas, DNS: [2]netip.Addr{dns1, dns2}},
		},
		{
			name:       "NAS without an address of its own",
			server:     IPCPConfig{Server: true, Peer: pooled},
			client:     IPCPConfig{NoDNS: true},
			wantServer: IPCPResult{Peer: pooled},
			wantClient: IPCPResult{Local: pooled},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var upS, upC []IPCPResult
			tt.server.OnUp = func(r IPCPResult) { upS = append(upS, r) }
			tt.client.OnUp = func(r IPCPResult) { upC = append(upC, r) }
			s, c, _ := startIPCPPair(t, tt.server, tt.client)
			if s.FSM().State() != StateOpened || c.FSM().State() != StateOpened {
				t.Fatalf("states %v/%v, want Opened/Opened", s.FSM().State(), c.FSM().State())
			}
			gotS, okS := s.Result()
			gotC, okC := c.Result()
			if !okS || gotS != tt.wantServer {
				t.Errorf("server result %+v (ok %v), want %+v", gotS, okS, tt.wantServer)
			}
			if !okC || gotC != tt.wantClient {
				t.Errorf("client result %+v (ok %v), want %+v", gotC, okC, tt.wantClient)
			}
			if len(upS) != 1 || upS[0] != gotS || len(upC) != 1 || upC[0] != gotC {
				t.Errorf("OnUp calls: server %v, client %v", upS, upC)
			}
			s.FSM().Close("done")
			if _, ok := s.Result(); ok {
				t.Error("server Result still ok after Close")
			}
		})
	}
}

func ncpHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ncpRecorder collects what an FSM sends.
type ncpRecorder struct{ out [][]byte }

func (r *ncpRecorder) send(b []byte) { r.out = append(r.out, bytes.Clone(b)) }

// next returns the one packet sent since the last call.
func (r *ncpRecorder) next(t *testing.T) string {
	t.Helper()
	if len(r.out) != 1 {
		t.Fatalf("sent %d packets, want 1: % x", len(r.out), r.out)
	}
	p := r.out[0]
	r.out = r.out[:0]
	return hex.EncodeToString(p)
}

// The exact packets pppd 2.4.9 sends as a caller (IP-Compression VJ first, IP-Address
// 0.0.0.0, then ms-dns requests with usepeerdns), and the NAS's answers byte for byte.
func TestIPCPPppdSequence(t *testing.T) {
	// NAS 192.0.2.1 (c0000201), peer 10.0.0.7 (0a000007), DNS 198.51.100.53/54 (c6336435/36).
	const (
		pppdFirst = "01 01 00 1c 0206002d0f01 030600000000 810600000000 830600000000"
		pppdNoDNS = "01 01 00 10 0206002d0f01 030600000000"
	)
	tests := []struct {
		name  string
		dns   [2]netip.Addr
		steps [][2]string // packet from pppd, the NAS's answer
	}{
		{
			name: "usepeerdns with DNS configured",
			dns:  [2]netip.Addr{addrOf("198.51.100.53"), addrOf("198.51.100.54")},
			steps: [][2]string{
				{pppdFirst, "04 01 000a 0206002d0f01"}, // Reject VJ only
				{"01 02 0016 030600000000 810600000000 830600000000", "03 02 0016 03060a000007 8106c6336435 8306c6336436"},
				{"01 03 0016 03060a000007 8106c6336435 8306c6336436", "02 03 0016 03060a000007 8106c6336435 8306c6336436"},
			},
		},
		{
			name: "usepeerdns without DNS configured",
			steps: [][2]string{
				{pppdFirst, "04 01 0016 0206002d0f01 810600000000 830600000000"}, // VJ and both DNS
				{"01 02 000a 030600000000", "03 02 000a 03060a000007"},
				{"01 03 000a 03060a000007", "02 03 000a 03060a000007"},
			},
		},
		{
			name: "default pppd (no usepeerdns)",
			dns:  [2]netip.Addr{addrOf("198.51.100.53"), addrOf("198.51.100.54")},
			steps: [][2]string{
				{pppdNoDNS, "04 01 000a 0206002d0f01"},
				{"01 02 000a 030600000000", "03 02 000a 03060a000007"},
				{"01 03 000a 03060a000007", "02 03 000a 03060a000007"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec ncpRecorder
			s := NewIPCP(IPCPConfig{Server: true, Local: addrOf("192.0.2.1"), Peer: addrOf("10.0.0.7"), DNS: tt.dns},
				Config{Send: rec.send})
			s.FSM().Open()
			s.FSM().Up()
			if got := rec.next(t); got != "0101000a0306c0000201" {
				t.Fatalf("NAS request %s, want 0101000a0306c0000201", got)
			}
			for i, st := range tt.steps {
				s.FSM().Receive(ncpHex(t, st[0]))
				if got, want := rec.next(t), strings.ReplaceAll(st[1], " ", ""); got != want {
					t.Fatalf("step %d: NAS answered %s, want %s", i, got, want)
				}
			}
			s.FSM().Receive(ncpHex(t, "02 01 000a 0306c0000201")) // pppd acks the NAS's address
			res, ok := s.Result()
			if !ok || res.Peer != addrOf("10.0.0.7") || res.Local != addrOf("192.0.2.1") {
				t.Fatalf("result %+v ok=%v", res, ok)
			}
		})
	}
}

// A peer that keeps asking for its own address: Max-Failure Naks, then (RFC 1661 §4.6) the
// Nak becomes a Reject, and the NAS closes IPCP with ErrPeerAddress instead of coming up
// with an address it did not assign.
func TestIPCPPeerInsistsOnWrongAddress(t *testing.T) {
	var rec ncpRecorder
	var finished []error
	s := NewIPCP(IPCPConfig{Server: true, Local: addrOf("192.0.2.1"), Peer: addrOf("10.0.0.7"),
		OnFinished: func(err error) { finished = append(finished, err) }},
		Config{Send: rec.send, MaxFailure: 3})
	s.FSM().Open()
	s.FSM().Up()
	rec.next(t)
	insist := "03060a090909" // 10.9.9.9
	for id := byte(1); id <= 3; id++ {
		s.FSM().Receive(ncpHex(t, "01"+hex.EncodeToString([]byte{id})+"000a"+insist))
		if got, want := rec.next(t), "03"+hex.EncodeToString([]byte{id})+"000a03060a000007"; got != want {
			t.Fatalf("request %d: got %s, want Nak %s", id, got, want)
		}
	}
	s.FSM().Receive(ncpHex(t, "0104000a"+insist))
	if len(rec.out) != 2 {
		t.Fatalf("after Max-Failure sent % x, want a Reject and a Terminate-Request", rec.out)
	}
	if got := hex.EncodeToString(rec.out[0]); got != "0404000a"+insist {
		t.Errorf("got %s, want Reject of the address", got)
	}
	term, err := ParsePacket(rec.out[1])
	if err != nil || term.Code != CodeTerminateRequest || !strings.Contains(string(term.Data), "10.9.9.9") {
		t.Errorf("second packet %x, want a Terminate-Request naming the address", rec.out[1])
	}
	if s.FSM().State() != StateClosing || !errors.Is(s.Err(), ErrPeerAddress) {
		t.Fatalf("state %v err %v, want Closing and ErrPeerAddress", s.FSM().State(), s.Err())
	}
	s.FSM().Receive([]byte{byte(CodeTerminateAck), term.ID, 0, 4})
	if s.FSM().State() != StateClosed || len(finished) != 1 || !errors.Is(finished[0], ErrPeerAddress) {
		t.Fatalf("state %v finished %v, want Closed and OnFinished(ErrPeerAddress)", s.FSM().State(), finished)
	}
	if _, ok := s.Result(); ok {
		t.Fatal("Result ok after refusing the peer")
	}
}

func TestIPCPServerJudgesOptions(t *testing.T) {
	tests := []struct {
		name   string
		cfg    IPCPConfig
		req    string // options of a Configure-Request id 7
		answer string // the whole answer
	}{
		{
			name:   "deprecated, compression, NBNS, unknown and malformed options rejected in order",
			cfg:    IPCPConfig{Server: true, Peer: addrOf("10.0.0.7"), DNS: [2]netip.Addr{addrOf("10.1.1.1")}},
			req:    "010a0a0000070a000001 0206002d0f01 820600000000 840600000000 c8040000 03040a00",
			answer: "0407 0028 010a0a0000070a000001 0206002d0f01 820600000000 840600000000 c8040000 03040a00",
		},
		{
			name:   "address left out: asked to add it",
			cfg:    IPCPConfig{Server: true, Peer: addrOf("10.0.0.7"), DNS: [2]netip.Addr{addrOf("10.1.1.1")}},
			req:    "810600000000",
			answer: "0307 0010 81060a010101 03060a000007",
		},
		{
			name:   "right address, wrong DNS",
			cfg:    IPCPConfig{Server: true, Peer: addrOf("10.0.0.7"), DNS: [2]netip.Addr{addrOf("10.1.1.1"), addrOf("10.1.1.2")}},
			req:    "03060a000007 830608080808",
			answer: "0307 000a 83060a010102",
		},
		{
			name:   "no address to give: the IP-Address option is rejected",
			cfg:    IPCPConfig{Server: true},
			req:    "030600000000",
			answer: "0407 000a 030600000000",
		},
		{
			name:   "everything right",
			cfg:    IPCPConfig{Server: true, Peer: addrOf("10.0.0.7"), DNS: [2]netip.Addr{addrOf("10.1.1.1"), addrOf("10.1.1.2")}},
			req:    "03060a000007 81060a010101 83060a010102",
			answer: "0207 0016 03060a000007 81060a010101 83060a010102",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec ncpRecorder
			s := NewIPCP(tt.cfg, Config{Send: rec.send})
			s.FSM().Open()
			s.FSM().Up()
			rec.out = nil
			opts := ncpHex(t, tt.req)
			pkt := Packet{Code: CodeConfigureRequest, ID: 7, Data: opts}.Append(nil)
			s.FSM().Receive(pkt)
			if got, want := rec.next(t), strings.ReplaceAll(tt.answer, " ", ""); got != want {
				t.Fatalf("answer %s, want %s", got, want)
			}
		})
	}
}

// The server ignores a Nak of its own address (it is not negotiable) and drops it if rejected.
func TestIPCPServerOwnAddress(t *testing.T) {
	var rec ncpRecorder
	s := NewIPCP(IPCPConfig{Server: true, Local: addrOf("192.0.2.1"), Peer: addrOf("10.0.0.7")}, Config{Send: rec.send})
	s.FSM().Open()
	s.FSM().Up()
	if got := rec.next(t); got != "0101000a0306c0000201" {
		t.Fatalf("request %s", got)
	}
	s.FSM().Receive(ncpHex(t, "0301000a 03060a0a0a0a"))
	if got := rec.next(t); got != "0102000a0306c0000201" {
		t.Fatalf("after Nak: %s, want the same address again with a new id", got)
	}
	s.FSM().Receive(ncpHex(t, "0402000a 0306c0000201"))
	if got := rec.next(t); got != "01030004" {
		t.Fatalf("after Reject: %s, want an empty request", got)
	}
	// A malformed Nak is discarded, not obeyed.
	before := s.FSM().Stats().Discarded
	s.FSM().Receive(ncpHex(t, "03030008 03040a0a"))
	if len(rec.out) != 0 || s.FSM().Stats().Discarded != before+1 {
		t.Fatalf("malformed Nak: sent % x, discarded %d", rec.out, s.FSM().Stats().Discarded-before)
	}
}

// A server with no address for the caller: the client, which has none of its own, gives up
// with ErrNoAddress, and the server's IPCP is closed by the client's Terminate-Request.
func TestIPCPNoAddressToAssign(t *testing.T) {
	var clientErr []error
	s, c, l := startIPCPPair(t, IPCPConfig{Server: true, Local: addrOf("192.0.2.1")},
		IPCPConfig{NoDNS: true, OnFinished: func(err error) { clientErr = append(clientErr, err) }})
	l.pump(t, s.FSM(), c.FSM())
	if !errors.Is(c.Err(), ErrNoAddress) || len(clientErr) != 1 || !errors.Is(clientErr[0], ErrNoAddress) {
		t.Fatalf("client err %v, finished %v; want ErrNoAddress", c.Err(), clientErr)
	}
	if c.FSM().State() != StateClosed {
		t.Errorf("client state %v, want Closed", c.FSM().State())
	}
	if s.FSM().State() == StateOpened {
		t.Errorf("server state %v, want not Opened", s.FSM().State())
	}
}

// The client rejects what a server has no business asking of it.
func TestIPCPClientJudgesServer(t *testing.T) {
	var rec ncpRecorder
	c := NewIPCP(IPCPConfig{NoDNS: true}, Config{Send: rec.send})
	c.FSM().Open()
	c.FSM().Up()
	if got := rec.next(t); got != "0101000a030600000000" {
		t.Fatalf("client request %s", got)
	}
	c.FSM().Receive(ncpHex(t, "0105 0016 030600000000 0206002d0f01 810600000000"))
	if got := rec.next(t); got != "04050016030600000000"+"0206002d0f01"+"810600000000" {
		t.Fatalf("answer %s", got)
	}
	c.FSM().Receive(ncpHex(t, "0106 000a 0306c0000201"))
	if got := rec.next(t); got != "0206000a0306c0000201" {
		t.Fatalf("answer %s", got)
	}
	// A Nak with a malformed address is discarded.
	c.FSM().Receive(ncpHex(t, "0301 0009 0305 0a0000"))
	if len(rec.out) != 0 {
		t.Fatalf("malformed Nak answered: % x", rec.out)
	}
	c.FSM().Receive(ncpHex(t, "0301 000a 03060a000007"))
	if got := rec.next(t); got != "0102000a03060a000007" {
		t.Fatalf("after Nak: %s", got)
	}
	c.FSM().Receive(ncpHex(t, "0202 000a 03060a000007"))
	res, ok := c.Result()
	if !ok || res != (IPCPResult{Local: addrOf("10.0.0.7"), Peer: addrOf("192.0.2.1")}) {
		t.Fatalf("result %+v %v", res, ok)
	}
}

func BenchmarkIPCPHandshake(b *testing.B) {
	b.ReportAllocs()
	server := IPCPConfig{Server: true, Local: addrOf("192.0.2.1"), Peer: addrOf("10.0.0.7"),
		DNS: [2]netip.Addr{addrOf("198.51.100.53"), addrOf("198.51.100.54")}}
	client := IPCPConfig{OfferVJ: true}
	for b.Loop() {
		l := &ncpPipe{}
		s := NewIPCP(server, Config{Send: l.sendToB})
		c := NewIPCP(client, Config{Send: l.sendToA})
		for _, f := range []*FSM{s.FSM(), c.FSM()} {
			f.Open()
			f.Up()
		}
		for len(l.toA)+len(l.toB) > 0 {
			if len(l.toA) > 0 {
				p := l.toA[0]
				l.toA = l.toA[1:]
				s.FSM().Receive(p)
			}
			if len(l.toB) > 0 {
				p := l.toB[0]
				l.toB = l.toB[1:]
				c.FSM().Receive(p)
			}
		}
		if s.FSM().State() != StateOpened {
			b.Fatal("not opened")
		}
	}
}
