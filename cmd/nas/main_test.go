package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialback/nas/cmd/nas/lab"
	"github.com/dialback/nas/examples"
)

func TestCheckExample(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"check", "--config", "../../examples/nas.yaml"}, &out, &errOut); code != 0 {
		t.Fatalf("nas check examples/nas.yaml = %d\n%s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "ok") {
		t.Errorf("stdout %q", out.String())
	}
}

// TestCheckNamesEveryBadKey: a copy of the example with problems exits non-zero and names
// each key.
func TestCheckNamesEveryBadKey(t *testing.T) {
	data, err := os.ReadFile("../../examples/nas.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(data), "rotary: 77 # IOS `rotary 77`", "rotary: 500", 1)
	bad = strings.Replace(bad, "answer: ring", "answer: sometimes", 1)
	if bad == string(data) {
		t.Fatal("the example changed: the test's edits no longer apply")
	}
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run([]string{"check", "--config", path}, &out, &errOut)
	if code == 0 {
		t.Fatalf("nas check accepted a bad configuration")
	}
	for _, want := range []string{"lines[1].rotary: 500 is out of range 0-100", `lines[0].modem.answer: "sometimes" is not one of auto, ring`} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, errOut.String())
		}
	}
}

func TestUnknownCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"frobnicate"}, &out, &errOut); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
}

// TestREADMEListsEveryBundledScenario keeps the README's table of bundled scenarios whole: a
// scenario added to examples/lab must be described there too.
func TestREADMEListsEveryBundledScenario(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	all, err := lab.LoadBundled(examples.FS, "lab")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 {
		t.Fatal("no bundled scenarios")
	}
	for _, s := range all {
		if !strings.Contains(string(readme), "| `"+s.Name+"` |") {
			t.Errorf("README.md's table of bundled scenarios lacks %s", s.Name)
		}
	}
}

// TestServeFailsOnTakenDynamicAuthorPort: the RFC 5176 listener is opened before any line
// answers, so a port already taken stops `nas serve` at once, naming the listener.
func TestServeFailsOnTakenDynamicAuthorPort(t *testing.T) {
	taken, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`hostname: nas-test
lines:
  - {lines: 1, port: "sim:5551001", login: local}
users:
  - {name: dave, password: dave-secret}
radius:
  dynamic-author:
    listen: %q
    clients: [{address: 127.0.0.1, secret: coa-secret}]
accounting:
  spool: %s
dataplane: {enabled: false} # no TUN interface or routes on the host from a unit test
`, taken.LocalAddr().String(), filepath.Join(dir, "spool"))
	path := filepath.Join(dir, "nas.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run([]string{"serve", "--config", path}, &out, &errOut) }()
	select {
	case code := <-done:
		if code != 1 {
			t.Fatalf("nas serve = %d, want 1\n%s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		// It is serving: the listener was not opened, or its error ignored.
		t.Fatal("nas serve started although the dynamic-author port is taken")
	}
	if !strings.Contains(errOut.String(), "dynamic-author") || !strings.Contains(errOut.String(), "address already in use") {
		t.Errorf("stderr does not name the listener and the taken port:\n%s", errOut.String())
	}
}
