package ppp

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

// lcpJudge runs CheckRequest on raw options and returns the reply the FSM would send.
func lcpJudge(t *testing.T, l *LCP, opts []byte) (Code, []byte) {
	t.Helper()
	req, err := ParseOptions(nil, opts)
	if err != nil {
		t.Fatalf("bad test options %x: %v", opts, err)
	}
	var r Reply
	r.reset(req, false)
	l.CheckRequest(req, &r)
	if r.Code() == CodeConfigureAck {
		return CodeConfigureAck, opts
	}
	return r.Code(), r.appendData(nil)
}

func TestLCPCheckRequest(t *testing.T) {
	fixedMagic := func() uint32 { return 0xCAFEF00D }
	server := LCPConfig{Server: true, Auth: []AuthProto{AuthCHAP, AuthPAP}, Magic: fixedMagic}
	serverCB := server
	serverCB.CallbackAccept = true
	client := LCPConfig{Auth: []AuthProto{AuthCHAP, AuthPAP}, Magic: fixedMagic}
	clientNone := LCPConfig{Magic: fixedMagic}
	tests := []struct {
		name string
		cfg  LCPConfig
		opts string // hex
		code Code
		data string // hex of the Nak/Reject; "" = same as opts for an Ack
	}{
		// pppd 2.4.9's usual request: ACCM 0, magic, PFC, ACFC.
		{"pppd request", server, "0206000000000506 12345678 0702 0802", CodeConfigureAck, ""},
		{"mru ok", server, "010405dc", CodeConfigureAck, ""},
		{"mru small", server, "01040040", CodeConfigureNak, "01040080"},
		{"mru bad length", server, "0103ff", CodeConfigureReject, "0103ff"},
		{"accm bad length", server, "020400ff", CodeConfigureReject, "020400ff"},
		{"server refuses to authenticate itself", server, "0304c023", CodeConfigureReject, "0304c023"},
		{"client does pap", client, "0304c023", CodeConfigureAck, ""},
		{"client does chap-md5", client, "0305c22305", CodeConfigureAck, ""},
		{"client cannot do ms-chap-v2: nak with chap", client, "0305c22381", CodeConfigureNak, "0305c22305"},
		{"client cannot do eap: nak with chap", client, "0304c227", CodeConfigureNak, "0305c22305"},
		{"chap with a bad algorithm", client, "0305c22380", CodeConfigureNak, "0305c22305"},
		{"client without credentials rejects", clientNone, "0304c023", CodeConfigureReject, "0304c023"},
		{"quality protocol", server, "0408c025 0000000a", CodeConfigureReject, "0408c0250000000a"},
		{"zero magic", server, "050600000000", CodeConfigureNak, "0506cafef00d"},
		{"magic bad length", server, "0505000001", CodeConfigureReject, "0505000001"},
		{"pfc with data", server, "070300", CodeConfigureReject, "070300"},
		{"callback without accept", server, "0d0306", CodeConfigureReject, "0d0306"},
		{"callback cbcp", serverCB, "0d0306", CodeConfigureAck, ""},
		{"callback op 0", serverCB, "0d0300", CodeConfigureAck, ""},
		{"callback op 1 with number", serverCB, "0d0a01 35353531323334", CodeConfigureAck, ""},
		{"callback op 1 without number", serverCB, "0d0301", CodeConfigureReject, "0d0301"},
		{"callback op 3 with number", serverCB, "0d0503 3535", CodeConfigureAck, ""},
		{"callback op 2 rejected", serverCB, "0d0702 686f6d65", CodeConfigureReject, "0d0702686f6d65"},
		{"callback op 4 rejected", serverCB, "0d0404 78", CodeConfigureReject, "0d040478"},
		{"callback empty", serverCB, "0d02", CodeConfigureReject, "0d02"},
		{"callback to a client", LCPConfig{CallbackAccept: true}, "0d0306", CodeConfigureReject, "0d0306"},
		// pppd's and others' options we do not do: rejected, the rest untouched.
		{"unknown options", server, "1104 05dc 1303 00 0702", CodeConfigureReject, "110405dc130300"},
		{"reject wins over nak", server, "01040040 1702", CodeConfigureReject, "1702"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLCP(tt.cfg, Config{})
			l.AppendRequest(nil, true) // draws our magic
			opts := mustHex(t, tt.opts)
			code, data := lcpJudge(t, l, opts)
			want := opts
			if tt.data != "" {
				want = mustHex(t, tt.data)
			}
			if code != tt.code || !bytes.Equal(data, want) {
				t.Errorf("reply %v %x, want %v %x", code, data, tt.code, want)
			}
		})
	}
}

