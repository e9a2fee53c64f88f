package ppp

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// lkDatagram is the i-th test datagram of a stream: its length and content vary, and it
// holds the flag and escape octets, so that a frame interleaved with another, or encoded with
// an encoder changing under it, would not decode to it.
func lkDatagram(stream byte, i int) []byte {
	b := make([]byte, 20+(i*37)%400)
	for j := range b {
		b[j] = byte(i + j)
	}
	b[0], b[1], b[2] = stream, flagSequence, controlEscape
	b[3], b[4] = byte(i>>8), byte(i)
	return b
}

// Two senders on each link at once: a writer goroutine of its own (as the data plane's) with
// SendPacket, and the link's goroutine, which answers each datagram from its Packets hook and
// sends its keepalives; Counters is read meanwhile. Every datagram of each stream arrives
// intact and in order, and is counted. Run with -race.
func TestLinkSendPacketConcurrent(t *testing.T) {
	const n = 200
	se, ce := lkPipe()
	defer se.Close()
	ctx, cancel := context.WithTimeout(context.Background(), lkBound)
	defer cancel()
	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()

	type side struct {
		name       string
		data, ack  byte // the stream ids of its writer and of its answers
		link       *Link
		mu         sync.Mutex
		got        map[byte][][]byte
		complete   chan struct{}
		up         chan struct{}
		res        LinkResult
		answerErrs int
	}
	newSide := func(name string, data, ack byte) *side {
		return &side{name: name, data: data, ack: ack, got: map[byte][][]byte{},
			complete: make(chan struct{}), up: make(chan struct{})}
	}
	srv, cli := newSide("server", 'S', 's'), newSide("client", 'C', 'c')
	hooks := func(s, peer *side, c *LinkConfig) {
		c.Keepalive = lkRestart / 2 // echoes too, if the run lasts that long
		c.Packets = func(p []byte) {
			s.mu.Lock()
			s.got[p[0]] = append(s.got[p[0]], bytes.Clone(p))
			if len(s.got[peer.data]) == n && len(s.got[peer.ack]) == n {
				close(s.complete)
			}
			s.mu.Unlock()
			if p[0] == peer.data {
				// Answered on the link's goroutine, while the writer sends.
				if err := s.link.SendPacket(lkDatagram(s.ack, int(p[3])<<8|int(p[4]))); err != nil {
					s.answerErrs++
				}
			}
		}
		c.Up = func(LinkResult) { close(s.up) }
	}
	sc, cc := lkServer(t, AuthPAP), lkClient(t, "alice", "wonderland")
	hooks(srv, cli, &sc)
	hooks(cli, srv, &cc)
	srv.link, cli.link = NewLink(se, sc), NewLink(ce, cc)

	var runs, workers sync.WaitGroup
	runs.Add(2)
	go func() {
		defer runs.Done()
		srv.res, _ = srv.link.Run(ctx)
	}()
	go func() {
		defer runs.Done()
		cli.res, _ = cli.link.Run(cctx)
	}()
	stopReaders := make(chan struct{})
	for _, s := range []*side{srv, cli} {
		workers.Add(2)
		go func() { // the data plane's writer
			defer workers.Done()
			select {
			case <-s.up:
			case <-ctx.Done():
				return
			}
			for i := range n {
				if err := s.link.SendPacket(lkDatagram(s.data, i)); err != nil {
					t.Errorf("%s: SendPacket %d: %v", s.name, i, err)
					return
				}
			}
		}()
		go func() { // an accounting reader
			defer workers.Done()
			var last uint64
			for {
				select {
				case <-stopReaders:
					return
				default:
				}
				c := s.link.Counters()
				if c.PacketsOut < last {
					t.Errorf("%s: PacketsOut went back from %d to %d", s.name, last, c.PacketsOut)
					return
				}
				last = c.PacketsOut
				// Paced, as an Interim timer would be: two readers spinning flat out would take
				// both of CI's cores from the links they watch.
				time.Sleep(50 * time.Microsecond)
			}
		}()
	}
	for _, s := range []*side{srv, cli} {
		select {
		case <-s.complete:
		case <-ctx.Done():
			s.mu.Lock()
			got := map[string]int{}
			for stream, ps := range s.got {
				got[string(stream)] = len(ps)
			}
			t.Fatalf("%s received %v datagrams per stream, want %d of each", s.name, got, n)
		}
	}
	ccancel() // the caller hangs up
	runs.Wait()
	close(stopReaders)
	workers.Wait()

	for _, pair := range [][2]*side{{srv, cli}, {cli, srv}} {
		rx, tx := pair[0], pair[1]
		for _, stream := range []byte{tx.data, tx.ack} {
			for i, p := range rx.got[stream] {
				if want := lkDatagram(stream, i); !bytes.Equal(p, want) {
					t.Fatalf("%s: datagram %d of stream %c = % x..., want % x...", rx.name, i, stream, p[:min(8, len(p))], want[:8])
				}
			}
		}
		if tx.answerErrs != 0 {
			t.Errorf("%s: %d answers failed", tx.name, tx.answerErrs)
		}
		if c := tx.res.Counters; c.PacketsOut != 2*n || c.IPOctetsOut != rx.res.Counters.IPOctetsIn {
			t.Errorf("%s sent %d datagrams of %d octets, %s received %d octets",
				tx.name, c.PacketsOut, c.IPOctetsOut, rx.name, rx.res.Counters.IPOctetsIn)
		}
		if got := tx.link.Counters(); got != tx.res.Counters {
			t.Errorf("%s: Counters after Run %+v, result %+v", tx.name, got, tx.res.Counters)
		}
	}
	// The link is dead: sending fails and counts nothing.
	for _, s := range []*side{srv, cli} {
		if err := s.link.SendPacket([]byte("late")); err == nil {
			t.Errorf("%s: SendPacket after the link ended succeeded", s.name)
		}
		if c := s.link.Counters(); c.PacketsOut != 2*n {
			t.Errorf("%s: PacketsOut %d after a refused send, want %d", s.name, c.PacketsOut, 2*n)
		}
	}
}

