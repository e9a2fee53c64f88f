//go:build !linux

package dataplane

import (
	"errors"
	"log/slog"
	"runtime"
)

func newKernel(cfg *Config, log *slog.Logger) (kernel, error) {
	return nil, &UnavailableError{Reason: "the TUN data plane needs Linux, not " + runtime.GOOS, Err: errors.ErrUnsupported}
}
