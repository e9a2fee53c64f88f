// Package lines owns the async lines of the access server: the Port abstraction over serial
// ports, RFC 2217 remote ports and the simulated telephone network, modem control, and the line
// table with IOS-style TTY numbers, line states, rotary groups and reservations for callback.
package lines

import (
	"context"
	"errors"
	"io"
	"os"
	"time"
)

// Port is a byte stream to a modem (or, for a direct line, to the caller).
//
// Read honours SetReadDeadline: once the deadline passes Read returns an error for which
// errors.Is(err, os.ErrDeadlineExceeded) is true, so chat scripts and the session can time out
// without a goroutine per read. Read returns io.EOF only when the port is gone for good
// (closed, device unplugged, connection lost).
type Port interface {
	Read(p []byte) (int, error)
	Write(p []byte) (int, error)
	SetReadDeadline(t time.Time) error
	// Hangup ends the current call: DTR drop where the port has modem control, otherwise
	// whatever the backend can do (RFC 2217 DTR off, the simulated modem going on-hook).
	// The port stays open for the next call.
	Hangup(ctx context.Context) error
	Close() error
	// Name says where the port is, for logs: "/dev/ttyS0", "rfc2217://host:port", "sim:5551000".
	Name() string
}

// ModemControl is the optional capability of a port with real modem-control lines.
// A port without it (a pty, for instance) gets carrier and ring from the modem's result codes.
type ModemControl interface {
	SetDTR(on bool) error
	SetRTS(on bool) error
	ModemStatus() (ModemStatus, error)
}

// ModemStatus is the state of the modem's status lines, as seen by the DTE.
type ModemStatus struct {
	DCD bool // carrier detect
	DSR bool // data set ready
	CTS bool // clear to send
	RI  bool // ring indicator
}

// Breaker is the optional capability of sending a line BREAK (chat `\K` and `BREAK`).
type Breaker interface {
	Break(d time.Duration) error
}

// ErrNoModemControl is returned by ModemControlOf when a port cannot drive or read modem lines.
var ErrNoModemControl = errors.New("port has no modem-control lines")

// ModemControlOf returns the port's modem control, or ErrNoModemControl.
func ModemControlOf(p Port) (ModemControl, error) {
	if mc, ok := p.(ModemControl); ok {
		return mc, nil
	}
	return nil, ErrNoModemControl
}

// ErrPortGone is wrapped by a backend's Read and Write once the port has gone away for good:
// a USB adapter unplugged, a remote serial server's connection lost, the simulated line
// removed. errors.Is(err, io.EOF) is true of it too, so plain stream readers stop cleanly.
var ErrPortGone error = goneError{}

type goneError struct{}

func (goneError) Error() string        { return "port gone" }
func (goneError) Is(target error) bool { return target == io.EOF }

// ErrPortClosed is wrapped by a backend's Read and Write after its own Close: the port is gone
// for good from the caller's point of view, so errors.Is(err, io.EOF) and
// errors.Is(err, os.ErrClosed) are true of it too.
var ErrPortClosed error = closedError{}

type closedError struct{}

func (closedError) Error() string        { return "port closed" }
func (closedError) Is(target error) bool { return target == io.EOF || target == os.ErrClosed }
