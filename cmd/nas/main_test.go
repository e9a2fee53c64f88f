package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
