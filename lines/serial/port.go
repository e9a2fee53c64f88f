// Package serial owns the local serial-port backend of lines.Port: a tty opened through
// go.bug.st/serial, with read deadlines, RTS/CTS or XON/XOFF flow control, the modem-control
// lines (DTR/RTS out, DCD/DSR/CTS/RI in) and BREAK. On a tty without modem-control lines (a
// pty) it says so once and leaves carrier detection to the modem's result codes.
package serial

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bug "go.bug.st/serial"
	"golang.org/x/sys/unix"

	"github.com/dialback/nas/lines"
)

// ErrPortGone is lines.ErrPortGone, wrapped by Read and Write once the port is gone for good.
var ErrPortGone = lines.ErrPortGone

// errClosed is what Read and Write return after Close (io.EOF as well as os.ErrClosed).
var errClosed = lines.ErrPortClosed

const (
	// defaultReadSlice bounds each blocking read in the library, so that a deadline set
	// while a Read is in progress (or a deadline that passes) is noticed within one slice.
	// go.bug.st/serial has no deadlines, only a per-read timeout.
	defaultReadSlice = 100 * time.Millisecond
	// defaultHangupDrop is how long DTR stays low on Hangup: long enough for any modem set
	// to &D2 to notice (Hayes S25 defaults to 0.05 s; 0.5 s is the customary safe drop).
	defaultHangupDrop = 500 * time.Millisecond
)

// device is the part of go.bug.st/serial's Port that this backend uses; tests substitute a
// fake with real modem-control lines.
type device interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	SetReadTimeout(t time.Duration) error
	SetDTR(on bool) error
	SetRTS(on bool) error
	GetModemStatusBits() (*bug.ModemStatusBits, error)
	Break(d time.Duration) error
	Close() error
}

// Port is a local serial port. It implements lines.Port, lines.ModemControl and lines.Breaker.
type Port struct {
	path string
	log  *slog.Logger
	dev  device

	readSlice  time.Duration
	hangupDrop time.Duration

	// readMu serialises Read: the library's read timeout is a plain field shared by readers.
	readMu sync.Mutex

	mu       sync.Mutex
	deadline time.Time
	closed   bool
	gone     error // set once the device has gone; every later Read/Write returns it

	noModem     atomic.Bool
	noModemOnce sync.Once
	goneOnce    sync.Once
}

var (
	_ lines.Port         = (*Port)(nil)
	_ lines.ModemControl = (*Port)(nil)
	_ lines.Breaker      = (*Port)(nil)
)

// Open opens the tty at path with the given framing and flow control, raises DTR and RTS (the
// tty driver does so on open) and probes once whether the tty has modem-control lines.
func Open(ctx context.Context, path string, m Mode, log *slog.Logger) (*Port, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("serial: open %s: %w", path, err)
	}
	m, err := m.Normalize()
	if err != nil {
		return nil, fmt.Errorf("serial: open %s: %w", path, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bm, err := libraryMode(m)
	if err != nil {
		return nil, fmt.Errorf("serial: open %s: %w", path, err)
	}

	// go.bug.st/serial v1.8.0 has no flow-control setting: it clears CRTSCTS and IXON/IXOFF on
	// open and never exposes its fd. Termios belongs to the tty, not to the file descriptor,
	// so a second descriptor opened *before* the library's (which then sets TIOCEXCL) can set
	// the flow-control flags after the library has configured the line.
	ctl := -1
	if m.FlowControl != FlowNone {
		ctl, err = unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, openError(path, err)
		}
		defer unix.Close(ctl)
	}

	sp, err := bug.Open(path, bm)
	if err != nil {
		return nil, openError(path, err)
	}
	if ctl >= 0 {
		if err := setFlowControl(ctl, m.FlowControl); err != nil {
			sp.Close()
			return nil, fmt.Errorf("serial: open %s: set %s flow control: %w", path, m.FlowControl, err)
		}
	}

	p := newPort(path, sp, log)
	p.probeModemControl()
	log.Debug("serial port open", "port", path, "mode", m.String(), "modem_control", p.HasModemControl())
	return p, nil
}

func newPort(path string, dev device, log *slog.Logger) *Port {
	return &Port{
		path:       path,
		log:        log,
		dev:        dev,
		readSlice:  defaultReadSlice,
		hangupDrop: defaultHangupDrop,
	}
}

