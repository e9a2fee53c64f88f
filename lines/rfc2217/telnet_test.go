package rfc2217

import (
	"bytes"
	"reflect"
	"testing"
)

func TestDecoder(t *testing.T) {
	tests := []struct {
		name     string
		nvt      bool
		in       []byte
		wantData []byte
		wantEvs  []event
	}{
		{name: "plain data", in: []byte("OK\r\n"), wantData: []byte("OK\r\n")},
		{name: "escaped IAC", in: []byte{'a', 255, 255, 'b'}, wantData: []byte{'a', 255, 'b'}},
		{
			name:    "negotiations",
			in:      []byte{255, 251, 3, 255, 253, 44, 255, 254, 1, 255, 252, 0},
			wantEvs: []event{{kind: evNegotiation, verb: cmdWILL, option: 3}, {kind: evNegotiation, verb: cmdDO, option: 44}, {kind: evNegotiation, verb: cmdDONT, option: 1}, {kind: evNegotiation, verb: cmdWONT, option: 0}},
		},
		{
			name:     "modem state between data",
			in:       []byte{'R', 255, 250, 44, 107, 0xb0, 255, 240, 'I'},
			wantData: []byte("RI"),
			wantEvs:  []event{{kind: evSubneg, option: 44, data: []byte{107, 0xb0}}},
		},
		{
			name:    "IAC doubled inside a subnegotiation",
			in:      []byte{255, 250, 44, 101, 0, 0, 255, 255, 255, 255, 255, 240},
			wantEvs: []event{{kind: evSubneg, option: 44, data: []byte{101, 0, 0, 255, 255}}},
		},
		{
			name:     "other commands",
			in:       []byte{255, 241, 'x', 255, 246, 255, 249},
			wantData: []byte("x"),
			wantEvs:  []event{{kind: evCommand, verb: cmdNOP}, {kind: evCommand, verb: cmdAYT}, {kind: evCommand, verb: cmdGA}},
		},
		{
			name:     "subnegotiation cut short by a command",
			in:       []byte{255, 250, 44, 107, 255, 251, 1, 'z'},
			wantData: []byte("z"),
			wantEvs:  []event{{kind: evNegotiation, verb: cmdWILL, option: 1}},
		},
		{
			name:     "NVT CR NUL is a bare CR",
			nvt:      true,
			in:       []byte{'a', '\r', 0, 'b', '\r', '\n', 0},
			wantData: []byte{'a', '\r', 'b', '\r', '\n', 0},
		},
		{
			name:     "binary keeps NUL after CR",
			in:       []byte{'\r', 0},
			wantData: []byte{'\r', 0},
		},
		{
			name:    "empty subnegotiation",
			in:      []byte{255, 250, 44, 255, 240},
			wantEvs: []event{{kind: evSubneg, option: 44}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Whole, and one byte at a time: the stream may be split anywhere.
			for _, chunk := range []int{len(tt.in), 1} {
				d := decoder{nvt: tt.nvt}
				var data []byte
				var evs []event
				for i := 0; i < len(tt.in); i += chunk {
					data, evs = d.decode(tt.in[i:min(i+chunk, len(tt.in))], data, evs)
				}
				if !bytes.Equal(data, tt.wantData) {
					t.Errorf("chunk %d: data %v, want %v", chunk, data, tt.wantData)
				}
				if !reflect.DeepEqual(evs, tt.wantEvs) {
					t.Errorf("chunk %d: events %+v, want %+v", chunk, evs, tt.wantEvs)
				}
			}
		})
	}
}

func TestDecoderLongSubnegotiationIsCut(t *testing.T) {
	in := []byte{255, 250, 44, 100}
	in = append(in, bytes.Repeat([]byte{'s'}, 3*maxSubneg)...)
	in = append(in, 255, 240, 'k')
	var d decoder
	data, evs := d.decode(in, nil, nil)
	if string(data) != "k" {
		t.Errorf("data %q after the long subnegotiation, want %q", data, "k")
	}
	if len(evs) != 1 || !evs[0].truncated || len(evs[0].data) != maxSubneg {
		t.Fatalf("events %d (first truncated=%v len=%d), want one cut to %d bytes", len(evs), evs[0].truncated, len(evs[0].data), maxSubneg)
	}
}

func TestAppendData(t *testing.T) {
	tests := []struct {
		in   []byte
		nvt  bool
		want []byte
	}{
		{[]byte("AT\r"), false, []byte("AT\r")},
		{[]byte{1, 255, 2}, false, []byte{1, 255, 255, 2}},
		{[]byte("AT\r"), true, []byte{'A', 'T', '\r', 0}},
		{[]byte("OK\r\n"), true, []byte("OK\r\n")},
	}
	for _, tt := range tests {
		if got := appendData(nil, tt.in, tt.nvt); !bytes.Equal(got, tt.want) {
			t.Errorf("appendData(%v, nvt=%v) = %v, want %v", tt.in, tt.nvt, got, tt.want)
		}
	}
}

func TestAppendSubnegEscapes(t *testing.T) {
	// 65535 baud has two 0xFF octets; each must be doubled on the wire.
	got := appendSubneg(nil, optComPort, comSetBaudRate, 0, 0, 255, 255)
	want := []byte{255, 250, 44, 1, 0, 0, 255, 255, 255, 255, 255, 240}
	if !bytes.Equal(got, want) {
		t.Fatalf("appendSubneg = %v, want %v", got, want)
	}
}

func decodeAll(d *decoder, in []byte, split int) ([]byte, []event) {
	var data []byte
	var evs []event
	split = min(split, len(in))
	data, evs = d.decode(in[:split], data, evs)
	data, evs = d.decode(in[split:], data, evs)
	return data, evs
}

func FuzzDecoder(f *testing.F) {
	f.Add([]byte("OK\r\n"), uint16(2), false)
	f.Add([]byte{255, 250, 44, 107, 0xb0, 255, 240, 'a', 255, 255}, uint16(5), false)
	f.Add([]byte{255, 251, 3, 255, 253, 44, 255, 250, 44, 101, 0, 0, 255, 255}, uint16(9), true)
	f.Add([]byte{'\r', 0, 255, 250, 255, 255, 241}, uint16(1), true)
	f.Fuzz(func(t *testing.T, in []byte, split uint16, nvt bool) {
		whole := decoder{nvt: nvt}
		data, evs := whole.decode(in, nil, nil)
		if len(data) > len(in) {
			t.Fatalf("%d data bytes from %d input bytes", len(data), len(in))
		}
		for _, ev := range evs {
			if len(ev.data) > maxSubneg {
				t.Fatalf("subnegotiation of %d bytes kept", len(ev.data))
			}
		}
		parts := decoder{nvt: nvt}
		data2, evs2 := decodeAll(&parts, in, int(split))
		if !bytes.Equal(data, data2) || !reflect.DeepEqual(evs, evs2) {
			t.Fatalf("split at %d changed the result:\n%v %+v\n%v %+v", split, data, evs, data2, evs2)
		}

		// Whatever the client sends as data comes back as exactly that data.
		var rt decoder
		rt.nvt = nvt
		back, revs := rt.decode(appendData(nil, in, nvt), nil, nil)
		if !bytes.Equal(back, in) || len(revs) != 0 {
			t.Fatalf("round trip of %v gave %v and %d events", in, back, len(revs))
		}
	})
}
