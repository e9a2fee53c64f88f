package acct

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// cursorFile is the durable position of one destination: every record up to Acked has been
// delivered to it.
type cursorFile struct {
	Dest    string    `json:"dest"`
	Acked   uint64    `json:"acked"`
	Updated time.Time `json:"updated"`
}

// checkpoint is the table of open sessions as of Seq, written before segments are retired so
// that a session whose Start is no longer in a live segment is still known after a crash.
type checkpoint struct {
	Version int      `json:"version"`
	Seq     uint64   `json:"seq"`
	Open    []Record `json:"open"`
}

func validDestName(name string) error {
	if name == "" || len(name) > 128 || name[0] == '.' {
		return fmt.Errorf("acct: destination name %q: want 1-128 characters, not starting with a dot", name)
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._:@-", c)
		if !ok {
			return fmt.Errorf("acct: destination name %q: only letters, digits and . _ : @ - are allowed", name)
		}
	}
	return nil
}

func (s *Spool) cursorPath(dest string) string {
	return filepath.Join(s.dir, cursorDir, dest+cursorSuffix)
}

func (s *Spool) loadCursors() (maxAcked uint64, err error) {
	entries, err := s.fs.ReadDir(filepath.Join(s.dir, cursorDir))
	if err != nil {
		return 0, fmt.Errorf("acct spool: list cursors: %w", err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), cursorSuffix)
		if !ok || e.IsDir() {
			continue
		}
		b, err := readFile(s.fs, s.cursorPath(name))
		if err != nil {
			return 0, fmt.Errorf("acct spool: read cursor of %s: %w", name, err)
		}
		var cf cursorFile
		if err := json.Unmarshal(b, &cf); err != nil || cf.Dest != name {
			// Written by rename, so this is damage from outside. Starting the destination
			// from the oldest live record re-sends rather than loses.
			s.log.Error("accounting spool: cursor file unreadable, destination restarts from the oldest live record",
				"dest", name, "err", err)
			cf.Acked = 0
		}
		s.cursors[name] = &cursorState{acked: cf.Acked, persisted: cf.Acked}
		maxAcked = max(maxAcked, cf.Acked)
	}
	return maxAcked, nil
}

func (s *Spool) loadCheckpoint() uint64 {
	b, err := readFile(s.fs, s.path(sessionsFile))
	if err != nil {
		if !isNotExist(err) {
			s.log.Error("accounting spool: session checkpoint unreadable; sessions opened before it are unknown", "err", err)
		}
		return 0
	}
	var ck checkpoint
	if err := json.Unmarshal(b, &ck); err != nil {
		s.log.Error("accounting spool: session checkpoint corrupt; sessions opened before it are unknown", "err", err)
		return 0
	}
	for _, r := range ck.Open {
		s.sessions[r.SessionID] = r
	}
	return ck.Seq
}

// Register gives dest a cursor, so that records are kept until it has acknowledged them. A
// destination that is new to this spool starts at the current head: it receives records
// appended from now on. Registering an existing destination does nothing.
func (s *Spool) Register(dest string) error {
	if err := validDestName(dest); err != nil {
		return err
	}
	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	s.mu.Lock()
	if _, ok := s.cursors[dest]; ok {
		s.mu.Unlock()
		return nil
	}
	head := s.head
	s.mu.Unlock()
	if err := s.writeCursor(dest, head); err != nil {
		return fmt.Errorf("acct spool: register destination %s: %w", dest, err)
	}
	s.mu.Lock()
	s.cursors[dest] = &cursorState{acked: head, persisted: head}
	s.mu.Unlock()
	s.log.Info("accounting destination registered", "dest", dest, "from_seq", head+1)
	return nil
}

