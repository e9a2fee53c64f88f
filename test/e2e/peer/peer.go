// Package peer decides what an end-to-end test does when the real peer it needs (ser2net,
// FreeRADIUS, pppd in user-mode Linux, a TACACS+ server) is not installed: skip, or — with
// E2E_REQUIRED=1, as CI runs — fail, so that a missing install step cannot pass unnoticed.
package peer

import (
	"fmt"
	"os"
	"testing"
)

// Required reports whether end-to-end peers must be present (E2E_REQUIRED=1).
func Required() bool { return os.Getenv("E2E_REQUIRED") == "1" }

// Missing ends the test because a peer is missing: t.Fatal when peers are required, t.Skip
// otherwise. The message should name the Debian package that provides the peer.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("%s (E2E_REQUIRED=1)", msg)
	}
	t.Skipf("%s; set E2E_REQUIRED=1 to make this fatal", msg)
}
