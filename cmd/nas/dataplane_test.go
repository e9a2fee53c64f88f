package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/dialback/nas/config"
	"github.com/dialback/nas/ppp/dataplane"
)

func TestOpenDataPlane(t *testing.T) {
	errExists := errors.New("interface nas0 already exists")
	for _, tc := range []struct {
		name    string
		yaml    string
		newErr  error
		called  bool
		wantErr error
		wantLog string
	}{
		{"disabled", "dataplane: {enabled: false}", nil, false, nil, "data plane off: dataplane.enabled is false"},
		{"no privilege", "", &dataplane.UnavailableError{Reason: "open /dev/net/tun", Err: os.ErrPermission}, true, nil,
			"data plane off: PPP callers get no IP service"},
		{"other failure", "", errExists, true, errExists, ""},
		{"running", "dataplane: {interface: dial0, filter-direction: in}\naccess-lists: {web: [\"permit tcp any any eq www\"]}",
			nil, true, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte("lines: [{lines: 1, port: \"sim:1\"}]\n" + tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			var got *dataplane.Config
			newPlane = func(_ context.Context, dc dataplane.Config) (*dataplane.Plane, error) {
				got = &dc
				return nil, tc.newErr
			}
			t.Cleanup(func() { newPlane = dataplane.New })
			var logs bytes.Buffer
			p, err := openDataPlane(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)))
			if p != nil || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Errorf("got %v, %v; want no plane and error %v", p, err, tc.wantErr)
			}
			if (got != nil) != tc.called {
				t.Fatalf("data plane started: %v, want %v", got != nil, tc.called)
			}
			if tc.wantLog != "" && strings.Count(logs.String(), tc.wantLog) != 1 {
				t.Errorf("log %q, want %q once", logs.String(), tc.wantLog)
			}
			if tc.wantLog == "" && strings.Contains(logs.String(), "data plane off") {
				t.Errorf("log %q says the data plane is off", logs.String())
			}
			if tc.name == "running" && (got.Name != "dial0" || got.FilterDirection != dataplane.In || got.AccessLists["web"] == nil) {
				t.Errorf("data plane config %+v", got)
			}
		})
	}
}
