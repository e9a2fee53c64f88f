package acct

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

func parseJSONL(b []byte) ([]Record, error) {
	var out []Record
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("line %d: %w", len(out)+1, err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

func parseSeconds(s string) (time.Duration, error) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, err
	}
	var ns int64
	if frac != "" {
		ns, err = strconv.ParseInt((frac + "000000000")[:9], 10, 64)
		if err != nil {
			return 0, err
		}
	}
	d := time.Duration(sec)*time.Second + time.Duration(ns)
	if neg {
		d = -d
	}
	return d, nil
}

func parseCSV(b []byte) ([]Record, error) {
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 || strings.Join(rows[0], ",") != strings.Join(CSVColumns, ",") {
		return nil, errors.New("missing or wrong header")
	}
	var out []Record
	for _, row := range rows[1:] {
		col := map[string]string{}
		for i, c := range CSVColumns {
			col[c] = row[i]
		}
		var r Record
		var errs []error
		u := func(name string) uint64 {
			v, err := strconv.ParseUint(col[name], 10, 64)
			errs = append(errs, err)
			return v
		}
		tm := func(name string) time.Time {
			if col[name] == "" {
				return time.Time{}
			}
			v, err := time.Parse(time.RFC3339Nano, col[name])
			errs = append(errs, err)
			return v
		}
		r.Seq = u("seq")
		errs = append(errs, r.Type.UnmarshalText([]byte(col["type"])))
		r.Time = tm("time")
		r.SessionID, r.MultiSessionID, r.Leg, r.User, r.Service = col["session_id"], col["multi_session_id"], col["leg"], col["user"], col["service"]
		r.Line, err = strconv.Atoi(col["line"])
		errs = append(errs, err)
		r.PortName, r.CallerID, r.CalledID, r.ConnectInfo = col["port_name"], col["caller_id"], col["called_id"], col["connect_info"]
		if col["address"] != "" {
			r.Address, err = netip.ParseAddr(col["address"])
			errs = append(errs, err)
		}
		if col["class"] != "" {
			for _, c := range strings.Split(col["class"], " ") {
				v, err := hex.DecodeString(strings.TrimPrefix(c, "0x"))
				errs = append(errs, err)
				r.Class = append(r.Class, v)
			}
		}
		r.StartTime = tm("start_time")
		r.SessionTime, err = parseSeconds(col["session_time"])
		errs = append(errs, err)
		r.InOctets, r.OutOctets, r.InPackets, r.OutPackets = u("in_octets"), u("out_octets"), u("in_packets"), u("out_packets")
		if col["cause"] != "" {
			errs = append(errs, r.Cause.UnmarshalText([]byte(col["cause"])))
		}
		if err := errors.Join(errs...); err != nil {
			return nil, fmt.Errorf("row %d: %w", len(out)+1, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// detailEntry is one entry of a detail file as parsed back: its date line and attributes in
// order (repeated attributes keep every value).
type detailEntry struct {
	date  string
	attrs [][2]string
}

func (e detailEntry) get(name string) []string {
	var out []string
	for _, a := range e.attrs {
		if a[0] == name {
			out = append(out, a[1])
		}
	}
	return out
}

// parseDetail is a small reader of the detail format: an unindented date line opens an entry,
// tab-indented "Name = value" lines follow, a blank line closes it. Quoted values are unescaped.
func parseDetail(b []byte) ([]detailEntry, error) {
	var out []detailEntry
	var cur *detailEntry
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case line == "":
			if cur != nil {
				out = append(out, *cur)
				cur = nil
			}
		case !strings.HasPrefix(line, "\t"):
			if cur != nil {
				return nil, fmt.Errorf("line %d: date line inside an entry", i+1)
			}
			cur = &detailEntry{date: line}
		default:
			if cur == nil {
				return nil, fmt.Errorf("line %d: attribute outside an entry", i+1)
			}
			name, value, ok := strings.Cut(line[1:], " = ")
			if !ok {
				return nil, fmt.Errorf("line %d: no ' = '", i+1)
			}
			if strings.HasPrefix(value, `"`) {
				v, err := detailUnquote(value)
				if err != nil {
					return nil, fmt.Errorf("line %d: %w", i+1, err)
				}
				value = v
			}
			cur.attrs = append(cur.attrs, [2]string{name, value})
		}
	}
	if cur != nil {
		return nil, errors.New("last entry not closed by a blank line")
	}
	return out, nil
}

func detailUnquote(q string) (string, error) {
	if len(q) < 2 || q[len(q)-1] != '"' {
		return "", fmt.Errorf("unterminated string %s", q)
	}
	s := q[1 : len(q)-1]
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' {
			return "", fmt.Errorf("bare quote in %s", q)
		}
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i == len(s) {
			return "", fmt.Errorf("dangling backslash in %s", q)
		}
		switch s[i] {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case '"', '\\':
			b.WriteByte(s[i])
		default:
			if i+3 > len(s) {
				return "", fmt.Errorf("short octal escape in %s", q)
			}
			v, err := strconv.ParseUint(s[i:i+3], 8, 8)
			if err != nil {
				return "", fmt.Errorf("bad escape in %s", q)
			}
			b.WriteByte(byte(v))
			i += 2
		}
	}
	return b.String(), nil
}

