//go:build linux

package e2e

// End-to-end test of the IP data plane (ppp/dataplane) with the real pppd 2.4.9 in user-mode
// Linux as the caller. The test makes two network namespaces: "nas", where the data plane's
// TUN nas0 lives, with IPv4 forwarding on, and "net", a host behind the NAS at the far end of
// a veth pair. The NAS runs in this process: the plane is created on a thread switched into
// "nas" (its TUN and rtnetlink socket stay there whichever thread uses them later), while
// the lines, sessions and the simulated telephone network stay in the test's own namespace,
// as the guests' ptys do. The guest dials the NAS through an emulated modem, as in
// ppp_test.go, gets an address from the pool, and from pppd's ip-up pings the host behind
// the NAS: the echo requests cross the PPP link, the data plane and the kernel's forwarding
// in "nas" to "net", and the replies come back by the caller's host route on nas0. Then the
// ip-up kills pppd, which ends the call; the accounting Stop in the spool must count the
// datagrams.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dialback/nas/aaa/acct"
	"github.com/dialback/nas/config"
	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/ppp/dataplane"
	"github.com/dialback/nas/session"
	"github.com/dialback/nas/session/event"
	"github.com/dialback/nas/test/e2e/peer"
	"github.com/dialback/nas/test/e2e/uml"
)

// dpNAS is the NAS: one line, PPP with CHAP, a pool, the data plane with its defaults.
const dpNAS = `
hostname: nas
lines:
  - lines: 1
    port: "sim:5551001"
    autoselect: [ppp, during-login]
    flush-at-activation: false
    login: local
users:
  - {name: dave, password: dave-secret}
aaa: {login: [local], ppp: [local]}
ppp:
  authentication: [chap, pap]
  keepalive: 1s
  local-address: 10.0.0.1
  pool: dialin
ip-pools:
  - {name: dialin, start: 10.0.0.10, end: 10.0.0.19}
dataplane: {interface: nas0}
`

const (
	dpBehind   = "10.99.0.2" // the host behind the NAS, in namespace "net"
	dpPings    = 3
	dpPingData = 100 // ICMP data octets: datagrams of 128 octets
)

// dpRequire ends the test unless the host can run it: pppd in user-mode Linux and ping (for the
// guest, which runs the host's programs), root for namespaces and the TUN, iproute2.
func dpRequire(t *testing.T) {
	t.Helper()
	if err := uml.Available(); err != nil {
		peer.Missing(t, "%v", err)
	}
	if _, err := exec.LookPath("ping"); err != nil {
		peer.Missing(t, "ping (Debian package iputils-ping), which the guest runs from the host's file system")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		peer.Missing(t, "ip (Debian package iproute2), to make the network namespaces")
	}
	if os.Geteuid() != 0 {
		peer.Missing(t, "the data plane test needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) for network namespaces and a TUN")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		peer.Missing(t, "no /dev/net/tun on this host (%v)", err)
	}
}

// dpIP runs iproute2.
func dpIP(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// dpNetns makes a network namespace with its loopback up, deleted when the test ends.
func dpNetns(t *testing.T, role string) string {
	t.Helper()
	name := fmt.Sprintf("nase2e-%s-%d", role, os.Getpid())
	dpIP(t, "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	dpIP(t, "-n", name, "link", "set", "lo", "up")
	return name
}

// dpInNetns runs f on this goroutine's thread switched into namespace ns; what f creates
// (sockets, TUNs) belongs to ns for good. A thread that cannot switch back stays locked, and
// the runtime retires it with the goroutine.
func dpInNetns(t *testing.T, ns string, f func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := os.Open(filepath.Join("/run/netns", ns))
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("setns %s: %v", ns, err)
	}
	defer func() {
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			t.Errorf("setns back from %s: %v", ns, err)
			return
		}
		runtime.UnlockOSThread()
	}()
	f()
}