func libraryMode(m Mode) (*bug.Mode, error) {
	bm := &bug.Mode{BaudRate: m.Speed, DataBits: m.DataBits}
	switch m.StopBits {
	case 1:
		bm.StopBits = bug.OneStopBit
	case 2:
		bm.StopBits = bug.TwoStopBits
	}
	switch m.Parity {
	case ParityNone:
		bm.Parity = bug.NoParity
	case ParityEven:
		bm.Parity = bug.EvenParity
	case ParityOdd:
		bm.Parity = bug.OddParity
	case ParityMark:
		bm.Parity = bug.MarkParity
	case ParitySpace:
		bm.Parity = bug.SpaceParity
	default:
		return nil, fmt.Errorf("parity %q not supported", m.Parity)
	}
	return bm, nil
}

// openError turns the library's errors into one that names the device and keeps the
// standard sentinels (fs.ErrNotExist, fs.ErrPermission) testable.
func openError(path string, err error) error {
	var pe *bug.PortError
	if errors.As(err, &pe) {
		switch pe.Code() {
		case bug.PortNotFound:
			return fmt.Errorf("serial: open %s: no such device: %w", path, fs.ErrNotExist)
		case bug.PermissionDenied:
			return fmt.Errorf("serial: open %s: %w", path, fs.ErrPermission)
		case bug.PortBusy:
			return fmt.Errorf("serial: open %s: device busy (another program has it open): %w", path, err)
		}
		return fmt.Errorf("serial: open %s: %w", path, err)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("serial: open %s: no such device: %w", path, err)
	}
	return fmt.Errorf("serial: open %s: %w", path, err)
}

// Name returns the device path.
func (p *Port) Name() string { return p.path }

// HasModemControl reports whether the tty has modem-control lines. It is false on a pty:
// then ModemStatus, SetDTR, SetRTS and Hangup return errors wrapping lines.ErrNoModemControl
// and the modem driver must use result codes for carrier and +++/ATH to hang up.
func (p *Port) HasModemControl() bool { return !p.noModem.Load() }

func (p *Port) probeModemControl() {
	if _, err := p.dev.GetModemStatusBits(); err != nil {
		if isNoModemControl(err) {
			p.markNoModemControl(err)
			return
		}
		p.log.Debug("serial modem status probe failed", "port", p.path, "err", err)
	}
}

// isNoModemControl says whether an ioctl error means "this tty has no modem lines" (ENOTTY
// on a pty) rather than a transient failure.
func isNoModemControl(err error) bool {
	return errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL) ||
		errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS)
}

func (p *Port) markNoModemControl(cause error) {
	p.noModem.Store(true)
	p.noModemOnce.Do(func() {
		p.log.Warn("line has no modem-control lines; using modem result codes for carrier",
			"port", p.path, "err", cause)
	})
}

func (p *Port) noModemError(op string) error {
	return fmt.Errorf("serial %s: %s: %w", p.path, op, lines.ErrNoModemControl)
}

// SetReadDeadline sets the time after which Read fails with an error wrapping
// os.ErrDeadlineExceeded. It takes effect for a Read already in progress within a short slice.
// The zero time means no deadline.
func (p *Port) SetReadDeadline(t time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("serial %s: set read deadline: %w", p.path, errClosed)
	}
	p.deadline = t
	return nil
}

// Read reads from the line, honouring the read deadline.
func (p *Port) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	p.readMu.Lock()
	defer p.readMu.Unlock()
	for {
		p.mu.Lock()
		closed, gone, dl := p.closed, p.gone, p.deadline
		p.mu.Unlock()
		if closed {
			return 0, fmt.Errorf("serial %s: read: %w", p.path, errClosed)
		}
		if gone != nil {
			return 0, gone
		}
		wait := p.readSlice
		if !dl.IsZero() {
			left := time.Until(dl)
			if left <= 0 {
				return 0, fmt.Errorf("serial %s: read: %w", p.path, os.ErrDeadlineExceeded)
			}
			wait = min(wait, left)
		}
		if err := p.dev.SetReadTimeout(wait); err != nil {
			return 0, fmt.Errorf("serial %s: set read timeout: %w", p.path, err)
		}
		n, err := p.dev.Read(b)
		if n > 0 {
			return n, nil
		}
		if err != nil {
			return 0, p.failed("read", err)
		}
		// 0, nil: the library's read timeout; go round to re-check the deadline.
	}
}

