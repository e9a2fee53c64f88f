package acct

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
)

// FuzzDecode feeds arbitrary bytes, as a damaged disk might hold them, to the frame decoder and
// to the segment scanner. Neither may panic or loop; whatever decodes must re-encode to the
// same record; the scanner must make progress and only ever return valid frames.
func FuzzDecode(f *testing.F) {
	r := rec("0000A3F1-00000001", Stop, 7)
	r.Seq = 7
	p, _ := encodeRecord(&r)
	good := appendFrame(nil, kindRecord, p)
	pad := appendFrame(nil, kindPad, nil)
	f.Add(good)
	f.Add(pad)
	f.Add(append(append([]byte{}, good...), good...))
	f.Add(good[:len(good)/2])
	f.Add(append(append(append([]byte{}, good...), 0xFF, 0xAC, 1, 1, 0, 0, 0, 0), good...))
	f.Add([]byte{0xFF, 0xAC, 1, 1, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Add(appendFrame(nil, kindRecord, []byte(`{"seq":1,"type":"Start"}`)))
	f.Add(appendFrame(nil, kindRecord, []byte(`{"seq":0}`)))
	f.Fuzz(func(t *testing.T, b []byte) {
		kind, payload, n, err := decodeFrame(b)
		if err == nil {
			if n < frameHeader || n > len(b) {
				t.Fatalf("frame size %d of %d bytes", n, len(b))
			}
			if rec, err := decodeRecord(payload); err == nil && kind == kindRecord {
				again, err := encodeRecord(&rec)
				if err != nil {
					t.Fatalf("decoded record does not re-encode: %v", err)
				}
				back, err := decodeRecord(again)
				if err != nil {
					t.Fatalf("re-encoded record does not decode: %v", err)
				}
				j1, _ := json.Marshal(rec)
				j2, _ := json.Marshal(back)
				if !bytes.Equal(j1, j2) {
					t.Fatalf("round trip changed the record:\n%s\n%s", j1, j2)
				}
			}
		}
		for _, tail := range []bool{false, true} {
			var regions int64
			sc := newSegScanner(bytes.NewReader(b), 0, int64(len(b)), func(off, n int64, _ bool, _ error) {
				if n < 0 || off+n > int64(len(b)) {
					t.Fatalf("corrupt region %d+%d outside %d bytes", off, n, len(b))
				}
				regions += n
			})
			last := int64(-1)
			var framed int64
			for i := 0; ; i++ {
				if i > len(b)+1 {
					t.Fatal("scanner does not terminate")
				}
				_, payload, off, err := sc.next(tail)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if off <= last {
					t.Fatalf("frame at %d after %d", off, last)
				}
				if _, _, m, err := decodeFrame(b[off:]); err != nil || m != frameHeader+len(payload) {
					t.Fatalf("scanner returned an invalid frame at %d: %v", off, err)
				}
				_, _ = decodeRecord(payload) // must not panic, whatever the payload
				framed += int64(frameHeader + len(payload))
				last = off
			}
			if !tail && framed+regions != int64(len(b)) {
				t.Fatalf("frames (%d bytes) and corrupt regions (%d bytes) do not cover %d bytes", framed, regions, len(b))
			}
		}
	})
}
