package acct

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// On-disk frame (all integers little-endian):
//
//	0  magic  0xFF 0xAC       0xFF never occurs in UTF-8, so never inside a JSON payload:
//	                          a resynchronising scan cannot be fooled by a user name.
//	2  version 1
//	3  kind    1 record | 2 pad (a probe written to test a sick disk; readers skip it)
//	4  length  uint32, payload bytes (at most maxPayload)
//	8  crc     CRC-32C (Castagnoli) of bytes 0..7 and the payload
//	12 payload
//
// The CRC covers the header too, so a flipped length or kind is caught as surely as a flipped
// payload byte.
const (
	frameMagic0   = 0xFF
	frameMagic1   = 0xAC
	frameVersion  = 1
	kindRecord    = 1
	kindPad       = 2
	frameHeader   = 12
	maxPayload    = 1 << 20
	scanChunkSize = 64 << 10
)

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	frameMagic = []byte{frameMagic0, frameMagic1, frameVersion}

	// errShort: the bytes end inside the frame (a torn write, or more to read).
	errShort = errors.New("frame truncated")
	// errCorrupt: the bytes at this offset are not a valid frame.
	errCorrupt = errors.New("frame corrupt")
)

// appendFrame appends one frame holding payload to dst.
func appendFrame(dst []byte, kind byte, payload []byte) []byte {
	var h [frameHeader]byte
	h[0], h[1], h[2], h[3] = frameMagic0, frameMagic1, frameVersion, kind
	binary.LittleEndian.PutUint32(h[4:8], uint32(len(payload)))
	c := crc32.Update(0, castagnoli, h[:8])
	c = crc32.Update(c, castagnoli, payload)
	binary.LittleEndian.PutUint32(h[8:12], c)
	dst = append(dst, h[:]...)
	return append(dst, payload...)
}