// failed classifies an I/O error: after Close it is errClosed; otherwise the device is gone.
func (p *Port) failed(op string, err error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("serial %s: %s: %w", p.path, op, errClosed)
	}
	if p.gone == nil {
		p.gone = fmt.Errorf("serial %s: %s: %w: %v", p.path, op, ErrPortGone, err)
	}
	p.goneOnce.Do(func() { p.log.Warn("serial device gone", "port", p.path, "op", op, "err", err) })
	return p.gone
}

// Write writes all of b to the line.
func (p *Port) Write(b []byte) (int, error) {
	done := 0
	for done < len(b) {
		if err := p.usable("write"); err != nil {
			return done, err
		}
		n, err := p.dev.Write(b[done:])
		done += max(n, 0)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue
		}
		if err != nil {
			return done, p.failed("write", err)
		}
		if n == 0 {
			return done, p.failed("write", io.ErrShortWrite)
		}
	}
	return done, nil
}

// SetDTR drives Data Terminal Ready.
func (p *Port) SetDTR(on bool) error { return p.setLine("set DTR", on, p.dev.SetDTR) }

// SetRTS drives Request To Send. With hardware flow control the tty driver also drives RTS.
func (p *Port) SetRTS(on bool) error { return p.setLine("set RTS", on, p.dev.SetRTS) }

func (p *Port) setLine(op string, on bool, set func(bool) error) error {
	if p.noModem.Load() {
		return p.noModemError(op)
	}
	if err := p.usable(op); err != nil {
		return err
	}
	if err := set(on); err != nil {
		if isNoModemControl(err) {
			p.markNoModemControl(err)
			return p.noModemError(op)
		}
		return fmt.Errorf("serial %s: %s %v: %w", p.path, op, on, err)
	}
	return nil
}

func (p *Port) usable(op string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("serial %s: %s: %w", p.path, op, errClosed)
	}
	return p.gone
}

// ModemStatus reads DCD, DSR, CTS and RI. The tty gives no change notification: callers poll.
func (p *Port) ModemStatus() (lines.ModemStatus, error) {
	const op = "modem status"
	if p.noModem.Load() {
		return lines.ModemStatus{}, p.noModemError(op)
	}
	if err := p.usable(op); err != nil {
		return lines.ModemStatus{}, err
	}
	bits, err := p.dev.GetModemStatusBits()
	if err != nil {
		if isNoModemControl(err) {
			p.markNoModemControl(err)
			return lines.ModemStatus{}, p.noModemError(op)
		}
		return lines.ModemStatus{}, fmt.Errorf("serial %s: %s: %w", p.path, op, err)
	}
	return lines.ModemStatus{DCD: bits.DCD, DSR: bits.DSR, CTS: bits.CTS, RI: bits.RI}, nil
}

// Hangup drops DTR for about half a second, then raises it again so the modem can take the
// next call. Without modem-control lines it returns an error wrapping lines.ErrNoModemControl
// and the modem driver hangs up in-band (+++ then ATH).
func (p *Port) Hangup(ctx context.Context) error {
	if p.noModem.Load() {
		return p.noModemError("hangup")
	}
	if err := p.SetDTR(false); err != nil {
		return fmt.Errorf("serial %s: hangup: %w", p.path, err)
	}
	t := time.NewTimer(p.hangupDrop)
	defer t.Stop()
	var waitErr error
	select {
	case <-t.C:
	case <-ctx.Done():
		waitErr = ctx.Err()
	}
	// Raise DTR even when the caller gave up: a line left with DTR low answers no calls.
	if err := p.SetDTR(true); err != nil {
		return fmt.Errorf("serial %s: hangup: raise DTR: %w", p.path, err)
	}
	if waitErr != nil {
		return fmt.Errorf("serial %s: hangup: %w", p.path, waitErr)
	}
	return nil
}

// Break holds the line in the spacing state for d (chat `\K` and `BREAK`).
func (p *Port) Break(d time.Duration) error {
	if err := p.usable("break"); err != nil {
		return err
	}
	if err := p.dev.Break(d); err != nil {
		return fmt.Errorf("serial %s: break: %w", p.path, err)
	}
	return nil
}

// Close closes the device; a Read in progress returns an error wrapping io.EOF.
//
// A Write racing with Close may reach the library after its fd is closed (EBADF, reported as
// closed); the library gives no way to exclude that without blocking Close behind a Write
// that flow control holds up.
func (p *Port) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	// The library's Close wakes a blocked Read through its signal pipe and waits for it.
	if err := p.dev.Close(); err != nil {
		return fmt.Errorf("serial %s: close: %w", p.path, err)
	}
	return nil
}
