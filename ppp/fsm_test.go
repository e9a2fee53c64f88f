package ppp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
	"time"
)

// Toy options: 1 is an MRU (2 octets), 2 a feature flag (no data). Anything else is unknown.
const (
	toyMRU     = 1
	toyFeature = 2
)

// toy is a small personality: it asks for an MRU (and optionally the feature), takes the
// peer's suggestions, and judges the peer's MRU against a minimum.
type toy struct {
	name      string
	f         *FSM
	initMRU   uint16 // what we ask for at the start of a negotiation
	feature   bool   // ask for the feature
	adoptNaks bool   // take the value a Nak suggests
	minMRU    uint16 // Nak a peer MRU below this
	nakUp     bool   // misbehave: Nak every MRU with its value + 1, forever
	closeOnUp string // Close from inside ThisLayerUp (re-entrancy)

	mru       uint16 // what we ask for now
	rejected  map[uint8]bool
	peerMRU   uint16 // provisional, from the last judged request
	agreed    []Option
	events    []string
	terminate []string
	naksSeen  int
}

func newToy(name string, mru uint16) *toy {
	return &toy{name: name, initMRU: mru, adoptNaks: true, minMRU: 64, rejected: map[uint8]bool{}}
}

func (t *toy) AppendRequest(dst []byte, fresh bool) []byte {
	if fresh {
		t.mru = t.initMRU
		clear(t.rejected)
	}
	if !t.rejected[toyMRU] {
		dst = Option{Type: toyMRU, Data: binary.BigEndian.AppendUint16(nil, t.mru)}.Append(dst)
	}
	if t.feature && !t.rejected[toyFeature] {
		dst = Option{Type: toyFeature}.Append(dst)
	}
	return dst
}

func (t *toy) CheckRequest(req []Option, r *Reply) {
	for i, o := range req {
		switch o.Type {
		case toyMRU:
			if len(o.Data) != 2 {
				r.Reject(i)
				continue
			}
			v := binary.BigEndian.Uint16(o.Data)
			switch {
			case t.nakUp:
				r.Nak(i, binary.BigEndian.AppendUint16(nil, v+1))
			case v < t.minMRU:
				r.Nak(i, binary.BigEndian.AppendUint16(nil, t.minMRU))
			default:
				t.peerMRU = v
			}
		case toyFeature:
		default:
			r.Reject(i)
		}
	}
}

func (t *toy) ReceiveAck(opts []Option) {
	t.agreed = t.agreed[:0]
	for _, o := range opts {
		t.agreed = append(t.agreed, Option{o.Type, bytes.Clone(o.Data)})
	}
}

func (t *toy) ReceiveNak(opts []Option) error {
	t.naksSeen++
	for _, o := range opts {
		if o.Type == toyMRU {
			if len(o.Data) != 2 {
				return errors.New("bad MRU length")
			}
			if t.adoptNaks {
				t.mru = binary.BigEndian.Uint16(o.Data)
			}
		}
	}
	return nil
}

func (t *toy) ReceiveReject(opts []Option) error {
	for _, o := range opts {
		t.rejected[o.Type] = true
	}
	return nil
}

func (t *toy) ThisLayerUp() {
	t.events = append(t.events, "tlu")
	if t.closeOnUp != "" {
		t.f.Close(t.closeOnUp)
	}
}
func (t *toy) ThisLayerDown()                 { t.events = append(t.events, "tld") }
func (t *toy) ThisLayerStarted()              { t.events = append(t.events, "tls") }
func (t *toy) ThisLayerFinished()             { t.events = append(t.events, "tlf") }
func (t *toy) TerminateRequested(data []byte) { t.terminate = append(t.terminate, string(data)) }

// link joins two FSMs through in-memory queues. drop, if set, loses a packet on the way.
type link struct {
	t        *testing.T
	a, b     *FSM
	ta, tb   *toy
	toA, toB [][]byte
	sentA    []Packet // everything A sent, parsed
	sentB    []Packet
	drop     func(from string, p Packet) bool
}

