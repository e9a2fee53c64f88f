package ppp

import (
	"context"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// lkFake is a scripted peer: it decodes what the link sends and answers through handle. It
// stops when the line is closed.
type lkFake struct {
	end  *lkEnd
	enc  *Encoder
	mu   sync.Mutex
	wg   sync.WaitGroup
	seen map[Code]int // LCP codes received from the link
}

func startFake(end *lkEnd, handle func(f *lkFake, fr Frame)) *lkFake {
	f := &lkFake{end: end, enc: NewEncoder(), seen: map[Code]int{}}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		dec := NewDecoder(DefaultMRU)
		buf := make([]byte, 2048)
		for {
			n, err := end.Read(buf)
			dec.Feed(buf[:n], func(fr Frame) {
				if fr.Protocol == ProtoLCP && len(fr.Info) > 0 {
					f.mu.Lock()
					f.seen[Code(fr.Info[0])]++
					f.mu.Unlock()
				}
				if handle != nil {
					handle(f, fr)
				}
			})
			if err != nil {
				return
			}
		}
	}()
	return f
}

func (f *lkFake) send(proto uint16, pkt []byte) {
	_, _ = f.end.Write(f.enc.AppendFrame(nil, proto, pkt))
}

func (f *lkFake) count(c Code) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[c]
}

func (f *lkFake) stop() {
	f.end.Close()
	f.wg.Wait()
}

// lkAgainst runs a link of the given config against a scripted peer.
func lkAgainst(t *testing.T, cfg LinkConfig, handle func(f *lkFake, fr Frame)) (LinkResult, *lkFake) {
	t.Helper()
	le, fe := lkPipe()
	fake := startFake(fe, handle)
	ctx, cancel := context.WithTimeout(context.Background(), lkBound)
	defer cancel()
	res, err := NewLink(le, cfg).Run(ctx)
	fake.stop()
	if ctx.Err() != nil {
		t.Fatalf("link still running after %v: %+v", lkBound, res)
	}
	if err != nil {
		t.Errorf("Run error %v", err)
	}
	return res, fake
}

func TestLinkHostilePeers(t *testing.T) {
	lcpReply := func(code Code) func(f *lkFake, fr Frame) {
		return func(f *lkFake, fr Frame) {
			p, err := ParsePacket(fr.Info)
			if fr.Protocol == ProtoLCP && err == nil && p.Code == CodeConfigureRequest {
				f.send(ProtoLCP, Packet{Code: code, ID: p.ID, Data: p.Data}.Append(nil))
			}
		}
	}
	tests := []struct {
		name   string
		role   Role
		handle func(f *lkFake, fr Frame)
		cause  string
	}{
		{"never answers", Server, nil, CauseNegotiationFailed},
		// Rejecting the Authentication-Protocol option is refusing to authenticate.
		{"rejects everything (server)", Server, lcpReply(CodeConfigureReject), CauseAuthFailed},
		// With every option rejected the request is empty, and "rejecting" it again and again
		// would go on for ever at line speed.
		{"rejects everything (client)", Client, lcpReply(CodeConfigureReject), CauseNegotiationFailed},
		// A Nak asking to add an option we do not do: the same request goes out again.
		{"naks for ever", Server, func(f *lkFake, fr Frame) {
			p, err := ParsePacket(fr.Info)
			if fr.Protocol == ProtoLCP && err == nil && p.Code == CodeConfigureRequest {
				f.send(ProtoLCP, Packet{Code: CodeConfigureNak, ID: p.ID, Data: []byte{LCPOptQuality, 8, 0xC0, 0x25, 0, 0, 0, 10}}.Append(nil))
			}
		}, CauseNegotiationFailed},
		// Acks our requests, but its own are never acceptable (MRU 10, always).
		{"unacceptable requests for ever", Server, func(f *lkFake, fr Frame) {
			p, err := ParsePacket(fr.Info)
			if fr.Protocol != ProtoLCP || err != nil {
				return
			}
			switch p.Code {
			case CodeConfigureRequest:
				f.send(ProtoLCP, Packet{Code: CodeConfigureAck, ID: p.ID, Data: p.Data}.Append(nil))
				f.send(ProtoLCP, Packet{Code: CodeConfigureRequest, ID: p.ID, Data: []byte{LCPOptMRU, 4, 0, 10}}.Append(nil))
			case CodeConfigureNak, CodeConfigureReject:
				f.send(ProtoLCP, Packet{Code: CodeConfigureRequest, ID: p.ID + 1, Data: []byte{LCPOptMRU, 4, 0, 10}}.Append(nil))
			}
		}, CauseNegotiationFailed},
		{"terminates during negotiation", Server, func(f *lkFake, fr Frame) {
			p, err := ParsePacket(fr.Info)
			if fr.Protocol == ProtoLCP && err == nil && p.Code == CodeConfigureRequest {
				f.send(ProtoLCP, Packet{Code: CodeTerminateRequest, ID: 7, Data: []byte("bye")}.Append(nil))
			}
		}, CauseUserRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg LinkConfig
			if tt.role == Server {
				cfg = lkServer(t, AuthCHAP, AuthPAP)
			} else {
				cfg = lkClient(t, "alice", "wonderland")
			}
			cfg.MaxConfigure = 4
			start := time.Now()
			res, fake := lkAgainst(t, cfg, tt.handle)
			if res.Cause != tt.cause {
				t.Errorf("cause %q (%q), want %q", res.Cause, res.Message, tt.cause)
			}
			if reqs := fake.count(CodeConfigureRequest); reqs > 3*cfg.MaxConfigure+DefaultMaxFailure+1 {
				t.Errorf("%d Configure-Requests sent", reqs)
			}
			t.Logf("ended after %v, %d Configure-Requests", time.Since(start), fake.count(CodeConfigureRequest))
		})
	}
}

