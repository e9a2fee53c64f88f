package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dialback/nas/aaa/acct"
	"github.com/dialback/nas/aaa/methods"
	"github.com/dialback/nas/config"
)

// spoolWith writes recs to a new spool in a temporary directory and returns the directory and
// the records as appended (with their sequence numbers). The spool stays open, as it is while
// nas serve runs.
func spoolWith(t *testing.T, recs []acct.Record) (string, []acct.Record) {
	t.Helper()
	dir := t.TempDir()
	sp, err := acct.Open(dir, acct.Options{SegmentSize: 2048}) // small segments: the export spans several
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sp.Close() })
	out := make([]acct.Record, len(recs))
	for i, r := range recs {
		seq, err := sp.Append(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		r.Seq = seq
		out[i] = r
	}
	return dir, out
}

// sampleRecords are the legs of a few calls, with the awkward values a billing export must
// carry intact: quotes, commas, newlines and non-ASCII in strings, Class bytes, 64-bit
// counters, fractions of seconds.
func sampleRecords() []acct.Record {
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	var rs []acct.Record
	users := []string{"alice", `bob "the" builder`, "carol,ops", "dave\nnewline", "émile"}
	for i, u := range users {
		id := fmt.Sprintf("00000001-%08X", i+1)
		start := base.Add(time.Duration(i) * time.Hour)
		r := acct.Record{
			Type: acct.Start, Time: start, SessionID: id, Leg: "first", User: u, Service: "login",
			Line: i + 1, PortName: fmt.Sprintf("tty%d", i+1), CallerID: fmt.Sprintf("555200%d", i),
			CalledID: "5551001", ConnectInfo: "CONNECT 33600/V34", StartTime: start,
			Class: [][]byte{{0x01, 0xff, byte(i)}},
		}
		if i == 2 {
			r.Service, r.Address = "ppp", netip.MustParseAddr("10.1.2.3")
		}
		if i == 3 {
			r.Leg, r.MultiSessionID = "callback", "00000001-00000003"
		}
		rs = append(rs, r)
		in := r
		in.Type, in.Time = acct.Interim, start.Add(90*time.Second+250*time.Millisecond)
		in.SessionTime, in.InOctets, in.OutOctets, in.InPackets, in.OutPackets = 90*time.Second+250*time.Millisecond, 1000, 5<<32+7, 10, 20
		rs = append(rs, in)
		st := in
		st.Type, st.Time, st.SessionTime = acct.Stop, start.Add(2*time.Minute), 2*time.Minute
		st.Cause = []acct.Cause{acct.CauseUserRequest, acct.CauseLostCarrier, acct.CauseCallback, acct.CauseAdminReset, acct.CauseNASReboot}[i]
		rs = append(rs, st)
	}
	return rs
}