func newLink(t *testing.T, ta, tb *toy, cfg Config) *link {
	l := &link{t: t, ta: ta, tb: tb}
	mk := func(p *toy, out *[][]byte, sent *[]Packet) *FSM {
		c := cfg
		c.Name = p.name
		c.Send = func(b []byte) {
			pkt, err := ParsePacket(b)
			if err != nil {
				t.Fatalf("%s sent a malformed packet: %v", p.name, err)
			}
			pkt.Data = bytes.Clone(pkt.Data)
			*sent = append(*sent, pkt)
			if l.drop != nil && l.drop(p.name, pkt) {
				return
			}
			*out = append(*out, bytes.Clone(b))
		}
		f := NewFSM(p, c)
		p.f = f
		return f
	}
	l.a = mk(ta, &l.toB, &l.sentA)
	l.b = mk(tb, &l.toA, &l.sentB)
	return l
}

// pump delivers queued packets until both directions are quiet.
func (l *link) pump() {
	for steps := 0; len(l.toA)+len(l.toB) > 0; steps++ {
		if steps > 1000 {
			l.t.Fatalf("no quiescence after %d packets: A %v, B %v", steps, l.a.State(), l.b.State())
		}
		if len(l.toB) > 0 {
			p := l.toB[0]
			l.toB = l.toB[1:]
			l.b.Receive(p)
		}
		if len(l.toA) > 0 {
			p := l.toA[0]
			l.toA = l.toA[1:]
			l.a.Receive(p)
		}
	}
}

func codesOf(ps []Packet) []Code {
	var out []Code
	for _, p := range ps {
		out = append(out, p.Code)
	}
	return out
}

func count(ps []Packet, c Code) int {
	n := 0
	for _, p := range ps {
		if p.Code == c {
			n++
		}
	}
	return n
}

func TestTwoEnginesReachOpened(t *testing.T) {
	orders := []struct {
		name string
		run  func(l *link)
	}{
		{"both open then both up", func(l *link) { l.a.Open(); l.b.Open(); l.a.Up(); l.b.Up() }},
		{"up before open", func(l *link) { l.a.Up(); l.b.Up(); l.a.Open(); l.b.Open() }},
		// B only opens once A's request is waiting: it starts from Closed, answering with a
		// Terminate-Ack, and the two still meet.
		{"one side late", func(l *link) {
			l.a.Open()
			l.a.Up()
			l.b.Up()
			l.pump()
			l.b.Open()
		}},
	}
	for _, o := range orders {
		t.Run(o.name, func(t *testing.T) {
			ta, tb := newToy("A", 1500), newToy("B", 1500)
			l := newLink(t, ta, tb, Config{})
			o.run(l)
			l.pump()
			for l.a.State() != StateOpened || l.b.State() != StateOpened {
				// The late side may need the other's retransmission.
				if _, on := l.a.Deadline(); !on {
					t.Fatalf("stuck: A %v, B %v", l.a.State(), l.b.State())
				}
				l.a.Timeout()
				l.pump()
			}
			if want := []string{"tls", "tlu"}; !slices.Equal(ta.events, want) && !slices.Equal(ta.events, want[1:]) {
				t.Errorf("A events %v", ta.events)
			}
			for _, tt := range []*toy{ta, tb} {
				if n := slices.Index(tt.events, "tlu"); n < 0 || slices.Contains(tt.events[n+1:], "tlu") {
					t.Errorf("%s: tlu not exactly once: %v", tt.name, tt.events)
				}
			}
			if _, on := l.a.Deadline(); on {
				t.Error("Restart timer still running in Opened")
			}
		})
	}
}

