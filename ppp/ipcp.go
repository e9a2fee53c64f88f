package ppp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
)

// IPCP Configuration Option types.
const (
	IPCPOptAddresses     uint8 = 1   // IP-Addresses, deprecated (RFC 1332 §3.1); always rejected
	IPCPOptCompression   uint8 = 2   // IP-Compression-Protocol (RFC 1332 §3.2); VJ is rejected
	IPCPOptAddress       uint8 = 3   // IP-Address (RFC 1332 §3.3)
	IPCPOptPrimaryDNS    uint8 = 129 // Primary DNS Server Address (RFC 1877 §1.1)
	IPCPOptPrimaryNBNS   uint8 = 130 // Primary NBNS Server Address (RFC 1877 §1.2); rejected
	IPCPOptSecondaryDNS  uint8 = 131 // Secondary DNS Server Address (RFC 1877 §1.3)
	IPCPOptSecondaryNBNS uint8 = 132 // Secondary NBNS Server Address (RFC 1877 §1.4); rejected
)

// vjOption is the IP-Compression-Protocol option pppd sends: Van Jacobson compressed TCP/IP
// (0x002d), Max-Slot-Id 15, Comp-Slot-Id 1 (RFC 1332 §4). The client offers it only to behave
// like pppd in the lab; nothing here implements VJ.
var vjOption = []byte{0x00, 0x2d, 0x0f, 0x01}

// Errors with which IPCP gives up (IPCP.Err, IPCPConfig.OnFinished).
var (
	// ErrPeerAddress: the peer kept asking for an address other than the one assigned to it,
	// through Max-Failure Configure-Naks. The server closes IPCP rather than come up with a
	// peer that uses an address the NAS did not give it.
	ErrPeerAddress = errors.New("ipcp: peer insists on an address it was not assigned")
	// ErrNoAddress: the client needs its address from the server, and the server rejected
	// the IP-Address option.
	ErrNoAddress = errors.New("ipcp: peer will not assign an address")
)

// IPCPConfig is what IPCP negotiates.
type IPCPConfig struct {
	// Server is true for the NAS side, which assigns the peer's address; false for a caller.
	Server bool
	// Local is our address. Server: the NAS's address on the link (zero = do not tell the
	// peer). Client: the address to ask for; zero = ask the server (0.0.0.0).
	Local netip.Addr
	// Peer is, for the server, the address to give the peer (from the Profile or a pool).
	// Without one the server rejects the peer's IP-Address option: it has nothing to assign,
	// and letting a caller pick its own address is not a NAS's business. Ignored by a client.
	Peer netip.Addr
	// DNS: server — the primary and secondary DNS servers offered when the peer asks
	// (RFC 1877 options 129 and 131; a zero entry rejects that option). Client — the
	// addresses to ask for first (zero = 0.0.0.0, "tell me").
	DNS [2]netip.Addr

	// NoDNS (client): do not ask for DNS servers (pppd without usepeerdns).
	NoDNS bool
	// OfferVJ (client): also request VJ compression, as pppd does by default, so that a
	// simulated caller exercises the server's Reject.
	OfferVJ bool

	// OnUp, if set, is called when IPCP reaches Opened, with the agreed addresses.
	OnUp func(IPCPResult)
	// OnDown, if set, is called when IPCP leaves Opened.
	OnDown func()
	// OnFinished, if set, is called on This-Layer-Finished: IPCP gave up (err says why, or
	// is nil for a plain timeout or close). The link decides whether to hang up.
	OnFinished func(err error)
}

// IPCPResult is what IPCP agreed on.
type IPCPResult struct {
	Local netip.Addr    // our address
	Peer  netip.Addr    // the peer's address
	DNS   [2]netip.Addr // server: the DNS servers the peer took; client: the ones it was given
}

// IPCP is the IP Control Protocol (RFC 1332) with the RFC 1877 DNS options, as a Personality
// of its own FSM, in the server (NAS) or client (caller) role.
//
// Server: the peer's IP-Address is Acked if it is the assigned Peer and Naked with Peer
// otherwise (0.0.0.0 included); a peer that leaves it out is asked to add it (RFC 1332 §3.3).
// DNS requests are Naked with the configured servers, and rejected if none is configured.
// IP-Compression-Protocol (VJ), IP-Addresses, the NBNS options and unknown options are
// rejected. When the peer still insists on another address after Max-Failure Naks, the FSM
// turns the Nak into a Reject (RFC 1661 §4.6) and the server then closes IPCP with
// ErrPeerAddress: a caller must not come up with an address it was not given.
//
// Client: asks for Local or 0.0.0.0 and for DNS, takes what the server Naks, and drops what
// it rejects; it accepts the server's own address.
type IPCP struct {
	cfg IPCPConfig
	fsm *FSM
	log *slog.Logger

	// Our request.
	local    netip.Addr
	dns      [2]netip.Addr
	rejected [256]bool // our options the peer rejected, by type

	// The peer's last judged request (provisional until Opened).
	peerAddr netip.Addr
	peerDNS  [2]netip.Addr
	// Our last acked request.
	ackedLocal netip.Addr
	ackedDNS   [2]netip.Addr

	up     bool
	result IPCPResult
	err    error
}

