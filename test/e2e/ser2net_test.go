//go:build linux

package e2e

// End-to-end test of the RFC 2217 backend against Debian's ser2net (4.3.x), exporting a pty
// whose master end the test holds and plays the modem on.
//
// What worked with ser2net 4.3.11:
//
//	ser2net -n -d -u -P DIR/ser2net.pid -c DIR/ser2net.yaml
//
//	-n  stay in the foreground; -d also sends its debug output to stdout (we keep it for
//	    failure reports); -u no UUCP lock files in /var/lock; -P keeps the pid file out of /run;
//	-c  the YAML config below (ser2net 4 format, see ser2net.yaml(5)).
//
//	connection: &nas
//	  accepter: telnet(rfc2217),tcp,127.0.0.1,PORT
//	  connector: serialdev,/dev/pts/N,9600n81,local
//	  options:
//	    kickolduser: true
//
// ser2net opens the serial device only when a client connects, and closes it when the client
// leaves. The test keeps its own descriptor of the pty slave open, so the master survives the
// gaps between connections and the test can read the slave's termios.
//
// Modem lines on a pty: ser2net cannot read or drive them (TIOCMGET/TIOCMBIS fail with ENOTTY).
// It still sends NOTIFY-MODEMSTATE, always 0 (no DCD, DSR, CTS or RI), once when
// COM-PORT-OPTION is agreed and whenever the mask changes; it answers the DTR-state request
// (SET-CONTROL 7) by echoing 7 and never answers DTR/RTS on/off at all. The client takes the
// echo to mean "no modem control", so carrier must come from the modem's result codes — the
// same as a local pty. Modem-state notifications are only meaningful when ser2net exports a
// real serial port.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/lines/rfc2217"
	"github.com/dialback/nas/lines/serial"
	"github.com/dialback/nas/test/e2e/peer"
)

// ser2netGuard bounds every wait in this test; it only fires when something is broken.
const ser2netGuard = 10 * time.Second