// decodeFrame parses the frame at the start of b. It returns errShort when b ends before the
// frame does (and the header is plausible), errCorrupt when the bytes cannot be a frame.
func decodeFrame(b []byte) (kind byte, payload []byte, n int, err error) {
	if len(b) < frameHeader {
		if !bytes.HasPrefix(frameMagic, b[:min(len(b), len(frameMagic))]) {
			return 0, nil, 0, fmt.Errorf("%w: bad magic", errCorrupt)
		}
		return 0, nil, 0, errShort
	}
	if !bytes.Equal(b[:3], frameMagic) {
		return 0, nil, 0, fmt.Errorf("%w: bad magic or version", errCorrupt)
	}
	kind = b[3]
	if kind != kindRecord && kind != kindPad {
		return 0, nil, 0, fmt.Errorf("%w: unknown kind %d", errCorrupt, kind)
	}
	l := binary.LittleEndian.Uint32(b[4:8])
	if l > maxPayload {
		return 0, nil, 0, fmt.Errorf("%w: length %d over limit", errCorrupt, l)
	}
	n = frameHeader + int(l)
	if len(b) < n {
		return 0, nil, 0, errShort
	}
	c := crc32.Update(0, castagnoli, b[:8])
	c = crc32.Update(c, castagnoli, b[frameHeader:n])
	if c != binary.LittleEndian.Uint32(b[8:12]) {
		return 0, nil, 0, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	return kind, b[frameHeader:n], n, nil
}

// encodeRecord renders rec as a record frame's payload: JSON (the package documentation says
// why).
func encodeRecord(rec *Record) ([]byte, error) {
	return json.Marshal(rec)
}

// decodeRecord parses a record frame's payload.
func decodeRecord(payload []byte) (Record, error) {
	var rec Record
	if err := json.Unmarshal(payload, &rec); err != nil {
		return Record{}, fmt.Errorf("record payload: %w", err)
	}
	if rec.Seq == 0 {
		return Record{}, errors.New("record payload: no sequence number")
	}
	return rec, nil
}

// corruptFunc is told about a region [off, off+n) of a segment that holds no valid frame. tail
// says nothing valid follows it (a torn write at the end of the file).
type corruptFunc func(off, n int64, tail bool, reason error)

// segScanner walks the frames of one segment file from an offset up to a limit the caller may
// raise as the writer makes more bytes durable.
type segScanner struct {
	r         io.ReaderAt
	off       int64 // offset of the next frame
	end       int64 // bytes [0, end) may be read
	buf       []byte
	bufOff    int64 // file offset of buf[0]
	onCorrupt corruptFunc
}

func newSegScanner(r io.ReaderAt, off, end int64, onCorrupt corruptFunc) *segScanner {
	return &segScanner{r: r, off: off, end: end, bufOff: off, onCorrupt: onCorrupt}
}

// fill makes buf hold at least need bytes from sc.off (or everything up to end).
func (sc *segScanner) fill(need int) error {
	start := sc.off - sc.bufOff
	if start < 0 || start > int64(len(sc.buf)) {
		sc.buf, sc.bufOff, start = sc.buf[:0], sc.off, 0
	}
	have := int64(len(sc.buf)) - start
	if have >= int64(need) {
		return nil
	}
	// Drop what was consumed, then read more.
	sc.buf = append(sc.buf[:0], sc.buf[start:]...)
	sc.bufOff = sc.off
	want := max(int64(need), scanChunkSize)
	if avail := sc.end - sc.off; want > avail {
		want = avail
	}
	if int64(len(sc.buf)) >= want {
		return nil
	}
	old := len(sc.buf)
	if int64(cap(sc.buf)) < want {
		nb := make([]byte, old, want)
		copy(nb, sc.buf)
		sc.buf = nb
	}
	sc.buf = sc.buf[:want]
	n, err := sc.r.ReadAt(sc.buf[old:], sc.off+int64(old))
	sc.buf = sc.buf[:old+n]
	if err == io.EOF {
		err = nil
	}
	return err
}

// next returns the next frame: its kind, payload (valid until the next call) and offset. It
// returns io.EOF when no complete frame remains before end; corrupt regions are reported to
// onCorrupt and skipped. A frame cut short by end is left for a later call with a larger end
// only when tailPending is true (the live tail of the active segment); otherwise it is corrupt.
func (sc *segScanner) next(tailPending bool) (kind byte, payload []byte, off int64, err error) {
	for {
		if sc.off >= sc.end {
			return 0, nil, 0, io.EOF
		}
		if err := sc.fill(frameHeader); err != nil {
			return 0, nil, 0, err
		}
		b := sc.buf[sc.off-sc.bufOff:]
		k, p, n, derr := decodeFrame(b)
		if derr == errShort && len(b) >= frameHeader {
			// The header is plausible: read the rest of the frame.
			l := int(binary.LittleEndian.Uint32(b[4:8]))
			if err := sc.fill(frameHeader + l); err != nil {
				return 0, nil, 0, err
			}
			b = sc.buf[sc.off-sc.bufOff:]
			k, p, n, derr = decodeFrame(b)
		}
		if derr == nil {
			off = sc.off
			sc.off += int64(n)
			return k, p, off, nil
		}
		skip, err := sc.nextValid()
		if err != nil {
			return 0, nil, 0, err
		}
		if derr == errShort && tailPending && skip < 0 {
			// A frame still being written, not damage: nothing valid follows it.
			return 0, nil, 0, io.EOF
		}
		if skip < 0 {
			// Nothing valid follows (a torn tail, or a file shorter than its recorded size).
			if sc.onCorrupt != nil {
				sc.onCorrupt(sc.off, sc.end-sc.off, true, derr)
			}
			sc.off = sc.end
			continue
		}
		if sc.onCorrupt != nil {
			sc.onCorrupt(sc.off, skip, false, derr)
		}
		sc.off += skip
	}
}

// nextValid finds how far after sc.off the next whole valid frame starts, or -1 if none does
// before end. Corruption is rare, so reading the rest of the segment into memory here keeps the
// common path simple.
func (sc *segScanner) nextValid() (int64, error) {
	rest := make([]byte, sc.end-sc.off)
	n, err := sc.r.ReadAt(rest, sc.off)
	if err != nil && err != io.EOF {
		return 0, err
	}
	rest = rest[:n]
	for i := 1; i < len(rest); {
		j := bytes.Index(rest[i:], frameMagic)
		if j < 0 {
			break
		}
		i += j
		if _, _, _, derr := decodeFrame(rest[i:]); derr == nil {
			return int64(i), nil
		}
		i++
	}
	return -1, nil
}
