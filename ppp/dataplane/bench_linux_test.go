package dataplane

import (
	"context"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialback/nas/ppp"
)

// The whole userspace path through a real TUN in a namespace made for the benchmark, with
// PPP framing: in, the caller's frame is decoded, checked, filtered and written to the TUN,
// whose kernel drops it on a blackhole route; out, a UDP socket in the namespace sends to the
// caller, and the datagram comes up the TUN, through the reader, the queue and the writer,
// and is framed for the line. ns/op includes the kernel's share on the same core.

func tunBench(b *testing.B, send func([]byte) error) (*Plane, *Session, string) {
	b.Helper()
	requirePrivileged(b)
	ns := newNetns(b)
	var p *Plane
	inNetns(b, ns, func() {
		// Forwarding on, so the blackhole route drops silently (no ICMP unreachable back).
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0); err != nil {
			b.Fatal(err)
		}
		var err error
		if p, err = New(context.Background(), Config{QueueLen: 256, AccessLists: map[string]*ACL{"bench": benchACL(b)}}); err != nil {
			b.Fatal(err)
		}
	})
	b.Cleanup(func() { p.Close() })
	ip(b, "-n", ns, "route", "add", "blackhole", "192.0.2.0/24")
	s, err := p.Attach(context.Background(), SessionConfig{ID: "bench", Local: netip.MustParseAddr("198.51.100.1"),
		Peer: netip.MustParseAddr("198.51.100.2"), Filter: "bench.in bench.out", Send: send})
	if err != nil {
		b.Fatal(err)
	}
	return p, s, ns
}

func BenchmarkTUNIn(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			_, s, _ := tunBench(b, func([]byte) error { return nil })
			frame := ppp.NewEncoder().AppendFrame(nil, ppp.ProtoIP, udpOfSize("198.51.100.2", "192.0.2.9", sz.size))
			dec := ppp.NewDecoder(ppp.DefaultMRU)
			b.SetBytes(int64(sz.size))
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
			if c := s.Counters(); c.InPackets != uint64(b.N) {
				b.Fatalf("delivered %d of %d: %+v", c.InPackets, b.N, c)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}

func BenchmarkTUNOut(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run(sz.name, func(b *testing.B) {
			var sent atomic.Uint64
			enc := ppp.NewEncoder()
			var frame []byte
			// Fewer in flight than the TUN's transmit queue (500), or the kernel drops. The
			// sender blocks rather than spins, so the runtime polls the TUN as it would in
			// the NAS.
			inFlight := make(chan struct{}, 128)
			_, s, ns := tunBench(b, func(ip []byte) error {
				frame = enc.AppendFrame(frame[:0], ppp.ProtoIP, ip)
				sent.Add(1)
				<-inFlight
				return nil
			})
			var conn net.PacketConn
			inNetns(b, ns, func() {
				var err error
				if conn, err = net.ListenPacket("udp4", "0.0.0.0:0"); err != nil {
					b.Fatal(err)
				}
			})
			defer conn.Close()
			payload := udpOfSize("0.0.0.0", "0.0.0.0", sz.size)[28:]
			to := &net.UDPAddr{IP: net.IPv4(198, 51, 100, 2), Port: 5000}
			b.SetBytes(int64(sz.size))
			b.ReportAllocs()
			var n uint64
			for b.Loop() {
				inFlight <- struct{}{}
				if _, err := conn.WriteTo(payload, to); err != nil {
					b.Fatal(err)
				}
				n++
			}
			deadline := time.Now().Add(10 * time.Second)
			for sent.Load() < n && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if got := sent.Load(); got != n {
				b.Fatalf("delivered %d of %d: %+v", got, n, s.Counters())
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}
