package ppp_test

import (
	"fmt"

	"github.com/dialback/nas/ppp"
)

// quiet is a personality with no options that accepts whatever the peer asks for.
type quiet struct{ name string }

func (q quiet) AppendRequest(dst []byte, fresh bool) []byte { return dst }
func (q quiet) CheckRequest(req []ppp.Option, r *ppp.Reply) {
	for i := range req {
		r.Reject(i) // we know no options
	}
}
func (q quiet) ReceiveAck([]ppp.Option)          {}
func (q quiet) ReceiveNak([]ppp.Option) error    { return nil }
func (q quiet) ReceiveReject([]ppp.Option) error { return nil }
func (q quiet) ThisLayerUp()                     { fmt.Println(q.name, "up") }
func (q quiet) ThisLayerDown()                   { fmt.Println(q.name, "down") }
func (q quiet) ThisLayerStarted()                {}
func (q quiet) ThisLayerFinished()               { fmt.Println(q.name, "finished") }

// Two automata talking LCP through RFC 1662 framing, as a session wires them: Send encodes
// a frame onto the "line", and frames decoded from the line go to Receive.
func Example() {
	type end struct {
		fsm  *ppp.FSM
		enc  *ppp.Encoder
		dec  *ppp.Decoder
		line []byte // bytes on their way to this end
	}
	var nas, caller end
	wire := func(from, to *end) func([]byte) {
		return func(pkt []byte) { to.line = from.enc.AppendFrame(to.line, ppp.ProtoLCP, pkt) }
	}
	for _, e := range []*end{&nas, &caller} {
		e.enc, e.dec = ppp.NewEncoder(), ppp.NewDecoder(ppp.DefaultMRU)
	}
	nas.fsm = ppp.NewFSM(quiet{"nas"}, ppp.Config{Name: "LCP", Send: wire(&nas, &caller)})
	caller.fsm = ppp.NewFSM(quiet{"caller"}, ppp.Config{Name: "LCP", Send: wire(&caller, &nas)})

	caller.line = append(caller.line, "CONNECT 33600\r\n"...) // the modem speaks first
	for _, e := range []*end{&nas, &caller} {
		e.fsm.Open()
		e.fsm.Up()
	}
	for len(nas.line)+len(caller.line) > 0 {
		for _, e := range []*end{&nas, &caller} {
			in := e.line
			e.line = nil
			e.dec.Feed(in, func(f ppp.Frame) {
				if f.Protocol == ppp.ProtoLCP {
					e.fsm.Receive(f.Info)
				}
			})
		}
	}
	fmt.Println(nas.fsm.State(), caller.fsm.State())
	// Output:
	// caller up
	// nas up
	// Opened Opened
}
