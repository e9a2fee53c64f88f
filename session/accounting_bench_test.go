package session_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/acct"
	"github.com/dialback/nas/aaa/local"
	"github.com/dialback/nas/config"
	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/lines/pstn"
	"github.com/dialback/nas/session"
	"github.com/dialback/nas/session/caller"
)

// BenchmarkAccountedExecCalls measures whole EXEC calls (dial, login, logout, hang-up) on 32
// simulated lines at once, each accounted with a Start and a Stop in an fsynced spool: the
// figure is calls and records per second through the whole NAS.
func BenchmarkAccountedExecCalls(b *testing.B) {
	const nLines = 32
	log := slog.New(slog.DiscardHandler)
	x := pstn.New(pstn.Options{RingPeriod: 5 * time.Millisecond, NoAnswerRings: 50, TrainingDelay: 2 * time.Millisecond,
		DSRDrop: 5 * time.Millisecond, DTRPulse: 2 * time.Millisecond, Log: log})
	defer x.Close()
	cfg := &config.Config{Hostname: "nas", Users: []config.User{{Name: "alice", Password: "wonderland"}}}
	for n := 1; n <= nLines; n++ {
		s := lineSpec(n, fmt.Sprintf("55510%02d", n))
		s.Modem.AnswerRings = 1
		cfg.Lines = append(cfg.Lines, s)
	}
	cfg.ApplyDefaults()
	ports := map[int]lines.Port{}
	for _, tty := range cfg.TTYs() {
		num, _ := config.SimNumber(tty.Spec.Port)
		p, err := x.Attach(num)
		if err != nil {
			b.Fatal(err)
		}
		ports[tty.Num] = p
	}
	sp, err := acct.Open(b.TempDir(), acct.Options{Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	defer sp.Close()
	loc, err := local.New(cfg.Users)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := session.New(session.Options{
		Config: cfg, Ports: ports, Login: aaa.MethodList{Service: aaa.ServiceLogin, Methods: []aaa.Method{loc}},
		Local: loc, Log: log, Modem: serverModem(log), Accounting: sp,
		Timing: session.Timing{FlushWindow: time.Millisecond, RetryMin: 10 * time.Millisecond, HangupTimeout: time.Second},
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for n := 1; n <= nLines; n++ {
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := srv.Table().Wait(wctx, n, func(i lines.Info) bool { return i.State == lines.Idle })
		wcancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	callers := make([]*caller.Caller, nLines)
	for i := range callers {
		if callers[i], err = caller.New(x, fmt.Sprintf("55520%02d", i), caller.Options{Modem: fastModem(log)}); err != nil {
			b.Fatal(err)
		}
	}
	before := sp.Stats()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, nLines)
	next := make(chan int, b.N)
	for i := range b.N {
		next <- i
	}
	close(next)
	for i, c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			line := fmt.Sprintf("55510%02d", i+1) // each caller keeps to one line
			for range next {
				cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
				err := oneCall(cctx, c, line)
				ccancel()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	st := sp.Stats()
	recs := st.Appended - before.Appended
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "calls/s")
	b.ReportMetric(float64(recs)/elapsed.Seconds(), "records/s")
	b.ReportMetric(float64(recs)/float64(max(st.Batches-before.Batches, 1)), "records/fsync")
}

func oneCall(ctx context.Context, c *caller.Caller, number string) error {
	if _, err := c.Dial(ctx, number); err != nil {
		return err
	}
	if err := c.Login(ctx, "alice", "wonderland"); err != nil {
		return err
	}
	if _, err := c.Expect(ctx, "nas>"); err != nil {
		return err
	}
	if err := c.SendLine("exit"); err != nil {
		return err
	}
	_, err := c.WaitHangup(ctx)
	return err
}
