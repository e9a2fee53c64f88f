//go:build linux

package e2e

// End-to-end test of aaa/tacacs against tacquito's stock server program
// (github.com/facebookincubator/tacquito/cmds/server), built from the module the NAS
// already depends on and run with its own YAML configuration.
//
// What the stock server needs (tacquito 7c6e7f81cf5a):
//
//	tacquito -network tcp -address 127.0.0.1:PORT -config DIR/tacquito.yaml \
//	         -acct-log-path DIR/acct.log -metrics-address 127.0.0.1:0 -level 20
//
//	It opens syslog at start (log/syslog: /dev/log, /var/run/syslog or /var/run/log) and
//	exits if none is there; the test provides a datagram socket at /dev/log when the machine
//	has none. Its Prometheus exporter must keep running: the server stops as soon as that
//	goroutine returns, so -export-promhttp=false stops it at once and a taken :8080 (the
//	default) too; a random loopback port works. Only ASCII and PAP logins are implemented; CHAP, MS-CHAPv2,
//	authorization and accounting are tested against the in-process server in aaa/tacacs.
//	The secret provider matches the client's address against CIDR prefixes: "::0/0" from
//	its example does not match IPv4 clients, so the config lists 127.0.0.0/8.
//	Building it needs its own module graph (gopkg.in/yaml.v3, fsnotify 1.5.4): the test
//	copies the module to a temporary directory and runs go build there.

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/tacacs"
	"github.com/dialback/nas/test/e2e/peer"
)

// tacquitoGuard bounds every wait in this test; it only fires when something is broken.
const tacquitoGuard = 15 * time.Second

// buildTacquito builds the stock server from the module in the Go module cache.
func buildTacquito(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("TACQUITO_BIN"); bin != "" {
		return bin
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/facebookincubator/tacquito").Output()
	if err != nil {
		peer.Missing(t, "locating the tacquito module: %v", err)
	}
	src := strings.TrimSpace(string(out))
	work := t.TempDir()
	// The module cache is read-only and go build wants to write go.sum: build in a copy.
	if out, err := exec.Command("cp", "-r", src, filepath.Join(work, "src")).CombinedOutput(); err != nil {
		peer.Missing(t, "copying tacquito: %v\n%s", err, out)
	}
	if out, err := exec.Command("chmod", "-R", "u+w", filepath.Join(work, "src")).CombinedOutput(); err != nil {
		peer.Missing(t, "chmod: %v\n%s", err, out)
	}
	bin := filepath.Join(work, "tacquito")
	cmd := exec.Command("go", "build", "-o", bin, "./cmds/server")
	cmd.Dir = filepath.Join(work, "src")
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		peer.Missing(t, "building tacquito's server (needs its modules in the cache or the Go proxy): %v\n%s", err, out)
	}
	return bin
}

// syslogSocket makes sure /dev/log exists for the server's syslog accounter.
func syslogSocket(t *testing.T) {
	t.Helper()
	for _, p := range []string{"/dev/log", "/var/run/syslog", "/var/run/log"} {
		// /var/run/log is a directory on systemd machines; only a socket counts.
		if fi, err := os.Stat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return
		}
	}
	pc, err := net.ListenPacket("unixgram", "/dev/log")
	if err != nil {
		peer.Missing(t, "tacquito needs a syslog socket and /dev/log cannot be made: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		_ = pc.Close()
		<-done
		_ = os.Remove("/dev/log")
	})
}

// tacquitoConfig is the stock server's YAML: one scope for 127.0.0.0/8 with the key, one
// bcrypt user.
func tacquitoConfig(t *testing.T, key, user, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`authenticator_type_bcrypt: &authenticator_type_bcrypt 1
bcrypt: &bcrypt
  type: *authenticator_type_bcrypt
  options:
    hash: %s
accounter_type_file: &accounter_type_file 3
file_accounter: &file_accounter
  name: e2e_accounter
  type: *accounter_type_file
dialin: &dialin
  name: dialin
  authenticator: *bcrypt
  accounter: *file_accounter
users:
  - name: %s
    scopes: ["localhost"]
    groups: [*dialin]
handler_type_start: &handler_type_start 1
provider_type_prefix: &provider_type_prefix 1
secrets:
  - name: localhost
    secret:
      group: tacquito
      key: %s
    handler:
      type: *handler_type_start
    type: *provider_type_prefix
    options:
      prefixes: |
        [
          "127.0.0.0/8"
        ]
`, hex.EncodeToString(h), user, key)
}