func runExport(t *testing.T, args ...string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "export")
	var stdout, stderr bytes.Buffer
	if code := run(append([]string{"acct", "export", "--output", out}, args...), &stdout, &stderr); code != 0 {
		t.Fatalf("nas acct export %v = %d: %s", args, code, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAcctExportJSONL(t *testing.T) {
	dir, want := spoolWith(t, sampleRecords())
	b := runExport(t, "--format", "jsonl", "--spool", dir)
	sc := bufio.NewScanner(bytes.NewReader(b))
	i := 0
	for ; sc.Scan(); i++ {
		var got acct.Record
		if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if i >= len(want) {
			t.Fatalf("more records than in the spool: %s", sc.Text())
		}
		w := want[i]
		if !got.Time.Equal(w.Time) || !got.StartTime.Equal(w.StartTime) {
			t.Errorf("record %d times %v %v, want %v %v", i, got.Time, got.StartTime, w.Time, w.StartTime)
		}
		got.Time, got.StartTime, w.Time, w.StartTime = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(w)
		if !bytes.Equal(gj, wj) {
			t.Errorf("record %d:\n got %s\nwant %s", i, gj, wj)
		}
	}
	if i != len(want) {
		t.Errorf("%d records exported, want %d", i, len(want))
	}
}

func TestAcctExportCSV(t *testing.T) {
	dir, want := spoolWith(t, sampleRecords())
	rows, err := csv.NewReader(bytes.NewReader(runExport(t, "--format", "csv", "--spool", dir))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != strings.Join(acct.CSVColumns, ",") {
		t.Fatalf("header %v", rows[0])
	}
	if len(rows)-1 != len(want) {
		t.Fatalf("%d rows, want %d", len(rows)-1, len(want))
	}
	for i, w := range want {
		row := map[string]string{}
		for j, col := range rows[0] {
			row[col] = rows[i+1][j]
		}
		addr := ""
		if w.Address.IsValid() {
			addr = w.Address.String()
		}
		cause := ""
		if w.Type == acct.Stop {
			cause = w.Cause.String()
		}
		for col, v := range map[string]string{
			"seq": strconv.FormatUint(w.Seq, 10), "type": w.Type.String(), "time": w.Time.UTC().Format(time.RFC3339Nano),
			"session_id": w.SessionID, "multi_session_id": w.MultiSessionID, "leg": w.Leg, "user": w.User,
			"service": w.Service, "line": strconv.Itoa(w.Line), "port_name": w.PortName, "caller_id": w.CallerID,
			"called_id": w.CalledID, "connect_info": w.ConnectInfo, "address": addr,
			"class": "0x" + hex.EncodeToString(w.Class[0]), "start_time": w.StartTime.UTC().Format(time.RFC3339Nano),
			"session_time": strconv.FormatFloat(w.SessionTime.Seconds(), 'f', -1, 64),
			"in_octets":    strconv.FormatUint(w.InOctets, 10), "out_octets": strconv.FormatUint(w.OutOctets, 10),
			"in_packets": strconv.FormatUint(w.InPackets, 10), "out_packets": strconv.FormatUint(w.OutPackets, 10),
			"cause": cause,
		} {
			if row[col] != v {
				t.Errorf("row %d %s = %q, want %q", i+1, col, row[col], v)
			}
		}
	}
}

// detailEntries parses a FreeRADIUS detail file: a date line, tab-indented "Name = value"
// lines, a blank line.
func detailEntries(t *testing.T, b []byte) []map[string][]string {
	t.Helper()
	var out []map[string][]string
	var cur map[string][]string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur != nil {
				out = append(out, cur)
			}
			cur = nil
		case !strings.HasPrefix(line, "\t"):
			if cur != nil {
				t.Fatalf("entry without a blank line before %q", line)
			}
			if _, err := time.Parse(time.ANSIC, line); err != nil {
				t.Fatalf("entry header %q: %v", line, err)
			}
			cur = map[string][]string{}
		default:
			name, value, ok := strings.Cut(strings.TrimPrefix(line, "\t"), " = ")
			if !ok || cur == nil {
				t.Fatalf("bad detail line %q", line)
			}
			cur[name] = append(cur[name], value)
		}
	}
	return out
}

func TestAcctExportDetail(t *testing.T) {
	dir, want := spoolWith(t, sampleRecords())
	entries := detailEntries(t, runExport(t, "--format", "detail", "--spool", dir))
	if len(entries) != len(want) {
		t.Fatalf("%d entries, want %d", len(entries), len(want))
	}
	for i, w := range want {
		e := entries[i]
		one := func(name string) string {
			if len(e[name]) != 1 {
				t.Errorf("entry %d: %s appears %d times", i, name, len(e[name]))
				return ""
			}
			return e[name][0]
		}
		typ := map[acct.Type]string{acct.Start: "Start", acct.Interim: "Interim-Update", acct.Stop: "Stop"}[w.Type]
		if one("Acct-Status-Type") != typ || one("Acct-Session-Id") != acct.DetailQuote(w.SessionID) ||
			one("User-Name") != acct.DetailQuote(w.User) || one("NAS-Port") != strconv.Itoa(w.Line) ||
			one("Timestamp") != strconv.FormatInt(w.Time.Unix(), 10) || one("Class") != "0x"+hex.EncodeToString(w.Class[0]) {
			t.Errorf("entry %d = %v, want record %+v", i, e, w)
		}
		if w.Type == acct.Stop && one("Acct-Terminate-Cause") != w.Cause.String() {
			t.Errorf("entry %d cause %v, want %s", i, e["Acct-Terminate-Cause"], w.Cause)
		}
		if w.Type != acct.Start {
			if one("Acct-Output-Gigawords") != "5" || one("Acct-Output-Octets") != "7" || one("Acct-Session-Time") != strconv.Itoa(int(w.SessionTime/time.Second)) {
				t.Errorf("entry %d counters %v", i, e)
			}
		}
	}
}

func TestAcctExportSinceUntil(t *testing.T) {
	dir, want := spoolWith(t, sampleRecords())
	since, until := want[3].Time, want[9].Time // the second and third calls
	b := runExport(t, "--format", "jsonl", "--spool", dir, "--since", since.Format(time.RFC3339), "--until", until.Format(time.RFC3339))
	var seqs []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r acct.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, strconv.FormatUint(r.Seq, 10))
	}
	if got := strings.Join(seqs, " "); got != "4 5 6 7 8 9" {
		t.Errorf("exported seqs %s, want 4-9", got)
	}
}