func TestNegotiationConverges(t *testing.T) {
	ta, tb := newToy("A", 32), newToy("B", 1500) // A asks for too small an MRU
	tb.minMRU = 576
	ta.feature = true
	l := newLink(t, ta, tb, Config{})
	l.a.Open()
	l.b.Open()
	l.a.Up()
	l.b.Up()
	l.pump()
	if l.a.State() != StateOpened || l.b.State() != StateOpened {
		t.Fatalf("A %v, B %v; want both Opened", l.a.State(), l.b.State())
	}
	want := []Option{{toyMRU, []byte{0x02, 0x40}}, {toyFeature, []byte{}}}
	if len(ta.agreed) != 2 || !ta.agreed[0].Equal(want[0]) || !ta.agreed[1].Equal(want[1]) {
		t.Errorf("A's agreed options %v, want %v", ta.agreed, want)
	}
	if tb.peerMRU != 576 {
		t.Errorf("B recorded the peer's MRU as %d, want 576", tb.peerMRU)
	}
	if n := count(l.sentB, CodeConfigureNak); n != 1 {
		t.Errorf("B sent %d Naks, want 1", n)
	}
	// Every Configure-Request of A carried a new Identifier: each followed an answer.
	var ids []uint8
	for _, p := range l.sentA {
		if p.Code == CodeConfigureRequest {
			ids = append(ids, p.ID)
		}
	}
	if len(ids) != 2 || ids[0] == ids[1] {
		t.Errorf("A's Configure-Request identifiers %v, want two different", ids)
	}
}

func TestPeerNeverAcks(t *testing.T) {
	for _, passive := range []bool{false, true} {
		ta := newToy("A", 1500)
		var sent []Packet
		f := NewFSM(ta, Config{Passive: passive, Send: func(b []byte) {
			p, _ := ParsePacket(b)
			sent = append(sent, p)
		}})
		ta.f = f
		f.Open()
		f.Up()
		timeouts := 0
		for f.State() == StateReqSent {
			if timeouts > 100 {
				t.Fatal("never gave up")
			}
			f.Timeout()
			timeouts++
		}
		if f.State() != StateStopped {
			t.Errorf("passive=%v: ended in %v, want Stopped", passive, f.State())
		}
		if n := count(sent, CodeConfigureRequest); n != DefaultMaxConfigure || timeouts != DefaultMaxConfigure {
			t.Errorf("passive=%v: %d Configure-Requests over %d timeouts, want %d of each", passive, n, timeouts, DefaultMaxConfigure)
		}
		// Unanswered and unchanged: the retransmissions keep the Identifier.
		for _, p := range sent {
			if p.ID != sent[0].ID {
				t.Errorf("retransmission with Identifier %d, first was %d", p.ID, sent[0].ID)
			}
		}
		wantEvents := []string{"tls", "tlf"}
		if passive {
			wantEvents = wantEvents[:1]
		}
		if !slices.Equal(ta.events, wantEvents) {
			t.Errorf("passive=%v: events %v, want %v", passive, ta.events, wantEvents)
		}
		if _, on := f.Deadline(); on {
			t.Error("timer running in Stopped")
		}
		f.Timeout() // a late timer does nothing
		if f.State() != StateStopped || len(sent) != DefaultMaxConfigure {
			t.Errorf("late Timeout changed something: %v, %d sent", f.State(), len(sent))
		}
	}
}

func TestPeerNaksForever(t *testing.T) {
	ta, tb := newToy("A", 1500), newToy("B", 1500)
	tb.nakUp = true // B never accepts A's MRU
	l := newLink(t, ta, tb, Config{})
	l.a.Open()
	l.b.Open()
	l.a.Up()
	l.b.Up()
	l.pump()
	if l.a.State() != StateOpened || l.b.State() != StateOpened {
		t.Fatalf("A %v, B %v; want both Opened once B rejects the option", l.a.State(), l.b.State())
	}
	// B: exactly Max-Failure Naks, then the Nak turns into a Reject of A's option as sent.
	var answers []Packet
	for _, p := range l.sentB {
		if p.Code == CodeConfigureNak || p.Code == CodeConfigureReject {
			answers = append(answers, p)
		}
	}
	if len(answers) != DefaultMaxFailure+1 {
		t.Fatalf("B answered %v, want %d Naks and a Reject", codesOf(answers), DefaultMaxFailure)
	}
	for _, p := range answers[:DefaultMaxFailure] {
		if p.Code != CodeConfigureNak {
			t.Fatalf("B answered %v, want %d Naks first", codesOf(answers), DefaultMaxFailure)
		}
	}
	rej := answers[DefaultMaxFailure]
	wantRej := Option{toyMRU, binary.BigEndian.AppendUint16(nil, 1500+DefaultMaxFailure)}.Append(nil)
	if rej.Code != CodeConfigureReject || !bytes.Equal(rej.Data, wantRej) {
		t.Errorf("last answer %v % x, want Configure-Reject % x (A's last MRU)", rej.Code, rej.Data, wantRej)
	}
	if len(ta.agreed) != 0 {
		t.Errorf("A's agreed options %v, want none (MRU rejected)", ta.agreed)
	}
}

