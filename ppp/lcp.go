package ppp

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// LCP Configuration Option types (RFC 1661 §6, RFC 1662 §7.1, RFC 1570 §2.3).
const (
	LCPOptMRU      uint8 = 1  // Maximum-Receive-Unit (RFC 1661 §6.1)
	LCPOptACCM     uint8 = 2  // Async-Control-Character-Map (RFC 1662 §7.1)
	LCPOptAuth     uint8 = 3  // Authentication-Protocol (RFC 1661 §6.2)
	LCPOptQuality  uint8 = 4  // Quality-Protocol (RFC 1661 §6.3)
	LCPOptMagic    uint8 = 5  // Magic-Number (RFC 1661 §6.4)
	LCPOptPFC      uint8 = 7  // Protocol-Field-Compression (RFC 1661 §6.5)
	LCPOptACFC     uint8 = 8  // Address-and-Control-Field-Compression (RFC 1661 §6.6)
	LCPOptCallback uint8 = 13 // Callback (RFC 1570 §2.3)
)

// MinMRU is the smallest MRU accepted from a peer; smaller requests are Naked with it. RFC 1661
// sets no floor; 128 is pppd's, and leaves room for every control packet we send.
const MinMRU = 128

// CHAP algorithms in the Authentication-Protocol option (RFC 1994 §3, RFC 2759 §2).
const (
	chapAlgMD5     uint8 = 5    // CHAP with MD5 (RFC 1994 §3)
	chapAlgMSCHAP2 uint8 = 0x81 // MS-CHAPv2 (RFC 2759 §2)
)

// AuthProto is an authentication protocol as negotiated by LCP's Authentication-Protocol option.
type AuthProto uint8

// Authentication protocols.
const (
	AuthNone     AuthProto = iota // no authentication
	AuthPAP                       // PAP, protocol c023 (RFC 1334 §2)
	AuthCHAP                      // CHAP with MD5, protocol c223 algorithm 5 (RFC 1994)
	AuthMSCHAPv2                  // MS-CHAPv2, protocol c223 algorithm 0x81 (RFC 2759)
)

func (a AuthProto) String() string {
	switch a {
	case AuthNone:
		return "none"
	case AuthPAP:
		return "pap"
	case AuthCHAP:
		return "chap"
	case AuthMSCHAPv2:
		return "ms-chap-v2"
	}
	return fmt.Sprintf("AuthProto(%d)", uint8(a))
}

// ParseAuthProto reads a protocol name as IOS writes it in `ppp authentication chap pap`:
// "pap", "chap", "ms-chap-v2" (also "mschapv2", "ms-chapv2").
func ParseAuthProto(name string) (AuthProto, error) {
	switch strings.ToLower(name) {
	case "pap":
		return AuthPAP, nil
	case "chap":
		return AuthCHAP, nil
	case "ms-chap-v2", "mschapv2", "ms-chapv2", "mschap-v2":
		return AuthMSCHAPv2, nil
	}
	return AuthNone, fmt.Errorf("authentication protocol %q: want pap, chap or ms-chap-v2", name)
}

// optionData is the Data of the Authentication-Protocol option asking for a.
func (a AuthProto) optionData() []byte {
	switch a {
	case AuthPAP:
		return binary.BigEndian.AppendUint16(nil, ProtoPAP)
	case AuthCHAP:
		return append(binary.BigEndian.AppendUint16(nil, ProtoCHAP), chapAlgMD5)
	case AuthMSCHAPv2:
		return append(binary.BigEndian.AppendUint16(nil, ProtoCHAP), chapAlgMSCHAP2)
	}
	return nil
}

