package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Path is where the endpoint serves the metrics.
const Path = "/metrics"

const (
	// scrapeTimeout bounds one scrape; reading the sources takes microseconds, so only a
	// stuck client gets near it.
	scrapeTimeout = 10 * time.Second
	// maxScrapes in flight: more than one scraper is unusual, a flood is not served.
	maxScrapes = 4
	// shutdownTimeout bounds the wait for scrapes in flight when the endpoint stops.
	shutdownTimeout = 2 * time.Second
)

// NewHandler returns the HTTP handler of the metrics: c's, the process's own (CPU, memory,
// open files) and the handler's, from a registry of their own (not the global one, which
// would pick up whatever a dependency registers). Scrape errors are logged to log.
func NewHandler(c *Collector, log *slog.Logger) (http.Handler, error) {
	if log == nil {
		log = slog.Default()
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(c); err != nil {
		return nil, fmt.Errorf("metrics: register the NAS collector: %w", err)
	}
	if err := reg.Register(prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("metrics: register the process collector: %w", err)
	}
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(log.Handler(), slog.LevelError),
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            reg,
		MaxRequestsInFlight: maxScrapes,
		Timeout:             scrapeTimeout,
	})
	return promhttp.InstrumentMetricHandler(reg, h), nil
}

// Endpoint is the HTTP server of the metrics on one TCP address.
type Endpoint struct {
	ln  net.Listener
	srv *http.Server
	log *slog.Logger
}

// Listen binds addr at once — so that an address already taken fails the caller's start, not a
// scrape later — and returns an endpoint that serves h at Path once Serve runs.
func Listen(addr string, h http.Handler, log *slog.Logger) (*Endpoint, error) {
	if log == nil {
		log = slog.Default()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(Path, h)
	return &Endpoint{
		ln: ln,
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: scrapeTimeout,
			IdleTimeout:       2 * time.Minute, // longer than any sane scrape interval
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		log: log,
	}, nil
}

// Addr is the address the endpoint is bound to.
func (e *Endpoint) Addr() net.Addr { return e.ln.Addr() }

// Serve answers scrapes until ctx ends or Close is called; then it waits (briefly) for scrapes
// in flight and returns nil. Any other return is the listener failing.
func (e *Endpoint) Serve(ctx context.Context) error {
	e.log.Info("metrics endpoint serving", "addr", e.ln.Addr().String(), "path", Path)
	errc := make(chan error, 1)
	go func() { errc <- e.srv.Serve(e.ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("metrics endpoint %s: %w", e.ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := e.srv.Shutdown(sctx)
	if err != nil {
		e.srv.Close() // a scrape outlived the grace period: cut it
	}
	<-errc // Serve returns as soon as Shutdown begins
	if err != nil {
		return fmt.Errorf("metrics endpoint %s: shut down: %w", e.ln.Addr(), err)
	}
	return nil
}

// Close stops the endpoint at once, closing its listener and connections; Serve then
// returns. It may be called whether or not Serve ran, and more than once.
func (e *Endpoint) Close() error {
	err := e.srv.Close()
	// Serve may never have run, and then the server does not know the listener yet.
	if lerr := e.ln.Close(); lerr != nil && !errors.Is(lerr, net.ErrClosed) && err == nil {
		err = lerr
	}
	return err
}
