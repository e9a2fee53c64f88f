package ppp

import (
	"bytes"
	"testing"
)

// FuzzDecoder feeds arbitrary bytes, in arbitrary chunks, to a Decoder. It must never panic,
// and every frame it emits must survive being encoded again (with and without compression)
// and decoded by a fresh Decoder.
func FuzzDecoder(f *testing.F) {
	enc := NewEncoder()
	f.Add(enc.AppendFrame(nil, ProtoLCP, []byte{1, 1, 0, 10, 2, 6, 0, 0, 0, 0}), uint32(DefaultACCM), uint8(3))
	f.Add(append([]byte("CONNECT 33600\r\n"), enc.AppendFrame(nil, ProtoIP, []byte("x\x7e\x7d"))...), uint32(0), uint8(0))
	f.Add([]byte{0x7E, 0x7D, 0x7E, 0x21, 0x7D, 0x5E, 0x7E, 0x7E}, uint32(0xA0000), uint8(1))
	f.Add([]byte{0x7E, 0xFF, 0x03, 0x7E}, uint32(0), uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, accm uint32, split uint8) {
		d := NewDecoder(0)
		d.SetACCM(accm)
		var frames []Frame
		chunk := int(split)%17 + 1
		for p := data; len(p) > 0; {
			n := min(chunk, len(p))
			d.Feed(p[:n], func(fr Frame) {
				frames = append(frames, Frame{fr.Protocol, bytes.Clone(fr.Info)})
			})
			p = p[n:]
		}
		if got := d.Stats().Frames; got != uint64(len(frames)) {
			t.Fatalf("Stats().Frames = %d, emitted %d", got, len(frames))
		}
		for _, fr := range frames {
			if len(fr.Info) > DefaultMRU+frameOverhead {
				t.Fatalf("emitted %d-octet info with MRU %d", len(fr.Info), DefaultMRU)
			}
			for _, comp := range []bool{false, true} {
				e := NewEncoder()
				e.SetACCM(accm)
				e.SetACFC(comp)
				e.SetPFC(comp)
				again := decodeOne(t, e.AppendFrame(nil, fr.Protocol, fr.Info), accm)
				if again.Protocol != fr.Protocol || !bytes.Equal(again.Info, fr.Info) {
					t.Fatalf("compressed=%v: frame %04x % x re-decoded as %04x % x", comp,
						fr.Protocol, fr.Info, again.Protocol, again.Info)
				}
			}
		}
	})
}

func decodeOne(t *testing.T, wire []byte, accm uint32) Frame {
	t.Helper()
	d := NewDecoder(len(wire))
	d.SetACCM(accm)
	var got []Frame
	d.Feed(wire, func(fr Frame) { got = append(got, Frame{fr.Protocol, bytes.Clone(fr.Info)}) })
	if len(got) != 1 {
		t.Fatalf("decoding % x gave %d frames (stats %+v), want 1", wire, len(got), d.Stats())
	}
	return got[0]
}

// FuzzRoundTrip encodes a packet with arbitrary settings, optionally after modem text and
// followed by a second frame sharing its flag, and decodes it in arbitrary chunks.
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint16(ProtoLCP), []byte{1, 1, 0, 4}, uint32(DefaultACCM), uint8(0), uint8(0))
	f.Add(uint16(ProtoIP), []byte("\x7e\x7d\x00\x11\x13\xff"), uint32(0), uint8(7), uint8(2))
	f.Add(uint16(0x00FF), []byte{0x03}, uint32(0), uint8(3), uint8(5))
	f.Add(uint16(ProtoIP), []byte{}, uint32(0), uint8(3), uint8(1))
	f.Fuzz(func(t *testing.T, proto uint16, info []byte, accm uint32, flags, split uint8) {
		proto = proto&^0x0100 | 0x0001 // a valid protocol number (RFC 1661 §2)
		e := NewEncoder()
		e.SetACCM(accm)
		e.SetACFC(flags&1 != 0)
		e.SetPFC(flags&2 != 0)
		var wire []byte
		if flags&4 != 0 {
			wire = append(wire, "CONNECT 115200/V42\r\n"...)
		}
		wire = e.AppendFrame(wire, proto, info)
		second := e.AppendFrame(nil, ProtoIPCP, []byte{1, 2, 0, 4})
		wire = append(wire, second[1:]...) // one flag between the frames

		d := NewDecoder(len(info))
		d.SetACCM(accm)
		var got []Frame
		chunk := int(split)%23 + 1
		for p := wire; len(p) > 0; {
			n := min(chunk, len(p))
			d.Feed(p[:n], func(fr Frame) { got = append(got, Frame{fr.Protocol, bytes.Clone(fr.Info)}) })
			p = p[n:]
		}
		if len(got) != 2 {
			t.Fatalf("decoded %d frames (stats %+v), want 2", len(got), d.Stats())
		}
		if got[0].Protocol != proto || !bytes.Equal(got[0].Info, info) {
			t.Fatalf("got %04x % x, want %04x % x", got[0].Protocol, got[0].Info, proto, info)
		}
		if got[1].Protocol != ProtoIPCP || !bytes.Equal(got[1].Info, []byte{1, 2, 0, 4}) {
			t.Fatalf("second frame %04x % x", got[1].Protocol, got[1].Info)
		}
		if s := d.Stats(); s.BadFCS+s.Runts+s.Oversize+s.Aborts+s.BadHeader != 0 {
			t.Fatalf("errors counted on a clean stream: %+v", s)
		}
	})
}