// parseAuthOption reads the Data of an Authentication-Protocol option; ok is false for a
// protocol or algorithm we do not implement (EAP, MS-CHAPv1, SHA-1 CHAP, ...) or a bad length.
func parseAuthOption(d []byte) (AuthProto, bool) {
	if len(d) < 2 {
		return AuthNone, false
	}
	switch binary.BigEndian.Uint16(d) {
	case ProtoPAP:
		if len(d) == 2 {
			return AuthPAP, true
		}
	case ProtoCHAP:
		if len(d) == 3 {
			switch d[2] {
			case chapAlgMD5:
				return AuthCHAP, true
			case chapAlgMSCHAP2:
				return AuthMSCHAPv2, true
			}
		}
	}
	return AuthNone, false
}

// Callback operations of LCP option 13 (RFC 1570 §2.3).
const (
	CallbackOpAuth       uint8 = 0 // location determined by user authentication
	CallbackOpDialString uint8 = 1 // Message is a dial string
	CallbackOpLocationID uint8 = 2 // Message is a location identifier
	CallbackOpE164       uint8 = 3 // Message is an E.164 number
	CallbackOpName       uint8 = 4 // Message is a distinguished name
	CallbackOpCBCP       uint8 = 6 // use the Callback Control Protocol (MS-CBCP); no Message
)

// CallbackRequest is an LCP Callback option (RFC 1570 §2.3): what a client asks for, and what
// a server acked.
type CallbackRequest struct {
	// Requested: the option was (to be) sent and acked.
	Requested bool
	// Op is the operation (CallbackOp...).
	Op uint8
	// Message is the operation's message: the number for ops 1 and 3. A CBCP client (op 6)
	// keeps here the number it will give in its CBCP Response; it is not sent in LCP.
	Message string
}

func (c CallbackRequest) optionData() []byte {
	d := []byte{c.Op}
	if c.Op != CallbackOpCBCP {
		d = append(d, c.Message...)
	}
	return d
}

// LCPConfig is what LCP asks for and accepts.
type LCPConfig struct {
	// Server: the NAS answering a call (asks the peer to authenticate, may accept callback).
	Server bool
	// MRU we ask for; 0 or DefaultMRU: not asked (the default applies).
	MRU int
	// ACCM is the receive Async-Control-Character-Map we ask for. The zero value asks for no
	// escaping at all, as pppd does; DefaultACCM does not ask. A line with XON/XOFF flow control
	// wants 0x000A0000.
	ACCM uint32
	// NoPFC and NoACFC: do not ask the peer to compress towards us.
	NoPFC, NoACFC bool
	// Auth: a server's authentication protocols to require, in order of preference (IOS `ppp
	// authentication chap pap`); empty = no authentication. A client's protocols it can do,
	// in order of preference; empty = none (it Rejects a request to authenticate).
	Auth []AuthProto
	// CallbackAccept (server, IOS `ppp callback accept`): ack a Callback option with
	// operation 0, 1 or 3 (with a message) or 6 (CBCP). Without it the option is rejected.
	CallbackAccept bool
	// Callback (client): ask for this callback when Requested.
	Callback CallbackRequest
	// NoMagic: do not send a Magic-Number (loopback detection off).
	NoMagic bool
	// Magic draws Magic-Numbers; default crypto/rand. Zero results are drawn again.
	Magic func() uint32
	// LoopbackLimit: how many times a Magic-Number of ours may come back (in the peer's
	// Configure-Request or in a Configure-Nak of it) before the link is declared looped back
	// (RFC 1661 §6.4); default 5.
	LoopbackLimit int
	// EchoInterval is the keepalive period: an Echo-Request is sent this often once LCP is
	// open (IOS `keepalive`, default 10 s there); 0 = no keepalive.
	EchoInterval time.Duration
	// EchoFailures is how many Echo-Requests may go unanswered before the link is declared
	// dead (IOS keepalive retries); default 5.
	EchoFailures int
}

