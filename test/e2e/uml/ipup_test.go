package uml

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/ppp"
)

// Options.IPUp runs once IPCP is up, with pppd's arguments and environment, and reports its
// output and status; `kill $PPPD_PID` ends the call, and the report still comes.
func TestIPUp(t *testing.T) {
	needUML(t)
	master, slave, err := OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	defer slave.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	local, peer := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	served := make(chan ppp.LinkResult, 1)
	go func() { // the NAS end, on the pty master
		res, _ := ppp.NewLink(master, ppp.LinkConfig{Role: ppp.Server, Keepalive: -1,
			Network: func(*aaa.Profile) (ppp.IPCPConfig, func(), error) {
				return ppp.IPCPConfig{Local: local, Peer: peer}, func() {}, nil
			}}).Run(ctx)
		served <- res
	}()
	res, err := Run(ctx, Options{PTY: slave.Name(), PPPDArgs: []string{"noauth", "lcp-restart", "1"},
		IPUp: `echo "up $1 $4 $5 $IPREMOTE"; echo "to stderr" >&2; kill "$PPPD_PID"; exit 3`})
	if err != nil {
		if res != nil {
			t.Log(res.Log)
		}
		t.Fatal(err)
	}
	if res.IPUpExit != 3 || res.IPUpOutput != "up ppp0 10.0.0.2 10.0.0.1 10.0.0.1\nto stderr\n" {
		t.Errorf("ip-up exit %d, output %q", res.IPUpExit, res.IPUpOutput)
	}
	if res.ExitCode != ExitUserRequest {
		t.Errorf("pppd exit %d, want %d (killed by ip-up)", res.ExitCode, ExitUserRequest)
	}
	select {
	case r := <-served:
		if r.Reached != ppp.PhaseOpen || r.Cause != ppp.CauseUserRequest {
			t.Errorf("server link reached %v, ended %q (%s)", r.Reached, r.Cause, r.Message)
		}
	case <-ctx.Done():
		t.Fatal("the server link did not end")
	}
	if t.Failed() {
		t.Log(res.Log)
	}
}

func TestParseIPUp(t *testing.T) {
	for _, tc := range []struct {
		name, log string
		exit      int
		out       string
	}{
		{"none", "NAS-UML: pppd-exit=0\n", -1, ""},
		{"ran", "NAS-UML: ip-up: a\r\nNAS-UML: ip-up: \nNAS-UML: ip-up-exit=1\nNAS-UML: pppd-exit=5\n", 1, "a\n\n"},
		{"spoofed status in the output", "NAS-UML: ip-up: NAS-UML: ip-up-exit=9\n", -1, "NAS-UML: ip-up-exit=9\n"},
		{"bad status", "NAS-UML: ip-up-exit=300\n", -1, ""},
	} {
		exit, out := parseIPUp(tc.log)
		if exit != tc.exit || out != tc.out {
			t.Errorf("%s: got %d %q, want %d %q", tc.name, exit, out, tc.exit, tc.out)
		}
	}
}

func FuzzParseIPUp(f *testing.F) {
	f.Add("NAS-UML: ip-up: PING 10.0.0.1\nNAS-UML: ip-up-exit=0\n")
	f.Fuzz(func(t *testing.T, log string) {
		exit, out := parseIPUp(log)
		if exit < -1 || exit > 255 || exit >= 0 && !strings.Contains(log, markerIPUpRC) {
			t.Fatalf("exit %d", exit)
		}
		if out != "" && !strings.Contains(log, markerIPUp) {
			t.Fatalf("output %q without a marker", out)
		}
	})
}
