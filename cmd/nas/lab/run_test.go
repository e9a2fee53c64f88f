package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dialback/nas/examples"
	"github.com/dialback/nas/session/event"
)

// TestBundledScenariosPass runs every scenario `nas lab` ships, as `go run ./cmd/nas lab` does.
func TestBundledScenariosPass(t *testing.T) {
	all, err := LoadBundled(examples.FS, "lab")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		t.Run(s.Name, func(t *testing.T) {
			rep := Run(context.Background(), s, Options{})
			if !rep.Passed() {
				t.Fatalf("%s: met %d of %d; first unmet: %v; err %v; callers %v\nevents:\n%s",
					s.Name, rep.Met, rep.Total, rep.Unmet, rep.Err, rep.CallerErrors, dump(rep.Events))
			}
		})
	}
}

// TestScenarioFileFromElsewhere runs a scenario with its own users, numbers and rotary, judged
// only by its own expect list.
func TestScenarioFileFromElsewhere(t *testing.T) {
	s, err := LoadFile("testdata/other-site.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rep := Run(context.Background(), s, Options{})
	if !rep.Passed() {
		t.Fatalf("met %d of %d; first unmet: %v; err %v; callers %v\nevents:\n%s",
			rep.Met, rep.Total, rep.Unmet, rep.Err, rep.CallerErrors, dump(rep.Events))
	}
}

// TestUnmetExpectationIsNamed: a scenario expecting what cannot happen fails, naming the
// first expectation not met.
func TestUnmetExpectationIsNamed(t *testing.T) {
	all, err := LoadBundled(examples.FS, "lab")
	if err != nil {
		t.Fatal(err)
	}
	var s *Scenario
	for _, sc := range all {
		if sc.Name == "exec-no-callback" {
			s = sc
		}
	}
	// dave is not a callback user: a callback can never be scheduled for him.
	s.Expect = append(s.Expect[:2:2], Expectation{Event: event.CallbackScheduled, User: "dave"})
	s.Timeout = 3 * time.Second
	rep := Run(context.Background(), s, Options{})
	if rep.Passed() || rep.Met != 2 || rep.Unmet == nil || rep.Unmet.Event != event.CallbackScheduled {
		t.Fatalf("passed=%v met=%d unmet=%v, want a failure at expectation 3 (callback.scheduled)", rep.Passed(), rep.Met, rep.Unmet)
	}
}

// TestJSONOutputOrder checks the example: the JSON events of exec-callback, in order.
func TestJSONOutputOrder(t *testing.T) {
	all, err := LoadBundled(examples.FS, "lab")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, s := range all {
		if s.Name == "exec-callback" {
			if rep := Run(context.Background(), s, Options{Out: &out, JSON: true}); !rep.Passed() {
				t.Fatalf("exec-callback failed: unmet %v", rep.Unmet)
			}
		}
	}
	want := []string{"call.answered/first", "auth.ok/first", "callback.scheduled/", "line.hangup/",
		"callback.dialing/", "callback.connected/", "auth.ok/callback", "session.up/callback"}
	i := 0
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var e event.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("not a JSON event: %q: %v", line, err)
		}
		if e.Time.IsZero() || e.Kind == "" {
			t.Errorf("event without time or name: %q", line)
		}
		if i < len(want) {
			kind, leg, _ := strings.Cut(want[i], "/")
			if e.Kind == kind && (leg == "" || e.Leg == leg) {
				i++
			}
		}
	}
	if i != len(want) {
		t.Fatalf("JSON output met %d of the %d events in order; output:\n%s", i, len(want), out.String())
	}
}

func dump(events []event.Event) string {
	var b strings.Builder
	for _, e := range events {
		b.WriteString("  " + e.Kind + " " + fields(e) + "\n")
	}
	return b.String()
}
