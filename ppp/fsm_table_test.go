package ppp

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// rfc1661Table is the state transition table of RFC 1661 §4.1, copied as printed (both
// halves joined on one line per event). The test parses it and checks the FSM against every
// cell, independently of the table in fsm.go.
const rfc1661Table = `
      | State
      |    0         1         2         3         4         5         6         7         8           9
Events| Initial   Starting  Closed    Stopped   Closing   Stopping  Req-Sent  Ack-Rcvd  Ack-Sent    Opened
------+-----------------------------------------------------------------------------------------------------
 Up   |    2     irc,scr/6     -         -         -         -         -         -         -           -
 Down |    -         -         0       tls/1       0         1         1         1         1         tld/1
 Open |  tls/1       1     irc,scr/6     3r        5r        5r        6         7         8           9r
 Close|    0       tlf/0       2         2         4         4     irc,str/4 irc,str/4 irc,str/4 tld,irc,str/4
      |
  TO+ |    -         -         -         -       str/4     str/5     scr/6     scr/6     scr/8         -
  TO- |    -         -         -         -       tlf/2     tlf/3     tlf/3p    tlf/3p    tlf/3p        -
      |
 RCR+ |    -         -       sta/2 irc,scr,sca/8   4         5       sca/8   sca,tlu/9   sca/8   tld,scr,sca/8
 RCR- |    -         -       sta/2 irc,scr,scn/6   4         5       scn/6     scn/7     scn/6   tld,scr,scn/6
 RCA  |    -         -       sta/2     sta/3       4         5       irc/7     scr/6x  irc,tlu/9   tld,scr/6x
 RCN  |    -         -       sta/2     sta/3       4         5     irc,scr/6   scr/6x  irc,scr/8   tld,scr/6x
      |
 RTR  |    -         -       sta/2     sta/3     sta/4     sta/5     sta/6     sta/6     sta/6   tld,zrc,sta/5
 RTA  |    -         -         2         3       tlf/2     tlf/3       6         6         8       tld,scr/6
      |
 RUC  |    -         -       scj/2     scj/3     scj/4     scj/5     scj/6     scj/7     scj/8       scj/9
 RXJ+ |    -         -         2         3         4         5         6         6         8           9
 RXJ- |    -         -       tlf/2     tlf/3     tlf/2     tlf/3     tlf/3     tlf/3     tlf/3   tld,irc,str/5
      |
 RXR  |    -         -         2         3         4         5         6         7         8         ser/9
`

type rfcCell struct {
	legal   bool
	actions []string
	next    State
	note    string // footnote letter: p, r or x
}