// Unregister forgets dest: it no longer holds records back from retirement. Use it when a
// destination is removed from the configuration for good.
func (s *Spool) Unregister(dest string) error {
	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	s.mu.Lock()
	if s.readers[dest] {
		s.mu.Unlock()
		return fmt.Errorf("acct spool: unregister %s: a reader is open", dest)
	}
	if _, ok := s.cursors[dest]; !ok {
		s.mu.Unlock()
		return nil
	}
	delete(s.cursors, dest)
	s.mu.Unlock()
	if err := s.fs.Remove(s.cursorPath(dest)); err != nil && !isNotExist(err) {
		return fmt.Errorf("acct spool: unregister %s: %w", dest, err)
	}
	s.log.Warn("accounting destination unregistered", "dest", dest)
	return s.fs.SyncDir(filepath.Join(s.dir, cursorDir))
}

// Destinations lists the registered destinations.
func (s *Spool) Destinations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for d := range s.cursors {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// Ack records that dest has every record up to seq. Positions only move forward. The position
// becomes durable within CursorFlushInterval (at once if it is negative).
func (s *Spool) Ack(dest string, seq uint64) error {
	s.mu.Lock()
	c, ok := s.cursors[dest]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("acct spool: ack for unregistered destination %s", dest)
	}
	if seq > s.head {
		head := s.head
		s.mu.Unlock()
		return fmt.Errorf("acct spool: %s acknowledges seq %d beyond head %d", dest, seq, head)
	}
	if seq > c.acked {
		c.acked = seq
	}
	s.mu.Unlock()
	if s.opts.CursorFlushInterval < 0 {
		return s.flushCursors()
	}
	return nil
}

func (s *Spool) writeCursor(dest string, acked uint64) error {
	b, _ := json.Marshal(cursorFile{Dest: dest, Acked: acked, Updated: s.opts.Now().UTC()})
	return writeFileAtomic(s.fs, s.cursorPath(dest), append(b, '\n'))
}

// flushCursors makes acknowledged positions durable.
func (s *Spool) flushCursors() error {
	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	type todo struct {
		dest  string
		acked uint64
	}
	var work []todo
	s.mu.Lock()
	for d, c := range s.cursors {
		if c.acked != c.persisted {
			work = append(work, todo{d, c.acked})
		}
	}
	s.mu.Unlock()
	var errs []error
	for _, w := range work {
		if err := s.writeCursor(w.dest, w.acked); err != nil {
			errs = append(errs, fmt.Errorf("acct spool: persist cursor of %s: %w", w.dest, err))
			continue
		}
		s.mu.Lock()
		if c, ok := s.cursors[w.dest]; ok && c.persisted < w.acked {
			c.persisted = w.acked
		}
		s.mu.Unlock()
	}
	err := errors.Join(errs...)
	s.mu.Lock()
	if err != nil && !s.cursorErr {
		s.log.Error("accounting spool: cannot persist delivery positions (records will be re-sent after a crash)", "err", err)
	} else if err == nil && s.cursorErr {
		s.log.Warn("accounting spool: delivery positions persist again")
	}
	s.cursorErr = err != nil
	s.mu.Unlock()
	return err
}

// flusher persists cursors and retires delivered segments in the background.
func (s *Spool) flusher() {
	defer s.wg.Done()
	interval := s.opts.CursorFlushInterval
	if interval < 0 {
		interval = 100 * time.Millisecond
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	lastPrune := time.Time{}
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
		}
		_ = s.flushCursors()
		retired := s.retire()
		if retired || time.Since(lastPrune) > time.Minute {
			s.pruneArchive()
			lastPrune = time.Now()
		}
	}
}

