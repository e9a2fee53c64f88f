package acct

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// OpenSessions lists the sessions the spool has a Start or Interim-Update for and no Stop,
// each as its last durable record, oldest first.
func (s *Spool) OpenSessions() []Record {
	s.mu.Lock()
	out := make([]Record, 0, len(s.sessions))
	for _, r := range s.sessions {
		out = append(out, r)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

// Recover closes the sessions a previous run left open: for each session open when the spool
// was opened and still without a Stop, it appends a Stop with cause NAS-Reboot carrying the last
// counters and session time the spool knew (from its last Start or Interim-Update), stamped now
// (the moment of the crash is unknown; the session time is the part the spool can vouch for).
// It returns how many Stops it appended. Sessions started by this run are never touched, and a
// second call (or a call after a crash half-way through) appends no Stop twice: a session leaves
// the table as soon as its Stop is durable.
func (s *Spool) Recover(ctx context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	var todo []Record
	for id := range s.orphans {
		if r, ok := s.sessions[id]; ok {
			todo = append(todo, r)
		}
	}
	s.mu.Unlock()
	sort.Slice(todo, func(i, j int) bool { return todo[i].Seq < todo[j].Seq })
	n := 0
	for _, last := range todo {
		stop := last
		stop.Seq = 0
		stop.Type = Stop
		stop.Cause = CauseNASReboot
		stop.Time = now
		_, err := s.Append(ctx, stop)
		if err != nil && !errors.Is(err, ErrQueued) {
			return n, fmt.Errorf("acct: recover session %s: %w", last.SessionID, err)
		}
		// Durable, or queued in memory (to be written before anything else): either way this
		// run has closed the session and must not close it again.
		s.mu.Lock()
		delete(s.orphans, last.SessionID)
		s.mu.Unlock()
		n++
	}
	if n > 0 {
		s.log.Warn("accounting: closed sessions left open by the previous run", "sessions", n, "cause", CauseNASReboot.String())
	}
	return n, nil
}
