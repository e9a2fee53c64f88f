// Package event is the one vocabulary of call events shared by the structured log, `nas lab`'s
// JSON output and its expectations. An Event is a flat record; a Sink receives them in order.
package event

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Kinds of event. The README documents each of them.
const (
	LineRing          = "line.ring"
	CallAnswered      = "call.answered"
	Autoselect        = "autoselect"
	AuthOK            = "auth.ok"
	AuthFail          = "auth.fail"
	CallbackScheduled = "callback.scheduled"
	LineHangup        = "line.hangup"
	CallbackDialing   = "callback.dialing"
	CallbackConnected = "callback.connected"
	CallbackFailed    = "callback.failed"
	SessionUp         = "session.up"
	SessionDown       = "session.down"
	LineDown          = "line.down"
	AcctUnavailable   = "acct.unavailable"
	AcctAvailable     = "acct.available"
)

// Legs of a call.
const (
	LegFirst    = "first"
	LegCallback = "callback"
)

// Event is one thing that happened on a line. Empty fields are left out of logs and JSON.
type Event struct {
	Time     time.Time `json:"time"`
	Kind     string    `json:"event"`
	Line     int       `json:"line,omitempty"`
	User     string    `json:"user,omitempty"`
	Protocol string    `json:"protocol,omitempty"` // exec | ppp | arap
	Leg      string    `json:"leg,omitempty"`      // first | callback
	Number   string    `json:"number,omitempty"`
	Rotary   int       `json:"rotary,omitempty"`
	Cause    string    `json:"cause,omitempty"`
	Address  string    `json:"address,omitempty"` // the peer's IP address on session.up for PPP
	Detail   string    `json:"detail,omitempty"`
}

// Sink receives events. Emit must be safe for concurrent use and must not block for long.
type Sink interface {
	Emit(e Event)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(Event)

// Emit calls f(e).
func (f SinkFunc) Emit(e Event) { f(e) }

// Fanout sends every event to each sink in turn, stamping the time if it is unset.
type Fanout []Sink

// Emit implements Sink.
func (f Fanout) Emit(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	for _, s := range f {
		s.Emit(e)
	}
}

// LogSink writes events to a structured logger at Info level.
type LogSink struct{ Log *slog.Logger }

// Emit implements Sink.
func (l LogSink) Emit(e Event) {
	attrs := []slog.Attr{}
	add := func(k, v string) {
		if v != "" {
			attrs = append(attrs, slog.String(k, v))
		}
	}
	if e.Line != 0 {
		attrs = append(attrs, slog.Int("line", e.Line))
	}
	add("user", e.User)
	add("protocol", e.Protocol)
	add("leg", e.Leg)
	add("number", e.Number)
	if e.Rotary != 0 {
		attrs = append(attrs, slog.Int("rotary", e.Rotary))
	}
	add("cause", e.Cause)
	add("address", e.Address)
	add("detail", e.Detail)
	l.Log.LogAttrs(context.Background(), slog.LevelInfo, e.Kind, attrs...)
}

// Recorder keeps every event in memory, for tests and the lab's expectations.
type Recorder struct {
	mu     sync.Mutex
	events []Event
	notify chan struct{}
}

// Emit implements Sink.
func (r *Recorder) Emit(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	ch := r.notify
	r.notify = nil
	r.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// Events returns a copy of what has been recorded so far.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// Changed returns a channel closed at the next Emit.
func (r *Recorder) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.notify == nil {
		r.notify = make(chan struct{})
	}
	return r.notify
}

// WaitFor blocks until an event matching pred has been recorded, or ctx ends.
func (r *Recorder) WaitFor(ctx context.Context, pred func(Event) bool) (Event, error) {
	for {
		ch := r.Changed()
		for _, e := range r.Events() {
			if pred(e) {
				return e, nil
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}