// retire drops (or archives) every live segment, except the active one, whose records all
// destinations have durably acknowledged. It reports whether anything was retired.
func (s *Spool) retire() bool {
	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	s.mu.Lock()
	limit := s.head
	for _, c := range s.cursors {
		limit = min(limit, c.persisted)
	}
	var victims []*segment
	for i, sg := range s.segs {
		if i == len(s.segs)-1 || sg.last > limit {
			break
		}
		victims = append(victims, sg)
	}
	s.mu.Unlock()
	if len(victims) == 0 {
		return false
	}
	if err := s.writeCheckpointLocked(); err != nil {
		s.log.Error("accounting spool: cannot write session checkpoint; delivered segments are kept", "err", err)
		return false
	}
	archive := !s.opts.Retention.Delete
	if archive {
		if err := s.fs.MkdirAll(s.path(archiveDir), 0o700); err != nil {
			s.log.Error("accounting spool: cannot create archive; delivered segments are kept", "err", err)
			return false
		}
	}
	var done []*segment
	for _, sg := range victims {
		var err error
		if archive {
			err = s.fs.Rename(s.path(sg.name), filepath.Join(s.dir, archiveDir, sg.name))
		} else {
			err = s.fs.Remove(s.path(sg.name))
		}
		if err != nil {
			s.log.Error("accounting spool: cannot retire segment", "segment", sg.name, "err", err)
			break
		}
		done = append(done, sg)
	}
	if len(done) == 0 {
		return false
	}
	_ = s.fs.SyncDir(s.dir)
	if archive {
		_ = s.fs.SyncDir(s.path(archiveDir))
	}
	s.mu.Lock()
	s.segs = slices.DeleteFunc(s.segs, func(sg *segment) bool { return slices.Contains(done, sg) })
	s.published()
	s.mu.Unlock()
	s.log.Debug("accounting spool: retired segments", "count", len(done), "through_seq", done[len(done)-1].last, "archived", archive)
	return true
}

// writeCheckpoint persists the table of open sessions.
func (s *Spool) writeCheckpoint() error {
	s.persistMu.Lock()
	defer s.persistMu.Unlock()
	return s.writeCheckpointLocked()
}

func (s *Spool) writeCheckpointLocked() error {
	s.mu.Lock()
	ck := checkpoint{Version: checkpointVers, Seq: s.head, Open: make([]Record, 0, len(s.sessions))}
	for _, r := range s.sessions {
		ck.Open = append(ck.Open, r)
	}
	s.mu.Unlock()
	sort.Slice(ck.Open, func(i, j int) bool { return ck.Open[i].Seq < ck.Open[j].Seq })
	b, err := json.Marshal(ck)
	if err != nil {
		return err
	}
	return writeFileAtomic(s.fs, s.path(sessionsFile), b)
}

// pruneArchive enforces the retention limits on the archive, oldest segments first.
func (s *Spool) pruneArchive() {
	if s.opts.Retention.Delete {
		return
	}
	dir := s.path(archiveDir)
	entries, err := s.fs.ReadDir(dir)
	if err != nil {
		if !isNotExist(err) {
			s.log.Warn("accounting spool: cannot list archive", "err", err)
		}
		return
	}
	type seg struct {
		name string
		size int64
		mod  time.Time
	}
	var segs []seg
	var total int64
	for _, e := range entries {
		if _, ok := parseSegName(e.Name()); !ok {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		segs = append(segs, seg{e.Name(), fi.Size(), fi.ModTime()})
		total += fi.Size()
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].name < segs[j].name })
	r := s.opts.Retention
	cutoff := s.opts.Now().Add(-r.MaxAge)
	removed := 0
	for _, sg := range segs {
		overSize := r.MaxBytes >= 0 && total > r.MaxBytes
		tooOld := r.MaxAge >= 0 && sg.mod.Before(cutoff)
		if !overSize && !tooOld {
			break
		}
		if err := s.fs.Remove(filepath.Join(dir, sg.name)); err != nil && !isNotExist(err) {
			s.log.Warn("accounting spool: cannot prune archive", "segment", sg.name, "err", err)
			return
		}
		total -= sg.size
		removed++
	}
	if removed > 0 {
		_ = s.fs.SyncDir(dir)
		s.log.Info("accounting spool: pruned archive", "segments", removed)
	}
}

// Reader reads one destination's records in order. It is not safe for concurrent use; a
// destination has at most one Reader at a time.
type Reader struct {
	s    *Spool
	dest string
	pos  uint64 // last record returned
	seg  *segment
	f    File
	sc   *segScanner
}