// LCPResult is what LCP agreed, valid once it is open.
type LCPResult struct {
	// MRU, ACCM and Magic are ours as the peer acked them (zero Magic: not negotiated).
	MRU   int
	ACCM  uint32
	Magic uint32
	// PeerMRU, PeerACCM and PeerMagic are the peer's as we acked them: we send packets of at
	// most PeerMRU octets and escape the characters of PeerACCM.
	PeerMRU   int
	PeerACCM  uint32
	PeerMagic uint32
	// PeerPFC and PeerACFC: the peer receives compressed fields, so we may send them.
	PeerPFC, PeerACFC bool
	// Auth is the authentication the client performs, whichever side we are.
	Auth AuthProto
	// Callback is the callback the client asked for and the server acked.
	Callback CallbackRequest
}

func defaultLCPResult() LCPResult {
	return LCPResult{MRU: DefaultMRU, ACCM: DefaultACCM, PeerMRU: DefaultMRU, PeerACCM: DefaultACCM}
}

// LCPStats counts LCP's own packets.
type LCPStats struct {
	EchoRequestsSent uint64
	EchoRepliesSent  uint64
	EchoRepliesRcvd  uint64
	BadMagic         uint64 // echoes with a Magic-Number that is neither the peer's nor zero
	LoopedEchoes     uint64 // echoes carrying our own Magic-Number
	DiscardsRcvd     uint64
	ProtocolRejects  uint64 // Protocol-Rejects sent
	ProtocolRejected uint64 // Protocol-Rejects received
	Identifications  uint64 // RFC 1570 Identification and Time-Remaining received
}

// lcpFailure says why LCP itself wants the link closed.
type lcpFailure uint8

const (
	lcpAuthRefused lcpFailure = iota + 1 // server: the peer will do none of our protocols
	lcpLoopback                          // our Magic-Number keeps coming back
	lcpKeepalive                         // Echo-Requests unanswered
)

// lcpWants is what our next Configure-Request asks for; reset at each fresh negotiation.
type lcpWants struct {
	mru      int
	sendMRU  bool
	accm     uint32
	sendACCM bool
	auth     int  // index in cfg.Auth of the protocol we ask for (server)
	authOff  bool // no protocol left (server) — the link must not open
	tried    uint32
	magic    uint32
	pfc      bool
	acfc     bool
	callback CallbackRequest // client
}

// LCP is the Link Control Protocol (RFC 1661 §5, §6; RFC 1570): the FSM's personality for
// protocol c021, the handler of LCP's own codes (Protocol-Reject, Echo, Discard), and the
// keepalive. Like the FSM it owns no goroutine; the Link drives it.
type LCP struct {
	cfg   LCPConfig
	fsm   *FSM
	log   *slog.Logger
	now   func() time.Time
	want  lcpWants
	peer  LCPResult // the peer's side from the last request judged
	res   LCPResult
	up    bool
	loops int

	echoOn      bool
	echoNext    time.Time
	outstanding int
	echoBuf     []byte

	peerTermReason string
	stats          LCPStats

	// Hooks set by the Link; nil-safe.
	onUp            func()
	onDown          func()
	onFinished      func()
	onFail          func(lcpFailure)
	onProtoRejected func(proto uint16)
	onTerminate     func(reason string)
}

// NewLCP returns LCP with its automaton in the Initial state. fc.Name defaults to "LCP".
func NewLCP(cfg LCPConfig, fc Config) *LCP {
	if cfg.Magic == nil {
		cfg.Magic = randomMagic
	}
	if cfg.LoopbackLimit <= 0 {
		cfg.LoopbackLimit = 5
	}
	if cfg.EchoFailures <= 0 {
		cfg.EchoFailures = 5
	}
	if fc.Name == "" {
		fc.Name = "LCP"
	}
	if fc.Now == nil {
		fc.Now = time.Now
	}
	l := &LCP{cfg: cfg, now: fc.Now, peer: defaultLCPResult(), res: defaultLCPResult()}
	l.log = fc.Logger
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.fsm = NewFSM(l, fc)
	return l
}