func TestPeerTerminates(t *testing.T) {
	ta, tb := newToy("A", 1500), newToy("B", 1500)
	l := newLink(t, ta, tb, Config{})
	l.a.Open()
	l.b.Open()
	l.a.Up()
	l.b.Up()
	l.pump()
	if l.a.State() != StateOpened || l.b.State() != StateOpened {
		t.Fatalf("A %v, B %v; want both Opened", l.a.State(), l.b.State())
	}
	ta.events, tb.events = nil, nil
	l.b.Close("Call me back, please")
	l.pump()
	if l.b.State() != StateClosed || !slices.Equal(tb.events, []string{"tld", "tlf"}) {
		t.Errorf("B: %v, events %v; want Closed after tld, tlf", l.b.State(), tb.events)
	}
	// A acked, and waits in Stopping with a zeroed counter so the Ack can get through.
	if l.a.State() != StateStopping || !slices.Equal(ta.events, []string{"tld"}) {
		t.Errorf("A: %v, events %v; want Stopping after tld", l.a.State(), ta.events)
	}
	if !slices.Equal(ta.terminate, []string{"Call me back, please"}) {
		t.Errorf("A saw Terminate-Request data %q", ta.terminate)
	}
	if _, on := l.a.Deadline(); !on {
		t.Fatal("A: Restart timer not running in Stopping")
	}
	l.a.Timeout()
	if l.a.State() != StateStopped || !slices.Equal(ta.events, []string{"tld", "tlf"}) {
		t.Errorf("A after the pause: %v, events %v; want Stopped after tlf", l.a.State(), ta.events)
	}
	if n := count(l.sentB, CodeTerminateRequest); n != 1 {
		t.Errorf("B sent %d Terminate-Requests, want 1", n)
	}
}

func TestCloseRetransmitsTerminate(t *testing.T) {
	ta, tb := newToy("A", 1500), newToy("B", 1500)
	l := newLink(t, ta, tb, Config{})
	l.a.Open()
	l.b.Open()
	l.a.Up()
	l.b.Up()
	l.pump()
	l.toB = nil
	l.drop = func(string, Packet) bool { return true } // the line is dead
	l.a.Close("idle timeout")
	for l.a.State() == StateClosing {
		l.a.Timeout()
	}
	if l.a.State() != StateClosed || count(l.sentA, CodeTerminateRequest) != DefaultMaxTerminate {
		t.Errorf("A: %v after %d Terminate-Requests; want Closed after %d", l.a.State(),
			count(l.sentA, CodeTerminateRequest), DefaultMaxTerminate)
	}
	if ta.events[len(ta.events)-1] != "tlf" {
		t.Errorf("A events %v, want tlf last", ta.events)
	}
}

func TestLossyLinkRecovers(t *testing.T) {
	ta, tb := newToy("A", 1500), newToy("B", 1500)
	l := newLink(t, ta, tb, Config{})
	lost := 0
	l.drop = func(from string, p Packet) bool {
		if lost < 3 && from == "B" { // B's first three packets vanish
			lost++
			return true
		}
		return false
	}
	l.a.Open()
	l.b.Open()
	l.a.Up()
	l.b.Up()
	for i := 0; l.a.State() != StateOpened || l.b.State() != StateOpened; i++ {
		if i > 20 {
			t.Fatalf("no convergence: A %v, B %v", l.a.State(), l.b.State())
		}
		l.pump()
		l.a.Poll(time.Now().Add(time.Hour))
		l.b.Poll(time.Now().Add(time.Hour))
	}
}

