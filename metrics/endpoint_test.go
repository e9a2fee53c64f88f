package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialback/nas/aaa/acct"
)

// noGoroutineLeak fails the test if goroutines started during it are still running at its end
// (polled: exiting goroutines take a moment to be gone).
func noGoroutineLeak(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Errorf("%d goroutines at the start, %d at the end:\n%s", before, runtime.NumGoroutine(),
					buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

func get(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestEndpointServesUntilCancelled(t *testing.T) {
	noGoroutineLeak(t)
	sp := openSpool(t, acct.OSFS{}, acct.PolicyRefuse)
	e, err := Listen("127.0.0.1:0", handler(t, Sources{Spool: sp}), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx) }()

	client := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	base := "http://" + e.Addr().String()
	code, body := get(t, client, base+Path)
	if code != http.StatusOK || !strings.Contains(body, "\nnas_acct_spool_writable 1\n") {
		t.Errorf("GET %s: %d\n%s", Path, code, body)
	}
	if !strings.Contains(body, "promhttp_metric_handler_requests_total") {
		t.Error("the handler's own metrics are missing")
	}
	if code, _ := get(t, client, base+"/"); code != http.StatusNotFound {
		t.Errorf("GET /: %d, want 404", code)
	}

	cancel() // with an idle keep-alive connection open: Shutdown closes it
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if _, err := net.DialTimeout("tcp", e.Addr().String(), time.Second); err == nil {
		t.Error("the endpoint still accepts connections after Serve returned")
	}
	if err := e.Close(); err != nil {
		t.Errorf("Close after Serve: %v", err)
	}
}

func TestEndpointClose(t *testing.T) {
	noGoroutineLeak(t)
	h := handler(t, Sources{})

	// Close while serving ends Serve.
	e, err := Listen("127.0.0.1:0", h, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.Serve(context.Background()) }()
	if err := e.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Close")
	}

	// Close without Serve frees the address.
	e, err = Listen("127.0.0.1:0", h, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	addr := e.Addr().String()
	if err := e.Close(); err != nil {
		t.Errorf("Close without Serve: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the address was not freed: %v", err)
	}
	ln.Close()
}

// A taken address fails Listen, naming the key and the address.
func TestListenTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	e, err := Listen(taken.Addr().String(), handler(t, Sources{}), quietLog())
	if err == nil {
		e.Close()
		t.Fatal("Listen on a taken address succeeded")
	}
	if !strings.Contains(err.Error(), "metrics.listen "+taken.Addr().String()) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("error %q does not name the key, the address and the cause", err)
	}
}
