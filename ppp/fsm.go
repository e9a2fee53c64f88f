package ppp

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"time"
)

// State is a state of the option negotiation automaton (RFC 1661 §4.2).
type State uint8

// The ten states, numbered as in the RFC 1661 §4.1 table.
const (
	StateInitial  State = iota // 0: lower layer down, no Open
	StateStarting              // 1: Open, lower layer still down
	StateClosed                // 2: lower layer up, no Open
	StateStopped               // 3: Open, waiting for Down or a peer's Configure-Request
	StateClosing               // 4: Terminate-Request sent, after a Close
	StateStopping              // 5: Terminate-Request sent, Open still in force
	StateReqSent               // 6: Configure-Request sent
	StateAckRcvd               // 7: our request acked, the peer's not yet
	StateAckSent               // 8: the peer's request acked, ours not yet
	StateOpened                // 9: both acked
	numStates
)

var stateNames = [numStates]string{"Initial", "Starting", "Closed", "Stopped", "Closing", "Stopping",
	"Req-Sent", "Ack-Rcvd", "Ack-Sent", "Opened"}

func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// timed reports whether the Restart timer runs in s (RFC 1661 §4.2: it does in Closing,
// Stopping, Req-Sent, Ack-Rcvd and Ack-Sent, and in no other state).
func (s State) timed() bool { return s >= StateClosing && s <= StateAckSent }

// negotiating reports whether a Configure-Request of ours is outstanding or acked but the
// link not yet open: the states in which a new Configure-Request is a retransmission or a
// correction rather than the start of a new negotiation.
func (s State) negotiating() bool { return s >= StateReqSent && s <= StateAckSent }

// Event is an event of the automaton (RFC 1661 §4.3).
type Event uint8

// The events, in the order of the RFC 1661 §4.1 table.
const (
	EvUp       Event = iota // lower layer is Up
	EvDown                  // lower layer is Down
	EvOpen                  // administrative Open
	EvClose                 // administrative Close
	EvTOPlus                // Timeout with counter > 0
	EvTOMinus               // Timeout with counter expired
	EvRCRPlus               // Receive-Configure-Request (Good)
	EvRCRMinus              // Receive-Configure-Request (Bad)
	EvRCA                   // Receive-Configure-Ack
	EvRCN                   // Receive-Configure-Nak/Rej
	EvRTR                   // Receive-Terminate-Request
	EvRTA                   // Receive-Terminate-Ack
	EvRUC                   // Receive-Unknown-Code
	EvRXJPlus               // Receive-Code-Reject (permitted) or Receive-Protocol-Reject
	EvRXJMinus              // Receive-Code-Reject (catastrophic) or Receive-Protocol-Reject
	EvRXR                   // Receive-Echo-Request, Receive-Echo-Reply or Receive-Discard-Request
	numEvents
)

var eventNames = [numEvents]string{"Up", "Down", "Open", "Close", "TO+", "TO-", "RCR+", "RCR-",
	"RCA", "RCN", "RTR", "RTA", "RUC", "RXJ+", "RXJ-", "RXR"}

func (e Event) String() string {
	if e < numEvents {
		return eventNames[e]
	}
	return fmt.Sprintf("Event(%d)", uint8(e))
}

// Action is an action of the automaton (RFC 1661 §4.4).
type Action uint8

// The actions.
const (
	ActTLU Action = iota + 1 // This-Layer-Up
	ActTLD                   // This-Layer-Down
	ActTLS                   // This-Layer-Started
	ActTLF                   // This-Layer-Finished
	ActIRC                   // Initialize-Restart-Count
	ActZRC                   // Zero-Restart-Count
	ActSCR                   // Send-Configure-Request
	ActSCA                   // Send-Configure-Ack
	ActSCN                   // Send-Configure-Nak/Rej
	ActSTR                   // Send-Terminate-Request
	ActSTA                   // Send-Terminate-Ack
	ActSCJ                   // Send-Code-Reject
	ActSER                   // Send-Echo-Reply
)

var actionNames = [...]string{ActTLU: "tlu", ActTLD: "tld", ActTLS: "tls", ActTLF: "tlf",
	ActIRC: "irc", ActZRC: "zrc", ActSCR: "scr", ActSCA: "sca", ActSCN: "scn", ActSTR: "str",
	ActSTA: "sta", ActSCJ: "scj", ActSER: "ser"}