func TestIdentifierHandling(t *testing.T) {
	ta := newToy("A", 1500)
	var sent []Packet
	f := NewFSM(ta, Config{Send: func(b []byte) {
		p, _ := ParsePacket(b)
		p.Data = bytes.Clone(p.Data)
		sent = append(sent, p)
	}})
	ta.f = f
	f.Open()
	f.Up()
	req := sent[0]
	pkt := func(c Code, id uint8, data []byte) []byte { return Packet{c, id, data}.Append(nil) }

	steps := []struct {
		name      string
		in        []byte
		state     State
		discarded uint64
	}{
		{"Ack with another identifier", pkt(CodeConfigureAck, req.ID+1, req.Data), StateReqSent, 1},
		{"Nak with another identifier", pkt(CodeConfigureNak, req.ID-1, nil), StateReqSent, 2},
		{"Ack with other options", pkt(CodeConfigureAck, req.ID, []byte{1, 4, 0, 0}), StateReqSent, 3},
		{"Reject of an option we did not send", pkt(CodeConfigureReject, req.ID, []byte{9, 2}), StateReqSent, 4},
		{"Nak the personality finds malformed", pkt(CodeConfigureNak, req.ID, []byte{1, 3, 0}), StateReqSent, 5},
		{"Nak with a bad option length", pkt(CodeConfigureNak, req.ID, []byte{1, 9, 0}), StateReqSent, 6},
		{"truncated packet", []byte{2, req.ID, 0, 9, 1}, StateReqSent, 7},
		{"the right Ack", pkt(CodeConfigureAck, req.ID, req.Data), StateAckRcvd, 7},
		{"the same Ack again is stale, not a crossed connection", pkt(CodeConfigureAck, req.ID, req.Data), StateAckRcvd, 8},
	}
	for _, s := range steps {
		f.Receive(s.in)
		if f.State() != s.state || f.Stats().Discarded != s.discarded {
			t.Fatalf("%s: state %v, %d discarded; want %v, %d", s.name, f.State(), f.Stats().Discarded, s.state, s.discarded)
		}
	}
	if f.Stats().Crossed != 0 || len(sent) != 1 {
		t.Errorf("crossed %d, sent %v", f.Stats().Crossed, codesOf(sent))
	}
	// Padding after the Length is ignored.
	f2 := NewFSM(newToy("B", 1500), Config{})
	f2.Open()
	f2.Up()
	f2.Receive(append(pkt(CodeConfigureRequest, 3, []byte{1, 4, 5, 0xDC}), 0, 0, 0))
	if f2.State() != StateAckSent {
		t.Errorf("padded Configure-Request: %v, want Ack-Sent", f2.State())
	}
}

func TestCodeReject(t *testing.T) {
	ta := newToy("A", 1500)
	var sent []Packet
	f := NewFSM(ta, Config{Send: func(b []byte) {
		p, _ := ParsePacket(b)
		p.Data = bytes.Clone(p.Data)
		sent = append(sent, p)
	}})
	f.Open()
	f.Up()
	sent = nil
	f.SetPeerMRU(10)
	unknown := Packet{Code: CodeEchoRequest, ID: 5, Data: bytes.Repeat([]byte{0xAA}, 40)}.Append(nil)
	f.Receive(append(unknown, 0xEE, 0xEE)) // with padding
	if len(sent) != 1 || sent[0].Code != CodeCodeReject {
		t.Fatalf("sent %v, want a Code-Reject (no CodeHandler: Echo is unknown to an NCP)", codesOf(sent))
	}
	if want := unknown[:10-headerLen]; !bytes.Equal(sent[0].Data, want) {
		t.Errorf("Code-Reject data % x, want the packet truncated to the peer MRU: % x", sent[0].Data, want)
	}
	if f.State() != StateReqSent || f.Stats().CodeRejects != 1 {
		t.Errorf("state %v, %d Code-Rejects counted", f.State(), f.Stats().CodeRejects)
	}
	// Code 0 is unknown too.
	f.Receive([]byte{0, 1, 0, 4})
	if f.Stats().CodeRejects != 2 {
		t.Errorf("code 0 not rejected")
	}
	// A peer rejecting our Configure-Request code is catastrophic.
	f.Receive(Packet{Code: CodeCodeReject, ID: 1, Data: []byte{1, 1, 0, 4}}.Append(nil))
	if f.State() != StateStopped || ta.events[len(ta.events)-1] != "tlf" {
		t.Errorf("after RXJ-: %v, events %v; want Stopped after tlf", f.State(), ta.events)
	}
	f.Receive(Packet{Code: CodeCodeReject, ID: 1}.Append(nil)) // nothing rejected: invalid
	if f.Stats().Discarded != 1 {
		t.Errorf("empty Code-Reject not discarded")
	}
}

