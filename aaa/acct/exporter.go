package acct

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// FileExporterOptions configure a continuous exporter.
type FileExporterOptions struct {
	// Name is the destination's name (its cursor in the spool), e.g. "export-csv".
	Name   string
	Dir    string
	Format Format
	// Prefix starts every file name; default "acct" ("detail" for the detail format, as
	// FreeRADIUS names its files).
	Prefix string
	// MaxBytes starts a new file once the current one reaches this size; 0 means 64 MiB, <0
	// only daily rotation.
	MaxBytes int64
	FS       FS           // default OSFS
	Logger   *slog.Logger // default slog.Default()
}

// FileExporter is a Destination that appends records to rotated files: one file per UTC day of
// the records' event time (<prefix>-YYYYMMDD.<ext>), and within a day a new file
// (<prefix>-YYYYMMDD.N.<ext>) whenever the current one reaches MaxBytes. Each record is written
// and fsynced before Deliver returns, so an acknowledged record is on disk. Like every
// destination it may repeat the last records after a crash (see the package documentation).
type FileExporter struct {
	opts FileExporterOptions
	mu   sync.Mutex
	f    File
	day  string
	idx  int
	size int64
	buf  bytes.Buffer
}

// NewFileExporter creates the directory and returns the exporter.
func NewFileExporter(opts FileExporterOptions) (*FileExporter, error) {
	if _, err := ParseFormat(string(opts.Format)); err != nil {
		return nil, err
	}
	if err := validDestName(opts.Name); err != nil {
		return nil, err
	}
	if opts.FS == nil {
		opts.FS = OSFS{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Prefix == "" {
		opts.Prefix = "acct"
		if opts.Format == FormatDetail {
			opts.Prefix = "detail"
		}
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = 64 << 20
	}
	if err := opts.FS.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("acct exporter %s: create %s: %w", opts.Name, opts.Dir, err)
	}
	return &FileExporter{opts: opts}, nil
}

// Name is the destination name.
func (e *FileExporter) Name() string { return e.opts.Name }

func (e *FileExporter) fileName(day string, idx int) string {
	n := e.opts.Prefix + "-" + day
	if idx > 0 {
		n += "." + strconv.Itoa(idx)
	}
	return filepath.Join(e.opts.Dir, n+"."+e.opts.Format.ext())
}

// Deliver appends rec to the file of its day and fsyncs it. A failed write is cut back off the
// file, so a retry never follows half a record.
func (e *FileExporter) Deliver(ctx context.Context, rec Record) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	day := rec.Time.UTC().Format("20060102")
	if e.f == nil || day != e.day || (e.opts.MaxBytes > 0 && e.size >= e.opts.MaxBytes) {
		if err := e.open(day); err != nil {
			return err
		}
	}
	e.buf.Reset()
	rw, err := newRecordWriter(&e.buf, e.opts.Format, e.size == 0)
	if err != nil {
		return err
	}
	if err := rw.Write(rec); err != nil {
		return fmt.Errorf("acct exporter %s: render seq %d: %w", e.opts.Name, rec.Seq, err)
	}
	if err := rw.Flush(); err != nil {
		return fmt.Errorf("acct exporter %s: render seq %d: %w", e.opts.Name, rec.Seq, err)
	}
	_, err = e.f.Write(e.buf.Bytes())
	if err == nil {
		err = e.f.Sync()
	}
	if err != nil {
		if terr := e.f.Truncate(e.size); terr != nil {
			// The file's end is unknown: start a fresh file for the retry.
			e.f.Close()
			e.f = nil
		}
		return fmt.Errorf("acct exporter %s: write %s: %w", e.opts.Name, e.fileName(e.day, e.idx), err)
	}
	e.size += int64(e.buf.Len())
	return nil
}