// A peer that floods Configure-Requests and never acks ours: the Restart counter still runs
// out (RFC 1661 §4.6 Max-Configure), whatever the peer sends.
func TestLinkConfigureRequestStorm(t *testing.T) {
	le, fe := lkPipe()
	fake := startFake(fe, nil)
	stop := make(chan struct{})
	var sent atomic.Int32
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for id := uint8(0); ; id++ {
			select {
			case <-stop:
				return
			default:
			}
			fake.send(ProtoLCP, Packet{Code: CodeConfigureRequest, ID: id,
				Data: []byte{LCPOptMagic, 6, 1, 2, 3, id | 1}}.Append(nil))
			sent.Add(1)
			time.Sleep(time.Millisecond) // a line's pace, not a busy loop
		}
	}()
	cfg := lkServer(t, AuthPAP)
	cfg.MaxConfigure = 4
	ctx, cancel := context.WithTimeout(context.Background(), lkBound)
	defer cancel()
	res, err := NewLink(le, cfg).Run(ctx)
	close(stop)
	wg.Wait()
	fake.stop()
	if res.Cause != CauseNegotiationFailed || err != nil {
		t.Errorf("cause %q (%q), %v; want negotiation-failed", res.Cause, res.Message, err)
	}
	if fake.count(CodeConfigureAck) == 0 {
		t.Error("the storm's requests were never acked")
	}
	t.Logf("%d requests in the storm, %d acked", sent.Load(), fake.count(CodeConfigureAck))
}

// LCP codes in Opened: an unknown code gets a Code-Reject, Discard-Request is counted, an
// Echo-Request with the peer's Magic-Number is answered with ours, one with a foreign number
// is not.
func TestLinkLCPCodes(t *testing.T) {
	se, ce := lkPipe()
	defer se.Close()
	ctx, cancel := context.WithTimeout(context.Background(), lkBound)
	defer cancel()
	cctx, ccancel := context.WithCancel(ctx)
	var mu sync.Mutex
	var codeRejected []byte
	var echoReplies [][]byte
	dec := NewDecoder(DefaultMRU)
	se.setTap(func(b []byte) {
		dec.Feed(b, func(f Frame) {
			p, err := ParsePacket(f.Info)
			if f.Protocol != ProtoLCP || err != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			switch p.Code {
			case CodeCodeReject:
				codeRejected = append([]byte(nil), p.Data...)
			case CodeEchoReply:
				if p.ID >= 200 {
					echoReplies = append(echoReplies, append([]byte(nil), p.Data...))
				}
			}
			if codeRejected != nil && len(echoReplies) > 0 {
				ccancel()
			}
		})
	})
	s := lkServer(t, AuthPAP)
	enc := NewEncoder()
	var srv *Link
	s.Up = func(r LinkResult) {
		peer := srv.lcp.Result().PeerMagic
		inj := func(p Packet) { se.inject(enc.AppendFrame(nil, ProtoLCP, p.Append(nil))) }
		inj(Packet{Code: 99, ID: 1, Data: []byte("what")})
		inj(Packet{Code: CodeDiscardRequest, ID: 2, Data: binary.BigEndian.AppendUint32(nil, peer)})
		inj(Packet{Code: CodeEchoRequest, ID: 201, Data: binary.BigEndian.AppendUint32(nil, peer^1)})
		inj(Packet{Code: CodeEchoRequest, ID: 202, Data: append(binary.BigEndian.AppendUint32(nil, peer), "ping"...)})
	}
	srv = NewLink(se, s)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = NewLink(ce, lkClient(t, "alice", "wonderland")).Run(cctx)
	}()
	res, _ := srv.Run(ctx)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if string(codeRejected) != "\x63\x01\x00\x08what" {
		t.Errorf("Code-Reject carries %q", codeRejected)
	}
	if len(echoReplies) != 1 || string(echoReplies[0][4:]) != "ping" ||
		binary.BigEndian.Uint32(echoReplies[0]) != srv.lcp.Result().Magic {
		t.Errorf("echo replies %x", echoReplies)
	}
	if res.Counters.LCP.DiscardsRcvd != 1 || res.Counters.LCP.BadMagic != 1 {
		t.Errorf("LCP stats %+v", res.Counters.LCP)
	}
}
