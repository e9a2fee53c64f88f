//go:build unix

package acct

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// lockFile holds an flock on name for as long as the returned Closer is open; the kernel drops
// it when the process dies, so a kill -9 never leaves a stale lock behind.
func lockFile(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s (is another nas using this spool?): %w", name, err)
	}
	return f, nil
}
