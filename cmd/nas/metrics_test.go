package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer that `nas serve` may write while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// freeTCPAddr is a loopback address nobody listens on (a moment ago).
func freeTCPAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func metricsConfig(t *testing.T, listen string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`hostname: nas-test
lines:
  - {lines: 1-2, port: "sim:555100{n}", login: local}
users:
  - {name: dave, password: dave-secret}
accounting:
  spool: %s
metrics: {listen: %q}
dataplane: {enabled: false} # no TUN interface or routes on the host from a unit test
`, filepath.Join(dir, "spool"), listen)
	path := filepath.Join(dir, "nas.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServeMetrics: `nas serve` with metrics.listen serves /metrics from its live spool and
// line table while it runs, and frees the port when it stops.
func TestServeMetrics(t *testing.T) {
	before := runtime.NumGoroutine()
	addr := freeTCPAddr(t)
	path := metricsConfig(t, addr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	orig := serveContext
	serveContext = func() (context.Context, context.CancelFunc) { return ctx, cancel }
	t.Cleanup(func() { serveContext = orig })
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() { done <- run([]string{"serve", "--config", path}, &out, &errOut) }()

	client := &http.Client{Transport: &http.Transport{}, Timeout: 2 * time.Second}
	defer client.CloseIdleConnections()
	url := "http://" + addr + "/metrics"
	// Both lines come up idle on the simulated network; until then they are down.
	want := []string{"\nnas_acct_spool_writable 1\n", "\nnas_acct_admitting_calls 1\n", `nas_lines{state="idle"} 2`,
		`nas_sessions{protocol="ppp"} 0`}
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case code := <-done:
			t.Fatalf("nas serve exited with %d before serving metrics:\n%s", code, errOut.String())
		default:
		}
		body = scrapeOnce(client, url)
		if containsAll(body, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s never showed %q; last answer:\n%s\nstderr:\n%s", url, want, body, errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(body, "nas_radius_server_up") {
		t.Error("RADIUS metrics without a RADIUS group")
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("nas serve = %d\n%s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nas serve did not stop")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the metrics port is still taken after nas serve stopped: %v", err)
	}
	ln.Close()
	// Everything serve started has stopped (exiting goroutines take a moment to be gone).
	client.CloseIdleConnections()
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines before nas serve, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
	}
}

func scrapeOnce(client *http.Client, url string) string {
	resp, err := client.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	return string(b)
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestServeFailsOnTakenMetricsPort: the endpoint is bound before any line answers, so a port
// already taken stops `nas serve` at once, naming the key.
func TestServeFailsOnTakenMetricsPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	path := metricsConfig(t, taken.Addr().String())
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() { done <- run([]string{"serve", "--config", path}, &out, &errOut) }()
	select {
	case code := <-done:
		if code != 1 {
			t.Fatalf("nas serve = %d, want 1\n%s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nas serve started although the metrics port is taken")
	}
	if !strings.Contains(errOut.String(), "metrics.listen "+taken.Addr().String()) || !strings.Contains(errOut.String(), "address already in use") {
		t.Errorf("stderr does not name the key and the taken port:\n%s", errOut.String())
	}
}