// NewIPCP returns IPCP in the given role with its automaton (fc.Name defaults to "IPCP").
func NewIPCP(c IPCPConfig, fc Config) *IPCP {
	if fc.Name == "" {
		fc.Name = "IPCP"
	}
	p := &IPCP{cfg: c}
	p.log = fc.Logger
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.log = p.log.With("proto", fc.Name)
	p.fsm = NewFSM(p, fc)
	return p
}

// FSM is IPCP's automaton: the link drives it (Up when the network phase begins, Open,
// Receive of protocol 0x8021 packets, timers).
func (p *IPCP) FSM() *FSM { return p.fsm }

// Result returns the agreed addresses; ok is true while IPCP is Opened.
func (p *IPCP) Result() (IPCPResult, bool) { return p.result, p.up }

// Err says why IPCP gave up, or nil.
func (p *IPCP) Err() error { return p.err }

func addr4(b []byte) (netip.Addr, bool) {
	if len(b) != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(b)), true
}

func addrBytes(a netip.Addr) []byte {
	if !a.Is4() {
		return []byte{0, 0, 0, 0}
	}
	b := a.As4()
	return b[:]
}

// unspecified reports whether a is zero or 0.0.0.0: "please tell me" in IPCP.
func unspecified(a netip.Addr) bool { return !a.IsValid() || a.IsUnspecified() }

func dnsIndex(t uint8) int {
	if t == IPCPOptSecondaryDNS {
		return 1
	}
	return 0
}

// AppendRequest implements Personality.
func (p *IPCP) AppendRequest(dst []byte, fresh bool) []byte {
	if fresh {
		p.local = p.cfg.Local.Unmap()
		p.dns = p.cfg.DNS
		p.rejected = [256]bool{}
	}
	if p.cfg.Server {
		if !p.rejected[IPCPOptAddress] && p.local.Is4() && !p.local.IsUnspecified() {
			dst = Option{Type: IPCPOptAddress, Data: addrBytes(p.local)}.Append(dst)
		}
		return dst
	}
	// pppd's order: compression, address, DNS.
	if p.cfg.OfferVJ && !p.rejected[IPCPOptCompression] {
		dst = Option{Type: IPCPOptCompression, Data: vjOption}.Append(dst)
	}
	if !p.rejected[IPCPOptAddress] {
		dst = Option{Type: IPCPOptAddress, Data: addrBytes(p.local)}.Append(dst)
	}
	if !p.cfg.NoDNS {
		for i, t := range [2]uint8{IPCPOptPrimaryDNS, IPCPOptSecondaryDNS} {
			if !p.rejected[t] {
				dst = Option{Type: t, Data: addrBytes(p.dns[i])}.Append(dst)
			}
		}
	}
	return dst
}

// CheckRequest implements Personality.
func (p *IPCP) CheckRequest(req []Option, r *Reply) {
	p.peerAddr, p.peerDNS = netip.Addr{}, [2]netip.Addr{}
	if p.cfg.Server {
		p.checkServer(req, r)
	} else {
		p.checkClient(req, r)
	}
}

func (p *IPCP) checkServer(req []Option, r *Reply) {
	peer := p.cfg.Peer.Unmap()
	sawAddr := false
	for i, o := range req {
		switch o.Type {
		case IPCPOptAddress:
			a, ok := addr4(o.Data)
			if !ok || !peer.Is4() {
				r.Reject(i) // malformed, or nothing to assign
				continue
			}
			sawAddr = true
			if a == peer {
				p.peerAddr = a
				continue
			}
			if r.RejectIfDisagree() {
				// The Nak becomes a Reject; refuse to come up after it.
				p.fail(ErrPeerAddress, fmt.Sprintf("peer insists on %v, assigned %v", a, peer))
			}
			r.Nak(i, addrBytes(peer))
		case IPCPOptPrimaryDNS, IPCPOptSecondaryDNS:
			k := dnsIndex(o.Type)
			a, ok := addr4(o.Data)
			dns := p.cfg.DNS[k].Unmap()
			switch {
			case !ok || !dns.Is4():
				r.Reject(i)
			case a == dns:
				p.peerDNS[k] = a
			default:
				r.Nak(i, addrBytes(dns))
			}
		default: // IP-Addresses, IP-Compression-Protocol (VJ), NBNS, unknown
			r.Reject(i)
		}
	}
	if !sawAddr && peer.Is4() {
		// RFC 1332 §3.3: append the option to a Nak when the peer left it out.
		r.NakAdd(IPCPOptAddress, addrBytes(peer))
	}
}

