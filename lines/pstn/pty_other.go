//go:build !linux

package pstn

import (
	"errors"
	"fmt"
)

type ptyLine struct{}

func (l *ptyLine) close() error { return nil }

// AttachPTY is only implemented on Linux.
func (x *Exchange) AttachPTY(number string) (slave string, closeFn func() error, err error) {
	return "", nil, fmt.Errorf("pstn: attach pty %s: %w", number, errors.ErrUnsupported)
}