// open selects the file to append to for day: the last one of that day, or the next when it
// is full (or when the current one could not be trusted).
func (e *FileExporter) open(day string) error {
	idx := 0
	if day == e.day && e.f != nil {
		idx = e.idx + 1 // size rotation
	} else if day == e.day {
		idx = e.idx + 1 // the previous file failed
	} else {
		idx = e.lastIndex(day)
	}
	if e.f != nil {
		e.f.Close()
		e.f = nil
	}
	for {
		name := e.fileName(day, idx)
		// Read-write: a torn tail left by a crash is looked for and cut off.
		f, err := e.opts.FS.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("acct exporter %s: open %s: %w", e.opts.Name, name, err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return fmt.Errorf("acct exporter %s: stat %s: %w", e.opts.Name, name, err)
		}
		size, err := e.cutTornTail(f, name, fi.Size())
		if err != nil {
			f.Close()
			return err
		}
		if e.opts.MaxBytes > 0 && size >= e.opts.MaxBytes {
			f.Close()
			idx++
			continue
		}
		if size == 0 {
			if err := e.opts.FS.SyncDir(e.opts.Dir); err != nil {
				f.Close()
				return fmt.Errorf("acct exporter %s: sync %s: %w", e.opts.Name, e.opts.Dir, err)
			}
		}
		e.f, e.day, e.idx, e.size = f, day, idx, size
		return nil
	}
}

// cutTornTail makes the file end with a whole record: a process killed in the middle of a
// write (a record straddling a page boundary can be cut there) leaves part of a record at the
// end, and the re-sent record must not be glued to it. Every format ends a record with a line
// break (detail: with an empty line); JSON and detail strings escape line breaks, so for them
// that is exact. A CSV field may hold a line break, so a CSV tail cut right after one is not
// seen. It returns the size of the file after the cut.
func (e *FileExporter) cutTornTail(f File, name string, size int64) (int64, error) {
	term := []byte("\n")
	if e.opts.Format == FormatDetail {
		term = []byte("\n\n")
	}
	if size == 0 {
		return 0, nil
	}
	end := make([]byte, min(size, int64(len(term))))
	if _, err := f.ReadAt(end, size-int64(len(end))); err != nil {
		return 0, fmt.Errorf("acct exporter %s: read the end of %s: %w", e.opts.Name, name, err)
	}
	if bytes.Equal(end, term) {
		return size, nil
	}
	// Look back for the end of the last whole record.
	keep := int64(0)
	const chunk = 64 << 10
	buf := make([]byte, chunk+len(term))
	for hi := size; hi > 0 && keep == 0; {
		lo := max(hi-chunk, 0)
		n := int(min(hi+int64(len(term))-1, size) - lo)
		if _, err := f.ReadAt(buf[:n], lo); err != nil {
			return 0, fmt.Errorf("acct exporter %s: read %s: %w", e.opts.Name, name, err)
		}
		if i := bytes.LastIndex(buf[:n], term); i >= 0 {
			keep = lo + int64(i) + int64(len(term))
		}
		hi = lo
	}
	err := f.Truncate(keep)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		return 0, fmt.Errorf("acct exporter %s: cut the torn end of %s: %w", e.opts.Name, name, err)
	}
	e.opts.Logger.Warn("accounting exporter: cut a torn record off the end of its file (a crash interrupted its write; the spool sends it again)",
		"dest", e.opts.Name, "file", name, "bytes", size-keep)
	return keep, nil
}

// lastIndex is the highest file index that exists for day (0 if none).
func (e *FileExporter) lastIndex(day string) int {
	entries, err := e.opts.FS.ReadDir(e.opts.Dir)
	if err != nil {
		return 0
	}
	prefix := e.opts.Prefix + "-" + day
	suffix := "." + e.opts.Format.ext()
	best := 0
	for _, ent := range entries {
		n, ok := strings.CutPrefix(ent.Name(), prefix)
		if !ok {
			continue
		}
		n, ok = strings.CutSuffix(n, suffix)
		if !ok || n == "" {
			continue
		}
		if i, err := strconv.Atoi(strings.TrimPrefix(n, ".")); err == nil && strings.HasPrefix(n, ".") && i > best {
			best = i
		}
	}
	return best
}

// Close closes the current file.
func (e *FileExporter) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.f == nil {
		return nil
	}
	err := e.f.Close()
	e.f = nil
	return err
}
