package serial

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	bug "go.bug.st/serial"
	"golang.org/x/sys/unix"

	"github.com/dialback/nas/lines"
)

// guard bounds how long a test waits for something that must happen; it only fires when the
// code under test is broken.
const guard = 5 * time.Second

// recorder is a slog.Handler that keeps every record, for asserting what was logged.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) count(level slog.Level, msg string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.recs {
		if rec.Level == level && rec.Message == msg {
			n++
		}
	}
	return n
}

// ptyPair opens a pty; the test keeps the master (the "modem" end) and the slave file, which
// it uses to inspect the slave's termios. Both close at the end of the test.
func ptyPair(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pty available: %v", err)
	}
	t.Cleanup(func() {
		master.Close()
		slave.Close()
	})
	return master, slave
}

func openPTY(t *testing.T, m Mode, log *slog.Logger) (*Port, *os.File, *os.File) {
	t.Helper()
	master, slave := ptyPair(t)
	p, err := Open(context.Background(), slave.Name(), m, log)
	if err != nil {
		t.Fatalf("Open(%s): %v", slave.Name(), err)
	}
	p.readSlice = 10 * time.Millisecond
	t.Cleanup(func() { p.Close() })
	return p, master, slave
}

// readN reads exactly n bytes from r, failing the test on error.
func readN(t *testing.T, r io.Reader, n int) []byte {
	t.Helper()
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return buf
}

// masterReader puts a deadline on reads from the pty master so a broken test fails instead
// of hanging.
type masterReader struct{ f *os.File }

func (m masterReader) Read(p []byte) (int, error) {
	if err := m.f.SetReadDeadline(time.Now().Add(guard)); err != nil {
		return 0, err
	}
	return m.f.Read(p)
}

// portReader does the same for the Port under test.
type portReader struct{ p *Port }

func (r portReader) Read(b []byte) (int, error) {
	if err := r.p.SetReadDeadline(time.Now().Add(guard)); err != nil {
		return 0, err
	}
	return r.p.Read(b)
}

func TestOpenMissingDevice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ttyUSB9")
	_, err := Open(context.Background(), path, Mode{}, nil)
	if err == nil {
		t.Fatal("Open of a missing device succeeded")
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v: want errors.Is(fs.ErrNotExist)", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
}

func TestModeNormalize(t *testing.T) {
	tests := []struct {
		in      Mode
		want    Mode
		wantErr string
	}{
		{in: Mode{}, want: Mode{Speed: 115200, DataBits: 8, StopBits: 1, Parity: "none", FlowControl: "none"}},
		{in: Mode{Speed: 9600, DataBits: 7, StopBits: 2, Parity: "Even", FlowControl: " hardware"},
			want: Mode{Speed: 9600, DataBits: 7, StopBits: 2, Parity: "even", FlowControl: "hardware"}},
		{in: Mode{DataBits: 9}, wantErr: "data-bits 9"},
		{in: Mode{StopBits: 3}, wantErr: "stop-bits 3"},
		{in: Mode{Speed: -1}, wantErr: "speed -1"},
		{in: Mode{Parity: "weird"}, wantErr: `parity "weird"`},
		{in: Mode{FlowControl: "dtr"}, wantErr: `flowcontrol "dtr"`},
	}
	for _, tt := range tests {
		got, err := tt.in.Normalize()
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Normalize(%+v) error = %v, want one containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Normalize(%+v) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestOpenRejectsBadModeNamingDevice(t *testing.T) {
	_, slave := ptyPair(t)
	_, err := Open(context.Background(), slave.Name(), Mode{DataBits: 9}, nil)
	if err == nil || !strings.Contains(err.Error(), slave.Name()) || !strings.Contains(err.Error(), "data-bits") {
		t.Fatalf("Open with data-bits 9: err = %v, want one naming the device and the field", err)
	}
}

func TestPTYRoundTrip(t *testing.T) {
	p, master, slave := openPTY(t, Mode{Speed: 115200}, nil)
	if p.Name() != slave.Name() {
		t.Errorf("Name() = %q, want %q", p.Name(), slave.Name())
	}

	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"AT command", []byte("ATZ\r")},
		{"every byte value", all},
	}
	for _, tt := range tests {
		t.Run(tt.name+" port to master", func(t *testing.T) {
			if n, err := p.Write(tt.data); err != nil || n != len(tt.data) {
				t.Fatalf("Write = %d, %v", n, err)
			}
			if got := readN(t, masterReader{master}, len(tt.data)); !bytes.Equal(got, tt.data) {
				t.Fatalf("master read %q, want %q", got, tt.data)
			}
		})
		t.Run(tt.name+" master to port", func(t *testing.T) {
			if _, err := master.Write(tt.data); err != nil {
				t.Fatal(err)
			}
			if got := readN(t, portReader{p}, len(tt.data)); !bytes.Equal(got, tt.data) {
				t.Fatalf("port read %q, want %q", got, tt.data)
			}
		})
	}
}