// FSM returns LCP's automaton.
func (l *LCP) FSM() *FSM { return l.fsm }

// Result returns what was agreed; meaningful once LCP is Opened.
func (l *LCP) Result() LCPResult { return l.res }

// Stats returns the counters.
func (l *LCP) Stats() LCPStats { return l.stats }

// PeerTerminateReason is the text of the peer's last Terminate-Request.
func (l *LCP) PeerTerminateReason() string { return l.peerTermReason }

func randomMagic() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return binary.BigEndian.Uint32(b[:])
}

// newMagic draws a non-zero Magic-Number different from the current one.
func (l *LCP) newMagic() uint32 {
	for range 16 {
		if m := l.cfg.Magic(); m != 0 && m != l.want.magic {
			return m
		}
	}
	// A source that keeps giving the same number (a test's, or a broken one): take it if
	// non-zero; the loopback counter ends the negotiation if it matters.
	if m := l.cfg.Magic(); m != 0 {
		return m
	}
	return 1
}

func (l *LCP) initialWants() lcpWants {
	w := lcpWants{
		mru:      l.cfg.MRU,
		sendMRU:  l.cfg.MRU > 0 && l.cfg.MRU != DefaultMRU,
		accm:     l.cfg.ACCM,
		sendACCM: l.cfg.ACCM != DefaultACCM,
		pfc:      !l.cfg.NoPFC,
		acfc:     !l.cfg.NoACFC,
	}
	if l.cfg.Server {
		w.authOff = len(l.cfg.Auth) == 0
		if !w.authOff {
			w.tried = 1
		}
	} else {
		w.callback = l.cfg.Callback
	}
	return w
}

// AppendRequest implements Personality.
func (l *LCP) AppendRequest(dst []byte, fresh bool) []byte {
	if fresh {
		l.want = l.initialWants()
		if !l.cfg.NoMagic {
			l.want.magic = l.newMagic()
		}
	}
	w := &l.want
	if w.sendMRU {
		dst = Option{Type: LCPOptMRU, Data: binary.BigEndian.AppendUint16(nil, uint16(w.mru))}.Append(dst)
	}
	if w.sendACCM {
		dst = Option{Type: LCPOptACCM, Data: binary.BigEndian.AppendUint32(nil, w.accm)}.Append(dst)
	}
	if l.cfg.Server && !w.authOff {
		dst = Option{Type: LCPOptAuth, Data: l.cfg.Auth[w.auth].optionData()}.Append(dst)
	}
	if w.magic != 0 {
		dst = Option{Type: LCPOptMagic, Data: binary.BigEndian.AppendUint32(nil, w.magic)}.Append(dst)
	}
	if w.pfc {
		dst = Option{Type: LCPOptPFC}.Append(dst)
	}
	if w.acfc {
		dst = Option{Type: LCPOptACFC}.Append(dst)
	}
	if !l.cfg.Server && w.callback.Requested {
		dst = Option{Type: LCPOptCallback, Data: w.callback.optionData()}.Append(dst)
	}
	return dst
}

// canDo reports whether a client can perform a.
func (l *LCP) canDo(a AuthProto) bool {
	for _, b := range l.cfg.Auth {
		if a == b {
			return true
		}
	}
	return false
}

