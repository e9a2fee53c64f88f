//go:build !unix

package acct

import (
	"io"
	"os"
)

// lockFile only creates name where flock is not available.
func lockFile(name string) (io.Closer, error) {
	return os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
}
