package dynauth

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dialback/nas/test/e2e/peer"
)

// radclient runs FreeRADIUS's radclient (Debian freeradius-utils) against s with the request
// attributes given, and returns its output. The secret goes in a file, not on the command line.
func radclient(t *testing.T, s *Server, command string, attrs ...string) string {
	t.Helper()
	bin, err := exec.LookPath("radclient")
	if err != nil {
		peer.Missing(t, "radclient not installed (apt-get install freeradius-utils)")
	}
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-x", "-r", "1", "-t", "1", "-S", secretFile, s.Addr().String(), command)
	cmd.Stdin = strings.NewReader(strings.Join(attrs, "\n") + "\n")
	out, _ := cmd.CombinedOutput() // a NAK makes radclient exit non-zero: judge by the output
	return string(out)
}

// FreeRADIUS's own client, signing with Message-Authenticator, gets the answers RFC 5176 says.
func TestRadclient(t *testing.T) {
	f := newFake()
	s := startServer(t, f, nil)

	out := radclient(t, s, "disconnect", `Acct-Session-Id = "0000000B"`, `NAS-Identifier = "nas-test"`, "Message-Authenticator = 0x00")
	if !strings.Contains(out, "Received Disconnect-ACK") || !slices.Equal(f.gone(), []string{"s2"}) {
		t.Fatalf("disconnect: gone %v, radclient said:\n%s", f.gone(), out)
	}

	out = radclient(t, s, "disconnect", `User-Name = "nobody"`, "Message-Authenticator = 0x00")
	if !strings.Contains(out, "Received Disconnect-NAK") || !strings.Contains(out, "Error-Cause = Session-Context-Not-Found") {
		t.Fatalf("disconnect of nobody; radclient said:\n%s", out)
	}

	out = radclient(t, s, "coa", `User-Name = "bob"`, "Session-Timeout = 120", "Idle-Timeout = 30", "Message-Authenticator = 0x00")
	got := f.timeoutsSet()["s3"]
	if !strings.Contains(out, "Received CoA-ACK") || got.Session == nil || *got.Session != 2*time.Minute || got.Idle == nil || *got.Idle != 30*time.Second {
		t.Fatalf("coa: timeouts %+v, radclient said:\n%s", got, out)
	}

	out = radclient(t, s, "coa", `User-Name = "bob"`, `Filter-Id = "strict"`, "Session-Timeout = 1", "Message-Authenticator = 0x00")
	if !strings.Contains(out, "Received CoA-NAK") || !strings.Contains(out, "Error-Cause = Unsupported-Attribute") {
		t.Fatalf("coa with Filter-Id; radclient said:\n%s", out)
	}

	// Without Message-Authenticator the request is dropped: radclient gets no answer.
	before := s.Stats().Discarded
	out = radclient(t, s, "disconnect", `User-Name = "bob"`)
	if strings.Contains(out, "Received") {
		t.Fatalf("unsigned disconnect answered; radclient said:\n%s", out)
	}
	eventually(t, "the unsigned request counted as discarded", func() bool { return s.Stats().Discarded == before+1 }) // -r 1: one try
}