func TestLCPAppendRequest(t *testing.T) {
	magic := func() uint32 { return 0x01020304 }
	tests := []struct {
		name string
		cfg  LCPConfig
		want string
	}{
		{"server defaults", LCPConfig{Server: true, Auth: []AuthProto{AuthCHAP}, Magic: magic},
			"020600000000 0305c22305 050601020304 0702 0802"},
		{"server ms-chap-v2 first", LCPConfig{Server: true, Auth: []AuthProto{AuthMSCHAPv2, AuthPAP}, Magic: magic},
			"020600000000 0305c22381 050601020304 0702 0802"},
		{"client with callback", LCPConfig{Magic: magic, Callback: CallbackRequest{Requested: true, Op: 1, Message: "555"}},
			"020600000000 050601020304 0702 0802 0d0601353535"},
		{"client cbcp keeps the number out of LCP", LCPConfig{Magic: magic, Callback: CallbackRequest{Requested: true, Op: 6, Message: "555"}},
			"020600000000 050601020304 0702 0802 0d0306"},
		{"minimal", LCPConfig{ACCM: DefaultACCM, NoMagic: true, NoPFC: true, NoACFC: true}, ""},
		{"mru and xon/xoff", LCPConfig{MRU: 1000, ACCM: 0x000A0000, NoMagic: true, NoPFC: true, NoACFC: true},
			"010403e8 0206000a0000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLCP(tt.cfg, Config{})
			got := l.AppendRequest(nil, true)
			if want := mustHex(t, tt.want); !bytes.Equal(got, want) {
				t.Errorf("request %x, want %x", got, want)
			}
		})
	}
}

// IOS `ppp authentication ms-chap-v2 chap pap`: each Nak moves on, to the peer's suggestion if
// we allow it and have not tried it, otherwise to our next; with nothing left, refuse.
func TestLCPAuthFallback(t *testing.T) {
	nak := func(a AuthProto) []Option { return []Option{{Type: LCPOptAuth, Data: a.optionData()}} }
	l := NewLCP(LCPConfig{Server: true, Auth: []AuthProto{AuthMSCHAPv2, AuthCHAP, AuthPAP}}, Config{})
	var failed []lcpFailure
	l.onFail = func(f lcpFailure) { failed = append(failed, f) }
	auth := func() AuthProto {
		opts, _ := ParseOptions(nil, l.AppendRequest(nil, false))
		for _, o := range opts {
			if o.Type == LCPOptAuth {
				a, _ := parseAuthOption(o.Data)
				return a
			}
		}
		return AuthNone
	}
	l.AppendRequest(nil, true)
	if a := auth(); a != AuthMSCHAPv2 {
		t.Fatalf("first %v", a)
	}
	_ = l.ReceiveNak(nak(AuthPAP)) // the peer suggests PAP: allowed, untried
	if a := auth(); a != AuthPAP {
		t.Fatalf("after nak with pap: %v", a)
	}
	_ = l.ReceiveNak(nak(AuthMSCHAPv2)) // already tried: take the next untried, CHAP
	if a := auth(); a != AuthCHAP {
		t.Fatalf("after nak with ms-chap-v2: %v", a)
	}
	if len(failed) != 0 {
		t.Fatalf("failed early: %v", failed)
	}
	_ = l.ReceiveNak([]Option{{Type: LCPOptAuth, Data: []byte{0xC2, 0x27}}}) // EAP
	if a := auth(); a != AuthNone || len(failed) != 1 || failed[0] != lcpAuthRefused {
		t.Fatalf("after the last refusal: auth %v, failures %v", a, failed)
	}
	// A fresh negotiation starts over.
	l.AppendRequest(nil, true)
	if a := auth(); a != AuthMSCHAPv2 {
		t.Errorf("fresh negotiation asks %v", a)
	}
}

