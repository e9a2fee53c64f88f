package ppp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

// cbcpClock is a manual clock for the answerer's retransmission timer.
type cbcpClock struct{ t time.Time }

func (c *cbcpClock) now() time.Time { return c.t }

func cbcpHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// REFERENCE.md §3's example, byte for byte: the NAS offers none, user-specified and
// pre-specified; pppd (`callback 5551234`) picks user-specified with its number and a 5 s
// delay; the NAS acks with the same body. The lengths are consistent: the Request is
// 4 + 2 + 5 + 3 = 14 (0x0E) octets; pppd's option is 3 + 1 + 7 + 1 = 12 (0x0C) octets (type,
// length, delay, address type, number, NUL), its Response 16 (0x10).
func TestCBCPReferenceExample(t *testing.T) {
	var toClient, toServer [][]byte
	srv := NewCBCPServer(CBCPOffer{None: true, User: true, Admin: "5550000"},
		func(b []byte) { toClient = append(toClient, bytes.Clone(b)) }, nil)
	cli := NewCBCPClient("5551234", func(b []byte) { toServer = append(toServer, bytes.Clone(b)) })

	srv.Start()
	want := cbcpHex(t, "01 01 00 0E 01 02 02 05 00 01 00 03 03 00")
	if len(toClient) != 1 || !bytes.Equal(toClient[0], want) {
		t.Fatalf("Request % x, want % x", toClient, want)
	}
	cli.Receive(toClient[0])
	want = append(cbcpHex(t, "02 01 00 10 02 0C 05 01"), "5551234\x00"...)
	if len(toServer) != 1 || !bytes.Equal(toServer[0], want) {
		t.Fatalf("Response % x, want % x", toServer, want)
	}
	srv.Receive(toServer[0])
	want = append(cbcpHex(t, "03 01 00 10 02 0C 05 01"), "5551234\x00"...)
	if len(toClient) != 2 || !bytes.Equal(toClient[1], want) {
		t.Fatalf("Ack % x, want % x", toClient[1:], want)
	}
	cli.Receive(toClient[1])

	wantRes := CBCPResult{Type: CBCPUser, Number: "5551234", Delay: 5 * time.Second}
	if got, ok := srv.Done(); !ok || got != wantRes {
		t.Errorf("server Done = %+v, %v; want %+v", got, ok, wantRes)
	}
	if got, ok := cli.Done(); !ok || got != wantRes {
		t.Errorf("client Done = %+v, %v; want %+v", got, ok, wantRes)
	}
	if _, running := srv.Deadline(); running {
		t.Error("timer still running after the Ack")
	}
}

// cbcpRun runs a server and a client against each other in memory.
func cbcpRun(t *testing.T, srv *CBCPServer, cli *CBCPClient, toClient, toServer *[][]byte) {
	t.Helper()
	srv.Start()
	for n := 0; len(*toClient)+len(*toServer) > 0; n++ {
		if n > 50 {
			t.Fatal("CBCP exchange did not settle")
		}
		if len(*toClient) > 0 {
			p := (*toClient)[0]
			*toClient = (*toClient)[1:]
			cli.Receive(p)
		}
		if len(*toServer) > 0 {
			p := (*toServer)[0]
			*toServer = (*toServer)[1:]
			srv.Receive(p)
		}
	}
}

