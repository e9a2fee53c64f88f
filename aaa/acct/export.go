package acct

import (
	"bufio"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Format is an export format.
type Format string

// Export formats.
const (
	FormatCSV    Format = "csv"    // one header row, then one row per record (CSVColumns)
	FormatJSONL  Format = "jsonl"  // one JSON object per line, the Record's JSON form
	FormatDetail Format = "detail" // the FreeRADIUS detail-file format
)

// ParseFormat reads a format name ("csv", "jsonl", "detail").
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(s)); f {
	case FormatCSV, FormatJSONL, FormatDetail:
		return f, nil
	}
	return "", fmt.Errorf("accounting export format %q: want csv, jsonl or detail", s)
}

// ext is the file name extension of the format's rotated files.
func (f Format) ext() string { return string(f) }

// CSVColumns are the columns of the CSV format, in order. Times are RFC 3339 with nanoseconds
// in UTC; session_time is in seconds (with a fraction when there is one); class is each Class
// as 0x-hex, separated by spaces; type and cause are RFC 2866 names.
var CSVColumns = []string{
	"seq", "type", "time", "session_id", "multi_session_id", "leg", "user", "service", "line",
	"port_name", "caller_id", "called_id", "connect_info", "address", "class", "start_time",
	"session_time", "in_octets", "out_octets", "in_packets", "out_packets", "cause",
}

// RecordWriter renders records in one format.
type RecordWriter interface {
	Write(rec Record) error
	// Flush pushes buffered output to the underlying writer.
	Flush() error
}

// NewRecordWriter renders records to w in format f (a CSV header first).
func NewRecordWriter(w io.Writer, f Format) (RecordWriter, error) {
	return newRecordWriter(w, f, true)
}

func newRecordWriter(w io.Writer, f Format, header bool) (RecordWriter, error) {
	switch f {
	case FormatCSV:
		cw := &csvWriter{w: csv.NewWriter(w)}
		if header {
			if err := cw.w.Write(CSVColumns); err != nil {
				return nil, err
			}
		}
		return cw, nil
	case FormatJSONL:
		bw := bufio.NewWriter(w)
		return &jsonlWriter{bw: bw, enc: json.NewEncoder(bw)}, nil
	case FormatDetail:
		return &detailWriter{bw: bufio.NewWriter(w)}, nil
	}
	return nil, fmt.Errorf("accounting export format %q: unknown", f)
}

type csvWriter struct{ w *csv.Writer }

func (c *csvWriter) Write(r Record) error { return c.w.Write(csvRow(r)) }
func (c *csvWriter) Flush() error         { c.w.Flush(); return c.w.Error() }

