// Package ppp is PPP as a library, usable as server (the NAS answering a caller) and as client
// (the lab's callers and the tests): RFC 1662 asynchronous HDLC-like framing (Encoder,
// Decoder), the RFC 1661 option-negotiation automaton shared by every control protocol (FSM,
// driven by a Personality), and — built on them — LCP, PAP, CHAP and MS-CHAPv2, CBCP and IPCP,
// sequenced through the phases of a call by Link.
//
// Nothing here owns a goroutine or a port: the protocol pieces are fed received bytes and drive
// their timers from the caller's loop, and Link.Run is that loop for one line, reading and
// writing on the caller's goroutine, so one session is one goroutine and the pieces are tested
// without real time.
package ppp
