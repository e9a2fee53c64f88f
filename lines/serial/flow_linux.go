package serial

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// setFlowControl sets RTS/CTS (CRTSCTS) or XON/XOFF (IXON|IXOFF) on the tty behind fd.
// Only the flow-control bits change; the framing the library set stays.
func setFlowControl(fd int, flow string) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return fmt.Errorf("get termios: %w", err)
	}
	t.Cflag &^= unix.CRTSCTS
	t.Iflag &^= unix.IXON | unix.IXOFF | unix.IXANY
	switch flow {
	case FlowHardware:
		t.Cflag |= unix.CRTSCTS
	case FlowSoftware:
		t.Iflag |= unix.IXON | unix.IXOFF
		t.Cc[unix.VSTART] = 0x11 // DC1 (XON)
		t.Cc[unix.VSTOP] = 0x13  // DC3 (XOFF)
	case FlowNone:
	default:
		return fmt.Errorf("unknown flow control %q", flow)
	}
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return fmt.Errorf("set termios: %w", err)
	}
	return nil
}