func TestCBCPServerClient(t *testing.T) {
	tests := []struct {
		name       string
		offer      CBCPOffer
		number     string
		wantServer CBCPResult
		wantClient CBCPResult
	}{
		{
			name:       "user-specified",
			offer:      CBCPOffer{None: true, User: true},
			number:     "5551234",
			wantServer: CBCPResult{Type: CBCPUser, Number: "5551234", Delay: 5 * time.Second},
			wantClient: CBCPResult{Type: CBCPUser, Number: "5551234", Delay: 5 * time.Second},
		},
		{
			name:       "pre-specified offered alone: the admin number wins",
			offer:      CBCPOffer{Admin: "5550000", Delay: 3 * time.Second},
			number:     "5551234",
			wantServer: CBCPResult{Type: CBCPAdmin, Number: "5550000", Delay: 5 * time.Second},
			wantClient: CBCPResult{Type: CBCPAdmin, Delay: 5 * time.Second},
		},
		{
			name:       "pre-specified preferred to none",
			offer:      CBCPOffer{None: true, Admin: "5550000"},
			number:     "5551234",
			wantServer: CBCPResult{Type: CBCPAdmin, Number: "5550000", Delay: 5 * time.Second},
			wantClient: CBCPResult{Type: CBCPAdmin, Delay: 5 * time.Second},
		},
		{
			name:       "none",
			offer:      CBCPOffer{None: true},
			number:     "5551234",
			wantServer: CBCPResult{Type: CBCPNone},
			wantClient: CBCPResult{Type: CBCPNone},
		},
		{
			name:       "client without a number declines a user-specified callback",
			offer:      CBCPOffer{None: true, User: true},
			wantServer: CBCPResult{Type: CBCPNone},
			wantClient: CBCPResult{Type: CBCPNone},
		},
		{
			name:       "client without a number takes pre-specified",
			offer:      CBCPOffer{User: true, Admin: "5550000"},
			wantServer: CBCPResult{Type: CBCPAdmin, Number: "5550000", Delay: 5 * time.Second},
			wantClient: CBCPResult{Type: CBCPAdmin, Delay: 5 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var toClient, toServer [][]byte
			srv := NewCBCPServer(tt.offer, func(b []byte) { toClient = append(toClient, bytes.Clone(b)) }, nil)
			cli := NewCBCPClient(tt.number, func(b []byte) { toServer = append(toServer, bytes.Clone(b)) })
			cbcpRun(t, srv, cli, &toClient, &toServer)
			if got, ok := srv.Done(); !ok || got != tt.wantServer {
				t.Errorf("server Done = %+v, %v (err %v); want %+v", got, ok, srv.Failed(), tt.wantServer)
			}
			if got, ok := cli.Done(); !ok || got != tt.wantClient {
				t.Errorf("client Done = %+v, %v; want %+v", got, ok, tt.wantClient)
			}
		})
	}
}

// The Request carries the offered delay, rounded up to whole seconds.
func TestCBCPOfferedDelay(t *testing.T) {
	var out [][]byte
	srv := NewCBCPServer(CBCPOffer{User: true, Admin: "1", Delay: 2500 * time.Millisecond},
		func(b []byte) { out = append(out, bytes.Clone(b)) }, nil)
	srv.Start()
	if want := cbcpHex(t, "01 01 000c 02 05 03 01 00 03 03 03"); !bytes.Equal(out[0], want) {
		t.Fatalf("Request % x, want % x", out[0], want)
	}
}

type cbcpServerRig struct {
	t     *testing.T
	clock *cbcpClock
	srv   *CBCPServer
	out   [][]byte
}

func newCBCPServerRig(t *testing.T, o CBCPOffer, maxRequests int) *cbcpServerRig {
	r := &cbcpServerRig{t: t, clock: &cbcpClock{t: time.Unix(1000, 0)}}
	r.srv = NewCBCPServer(o, func(b []byte) { r.out = append(r.out, bytes.Clone(b)) }, r.clock.now)
	r.srv.MaxRequests = maxRequests
	r.srv.Start()
	return r
}

// take returns the packets sent since the last call.
func (r *cbcpServerRig) take() [][]byte {
	out := r.out
	r.out = nil
	return out
}

// response builds a Callback Response with the given id and option octets.
func (r *cbcpServerRig) response(id byte, opts string) []byte {
	o := cbcpHex(r.t, opts)
	n := 4 + len(o)
	return append([]byte{byte(CBCPResponse), id, byte(n >> 8), byte(n)}, o...)
}