func TestAcctExportErrors(t *testing.T) {
	dir, _ := spoolWith(t, sampleRecords()[:3])
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"acct"}, 2, "usage"},
		{[]string{"acct", "export", "--spool", dir}, 2, "--format"},
		{[]string{"acct", "export", "--format", "xml", "--spool", dir}, 2, "want csv, jsonl or detail"},
		{[]string{"acct", "export", "--format", "csv", "--since", "yesterday", "--spool", dir}, 2, "--since"},
		{[]string{"acct", "export", "--format", "csv", "--spool", dir, "--config", "x.yaml"}, 2, "not both"},
		{[]string{"acct", "export", "--format", "csv", "--spool", filepath.Join(dir, "none")}, 1, "no spool directory"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.msg) {
			t.Errorf("%v = %d %q, want %d and %q", tc.args, code, stderr.String(), tc.code, tc.msg)
		}
	}
	// To stdout when no --output is given.
	var stdout, stderr bytes.Buffer
	if code := run([]string{"acct", "export", "--format", "csv", "--spool", dir}, &stdout, &stderr); code != 0 ||
		strings.Count(stdout.String(), "\n") != 4 {
		t.Errorf("export to stdout = %d %q %q", code, stdout.String(), stderr.String())
	}
}

// TestOpenAccounting: `nas serve`'s wiring closes the sessions a crash left open, forgets a
// destination no longer configured, and delivers to the exporters.
func TestOpenAccounting(t *testing.T) {
	spool, out := t.TempDir(), t.TempDir()
	// The previous run had the exporter and a destination since removed from the configuration.
	sp, err := acct.Open(spool, acct.Options{Destinations: []string{"gone", "e"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	start := acct.Record{Type: acct.Start, Time: time.Now(), SessionID: "00000001-00000001", User: "alice", Service: "login", Line: 3, StartTime: time.Now()}
	if _, err := sp.Append(context.Background(), start); err != nil {
		t.Fatal(err)
	}
	if err := sp.Close(); err != nil { // the session is still open: as after a crash
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
lines: [{lines: 1, port: "sim:5551001"}]
accounting:
  spool: %s
  exporters: [{name: e, format: jsonl, dir: %s}]
`, spool, out)))
	if err != nil {
		t.Fatal(err)
	}
	a, err := openAccounting(cfg, &methods.Lists{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if d := a.spool.Destinations(); strings.Join(d, ",") != "e" {
		t.Errorf("destinations %v, want [e]", d)
	}
	a.start()
	var got []acct.Record
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		files, _ := filepath.Glob(filepath.Join(out, "*.jsonl"))
		got = nil
		for _, f := range files {
			b, _ := os.ReadFile(f)
			sc := bufio.NewScanner(bytes.NewReader(b))
			for sc.Scan() {
				var r acct.Record
				if json.Unmarshal(sc.Bytes(), &r) == nil {
					got = append(got, r)
				}
			}
		}
	}
	if err := a.close(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Type != acct.Start || got[1].Type != acct.Stop || got[1].Cause != acct.CauseNASReboot ||
		got[1].SessionID != start.SessionID || got[1].User != "alice" {
		t.Errorf("exported %+v, want the Start and its NAS-Reboot Stop", got)
	}
}
