// Package metrics owns the NAS's Prometheus metrics and the HTTP endpoint that serves them
// (metrics.listen in the configuration). It keeps no state of its own: a Collector reads the
// accounting spool, the line table, the live sessions and the RADIUS servers at scrape time,
// so a scrape always agrees with `show`, and an accounting spool that cannot be written shows
// as nas_acct_spool_writable 0 the moment it happens.
package metrics

import (
	"reflect"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dialback/nas/aaa/acct"
	"github.com/dialback/nas/aaa/radius"
	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/session"
)

// Spool is what the collector reads from the accounting spool; *acct.Spool has it.
type Spool interface {
	Health() (ok bool, reason string)
	Admit() error
	Stats() acct.Stats
	Status() []acct.DestStatus
}

// Lines is what the collector reads from the line table; *lines.Table has it.
type Lines interface {
	Snapshot() []lines.Info
}

// Sessions lists the live sessions; *session.Server has it.
type Sessions interface {
	Sessions() []session.SessionInfo
}

// RADIUS reports the RADIUS servers' state; *radius.Client has it.
type RADIUS interface {
	Status() []radius.ServerStatus
}

// Sources are what the metrics are read from. Any of them may be nil (a nil pointer in the
// interface too, such as a *radius.Client when no RADIUS group is configured): its metrics
// are then left out.
type Sources struct {
	Spool    Spool
	Lines    Lines
	Sessions Sessions
	RADIUS   RADIUS
}

const ns = "nas"

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(ns+"_"+name, help, labels, nil)
}

// The metrics. Counters count since the NAS started (the spool's counters since Open):
// Prometheus treats the drop to zero at a restart as a counter reset.
var (
	descSpoolWritable = desc("acct_spool_writable",
		"1 when the accounting spool can make records durable, 0 while writes fail (a full or broken disk); "+
			"`show accounting` says why.")
	descAdmitting = desc("acct_admitting_calls",
		"1 when accounting lets new calls be answered, 0 while the full-disk policy refuses them.")
	descAppended = desc("acct_records_appended_total",
		"Accounting records made durable in the spool.")
	descAppendErrors = desc("acct_append_errors_total",
		"Accounting records the spool could not write (each returned to its caller as an error).")
	descDropped = desc("acct_records_dropped_total",
		"Accounting records not kept: the memory queue of policy answer was full, or still held at shutdown. "+
			"Each is logged in full at error level.")
	descQueued = desc("acct_records_queued",
		"Accounting records held in memory until the spool is writable again (policy answer).")
	descCorrupt = desc("acct_corrupt_regions_total",
		"Corrupt or torn regions of the spool skipped (at start and by readers).")
	descOpenSessions = desc("acct_open_sessions",
		"Sessions with a Start or Interim-Update in the spool and no Stop yet.")
	descSegments = desc("acct_spool_segments",
		"Live segment files of the spool (not yet delivered to every destination).")
	descBytes = desc("acct_spool_bytes",
		"Bytes in the spool's live segment files.")

	descDestLag = desc("acct_destination_lag_records",
		"Accounting records appended but not yet delivered to the destination.", "destination")
	descDestDelivered = desc("acct_destination_delivered_total",
		"Accounting records delivered to the destination.", "destination")
	descDestFailures = desc("acct_destination_failures_total",
		"Failed delivery attempts to the destination (each retried, or dead-lettered if permanent).", "destination")
	descDestConsecutive = desc("acct_destination_consecutive_failures",
		"Failed attempts on the record the destination is stuck on now; 0 when delivery flows.", "destination")
	descDeadLettered = desc("acct_dead_lettered_total",
		"Accounting records the destination refused permanently, moved to the spool's deadletter/ file.", "destination")
	descDestRunning = desc("acct_destination_running",
		"1 while a delivery worker runs for the destination.", "destination")

	descLines = desc("lines",
		"TTY lines by state (as `show line` names them).", "state")
	descSessions = desc("sessions",
		"Live sessions (accounted legs) by protocol.", "protocol")

	descRADIUSUp = desc("radius_server_up",
		"0 while the RADIUS server port is marked dead (skipped for dead-time), else 1.", "server", "port")
	descRADIUSInFlight = desc("radius_requests_in_flight",
		"Requests waiting for an answer from the RADIUS server port.", "server", "port")
)