func TestPTYReadDeadline(t *testing.T) {
	p, master, _ := openPTY(t, Mode{}, nil)
	buf := make([]byte, 16)

	t.Run("deadline in the past", func(t *testing.T) {
		p.SetReadDeadline(time.Now().Add(-time.Second))
		if _, err := p.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = %v, want os.ErrDeadlineExceeded", err)
		}
	})
	t.Run("deadline passes with no data", func(t *testing.T) {
		p.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
		if _, err := p.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = %v, want os.ErrDeadlineExceeded", err)
		}
	})
	t.Run("data before the deadline", func(t *testing.T) {
		p.SetReadDeadline(time.Now().Add(guard))
		master.Write([]byte("OK"))
		if got := readN(t, p, 2); string(got) != "OK" {
			t.Fatalf("read %q", got)
		}
	})
	t.Run("deadline set while a read is blocked", func(t *testing.T) {
		p.SetReadDeadline(time.Time{})
		errc := make(chan error, 1)
		go func() {
			_, err := p.Read(buf)
			errc <- err
		}()
		p.SetReadDeadline(time.Now())
		select {
		case err := <-errc:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("Read = %v, want os.ErrDeadlineExceeded", err)
			}
		case <-time.After(guard):
			t.Fatal("Read did not notice the new deadline")
		}
	})
	t.Run("cleared deadline reads again", func(t *testing.T) {
		p.SetReadDeadline(time.Time{})
		master.Write([]byte("x"))
		if got := readN(t, p, 1); string(got) != "x" {
			t.Fatalf("read %q", got)
		}
	})
}

func TestPTYNoModemControlOnce(t *testing.T) {
	rec := &recorder{}
	p, _, _ := openPTY(t, Mode{}, slog.New(rec))

	if p.HasModemControl() {
		t.Fatal("HasModemControl() = true on a pty")
	}
	if _, err := lines.ModemControlOf(p); err != nil {
		t.Fatalf("ModemControlOf: %v (the capability is static; HasModemControl says whether it works)", err)
	}
	for i := 0; i < 3; i++ {
		if _, err := p.ModemStatus(); !errors.Is(err, lines.ErrNoModemControl) {
			t.Errorf("ModemStatus() err = %v, want lines.ErrNoModemControl", err)
		}
		if err := p.SetDTR(false); !errors.Is(err, lines.ErrNoModemControl) {
			t.Errorf("SetDTR err = %v, want lines.ErrNoModemControl", err)
		}
		if err := p.SetRTS(true); !errors.Is(err, lines.ErrNoModemControl) {
			t.Errorf("SetRTS err = %v, want lines.ErrNoModemControl", err)
		}
		if err := p.Hangup(context.Background()); !errors.Is(err, lines.ErrNoModemControl) {
			t.Errorf("Hangup err = %v, want lines.ErrNoModemControl", err)
		}
	}
	const msg = "line has no modem-control lines; using modem result codes for carrier"
	if n := rec.count(slog.LevelWarn, msg); n != 1 {
		t.Errorf("warned %d times, want exactly once", n)
	}
}