func (a Action) String() string {
	if int(a) < len(actionNames) && actionNames[a] != "" {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// maxActions is the most actions in one cell of the table (e.g. tld,irc,str).
const maxActions = 3

// cell is one entry of the state transition table: actions in order, then the next state.
type cell struct {
	legal bool
	next  State
	n     uint8
	acts  [maxActions]Action
}

func to(next State, acts ...Action) cell {
	c := cell{legal: true, next: next, n: uint8(len(acts))}
	copy(c.acts[:], acts)
	return c
}

// table is the state transition table of RFC 1661 §4.1, event by event. A missing entry is
// the table's '-' (an illegal event). The footnoted entries are the plain transitions; the
// options are applied around the table: [p] is Config.Passive, [r] Config.RestartOnOpen, and
// [x] (crossed connection) is logged and counted.
var table = [numEvents][numStates]cell{
	EvUp: {
		StateInitial:  to(StateClosed),
		StateStarting: to(StateReqSent, ActIRC, ActSCR),
	},
	EvDown: {
		StateClosed:   to(StateInitial),
		StateStopped:  to(StateStarting, ActTLS),
		StateClosing:  to(StateInitial),
		StateStopping: to(StateStarting),
		StateReqSent:  to(StateStarting),
		StateAckRcvd:  to(StateStarting),
		StateAckSent:  to(StateStarting),
		StateOpened:   to(StateStarting, ActTLD),
	},
	EvOpen: {
		StateInitial:  to(StateStarting, ActTLS),
		StateStarting: to(StateStarting),
		StateClosed:   to(StateReqSent, ActIRC, ActSCR),
		StateStopped:  to(StateStopped),  // [r]
		StateClosing:  to(StateStopping), // [r]
		StateStopping: to(StateStopping), // [r]
		StateReqSent:  to(StateReqSent),
		StateAckRcvd:  to(StateAckRcvd),
		StateAckSent:  to(StateAckSent),
		StateOpened:   to(StateOpened), // [r]
	},
	EvClose: {
		StateInitial:  to(StateInitial),
		StateStarting: to(StateInitial, ActTLF),
		StateClosed:   to(StateClosed),
		StateStopped:  to(StateClosed),
		StateClosing:  to(StateClosing),
		StateStopping: to(StateClosing),
		StateReqSent:  to(StateClosing, ActIRC, ActSTR),
		StateAckRcvd:  to(StateClosing, ActIRC, ActSTR),
		StateAckSent:  to(StateClosing, ActIRC, ActSTR),
		StateOpened:   to(StateClosing, ActTLD, ActIRC, ActSTR),
	},
	EvTOPlus: {
		StateClosing:  to(StateClosing, ActSTR),
		StateStopping: to(StateStopping, ActSTR),
		StateReqSent:  to(StateReqSent, ActSCR),
		StateAckRcvd:  to(StateReqSent, ActSCR),
		StateAckSent:  to(StateAckSent, ActSCR),
	},
	EvTOMinus: {
		StateClosing:  to(StateClosed, ActTLF),
		StateStopping: to(StateStopped, ActTLF),
		StateReqSent:  to(StateStopped, ActTLF), // [p]
		StateAckRcvd:  to(StateStopped, ActTLF), // [p]
		StateAckSent:  to(StateStopped, ActTLF), // [p]
	},
	EvRCRPlus: {
		StateClosed:   to(StateClosed, ActSTA),
		StateStopped:  to(StateAckSent, ActIRC, ActSCR, ActSCA),
		StateClosing:  to(StateClosing),
		StateStopping: to(StateStopping),
		StateReqSent:  to(StateAckSent, ActSCA),
		StateAckRcvd:  to(StateOpened, ActSCA, ActTLU),
		StateAckSent:  to(StateAckSent, ActSCA),
		StateOpened:   to(StateAckSent, ActTLD, ActSCR, ActSCA),
	},
	EvRCRMinus: {
		StateClosed:   to(StateClosed, ActSTA),
		StateStopped:  to(StateReqSent, ActIRC, ActSCR, ActSCN),
		StateClosing:  to(StateClosing),
		StateStopping: to(StateStopping),
		StateReqSent:  to(StateReqSent, ActSCN),
		StateAckRcvd:  to(StateAckRcvd, ActSCN),
		StateAckSent:  to(StateReqSent, ActSCN),
		StateOpened:   to(StateReqSent, ActTLD, ActSCR, ActSCN),
	},
	EvRCA: {
		StateClosed:   to(StateClosed, ActSTA),
		StateStopped:  to(StateStopped, ActSTA),
		StateClosing:  to(StateClosing),
		StateStopping: to(StateStopping),
		StateReqSent:  to(StateAckRcvd, ActIRC),
		StateAckRcvd:  to(StateReqSent, ActSCR), // [x]
		StateAckSent:  to(StateOpened, ActIRC, ActTLU),
		StateOpened:   to(StateReqSent, ActTLD, ActSCR), // [x]
	},
	EvRCN: {
		StateClosed:   to(StateClosed, ActSTA),
		StateStopped:  to(StateStopped, ActSTA),
		StateClosing:  to(StateClosing),
		StateStopping: to(StateStopping),
		StateReqSent:  to(StateReqSent, ActIRC, ActSCR),
		StateAckRcvd:  to(StateReqSent, ActSCR), // [x]
		StateAckSent:  to(StateAckSent, ActIRC, ActSCR),
		StateOpened:   to(StateReqSent, ActTLD, ActSCR), // [x]
	},
	EvRTR: {
		StateClosed:   to(StateClosed, ActSTA),
		StateStopped:  to(StateStopped, ActSTA),
		StateClosing:  to(StateClosing, ActSTA),
		StateStopping: to(StateStopping, ActSTA),
		StateReqSent:  to(StateReqSent, ActSTA),
		StateAckRcvd:  to(StateReqSent, ActSTA),
		StateAckSent:  to(StateReqSent, ActSTA),
		StateOpened:   to(StateStopping, ActTLD, ActZRC, ActSTA),
	},
	EvRTA: {
		StateClosed:   to(StateClosed),
		StateStopped:  to(StateStopped),
		StateClosing:  to(StateClosed, ActTLF),
		StateStopping: to(StateStopped, ActTLF),
		StateReqSent:  to(StateReqSent),
		StateAckRcvd:  to(StateReqSent),
		StateAckSent:  to(StateAckSent),
		StateOpened:   to(StateReqSent, ActTLD, ActSCR),
	},
	EvRUC: {
		StateClosed:   to(StateClosed, ActSCJ),
		StateStopped:  to(StateStopped, ActSCJ),
		StateClosing:  to(StateClosing, ActSCJ),
		StateStopping: to(StateStopping, ActSCJ),
		StateReqSent:  to(StateReqSent, ActSCJ),
		StateAckRcvd:  to(StateAckRcvd, ActSCJ),
		StateAckSent:  to(StateAckSent, ActSCJ),
		StateOpened:   to(StateOpened, ActSCJ),
	},
	EvRXJPlus: {
		StateClosed:   to(StateClosed),
		StateStopped:  to(StateStopped),
		StateClosing:  to(StateClosing),
		StateStopping: to(StateStopping),
		StateReqSent:  to(StateReqSent),
		StateAckRcvd:  to(StateReqSent),
		StateAckSent:  to(StateAckSent),
		StateOpened:   to(StateOpened),
	},
	EvRXJMinus: {
		StateClosed:   to(StateClosed, ActTLF),
		StateStopped:  to(StateStopped, ActTLF),
		StateClosing:  to(StateClosed, ActTLF),
		StateStopping: to(StateStopped, ActTLF),
		StateReqSent:  to(StateStopped, ActTLF),
		StateAckRcvd:  to(StateStopped, ActTLF),
		StateAckSent:  to(StateStopped, ActTLF),
		StateOpened:   to(StateStopping, ActTLD, ActIRC, ActSTR),
	},
	EvRXR: {
		StateClosed:   to(StateClosed),
		StateStopped:  to(StateStopped),
		StateClosing:  to(StateClosing),
		StateStopping: to(StateStopping),
		StateReqSent:  to(StateReqSent),
		StateAckRcvd:  to(StateAckRcvd),
		StateAckSent:  to(StateAckSent),
		StateOpened:   to(StateOpened, ActSER),
	},
}

// Defaults of RFC 1661 §4.6.
const (
	DefaultRestartTimer = 3 * time.Second // Restart timer
	DefaultMaxTerminate = 2               // Max-Terminate
	DefaultMaxConfigure = 10              // Max-Configure
	DefaultMaxFailure   = 5               // Max-Failure
)

// Personality is what a control protocol (LCP, IPCP, ...) adds to the automaton: its options
// and what the layer's transitions mean. The FSM calls it from inside Up, Down, Open, Close,
// Timeout, Receive and ProtocolRejected, on the caller's goroutine, after the state has
// changed. A callback may call those methods again: the event is queued and handled when
// the current one is done. It may call SendPacket and NextID directly.
type Personality interface {
	// AppendRequest appends the options of our next Configure-Request (scr) to dst. fresh is
	// true when a new negotiation begins (from Starting, Closed, Stopped or Opened): the
	// personality should go back to its initial wishes. Otherwise it is a retransmission or
	// follows a Nak or Reject, and should reflect what the peer said.
	AppendRequest(dst []byte, fresh bool) []byte
	// CheckRequest judges the options of the peer's Configure-Request, telling r which to
	// Nak or Reject; what it leaves alone is acked. It is called whenever a Configure-Request
	// arrives in a state that has a transition for it, before the automaton acts, so it may
	// record the peer's values provisionally; they are the agreed values once the automaton
	// reaches Opened (ThisLayerUp), since the last request judged before that is the one acked.
	CheckRequest(req []Option, r *Reply)
	// ReceiveAck: the peer acked our last Configure-Request (the FSM has checked that the Ack
	// repeats it exactly); opts are our options, now agreed.
	ReceiveAck(opts []Option)
	// ReceiveNak: the peer Naked our last Configure-Request, suggesting opts. The next
	// AppendRequest should take them into account. An error marks the Nak invalid: it is
	// silently discarded and the automaton does not move.
	ReceiveNak(opts []Option) error
	// ReceiveReject: the peer rejected opts (the FSM has checked they are, in order and
	// unmodified, options of our last request). The next AppendRequest must leave them out.
	// An error marks the Reject invalid, as for ReceiveNak.
	ReceiveReject(opts []Option) error

	ThisLayerUp()       // tlu: the automaton entered Opened
	ThisLayerDown()     // tld: the automaton left Opened
	ThisLayerStarted()  // tls: the lower layer is needed (for LCP: bring the link up)
	ThisLayerFinished() // tlf: the lower layer is no longer needed (for LCP: hang up)
}

// CodeHandler is implemented by a personality that has codes beyond 1–7 (LCP's
// Protocol-Reject, Echo and Discard, RFC 1661 §5.7–§5.9, and RFC 1570's codes). Without it
// every such code is unknown (RUC) and answered with a Code-Reject, as an NCP must.
type CodeHandler interface {
	// ClassifyCode says which event a received packet with a code above 7 is: EvRXR (part of
	// the protocol: Echo-Request, Echo-Reply, Discard-Request), EvRXJPlus or EvRXJMinus (a
	// Protocol-Reject), or EvRUC (unknown: the FSM sends a Code-Reject). Any other Event
	// counts as EvRUC.
	ClassifyCode(p Packet) Event
	// CodeRejected says whether a Code-Reject of one of the protocol's own codes above 7 is
	// permitted (RXJ+: carry on without it) or catastrophic (RXJ-). A Code-Reject of codes
	// 1–7 is always catastrophic.
	CodeRejected(c Code) (permitted bool)
	// ReceiveRXR is the ser action: an EvRXR packet arrived in Opened. It answers an
	// Echo-Request (with SendPacket) and takes note of the others. In any other state such
	// packets are dropped without a call.
	ReceiveRXR(p Packet)
}

// TerminateObserver is implemented by a personality that wants the data of a peer's
// Terminate-Request (often a reason in text, e.g. pppd's "Call me back, please").
type TerminateObserver interface {
	TerminateRequested(data []byte)
}

// Config holds what the FSM needs besides its personality. Zero values take the RFC 1661
// §4.6 defaults.
type Config struct {
	// Name of the protocol, for logs ("LCP", "IPCP").
	Name string
	// Send transmits one control packet (Code, Identifier, Length, Data). The slice is only
	// valid during the call: frame and write it, or copy it.
	Send func(pkt []byte)

	RestartTimer time.Duration // default 3 s
	MaxTerminate int           // Terminate-Requests sent before giving up; default 2
	MaxConfigure int           // Configure-Requests sent without an answer before giving up; default 10
	MaxFailure   int           // Configure-Naks sent without an Ack before Naks turn into Rejects; default 5

	// Passive is RFC 1661's [p] option (§4.2, Stopped): when the peer never answers our
	// Configure-Requests, the automaton waits in Stopped for the peer's without signalling
	// This-Layer-Finished. For dedicated circuits; not for switched ones (a dial-up call would
	// then never be hung up by LCP).
	Passive bool
	// RestartOnOpen is RFC 1661's [r] option (§4.3, Open): an Open in Opened, Closing,
	// Stopping or Stopped is followed by a Down and an Up, renegotiating the link.
	RestartOnOpen bool

	// Now is the clock for the Restart timer's deadline; default time.Now.
	Now func() time.Time
	// Logger gets transitions (Debug) and oddities; default discards.
	Logger *slog.Logger
	// Trace, if set, is called after every transition the automaton makes.
	Trace func(Transition)
}

// Transition describes one step of the automaton, for Config.Trace and logs.
type Transition struct {
	From    State
	Event   Event
	To      State
	Actions [maxActions]Action
	N       int // Actions[:N] were performed, in order
}

// ActionList returns the actions performed.
func (t Transition) ActionList() []Action { return t.Actions[:t.N] }

func (t Transition) String() string {
	var b []byte
	b = fmt.Appendf(b, "%v --%v-->", t.From, t.Event)
	for i, a := range t.ActionList() {
		if i == 0 {
			b = append(b, ' ')
		} else {
			b = append(b, ',')
		}
		b = append(b, a.String()...)
	}
	b = fmt.Appendf(b, " %v", t.To)
	return string(b)
}

// FSMStats counts what the automaton did besides moving between states.
type FSMStats struct {
	Received    uint64 // control packets given to Receive
	Discarded   uint64 // packets silently discarded: malformed, stale or mismatched identifier, not matching our request
	Illegal     uint64 // events the table has no transition for ('-'), e.g. a packet while the lower layer is down
	Crossed     uint64 // Configure-Ack/Nak/Reject in Ack-Rcvd or Opened (RFC 1661 §4.3 RCA [x])
	CodeRejects uint64 // Code-Rejects sent
}

// FSM is the option negotiation automaton of RFC 1661 §4, exactly per the §4.1 table, with
// the Restart timer and the Max-Terminate, Max-Configure and Max-Failure counters of §4.6.
//
// It has no goroutine and no lock: the caller owns it and calls it from one goroutine.
// Time enters only through Timeout (or Poll): the caller arms a timer from Deadline after
// each call, and a test calls Timeout directly.
//
// Identifiers (RFC 1661 §5): a Configure-Ack, -Nak or -Reject is accepted only if it carries
// the Identifier of our last Configure-Request and is the first valid reply to it; anything
// else is silently discarded. A retransmission of an unanswered, unchanged request keeps its
// Identifier, so that a slow answer to the first copy still counts.
type FSM struct {
	p     Personality
	codes CodeHandler
	cfg   Config
	log   *slog.Logger

	state    State
	restart  int // Restart counter
	failures int // Configure-Naks sent since the last Configure-Ack
	timerOn  bool
	deadline time.Time

	id         uint8 // last Identifier used
	reqID      uint8 // Identifier of our last Configure-Request
	reqSent    bool
	reqReplied bool
	reqData    []byte // options of our last Configure-Request
	termReason []byte
	maxPacket  int

	cur    Packet // the packet being handled (sta, sca, scn, scj, ser answer it)
	curRaw []byte
	reply  Reply
	opts   []Option
	build  []byte
	out    []byte

	busy  bool
	queue []input
	stats FSMStats
}

type inputKind uint8

const (
	inUp inputKind = iota
	inDown
	inOpen
	inClose
	inTimeout
	inReceive
	inProtoReject
)

type input struct {
	kind   inputKind
	data   []byte
	reason string
}

// NewFSM returns an automaton in the Initial state.
func NewFSM(p Personality, cfg Config) *FSM {
	if cfg.RestartTimer <= 0 {
		cfg.RestartTimer = DefaultRestartTimer
	}
	if cfg.MaxTerminate <= 0 {
		cfg.MaxTerminate = DefaultMaxTerminate
	}
	if cfg.MaxConfigure <= 0 {
		cfg.MaxConfigure = DefaultMaxConfigure
	}
	if cfg.MaxFailure <= 0 {
		cfg.MaxFailure = DefaultMaxFailure
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Send == nil {
		cfg.Send = func([]byte) {}
	}
	if cfg.Name == "" {
		cfg.Name = "PPP"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &FSM{p: p, cfg: cfg, log: log.With("proto", cfg.Name), maxPacket: DefaultMRU}
	f.codes, _ = p.(CodeHandler)
	return f
}

// State returns the current state.
func (f *FSM) State() State { return f.state }

// Stats returns the counters.
func (f *FSM) Stats() FSMStats { return f.stats }

// Deadline returns when the Restart timer expires, and whether it is running. The caller
// calls Timeout (or Poll) then. It changes with every call that handles an event.
func (f *FSM) Deadline() (time.Time, bool) { return f.deadline, f.timerOn }

// SetPeerMRU sets the longest packet the peer accepts (its negotiated MRU), to which
// Code-Rejects are truncated (RFC 1661 §5.6). Default DefaultMRU.
func (f *FSM) SetPeerMRU(n int) {
	f.maxPacket = max(n, headerLen+1)
}

// Up signals that the lower layer is up.
func (f *FSM) Up() { f.post(input{kind: inUp}) }

// Down signals that the lower layer is down.
func (f *FSM) Down() { f.post(input{kind: inDown}) }

// Open is the administrative Open: the link may be used.
func (f *FSM) Open() { f.post(input{kind: inOpen}) }

// Close is the administrative Close; reason goes in the Data of our Terminate-Requests.
func (f *FSM) Close(reason string) { f.post(input{kind: inClose, reason: reason}) }

// Timeout signals that the Restart timer expired (TO+ or TO-, by the Restart counter). It is
// ignored if the timer is not running, so a late timer is harmless.
func (f *FSM) Timeout() { f.post(input{kind: inTimeout}) }

// Poll calls Timeout if the Restart timer is running and its deadline is not after now.
func (f *FSM) Poll(now time.Time) {
	if f.timerOn && !now.Before(f.deadline) {
		f.Timeout()
	}
}

// ProtocolRejected signals that the peer's LCP rejected this protocol (a Protocol-Reject
// naming it, RFC 1661 §5.7): the catastrophic RXJ- event.
func (f *FSM) ProtocolRejected() { f.post(input{kind: inProtoReject}) }

// Receive handles one control packet of this protocol (the information field of a frame).
// The FSM does not keep pkt after the call.
func (f *FSM) Receive(pkt []byte) { f.post(input{kind: inReceive, data: pkt}) }

// NextID returns a fresh Identifier for a packet the personality originates (Echo-Request,
// Protocol-Reject, ...).
func (f *FSM) NextID() uint8 {
	f.id++
	return f.id
}

// SendPacket sends a control packet of this protocol; for the personality's own codes.
func (f *FSM) SendPacket(code Code, id uint8, data []byte) {
	f.out = Packet{Code: code, ID: id, Data: data}.Append(f.out[:0])
	f.cfg.Send(f.out)
}

// post runs an input, or queues it if the FSM is already handling one (a callback called
// back): events are handled one at a time, in order.
func (f *FSM) post(in input) {
	if f.busy {
		if in.data != nil {
			in.data = bytes.Clone(in.data)
		}
		f.queue = append(f.queue, in)
		return
	}
	f.busy = true
	defer func() { f.busy = false }()
	f.run(in)
	for i := 0; i < len(f.queue); i++ {
		f.run(f.queue[i])
		f.queue[i] = input{}
	}
	f.queue = f.queue[:0]
}

func (f *FSM) run(in input) {
	f.cur, f.curRaw = Packet{}, nil
	switch in.kind {
	case inUp:
		f.dispatch(EvUp)
	case inDown:
		f.dispatch(EvDown)
	case inOpen:
		from := f.state
		f.dispatch(EvOpen)
		if f.cfg.RestartOnOpen && (from == StateOpened || from == StateClosing ||
			from == StateStopping || from == StateStopped) {
			f.dispatch(EvDown)
			f.dispatch(EvUp)
		}
	case inClose:
		f.termReason = append(f.termReason[:0], in.reason...)
		f.dispatch(EvClose)
	case inTimeout:
		if !f.timerOn {
			return // stale: the timer was stopped or restarted since it was armed
		}
		f.timerOn = false
		if f.restart > 0 {
			f.dispatch(EvTOPlus)
		} else {
			f.dispatch(EvTOMinus)
		}
	case inProtoReject:
		f.dispatch(EvRXJMinus)
	case inReceive:
		f.receive(in.data)
	}
}

// discard drops a received packet silently (RFC 1661 §5: invalid packets are silently
// discarded), counting and logging why.
func (f *FSM) discard(why string, err error) {
	f.stats.Discarded++
	if f.log.Enabled(context.Background(), slog.LevelDebug) {
		f.log.Debug("discarded control packet", "state", f.state, "code", f.cur.Code, "id", f.cur.ID,
			"why", why, "err", err)
	}
}

// receive turns a packet into its event (RFC 1661 §4.3).
func (f *FSM) receive(b []byte) {
	f.stats.Received++
	p, err := ParsePacket(b)
	if err != nil {
		f.discard("malformed", err)
		return
	}
	f.cur, f.curRaw = p, b[:p.Len()]
	if p.Code > CodeCodeReject {
		ev := EvRUC
		if f.codes != nil {
			switch e := f.codes.ClassifyCode(p); e {
			case EvRXR, EvRXJPlus, EvRXJMinus:
				ev = e
			}
		}
		f.dispatch(ev)
		return
	}
	switch p.Code {
	case CodeConfigureRequest:
		if !table[EvRCRPlus][f.state].legal {
			f.dispatch(EvRCRPlus) // counted as illegal; the request is not judged
			return
		}
		opts, err := ParseOptions(f.opts[:0], p.Data)
		f.opts = opts
		if err != nil {
			f.discard("malformed options", err)
			return
		}
		if !f.state.negotiating() {
			f.failures = 0 // a new negotiation starts with this request
		}
		f.reply.reset(opts, f.failures >= f.cfg.MaxFailure)
		f.p.CheckRequest(opts, &f.reply)
		if f.reply.Code() == CodeConfigureAck {
			f.dispatch(EvRCRPlus)
		} else {
			f.dispatch(EvRCRMinus)
		}
	case CodeConfigureAck:
		if !f.replyMatches(p.ID) {
			f.discard("identifier does not match an unanswered Configure-Request", nil)
			return
		}
		if !bytes.Equal(p.Data, f.reqData) {
			f.discard("Configure-Ack does not repeat our request", nil)
			return
		}
		if f.state.negotiating() || f.state == StateOpened {
			opts, _ := ParseOptions(f.opts[:0], f.reqData)
			f.opts = opts
			f.p.ReceiveAck(opts)
		}
		f.reqReplied = true
		f.dispatch(EvRCA)
	case CodeConfigureNak, CodeConfigureReject:
		if !f.replyMatches(p.ID) {
			f.discard("identifier does not match an unanswered Configure-Request", nil)
			return
		}
		opts, err := ParseOptions(f.opts[:0], p.Data)
		f.opts = opts
		if err != nil {
			f.discard("malformed options", err)
			return
		}
		if p.Code == CodeConfigureReject && !f.rejectsOurs(opts) {
			f.discard("Configure-Reject of options we did not request", nil)
			return
		}
		if f.state.negotiating() || f.state == StateOpened {
			if p.Code == CodeConfigureNak {
				err = f.p.ReceiveNak(opts)
			} else {
				err = f.p.ReceiveReject(opts)
			}
			if err != nil {
				f.discard("personality refused it", err)
				return
			}
		}
		f.reqReplied = true
		f.dispatch(EvRCN)
	case CodeTerminateRequest:
		if t, ok := f.p.(TerminateObserver); ok && table[EvRTR][f.state].legal {
			t.TerminateRequested(p.Data)
		}
		if f.log.Enabled(context.Background(), slog.LevelInfo) && table[EvRTR][f.state].legal {
			f.log.Info("peer sent Terminate-Request", "state", f.state, "data", fmt.Sprintf("%.64q", p.Data))
		}
		f.dispatch(EvRTR)
	case CodeTerminateAck:
		f.dispatch(EvRTA)
	case CodeCodeReject:
		if len(p.Data) == 0 {
			f.discard("empty Code-Reject", nil)
			return
		}
		rejected := Code(p.Data[0])
		permitted := false
		if rejected > CodeCodeReject || rejected == 0 {
			permitted = true
			if f.codes != nil {
				permitted = f.codes.CodeRejected(rejected)
			}
		}
		if table[EvRXJPlus][f.state].legal {
			f.log.Warn("peer rejected a code", "state", f.state, "code", rejected, "permitted", permitted)
		}
		if permitted {
			f.dispatch(EvRXJPlus)
		} else {
			f.dispatch(EvRXJMinus)
		}
	default: // code 0
		f.dispatch(EvRUC)
	}
}

// replyMatches reports whether a Configure-Ack/Nak/Reject with this Identifier answers our
// last Configure-Request and nothing has answered it yet (RFC 1661 §5.2–§5.4).
func (f *FSM) replyMatches(id uint8) bool {
	return f.reqSent && !f.reqReplied && id == f.reqID
}

// rejectsOurs reports whether rejected are options of our last request, in order and
// unmodified (RFC 1661 §5.4); a Configure-Reject that isn't is invalid.
func (f *FSM) rejectsOurs(rejected []Option) bool {
	var ours [16]Option
	req, err := ParseOptions(ours[:0], f.reqData)
	if err != nil {
		return false
	}
	j := 0
	for _, r := range rejected {
		for j < len(req) && !req[j].Equal(r) {
			j++
		}
		if j == len(req) {
			return false
		}
		j++
	}
	return true
}

// dispatch performs the transition for ev in the current state.
func (f *FSM) dispatch(ev Event) {
	from := f.state
	c := table[ev][from]
	if !c.legal {
		f.stats.Illegal++
		f.log.Debug("illegal event ignored", "state", from, "event", ev)
		return
	}
	if (ev == EvRCA || ev == EvRCN) && (from == StateAckRcvd || from == StateOpened) {
		f.stats.Crossed++
		f.log.Warn("crossed connection: Configure reply in "+from.String(), "event", ev, "id", f.cur.ID)
	}
	tr := Transition{From: from, Event: ev, To: c.next}
	f.state = c.next
	for _, a := range c.acts[:c.n] {
		if a == ActTLF && ev == EvTOMinus && f.cfg.Passive && from.negotiating() {
			continue // [p]: wait in Stopped for the peer instead
		}
		tr.Actions[tr.N] = a
		tr.N++
		f.act(a, from, ev, c)
	}
	if !f.state.timed() {
		f.timerOn = false
	}
	if f.log.Enabled(context.Background(), slog.LevelDebug) {
		f.log.Debug("transition", "from", tr.From, "event", tr.Event, "actions", tr.ActionList(), "to", tr.To)
	}
	if f.cfg.Trace != nil {
		f.cfg.Trace(tr)
	}
}

// act performs one action (RFC 1661 §4.4).
func (f *FSM) act(a Action, from State, ev Event, c cell) {
	switch a {
	case ActTLU:
		f.p.ThisLayerUp()
	case ActTLD:
		f.p.ThisLayerDown()
	case ActTLS:
		f.p.ThisLayerStarted()
	case ActTLF:
		f.p.ThisLayerFinished()
	case ActIRC:
		// Max-Terminate before a Terminate-Request, Max-Configure otherwise (§4.4 irc).
		f.restart = f.cfg.MaxConfigure
		for _, b := range c.acts[:c.n] {
			if b == ActSTR {
				f.restart = f.cfg.MaxTerminate
			}
		}
	case ActZRC:
		// The timer still runs, so the peer gets a pause to see our Terminate-Ack (§4.4 zrc).
		f.restart = 0
		f.startTimer()
	case ActSCR:
		f.sendConfigureRequest(ev == EvTOPlus, !from.negotiating())
	case ActSCA:
		f.failures = 0
		f.SendPacket(CodeConfigureAck, f.cur.ID, f.cur.Data)
	case ActSCN:
		code := f.reply.Code()
		if code == CodeConfigureNak {
			f.failures++
		}
		f.build = f.reply.appendData(f.build[:0])
		f.SendPacket(code, f.cur.ID, f.build)
	case ActSTR:
		f.SendPacket(CodeTerminateRequest, f.NextID(), f.termReason)
		f.countDown()
		f.startTimer()
	case ActSTA:
		f.SendPacket(CodeTerminateAck, f.cur.ID, nil)
	case ActSCJ:
		// The rejected packet, truncated to fit the peer's MRU (RFC 1661 §5.6).
		rej := f.curRaw
		if n := f.maxPacket - headerLen; len(rej) > n {
			rej = rej[:n]
		}
		f.build = append(f.build[:0], rej...)
		f.stats.CodeRejects++
		f.SendPacket(CodeCodeReject, f.NextID(), f.build)
	case ActSER:
		if f.codes != nil {
			f.codes.ReceiveRXR(f.cur)
		}
	}
}

func (f *FSM) sendConfigureRequest(retransmit, fresh bool) {
	if fresh {
		f.failures = 0
	}
	f.build = f.p.AppendRequest(f.build[:0], fresh)
	// The Identifier changes when the options do or once the last request was answered;
	// an unanswered, unchanged request is resent as it was (RFC 1661 §5.1).
	if !(retransmit && f.reqSent && !f.reqReplied && bytes.Equal(f.build, f.reqData)) {
		f.reqID = f.NextID()
	}
	f.reqData = append(f.reqData[:0], f.build...)
	f.reqSent, f.reqReplied = true, false
	f.SendPacket(CodeConfigureRequest, f.reqID, f.reqData)
	f.countDown()
	f.startTimer()
}

// countDown decrements the Restart counter for a request sent (§4.4 scr, str).
func (f *FSM) countDown() {
	if f.restart > 0 {
		f.restart--
	}
}

func (f *FSM) startTimer() {
	f.timerOn = true
	f.deadline = f.cfg.Now().Add(f.cfg.RestartTimer)
}

// Reply collects a personality's judgement of the peer's Configure-Request (RFC 1661
// §5.2–§5.4). Options neither Naked nor Rejected are acceptable. The FSM sends:
//   - a Configure-Reject of the rejected options, in the request's order, if any was rejected;
//   - otherwise a Configure-Nak of the suggestions, in the request's order, then the
//     options asked to be added, if there are any;
//   - otherwise a Configure-Ack repeating the request.
//
// After Max-Failure Configure-Naks without a Configure-Ack, Naks of requested options become
// Rejects of them (RFC 1661 §4.6); an addition cannot be rejected and is then dropped (a
// personality that cannot live without it should Close).
type Reply struct {
	req      []Option
	rejected []bool
	naked    []bool
	naks     []nakEntry
	buf      []byte
	nRej     int
	nNaked   int
	convert  bool
}

type nakEntry struct {
	index int // request option it answers; len(req) for an addition (sorts last)
	typ   uint8
	off   int
	n     int
}

func (r *Reply) reset(req []Option, convert bool) {
	r.req = req
	r.rejected = resetBools(r.rejected, len(req))
	r.naked = resetBools(r.naked, len(req))
	r.naks = r.naks[:0]
	r.buf = r.buf[:0]
	r.nRej, r.nNaked = 0, 0
	r.convert = convert
}

func resetBools(b []bool, n int) []bool {
	if cap(b) < n {
		return make([]bool, n)
	}
	b = b[:n]
	clear(b)
	return b
}

// Reject rejects req[i], option i of the request (not recognised, or not negotiable).
func (r *Reply) Reject(i int) {
	if !r.rejected[i] {
		r.rejected[i] = true
		r.nRej++
	}
}

// Nak refuses the value of req[i], suggesting value instead. Calling it more than once for
// the same option lists several acceptable values (RFC 1661 §5.3).
func (r *Reply) Nak(i int, value []byte) {
	if !r.naked[i] {
		r.naked[i] = true
		r.nNaked++
	}
	r.addNak(i, r.req[i].Type, value)
}

// NakAdd asks the peer to include an option it left out (RFC 1661 §5.3).
func (r *Reply) NakAdd(typ uint8, value []byte) {
	r.addNak(len(r.req), typ, value)
}

func (r *Reply) addNak(i int, typ uint8, value []byte) {
	off := len(r.buf)
	r.buf = append(r.buf, value...)
	e := nakEntry{index: i, typ: typ, off: off, n: len(value)}
	// Insertion keeps request order (and call order among equals) whatever order the
	// personality judged in.
	j := len(r.naks)
	r.naks = append(r.naks, e)
	for j > 0 && r.naks[j-1].index > i {
		r.naks[j] = r.naks[j-1]
		j--
	}
	r.naks[j] = e
}

// RejectIfDisagree reports whether Max-Failure has been reached: Naks of requested options
// will be sent as Rejects.
func (r *Reply) RejectIfDisagree() bool { return r.convert }

// Code is the reply the judgement leads to: Configure-Ack, -Nak or -Reject.
func (r *Reply) Code() Code {
	switch {
	case r.nRej > 0, r.convert && r.nNaked > 0:
		return CodeConfigureReject
	case len(r.naks) > 0:
		return CodeConfigureNak
	}
	return CodeConfigureAck
}

// appendData appends the Options of a Nak or Reject.
func (r *Reply) appendData(dst []byte) []byte {
	if r.Code() == CodeConfigureReject {
		for i, o := range r.req {
			if r.rejected[i] || (r.convert && r.naked[i]) {
				dst = o.Append(dst)
			}
		}
		return dst
	}
	for _, e := range r.naks {
		dst = Option{Type: e.typ, Data: r.buf[e.off : e.off+e.n]}.Append(dst)
	}
	return dst
}
