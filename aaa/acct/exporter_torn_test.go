package acct

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestFileExporterCutsTornTail: a crash in the middle of a write leaves part of a record at
// the end of the file; the exporter of the next run cuts it off before it appends the
// re-sent record, so every record in the file is whole.
func TestFileExporterCutsTornTail(t *testing.T) {
	for _, f := range []Format{FormatCSV, FormatJSONL, FormatDetail} {
		for _, cut := range []int{1, 7, -1} { // bytes of the torn record left: a few, or all but one
			t.Run(fmt.Sprintf("%s/%d", f, cut), func(t *testing.T) {
				dir := t.TempDir()
				opts := FileExporterOptions{Name: "exp", Dir: dir, Format: f}
				e, err := NewFileExporter(opts)
				if err != nil {
					t.Fatal(err)
				}
				var want []Record
				for i := range 3 {
					r := rec(fmt.Sprintf("S%d", i), Stop, i)
					r.Seq, r.Time = uint64(i+1), t0
					want = append(want, r)
					if err := e.Deliver(context.Background(), r); err != nil {
						t.Fatal(err)
					}
				}
				e.Close()
				files, _ := filepath.Glob(filepath.Join(dir, "*"))
				if len(files) != 1 {
					t.Fatalf("files %v", files)
				}
				whole, _ := os.ReadFile(files[0])
				// What the killed run was writing: record 4, torn.
				r4 := rec("S3", Stop, 3)
				r4.Seq, r4.Time = 4, t0
				var b bytes.Buffer
				rw, _ := newRecordWriter(&b, f, false)
				_ = rw.Write(r4)
				_ = rw.Flush()
				n := cut
				if n < 0 {
					n = b.Len() - 1
				}
				if err := os.WriteFile(files[0], append(whole, b.Bytes()[:n]...), 0o600); err != nil {
					t.Fatal(err)
				}
				// The next run sends record 4 again.
				e, err = NewFileExporter(opts)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, r4)
				if err := e.Deliver(context.Background(), r4); err != nil {
					t.Fatal(err)
				}
				e.Close()
				got, err := os.ReadFile(files[0])
				if err != nil {
					t.Fatal(err)
				}
				checkExport(t, f, got, want)
			})
		}
	}
}