var allDescs = []*prometheus.Desc{
	descSpoolWritable, descAdmitting, descAppended, descAppendErrors, descDropped, descQueued, descCorrupt,
	descOpenSessions, descSegments, descBytes,
	descDestLag, descDestDelivered, descDestFailures, descDestConsecutive, descDeadLettered, descDestRunning,
	descLines, descSessions, descRADIUSUp, descRADIUSInFlight,
}

// protocols are always reported, at 0 when no session runs them, so that a query for one
// finds a series rather than nothing.
var protocols = []string{session.ProtoExec, session.ProtoPPP, session.ProtoARAP}

// Collector is a prometheus.Collector that reads its Sources at every scrape.
type Collector struct {
	src Sources
}

// NewCollector returns a collector of src.
func NewCollector(src Sources) *Collector {
	if isNil(src.Spool) {
		src.Spool = nil
	}
	if isNil(src.Lines) {
		src.Lines = nil
	}
	if isNil(src.Sessions) {
		src.Sessions = nil
	}
	if isNil(src.RADIUS) {
		src.RADIUS = nil
	}
	return &Collector{src: src}
}

// isNil reports whether v is nil or holds a nil pointer: a method on a nil *radius.Client
// would panic inside a scrape.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	return rv.Kind() == reflect.Pointer && rv.IsNil()
}

// Describe sends every metric's description, whichever sources are present.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// Collect reads the sources and sends their metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if c.src.Spool != nil {
		c.collectSpool(ch)
	}
	if c.src.Lines != nil {
		c.collectLines(ch)
	}
	if c.src.Sessions != nil {
		c.collectSessions(ch)
	}
	if c.src.RADIUS != nil {
		c.collectRADIUS(ch)
	}
}

func (c *Collector) collectSpool(ch chan<- prometheus.Metric) {
	sp := c.src.Spool
	ok, _ := sp.Health()
	gauge(ch, descSpoolWritable, b2f(ok))
	gauge(ch, descAdmitting, b2f(sp.Admit() == nil))
	st := sp.Stats()
	counter(ch, descAppended, float64(st.Appended))
	counter(ch, descAppendErrors, float64(st.AppendErrors))
	counter(ch, descDropped, float64(st.Dropped))
	gauge(ch, descQueued, float64(st.Queued))
	counter(ch, descCorrupt, float64(st.Corrupt))
	gauge(ch, descOpenSessions, float64(st.OpenSessions))
	gauge(ch, descSegments, float64(st.Segments))
	gauge(ch, descBytes, float64(st.Bytes))
	for _, d := range sp.Status() {
		gauge(ch, descDestLag, float64(d.Lag), d.Name)
		counter(ch, descDestDelivered, float64(d.Delivered), d.Name)
		counter(ch, descDestFailures, float64(d.Failures), d.Name)
		gauge(ch, descDestConsecutive, float64(d.Consecutive), d.Name)
		counter(ch, descDeadLettered, float64(d.DeadLettered), d.Name)
		gauge(ch, descDestRunning, b2f(d.Running), d.Name)
	}
}

func (c *Collector) collectLines(ch chan<- prometheus.Metric) {
	counts := map[lines.State]int{}
	for _, l := range c.src.Lines.Snapshot() {
		counts[l.State]++
	}
	// Every state, so that "no line is down" is a 0 and not a missing series. The states are
	// walked until one does not marshal, which keeps this in step with the lines package.
	for s := lines.State(0); ; s++ {
		name, err := s.MarshalText()
		if err != nil {
			break
		}
		gauge(ch, descLines, float64(counts[s]), string(name))
		delete(counts, s)
	}
	for s, n := range counts { // a state the walk did not reach: still counted, never lost
		gauge(ch, descLines, float64(n), s.String())
	}
}

func (c *Collector) collectSessions(ch chan<- prometheus.Metric) {
	counts := map[string]int{}
	for _, p := range protocols {
		counts[p] = 0
	}
	for _, s := range c.src.Sessions.Sessions() {
		counts[s.Protocol]++
	}
	for p, n := range counts {
		gauge(ch, descSessions, float64(n), p)
	}
}

func (c *Collector) collectRADIUS(ch chan<- prometheus.Metric) {
	for _, s := range c.src.RADIUS.Status() {
		gauge(ch, descRADIUSUp, b2f(!s.Dead), s.Server, s.Port)
		gauge(ch, descRADIUSInFlight, float64(s.InFlight), s.Server, s.Port)
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