func csvRow(r Record) []string {
	classes := make([]string, len(r.Class))
	for i, c := range r.Class {
		classes[i] = "0x" + hex.EncodeToString(c)
	}
	addr := ""
	if r.Address.IsValid() {
		addr = r.Address.String()
	}
	cause := ""
	if r.Cause != 0 {
		b, _ := r.Cause.MarshalText()
		cause = string(b)
	}
	typ, _ := r.Type.MarshalText()
	u := strconv.FormatUint
	return []string{
		u(r.Seq, 10), string(typ), csvTime(r.Time), r.SessionID, r.MultiSessionID, r.Leg, r.User,
		r.Service, strconv.Itoa(r.Line), r.PortName, r.CallerID, r.CalledID, r.ConnectInfo, addr,
		strings.Join(classes, " "), csvTime(r.StartTime), FormatSeconds(r.SessionTime),
		u(r.InOctets, 10), u(r.OutOctets, 10), u(r.InPackets, 10), u(r.OutPackets, 10), cause,
	}
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// FormatSeconds renders d in seconds, exactly: "125", "125.5", "0.000000001".
func FormatSeconds(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	sec, ns := d/time.Second, d%time.Second
	if ns == 0 {
		return sign + strconv.FormatInt(int64(sec), 10)
	}
	frac := strings.TrimRight(fmt.Sprintf("%09d", int64(ns)), "0")
	return sign + strconv.FormatInt(int64(sec), 10) + "." + frac
}

type jsonlWriter struct {
	bw  *bufio.Writer
	enc *json.Encoder
}

func (j *jsonlWriter) Write(r Record) error { return j.enc.Encode(&r) }
func (j *jsonlWriter) Flush() error         { return j.bw.Flush() }

// detailWriter writes the FreeRADIUS detail-file format (as rlm_detail writes it): a header
// line with the date (ctime style, "Thu Nov 26 11:20:00 2026"), then one tab-indented
// "Attribute-Name = value" line per attribute, then a blank line. Strings are double-quoted with
// FreeRADIUS's escapes; octets are 0x-hex; enumerated integers are their dictionary names; dates
// (Event-Timestamp) are quoted as "Nov 26 2026 11:20:00 UTC". Times are rendered in UTC. The
// pseudo-attribute Timestamp (Unix seconds) closes each entry, as rlm_detail adds it to
// accounting entries; here it is the event's time, not a reception time.
type detailWriter struct{ bw *bufio.Writer }

func (d *detailWriter) Flush() error { return d.bw.Flush() }

// RFC 2865 §5.6 Service-Type and §5.7 Framed-Protocol values by the names FreeRADIUS's
// dictionary gives them. An EXEC ("login") is NAS-Prompt-User, a command prompt on the NAS:
// the same value aaa/radius sends in Access-Requests and accounting, so that this export and
// the RADIUS server's own detail file agree.
var (
	detailServiceType = map[string]string{"ppp": "Framed-User", "arap": "Framed-User", "login": "NAS-Prompt-User"}
	detailFramedProto = map[string]string{"ppp": "PPP", "arap": "ARAP"}
)

func (d *detailWriter) Write(r Record) error {
	w := d.bw
	t := r.Time.UTC()
	w.WriteString(t.Format(time.ANSIC))
	w.WriteByte('\n')
	attr := func(name, value string) {
		w.WriteByte('\t')
		w.WriteString(name)
		w.WriteString(" = ")
		w.WriteString(value)
		w.WriteByte('\n')
	}
	str := func(name, value string) {
		if value != "" {
			attr(name, DetailQuote(value))
		}
	}
	typ, _ := r.Type.MarshalText()
	attr("Acct-Status-Type", string(typ)) // RFC 2866 §5.1
	str("Acct-Session-Id", r.SessionID)   // RFC 2866 §5.5
	str("Acct-Multi-Session-Id", r.MultiSessionID)
	str("User-Name", r.User)
	if st, ok := detailServiceType[r.Service]; ok {
		attr("Service-Type", st)
	}
	if fp, ok := detailFramedProto[r.Service]; ok {
		attr("Framed-Protocol", fp)
	}
	attr("NAS-Port", strconv.Itoa(r.Line))
	str("NAS-Port-Id", r.PortName)
	attr("NAS-Port-Type", "Async") // RFC 2865 §5.41 value 0
	str("Calling-Station-Id", r.CallerID)
	str("Called-Station-Id", r.CalledID)
	str("Connect-Info", r.ConnectInfo)
	if r.Address.Is4() {
		attr("Framed-IP-Address", r.Address.String())
	} else if r.Address.Is6() {
		attr("Framed-IPv6-Address", r.Address.String()) // RFC 6911 §3.1
	}
	for _, c := range r.Class {
		attr("Class", "0x"+hex.EncodeToString(c))
	}
	if r.Type != Start {
		u := func(v uint64) string { return strconv.FormatUint(v, 10) }
		attr("Acct-Session-Time", u(uint64(max(r.SessionTime, 0)/time.Second)))
		// 32-bit counters, with the overflow in Gigawords (RFC 2869 §5.1, §5.2).
		attr("Acct-Input-Octets", u(r.InOctets&0xFFFFFFFF))
		attr("Acct-Output-Octets", u(r.OutOctets&0xFFFFFFFF))
		if r.InOctets>>32 != 0 {
			attr("Acct-Input-Gigawords", u(r.InOctets>>32))
		}
		if r.OutOctets>>32 != 0 {
			attr("Acct-Output-Gigawords", u(r.OutOctets>>32))
		}
		attr("Acct-Input-Packets", u(r.InPackets&0xFFFFFFFF))
		attr("Acct-Output-Packets", u(r.OutPackets&0xFFFFFFFF))
	}
	if r.Type == Stop && r.Cause != 0 {
		c, _ := r.Cause.MarshalText()
		attr("Acct-Terminate-Cause", string(c))
	}
	attr("Event-Timestamp", `"`+t.Format(detailDateLayout)+`"`) // RFC 2869 §5.3
	attr("Timestamp", strconv.FormatInt(t.Unix(), 10))
	w.WriteByte('\n')
	return nil
}

// detailDateLayout is strftime "%b %e %Y %H:%M:%S %Z", FreeRADIUS's rendering of a date.
const detailDateLayout = "Jan _2 2006 15:04:05 MST"

// DetailQuote renders s as a double-quoted FreeRADIUS string: \" \\ \n \r \t escaped, valid
// UTF-8 kept, other control bytes and invalid UTF-8 as 3-digit octal escapes (\ooo), which
// FreeRADIUS's parser reads back.
func DetailQuote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		switch c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
			i++
			continue
		case '\n':
			b.WriteString(`\n`)
			i++
			continue
		case '\r':
			b.WriteString(`\r`)
			i++
			continue
		case '\t':
			b.WriteString(`\t`)
			i++
			continue
		}
		if c < 0x20 || c == 0x7F {
			fmt.Fprintf(&b, `\%03o`, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			fmt.Fprintf(&b, `\%03o`, c)
			i++
			continue
		}
		b.WriteString(s[i : i+n])
		i += n
	}
	b.WriteByte('"')
	return b.String()
}