// CheckRequest implements Personality: it judges the peer's Configure-Request.
func (l *LCP) CheckRequest(req []Option, r *Reply) {
	// Our own Magic-Number: a looped-back line or a coincidence. Suggest another (RFC 1661
	// §6.4) and judge nothing else, so that on a looped line our own Configure-Request comes
	// back as a Nak of the Magic-Number alone, and the loop shows, rather than as a Reject of
	// options only the other role would accept.
	for i, o := range req {
		if o.Type == LCPOptMagic && len(o.Data) == 4 && l.want.magic != 0 &&
			binary.BigEndian.Uint32(o.Data) == l.want.magic {
			l.loopSeen()
			r.Nak(i, binary.BigEndian.AppendUint32(nil, l.newMagic()))
			return
		}
	}
	p := defaultLCPResult()
	for i, o := range req {
		switch o.Type {
		case LCPOptMRU:
			if len(o.Data) != 2 {
				r.Reject(i)
				continue
			}
			v := int(binary.BigEndian.Uint16(o.Data))
			if v < MinMRU {
				r.Nak(i, binary.BigEndian.AppendUint16(nil, MinMRU))
				continue
			}
			p.PeerMRU = v
		case LCPOptACCM:
			if len(o.Data) != 4 {
				r.Reject(i)
				continue
			}
			p.PeerACCM = binary.BigEndian.Uint32(o.Data)
		case LCPOptAuth:
			// A NAS does not authenticate itself to its callers; a client with nothing it can
			// do says so by rejecting (the server will then hang up).
			if l.cfg.Server || len(l.cfg.Auth) == 0 {
				r.Reject(i)
				continue
			}
			if a, ok := parseAuthOption(o.Data); ok && l.canDo(a) {
				p.Auth = a
				continue
			}
			// Suggest our preference; RFC 1661 §6.2 lets a Nak name the protocol we want.
			r.Nak(i, l.cfg.Auth[0].optionData())
		case LCPOptMagic:
			if len(o.Data) != 4 {
				r.Reject(i)
				continue
			}
			v := binary.BigEndian.Uint32(o.Data)
			if v == 0 {
				// A zero Magic-Number "MUST always be Nak'd" (RFC 1661 §6.4).
				r.Nak(i, binary.BigEndian.AppendUint32(nil, l.newMagic()))
				continue
			}
			l.loops = 0
			p.PeerMagic = v
		case LCPOptPFC, LCPOptACFC:
			if len(o.Data) != 0 {
				r.Reject(i)
				continue
			}
			if o.Type == LCPOptPFC {
				p.PeerPFC = true
			} else {
				p.PeerACFC = true
			}
		case LCPOptCallback:
			cb, ok := l.acceptCallback(o.Data)
			if !ok {
				r.Reject(i)
				continue
			}
			p.Callback = cb
		default:
			// Quality-Protocol, pppd's and Microsoft's extensions, anything else.
			r.Reject(i)
		}
	}
	l.peer = p
}

// acceptCallback judges a Callback option: a server with callback accept takes operations 0,
// 1 and 3 with a message, and 6 (RFC 1570 §2.3, MS-CBCP).
func (l *LCP) acceptCallback(d []byte) (CallbackRequest, bool) {
	if !l.cfg.Server || !l.cfg.CallbackAccept || len(d) < 1 {
		return CallbackRequest{}, false
	}
	cb := CallbackRequest{Requested: true, Op: d[0], Message: string(d[1:])}
	switch cb.Op {
	case CallbackOpAuth:
	case CallbackOpCBCP:
		cb.Message = ""
	case CallbackOpDialString, CallbackOpE164:
		if cb.Message == "" {
			return CallbackRequest{}, false
		}
	default:
		return CallbackRequest{}, false
	}
	return cb, true
}

func (l *LCP) loopSeen() {
	l.loops++
	if l.loops == l.cfg.LoopbackLimit {
		l.log.Warn("Magic-Number keeps coming back: the line is looped back", "magic", l.want.magic, "times", l.loops)
		if l.onFail != nil {
			l.onFail(lcpLoopback)
		}
	}
}