// detailView is what a detail entry says about a record, at the format's precision.
type detailView struct {
	Date, Status, SessionID, MultiID, User, ServiceType, FramedProto, Port, PortID, PortType string
	Calling, Called, Connect, Address                                                        string
	Class                                                                                    []string
	SessionTime, InOctets, OutOctets, InGiga, OutGiga, InPackets, OutPackets, Cause          string
	EventTimestamp, Timestamp                                                                string
}

func viewOfEntry(e detailEntry) detailView {
	one := func(n string) string {
		v := e.get(n)
		if len(v) == 0 {
			return ""
		}
		return strings.Join(v, "|")
	}
	addr := one("Framed-IP-Address") + one("Framed-IPv6-Address")
	return detailView{
		Date: e.date, Status: one("Acct-Status-Type"), SessionID: one("Acct-Session-Id"), MultiID: one("Acct-Multi-Session-Id"),
		User: one("User-Name"), ServiceType: one("Service-Type"), FramedProto: one("Framed-Protocol"),
		Port: one("NAS-Port"), PortID: one("NAS-Port-Id"), PortType: one("NAS-Port-Type"),
		Calling: one("Calling-Station-Id"), Called: one("Called-Station-Id"), Connect: one("Connect-Info"), Address: addr,
		Class: e.get("Class"), SessionTime: one("Acct-Session-Time"), InOctets: one("Acct-Input-Octets"),
		OutOctets: one("Acct-Output-Octets"), InGiga: one("Acct-Input-Gigawords"), OutGiga: one("Acct-Output-Gigawords"),
		InPackets: one("Acct-Input-Packets"), OutPackets: one("Acct-Output-Packets"), Cause: one("Acct-Terminate-Cause"),
		EventTimestamp: one("Event-Timestamp"), Timestamp: one("Timestamp"),
	}
}

