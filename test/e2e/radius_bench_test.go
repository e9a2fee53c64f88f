//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/radius"
	"github.com/dialback/nas/test/e2e/peer"
)

// Authentications per second through the NAS's RADIUS client against FreeRADIUS, beside
// FreeRADIUS's own radclient sending the same requests to the same server, in one run:
//
//	go test -run '^$' -bench FreeRADIUSThroughput -benchtime 3x ./test/e2e/
//
// Each iteration sends benchBatch PAP Access-Requests for the same user (Message-Authenticator
// first, as FreeRADIUS requires here) with the same number in flight on both sides: first
// through radius.Client from that many goroutines, then through `radclient -p N -f FILE` (one
// process for the whole batch; its start-up, about 20 ms, is included). The metrics are each
// side's auths/s over all iterations and nas/radclient, the ratio. Both share the machine
// (2 vCPUs here) with the server. radclient is slow with few requests in flight (it waits in
// its event loop between sends), so the ratio is given at 32 and at 128 in flight.
const benchBatch = 5000

func BenchmarkFreeRADIUSThroughput(b *testing.B) {
	for _, inFlight := range []int{32, 128} {
		b.Run(fmt.Sprintf("inflight=%d", inFlight), func(b *testing.B) { benchThroughput(b, inFlight) })
	}
}

func benchThroughput(b *testing.B, benchParallel int) {
	radclient, err := exec.LookPath("radclient")
	if err != nil {
		peer.Missing(b, "radclient not installed (apt-get install freeradius-utils)")
	}
	fr := startFreeRADIUS(b)
	srv := fr.server()
	srv.Timeout, srv.Retransmits = 5*time.Second, 0
	c := frClient(b, radius.Config{Servers: []radius.Server{srv}, NASIdentifier: "nas-bench"})

	dir := b.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(frSecret+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	var reqs strings.Builder
	for i := range benchBatch {
		// The attributes the NAS's client sends for a PPP PAP login, so that both sides ask
		// the server for the same work.
		fmt.Fprintf(&reqs, "User-Name = \"bench\"\nUser-Password = \"bench-secret\"\nNAS-Identifier = \"nas-bench\"\n"+
			"NAS-Port = %d\nNAS-Port-Id = \"tty%d\"\nNAS-Port-Type = Async\nService-Type = Framed-User\n"+
			"Framed-Protocol = PPP\nMessage-Authenticator = 0x00\n\n", i%64, i%64)
	}
	reqFile := filepath.Join(dir, "requests")
	if err := os.WriteFile(reqFile, []byte(reqs.String()), 0o600); err != nil {
		b.Fatal(err)
	}

	var nasTime, radclientTime time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		var next, failed atomic.Int64
		var wg sync.WaitGroup
		for range benchParallel {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= benchBatch {
					r := &aaa.Request{Service: aaa.ServicePPP, User: "bench", Password: "bench-secret", Line: int(next.Load() % 64)}
					if _, err := c.Authenticate(context.Background(), r); err != nil {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		nasTime += time.Since(start)
		if n := failed.Load(); n > 0 {
			b.Fatalf("%d of %d authentications through the NAS's client failed", n, benchBatch)
		}

		start = time.Now()
		out, err := exec.Command(radclient, "-q", "-s", "-p", fmt.Sprint(benchParallel), "-r", "1", "-t", "5",
			"-f", reqFile, "-S", secretFile, fmt.Sprintf("127.0.0.1:%d", fr.auth), "auth").CombinedOutput()
		radclientTime += time.Since(start)
		if err != nil || !strings.Contains(string(out), fmt.Sprintf("Accepted      : %d", benchBatch)) {
			b.Fatalf("radclient: %v\n%s", err, out)
		}
	}
	b.StopTimer()
	total := float64(b.N * benchBatch)
	nasRate, rcRate := total/nasTime.Seconds(), total/radclientTime.Seconds()
	b.ReportMetric(nasRate, "nas-auths/s")
	b.ReportMetric(rcRate, "radclient-auths/s")
	b.ReportMetric(nasRate/rcRate, "nas/radclient")
	b.ReportMetric(0, "ns/op") // an op is two batches; the rates are the figures
}