func (p *IPCP) checkClient(req []Option, r *Reply) {
	for i, o := range req {
		switch o.Type {
		case IPCPOptAddress:
			a, ok := addr4(o.Data)
			if !ok || unspecified(a) {
				r.Reject(i) // a caller has no address to give the NAS
				continue
			}
			p.peerAddr = a
		default:
			r.Reject(i)
		}
	}
}

// ReceiveAck implements Personality.
func (p *IPCP) ReceiveAck(opts []Option) {
	p.ackedLocal, p.ackedDNS = netip.Addr{}, [2]netip.Addr{}
	for _, o := range opts {
		a, ok := addr4(o.Data)
		if !ok {
			continue
		}
		switch o.Type {
		case IPCPOptAddress:
			p.ackedLocal = a
		case IPCPOptPrimaryDNS, IPCPOptSecondaryDNS:
			p.ackedDNS[dnsIndex(o.Type)] = a
		}
	}
}

// ReceiveNak implements Personality.
func (p *IPCP) ReceiveNak(opts []Option) error {
	for _, o := range opts {
		switch o.Type {
		case IPCPOptAddress, IPCPOptPrimaryDNS, IPCPOptSecondaryDNS:
			if len(o.Data) != 4 {
				return fmt.Errorf("ipcp: Configure-Nak of option %d with %d octets of address", o.Type, len(o.Data))
			}
		}
	}
	if p.cfg.Server {
		// The NAS's own address is not negotiable, and the server asks for nothing else.
		return nil
	}
	for _, o := range opts {
		a, _ := addr4(o.Data)
		switch o.Type {
		case IPCPOptAddress:
			if !unspecified(a) {
				p.local = a
				p.rejected[IPCPOptAddress] = false
			}
		case IPCPOptPrimaryDNS, IPCPOptSecondaryDNS:
			if !p.cfg.NoDNS && !p.rejected[o.Type] {
				p.dns[dnsIndex(o.Type)] = a
			}
		case IPCPOptCompression:
			p.rejected[IPCPOptCompression] = true // we only offer VJ to be rejected
		}
	}
	return nil
}

// ReceiveReject implements Personality.
func (p *IPCP) ReceiveReject(opts []Option) error {
	for _, o := range opts {
		p.rejected[o.Type] = true
		if o.Type == IPCPOptAddress && !p.cfg.Server && unspecified(p.local) {
			p.fail(ErrNoAddress, "peer rejected IP-Address and we have none")
		}
	}
	return nil
}

// fail records why IPCP gives up and closes the automaton (queued: it runs after the
// current event, so the Nak/Reject being built still goes out first).
func (p *IPCP) fail(err error, detail string) {
	if p.err == nil {
		p.err = err
		p.log.Warn("ipcp giving up", "err", err, "detail", detail)
	}
	p.fsm.Close(detail)
}

// ThisLayerUp implements Personality.
func (p *IPCP) ThisLayerUp() {
	res := IPCPResult{DNS: p.ackedDNS, Local: p.ackedLocal, Peer: p.peerAddr}
	if !p.cfg.Server && p.rejected[IPCPOptAddress] {
		res.Local = p.local // the server would not discuss it: we keep our own
	}
	if p.cfg.Server {
		res.Local = p.cfg.Local.Unmap()
		res.DNS = p.peerDNS
		if !res.Peer.IsValid() {
			// The peer never named an address (and Max-Failure dropped our request to add
			// one): it was still assigned Peer.
			res.Peer = p.cfg.Peer.Unmap()
		}
	}
	p.up, p.result = true, res
	p.log.Info("ipcp up", "local", res.Local, "peer", res.Peer, "dns1", res.DNS[0], "dns2", res.DNS[1])
	if p.cfg.OnUp != nil {
		p.cfg.OnUp(res)
	}
}

// ThisLayerDown implements Personality.
func (p *IPCP) ThisLayerDown() {
	p.up = false
	if p.cfg.OnDown != nil {
		p.cfg.OnDown()
	}
}

// ThisLayerStarted implements Personality. An NCP needs LCP up, which the link ensures
// before it signals Up.
func (p *IPCP) ThisLayerStarted() {}

// ThisLayerFinished implements Personality.
func (p *IPCP) ThisLayerFinished() {
	if p.cfg.OnFinished != nil {
		p.cfg.OnFinished(p.err)
	}
}
