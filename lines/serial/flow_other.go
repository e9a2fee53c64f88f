//go:build !linux

package serial

import "fmt"

// setFlowControl is only written for Linux termios; elsewhere a line with flow control
// configured fails to open rather than running without it.
func setFlowControl(fd int, flow string) error {
	return fmt.Errorf("%s flow control is only implemented on Linux", flow)
}