// exportSource is one segment file an export reads.
type exportSource struct {
	name  string
	paths []string // where to look, in order (a live segment may move to the archive meanwhile)
	size  int64    // bytes to read; -1 for the file's size
	live  bool     // may be being written (ExportDir's last live segment)
}

// Export writes every record in the spool and its archive whose Time is in [since, until)
// (a zero bound is open) to w in format, in sequence order.
func (s *Spool) Export(w io.Writer, format Format, since, until time.Time) error {
	s.mu.Lock()
	var srcs []exportSource
	for _, sg := range s.segs {
		srcs = append(srcs, exportSource{name: sg.name, size: sg.size,
			paths: []string{s.path(sg.name), filepath.Join(s.dir, archiveDir, sg.name)}})
	}
	s.mu.Unlock()
	arch, err := listSegments(s.fs, filepath.Join(s.dir, archiveDir))
	if err != nil {
		return err
	}
	return exportSources(s.fs, s.log, mergeSources(arch, srcs), w, format, since, until)
}

// ExportDir is Export for a spool directory this process has not opened (`nas acct export`
// while the server runs, or offline). It changes nothing on disk; a record being written at the
// tail of the live segment at that moment is left out.
func ExportDir(dir string, w io.Writer, format Format, since, until time.Time) error {
	fsys := OSFS{}
	live, err := listSegments(fsys, dir)
	if err != nil {
		return err
	}
	if len(live) > 0 {
		live[len(live)-1].live = true
	}
	arch, err := listSegments(fsys, filepath.Join(dir, archiveDir))
	if err != nil {
		return err
	}
	for i := range live {
		live[i].paths = append(live[i].paths, filepath.Join(dir, archiveDir, live[i].name))
	}
	return exportSources(fsys, slog.Default().With("component", "acct-export", "dir", dir),
		mergeSources(arch, live), w, format, since, until)
}

func listSegments(fsys FS, dir string) ([]exportSource, error) {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		if isNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("acct export: list %s: %w", dir, err)
	}
	var out []exportSource
	for _, e := range entries {
		if _, ok := parseSegName(e.Name()); ok && !e.IsDir() {
			out = append(out, exportSource{name: e.Name(), paths: []string{filepath.Join(dir, e.Name())}, size: -1})
		}
	}
	return out, nil
}

// mergeSources orders archive and live segments by name (thus by first seq); a segment seen in
// both (retired during the listing) is read once, from where it is found.
func mergeSources(arch, live []exportSource) []exportSource {
	byName := map[string]exportSource{}
	for _, a := range arch {
		byName[a.name] = a
	}
	for _, l := range live {
		byName[l.name] = l
	}
	out := make([]exportSource, 0, len(byName))
	for _, v := range byName {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func exportSources(fsys FS, log *slog.Logger, srcs []exportSource, w io.Writer, format Format, since, until time.Time) error {
	rw, err := NewRecordWriter(w, format)
	if err != nil {
		return err
	}
	var last uint64
	for _, src := range srcs {
		var f File
		for _, p := range src.paths {
			if f, err = fsys.OpenFile(p, os.O_RDONLY, 0); err == nil || !isNotExist(err) {
				break
			}
		}
		if err != nil {
			if isNotExist(err) {
				continue // retired and deleted meanwhile: no longer kept
			}
			return fmt.Errorf("acct export: open %s: %w", src.name, err)
		}
		size := src.size
		if size < 0 {
			fi, err := f.Stat()
			if err != nil {
				f.Close()
				return fmt.Errorf("acct export: stat %s: %w", src.name, err)
			}
			size = fi.Size()
		}
		sc := newSegScanner(f, 0, size, func(off, n int64, tail bool, reason error) {
			log.Warn("accounting export: skipping corrupt bytes", "segment", src.name, "offset", off,
				"bytes", n, "torn_tail", tail, "reason", reason)
		})
		for {
			kind, payload, off, err := sc.next(src.live)
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return fmt.Errorf("acct export: read %s: %w", src.name, err)
			}
			if kind != kindRecord {
				continue
			}
			rec, err := decodeRecord(payload)
			if err != nil {
				log.Warn("accounting export: skipping undecodable record", "segment", src.name, "offset", off, "err", err)
				continue
			}
			if rec.Seq <= last {
				continue
			}
			last = rec.Seq
			if (!since.IsZero() && rec.Time.Before(since)) || (!until.IsZero() && !rec.Time.Before(until)) {
				continue
			}
			if err := rw.Write(rec); err != nil {
				f.Close()
				return fmt.Errorf("acct export: write: %w", err)
			}
		}
		f.Close()
	}
	return rw.Flush()
}