func TestProtocolRejected(t *testing.T) {
	ta, tb := newToy("A", 1500), newToy("B", 1500)
	l := newLink(t, ta, tb, Config{})
	l.a.Open()
	l.b.Open()
	l.a.Up()
	l.b.Up()
	l.pump()
	ta.events = nil
	l.a.ProtocolRejected()
	if l.a.State() != StateStopping || !slices.Equal(ta.events, []string{"tld"}) {
		t.Errorf("A: %v, events %v; want Stopping after tld", l.a.State(), ta.events)
	}
	if last := l.sentA[len(l.sentA)-1]; last.Code != CodeTerminateRequest {
		t.Errorf("A last sent %v, want Terminate-Request", last.Code)
	}
}

func TestCallbacksMayPostEvents(t *testing.T) {
	ta, tb := newToy("A", 1500), newToy("B", 1500)
	ta.closeOnUp = "authentication failed"
	l := newLink(t, ta, tb, Config{})
	var trace []Transition
	l.a.cfg.Trace = func(tr Transition) { trace = append(trace, tr) }
	l.a.Open()
	l.b.Open()
	l.a.Up()
	l.b.Up()
	l.pump()
	// A went Opened, and the Close posted from tlu ran after that transition was complete.
	i := slices.IndexFunc(trace, func(tr Transition) bool { return tr.To == StateOpened })
	if i < 0 || i+1 >= len(trace) || trace[i+1].Event != EvClose || trace[i+1].From != StateOpened {
		t.Fatalf("transitions %v: want Close right after reaching Opened", trace)
	}
	if l.a.State() != StateClosed || l.b.State() == StateOpened {
		t.Errorf("A %v, B %v; want A Closed and B no longer Opened", l.a.State(), l.b.State())
	}
	// The Terminate-Request carries the reason.
	for _, p := range l.sentA {
		if p.Code == CodeTerminateRequest && string(p.Data) != "authentication failed" {
			t.Errorf("Terminate-Request data %q", p.Data)
		}
	}
}

func TestRestartTimerDeadline(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	ta := newToy("A", 1500)
	sent := 0
	f := NewFSM(ta, Config{RestartTimer: 2 * time.Second, Now: func() time.Time { return now },
		Send: func([]byte) { sent++ }})
	if _, on := f.Deadline(); on {
		t.Fatal("timer running in Initial")
	}
	f.Open()
	f.Up()
	d, on := f.Deadline()
	if !on || !d.Equal(now.Add(2*time.Second)) {
		t.Fatalf("Deadline %v %v, want %v", d, on, now.Add(2*time.Second))
	}
	f.Poll(now.Add(time.Second))
	if sent != 1 {
		t.Fatalf("Poll before the deadline retransmitted")
	}
	now = now.Add(2 * time.Second)
	f.Poll(now)
	if sent != 2 {
		t.Fatalf("Poll at the deadline: %d sent, want 2", sent)
	}
	if d, _ := f.Deadline(); !d.Equal(now.Add(2 * time.Second)) {
		t.Errorf("restarted deadline %v, want %v", d, now.Add(2*time.Second))
	}
}

