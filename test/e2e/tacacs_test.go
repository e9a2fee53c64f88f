//go:build linux

package e2e

// End-to-end test of aaa/tacacs against tacquito's stock server program
// (github.com/facebookincubator/tacquito/cmds/server), built from the module the NAS
// already depends on and run with its own YAML configuration: tacacs/tacquito.yaml, the
// same file docker-compose.yml's tacacs service mounts.
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
//	default) too; a random loopback port works. Only ASCII and PAP logins are implemented; CHAP,
//	MS-CHAPv2, accounting and TLS are tested against the in-process server in aaa/tacacs
//	(and aaa/tacacs/labserver). Its session authorizer answers the NAS's authorization
//	requests with the AVs of the config's services, which this test checks.
//	The secret provider matches the client's address against CIDR prefixes: "::0/0" from
//	its example does not match IPv4 clients, so the config lists 127.0.0.0/8.
//	Building it needs its own module graph (gopkg.in/yaml.v3, fsnotify 1.5.4): the test
//	copies the module to a temporary directory and runs go build there.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/tacacs"
	"github.com/dialback/nas/config"
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

// The policy of tacacs/tacquito.yaml.
const (
	tacquitoConfigFile = "tacacs/tacquito.yaml"
	tacquitoKey        = "e2e-shared-key"
	tacquitoUser       = "dialer"
	tacquitoPassword   = "callme"
)

