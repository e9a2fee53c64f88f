package dataplane

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/test/e2e/peer"
)

// The privileged tests re-execute the test binary as a child in some cases; the child's role
// is in this variable.
const childEnv = "DATAPLANE_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "crash":
		crashChild()
	case "unavailable":
		unavailableChild()
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%s\n", childEnv, os.Getenv(childEnv))
		os.Exit(2)
	}
}

// crashChild brings a plane up with one session and waits to be killed.
func crashChild() {
	ctx := context.Background()
	p, err := New(ctx, Config{})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	_, err = p.Attach(ctx, SessionConfig{ID: "doomed", Local: netip.MustParseAddr("198.51.100.1"),
		Peer: netip.MustParseAddr("198.51.100.2"), MTU: 1400, Send: func([]byte) error { return nil },
		Routes: []aaa.Route{{Prefix: netip.MustParsePrefix("203.0.113.0/24")}}})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	select {} // until SIGKILL
}

// unavailableChild reports what New says without CAP_NET_ADMIN.
func unavailableChild() {
	_, err := New(context.Background(), Config{})
	switch {
	case errors.Is(err, ErrUnavailable):
		fmt.Println("unavailable:", err)
	case err != nil:
		fmt.Println("other error:", err)
	default:
		fmt.Println("created")
	}
	os.Exit(0)
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// TestTUNEndToEnd runs the plane on a real TUN in a namespace "nas", with a network behind it
// (a veth to namespace "behind") and a caller whose IP stack is a TUN in namespace "caller"
// joined to the session by Go code in place of the PPP line. It pings across, both ways and
// through a Framed-Route, checks the counters, a filter, the routes, the route MTU at work,
// and that hang-up and close leave nothing behind.
func TestTUNEndToEnd(t *testing.T) {
	requirePrivileged(t)
	checkGoroutines(t)
	ctx := context.Background()
	nas, caller, behind := newNetns(t), newNetns(t), newNetns(t)

	ip(t, "-n", nas, "link", "add", "dpv0", "type", "veth", "peer", "name", "dpv1", "netns", behind)
	ip(t, "-n", nas, "addr", "add", "192.0.2.1/24", "dev", "dpv0")
	ip(t, "-n", nas, "link", "set", "dpv0", "up")
	ip(t, "-n", behind, "addr", "add", "192.0.2.2/24", "dev", "dpv1")
	ip(t, "-n", behind, "link", "set", "dpv1", "up")
	ip(t, "-n", behind, "route", "add", "default", "via", "192.0.2.1")

	lab, err := ParseACL("lab", []string{"deny udp any any eq 9", "permit ip any any"})
	if err != nil {
		t.Fatal(err)
	}
	var plane *Plane
	inNetns(t, nas, func() {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0); err != nil {
			t.Fatal(err)
		}
		plane, err = New(ctx, Config{AccessLists: map[string]*ACL{"lab": lab}, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() {
		if err := plane.Close(); err != nil {
			t.Errorf("plane close: %v", err)
		}
	})

	// The caller's side: a TUN with the caller's addresses; the "line" is Send and the pump.
	var callerTUN *linuxKernel
	inNetns(t, caller, func() {
		c := Config{Name: "caller0"}
		if err := c.setDefaults(); err != nil {
			t.Fatal(err)
		}
		if callerTUN, err = openKernel(&c, testLogger(t)); err != nil {
			t.Fatal(err)
		}
	})
	ip(t, "-n", caller, "addr", "add", "198.51.100.2/32", "dev", "caller0")
	ip(t, "-n", caller, "route", "add", "default", "dev", "caller0")
	ip(t, "-n", caller, "addr", "add", "203.0.113.5/32", "dev", "lo")

	var maxToCaller atomic.Int64
	sess, err := plane.Attach(ctx, SessionConfig{
		ID: "e2e", Local: netip.MustParseAddr("198.51.100.1"), Peer: netip.MustParseAddr("198.51.100.2"), MTU: 1400,
		Routes: []aaa.Route{{Prefix: netip.MustParsePrefix("203.0.113.0/24")}}, Filter: "lab.in",
		Send: func(b []byte) error {
			if n := int64(len(b)); n > maxToCaller.Load() {
				maxToCaller.Store(n)
			}
			_, err := callerTUN.Write(b)
			return err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var pump sync.WaitGroup
	pump.Add(1)
	go func() {
		defer pump.Done()
		buf := make([]byte, 65536)
		for {
			n, err := callerTUN.Read(buf)
			if err != nil {
				return
			}
			sess.Receive(buf[:n])
		}
	}()
	t.Cleanup(func() {
		callerTUN.Close()
		pump.Wait()
	})

	routes := ip(t, "-n", nas, "-4", "route", "show", "proto", "241")
	for _, want := range []string{"198.51.100.2 dev nas0 scope link src 198.51.100.1 mtu 1400", "203.0.113.0/24 dev nas0 scope link src 198.51.100.1 mtu 1400"} {
		if !strings.Contains(routes, want) {
			t.Errorf("routes lack %q:\n%s", want, routes)
		}
	}
	if link := ip(t, "-n", nas, "link", "show", "nas0"); !strings.Contains(link, "mtu 1500") || !strings.Contains(link, ",UP") {
		t.Errorf("nas0 is not up with MTU 1500: %s", link)
	}
	if addr := ip(t, "-n", nas, "-4", "addr", "show", "dev", "nas0"); !strings.Contains(addr, "inet 198.51.100.1/32") {
		t.Errorf("local address missing: %s", addr)
	}

	fromCaller, fromNAS, fromBehind := newPinger(t, caller), newPinger(t, nas), newPinger(t, behind)
	pingOK := func(p *pinger, dst string, size int) {
		t.Helper()
		ok, err := p.ping(dst, size, 3*time.Second)
		if err != nil || !ok {
			t.Fatalf("ping %s (%d octets): reply %v, %v", dst, size, ok, err)
		}
	}
	type delta struct{ in, out, inOctets, outOctets uint64 }
	step := func(name string, want delta, f func()) {
		t.Helper()
		before := sess.Counters()
		f()
		// The reply's Send has returned by the time the pinger sees it, but the writer
		// counts it just after: wait for the counters to settle.
		var got delta
		deadline := time.Now().Add(3 * time.Second)
		for {
			c := sess.Counters()
			got = delta{c.InPackets - before.InPackets, c.OutPackets - before.OutPackets,
				c.InOctets - before.InOctets, c.OutOctets - before.OutOctets}
			if got == want || time.Now().After(deadline) {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		if got != want {
			t.Errorf("%s: counters moved by %+v, want %+v", name, got, want)
		}
	}
	const echo = 20 + 8 + 56 // an IP datagram of a default ping
	step("caller pings behind the NAS", delta{3, 3, 3 * echo, 3 * echo}, func() {
		for range 3 {
			pingOK(fromCaller, "192.0.2.2", 56)
		}
	})
	step("NAS pings the caller", delta{2, 2, 2 * echo, 2 * echo}, func() {
		for range 2 {
			pingOK(fromNAS, "198.51.100.2", 56)
		}
	})
	step("behind pings the caller's Framed-Route", delta{2, 2, 2 * echo, 2 * echo}, func() {
		for range 2 {
			pingOK(fromBehind, "203.0.113.5", 56)
		}
	})
	// 2000 octets of data: the route's MTU 1400 makes the NAS's kernel fragment it towards
	// the caller (1396 + 652 octets); the caller's reply comes back in fragments of its
	// interface's 1500 (1500 + 548).
	step("a datagram above the route MTU", delta{2, 2, 1500 + 548, 1396 + 652}, func() {
		pingOK(fromNAS, "198.51.100.2", 2000)
	})
	if m := maxToCaller.Load(); m > 1400 {
		t.Errorf("the caller got a %d-octet datagram over a route of MTU 1400", m)
	}
	// The inbound filter: UDP to the discard port dies at the NAS.
	var udpConn net.PacketConn
	inNetns(t, caller, func() {
		if udpConn, err = net.ListenPacket("udp4", "198.51.100.2:0"); err != nil {
			t.Fatal(err)
		}
	})
	defer udpConn.Close()
	if _, err := udpConn.WriteTo([]byte("discard me"), &net.UDPAddr{IP: net.ParseIP("192.0.2.2"), Port: 9}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for sess.Counters().InFiltered == 0 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	if hits, _ := lab.Hits(); sess.Counters().InFiltered != 1 || hits[0].Hits != 1 {
		t.Errorf("filtered %d, deny rule hits %d: want 1 and 1", sess.Counters().InFiltered, hits[0].Hits)
	}
	if idle := time.Since(sess.LastActivity()); idle > 5*time.Second {
		t.Errorf("LastActivity %v ago after traffic", idle)
	}

	// Hang-up: the routes and the local address go; the interface stays for the next call.
	if err := sess.Close(); err != nil {
		t.Fatal(err)
	}
	if r := ip(t, "-n", nas, "-4", "route", "show", "proto", "241"); strings.TrimSpace(r) != "" {
		t.Errorf("routes left after hang-up:\n%s", r)
	}
	if a := ip(t, "-n", nas, "-4", "addr", "show", "dev", "nas0"); strings.Contains(a, "198.51.100.1") {
		t.Errorf("local address left after hang-up: %s", a)
	}
	if ok, _ := fromBehind.ping("198.51.100.2", 56, 200*time.Millisecond); ok {
		t.Error("the caller still answers after hang-up")
	}
	if err := plane.Close(); err != nil {
		t.Fatal(err)
	}
	if !ipFails("-n", nas, "link", "show", "nas0") {
		t.Error("nas0 still exists after Close")
	}
}

// TestCrashLeavesNothing kills a process holding a plane with a session and checks that the
// interface, its routes and address went with it, that a stale route of our protocol is
// flushed at start, and that the plane starts again in its place.
func TestCrashLeavesNothing(t *testing.T) {
	requirePrivileged(t)
	ns := newNetns(t)
	ip(t, "-n", ns, "link", "add", "dpd0", "type", "veth", "peer", "name", "dpd1") // this kernel has no dummy driver
	ip(t, "-n", ns, "link", "set", "dpd0", "up")
	ip(t, "-n", ns, "link", "set", "dpd1", "up")
	// As if an earlier run had left a route of ours on another interface.
	ip(t, "-n", ns, "route", "add", "192.0.2.200/32", "dev", "dpd0", "proto", "241")
	ip(t, "-n", ns, "route", "add", "192.0.2.201/32", "dev", "dpd0", "proto", "static") // not ours

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=crash")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- strings.TrimSpace(line)
	}()
	select {
	case line := <-ready:
		if line != "ready" {
			t.Fatalf("child: %q", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("child did not come up")
	}
	routes := ip(t, "-n", ns, "-4", "route", "show", "proto", "241")
	if !strings.Contains(routes, "198.51.100.2 dev nas0") || !strings.Contains(routes, "203.0.113.0/24 dev nas0") {
		t.Fatalf("child's routes missing:\n%s", routes)
	}
	if strings.Contains(routes, "192.0.2.200") {
		t.Errorf("the stale route of our protocol was not flushed:\n%s", routes)
	}
	if all := ip(t, "-n", ns, "-4", "route", "show"); !strings.Contains(all, "192.0.2.201 dev dpd0 proto static") {
		t.Errorf("a route of another protocol was touched:\n%s", all)
	}

	if err := cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for !ipFails("-n", ns, "link", "show", "nas0") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !ipFails("-n", ns, "link", "show", "nas0") {
		t.Fatal("nas0 outlived its process")
	}
	if r := ip(t, "-n", ns, "-4", "route", "show", "proto", "241"); strings.TrimSpace(r) != "" {
		t.Errorf("routes outlived the process:\n%s", r)
	}
	if a := ip(t, "-n", ns, "-4", "addr", "show"); strings.Contains(a, "198.51.100.1") {
		t.Errorf("the local address outlived the process:\n%s", a)
	}
	// Restart in its place.
	inNetns(t, ns, func() {
		p, err := New(context.Background(), Config{})
		if err != nil {
			t.Fatalf("restart: %v", err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestUnavailableWithoutNetAdmin runs New in a child without CAP_NET_ADMIN: it must say
// ErrUnavailable, not fail some other way.
func TestUnavailableWithoutNetAdmin(t *testing.T) {
	requirePrivileged(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		peer.Missing(t, "needs util-linux's setpriv to drop CAP_NET_ADMIN")
	}
	ns := newNetns(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns, setpriv, "--inh-caps=-net_admin", "--bounding-set=-net_admin", "--", exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=unavailable")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	if !strings.HasPrefix(string(out), "unavailable: IP data plane unavailable: ") {
		t.Errorf("without CAP_NET_ADMIN New said: %s", out)
	}
	t.Logf("child: %s", strings.TrimSpace(string(out)))
	if !ipFails("-n", ns, "link", "show", "nas0") {
		t.Error("an interface was left behind")
	}
}

// TestInterfaceExists: a name taken by an interface we did not make is refused.
func TestInterfaceExists(t *testing.T) {
	requirePrivileged(t)
	ns := newNetns(t)
	ip(t, "-n", ns, "link", "add", "nas0", "type", "veth", "peer", "name", "nas0p")
	inNetns(t, ns, func() {
		_, err := New(context.Background(), Config{})
		if !errors.Is(err, ErrInterfaceExists) {
			t.Errorf("New over an existing nas0: %v, want ErrInterfaceExists", err)
		}
	})
}
