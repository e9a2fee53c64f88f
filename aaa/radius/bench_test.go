package radius

import (
	"context"
	"testing"
	"time"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/acct"
)

// BenchmarkAuthenticatePAP measures PAP authentications per second against layeh's
// in-process server on loopback, with 32 requests in flight per CPU. "shared" is the
// client's transport (256 requests per socket); "socket-per-request" opens and closes a
// socket, and its reader goroutine, for every request, as layeh's Exchange does.
func BenchmarkAuthenticatePAP(b *testing.B) {
	for _, mode := range []struct {
		name      string
		perSocket int
	}{{"shared", idsPerSocket}, {"socket-per-request", 1}} {
		b.Run(mode.name, func(b *testing.B) {
			srv := newLabServer(b)
			s := srv.server()
			s.Timeout = 2 * time.Second
			s.Retransmits = 3
			c := newClient(b, Config{Servers: []Server{s}, MaxSockets: 1 << 16})
			for _, ep := range c.auth {
				ep.perSocket = mode.perSocket
			}
			b.SetParallelism(32)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				r := &aaa.Request{Service: aaa.ServicePPP, User: "alice", Password: "wonderland", Line: 1}
				for pb.Next() {
					if _, err := c.Authenticate(context.Background(), r); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "auths/s")
		})
	}
}

// BenchmarkDeliver measures Accounting-Requests per second (Stop records).
func BenchmarkDeliver(b *testing.B) {
	srv := newLabServer(b)
	s := srv.server()
	s.Timeout = 2 * time.Second
	s.Retransmits = 3
	c := newClient(b, Config{Servers: []Server{s}})
	rec := record(acct.Stop)
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := c.Deliver(context.Background(), rec); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