// startTacquito runs the stock server and waits until it accepts connections.
func startTacquito(t *testing.T, bin string) string {
	t.Helper()
	dir := t.TempDir()
	cfg, err := filepath.Abs(tacquitoConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(freeTCPPort(t)))
	out := &lockedBuffer{}
	cmd := exec.Command(bin, "-network", "tcp", "-address", addr, "-config", cfg,
		"-acct-log-path", filepath.Join(dir, "acct.log"), "-metrics-address", "127.0.0.1:0", "-level", "20")
	cmd.Stdout, cmd.Stderr = out, out
	p := startProc(t, cmd)
	t.Cleanup(func() { // before startProc's kill: let tacquito stop by itself first
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-p.exited:
		case <-time.After(tacquitoGuard):
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("tacquito output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(tacquitoGuard)
	for {
		select {
		case <-p.exited:
			t.Fatalf("tacquito exited at start: %v\n%s", p.err, out.String())
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
	const key, user, password = tacquitoKey, tacquitoUser, tacquitoPassword
	addr := startTacquito(t, bin)

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	client := func(t *testing.T, secret string, single bool) *tacacs.Client {
		return newTacquitoClient(t, addr, secret, single, true, log)
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

	t.Run("authorization", func(t *testing.T) { tacquitoAuthorization(t, addr, log) })

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

func newTacquitoClient(t *testing.T, addr, secret string, single, skipAuthor bool, log *slog.Logger) *tacacs.Client {
	t.Helper()
	c, err := tacacs.New(tacacs.Config{
		Servers:           []tacacs.Server{{Address: addr, Secret: secret, Timeout: 3 * time.Second, SingleConnection: single}},
		SkipAuthorization: skipAuthor,
		Logger:            log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// tacquitoAuthorization: after an ASCII or PAP login the NAS asks the stock server for
// service=shell, or service=ppp protocol=lcp then protocol=ip, and maps the AVs of
// tacacs/tacquito.yaml onto the profile: the callback entitlement, priv-lvl, idletime.
func tacquitoAuthorization(t *testing.T, addr string, log *slog.Logger) {
	c := newTacquitoClient(t, addr, tacquitoKey, false, false, log)
	ctx, cancel := context.WithTimeout(context.Background(), tacquitoGuard)
	defer cancel()

	p, err := c.Authenticate(ctx, &aaa.Request{Service: aaa.ServiceLogin, User: tacquitoUser, Password: tacquitoPassword})
	if err != nil {
		t.Fatal(err)
	}
	if p.Callback == nil || *p.Callback != (aaa.Callback{Dialstring: "5552001", Line: 4, NoVerify: true}) || p.PrivLevel != 15 {
		t.Errorf("EXEC profile %+v callback %+v", p, p.Callback)
	}
	p, err = c.Authenticate(ctx, &aaa.Request{Service: aaa.ServicePPP, User: tacquitoUser, Password: tacquitoPassword})
	if err != nil {
		t.Fatal(err)
	}
	if p.Callback == nil || *p.Callback != (aaa.Callback{Dialstring: "5552001"}) || p.IdleTimeout != 10*time.Minute {
		t.Errorf("PPP profile %+v callback %+v", p, p.Callback)
	}
	// Authorization alone (the callback leg of a nocallback-verify user).
	p, err = c.Authorize(ctx, &aaa.Request{Service: aaa.ServiceLogin, User: tacquitoUser})
	if err != nil || p.Callback == nil || !p.Callback.NoVerify {
		t.Errorf("authorize: %v, profile %+v", err, p)
	}
	if _, err := c.Authorize(ctx, &aaa.Request{Service: aaa.ServiceLogin, User: "nobody"}); !errors.Is(err, aaa.ErrRejected) {
		t.Errorf("authorize unknown user: %v, want a reject", err)
	}
}

// TestTacquitoDockerfilePinned: docker-compose's TACACS+ server is built from the tacquito
// version go.mod pins, so that the deployment runs the server these tests ran.
func TestTacquitoDockerfilePinned(t *testing.T) {
	mod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var pinned string
	for _, l := range strings.Split(string(mod), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "github.com/facebookincubator/tacquito" {
			pinned = f[1]
		}
	}
	if pinned == "" {
		t.Fatal("go.mod does not require github.com/facebookincubator/tacquito")
	}
	df, err := os.ReadFile(filepath.Join("tacacs", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "ARG TACQUITO_VERSION=" + pinned + "\n"; !strings.Contains(string(df), want) {
		t.Errorf("tacacs/Dockerfile does not pin %s (want a line %q)", pinned, strings.TrimSpace(want))
	}
	if _, err := os.Stat(tacquitoConfigFile); err != nil {
		t.Errorf("the config the Dockerfile's server runs with: %v", err)
	}
}

// TestDockerComposeTACACS: docker-compose.yml's tacacs service is built from tacacs/ and runs
// on the very file this test runs the server with, and the NAS's compose configuration points
// at it with that file's key.
func TestDockerComposeTACACS(t *testing.T) {
	root := filepath.Join("..", "..")
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Build struct {
				Context string `yaml:"context"`
			} `yaml:"build"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	svc, ok := compose.Services["tacacs"]
	if !ok {
		t.Fatal("docker-compose.yml has no tacacs service")
	}
	if filepath.Clean(svc.Build.Context) != filepath.Join("test", "e2e", "tacacs") {
		t.Errorf("tacacs service builds %q, want ./test/e2e/tacacs", svc.Build.Context)
	}
	mounted := false
	for _, v := range svc.Volumes {
		host, rest, _ := strings.Cut(v, ":")
		target, _, _ := strings.Cut(rest, ":")
		if filepath.Clean(host) == filepath.Join("test", "e2e", "tacacs") && target == "/etc/tacquito" {
			mounted = true
		}
	}
	df, err := os.ReadFile(filepath.Join("tacacs", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if !mounted || !strings.Contains(string(df), "-config /etc/tacquito/"+filepath.Base(tacquitoConfigFile)) {
		t.Errorf("the tacacs service does not run %s mounted at /etc/tacquito (volumes %q)", tacquitoConfigFile, svc.Volumes)
	}
	for name := range config.EnvNames() {
		t.Setenv(name, "")
	}
	nas, err := config.Load(filepath.Join(root, "examples", "docker", "nas.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range nas.TACACS.Servers {
		host, _, _ := strings.Cut(s.Address, ":")
		found = found || (host == "tacacs" && s.Secret == tacquitoKey)
	}
	if !found {
		t.Errorf("examples/docker/nas.yaml has no tacacs server at the compose service with tacquito.yaml's key: %+v", nas.TACACS.Servers)
	}
}