// ReceiveAck implements Personality: opts, our last request, are agreed.
func (l *LCP) ReceiveAck(opts []Option) {
	r := &l.res
	r.MRU, r.ACCM, r.Magic = DefaultMRU, DefaultACCM, 0
	r.Callback = CallbackRequest{}
	if l.cfg.Server {
		r.Auth = AuthNone
	}
	for _, o := range opts {
		switch o.Type {
		case LCPOptMRU:
			r.MRU = int(binary.BigEndian.Uint16(o.Data))
		case LCPOptACCM:
			r.ACCM = binary.BigEndian.Uint32(o.Data)
		case LCPOptMagic:
			r.Magic = binary.BigEndian.Uint32(o.Data)
		case LCPOptAuth:
			r.Auth, _ = parseAuthOption(o.Data)
		case LCPOptCallback:
			r.Callback = l.want.callback
		}
	}
}

// ReceiveNak implements Personality: take the peer's suggestions into the next request.
func (l *LCP) ReceiveNak(opts []Option) error {
	w := &l.want
	authNaked := false
	var suggested []AuthProto
	for _, o := range opts {
		switch o.Type {
		case LCPOptMRU:
			if len(o.Data) != 2 {
				return fmt.Errorf("nak of MRU with %d octets", len(o.Data))
			}
			if v := int(binary.BigEndian.Uint16(o.Data)); v >= MinMRU && v <= DefaultMRU {
				w.mru, w.sendMRU = v, v != DefaultMRU
			} else {
				w.sendMRU = false // the default it is
			}
		case LCPOptACCM:
			if len(o.Data) != 4 {
				return fmt.Errorf("nak of ACCM with %d octets", len(o.Data))
			}
			// The peer needs these escaped as well (RFC 1662 §7.1).
			w.accm |= binary.BigEndian.Uint32(o.Data)
			w.sendACCM = w.accm != DefaultACCM
		case LCPOptAuth:
			if l.cfg.Server {
				authNaked = true
				if a, ok := parseAuthOption(o.Data); ok {
					suggested = append(suggested, a)
				}
			}
		case LCPOptMagic:
			if w.magic != 0 {
				// The peer has the same number, or it is our own coming back (RFC 1661 §6.4).
				l.loopSeen()
				w.magic = l.newMagic()
			}
		case LCPOptCallback:
			if !l.cfg.Server && w.callback.Requested && len(o.Data) >= 1 {
				switch op := o.Data[0]; {
				case op == CallbackOpCBCP || ((op == CallbackOpDialString || op == CallbackOpE164) && w.callback.Message != ""):
					w.callback.Op = op
				default:
					w.callback.Requested = false
				}
			}
		}
	}
	if authNaked && !w.authOff {
		l.nextAuth(suggested)
	}
	return nil
}

// nextAuth moves a server to the protocol the peer suggested if we allow it and have not tried
// it yet, otherwise to the next of ours not tried (IOS `ppp authentication chap pap`: a Nak of
// CHAP moves on to PAP). With none left the link cannot open.
func (l *LCP) nextAuth(suggested []AuthProto) {
	w := &l.want
	for _, s := range suggested {
		for i, a := range l.cfg.Auth {
			if a == s && w.tried&(1<<i) == 0 {
				l.log.Info("peer refused authentication protocol; trying the one it suggests",
					"refused", l.cfg.Auth[w.auth], "next", a)
				w.auth = i
				w.tried |= 1 << i
				return
			}
		}
	}
	for i, a := range l.cfg.Auth {
		if w.tried&(1<<i) == 0 {
			l.log.Info("peer refused authentication protocol; trying the next", "refused", l.cfg.Auth[w.auth], "next", a)
			w.auth = i
			w.tried |= 1 << i
			return
		}
	}
	l.refuseAuth()
}

func (l *LCP) refuseAuth() {
	l.want.authOff = true
	l.log.Warn("peer refused every authentication protocol we allow", "allowed", l.cfg.Auth)
	if l.onFail != nil {
		l.onFail(lcpAuthRefused)
	}
}

