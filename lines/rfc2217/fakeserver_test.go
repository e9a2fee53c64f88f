package rfc2217

import (
	"bytes"
	"encoding/binary"
	"net"
	"slices"
	"sync"
	"testing"
	"time"
)

// guard bounds how long a test waits for something that must happen; it only fires when the
// code under test is broken.
const guard = 5 * time.Second

// fakeServer is an in-process RFC 2217 access server for one client connection. It answers
// like the RFC says (and, where noted, like ser2net does), and records what the client sent.
type fakeServer struct {
	t  *testing.T
	ln net.Listener

	// Behaviour, set before the client dials.
	preamble      []byte          // raw bytes sent as soon as the client connects
	refuseComPort bool            // answer WILL COM-PORT-OPTION with DONT
	modemControl  bool            // answer DTR/RTS requests with a state (ser2net on a pty echoes 7)
	override      map[byte][]byte // reply value to use for a command instead of echoing

	mu        sync.Mutex
	changed   chan struct{}
	conn      net.Conn
	raw       []byte   // every byte received
	data      []byte   // decoded data bytes received
	comPort   [][]byte // COM-PORT-OPTION payloads received, in order
	dtr, rts  []bool   // every DTR/RTS change the client asked for
	usOpts    [256]bool
	himOpts   [256]bool
	connected bool
	done      chan struct{}
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{t: t, ln: ln, changed: make(chan struct{}), done: make(chan struct{}), modemControl: true}
	t.Cleanup(s.stop)
	return s
}

func (s *fakeServer) addr() string { return s.ln.Addr().String() }

// start accepts one connection and serves it until it closes or the test ends.
func (s *fakeServer) start() {
	go func() {
		defer close(s.done)
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conn, s.connected = conn, true
		s.signalLocked()
		s.mu.Unlock()
		if len(s.preamble) > 0 {
			conn.Write(s.preamble)
		}
		var dec decoder
		buf := make([]byte, 1024)
		for {
			n, err := conn.Read(buf)
			if n > 0 {
				data, evs := dec.decode(buf[:n], nil, nil)
				s.mu.Lock()
				s.raw = append(s.raw, buf[:n]...)
				s.data = append(s.data, data...)
				var out []byte
				for _, ev := range evs {
					out = append(out, s.handleLocked(ev)...)
				}
				s.signalLocked()
				s.mu.Unlock()
				if len(out) > 0 {
					conn.Write(out)
				}
			}
			if err != nil {
				return
			}
		}
	}()
}

func (s *fakeServer) stop() {
	s.ln.Close()
	s.mu.Lock()
	if s.conn != nil {
		s.conn.Close()
	}
	s.mu.Unlock()
	select {
	case <-s.done:
	case <-time.After(guard):
		s.t.Error("fake server did not stop")
	}
}

func (s *fakeServer) signalLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *fakeServer) handleLocked(ev event) []byte {
	switch ev.kind {
	case evNegotiation:
		o := ev.option
		switch ev.verb {
		case cmdWILL:
			if o == optComPort && s.refuseComPort || (o != optComPort && o != optBinary && o != optSGA) {
				return appendNegotiation(nil, cmdDONT, o)
			}
			if !s.himOpts[o] {
				s.himOpts[o] = true
				if !s.sentDOLocked(o) {
					return appendNegotiation(nil, cmdDO, o)
				}
			}
		case cmdDO:
			if o != optBinary && o != optSGA {
				return appendNegotiation(nil, cmdWONT, o)
			}
			if !s.usOpts[o] {
				s.usOpts[o] = true
				if !s.sentWILLLocked(o) {
					return appendNegotiation(nil, cmdWILL, o)
				}
			}
		}
	case evSubneg:
		if ev.option != optComPort || len(ev.data) == 0 {
			return nil
		}
		s.comPort = append(s.comPort, ev.data)
		cmd, val := ev.data[0], ev.data[1:]
		if v, ok := s.override[cmd]; ok {
			return appendSubneg(nil, optComPort, append([]byte{cmd + serverOffset}, v...)...)
		}
		reply := func(v ...byte) []byte {
			return appendSubneg(nil, optComPort, append([]byte{cmd + serverOffset}, v...)...)
		}
		switch cmd {
		case comSignature:
			return reply([]byte("fake")...)
		case comSetBaudRate, comSetDataSize, comSetParity, comSetStopSize, comSetModemMask:
			return reply(val...)
		case comSetControl:
			if len(val) != 1 {
				return nil
			}
			v := val[0]
			switch v {
			case ctlDTRRequest, ctlRTSRequest:
				if !s.modemControl {
					return reply(v) // what ser2net does when the ioctl fails
				}
				line := s.dtr
				on, off := ctlDTROn, ctlDTROff
				if v == ctlRTSRequest {
					line, on, off = s.rts, ctlRTSOn, ctlRTSOff
				}
				if len(line) == 0 || line[len(line)-1] {
					return reply(on)
				}
				return reply(off)
			case ctlDTROn, ctlDTROff:
				if !s.modemControl {
					return nil // ser2net on a pty: no answer at all
				}
				s.dtr = append(s.dtr, v == ctlDTROn)
			case ctlRTSOn, ctlRTSOff:
				if !s.modemControl {
					return nil
				}
				s.rts = append(s.rts, v == ctlRTSOn)
			}
			return reply(v)
		}
	}
	return nil
}

// sentDOLocked and sentWILLLocked say whether the preamble already offered the option, so
// the fake, like a real server, does not answer an answer.
func (s *fakeServer) sentDOLocked(o byte) bool {
	return bytes.Contains(s.preamble, []byte{cmdIAC, cmdDO, o})
}

func (s *fakeServer) sentWILLLocked(o byte) bool {
	return bytes.Contains(s.preamble, []byte{cmdIAC, cmdWILL, o})
}

// send writes raw bytes to the client.
func (s *fakeServer) send(b []byte) {
	s.t.Helper()
	s.mu.Lock()
	conn := s.conn
	s.mu.Unlock()
	if conn == nil {
		s.t.Fatal("fake server: no client")
	}
	if _, err := conn.Write(b); err != nil {
		s.t.Fatalf("fake server write: %v", err)
	}
}

// hangUp closes the client's connection from the server side.
func (s *fakeServer) hangUp() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conn.Close()
}

// waitFor waits until cond (called with s.mu held) holds.
func (s *fakeServer) waitFor(what string, cond func() bool) {
	s.t.Helper()
	deadline := time.NewTimer(guard)
	defer deadline.Stop()
	s.mu.Lock()
	for !cond() {
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			s.t.Fatalf("fake server: timed out waiting for %s", what)
		}
		s.mu.Lock()
	}
	s.mu.Unlock()
}

func (s *fakeServer) receivedData() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.data)
}

func (s *fakeServer) rawBytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.raw)
}

func (s *fakeServer) commands() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.comPort)
}

func (s *fakeServer) dtrHistory() []bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.dtr)
}

func modemState(b byte) []byte {
	return appendSubneg(nil, optComPort, comNotifyModemState+serverOffset, b)
}

func baudBytes(n uint32) []byte {
	return binary.BigEndian.AppendUint32(nil, n)
}

// ser2netPreamble is what ser2net 4.3 sends as soon as a client connects to a
// telnet(rfc2217) port (captured from Debian's ser2net 4.3.11).
var ser2netPreamble = []byte{
	255, 251, 3, 255, 253, 3, 255, 251, 1, 255, 254, 1, 255, 253, 0, 255, 251, 0, 255, 253, 44,
}