// The peer's MRU is in the result from the link's opening on, so that the session can give
// the data plane the MTU of the caller's routes.
func TestLinkPeerMRU(t *testing.T) {
	for _, tt := range []struct {
		serverMRU, clientMRU      int
		wantServer, wantClientSaw int
	}{
		{0, 0, DefaultMRU, DefaultMRU},
		{0, 1000, 1000, DefaultMRU},
		{1400, 576, 576, 1400},
	} {
		t.Run(fmt.Sprintf("%d-%d", tt.serverMRU, tt.clientMRU), func(t *testing.T) {
			s, c := lkServer(t, AuthPAP), lkClient(t, "alice", "wonderland")
			s.MRU, c.MRU = tt.serverMRU, tt.clientMRU
			var atUp int
			s.Up = func(r LinkResult) { atUp = r.PeerMRU }
			so, co := lkRun(t, s, c)
			if atUp != tt.wantServer || so.res.PeerMRU != tt.wantServer {
				t.Errorf("server: peer MRU %d at Up, %d at the end, want %d", atUp, so.res.PeerMRU, tt.wantServer)
			}
			if co.res.PeerMRU != tt.wantClientSaw {
				t.Errorf("client: peer MRU %d, want %d", co.res.PeerMRU, tt.wantClientSaw)
			}
		})
	}
}

// Opened is called at every opening, Up only at the first: after a renegotiation the data
// plane attaches again, and datagrams flow again.
func TestLinkOpenedAgain(t *testing.T) {
	se, ce := lkPipe()
	defer se.Close()
	ctx, cancel := context.WithTimeout(context.Background(), lkBound)
	defer cancel()
	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()
	s := lkServer(t, AuthCHAP)
	var ups, opens int
	var phases []Phase
	s.OnPhase = func(p Phase) { phases = append(phases, p) }
	s.Up = func(LinkResult) { ups++ }
	var sl *Link
	s.Opened = func(r LinkResult) {
		opens++
		if r.Peer != lkPeerAddr || r.PeerMRU != DefaultMRU {
			t.Errorf("opening %d: peer %v, MRU %d", opens, r.Peer, r.PeerMRU)
		}
		if opens == 1 {
			// The peer renegotiates LCP: everything above it starts again.
			se.inject(NewEncoder().AppendFrame(nil, ProtoLCP, []byte{1, 200, 0, 4}))
			return
		}
		go func() { // a writer of the second opening
			if err := sl.SendPacket([]byte("after renegotiation")); err != nil {
				t.Errorf("SendPacket after reopening: %v", err)
			}
		}()
	}
	c := lkClient(t, "alice", "wonderland")
	c.Packets = func(p []byte) {
		if string(p) == "after renegotiation" {
			ccancel()
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = NewLink(ce, c).Run(cctx)
	}()
	sl = NewLink(se, s)
	res, _ := sl.Run(ctx)
	wg.Wait()
	if ctx.Err() != nil || opens != 2 || ups != 1 {
		t.Errorf("opened %d times, up %d times, want 2 and 1; phases %v, cause %q", opens, ups, phases, res.Cause)
	}
}