// lockedBuffer collects the server's output for failure reports.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startTacquito runs the stock server and waits until it accepts connections.
func startTacquito(t *testing.T, bin, key, user, password string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tacquito.yaml")
	if err := os.WriteFile(cfg, []byte(tacquitoConfig(t, key, user, password)), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	out := &lockedBuffer{}
	cmd := exec.Command(bin, "-network", "tcp", "-address", addr, "-config", cfg,
		"-acct-log-path", filepath.Join(dir, "acct.log"), "-metrics-address", "127.0.0.1:0", "-level", "20")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(tacquitoGuard):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("tacquito output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(tacquitoGuard)
	for {
		select {
		case <-exited:
			t.Fatalf("tacquito exited at start: %v\n%s", waitErr, out.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			_ = c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("tacquito does not listen on %s\n%s", addr, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type e2ePrompter struct {
	answers []string
	asked   []string
}

func (p *e2ePrompter) Prompt(_ context.Context, text string, echo bool) (string, error) {
	p.asked = append(p.asked, fmt.Sprintf("%s echo=%v", text, echo))
	if len(p.answers) == 0 {
		return "", errors.New("no more answers")
	}
	a := p.answers[0]
	p.answers = p.answers[1:]
	return a, nil
}

func TestTacquitoStockServer(t *testing.T) {
	bin := buildTacquito(t)
	syslogSocket(t)
	const key, user, password = "e2e-shared-key", "dialer", "callme"
	addr := startTacquito(t, bin, key, user, password)

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	client := func(t *testing.T, secret string, single bool) *tacacs.Client {
		c, err := tacacs.New(tacacs.Config{
			Servers: []tacacs.Server{{Address: addr, Secret: secret, Timeout: 3 * time.Second, SingleConnection: single}},
			// The stock server's authorizer is not part of this test (see above).
			SkipAuthorization: true,
			Logger:            log,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}

	for _, single := range []bool{false, true} {
		c := client(t, key, single)
		tests := []struct {
			name      string
			req       aaa.Request
			prompter  *e2ePrompter
			wantErr   error
			wantAsked []string
		}{
			{name: "ascii with the request's user and password", req: aaa.Request{Service: aaa.ServiceLogin, User: user, Password: password}},
			{
				name:      "ascii driven by the server's prompts",
				req:       aaa.Request{Service: aaa.ServiceLogin},
				prompter:  &e2ePrompter{answers: []string{user, password}},
				wantAsked: []string{"username: echo=true", "password: echo=false"},
			},
			{name: "ascii wrong password", req: aaa.Request{Service: aaa.ServiceLogin, User: user, Password: "wrong"}, wantErr: aaa.ErrRejected},
			{name: "ascii unknown user", req: aaa.Request{Service: aaa.ServiceLogin, User: "nobody", Password: password}, wantErr: aaa.ErrRejected},
			{name: "pap", req: aaa.Request{Service: aaa.ServicePPP, User: user, Password: password}},
			{name: "pap wrong password", req: aaa.Request{Service: aaa.ServicePPP, User: user, Password: "wrong"}, wantErr: aaa.ErrRejected},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s single=%v", tt.name, single), func(t *testing.T) {
				r := tt.req
				if tt.prompter != nil {
					r.Prompt = tt.prompter
				}
				ctx, cancel := context.WithTimeout(context.Background(), tacquitoGuard)
				defer cancel()
				p, err := c.Authenticate(ctx, &r)
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("err = %v, want %v", err, tt.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if p.User != user {
					t.Errorf("user = %q", p.User)
				}
				if tt.prompter != nil && !slices.Equal(tt.prompter.asked, tt.wantAsked) {
					t.Errorf("asked %q, want %q", tt.prompter.asked, tt.wantAsked)
				}
			})
		}
	}

	t.Run("wrong secret", func(t *testing.T) {
		c := client(t, "not-the-key", false)
		for _, svc := range []aaa.Service{aaa.ServiceLogin, aaa.ServicePPP} {
			ctx, cancel := context.WithTimeout(context.Background(), tacquitoGuard)
			_, err := c.Authenticate(ctx, &aaa.Request{Service: svc, User: user, Password: password})
			cancel()
			if !errors.Is(err, tacacs.ErrBadSecret) || errors.Is(err, aaa.ErrUnreachable) {
				t.Errorf("%s: err = %v, want ErrBadSecret and not unreachable", svc, err)
			}
		}
		// The right key still works afterwards.
		good := client(t, key, false)
		if _, err := good.Authenticate(context.Background(), &aaa.Request{Service: aaa.ServicePPP, User: user, Password: password}); err != nil {
			t.Fatal(err)
		}
	})
}