// viewOfRecord is what the detail entry of r must say, derived independently of the writer.
func viewOfRecord(r Record) detailView {
	v := detailView{
		Date: r.Time.UTC().Format("Mon Jan _2 15:04:05 2006"), Status: r.Type.String(), SessionID: r.SessionID,
		MultiID: r.MultiSessionID, User: r.User, Port: strconv.Itoa(r.Line), PortID: r.PortName, PortType: "Async",
		Calling: r.CallerID, Called: r.CalledID, Connect: r.ConnectInfo,
		EventTimestamp: r.Time.UTC().Format("Jan _2 2006 15:04:05") + " UTC", Timestamp: strconv.FormatInt(r.Time.Unix(), 10),
	}
	switch r.Service {
	case "ppp":
		v.ServiceType, v.FramedProto = "Framed-User", "PPP"
	case "arap":
		v.ServiceType, v.FramedProto = "Framed-User", "ARAP"
	case "login":
		v.ServiceType = "NAS-Prompt-User"
	}
	if r.Address.IsValid() {
		v.Address = r.Address.String()
	}
	for _, c := range r.Class {
		v.Class = append(v.Class, fmt.Sprintf("0x%x", c))
	}
	if r.Type != Start {
		v.SessionTime = strconv.Itoa(int(r.SessionTime.Seconds()))
		v.InOctets, v.OutOctets = strconv.FormatUint(r.InOctets%(1<<32), 10), strconv.FormatUint(r.OutOctets%(1<<32), 10)
		if r.InOctets >= 1<<32 {
			v.InGiga = strconv.FormatUint(r.InOctets/(1<<32), 10)
		}
		if r.OutOctets >= 1<<32 {
			v.OutGiga = strconv.FormatUint(r.OutOctets/(1<<32), 10)
		}
		v.InPackets, v.OutPackets = strconv.FormatUint(r.InPackets, 10), strconv.FormatUint(r.OutPackets, 10)
	}
	if r.Type == Stop && r.Cause != 0 {
		v.Cause = r.Cause.String()
		if v.Cause == "Unknown" { // a value without a dictionary name is printed as a number
			v.Cause = strconv.Itoa(int(r.Cause))
		}
	}
	return v
}

// richRecords covers every field and the awkward values: quotes, backslashes, control bytes,
// invalid UTF-8, non-ASCII, IPv6, no address, several Class values, counters over 2^32.
func richRecords() []Record {
	var out []Record
	names := []string{`plain`, `quo"te`, `back\slash`, "new\nline\r\ttab", "bell\x07del\x7f", "bad\xffutf8", "Zoë 東京", ""}
	for i, n := range names {
		id := fmt.Sprintf("0000000%d-0000000%d", i, i)
		start := rec(id, Start, i*100)
		start.User = n
		start.CallerID = n
		start.Service = []string{"ppp", "login", "arap"}[i%3]
		start.Class = [][]byte{{0x01, 0xff, 0x00}, []byte("class-" + n)}
		start.Time = start.Time.Add(time.Duration(i) * 123456789) // sub-second times
		if i%3 == 1 {
			start.Address = netip.Addr{}
		}
		if i%3 == 2 {
			start.Address = netip.MustParseAddr("2001:db8::1")
		}
		if i == 5 {
			start.MultiSessionID, start.Leg = "00000004-00000004", "callback"
		}
		interim := start
		interim.Type = Interim
		interim.Time = start.Time.Add(time.Minute)
		interim.SessionTime = time.Minute + 500*time.Millisecond
		interim.InOctets, interim.OutOctets = 5<<32+7, 1234
		interim.InPackets, interim.OutPackets = 10, 20
		stop := interim
		stop.Type = Stop
		stop.Time = start.Time.Add(2 * time.Hour)
		stop.SessionTime = 2 * time.Hour
		stop.OutOctets = 3<<32 + 1
		stop.Cause = []Cause{CauseUserRequest, CauseLostCarrier, CauseCallback, CauseNASReboot, Cause(99)}[i%5]
		out = append(out, start, interim, stop)
	}
	return out
}

func TestExportFormatsMatchSpool(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(newLogCapture())
	opts.Destinations = []string{"check"}
	s := mustOpen(t, dir, opts)
	defer s.Close()
	in := richRecords()
	for _, r := range in {
		mustAppend(t, s, r)
	}
	// The spool's own view of its records is the reference.
	want := readN(t, s, "check", len(in))
	for _, f := range []Format{FormatCSV, FormatJSONL, FormatDetail} {
		t.Run(string(f), func(t *testing.T) {
			var live, offline bytes.Buffer
			if err := s.Export(&live, f, time.Time{}, time.Time{}); err != nil {
				t.Fatal(err)
			}
			if err := ExportDir(dir, &offline, f, time.Time{}, time.Time{}); err != nil {
				t.Fatal(err)
			}
			if live.String() != offline.String() {
				t.Error("ExportDir differs from Export")
			}
			checkExport(t, f, live.Bytes(), want)
		})
	}
}