func TestPTYFlowControl(t *testing.T) {
	tests := []struct {
		flow       string
		wantCflag  uint32
		wantIflag  uint32
		clearCflag uint32
		clearIflag uint32
	}{
		{flow: FlowHardware, wantCflag: unix.CRTSCTS, clearIflag: unix.IXON | unix.IXOFF},
		{flow: FlowSoftware, wantIflag: unix.IXON | unix.IXOFF, clearCflag: unix.CRTSCTS},
		{flow: FlowNone, clearCflag: unix.CRTSCTS, clearIflag: unix.IXON | unix.IXOFF},
	}
	for _, tt := range tests {
		t.Run(tt.flow, func(t *testing.T) {
			_, _, slave := openPTY(t, Mode{Speed: 9600, FlowControl: tt.flow}, nil)
			var tio *unix.Termios
			var ioErr error
			sc, err := slave.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			sc.Control(func(fd uintptr) { tio, ioErr = unix.IoctlGetTermios(int(fd), unix.TCGETS) })
			if ioErr != nil {
				t.Fatal(ioErr)
			}
			if tio.Cflag&tt.wantCflag != tt.wantCflag || tio.Cflag&tt.clearCflag != 0 {
				t.Errorf("cflag %#x: want %#x set and %#x clear", tio.Cflag, tt.wantCflag, tt.clearCflag)
			}
			if tio.Iflag&tt.wantIflag != tt.wantIflag || tio.Iflag&tt.clearIflag != 0 {
				t.Errorf("iflag %#x: want %#x set and %#x clear", tio.Iflag, tt.wantIflag, tt.clearIflag)
			}
			// The framing the library set must survive the flow-control change.
			if tio.Cflag&unix.CBAUD != unix.B9600 || tio.Cflag&unix.CSIZE != unix.CS8 {
				t.Errorf("cflag %#x lost 9600 8-bit framing", tio.Cflag)
			}
		})
	}
}

func TestPTYCloseUnblocksRead(t *testing.T) {
	p, _, _ := openPTY(t, Mode{}, nil)
	p.readSlice = time.Hour // only Close can end this Read
	errc := make(chan error, 1)
	go func() {
		_, err := p.Read(make([]byte, 8))
		errc <- err
	}()
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, io.EOF) || !errors.Is(err, os.ErrClosed) {
			t.Fatalf("Read after Close = %v, want io.EOF and os.ErrClosed", err)
		}
	case <-time.After(guard):
		t.Fatal("Close did not unblock Read")
	}
	if _, err := p.Write([]byte("x")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Write after Close = %v, want os.ErrClosed", err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestPTYMasterClosedPortGone(t *testing.T) {
	p, master, _ := openPTY(t, Mode{}, nil)
	master.Write([]byte("RING\r\n"))
	if got := readN(t, portReader{p}, 6); string(got) != "RING\r\n" {
		t.Fatalf("read %q", got)
	}
	master.Close()
	p.SetReadDeadline(time.Now().Add(guard))
	_, err := p.Read(make([]byte, 8))
	if !errors.Is(err, ErrPortGone) || !errors.Is(err, io.EOF) {
		t.Fatalf("Read after master closed = %v, want ErrPortGone (io.EOF)", err)
	}
	if !strings.Contains(err.Error(), p.Name()) {
		t.Errorf("error %q does not name the device", err)
	}
	if _, err := p.Read(make([]byte, 8)); !errors.Is(err, ErrPortGone) {
		t.Errorf("second Read = %v, want ErrPortGone again", err)
	}
	if _, err := p.Write([]byte("x")); !errors.Is(err, ErrPortGone) {
		t.Errorf("Write = %v, want ErrPortGone", err)
	}
}

// fakeDevice has working modem-control lines, which no pty has.
type fakeDevice struct {
	mu       sync.Mutex
	dtr      []bool // every SetDTR, in order
	rts      []bool
	status   bug.ModemStatusBits
	breaks   []time.Duration
	dtrErr   error
	dtrLow   chan struct{} // closed the first time DTR goes low
	lowOnce  sync.Once
	closed   bool
	readData []byte
}

func newFakeDevice() *fakeDevice { return &fakeDevice{dtrLow: make(chan struct{})} }

func (f *fakeDevice) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := copy(p, f.readData)
	f.readData = f.readData[n:]
	return n, nil
}
func (f *fakeDevice) Write(p []byte) (int, error)        { return len(p), nil }
func (f *fakeDevice) SetReadTimeout(time.Duration) error { return nil }
func (f *fakeDevice) SetDTR(on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dtrErr != nil {
		return f.dtrErr
	}
	f.dtr = append(f.dtr, on)
	if !on {
		f.lowOnce.Do(func() { close(f.dtrLow) })
	}
	return nil
}
func (f *fakeDevice) SetRTS(on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rts = append(f.rts, on)
	return nil
}
func (f *fakeDevice) GetModemStatusBits() (*bug.ModemStatusBits, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.status
	return &s, nil
}
func (f *fakeDevice) Break(d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.breaks = append(f.breaks, d)
	return nil
}
func (f *fakeDevice) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *fakeDevice) dtrHistory() []bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]bool(nil), f.dtr...)
}