func TestDataPlanePing(t *testing.T) {
	dpRequire(t)
	ctx, cancel := context.WithTimeout(context.Background(), pppdGuard)
	defer cancel()

	log := debugLog(t, "NAS")
	cfg, err := config.Parse([]byte(dpNAS))
	if err != nil {
		t.Fatal(err)
	}

	// The networks: nas0 will be in "nas", which reaches "net" over a veth pair.
	nasNS, netNS := dpNetns(t, "nas"), dpNetns(t, "net")
	dpIP(t, "-n", nasNS, "link", "add", "nasv0", "type", "veth", "peer", "name", "nasv1", "netns", netNS)
	dpIP(t, "-n", nasNS, "addr", "add", "10.99.0.1/24", "dev", "nasv0")
	dpIP(t, "-n", nasNS, "link", "set", "nasv0", "up")
	dpIP(t, "-n", netNS, "addr", "add", dpBehind+"/24", "dev", "nasv1")
	dpIP(t, "-n", netNS, "link", "set", "nasv1", "up")
	dpIP(t, "-n", netNS, "route", "add", "10.0.0.0/24", "via", "10.99.0.1") // the pool, back through the NAS

	dc, err := cfg.DataPlaneConfig()
	if err != nil {
		t.Fatal(err)
	}
	dc.Logger = log.With("component", "dataplane")
	var plane *dataplane.Plane
	dpInNetns(t, nasNS, func() {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0); err != nil {
			t.Fatal(err)
		}
		if plane, err = dataplane.New(ctx, dc); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { // before the namespaces go
		if err := plane.Close(); err != nil {
			t.Errorf("close the data plane: %v", err)
		}
	})

	// The NAS: its line on the simulated network, the guest's modem on a pty.
	spool, err := acct.Open(filepath.Join(t.TempDir(), "spool"), acct.Options{Logger: log.With("component", "spool")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { spool.Close() }) // after the NAS stops
	nas := startSimNAS(ctx, t, cfg, log, session.PPPOptions{DataPlane: session.Plane(plane)}, spool)

	// The caller: pppd dials, and its ip-up pings the host behind the NAS, then hangs up.
	slave, closePTY, err := nas.x.AttachPTY("5552001")
	if err != nil {
		t.Fatal(err)
	}
	defer closePTY()
	res, err := uml.Run(ctx, uml.Options{
		PTY:      slave,
		PPPDArgs: []string{"noauth", "user", "dave", "lcp-restart", "1", "defaultroute"},
		Connect:  `chat -v "" ATDT5551001 CONNECT ""`,
		Secrets:  map[string]string{"dave": "dave-secret"},
		IPUp: fmt.Sprintf(`ping -n -c %d -i 0.2 -W 5 -s %d %s; rc=$?; kill "$PPPD_PID"; exit $rc`,
			dpPings, dpPingData, dpBehind),
	})
	if err != nil {
		if res != nil {
			t.Log(res.Log)
		}
		t.Fatalf("guest: %v", err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("pppd:\n%s", pppdExchange(res.Log))
		}
	}()
	if _, err := nas.srv.Table().Wait(ctx, 1, func(i lines.Info) bool { return i.State == lines.Idle }); err != nil {
		t.Fatalf("line 1 did not go back to idle after the call: %v", err)
	}

	// The caller got its pool address, and every echo came back from behind the NAS.
	if res.LocalIP != "10.0.0.10" || res.RemoteIP != "10.0.0.1" {
		t.Errorf("pppd's addresses: local %q remote %q, want 10.0.0.10 from the pool and the NAS's 10.0.0.1", res.LocalIP, res.RemoteIP)
	}
	t.Logf("ping in the guest (exit %d):\n%s", res.IPUpExit, res.IPUpOutput)
	want := fmt.Sprintf("%d packets transmitted, %d received", dpPings, dpPings)
	if res.IPUpExit != 0 || !strings.Contains(res.IPUpOutput, want) {
		t.Errorf("ping exit %d, output lacks %q", res.IPUpExit, want)
	}
	if res.ExitCode != uml.ExitUserRequest {
		t.Errorf("pppd exit %d, want %d (its ip-up killed it)", res.ExitCode, uml.ExitUserRequest)
	}
	pppdInOrder(t, nas.rec.Events(), 1,
		event.Event{Kind: event.SessionUp, User: "dave", Protocol: "ppp", Address: "10.0.0.10"},
		event.Event{Kind: event.SessionDown, User: "dave", Protocol: "ppp", Cause: session.CauseUserRequest},
	)
	// The caller's host route went with the call; the plane stays for the next one.
	if routes := strings.TrimSpace(dpIP(t, "-n", nasNS, "route", "show", "proto", fmt.Sprint(dataplane.DefaultRouteProtocol))); routes != "" {
		t.Errorf("routes left in the NAS's namespace after the call:\n%s", routes)
	}

	// The Stop counts the datagrams, exactly the pings each way (the guest sends nothing else
	// over IPv4: ping -n makes no DNS query), and nothing of the line's LCP echoes, framing
	// and escapes, which the octets on the line would include.
	var out bytes.Buffer
	if err := spool.Export(&out, acct.FormatJSONL, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	var stops []acct.Record
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r acct.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("spool record %q: %v", line, err)
		}
		if r.Type == acct.Stop {
			stops = append(stops, r)
		}
	}
	if len(stops) != 1 {
		t.Fatalf("%d Stop records in the spool, want 1:\n%s", len(stops), out.String())
	}
	stop := stops[0]
	t.Logf("Stop: in %d octets / %d packets, out %d octets / %d packets", stop.InOctets, stop.InPackets, stop.OutOctets, stop.OutPackets)
	wantOctets := uint64(dpPings * (20 + 8 + dpPingData)) // IPv4 and ICMP headers around the data
	if stop.User != "dave" || stop.Service != "ppp" || stop.Address != netip.MustParseAddr("10.0.0.10") || stop.Cause != acct.CauseUserRequest {
		t.Errorf("Stop record %+v", stop)
	}
	if stop.InPackets != dpPings || stop.OutPackets != dpPings || stop.InOctets != wantOctets || stop.OutOctets != wantOctets {
		t.Errorf("Stop counts in %d octets / %d packets, out %d / %d; want %d octets and %d packets each way",
			stop.InOctets, stop.InPackets, stop.OutOctets, stop.OutPackets, wantOctets, dpPings)
	}
}
