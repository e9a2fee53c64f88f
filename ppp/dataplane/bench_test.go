package dataplane

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/ppp"
)

// Benchmarks of the userspace path a datagram takes, in packets per second. "dataplane" is
// this package alone (parse, anti-spoofing, an 8-rule access list, counters, the queue and
// the writer goroutine); "ppp+dataplane" adds the RFC 1662 framing the line needs (decoding
// the caller's frame, encoding ours). The kernel is a stand-in that discards: see the TUN
// benchmarks for the cost with the kernel's side. Run with -cpu 1 for the figure per core.

// discardKernel swallows writes and never produces a datagram.
type discardKernel struct{ closed chan struct{} }

func (k *discardKernel) Read([]byte) (int, error) {
	<-k.closed
	return 0, os.ErrClosed
}
func (k *discardKernel) Write(b []byte) (int, error)                  { return len(b), nil }
func (k *discardKernel) Close() error                                 { close(k.closed); return nil }
func (k *discardKernel) Name() string                                 { return "discard0" }
func (k *discardKernel) AddRoute(netip.Prefix, netip.Addr, int) error { return nil }
func (k *discardKernel) DelRoute(netip.Prefix) error                  { return nil }
func (k *discardKernel) AddAddr(netip.Addr) error                     { return nil }
func (k *discardKernel) DelAddr(netip.Addr) error                     { return nil }

// benchACL is a plausible per-user list; the benchmark's datagrams meet its last permit.
func benchACL(b *testing.B) *ACL {
	a, err := ParseACL("bench", []string{
		"deny tcp any any eq telnet",
		"deny tcp any any eq 135",
		"deny udp any any range 137 139",
		"deny tcp any any eq 445",
		"permit tcp any any established",
		"permit icmp any any echo",
		"permit icmp any any echo-reply",
		"permit udp any any",
	})
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// udpOfSize is a UDP datagram of exactly size octets. The data is random, as compressed or
// encrypted traffic is: with the default ACCM about one octet in eight needs escaping.
func udpOfSize(src, dst string, size int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, size-28)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	return ipv4(src, dst, protoUDP, udp(4000, 5000, data))
}

var benchSizes = []struct {
	name string
	size int
}{{"64", 64}, {"1500", 1500}}

func benchPlane(b *testing.B, sc SessionConfig) (*Plane, *Session) {
	b.Helper()
	cfg := Config{AccessLists: map[string]*ACL{"bench": benchACL(b)}, QueueLen: 256}
	if err := cfg.setDefaults(); err != nil {
		b.Fatal(err)
	}
	p := newPlane(cfg, &discardKernel{closed: make(chan struct{})}, slog.New(slog.DiscardHandler))
	b.Cleanup(func() { p.Close() })
	sc.ID, sc.Peer, sc.Filter = "bench", netip.MustParseAddr("198.51.100.2"), "bench.in bench.out"
	sc.Routes = []aaa.Route{{Prefix: netip.MustParsePrefix("203.0.113.0/24")}}
	s, err := p.Attach(context.Background(), sc)
	if err != nil {
		b.Fatal(err)
	}
	return p, s
}

func BenchmarkIn(b *testing.B) {
	for _, sz := range benchSizes {
		pkt := udpOfSize("198.51.100.2", "192.0.2.9", sz.size)
		b.Run("dataplane/"+sz.name, func(b *testing.B) {
			_, s := benchPlane(b, SessionConfig{Send: func([]byte) error { return nil }})
			b.SetBytes(int64(len(pkt)))
			b.ReportAllocs()
			for b.Loop() {
				s.Receive(pkt)
			}
			if s.Counters().InPackets != uint64(b.N) {
				b.Fatalf("delivered %d of %d", s.Counters().InPackets, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
		b.Run("ppp+dataplane/"+sz.name, func(b *testing.B) {
			_, s := benchPlane(b, SessionConfig{Send: func([]byte) error { return nil }})
			frame := ppp.NewEncoder().AppendFrame(nil, ppp.ProtoIP, pkt)
			dec := ppp.NewDecoder(ppp.DefaultMRU)
			b.SetBytes(int64(len(pkt)))
			b.ReportAllocs()
			for b.Loop() {
				for rest := frame; len(rest) > 0; {
					f, n, ok := dec.Next(rest)
					rest = rest[n:]
					if ok {
						s.Receive(f.Info)
					}
				}
			}
			if s.Counters().InPackets != uint64(b.N) {
				b.Fatalf("delivered %d of %d", s.Counters().InPackets, b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}

func BenchmarkOut(b *testing.B) {
	for _, sz := range benchSizes {
		pkt := udpOfSize("192.0.2.9", "198.51.100.2", sz.size)
		for _, framing := range []bool{false, true} {
			name := "dataplane/" + sz.name
			if framing {
				name = "ppp+dataplane/" + sz.name
			}
			b.Run(name, func(b *testing.B) {
				var sent atomic.Uint64
				enc := ppp.NewEncoder()
				var frame []byte
				send := func(ip []byte) error {
					if framing {
						frame = enc.AppendFrame(frame[:0], ppp.ProtoIP, ip)
					}
					sent.Add(1)
					return nil
				}
				p, s := benchPlane(b, SessionConfig{Send: send})
				b.SetBytes(int64(len(pkt)))
				b.ReportAllocs()
				for b.Loop() {
					for len(s.q) == cap(s.q) {
						runtime.Gosched() // the writer drains; never drop in a benchmark
					}
					buf := p.getBuf()
					p.dispatch(buf, copy(buf.b, pkt))
				}
				for sent.Load() < uint64(b.N) {
					runtime.Gosched()
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
			})
		}
	}
}