func TestHangupDropsAndRaisesDTR(t *testing.T) {
	dev := newFakeDevice()
	p := newPort("/dev/fake0", dev, slog.New(slog.DiscardHandler))
	p.hangupDrop = time.Millisecond
	if err := p.Hangup(context.Background()); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	if got := dev.dtrHistory(); len(got) != 2 || got[0] || !got[1] {
		t.Fatalf("DTR history %v, want [false true]", got)
	}
}

func TestHangupCancelledStillRaisesDTR(t *testing.T) {
	dev := newFakeDevice()
	p := newPort("/dev/fake0", dev, slog.New(slog.DiscardHandler))
	p.hangupDrop = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Hangup(ctx) }()
	<-dev.dtrLow
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Hangup = %v, want context.Canceled", err)
		}
	case <-time.After(guard):
		t.Fatal("Hangup ignored its context")
	}
	if got := dev.dtrHistory(); len(got) != 2 || got[0] || !got[1] {
		t.Fatalf("DTR history %v, want [false true]", got)
	}
}

func TestModemStatusFromDevice(t *testing.T) {
	tests := []struct {
		bits bug.ModemStatusBits
		want lines.ModemStatus
	}{
		{bug.ModemStatusBits{}, lines.ModemStatus{}},
		{bug.ModemStatusBits{DCD: true, DSR: true}, lines.ModemStatus{DCD: true, DSR: true}},
		{bug.ModemStatusBits{CTS: true, RI: true}, lines.ModemStatus{CTS: true, RI: true}},
	}
	for _, tt := range tests {
		dev := newFakeDevice()
		dev.status = tt.bits
		p := newPort("/dev/fake0", dev, slog.New(slog.DiscardHandler))
		p.probeModemControl()
		if !p.HasModemControl() {
			t.Fatal("HasModemControl() = false with working ioctls")
		}
		got, err := p.ModemStatus()
		if err != nil || got != tt.want {
			t.Errorf("ModemStatus() = %+v, %v; want %+v", got, err, tt.want)
		}
	}
}

func TestModemControlLostLaterWarnsOnce(t *testing.T) {
	rec := &recorder{}
	dev := newFakeDevice()
	dev.dtrErr = unix.ENOTTY
	p := newPort("/dev/fake0", dev, slog.New(rec))
	p.probeModemControl()
	for i := 0; i < 2; i++ {
		if err := p.SetDTR(true); !errors.Is(err, lines.ErrNoModemControl) {
			t.Fatalf("SetDTR = %v, want lines.ErrNoModemControl", err)
		}
	}
	if p.HasModemControl() {
		t.Error("HasModemControl() still true after ENOTTY")
	}
	if n := rec.count(slog.LevelWarn, "line has no modem-control lines; using modem result codes for carrier"); n != 1 {
		t.Errorf("warned %d times, want once", n)
	}
}

func TestBreakPassesDuration(t *testing.T) {
	dev := newFakeDevice()
	p := newPort("/dev/fake0", dev, slog.New(slog.DiscardHandler))
	if err := p.Break(250 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if len(dev.breaks) != 1 || dev.breaks[0] != 250*time.Millisecond {
		t.Fatalf("breaks %v", dev.breaks)
	}
	p.Close()
	if err := p.Break(time.Millisecond); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Break after Close = %v, want os.ErrClosed", err)
	}
}

func TestPTYBreak(t *testing.T) {
	// A pty accepts TIOCSBRK/TIOCCBRK (it has no break_ctl, so nothing reaches the master);
	// what matters is that Break does not fail on the lines the lab uses.
	p, _, _ := openPTY(t, Mode{}, nil)
	if err := p.Break(5 * time.Millisecond); err != nil {
		t.Fatalf("Break on a pty: %v", err)
	}
}