// expectRequest checks that exactly one Request with this id went out, with the offer's body.
func (r *cbcpServerRig) expectRequest(id byte, body string) {
	r.t.Helper()
	out := r.take()
	want := cbcpHex(r.t, body)
	if len(out) != 1 || out[0][0] != byte(CBCPRequest) || out[0][1] != id || !bytes.Equal(out[0][4:], want) {
		r.t.Fatalf("sent % x, want one Request id %d with % x", out, id, want)
	}
}

func (r *cbcpServerRig) expectNothing() {
	r.t.Helper()
	if out := r.take(); len(out) != 0 {
		r.t.Fatalf("sent % x, want nothing", out)
	}
}

func TestCBCPRetransmitWithNewID(t *testing.T) {
	const body = "02 05 00 01 00"
	r := newCBCPServerRig(t, CBCPOffer{User: true}, 3)
	r.expectRequest(1, body)
	dl, on := r.srv.Deadline()
	if !on || dl != r.clock.t.Add(DefaultCBCPInterval) {
		t.Fatalf("Deadline = %v, %v; want start + 2 s", dl, on)
	}
	r.srv.Poll(dl.Add(-time.Millisecond))
	r.expectNothing()
	r.clock.t = dl
	r.srv.Poll(dl)
	r.expectRequest(2, body)

	// A late answer to the first Request is stale now.
	r.srv.Receive(r.response(1, "02 0c 05 01 35353531323334 00"))
	r.expectNothing()
	if _, ok := r.srv.Done(); ok {
		t.Fatal("stale Response accepted")
	}
	r.srv.Receive(r.response(2, "02 0c 05 01 35353531323334 00"))
	if out := r.take(); len(out) != 1 || out[0][0] != byte(CBCPAck) || out[0][1] != 2 {
		t.Fatalf("sent % x, want an Ack id 2", out)
	}
}

func TestCBCPGivesUp(t *testing.T) {
	r := newCBCPServerRig(t, CBCPOffer{None: true}, 3)
	r.expectRequest(1, "01 02")
	for id := byte(2); id <= 3; id++ {
		r.clock.t = r.clock.t.Add(DefaultCBCPInterval)
		r.srv.Poll(r.clock.t)
		r.expectRequest(id, "01 02")
	}
	r.clock.t = r.clock.t.Add(DefaultCBCPInterval)
	r.srv.Poll(r.clock.t)
	r.expectNothing()
	if err := r.srv.Failed(); !errors.Is(err, ErrCBCPNoResponse) {
		t.Fatalf("Failed = %v, want ErrCBCPNoResponse", err)
	}
	if _, on := r.srv.Deadline(); on {
		t.Error("timer still running after giving up")
	}
	r.srv.Receive(r.response(3, "01 02"))
	r.expectNothing()
	if _, ok := r.srv.Done(); ok {
		t.Error("Done after giving up")
	}
}

// Responses the answerer cannot accept get a new Request (new id) — MS-CBCP §3.2.5.3 —
// until one is right; each counts against MaxRequests.
func TestCBCPReRequest(t *testing.T) {
	const body = "03 03 00"
	r := newCBCPServerRig(t, CBCPOffer{Admin: "5550000"}, 10)
	r.expectRequest(1, body)
	bad := []string{
		"02 0c 05 01 35353531323334 00", // user-specified: not offered
		"01 02",                         // none: not offered
		"04 03 05",                      // list: never offered
		"03 04 05 01",                   // malformed: address type without an address
		"03 03 05 01 02",                // two options
		"",                              // no option
	}
	for i, opt := range bad {
		id := byte(i + 1)
		r.srv.Receive(r.response(id, opt))
		r.expectRequest(id+1, body)
	}
	r.srv.Receive(r.response(byte(len(bad)+1), "03 03 07"))
	want := r.response(byte(len(bad)+1), "03 03 07")
	want[0] = byte(CBCPAck)
	if out := r.take(); len(out) != 1 || !bytes.Equal(out[0], want) {
		t.Fatalf("sent % x, want Ack % x", out, want)
	}
	if got, ok := r.srv.Done(); !ok || got != (CBCPResult{Type: CBCPAdmin, Number: "5550000", Delay: 7 * time.Second}) {
		t.Fatalf("Done = %+v, %v", got, ok)
	}
}