func TestConfiguredCounters(t *testing.T) {
	ta := newToy("A", 1500)
	sent := 0
	f := NewFSM(ta, Config{MaxConfigure: 3, Send: func([]byte) { sent++ }})
	f.Open()
	f.Up()
	for f.State() == StateReqSent {
		f.Timeout()
	}
	if sent != 3 || f.State() != StateStopped {
		t.Errorf("MaxConfigure 3: %d sent, %v", sent, f.State())
	}
}

func TestIllegalEvents(t *testing.T) {
	ta := newToy("A", 1500)
	sent := 0
	f := NewFSM(ta, Config{Send: func([]byte) { sent++ }})
	f.Receive(Packet{Code: CodeConfigureRequest, ID: 1, Data: []byte{1, 4, 5, 0xDC}}.Append(nil))
	f.Down()
	if f.State() != StateInitial || sent != 0 || f.Stats().Illegal != 2 {
		t.Errorf("state %v, %d sent, %d illegal; want Initial, 0, 2", f.State(), sent, f.Stats().Illegal)
	}
	if tb := ta.peerMRU; tb != 0 {
		t.Errorf("a request was judged while the lower layer was down")
	}
}

func TestReply(t *testing.T) {
	req := []Option{{1, []byte{1}}, {2, []byte{2}}, {3, []byte{3}}, {4, []byte{4}}}
	tests := []struct {
		name    string
		convert bool
		judge   func(r *Reply)
		code    Code
		data    []byte
	}{
		{"nothing said: Ack", false, func(r *Reply) {}, CodeConfigureAck, nil},
		{"Naks in request order, additions last", false, func(r *Reply) {
			r.NakAdd(9, []byte{9})
			r.Nak(3, []byte{0x44})
			r.Nak(1, []byte{0x22})
			r.Nak(1, []byte{0x23}) // a second acceptable value
		}, CodeConfigureNak, []byte{2, 3, 0x22, 2, 3, 0x23, 4, 3, 0x44, 9, 3, 9}},
		{"a Reject wins over Naks", false, func(r *Reply) {
			r.Nak(0, []byte{0})
			r.Reject(3)
			r.Reject(2)
			r.Reject(2)
		}, CodeConfigureReject, []byte{3, 3, 3, 4, 3, 4}},
		{"after Max-Failure Naks become Rejects of the request's options", true, func(r *Reply) {
			r.Nak(2, []byte{0x99})
			r.NakAdd(9, nil)
			r.Reject(0)
		}, CodeConfigureReject, []byte{1, 3, 1, 3, 3, 3}},
		{"after Max-Failure an addition alone stays a Nak", true, func(r *Reply) {
			r.NakAdd(9, []byte{1, 2})
		}, CodeConfigureNak, []byte{9, 4, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Reply
			r.reset(req, tt.convert)
			tt.judge(&r)
			if r.Code() != tt.code {
				t.Errorf("Code %v, want %v", r.Code(), tt.code)
			}
			if tt.code != CodeConfigureAck {
				if got := r.appendData(nil); !bytes.Equal(got, tt.data) {
					t.Errorf("data % x, want % x", got, tt.data)
				}
			}
			if r.RejectIfDisagree() != tt.convert {
				t.Errorf("RejectIfDisagree %v", r.RejectIfDisagree())
			}
		})
	}
}

func TestMalformedConfigureRequestIgnored(t *testing.T) {
	ta := newToy("A", 1500)
	sent := 0
	f := NewFSM(ta, Config{Send: func([]byte) { sent++ }})
	f.Open()
	f.Up()
	f.Receive(Packet{Code: CodeConfigureRequest, ID: 1, Data: []byte{1, 1, 0}}.Append(nil))
	if sent != 1 || f.State() != StateReqSent || f.Stats().Discarded != 1 {
		t.Errorf("%d sent, %v, %d discarded; want the request ignored", sent, f.State(), f.Stats().Discarded)
	}
}