// parseRFCTable reads rfc1661Table into event name -> one cell per state.
func parseRFCTable(t *testing.T) map[string][numStates]rfcCell {
	t.Helper()
	out := map[string][numStates]rfcCell{}
	for _, line := range strings.Split(rfc1661Table, "\n") {
		label, rest, ok := strings.Cut(line, "|")
		label = strings.TrimSpace(label)
		if !ok || label == "" || label == "Events" || strings.HasPrefix(label, "-") {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != int(numStates) {
			t.Fatalf("row %q has %d cells", label, len(fields))
		}
		var row [numStates]rfcCell
		for s, f := range fields {
			if f == "-" {
				continue
			}
			c := rfcCell{legal: true}
			if acts, next, ok := strings.Cut(f, "/"); ok {
				c.actions = strings.Split(acts, ",")
				f = next
			}
			if last := f[len(f)-1]; last == 'p' || last == 'r' || last == 'x' {
				c.note, f = string(last), f[:len(f)-1]
			}
			n, err := strconv.Atoi(f)
			if err != nil || n < 0 || n >= int(numStates) {
				t.Fatalf("row %q cell %d: bad state %q", label, s, f)
			}
			c.next = State(n)
			row[s] = c
		}
		out[label] = row
	}
	if len(out) != int(numEvents) {
		t.Fatalf("parsed %d events, want %d", len(out), numEvents)
	}
	return out
}

// recorder is a toy personality that records every callback and judges requests as told.
type recorder struct {
	f       *FSM
	log     []string // side effects in order: tlu/tld/tls/tlf and the codes sent
	nakAll  bool     // CheckRequest Naks every request (RCR-)
	request []byte   // our options
	codes   bool     // implement CodeHandler
}

func (r *recorder) AppendRequest(dst []byte, fresh bool) []byte { return append(dst, r.request...) }
func (r *recorder) CheckRequest(req []Option, rep *Reply) {
	if r.nakAll {
		rep.NakAdd(1, []byte{0x05, 0xDC})
	}
}
func (r *recorder) ReceiveAck([]Option)          {}
func (r *recorder) ReceiveNak([]Option) error    { return nil }
func (r *recorder) ReceiveReject([]Option) error { return nil }
func (r *recorder) ThisLayerUp()                 { r.log = append(r.log, "tlu") }
func (r *recorder) ThisLayerDown()               { r.log = append(r.log, "tld") }
func (r *recorder) ThisLayerStarted()            { r.log = append(r.log, "tls") }
func (r *recorder) ThisLayerFinished()           { r.log = append(r.log, "tlf") }

// recorderCodes adds LCP-like extended codes: 9 (Echo-Request) is RXR, 8 is a
// Protocol-Reject whose first data octet says permitted (1) or not.
type recorderCodes struct{ *recorder }

func (r recorderCodes) ClassifyCode(p Packet) Event {
	switch p.Code {
	case CodeEchoRequest, CodeEchoReply, CodeDiscardRequest:
		return EvRXR
	case CodeProtocolReject:
		if len(p.Data) > 0 && p.Data[0] == 1 {
			return EvRXJPlus
		}
		return EvRXJMinus
	}
	return EvRUC
}
func (r recorderCodes) CodeRejected(c Code) bool { return c != CodeProtocolReject }
func (r recorderCodes) ReceiveRXR(p Packet) {
	r.log = append(r.log, "ser")
	if p.Code == CodeEchoRequest {
		r.f.SendPacket(CodeEchoReply, p.ID, p.Data)
	}
}

// sentAction maps the code of a packet the FSM sent to the action that sends it.
var sentAction = map[Code]string{
	CodeConfigureRequest: "scr", CodeConfigureAck: "sca", CodeConfigureNak: "scn",
	CodeConfigureReject: "scn", CodeTerminateRequest: "str", CodeTerminateAck: "sta",
	CodeCodeReject: "scj", CodeEchoReply: "ser-reply",
}

type tableHarness struct {
	f      *FSM
	rec    *recorder
	sent   []Packet
	traces []Transition
}

func newTableHarness(t *testing.T, cfg Config, codes bool) *tableHarness {
	h := &tableHarness{rec: &recorder{request: []byte{1, 4, 0x05, 0xDC}}}
	cfg.Send = func(b []byte) {
		p, err := ParsePacket(b)
		if err != nil {
			t.Fatalf("FSM sent a malformed packet % x: %v", b, err)
		}
		p.Data = slices.Clone(p.Data)
		h.sent = append(h.sent, p)
		h.rec.log = append(h.rec.log, sentAction[p.Code])
	}
	cfg.Trace = func(tr Transition) { h.traces = append(h.traces, tr) }
	var p Personality = h.rec
	if codes {
		p = recorderCodes{h.rec}
	}
	h.f = NewFSM(p, cfg)
	h.rec.f = h.f
	return h
}

const (
	sentinelCount = 7  // Restart counter before the event, so irc/zrc/decrements show
	peerID        = 77 // Identifier of the packets the test sends
	ourID         = 42 // Identifier of "our last Configure-Request"
)

// place puts the FSM in state s as if it got there by negotiating: our last request
// (identifier ourID) unanswered, the timer running where the state has one.
func (h *tableHarness) place(s State, counter int) {
	f := h.f
	f.state = s
	f.restart = counter
	f.timerOn = s.timed()
	f.reqSent, f.reqReplied, f.reqID, f.id = true, false, ourID, ourID
	f.reqData = slices.Clone(h.rec.request)
}

// fire produces event ev through the FSM's public entry points.
func (h *tableHarness) fire(t *testing.T, ev string) {
	f := h.f
	pkt := func(code Code, id uint8, data ...byte) []byte {
		return Packet{Code: code, ID: id, Data: data}.Append(nil)
	}
	switch ev {
	case "Up":
		f.Up()
	case "Down":
		f.Down()
	case "Open":
		f.Open()
	case "Close":
		f.Close("bye")
	case "TO+":
		f.restart = sentinelCount
		f.Timeout()
	case "TO-":
		f.restart = 0
		f.Timeout()
	case "RCR+":
		h.rec.nakAll = false
		f.Receive(pkt(CodeConfigureRequest, peerID, 1, 4, 0x05, 0xDC))
	case "RCR-":
		h.rec.nakAll = true
		f.Receive(pkt(CodeConfigureRequest, peerID, 1, 4, 0x02, 0x00))
	case "RCA":
		f.Receive(pkt(CodeConfigureAck, ourID, h.rec.request...))
	case "RCN":
		f.Receive(pkt(CodeConfigureNak, ourID, 1, 4, 0x05, 0xD0))
	case "RTR":
		f.Receive(pkt(CodeTerminateRequest, peerID, 'b', 'y', 'e'))
	case "RTA":
		f.Receive(pkt(CodeTerminateAck, peerID))
	case "RUC":
		f.Receive(pkt(0x42, peerID, 1, 2, 3))
	case "RXJ+":
		f.Receive(pkt(CodeCodeReject, peerID, byte(CodeEchoRequest), 1, 0, 4)) // an extension: permitted
	case "RXJ-":
		f.Receive(pkt(CodeCodeReject, peerID, byte(CodeConfigureRequest), 1, 0, 4))
	case "RXR":
		f.Receive(pkt(CodeEchoRequest, peerID, 0, 0, 0, 0))
	default:
		t.Fatalf("no way to fire %q", ev)
	}
}

// TestStateTable checks every state × every event against the RFC's table: the next state,
// the actions the FSM reports, the side effects they have (callbacks and packets sent, in
// order), the Restart counter and the Restart timer.
func TestStateTable(t *testing.T) {
	rfc := parseRFCTable(t)
	for ev := range numEvents {
		row, ok := rfc[ev.String()]
		if !ok {
			t.Fatalf("event %v missing from the transcribed table", ev)
		}
		for s := range numStates {
			want := row[s]
			t.Run(fmt.Sprintf("%v/%v", s, ev), func(t *testing.T) {
				h := newTableHarness(t, Config{}, true)
				h.place(s, sentinelCount)
				if ev == EvTOMinus {
					h.f.restart = 0
				}
				h.fire(t, ev.String())
				f := h.f

				if !want.legal {
					if f.State() != s || len(h.rec.log) != 0 || len(h.traces) != 0 {
						t.Fatalf("illegal event: state %v, effects %v, traces %v; want nothing", f.State(), h.rec.log, h.traces)
					}
					return
				}
				if f.State() != want.next {
					t.Errorf("next state %v, want %v", f.State(), want.next)
				}
				if len(h.traces) != 1 {
					t.Fatalf("%d transitions traced, want 1: %v", len(h.traces), h.traces)
				}
				tr := h.traces[0]
				var got []string
				for _, a := range tr.ActionList() {
					got = append(got, a.String())
				}
				if !slices.Equal(got, want.actions) {
					t.Errorf("actions %v, want %v", got, want.actions)
				}
				if tr.From != s || tr.To != want.next || tr.Event != ev {
					t.Errorf("trace %v, want %v --%v--> %v", tr, s, ev, want.next)
				}

				// Side effects: every action but irc and zrc leaves a trace outside the FSM.
				var wantEffects []string
				wantCount := sentinelCount
				if ev == EvTOMinus {
					wantCount = 0
				}
				for _, a := range want.actions {
					switch a {
					case "irc":
						wantCount = DefaultMaxConfigure
						if slices.Contains(want.actions, "str") {
							wantCount = DefaultMaxTerminate
						}
					case "zrc":
						wantCount = 0
					case "scr", "str":
						wantCount--
						wantEffects = append(wantEffects, a)
					case "ser":
						wantEffects = append(wantEffects, "ser", "ser-reply")
					default:
						wantEffects = append(wantEffects, a)
					}
				}
				if !slices.Equal(h.rec.log, wantEffects) {
					t.Errorf("side effects %v, want %v", h.rec.log, wantEffects)
				}
				if f.restart != wantCount {
					t.Errorf("Restart counter %d, want %d", f.restart, wantCount)
				}
				if _, on := f.Deadline(); on != want.next.timed() {
					t.Errorf("Restart timer running = %v in %v", on, want.next)
				}
				checkAnswers(t, h, ev)
			})
		}
	}
}

// checkAnswers checks the identifiers and contents of what was sent.
func checkAnswers(t *testing.T, h *tableHarness, ev Event) {
	t.Helper()
	recvID := uint8(peerID) // answers carry the Identifier of the packet they answer
	if ev == EvRCA || ev == EvRCN {
		recvID = ourID
	}
	for _, p := range h.sent {
		switch p.Code {
		case CodeTerminateAck, CodeConfigureAck, CodeConfigureNak, CodeConfigureReject, CodeEchoReply:
			if p.ID != recvID {
				t.Errorf("%v carries identifier %d, want the received %d", p.Code, p.ID, recvID)
			}
		case CodeConfigureRequest:
			if string(p.Data) != string(h.rec.request) {
				t.Errorf("Configure-Request options % x, want % x", p.Data, h.rec.request)
			}
		case CodeTerminateRequest:
			if ev == EvClose && string(p.Data) != "bye" {
				t.Errorf("Terminate-Request data %q, want the Close reason", p.Data)
			}
		case CodeCodeReject:
			if want := []byte{0x42, peerID, 0, 7, 1, 2, 3}; string(p.Data) != string(want) {
				t.Errorf("Code-Reject data % x, want the rejected packet % x", p.Data, want)
			}
		}
		if p.Code == CodeConfigureAck && ev == EvRCRPlus && string(p.Data) != "\x01\x04\x05\xdc" {
			t.Errorf("Configure-Ack options % x, want the request's", p.Data)
		}
		if p.Code == CodeConfigureNak && string(p.Data) != "\x01\x04\x05\xdc" {
			t.Errorf("Configure-Nak options % x, want the suggestion", p.Data)
		}
	}
}

// TestStateTableFootnotes checks the [p] and [r] options against the footnoted cells.
func TestStateTableFootnotes(t *testing.T) {
	rfc := parseRFCTable(t)
	t.Run("passive", func(t *testing.T) {
		for s := range numStates {
			c := rfc["TO-"][s]
			if c.note != "p" {
				continue
			}
			h := newTableHarness(t, Config{Passive: true}, false)
			h.place(s, 0)
			h.f.Timeout()
			if h.f.State() != c.next || len(h.rec.log) != 0 {
				t.Errorf("%v TO- passive: state %v, effects %v; want %v without tlf", s, h.f.State(), h.rec.log, c.next)
			}
		}
	})
	t.Run("restart on open", func(t *testing.T) {
		for s := range numStates {
			c := rfc["Open"][s]
			h := newTableHarness(t, Config{RestartOnOpen: true}, false)
			h.place(s, sentinelCount)
			h.f.Open()
			if c.note != "r" {
				if h.f.State() != c.next || len(h.traces) != 1 {
					t.Errorf("%v Open: state %v after %d transitions, want %v after 1", s, h.f.State(), len(h.traces), c.next)
				}
				continue
			}
			// Open, then Down, then Up: an orderly renegotiation through Starting.
			if len(h.traces) != 3 || h.traces[1].Event != EvDown || h.traces[2].Event != EvUp {
				t.Fatalf("%v Open: traces %v, want Open, Down, Up", s, h.traces)
			}
			if h.f.State() != StateReqSent || h.rec.log[len(h.rec.log)-1] != "scr" {
				t.Errorf("%v Open: state %v, effects %v; want Req-Sent after scr", s, h.f.State(), h.rec.log)
			}
		}
	})
}