func TestCBCPRefusesBadNumbers(t *testing.T) {
	r := newCBCPServerRig(t, CBCPOffer{User: true}, 4)
	r.expectRequest(1, "02 05 00 01 00")
	for i, number := range []string{"555;ATH", "", "5551234\r"} {
		opt := CBCPOption{Type: CBCPUser, HasDelay: true, Delay: 5, HasAddress: true, AddrType: CBCPAddrPSTN, Number: number}
		r.srv.Receive(CBCPPacket{Code: CBCPResponse, ID: byte(i + 1), Options: []CBCPOption{opt}}.Append(nil))
		r.expectRequest(byte(i+2), "02 05 00 01 00")
	}
	// Not a PSTN address type.
	r.srv.Receive(r.response(4, "02 0c 05 02 35353531323334 00"))
	r.expectNothing()
	if err := r.srv.Failed(); !errors.Is(err, ErrCBCPNoResponse) || !strings.Contains(err.Error(), "PSTN") {
		t.Fatalf("Failed = %v, want ErrCBCPNoResponse naming the last reason", err)
	}
}

func TestCBCPAcceptsBothNoneForms(t *testing.T) {
	for _, opt := range []string{"01 02", "01 03 00"} { // MS-CBCP; pppd
		r := newCBCPServerRig(t, CBCPOffer{None: true, User: true}, 0)
		r.take()
		r.srv.Receive(r.response(1, opt))
		want := r.response(1, opt)
		want[0] = byte(CBCPAck)
		if out := r.take(); len(out) != 1 || !bytes.Equal(out[0], want) {
			t.Fatalf("%s: sent % x, want % x", opt, out, want)
		}
		if got, ok := r.srv.Done(); !ok || got != (CBCPResult{Type: CBCPNone}) {
			t.Fatalf("%s: Done = %+v, %v", opt, got, ok)
		}
	}
}

// After the Ack, a repeated Response (our Ack was lost) is acked again; nothing else is.
func TestCBCPRepeatsLostAck(t *testing.T) {
	r := newCBCPServerRig(t, CBCPOffer{User: true}, 0)
	r.take()
	resp := r.response(1, "02 0c 05 01 35353531323334 00")
	r.srv.Receive(resp)
	ack := r.take()
	r.srv.Receive(resp)
	if again := r.take(); len(again) != 1 || !bytes.Equal(again[0], ack[0]) {
		t.Fatalf("repeated Response answered % x, want the Ack % x again", again, ack)
	}
	r.srv.Receive(r.response(1, "02 0c 05 01 35353539393939 00"))
	r.srv.Receive(r.response(2, "02 0c 05 01 35353531323334 00"))
	r.expectNothing()
	if got, _ := r.srv.Done(); got.Number != "5551234" {
		t.Fatalf("result changed to %+v", got)
	}
}

func TestCBCPEmptyOffer(t *testing.T) {
	r := newCBCPServerRig(t, CBCPOffer{Delay: time.Second}, 0)
	r.expectNothing()
	if err := r.srv.Failed(); !errors.Is(err, ErrCBCPNoOffer) {
		t.Fatalf("Failed = %v, want ErrCBCPNoOffer", err)
	}
}

// Packets that are not Responses, or not CBCP at all, leave the answerer as it was.
func TestCBCPServerIgnoresNoise(t *testing.T) {
	r := newCBCPServerRig(t, CBCPOffer{None: true}, 0)
	r.take()
	for _, p := range []string{"", "02", "02 01 00 03", "02 01 00 09 01 02", "01 01 00 06 01 02", "03 01 00 06 01 02"} {
		r.srv.Receive(cbcpHex(t, p))
	}
	r.expectNothing()
	if _, on := r.srv.Deadline(); !on || r.srv.Failed() != nil {
		t.Fatal("answerer disturbed by noise")
	}
}