// Reader opens dest's reader, positioned after its last acknowledged record.
func (s *Spool) Reader(dest string) (*Reader, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cursors[dest]
	if !ok {
		return nil, fmt.Errorf("acct spool: reader for unregistered destination %s", dest)
	}
	if s.readers[dest] {
		return nil, fmt.Errorf("acct spool: destination %s already has a reader", dest)
	}
	s.readers[dest] = true
	return &Reader{s: s, dest: dest, pos: c.acked}, nil
}

// Close releases the reader.
func (r *Reader) Close() error {
	r.closeFile()
	r.s.mu.Lock()
	delete(r.s.readers, r.dest)
	r.s.mu.Unlock()
	return nil
}

func (r *Reader) closeFile() {
	if r.f != nil {
		r.f.Close()
		r.f, r.sc = nil, nil
	}
}

// Next returns the next durable record after the last one returned, waiting for it if needed.
// It returns ctx's error when ctx ends and ErrClosed when the spool closes.
func (r *Reader) Next(ctx context.Context) (Record, error) {
	s := r.s
	for {
		s.mu.Lock()
		if r.seg == nil {
			r.seg = s.segFor(r.pos + 1)
		}
		seg := r.seg
		var end int64
		active := false
		if seg != nil {
			end = seg.size
			active = seg == s.segs[len(s.segs)-1]
		}
		wait := s.notify
		s.mu.Unlock()

		if seg == nil {
			if err := r.wait(ctx, wait); err != nil {
				return Record{}, err
			}
			continue
		}
		if r.f == nil {
			f, err := s.fs.OpenFile(s.path(seg.name), os.O_RDONLY, 0)
			if err != nil {
				if isNotExist(err) { // retired under us: look again
					r.seg = nil
					continue
				}
				return Record{}, fmt.Errorf("acct spool: reader %s: open %s: %w", r.dest, seg.name, err)
			}
			r.f = f
			r.sc = newSegScanner(f, 0, end, r.corrupt)
		}
		r.sc.end = end
		kind, payload, off, err := r.sc.next(false)
		if err == io.EOF {
			if !active {
				r.closeFile()
				s.mu.Lock()
				r.seg = s.segAfter(seg.first)
				s.mu.Unlock()
				continue
			}
			if err := r.wait(ctx, wait); err != nil {
				return Record{}, err
			}
			continue
		}
		if err != nil {
			return Record{}, fmt.Errorf("acct spool: reader %s: read %s: %w", r.dest, seg.name, err)
		}
		if kind != kindRecord {
			continue
		}
		rec, err := decodeRecord(payload)
		if err != nil {
			r.corrupt(off, int64(len(payload)), false, err)
			continue
		}
		if rec.Seq <= r.pos {
			continue
		}
		r.pos = rec.Seq
		return rec, nil
	}
}

func (r *Reader) corrupt(off, n int64, tail bool, reason error) {
	r.s.mu.Lock()
	r.s.stats.Corrupt++
	name := ""
	if r.seg != nil {
		name = r.seg.name
	}
	r.s.mu.Unlock()
	r.s.log.Warn("accounting spool: reader skipping corrupt bytes", "dest", r.dest, "segment", name,
		"offset", off, "bytes", n, "torn_tail", tail, "reason", reason)
}

func (r *Reader) wait(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-r.s.quit:
		return ErrClosed
	}
}

// segFor is the live segment that may hold seq: the last one whose first seq is <= seq (or the
// first one). Caller holds mu.
func (s *Spool) segFor(seq uint64) *segment {
	if len(s.segs) == 0 {
		return nil
	}
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].first > seq })
	if i == 0 {
		if seq < s.segs[0].first && seq <= s.head {
			s.log.Warn("accounting spool: reader starts after records it never acknowledged (retired); export them from the archive",
				"from_seq", seq, "oldest_live", s.segs[0].first)
		}
		return s.segs[0]
	}
	return s.segs[i-1]
}

// segAfter is the live segment after the one that starts at first. Caller holds mu.
func (s *Spool) segAfter(first uint64) *segment {
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].first > first })
	if i == len(s.segs) {
		return nil
	}
	return s.segs[i]
}
