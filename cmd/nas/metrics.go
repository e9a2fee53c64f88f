package main

import (
	"log/slog"

	"github.com/dialback/nas/aaa/acct"
	"github.com/dialback/nas/aaa/methods"
	"github.com/dialback/nas/config"
	"github.com/dialback/nas/metrics"
	"github.com/dialback/nas/session"
)

// listenMetrics binds the Prometheus endpoint that metrics.listen asks for, reading the
// spool, the lines and sessions of srv, and the RADIUS group at each scrape. It returns nil
// when metrics are off.
func listenMetrics(cfg *config.Config, srv *session.Server, spool *acct.Spool, lists *methods.Lists, log *slog.Logger) (*metrics.Endpoint, error) {
	if cfg.Metrics.Listen == "" {
		return nil, nil
	}
	src := metrics.Sources{Spool: spool, Lines: srv.Table(), Sessions: srv}
	if lists.RADIUS != nil {
		src.RADIUS = lists.RADIUS
	}
	log = log.With("component", "metrics")
	h, err := metrics.NewHandler(metrics.NewCollector(src), log)
	if err != nil {
		return nil, err
	}
	return metrics.Listen(cfg.Metrics.Listen, h, log)
}