func TestCBCPClient(t *testing.T) {
	var out [][]byte
	c := NewCBCPClient("5551234", func(b []byte) { out = append(out, bytes.Clone(b)) })
	c.Receive(cbcpHex(t, "03 01 00 06 01 02"))       // an Ack before any Request
	c.Receive(cbcpHex(t, "01 01 00 08 02 04 00 01")) // malformed Request
	c.Receive(cbcpHex(t, "01 02 00 06 04 02"))       // only a list: nothing pppd can use
	if len(out) != 0 {
		t.Fatalf("answered % x", out)
	}
	c.Receive(cbcpHex(t, "01 03 00 0b 01 02 02 05 00 01 00"))
	c.Receive(cbcpHex(t, "01 04 00 0b 01 02 02 05 00 01 00")) // a retransmission: answered again
	want := append(cbcpHex(t, "02 04 00 10 02 0C 05 01"), "5551234\x00"...)
	if len(out) != 2 || out[0][1] != 3 || !bytes.Equal(out[1], want) {
		t.Fatalf("responses % x, want ids 3 and 4, the last % x", out, want)
	}
	c.Receive(cbcpHex(t, "03 03 00 06 01 02")) // stale Ack
	if _, ok := c.Done(); ok {
		t.Fatal("stale Ack accepted")
	}
	ack := bytes.Clone(want)
	ack[0] = byte(CBCPAck)
	c.Receive(ack)
	if got, ok := c.Done(); !ok || got != (CBCPResult{Type: CBCPUser, Number: "5551234", Delay: 5 * time.Second}) {
		t.Fatalf("Done = %+v, %v", got, ok)
	}
}

// A client may ask for a delay other than pppd's 5 s (the lab's callers do, to stay quick); it
// is sent in whole seconds, rounded up, at most 255.
func TestCBCPClientDelay(t *testing.T) {
	for _, tc := range []struct {
		delay time.Duration
		want  byte
	}{{0, 5}, {time.Second, 1}, {1500 * time.Millisecond, 2}, {time.Hour, 255}} {
		var out []byte
		c := NewCBCPClient("", func(b []byte) { out = bytes.Clone(b) })
		c.Delay = tc.delay
		c.Receive(cbcpHex(t, "01 01 00 07 03 03 00"))
		if want := cbcpHex(t, "02 01 00 07 03 03"); !bytes.Equal(out, append(want, tc.want)) {
			t.Errorf("delay %v: response % x, want delay octet %d", tc.delay, out, tc.want)
		}
		c.Receive(append(cbcpHex(t, "03 01 00 07 03 03"), tc.want))
		if r, ok := c.Done(); !ok || r.Delay != time.Duration(tc.want)*time.Second {
			t.Errorf("delay %v: Done = %+v, %v", tc.delay, r, ok)
		}
	}
}

func TestParseCBCP(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want CBCPPacket
		err  bool
	}{
		{"reference request", "01 01 00 0E 01 02 02 05 00 01 00 03 03 00", CBCPPacket{Code: CBCPRequest, ID: 1, Options: []CBCPOption{
			{Type: 1}, {Type: 2, HasDelay: true, HasAddress: true, AddrType: 1}, {Type: 3, HasDelay: true},
		}}, false},
		{"padding after length", "03 07 00 06 01 02 ff ff", CBCPPacket{Code: CBCPAck, ID: 7, Options: []CBCPOption{{Type: 1}}}, false},
		{"no options", "01 01 00 04", CBCPPacket{Code: CBCPRequest, ID: 1}, false},
		{"short", "01 01 00", CBCPPacket{}, true},
		{"length past end", "01 01 00 08 01 02", CBCPPacket{}, true},
		{"length below header", "01 01 00 03", CBCPPacket{}, true},
		{"option length 1", "01 01 00 06 01 01", CBCPPacket{}, true},
		{"option past data", "01 01 00 06 02 05", CBCPPacket{}, true},
		{"half an option", "01 01 00 05 01", CBCPPacket{}, true},
		{"address type only", "02 01 00 08 02 04 05 01", CBCPPacket{}, true},
		{"address without NUL", "02 01 00 09 02 05 05 01 35", CBCPPacket{}, true},
		{"NUL inside the address", "02 01 00 0a 02 06 05 01 00 00", CBCPPacket{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCBCP(cbcpHex(t, tt.in))
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if err != nil {
				if !errors.Is(err, ErrCBCPMalformed) {
					t.Errorf("error %v does not wrap ErrCBCPMalformed", err)
				}
				return
			}
			if got.Code != tt.want.Code || got.ID != tt.want.ID || len(got.Options) != len(tt.want.Options) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got.Options {
				if got.Options[i] != tt.want.Options[i] {
					t.Errorf("option %d = %+v, want %+v", i, got.Options[i], tt.want.Options[i])
				}
			}
		})
	}
}