// ReceiveReject implements Personality: leave the rejected options out from now on.
func (l *LCP) ReceiveReject(opts []Option) error {
	w := &l.want
	for _, o := range opts {
		switch o.Type {
		case LCPOptMRU:
			w.sendMRU = false
		case LCPOptACCM:
			w.sendACCM = false
		case LCPOptAuth:
			if l.cfg.Server && !w.authOff {
				l.refuseAuth()
			}
		case LCPOptMagic:
			w.magic = 0
		case LCPOptPFC:
			w.pfc = false
		case LCPOptACFC:
			w.acfc = false
		case LCPOptCallback:
			// pppd carries on without callback when its request is refused; so do we.
			l.log.Info("peer rejected our callback request; carrying on without callback")
			w.callback.Requested = false
		}
	}
	return nil
}

// ThisLayerUp implements Personality.
func (l *LCP) ThisLayerUp() {
	l.res.PeerMRU, l.res.PeerACCM, l.res.PeerMagic = l.peer.PeerMRU, l.peer.PeerACCM, l.peer.PeerMagic
	l.res.PeerPFC, l.res.PeerACFC = l.peer.PeerPFC, l.peer.PeerACFC
	if l.cfg.Server {
		l.res.Callback = l.peer.Callback
	} else {
		l.res.Auth = l.peer.Auth
	}
	l.up = true
	l.loops = 0
	l.fsm.SetPeerMRU(l.res.PeerMRU)
	l.outstanding = 0
	l.echoOn = l.cfg.EchoInterval > 0
	if l.echoOn {
		l.echoNext = l.now().Add(l.cfg.EchoInterval)
	}
	l.log.Info("LCP up", "mru", l.res.MRU, "peer_mru", l.res.PeerMRU, "auth", l.res.Auth,
		"magic", l.res.Magic, "peer_magic", l.res.PeerMagic, "callback", l.res.Callback.Requested)
	if l.onUp != nil {
		l.onUp()
	}
}

// ThisLayerDown implements Personality.
func (l *LCP) ThisLayerDown() {
	l.up = false
	l.echoOn = false
	if l.onDown != nil {
		l.onDown()
	}
}

// ThisLayerStarted implements Personality; the link is already up when LCP starts.
func (l *LCP) ThisLayerStarted() {}

// ThisLayerFinished implements Personality: LCP no longer needs the line.
func (l *LCP) ThisLayerFinished() {
	if l.onFinished != nil {
		l.onFinished()
	}
}

// TerminateRequested implements TerminateObserver.
func (l *LCP) TerminateRequested(data []byte) {
	l.peerTermReason = string(data)
	if l.onTerminate != nil {
		l.onTerminate(l.peerTermReason)
	}
}

// ClassifyCode implements CodeHandler. Protocol-Rejects of other protocols are EvRXR, so that
// they are acted on only in Opened (RFC 1661 §5.7), through ReceiveRXR; a Protocol-Reject of
// LCP itself is catastrophic.
func (l *LCP) ClassifyCode(p Packet) Event {
	switch p.Code {
	case CodeProtocolReject:
		if len(p.Data) >= 2 && binary.BigEndian.Uint16(p.Data) == ProtoLCP {
			return EvRXJMinus
		}
		return EvRXR
	case CodeEchoRequest, CodeEchoReply, CodeDiscardRequest, CodeIdentification, CodeTimeRemaining:
		return EvRXR
	}
	return EvRUC
}

// CodeRejected implements CodeHandler: every code of ours above 7 is optional to the peer.
// One that will not answer Echo-Requests gets no keepalive.
func (l *LCP) CodeRejected(c Code) bool {
	if c == CodeEchoRequest && l.echoOn {
		l.log.Warn("peer rejects Echo-Request: keepalive off")
		l.echoOn = false
	}
	return true
}

