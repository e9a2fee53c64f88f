package dataplane

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dialback/nas/test/e2e/peer"
)

// Helpers for the privileged tests: network namespaces made by the test (with iproute2), a
// way to create sockets and TUNs inside them, and ping.

// requirePrivileged ends a test that needs root, /dev/net/tun and iproute2 where they are
// missing: a skip, or a failure under E2E_REQUIRED=1 (CI runs as root).
func requirePrivileged(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		peer.Missing(t, "needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) to make network namespaces and a TUN")
	}
	if _, err := os.Stat(tunPath); err != nil {
		peer.Missing(t, "no %s on this host: %v", tunPath, err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		peer.Missing(t, "needs iproute2's ip command (apt-get install iproute2)")
	}
}

var nsSeq atomic.Int32

// newNetns makes a network namespace with its loopback up, deleted when the test ends
// (deleting it deletes every interface and route in it).
func newNetns(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("nasdp-%d-%d", os.Getpid(), nsSeq.Add(1))
	ip(t, "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	ip(t, "-n", name, "link", "set", "lo", "up")
	return name
}

// ip runs iproute2 and returns its output.
func ip(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ipFails runs iproute2 expecting failure and reports whether it failed.
func ipFails(args ...string) bool {
	return exec.Command("ip", args...).Run() != nil
}

// inNetns runs f on the calling goroutine's thread switched into namespace ns; sockets and
// TUNs f creates belong to ns for good, whichever thread uses them later. If the thread
// cannot be switched back it stays locked, so the runtime retires it with the goroutine.
func inNetns(t testing.TB, ns string, f func()) {
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

// pinger sends ICMP echo requests from a raw socket made in a namespace.
type pinger struct {
	conn net.PacketConn
	id   uint16
	seq  uint16
}

func newPinger(t testing.TB, ns string) *pinger {
	t.Helper()
	var conn net.PacketConn
	inNetns(t, ns, func() {
		var err error
		if conn, err = net.ListenPacket("ip4:icmp", "0.0.0.0"); err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { conn.Close() })
	return &pinger{conn: conn, id: uint16(os.Getpid())}
}

// ping sends one echo request of size octets of data to dst and reports whether the reply
// came back within the timeout.
func (p *pinger) ping(dst string, size int, timeout time.Duration) (bool, error) {
	p.seq++
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i)
	}
	msg := icmp(8, 0, nil)[:4]
	msg = binary.BigEndian.AppendUint16(msg, p.id)
	msg = binary.BigEndian.AppendUint16(msg, p.seq)
	msg = append(msg, data...)
	binary.BigEndian.PutUint16(msg[2:], 0)
	binary.BigEndian.PutUint16(msg[2:], checksum(msg))
	to := &net.IPAddr{IP: net.ParseIP(dst)}
	if _, err := p.conn.WriteTo(msg, to); err != nil {
		return false, err
	}
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 65536)
	for {
		if err := p.conn.SetReadDeadline(deadline); err != nil {
			return false, err
		}
		n, from, err := p.conn.ReadFrom(buf)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return false, nil
			}
			return false, err
		}
		r := buf[:n]
		if n >= 8 && r[0] == 0 && binary.BigEndian.Uint16(r[4:]) == p.id && binary.BigEndian.Uint16(r[6:]) == p.seq &&
			from.String() == dst && string(r[8:]) == string(data) {
			return true, nil
		}
	}
}