func TestSer2netRFC2217(t *testing.T) {
	bin, err := exec.LookPath("ser2net")
	if err != nil {
		// Debian installs it in /usr/sbin, which a non-root PATH often lacks.
		if _, serr := os.Stat("/usr/sbin/ser2net"); serr == nil {
			bin, err = "/usr/sbin/ser2net", nil
		}
	}
	if err != nil {
		peer.Missing(t, "ser2net not installed (apt-get install ser2net): %v", err)
	}

	master, slave, err := pty.Open()
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	t.Cleanup(func() {
		master.Close()
		slave.Close()
	})

	addr := ser2netStart(t, bin, slave.Name())
	log := slog.New(slog.NewTextHandler(ser2netLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))

	t.Run("framing reaches the tty", func(t *testing.T) {
		p := ser2netDial(t, addr, serial.Mode{Speed: 19200, DataBits: 7, Parity: "even", StopBits: 2, FlowControl: "hardware"}, log)
		defer p.Close()
		tio := ser2netTermios(t, slave)
		// Data bits and parity cannot be checked here: the Linux pty driver forces CS8 and
		// clears PARENB whatever is set (ser2net still answers SET-DATASIZE 7 and SET-PARITY
		// EVEN with the values asked for, so the client's check of the replies passes).
		checks := []struct {
			what string
			ok   bool
		}{
			{"19200 baud", tio.Cflag&unix.CBAUD == unix.B19200},
			{"2 stop bits", tio.Cflag&unix.CSTOPB != 0},
			{"RTS/CTS", tio.Cflag&unix.CRTSCTS != 0},
		}
		for _, c := range checks {
			if !c.ok {
				t.Errorf("slave termios cflag %#o: not %s", tio.Cflag, c.what)
			}
		}
	})

	p := ser2netDial(t, addr, serial.Mode{Speed: 115200, FlowControl: "none"}, log)
	defer p.Close()

	t.Run("speed set over RFC 2217", func(t *testing.T) {
		tio := ser2netTermios(t, slave)
		// The config says 9600; only SET-BAUDRATE can have made it 115200.
		if tio.Cflag&unix.CBAUD != unix.B115200 || tio.Cflag&unix.CSTOPB != 0 || tio.Cflag&unix.CRTSCTS != 0 {
			t.Fatalf("slave termios cflag %#o, want 115200, 1 stop bit, no RTS/CTS", tio.Cflag)
		}
	})

	t.Run("no modem control on a pty", func(t *testing.T) {
		if p.HasModemControl() {
			t.Fatal("HasModemControl() = true: ser2net cannot drive a pty's DTR")
		}
		if _, err := p.ModemStatus(); !errors.Is(err, lines.ErrNoModemControl) {
			t.Errorf("ModemStatus = %v, want lines.ErrNoModemControl", err)
		}
		if err := p.Hangup(context.Background()); !errors.Is(err, lines.ErrNoModemControl) {
			t.Errorf("Hangup = %v, want lines.ErrNoModemControl (the driver then sends +++ ATH)", err)
		}
	})

	t.Run("AT and OK", func(t *testing.T) {
		if _, err := p.Write([]byte("AT\r")); err != nil {
			t.Fatal(err)
		}
		ser2netExpect(t, ser2netMasterReader{master}, []byte("AT\r"))
		if _, err := master.Write([]byte("AT\r\r\nOK\r\n")); err != nil {
			t.Fatal(err)
		}
		ser2netExpect(t, ser2netPortReader{p}, []byte("AT\r\r\nOK\r\n"))

		p.Write([]byte("ATDT5551234\r"))
		ser2netExpect(t, ser2netMasterReader{master}, []byte("ATDT5551234\r"))
		master.Write([]byte("\r\nCONNECT 33600\r\n"))
		ser2netExpect(t, ser2netPortReader{p}, []byte("\r\nCONNECT 33600\r\n"))
	})

	t.Run("every byte value both ways", func(t *testing.T) {
		all := make([]byte, 256)
		for i := range all {
			all[i] = byte(i)
		}
		if _, err := p.Write(all); err != nil {
			t.Fatal(err)
		}
		ser2netExpect(t, ser2netMasterReader{master}, all)
		if _, err := master.Write(all); err != nil {
			t.Fatal(err)
		}
		ser2netExpect(t, ser2netPortReader{p}, all)
	})

	t.Run("BREAK is accepted", func(t *testing.T) {
		if err := p.Break(10 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		// The session still works afterwards.
		p.Write([]byte("ATH\r"))
		ser2netExpect(t, ser2netMasterReader{master}, []byte("ATH\r"))
	})

	t.Run("device gone ends the port", func(t *testing.T) {
		// Closing the master hangs up the slave: ser2net's read fails and it drops the
		// client, which is what an unplugged USB adapter behind ser2net looks like.
		master.Close()
		p.SetReadDeadline(time.Now().Add(ser2netGuard))
		buf := make([]byte, 64)
		var err error
		for err == nil {
			_, err = p.Read(buf)
		}
		if !errors.Is(err, rfc2217.ErrPortGone) || !errors.Is(err, io.EOF) {
			t.Fatalf("Read after the device went = %v, want rfc2217.ErrPortGone", err)
		}
	})
}

// ser2netStart writes a config for one telnet(rfc2217) connection to dev on a free port,
// starts ser2net in the foreground and returns the address it listens on. ser2net is killed
// when the test ends.
func ser2netStart(t *testing.T, bin, dev string) string {
	t.Helper()
	dir := t.TempDir()
	port := freeTCPPort(t)
	cfg := fmt.Sprintf(`connection: &nas
  accepter: telnet(rfc2217),tcp,127.0.0.1,%d
  connector: serialdev,%s,9600n81,local
  options:
    kickolduser: true
`, port, dev)
	cfgPath := filepath.Join(dir, "ser2net.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &lockedBuffer{}
	t.Cleanup(func() { // after ser2net is gone
		if t.Failed() {
			t.Logf("ser2net config:\n%s\nser2net output:\n%s", cfg, out.String())
		}
	})
	cmd := exec.Command(bin, "-n", "-d", "-u", "-P", filepath.Join(dir, "ser2net.pid"), "-c", cfgPath)
	cmd.Stdout, cmd.Stderr = out, out
	// If the test binary dies, ser2net goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	startProc(t, cmd)
	return net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
}

// ser2netDial dials until ser2net listens (it needs a moment after start).
func ser2netDial(t *testing.T, addr string, m serial.Mode, log *slog.Logger) *rfc2217.Port {
	t.Helper()
	deadline := time.Now().Add(ser2netGuard)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), ser2netGuard)
		p, err := rfc2217.Dial(ctx, addr, m, log)
		cancel()
		if err == nil {
			return p
		}
		if !errors.Is(err, syscall.ECONNREFUSED) || time.Now().After(deadline) {
			t.Fatalf("rfc2217.Dial %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ser2netTermios(t *testing.T, slave *os.File) *unix.Termios {
	t.Helper()
	sc, err := slave.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var tio *unix.Termios
	var ioErr error
	if err := sc.Control(func(fd uintptr) { tio, ioErr = unix.IoctlGetTermios(int(fd), unix.TCGETS) }); err != nil {
		t.Fatal(err)
	}
	if ioErr != nil {
		t.Fatalf("TCGETS on %s: %v", slave.Name(), ioErr)
	}
	return tio
}

// expect reads from r until it has len(want) bytes and compares them.
func ser2netExpect(t *testing.T, r io.Reader, want []byte) {
	t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("reading %q: %v", want, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %q, want %q", got, want)
	}
}

type ser2netMasterReader struct{ f *os.File }

func (m ser2netMasterReader) Read(b []byte) (int, error) {
	if err := m.f.SetReadDeadline(time.Now().Add(ser2netGuard)); err != nil {
		return 0, err
	}
	return m.f.Read(b)
}

type ser2netPortReader struct{ p lines.Port }

func (r ser2netPortReader) Read(b []byte) (int, error) {
	if err := r.p.SetReadDeadline(time.Now().Add(ser2netGuard)); err != nil {
		return 0, err
	}
	return r.p.Read(b)
}

// ser2netLogWriter sends log lines to t.Log so they show only for failing or verbose runs.
type ser2netLogWriter struct{ t *testing.T }

func (w ser2netLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
