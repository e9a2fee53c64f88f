package ppp

import (
	"context"
	"sync"
	"testing"
	"time"
)

// BenchmarkHandshake runs a whole call setup between the server and client roles in memory:
// LCP, authentication against the local user table, IPCP, until the server's link is open.
// ns/op is one handshake (both ends, on two goroutines); allocs/op counts both ends.
func BenchmarkHandshake(b *testing.B) {
	for _, alg := range []AuthProto{AuthCHAP, AuthPAP, AuthMSCHAPv2} {
		b.Run(alg.String(), func(b *testing.B) {
			s := lkServer(b, alg)
			c := lkClient(b, "alice", "wonderland")
			s.RestartTimer, c.RestartTimer = time.Second, time.Second
			b.ReportAllocs()
			for b.Loop() {
				se, ce := lkPipe()
				ctx, cancel := context.WithCancel(context.Background())
				s.Up = func(LinkResult) { cancel() }
				var wg sync.WaitGroup
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, _ = NewLink(ce, c).Run(ctx)
				}()
				res, _ := NewLink(se, s).Run(ctx)
				wg.Wait()
				if res.Reached != PhaseOpen {
					b.Fatalf("handshake reached %v: %s %s", res.Reached, res.Cause, res.Message)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
		})
	}
}
