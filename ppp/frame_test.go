package ppp

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// bitwiseFCS computes the FCS-16 one bit at a time, straight from the polynomial, as an
// independent check of the table-driven code.
func bitwiseFCS(p []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range p {
		for i := range 8 {
			bit := (uint16(c) >> i) & 1
			if (crc^bit)&1 != 0 {
				crc = crc>>1 ^ 0x8408
			} else {
				crc >>= 1
			}
		}
	}
	return ^crc
}

func TestFCS16(t *testing.T) {
	// The published check value of CRC-16/X-25 (the HDLC FCS) over "123456789".
	if got := FCS16([]byte("123456789")); got != 0x906E {
		t.Errorf("FCS16(123456789) = %#04x, want 0x906e", got)
	}
	for _, s := range []string{"", "a", "\x7e\x7d\x00\xff", strings.Repeat("PPP", 700)} {
		p := []byte(s)
		if got, want := FCS16(p), bitwiseFCS(p); got != want {
			t.Errorf("FCS16(%q) = %#04x, bitwise %#04x", s, got, want)
		}
		// A frame followed by its FCS, least significant octet first, leaves the good
		// residue (RFC 1662 §C.2).
		fcs := FCS16(p)
		withFCS := append(bytes.Clone(p), byte(fcs), byte(fcs>>8))
		if got := fcsUpdate(fcsInit, withFCS); got != fcsGood {
			t.Errorf("residue over %q = %#04x, want %#04x", s, got, fcsGood)
		}
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wire builds the expected bytes of a frame by hand: body is address..info unescaped, the
// FCS is appended with the bitwise algorithm, and esc says which octets to escape.
func wire(body []byte, esc func(byte) bool) []byte {
	fcs := bitwiseFCS(body)
	full := append(bytes.Clone(body), byte(fcs), byte(fcs>>8))
	out := []byte{0x7E}
	for _, c := range full {
		if c == 0x7E || c == 0x7D || esc(c) {
			out = append(out, 0x7D, c^0x20)
		} else {
			out = append(out, c)
		}
	}
	return append(out, 0x7E)
}

func allControls(c byte) bool { return c < 0x20 }
func noControls(byte) bool    { return false }

func TestEncoderFrames(t *testing.T) {
	info := []byte{0x01, 0x11, 0x7E, 0x41, 0x7D, 0x13, 0x20, 0x9E}
	tests := []struct {
		name  string
		setup func(e *Encoder)
		proto uint16
		info  []byte
		want  []byte
	}{
		{
			name:  "defaults: address, control, two-octet protocol, every control escaped",
			proto: ProtoIP, info: info,
			want: wire(append([]byte{0xFF, 0x03, 0x00, 0x21}, info...), allControls),
		},
		{
			name:  "ACCM 0 escapes only flag and escape",
			setup: func(e *Encoder) { e.SetACCM(0) },
			proto: ProtoIP, info: info,
			want: wire(append([]byte{0xFF, 0x03, 0x00, 0x21}, info...), noControls),
		},
		{
			name:  "XON/XOFF map escapes 0x11 and 0x13 only",
			setup: func(e *Encoder) { e.SetACCM(0x000A0000) },
			proto: ProtoIP, info: info,
			want: wire(append([]byte{0xFF, 0x03, 0x00, 0x21}, info...), func(c byte) bool { return c == 0x11 || c == 0x13 }),
		},
		{
			name:  "ACFC and PFC compress IP to one octet with no address",
			setup: func(e *Encoder) { e.SetACCM(0); e.SetACFC(true); e.SetPFC(true) },
			proto: ProtoIP, info: info,
			want: wire(append([]byte{0x21}, info...), noControls),
		},
		{
			name:  "PFC leaves a two-octet-only protocol alone",
			setup: func(e *Encoder) { e.SetACCM(0); e.SetACFC(true); e.SetPFC(true) },
			proto: ProtoIPCP, info: info,
			want: wire(append([]byte{0x80, 0x21}, info...), noControls),
		},
		{
			name:  "LCP ignores ACFC, PFC and ACCM",
			setup: func(e *Encoder) { e.SetACCM(0); e.SetACFC(true); e.SetPFC(true) },
			proto: ProtoLCP, info: []byte{0x01, 0x01, 0x00, 0x04},
			want: wire([]byte{0xFF, 0x03, 0xC0, 0x21, 0x01, 0x01, 0x00, 0x04}, allControls),
		},
		{
			name:  "compressed protocol 0xFF keeps address and control",
			setup: func(e *Encoder) { e.SetACFC(true); e.SetPFC(true) },
			proto: 0x00FF, info: []byte{0x42},
			want: wire([]byte{0xFF, 0x03, 0xFF, 0x42}, allControls),
		},
		{
			name:  "empty information keeps a two-octet protocol rather than make a runt",
			setup: func(e *Encoder) { e.SetACFC(true); e.SetPFC(true) },
			proto: ProtoIP, info: nil,
			want: wire([]byte{0x00, 0x21}, allControls),
		},
		{
			name:  "PFC without ACFC",
			setup: func(e *Encoder) { e.SetPFC(true) },
			proto: ProtoIP, info: nil,
			want: wire([]byte{0xFF, 0x03, 0x21}, allControls),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEncoder()
			if tt.setup != nil {
				tt.setup(e)
			}
			prefix := []byte("keep")
			got := e.AppendFrame(bytes.Clone(prefix), tt.proto, tt.info)
			if !bytes.HasPrefix(got, prefix) {
				t.Fatalf("AppendFrame clobbered dst: % x", got)
			}
			if got = got[len(prefix):]; !bytes.Equal(got, tt.want) {
				t.Errorf("frame\n got % x\nwant % x", got, tt.want)
			}
			if len(got) > MaxEncodedLen(len(tt.info)) {
				t.Errorf("frame of %d octets exceeds MaxEncodedLen %d", len(got), MaxEncodedLen(len(tt.info)))
			}
		})
	}
}

// The first octets of pppd's first LCP frame, as mgetty's AutoPPP looks for them.
func TestEncoderLCPStart(t *testing.T) {
	got := NewEncoder().AppendFrame(nil, ProtoLCP, []byte{1, 1, 0, 4})
	if want := []byte{0x7E, 0xFF, 0x7D, 0x23, 0xC0, 0x21}; !bytes.HasPrefix(got, want) {
		t.Errorf("LCP frame starts % x, want % x", got[:6], want)
	}
}

type decoded struct {
	proto uint16
	info  string
}

func decodeAll(d *Decoder, chunks ...[]byte) []decoded {
	var out []decoded
	for _, c := range chunks {
		d.Feed(c, func(f Frame) { out = append(out, decoded{f.Protocol, string(f.Info)}) })
	}
	return out
}

func TestDecoder(t *testing.T) {
	enc := NewEncoder()
	lcp := enc.AppendFrame(nil, ProtoLCP, []byte{1, 1, 0, 4})
	ip := enc.AppendFrame(nil, ProtoIP, []byte("hello \x00\x13\x7e"))
	ipDec := decoded{ProtoIP, "hello \x00\x13\x7e"}
	lcpDec := decoded{ProtoLCP, "\x01\x01\x00\x04"}
	compressed := func() []byte {
		e := NewEncoder()
		e.SetACFC(true)
		e.SetPFC(true)
		return e.AppendFrame(nil, ProtoIP, []byte("hi"))
	}()
	raw := func() []byte { // sent by a peer told our receive map is 0: raw control octets
		e := NewEncoder()
		e.SetACCM(0)
		return e.AppendFrame(nil, ProtoIP, []byte{0x01, 0x02, 0x11})
	}()
	body := func(b []byte) []byte { return b[1 : len(b)-1] } // without the flags
	badFCS := bytes.Clone(ip)
	badFCS[5] ^= 0x01
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	tests := []struct {
		name  string
		accm  *uint32
		mru   int
		input []byte
		want  []decoded
		stats DecoderStats
	}{
		{name: "one frame", input: ip, want: []decoded{ipDec}, stats: DecoderStats{Frames: 1}},
		{
			name:  "modem text before the first flag is discarded",
			input: cat([]byte("CONNECT 33600\r\n"), lcp),
			want:  []decoded{lcpDec},
			stats: DecoderStats{Frames: 1, Discarded: 15},
		},
		{
			name:  "a single flag shared between frames",
			input: cat(lcp, body(ip), []byte{0x7E}),
			want:  []decoded{lcpDec, ipDec},
			stats: DecoderStats{Frames: 2},
		},
		{
			name:  "back-to-back flags are empty frames, silently dropped",
			input: cat([]byte{0x7E, 0x7E, 0x7E}, lcp, []byte{0x7E, 0x7E}, ip),
			want:  []decoded{lcpDec, ipDec},
			stats: DecoderStats{Frames: 2},
		},
		{
			name:  "abort sequence drops the frame, next one decodes",
			input: cat([]byte{0x7E}, body(ip)[:6], []byte{0x7D, 0x7E}, body(lcp), []byte{0x7E}),
			want:  []decoded{lcpDec},
			stats: DecoderStats{Frames: 1, Aborts: 1},
		},
		{
			name:  "bad FCS counted and dropped",
			input: cat(badFCS, lcp),
			want:  []decoded{lcpDec},
			stats: DecoderStats{Frames: 1, BadFCS: 1},
		},
		{
			name:  "runts are not FCS errors",
			input: cat([]byte{0x7E, 'a', 0x7E, 'a', 'b', 'c', 0x7E}, lcp),
			want:  []decoded{lcpDec},
			stats: DecoderStats{Frames: 1, Runts: 2},
		},
		{
			name:  "compressed address, control and protocol accepted",
			input: compressed,
			want:  []decoded{{ProtoIP, "hi"}},
			stats: DecoderStats{Frames: 1},
		},
		{
			name:  "flow-control octets inserted by the modem are dropped",
			input: cat(ip[:3], []byte{0x11}, ip[3:9], []byte{0x13, 0x13}, ip[9:]),
			want:  []decoded{ipDec},
			stats: DecoderStats{Frames: 1},
		},
		{
			name:  "raw control octets kept when not in the receive map",
			accm:  new(uint32(0)),
			input: raw,
			want:  []decoded{{ProtoIP, "\x01\x02\x11"}},
			stats: DecoderStats{Frames: 1},
		},
		{
			name:  "raw control octets in the receive map are dropped, breaking the FCS",
			input: raw,
			stats: DecoderStats{BadFCS: 1},
		},
		{
			name:  "escaped control octets accepted whatever the map",
			accm:  new(uint32(0)),
			input: ip,
			want:  []decoded{ipDec},
			stats: DecoderStats{Frames: 1},
		},
		{
			name:  "wrong control field",
			input: wire([]byte{0xFF, 0x13, 0x00, 0x21, 0x00}, allControls),
			stats: DecoderStats{BadHeader: 1},
		},
		{
			name:  "address and control but no protocol",
			input: wire([]byte{0xFF, 0x03}, allControls),
			stats: DecoderStats{BadHeader: 1},
		},
		{
			name:  "oversize frame dropped, the next decodes",
			mru:   1500,
			input: cat(enc.AppendFrame(nil, ProtoIP, make([]byte, 1501)), lcp),
			want:  []decoded{lcpDec},
			stats: DecoderStats{Frames: 1, Oversize: 1},
		},
		{
			name:  "1500 octets always fit, even with a smaller MRU",
			mru:   296,
			input: enc.AppendFrame(nil, ProtoIP, bytes.Repeat([]byte{0x7E}, 1500)),
			want:  []decoded{{ProtoIP, strings.Repeat("\x7e", 1500)}},
			stats: DecoderStats{Frames: 1},
		},
		{
			name:  "a larger MRU raises the limit",
			mru:   2000,
			input: enc.AppendFrame(nil, ProtoIP, bytes.Repeat([]byte{'x'}, 2000)),
			want:  []decoded{{ProtoIP, strings.Repeat("x", 2000)}},
			stats: DecoderStats{Frames: 1},
		},
		{
			name:  "invalid two-octet protocol is delivered for LCP to reject",
			input: wire([]byte{0xFF, 0x03, 0x00, 0x20, 0x01}, allControls),
			want:  []decoded{{0x0020, "\x01"}},
			stats: DecoderStats{Frames: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Whole, and one octet at a time: chunking must not matter.
			for _, split := range []bool{false, true} {
				d := NewDecoder(tt.mru)
				if tt.accm != nil {
					d.SetACCM(*tt.accm)
				}
				var got []decoded
				if split {
					for i := range tt.input {
						got = append(got, decodeAll(d, tt.input[i:i+1])...)
					}
				} else {
					got = decodeAll(d, tt.input)
				}
				if !equalDecoded(got, tt.want) {
					t.Errorf("split=%v: frames %+v, want %+v", split, got, tt.want)
				}
				if d.Stats() != tt.stats {
					t.Errorf("split=%v: stats %+v, want %+v", split, d.Stats(), tt.stats)
				}
			}
		})
	}
}

func equalDecoded(a, b []decoded) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDecoderNextReportsConsumed(t *testing.T) {
	enc := NewEncoder()
	a := enc.AppendFrame(nil, ProtoLCP, []byte{9, 1, 0, 4})
	b := enc.AppendFrame(nil, ProtoIP, []byte("x"))
	in := append(bytes.Clone(a), b...)
	d := NewDecoder(0)
	f, n, ok := d.Next(in)
	if !ok || n != len(a) || f.Protocol != ProtoLCP {
		t.Fatalf("Next = %v, %d, %v; want LCP frame after %d octets", f, n, ok, len(a))
	}
	f, n, ok = d.Next(in[n:])
	if !ok || n != len(b) || f.Protocol != ProtoIP || string(f.Info) != "x" {
		t.Fatalf("second Next = %v, %d, %v", f, n, ok)
	}
	if _, n, ok = d.Next([]byte{0x7E, 0xFF}); ok || n != 2 {
		t.Fatalf("partial Next = %d, %v; want all consumed, no frame", n, ok)
	}
}

func TestDecoderReset(t *testing.T) {
	enc := NewEncoder()
	f := enc.AppendFrame(nil, ProtoIP, []byte("abc"))
	d := NewDecoder(0)
	decodeAll(d, f[:5]) // half a frame, then the carrier drops
	d.Reset()
	// After Reset the decoder hunts again: the text before the next flag is not a frame.
	got := decodeAll(d, []byte("NO CARRIER\r\n"), f)
	if !equalDecoded(got, []decoded{{ProtoIP, "abc"}}) || d.Stats().BadFCS != 0 {
		t.Errorf("after Reset: %+v, stats %+v", got, d.Stats())
	}
}

func TestDecoderSetMRUMidFrame(t *testing.T) {
	enc := NewEncoder()
	enc.SetACCM(0)
	big := bytes.Repeat([]byte{'z'}, 2500)
	wire := enc.AppendFrame(nil, ProtoIP, big)

	d := NewDecoder(0)
	d.SetACCM(0)
	decodeAll(d, wire[:1000])
	d.SetMRU(3000) // LCP agreed a larger MRU while the frame was arriving
	got := decodeAll(d, wire[1000:])
	if !equalDecoded(got, []decoded{{ProtoIP, string(big)}}) {
		t.Fatalf("frame across SetMRU(3000): %d frames, stats %+v", len(got), d.Stats())
	}

	decodeAll(d, wire[:2000])
	d.SetMRU(1500) // and smaller again: the frame in progress no longer fits
	if got := decodeAll(d, wire[2000:]); len(got) != 0 || d.Stats().Oversize != 1 {
		t.Fatalf("frame across SetMRU(1500): %d frames, stats %+v; want it dropped as oversize", len(got), d.Stats())
	}
}

func TestFramingAllocations(t *testing.T) {
	enc := NewEncoder()
	enc.SetACCM(0)
	info := bytes.Repeat([]byte{0x00, 0x7E, 0x41, 0x7D}, 375)
	buf := make([]byte, 0, MaxEncodedLen(len(info)))
	if n := testing.AllocsPerRun(100, func() { buf = enc.AppendFrame(buf[:0], ProtoIP, info) }); n != 0 {
		t.Errorf("AppendFrame: %v allocations per frame, want 0", n)
	}
	d := NewDecoder(0)
	d.SetACCM(0)
	frames := 0
	emit := func(Frame) { frames++ }
	if n := testing.AllocsPerRun(100, func() { d.Feed(buf, emit) }); n != 0 {
		t.Errorf("Feed: %v allocations per frame, want 0", n)
	}
	if frames != 101 { // AllocsPerRun runs once more to warm up
		t.Errorf("decoded %d frames, want 101", frames)
	}
}