// ReceiveRXR implements CodeHandler: the LCP codes that arrive in Opened.
func (l *LCP) ReceiveRXR(p Packet) {
	switch p.Code {
	case CodeEchoRequest, CodeEchoReply:
		if len(p.Data) < 4 {
			return // no Magic-Number field: invalid, silently discarded
		}
		m := binary.BigEndian.Uint32(p.Data)
		if l.res.Magic != 0 && m == l.res.Magic {
			l.stats.LoopedEchoes++
			l.log.Warn("received an echo carrying our own Magic-Number: the line may be looped", "code", p.Code)
			return
		}
		if m != l.res.PeerMagic && m != 0 {
			l.stats.BadMagic++
			l.log.Debug("echo with a Magic-Number that is not the peer's", "code", p.Code, "magic", m)
			return
		}
		if p.Code == CodeEchoReply {
			l.stats.EchoRepliesRcvd++
			l.outstanding = 0
			return
		}
		l.echoBuf = binary.BigEndian.AppendUint32(l.echoBuf[:0], l.res.Magic)
		l.echoBuf = append(l.echoBuf, p.Data[4:]...)
		if n := l.res.PeerMRU - headerLen; len(l.echoBuf) > n {
			l.echoBuf = l.echoBuf[:n]
		}
		l.stats.EchoRepliesSent++
		l.fsm.SendPacket(CodeEchoReply, p.ID, l.echoBuf)
	case CodeDiscardRequest:
		l.stats.DiscardsRcvd++
	case CodeProtocolReject:
		if len(p.Data) < 2 {
			return
		}
		proto := binary.BigEndian.Uint16(p.Data)
		l.stats.ProtocolRejected++
		l.log.Info("peer rejected a protocol", "protocol", fmt.Sprintf("%#04x", proto))
		if l.onProtoRejected != nil {
			l.onProtoRejected(proto)
		}
	case CodeIdentification, CodeTimeRemaining:
		l.stats.Identifications++
		if len(p.Data) >= 4 {
			l.log.Info("peer sent "+p.Code.String(), "text", fmt.Sprintf("%.64q", p.Data[4:]))
		}
	}
}

// SendProtocolReject rejects a frame of a protocol we do not speak (RFC 1661 §5.7): the
// rejected protocol and as much of the information field as fits the peer's MRU. Only in
// Opened; elsewhere the frame is silently discarded.
func (l *LCP) SendProtocolReject(proto uint16, info []byte) {
	if l.fsm.State() != StateOpened {
		return
	}
	l.echoBuf = binary.BigEndian.AppendUint16(l.echoBuf[:0], proto)
	l.echoBuf = append(l.echoBuf, info...)
	if n := l.res.PeerMRU - headerLen; len(l.echoBuf) > n {
		l.echoBuf = l.echoBuf[:n]
	}
	l.stats.ProtocolRejects++
	l.fsm.SendPacket(CodeProtocolReject, l.fsm.NextID(), l.echoBuf)
}

// Deadline returns when Poll next has something to do: the Restart timer or the next
// keepalive, whichever is first.
func (l *LCP) Deadline() (time.Time, bool) {
	d, ok := l.fsm.Deadline()
	if l.echoOn && l.up && (!ok || l.echoNext.Before(d)) {
		d, ok = l.echoNext, true
	}
	return d, ok
}

// Poll runs the Restart timer and the keepalive up to now.
func (l *LCP) Poll(now time.Time) {
	l.fsm.Poll(now)
	if !l.echoOn || !l.up || now.Before(l.echoNext) {
		return
	}
	if l.outstanding >= l.cfg.EchoFailures {
		l.echoOn = false
		l.log.Warn("keepalive: peer did not answer Echo-Requests", "unanswered", l.outstanding)
		if l.onFail != nil {
			l.onFail(lcpKeepalive)
		}
		return
	}
	l.echoBuf = binary.BigEndian.AppendUint32(l.echoBuf[:0], l.res.Magic)
	l.outstanding++
	l.stats.EchoRequestsSent++
	l.fsm.SendPacket(CodeEchoRequest, l.fsm.NextID(), l.echoBuf)
	l.echoNext = now.Add(l.cfg.EchoInterval)
}
