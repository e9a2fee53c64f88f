package ppp

import (
	"bytes"
	"errors"
	"testing"
)

func TestParsePacket(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want Packet
		err  error
	}{
		{"header only", []byte{5, 7, 0, 4}, Packet{CodeTerminateRequest, 7, []byte{}}, nil},
		{"data", []byte{1, 2, 0, 6, 0xAA, 0xBB}, Packet{CodeConfigureRequest, 2, []byte{0xAA, 0xBB}}, nil},
		{"padding ignored", []byte{9, 1, 0, 5, 0xAA, 0, 0, 0}, Packet{CodeEchoRequest, 1, []byte{0xAA}}, nil},
		{"empty", nil, Packet{}, ErrShortPacket},
		{"three octets", []byte{1, 1, 0}, Packet{}, ErrShortPacket},
		{"length below header", []byte{1, 1, 0, 3, 0}, Packet{}, ErrPacketLen},
		{"length past the end", []byte{1, 1, 0, 7, 0, 0}, Packet{}, ErrPacketLen},
		{"length 65535 in 5 octets", []byte{1, 1, 0xFF, 0xFF, 0}, Packet{}, ErrPacketLen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePacket(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if err == nil && (got.Code != tt.want.Code || got.ID != tt.want.ID || !bytes.Equal(got.Data, tt.want.Data)) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if got := (Packet{CodeEchoReply, 3, []byte{1, 2, 3}}).Append([]byte{0xEE}); !bytes.Equal(got, []byte{0xEE, 10, 3, 0, 7, 1, 2, 3}) {
		t.Errorf("Append = % x", got)
	}
	if s := Code(0x42).String(); s != "Code(66)" {
		t.Errorf("unknown code String = %q", s)
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want []Option
		err  bool
	}{
		{"none", nil, nil, false},
		{"two", []byte{1, 4, 5, 0xDC, 7, 2}, []Option{{1, []byte{5, 0xDC}}, {7, []byte{}}}, false},
		{"length 0", []byte{1, 0}, nil, true},
		{"length 1", []byte{1, 1, 0}, nil, true},
		{"lone type octet", []byte{1, 4, 5, 0xDC, 2}, []Option{{1, []byte{5, 0xDC}}}, true},
		{"runs past the end", []byte{7, 2, 1, 6, 0, 0}, []Option{{7, []byte{}}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOptions(nil, tt.in)
			if (err != nil) != tt.err || (err != nil && !errors.Is(err, ErrOptionLen)) {
				t.Fatalf("err %v, want error %v", err, tt.err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if !got[i].Equal(tt.want[i]) {
					t.Errorf("option %d: %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// FuzzControlPacket parses arbitrary bytes as a control packet and hands them to an
// automaton in every state: nothing may panic, whatever the FSM sends must be well formed,
// and the timer must run exactly in the states that have one.
func FuzzControlPacket(f *testing.F) {
	f.Add([]byte{1, 1, 0, 8, 1, 4, 5, 0xDC})
	f.Add([]byte{2, 42, 0, 8, 1, 4, 5, 0xDC})
	f.Add([]byte{3, 42, 0, 8, 1, 4, 5, 0xD0})
	f.Add([]byte{4, 42, 0, 8, 1, 4, 5, 0xDC})
	f.Add([]byte{5, 9, 0, 7, 'b', 'y', 'e'})
	f.Add([]byte{7, 9, 0, 8, 1, 1, 0, 4})
	f.Add([]byte{8, 9, 0, 6, 1, 0})
	f.Add([]byte{9, 9, 0, 8, 0, 0, 0, 0})
	f.Add([]byte{0x42, 9, 0, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		if p, err := ParsePacket(data); err == nil {
			if again := p.Append(nil); !bytes.Equal(again, data[:p.Len()]) {
				t.Fatalf("re-encoded % x, parsed from % x", again, data)
			}
		}
		for s := range numStates {
			for _, codes := range []bool{false, true} {
				h := newTableHarness(t, Config{}, codes)
				h.place(s, 1)
				h.f.Receive(data)
				h.f.Receive(data) // and again: a duplicate must be harmless too
				if st := h.f.State(); st >= numStates {
					t.Fatalf("state %v", st)
				}
				if _, on := h.f.Deadline(); on != h.f.State().timed() {
					t.Fatalf("timer running %v in %v", on, h.f.State())
				}
				if (s == StateInitial || s == StateStarting) && len(h.sent) > 0 {
					t.Fatalf("sent %v while the lower layer is down", h.sent)
				}
				for _, p := range h.sent {
					if p.Code == CodeConfigureNak || p.Code == CodeConfigureReject || p.Code == CodeConfigureAck {
						if _, err := ParseOptions(nil, p.Data); err != nil {
							t.Fatalf("sent %v with malformed options: %v", p.Code, err)
						}
					}
				}
			}
		}
	})
}

// FuzzOptions parses arbitrary bytes as Configuration Options: a successful parse re-encodes
// to the same bytes, a failed one returns a well-formed prefix; and a Configure-Request
// carrying them gets a well-formed answer or none.
func FuzzOptions(f *testing.F) {
	f.Add([]byte{1, 4, 5, 0xDC, 2, 2})
	f.Add([]byte{1, 4, 0, 1, 9, 3, 0})
	f.Add([]byte{1, 0})
	f.Add([]byte{1, 2, 1, 3, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		opts, err := ParseOptions(nil, data)
		enc := AppendOptions(nil, opts)
		if err == nil && !bytes.Equal(enc, data) {
			t.Fatalf("re-encoded % x from % x", enc, data)
		}
		if err != nil && (!errors.Is(err, ErrOptionLen) || !bytes.HasPrefix(data, enc)) {
			t.Fatalf("error %v with parsed prefix % x of % x", err, enc, data)
		}
		if len(data) > 0xFFFF-headerLen {
			return
		}
		ta := newToy("A", 1500)
		var sent []Packet
		fsm := NewFSM(ta, Config{Send: func(b []byte) {
			p, perr := ParsePacket(b)
			if perr != nil {
				t.Fatalf("sent malformed packet: %v", perr)
			}
			sent = append(sent, p)
		}})
		ta.f = fsm
		fsm.Open()
		fsm.Up()
		fsm.Receive(Packet{Code: CodeConfigureRequest, ID: 1, Data: data}.Append(nil))
		for _, p := range sent[1:] {
			if err != nil {
				t.Fatalf("answered %v to malformed options", p.Code)
			}
			back, perr := ParseOptions(nil, p.Data)
			if perr != nil {
				t.Fatalf("%v with malformed options % x", p.Code, p.Data)
			}
			if p.Code == CodeConfigureAck && !bytes.Equal(p.Data, data) {
				t.Fatalf("Ack % x does not repeat the request % x", p.Data, data)
			}
			if p.Code == CodeConfigureReject { // only options from the request, in order
				j := 0
				for _, o := range back {
					for j < len(opts) && !opts[j].Equal(o) {
						j++
					}
					if j == len(opts) {
						t.Fatalf("rejected %v, not in the request %v", o, opts)
					}
					j++
				}
			}
		}
	})
}
