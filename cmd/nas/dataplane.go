package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/dialback/nas/config"
	"github.com/dialback/nas/ppp/dataplane"
)

// newPlane starts a data plane; tests replace it.
var newPlane = dataplane.New

// openDataPlane starts the IP data plane the configuration asks for. Where the host does not
// allow one (no CAP_NET_ADMIN, no /dev/net/tun) it says so once and returns nil: the NAS still
// answers, authenticates and calls back, but PPP callers get no IP service. Any other failure
// (the interface name taken, a route table the kernel refuses) is an error.
func openDataPlane(ctx context.Context, cfg *config.Config, log *slog.Logger) (*dataplane.Plane, error) {
	if !cfg.DataPlane.On() {
		log.Info("data plane off: dataplane.enabled is false; PPP callers get no IP service")
		return nil, nil
	}
	dc, err := cfg.DataPlaneConfig()
	if err != nil {
		return nil, fmt.Errorf("data plane: %w", err)
	}
	dc.Logger = log.With("component", "dataplane")
	p, err := newPlane(ctx, dc)
	if errors.Is(err, dataplane.ErrUnavailable) {
		log.Warn("data plane off: PPP callers get no IP service; authentication and callback still work", "reason", err)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}