func TestCheckCallbackNumber(t *testing.T) {
	for _, s := range []string{"5551234", "+1 (555) 123-4567", "9,5551234", "*70W5551234#", "T5551234", "1.555.123.4567", "ABCD"} {
		if err := CheckCallbackNumber(s); err != nil {
			t.Errorf("CheckCallbackNumber(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", "555;ATH0", "555\r\nATZ", "555\x00", "5551234X", strings.Repeat("5", 65), "555\"123", "\\T"} {
		if err := CheckCallbackNumber(s); !errors.Is(err, ErrCallbackNumber) {
			t.Errorf("CheckCallbackNumber(%q) = %v, want ErrCallbackNumber", s, err)
		}
	}
}

// pppdReadsRequest models how pppd 2.4.9's cbcp_recvreq reads a Callback Request: it steps
// over type, length and delay, and for a user-specified option over the address type, but
// not over the address itself, so whatever follows that option is read misaligned; a
// Request whose (mis)read options do not add up to its length is dropped without an
// answer. It returns the option types pppd believes were offered.
func pppdReadsRequest(data []byte) (allowed uint8, answers bool) {
	left, i := len(data), 0
	for left > 0 {
		if i+2 > len(data) {
			return allowed, false // pppd would read past the packet
		}
		typ, optLen := data[i], int(data[i+1])
		i += 2
		if optLen < 2 || optLen > left {
			break
		}
		if optLen > 2 {
			i++ // delay
		}
		allowed |= 1 << (typ & 7)
		if typ == CBCPUser && optLen > 4 {
			i++ // address type; the address is copied but not stepped over
		}
		left -= optLen
	}
	return allowed, left == 0
}

// Every Request the answerer can send is one pppd answers, and with the answer this
// package's pppd-like client gives. The order none, user, pre-specified matters: after the
// user option pppd reads the rest misaligned, and only in this order does the misread
// (NUL, 03, 03 as "type 0, length 3") consume the pre-specified option exactly.
func TestCBCPRequestsPppdAnswers(t *testing.T) {
	for mask := 1; mask < 8; mask++ {
		for _, delay := range []time.Duration{0, 3 * time.Second} {
			o := CBCPOffer{None: mask&1 != 0, User: mask&2 != 0, Delay: delay}
			if mask&4 != 0 {
				o.Admin = "5550000"
			}
			var req []byte
			NewCBCPServer(o, func(b []byte) { req = bytes.Clone(b) }, nil).Start()
			allowed, answers := pppdReadsRequest(req[4:])
			if !answers {
				t.Errorf("offer %+v: pppd drops Request % x", o, req)
				continue
			}
			// pppd with `callback NUMBER` wants user > admin > none.
			var pppdPick int
			switch {
			case allowed&(1<<CBCPUser) != 0:
				pppdPick = CBCPUser
			case allowed&(1<<CBCPAdmin) != 0:
				pppdPick = CBCPAdmin
			case allowed&(1<<CBCPNone) != 0:
				pppdPick = CBCPNone
			}
			var resp []byte
			NewCBCPClient("5551234", func(b []byte) { resp = bytes.Clone(b) }).Receive(req)
			if resp == nil || int(resp[4]) != pppdPick {
				t.Errorf("offer %+v: pppd picks %d, the client answered % x", o, pppdPick, resp)
			}
		}
	}
}
