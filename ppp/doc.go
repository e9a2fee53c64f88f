// Package ppp is PPP as a library, usable as server (the NAS answering a caller) and as client
// (the lab's callers and the tests): RFC 1662 asynchronous HDLC-like framing (Encoder,
// Decoder), the RFC 1661 option-negotiation automaton shared by every control protocol (FSM,
// driven by a Personality), and — built on them — LCP, PAP, CHAP, CBCP and IPCP.
//
// Nothing here owns a goroutine or a port: the caller feeds received bytes in, writes encoded
// frames out, and drives the automaton's restart timer from its own loop, so one session is one
// goroutine and tests run without real time.
package ppp