func TestLCPNakAndReject(t *testing.T) {
	var magics []uint32
	next := uint32(100)
	l := NewLCP(LCPConfig{MRU: 1000, Callback: CallbackRequest{Requested: true, Op: 1, Message: "5551234"},
		Magic: func() uint32 { next++; magics = append(magics, next); return next }}, Config{})
	l.AppendRequest(nil, true)
	_ = l.ReceiveNak([]Option{
		{Type: LCPOptMRU, Data: []byte{0x02, 0x00}},          // 512: taken
		{Type: LCPOptACCM, Data: []byte{0, 0x0A, 0, 0}},      // XON/XOFF too
		{Type: LCPOptCallback, Data: []byte{CallbackOpCBCP}}, // the server prefers CBCP
	})
	got := l.AppendRequest(nil, false)
	want := mustHex(t, "01040200 0206000a0000 050600000065 0702 0802 0d0306")
	if !bytes.Equal(got, want) {
		t.Errorf("after Nak: %x, want %x", got, want)
	}
	_ = l.ReceiveReject([]Option{{Type: LCPOptMRU}, {Type: LCPOptMagic}, {Type: LCPOptCallback}, {Type: LCPOptPFC}})
	got = l.AppendRequest(nil, false)
	if want := mustHex(t, "0206000a0000 0802"); !bytes.Equal(got, want) {
		t.Errorf("after Reject: %x, want %x", got, want)
	}
	if err := l.ReceiveNak([]Option{{Type: LCPOptMRU, Data: []byte{1}}}); err == nil {
		t.Error("a Nak of MRU with one octet was accepted")
	}
}

// ThisLayerUp's result: ours from the Ack, the peer's from its request.
func TestLCPResult(t *testing.T) {
	l := NewLCP(LCPConfig{Server: true, Auth: []AuthProto{AuthPAP}, CallbackAccept: true,
		Magic: func() uint32 { return 7 }}, Config{})
	ours := l.AppendRequest(nil, true)
	opts, _ := ParseOptions(nil, ours)
	l.ReceiveAck(opts)
	lcpJudge(t, l, mustHex(t, "010405dc 020600000000 050600000009 0702 0802 0d0306"))
	l.ThisLayerUp()
	r := l.Result()
	want := LCPResult{MRU: DefaultMRU, ACCM: 0, Magic: 7, PeerMRU: 1500, PeerACCM: 0, PeerMagic: 9,
		PeerPFC: true, PeerACFC: true, Auth: AuthPAP, Callback: CallbackRequest{Requested: true, Op: CallbackOpCBCP}}
	if r != want {
		t.Errorf("result\n%+v, want\n%+v", r, want)
	}
}

func TestLCPKeepalive(t *testing.T) {
	now := time.Unix(1000, 0)
	var sent []Packet
	l := NewLCP(LCPConfig{EchoInterval: time.Second, EchoFailures: 2, Magic: func() uint32 { return 5 }},
		Config{Now: func() time.Time { return now }, Send: func(b []byte) {
			p, _ := ParsePacket(b)
			p.Data = bytes.Clone(p.Data)
			sent = append(sent, p)
		}})
	var failed []lcpFailure
	l.onFail = func(f lcpFailure) { failed = append(failed, f) }
	l.res.Magic, l.res.PeerMagic = 5, 9
	l.ThisLayerUp()
	l.peer.PeerMagic = 9
	l.res.PeerMagic = 9
	d, ok := l.Deadline()
	if !ok || !d.Equal(now.Add(time.Second)) {
		t.Fatalf("deadline %v %v", d, ok)
	}
	now = now.Add(time.Second)
	l.Poll(now)
	if len(sent) != 1 || sent[0].Code != CodeEchoRequest || binary.BigEndian.Uint32(sent[0].Data) != 5 {
		t.Fatalf("sent %+v", sent)
	}
	// A reply with our own magic is a looped echo, not an answer.
	l.ReceiveRXR(Packet{Code: CodeEchoReply, ID: sent[0].ID, Data: []byte{0, 0, 0, 5}})
	now = now.Add(time.Second)
	l.Poll(now)
	// A good reply resets the count.
	l.ReceiveRXR(Packet{Code: CodeEchoReply, ID: sent[1].ID, Data: []byte{0, 0, 0, 9}})
	now = now.Add(time.Second)
	l.Poll(now)
	now = now.Add(time.Second)
	l.Poll(now)
	if len(failed) != 0 || len(sent) != 4 {
		t.Fatalf("failed %v after %d echoes", failed, len(sent))
	}
	now = now.Add(time.Second)
	l.Poll(now)
	if len(failed) != 1 || failed[0] != lcpKeepalive || len(sent) != 4 {
		t.Fatalf("failed %v after %d echoes; want keepalive after 2 unanswered", failed, len(sent))
	}
	if st := l.Stats(); st.LoopedEchoes != 1 || st.EchoRepliesRcvd != 1 || st.EchoRequestsSent != 4 {
		t.Errorf("stats %+v", st)
	}
	if _, ok := l.Deadline(); ok {
		t.Error("keepalive still scheduled after failing")
	}
}