// checkExport parses an export back and compares it with want, record for record.
func checkExport(t *testing.T, f Format, b []byte, want []Record) {
	t.Helper()
	switch f {
	case FormatCSV, FormatJSONL:
		var got []Record
		var err error
		if f == FormatCSV {
			got, err = parseCSV(b)
		} else {
			got, err = parseJSONL(b)
		}
		if err != nil {
			t.Fatalf("parse %s back: %v", f, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%d records exported, want %d", len(got), len(want))
		}
		for i := range want {
			if !sameRecord(got[i], want[i]) {
				t.Errorf("record %d:\n got %+v\nwant %+v", i, got[i], want[i])
			}
		}
	case FormatDetail:
		entries, err := parseDetail(b)
		if err != nil {
			t.Fatalf("parse detail back: %v", err)
		}
		if len(entries) != len(want) {
			t.Fatalf("%d entries exported, want %d", len(entries), len(want))
		}
		for i := range want {
			g, w := viewOfEntry(entries[i]), viewOfRecord(want[i])
			gj, _ := json.Marshal(g)
			wj, _ := json.Marshal(w)
			if string(gj) != string(wj) {
				t.Errorf("entry %d:\n got %s\nwant %s", i, gj, wj)
			}
		}
	}
}

func TestDetailFormatExample(t *testing.T) {
	r := Record{
		Seq: 7, Type: Stop, Time: time.Date(2026, 11, 26, 11, 20, 0, 0, time.UTC), SessionID: "0000A3F1-00000001",
		User: `bob "the" builder`, Service: "ppp", Line: 3, PortName: "tty3", CallerID: "5551234",
		Address: netip.MustParseAddr("192.0.2.7"), Class: [][]byte{{0xde, 0xad}}, SessionTime: 125 * time.Second,
		InOctets: 1000, OutOctets: 2000, InPackets: 10, OutPackets: 20, Cause: CauseLostCarrier,
	}
	var b bytes.Buffer
	w, _ := NewRecordWriter(&b, FormatDetail)
	w.Write(r)
	w.Flush()
	want := "Thu Nov 26 11:20:00 2026\n" +
		"\tAcct-Status-Type = Stop\n" +
		"\tAcct-Session-Id = \"0000A3F1-00000001\"\n" +
		"\tUser-Name = \"bob \\\"the\\\" builder\"\n" +
		"\tService-Type = Framed-User\n" +
		"\tFramed-Protocol = PPP\n" +
		"\tNAS-Port = 3\n" +
		"\tNAS-Port-Id = \"tty3\"\n" +
		"\tNAS-Port-Type = Async\n" +
		"\tCalling-Station-Id = \"5551234\"\n" +
		"\tFramed-IP-Address = 192.0.2.7\n" +
		"\tClass = 0xdead\n" +
		"\tAcct-Session-Time = 125\n" +
		"\tAcct-Input-Octets = 1000\n" +
		"\tAcct-Output-Octets = 2000\n" +
		"\tAcct-Input-Packets = 10\n" +
		"\tAcct-Output-Packets = 20\n" +
		"\tAcct-Terminate-Cause = Lost-Carrier\n" +
		"\tEvent-Timestamp = \"Nov 26 2026 11:20:00 UTC\"\n" +
		"\tTimestamp = 1795692000\n\n"
	if b.String() != want {
		t.Errorf("detail entry:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestDetailQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", `"plain"`},
		{`a"b`, `"a\"b"`},
		{`a\b`, `"a\\b"`},
		{"a\nb\rc\td", `"a\nb\rc\td"`},
		{"bel\x07", `"bel\007"`},
		{"\xff", `"\377"`},
		{"Zoë", `"Zoë"`},
	} {
		if got := DetailQuote(tc.in); got != tc.want {
			t.Errorf("DetailQuote(%q) = %s, want %s", tc.in, got, tc.want)
		}
		if back, err := detailUnquote(DetailQuote(tc.in)); err != nil || back != tc.in {
			t.Errorf("unquote(DetailQuote(%q)) = %q, %v", tc.in, back, err)
		}
	}
}

func TestExportTimeWindow(t *testing.T) {
	s := mustOpen(t, t.TempDir(), testOptions(newLogCapture()))
	defer s.Close()
	for i := range 10 {
		mustAppend(t, s, rec(fmt.Sprintf("S%d", i), Start, i*60))
	}
	got := exportJSONL(t, s, t0.Add(2*time.Minute), t0.Add(5*time.Minute))
	var ids []string
	for _, r := range got {
		ids = append(ids, r.SessionID)
	}
	if strings.Join(ids, ",") != "S2,S3,S4" {
		t.Errorf("window [2m, 5m) exported %v, want S2,S3,S4", ids)
	}
}

func TestFormatSeconds(t *testing.T) {
	for _, d := range []time.Duration{0, time.Second, 1500 * time.Millisecond, time.Nanosecond, -2500 * time.Millisecond, 100*time.Hour + 7} {
		s := FormatSeconds(d)
		back, err := parseSeconds(s)
		if err != nil || back != d {
			t.Errorf("FormatSeconds(%v) = %q, parsed back %v, %v", d, s, back, err)
		}
	}
}

// TestFileExporter writes records spanning three days through rotation by day and size, then
// reads every file back: the records come back complete, in order, each in its day's files.
func TestFileExporter(t *testing.T) {
	for _, f := range []Format{FormatCSV, FormatJSONL, FormatDetail} {
		t.Run(string(f), func(t *testing.T) {
			dir := t.TempDir()
			opts := FileExporterOptions{Name: "exp", Dir: dir, Format: f, MaxBytes: 2000}
			e, err := NewFileExporter(opts)
			if err != nil {
				t.Fatal(err)
			}
			var want []Record
			for i := range 60 {
				r := rec(fmt.Sprintf("S%d", i), Stop, i)
				r.Seq = uint64(i + 1)
				r.Time = t0.Add(time.Duration(i) * 2 * time.Hour) // 60 records over 6 days
				want = append(want, r)
				if i == 30 { // a restart in the middle of a day continues its last file
					e.Close()
					if e, err = NewFileExporter(opts); err != nil {
						t.Fatal(err)
					}
				}
				if err := e.Deliver(context.Background(), r); err != nil {
					t.Fatal(err)
				}
			}
			e.Close()
			files, _ := filepath.Glob(filepath.Join(dir, "*"))
			type fileKey struct {
				day string
				idx int
			}
			keyOf := func(p string) fileKey {
				base := strings.TrimSuffix(filepath.Base(p), "."+string(f))
				parts := strings.Split(base, ".")
				k := fileKey{day: strings.TrimPrefix(parts[0], opts.Prefix+"-")}
				k.day = parts[0][strings.LastIndex(parts[0], "-")+1:]
				if len(parts) > 1 {
					k.idx, _ = strconv.Atoi(parts[1])
				}
				return k
			}
			sort.Slice(files, func(i, j int) bool {
				a, b := keyOf(files[i]), keyOf(files[j])
				if a.day != b.day {
					return a.day < b.day
				}
				return a.idx < b.idx
			})
			days := map[string]int{}
			var all []byte
			var got []Record
			for _, p := range files {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				k := keyOf(p)
				days[k.day]++
				// Size rotation: a file may pass MaxBytes only by its last record.
				if int64(len(b)) > opts.MaxBytes+600 {
					t.Errorf("%s is %d bytes, MaxBytes %d", p, len(b), opts.MaxBytes)
				}
				var recs []Record
				switch f {
				case FormatCSV:
					recs, err = parseCSV(b)
				case FormatJSONL:
					recs, err = parseJSONL(b)
				case FormatDetail:
					all = append(all, b...)
					entries, perr := parseDetail(b)
					err = perr
					for _, en := range entries {
						ts, _ := strconv.ParseInt(en.get("Timestamp")[0], 10, 64)
						recs = append(recs, Record{Time: time.Unix(ts, 0).UTC()})
					}
				}
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				for _, r := range recs {
					if d := r.Time.UTC().Format("20060102"); d != k.day {
						t.Errorf("%s holds a record of %s", p, d)
					}
				}
				got = append(got, recs...)
			}
			wantDays := map[string]bool{}
			for _, r := range want {
				wantDays[r.Time.Format("20060102")] = true
			}
			if len(days) != len(wantDays) {
				t.Errorf("files for %d days, want %d: %v", len(days), len(wantDays), files)
			}
			rotated := false
			for _, n := range days {
				rotated = rotated || n > 1
			}
			if !rotated {
				t.Error("no day was rotated by size")
			}
			if f == FormatDetail {
				checkExport(t, f, all, want)
				return
			}
			if len(got) != len(want) {
				t.Fatalf("%d records in files, want %d", len(got), len(want))
			}
			for i := range want {
				if !sameRecord(got[i], want[i]) {
					t.Fatalf("record %d: got %+v want %+v", i, got[i], want[i])
				}
			}
		})
	}
}

func TestFileExporterFailedWriteLeavesNoFragment(t *testing.T) {
	dir := t.TempDir()
	fs := &faultFS{}
	e, err := NewFileExporter(FileExporterOptions{Name: "exp", Dir: dir, Format: FormatJSONL, FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	r := rec("A", Start, 1)
	r.Seq = 1
	if err := e.Deliver(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	fs.budget.Store(10)
	fs.full.Store(true)
	r.Seq = 2
	if err := e.Deliver(context.Background(), r); err == nil {
		t.Fatal("Deliver on a full disk succeeded")
	}
	fs.full.Store(false)
	if err := e.Deliver(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	var got []Record
	for _, p := range files {
		b, _ := os.ReadFile(p)
		recs, err := parseJSONL(b)
		if err != nil {
			t.Fatalf("%s after a failed write: %v", p, err)
		}
		got = append(got, recs...)
	}
	if len(got) != 2 || got[0].Seq != 1 || got[1].Seq != 2 {
		t.Fatalf("files hold %+v", got)
	}
}

// TestExportDirLiveSegment: an export of a spool another process is writing leaves out a frame
// still being written at the tail, but does not mistake damage in the middle for that tail.
func TestExportDirLiveSegment(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, testOptions(newLogCapture()))
	for i := range 5 {
		mustAppend(t, s, rec(fmt.Sprintf("S%d", i), Start, i))
	}
	s.crash()
	seg := onlySegment(t, dir)
	full, _ := os.ReadFile(seg)
	offs := frameOffsets(t, full)
	ids := func() string {
		var b bytes.Buffer
		if err := ExportDir(dir, &b, FormatJSONL, time.Time{}, time.Time{}); err != nil {
			t.Fatal(err)
		}
		recs, err := parseJSONL(b.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range recs {
			out = append(out, r.SessionID)
		}
		return strings.Join(out, ",")
	}
	// Half of the last frame is on disk: the writer is mid-write.
	os.WriteFile(seg, full[:offs[4]+20], 0o600)
	if got := ids(); got != "S0,S1,S2,S3" {
		t.Errorf("with a frame being written: %s", got)
	}
	// A length field damaged in the middle, so that the frame seems to run past the end as a
	// frame being written would: the frames after it are still found.
	b := append([]byte{}, full...)
	b[offs[1]+6] = 0x0f
	os.WriteFile(seg, b, 0o600)
	if got := ids(); got != "S0,S2,S3,S4" {
		t.Errorf("with a damaged length in the middle: %s", got)
	}
}