func TestParseAuthProto(t *testing.T) {
	for in, want := range map[string]AuthProto{"pap": AuthPAP, "CHAP": AuthCHAP, "ms-chap-v2": AuthMSCHAPv2, "mschapv2": AuthMSCHAPv2} {
		if got, err := ParseAuthProto(in); err != nil || got != want {
			t.Errorf("ParseAuthProto(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseAuthProto("eap"); err == nil {
		t.Error("eap accepted")
	}
	for _, a := range []AuthProto{AuthPAP, AuthCHAP, AuthMSCHAPv2} {
		if got, ok := parseAuthOption(a.optionData()); !ok || got != a {
			t.Errorf("%v does not round-trip: %v %v", a, got, ok)
		}
	}
}

// FuzzLCPOptions feeds outside bytes as the options of each kind of Configure packet to LCP
// in both roles: nothing panics, every reply parses, and a Nak or Reject only names options.
func FuzzLCPOptions(f *testing.F) {
	for _, s := range []string{
		"0206000000000506123456780702 0802",
		"0305c22305 0d0306 010405dc",
		"0d0a0135353531323334 1104 05dc",
		"0500", "03", "0304c227", "050600000000",
	} {
		f.Add(mustHex(f, s), true)
		f.Add(mustHex(f, s), false)
	}
	f.Fuzz(fuzzLCPOne)
}

func fuzzLCPOne(t *testing.T, opts []byte, server bool) {
	// Nothing longer than an MRU reaches LCP from the decoder; longer inputs only slow the
	// fuzzer's minimization down.
	opts = opts[:min(len(opts), DefaultMRU)]
	{
		var out [][]byte
		// A deterministic Magic-Number source: with random ones coverage varies from run to run
		// and the fuzzer cannot minimize.
		magic := uint32(0x1000)
		cfg := LCPConfig{Server: server, Auth: []AuthProto{AuthMSCHAPv2, AuthCHAP, AuthPAP}, CallbackAccept: true,
			EchoInterval: time.Second, Callback: CallbackRequest{Requested: !server, Op: CallbackOpCBCP},
			Magic: func() uint32 { magic += 3; return magic }}
		l := NewLCP(cfg, Config{Send: func(b []byte) { out = append(out, bytes.Clone(b)) }})
		fsm := l.FSM()
		fsm.Open()
		fsm.Up()
		if len(out) != 1 {
			t.Fatalf("%d packets after Up", len(out))
		}
		ours, _ := ParsePacket(out[0])
		pkt := func(c Code, id uint8) []byte { return Packet{Code: c, ID: id, Data: opts}.Append(nil) }
		fsm.Receive(pkt(CodeConfigureRequest, 1))
		fsm.Receive(pkt(CodeConfigureNak, ours.ID))
		fsm.Receive(pkt(CodeConfigureReject, ours.ID))
		for _, c := range []Code{CodeEchoRequest, CodeProtocolReject, CodeDiscardRequest, CodeIdentification, 77} {
			fsm.Receive(pkt(c, 9))
		}
		fsm.Receive(opts) // the bytes as a whole packet
		for _, b := range out {
			p, err := ParsePacket(b)
			if err != nil {
				t.Fatalf("we sent a malformed packet %x: %v", b, err)
			}
			if p.Code == CodeConfigureNak || p.Code == CodeConfigureReject || p.Code == CodeConfigureRequest {
				if _, err := ParseOptions(nil, p.Data); err != nil {
					t.Fatalf("we sent %v with malformed options %x: %v", p.Code, p.Data, err)
				}
			}
		}
	}
}
