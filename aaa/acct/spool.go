package acct

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of the spool.
var (
	// ErrSpoolUnavailable wraps every failure to make a record durable. What the caller does
	// about it is the Policy's business (see Spool.Admit).
	ErrSpoolUnavailable = errors.New("accounting spool unavailable")
	// ErrQueued accompanies ErrSpoolUnavailable under PolicyAnswer when the record is held in
	// memory and will be written, in order, as soon as the spool is writable again.
	ErrQueued = errors.New("record held in memory until the spool is writable")
	// ErrQueueFull accompanies ErrSpoolUnavailable under PolicyAnswer when even the memory queue
	// is full: the record is not kept by the spool (it is logged in full at error level).
	ErrQueueFull = errors.New("memory queue full, record not kept")
	// ErrClosed is returned by a closed spool.
	ErrClosed = errors.New("accounting spool closed")
)

// Policy is what the NAS does while the spool cannot be written.
type Policy int

// Policies.
const (
	// PolicyRefuse (the default): new calls are refused while records cannot be made durable,
	// since billing integrity comes first. Records of calls in progress are returned to their
	// callers as errors.
	PolicyRefuse Policy = iota
	// PolicyAnswer: keep answering; records are held in a bounded memory queue and written, in
	// order, when the disk recovers. When the queue is full, new calls are refused after all.
	PolicyAnswer
)

func (p Policy) String() string {
	if p == PolicyAnswer {
		return "answer"
	}
	return "refuse"
}

// ParsePolicy reads a policy name as the configuration spells it ("refuse", "answer").
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "", "refuse":
		return PolicyRefuse, nil
	case "answer":
		return PolicyAnswer, nil
	}
	return 0, fmt.Errorf("accounting spool policy %q: want refuse or answer", s)
}

// Retention says what happens to segments once every destination has acknowledged them.
type Retention struct {
	// Delete removes retired segments; otherwise they move to <dir>/archive for exports.
	Delete bool
	// MaxAge drops archived segments last written longer ago; 0 means 31 days, <0 no limit.
	MaxAge time.Duration
	// MaxBytes caps the archive, dropping the oldest segments; 0 means 1 GiB, <0 no limit.
	MaxBytes int64
}

// Options configure a spool. The zero value is usable.
type Options struct {
	FS     FS           // default OSFS
	Logger *slog.Logger // default slog.Default()
	// SegmentSize is the size at which the active segment is closed and a new one started.
	SegmentSize int64 // default 16 MiB
	// MaxBatch caps the records written with one fsync.
	MaxBatch int // default 1024
	// CursorFlushInterval is how often acknowledged positions are made durable (and retired
	// segments dropped). A crash loses at most this much acknowledgement, so records delivered
	// in the window are re-sent after restart. <0 makes every Ack durable before it returns.
	CursorFlushInterval time.Duration // default 100 ms
	Retention           Retention
	Policy              Policy
	// MemoryQueue bounds the records held in memory under PolicyAnswer.
	MemoryQueue int // default 10000
	// RetryInterval is the first wait before writing again to a failed disk; it doubles up to
	// MaxRetryInterval.
	RetryInterval    time.Duration // default 1 s
	MaxRetryInterval time.Duration // default 30 s
	// Destinations are registered (given a cursor) at Open, before any record can be appended.
	Destinations []string
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.FS == nil {
		o.FS = OSFS{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.SegmentSize <= 0 {
		o.SegmentSize = 16 << 20
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1024
	}
	if o.CursorFlushInterval == 0 {
		o.CursorFlushInterval = 100 * time.Millisecond
	}
	if o.MemoryQueue <= 0 {
		o.MemoryQueue = 10000
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = time.Second
	}
	if o.MaxRetryInterval < o.RetryInterval {
		o.MaxRetryInterval = max(30*time.Second, o.RetryInterval)
	}
	if o.Retention.MaxAge == 0 {
		o.Retention.MaxAge = 31 * 24 * time.Hour
	}
	if o.Retention.MaxBytes == 0 {
		o.Retention.MaxBytes = 1 << 30
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Stats are the spool's counters, for `show` and metrics.
type Stats struct {
	Head         uint64 // last durable sequence number
	Appended     uint64 // records made durable since Open
	Batches      uint64 // write+fsync batches since Open (Appended/Batches = records per fsync)
	AppendErrors uint64 // Appends answered with an error wrapping ErrSpoolUnavailable
	Queued       int    // records held in memory (PolicyAnswer)
	Dropped      uint64 // records not kept: memory queue full, or still queued at Close
	Corrupt      uint64 // corrupt or torn regions skipped (at Open and by readers)
	Segments     int    // live segments
	Bytes        int64  // live segment bytes
	OpenSessions int
	Healthy      bool
}

// segment is one live segment file. first is the sequence number in its name: no record in it
// is older. size is how many bytes are durable (readers never look past it).
type segment struct {
	name     string
	first    uint64
	last     uint64 // last record's seq, 0 if none
	size     int64
	lastTime time.Time
}

type cursorState struct {
	acked     uint64 // acknowledged in memory
	persisted uint64 // durable in the cursor file
}

type appendReq struct {
	rec  Record
	tail []byte // JSON of rec after `{"seq":0`, nil to marshal in the writer
	done chan appendResult
}

type appendResult struct {
	seq uint64
	err error
}

type health struct {
	ok       bool
	reason   string
	since    time.Time
	failures int
}

// Spool is the durable, append-only log of accounting records. See the package documentation.
type Spool struct {
	dir  string
	fs   FS
	log  *slog.Logger
	opts Options

	lock   io.Closer
	boot   uint32
	sessN  atomic.Uint32
	clean  bool
	reqCh  chan *appendReq
	quit   chan struct{}
	wg     sync.WaitGroup
	closeO sync.Once

	// Owned by the writer goroutine.
	active     File
	broken     bool // the active file failed: start a new segment before writing again
	nextSeq    uint64
	buf        []byte
	retryDelay time.Duration
	retryTimer *time.Timer
	retryArmed bool

	persistMu sync.Mutex // serialises cursor files, checkpoints and retirement

	mu         sync.Mutex
	segs       []*segment
	head       uint64
	notify     chan struct{} // closed and replaced whenever head or the segment list moves
	sessions   map[string]Record
	orphans    map[string]bool
	cursors    map[string]*cursorState
	readers    map[string]bool
	destStatus map[string]*DestStatus
	hl         health
	queue      []*appendReq
	stats      Stats
	cursorErr  bool
}

const (
	segPrefix      = "seg-"
	segSuffix      = ".log"
	cursorDir      = "cursors"
	archiveDir     = "archive"
	corruptDir     = "corrupt"
	deadLetterDir  = "deadletter"
	sessionsFile   = "sessions.json"
	bootFile       = "boot"
	cleanFile      = "CLEAN"
	lockName       = "LOCK"
	cursorSuffix   = ".cursor"
	checkpointVers = 1
)

func segName(first uint64) string { return fmt.Sprintf("%s%020d%s", segPrefix, first, segSuffix) }

func parseSegName(name string) (uint64, bool) {
	if !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix) {
		return 0, false
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, segPrefix), segSuffix), 10, 64)
	return n, err == nil
}

// Open opens (creating if needed) the spool in dir. It takes the directory's lock, counts a
// boot, scans every live segment (skipping, logging and counting corrupt regions and
// truncating a torn tail) and rebuilds the table of open sessions. Call Recover next.
func Open(dir string, opts Options) (*Spool, error) {
	opts.defaults()
	s := &Spool{
		dir: dir, fs: opts.FS, log: opts.Logger.With("component", "acct-spool", "dir", dir), opts: opts,
		reqCh: make(chan *appendReq), quit: make(chan struct{}), notify: make(chan struct{}),
		sessions: map[string]Record{}, orphans: map[string]bool{}, cursors: map[string]*cursorState{},
		readers: map[string]bool{}, destStatus: map[string]*DestStatus{},
		hl: health{ok: true}, retryDelay: opts.RetryInterval,
	}
	for _, d := range []string{dir, filepath.Join(dir, cursorDir)} {
		if err := s.fs.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("acct spool: create %s: %w", d, err)
		}
	}
	lock, err := s.fs.Lock(filepath.Join(dir, lockName))
	if err != nil {
		return nil, fmt.Errorf("acct spool %s: %w", dir, err)
	}
	s.lock = lock
	if err := s.load(); err != nil {
		lock.Close()
		return nil, err
	}
	for _, d := range opts.Destinations {
		if err := s.Register(d); err != nil {
			if s.active != nil {
				s.active.Close()
			}
			lock.Close()
			return nil, err
		}
	}
	s.wg.Add(2)
	go s.writer()
	go s.flusher()
	return s, nil
}

func (s *Spool) path(name string) string { return filepath.Join(s.dir, name) }

// load reads the spool's state from disk.
func (s *Spool) load() error {
	if _, err := s.fs.Stat(s.path(cleanFile)); err == nil {
		s.clean = true
		if err := s.fs.Remove(s.path(cleanFile)); err != nil {
			return fmt.Errorf("acct spool: remove %s: %w", cleanFile, err)
		}
	}
	if err := s.countBoot(); err != nil {
		return err
	}
	maxCursor, err := s.loadCursors()
	if err != nil {
		return err
	}
	ckSeq := s.loadCheckpoint()

	entries, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("acct spool: list %s: %w", s.dir, err)
	}
	for _, e := range entries {
		if first, ok := parseSegName(e.Name()); ok && !e.IsDir() {
			s.segs = append(s.segs, &segment{name: e.Name(), first: first})
		}
	}
	sort.Slice(s.segs, func(i, j int) bool { return s.segs[i].first < s.segs[j].first })

	var lastSeq, maxName uint64
	for i, sg := range s.segs {
		maxName = max(maxName, sg.first)
		if err := s.scanSegment(sg, i == len(s.segs)-1, ckSeq, &lastSeq); err != nil {
			return err
		}
	}
	// Segments holding no record (created just before a failure) are noise: drop all but the
	// last, which stays the active segment.
	kept := s.segs[:0]
	for i, sg := range s.segs {
		if sg.last == 0 && i != len(s.segs)-1 {
			if err := s.fs.Remove(s.path(sg.name)); err != nil && !isNotExist(err) {
				return fmt.Errorf("acct spool: remove empty segment %s: %w", sg.name, err)
			}
			continue
		}
		kept = append(kept, sg)
	}
	s.segs = kept

	// Never hand out a sequence number a destination may already have acknowledged, even if the
	// record that carried it was lost to corruption.
	s.head = max(lastSeq, maxCursor, ckSeq)
	if maxName > 0 {
		s.head = max(s.head, maxName-1)
	}
	s.nextSeq = s.head + 1
	for id := range s.sessions {
		s.orphans[id] = true
	}
	if n := len(s.orphans); n > 0 || !s.clean {
		s.log.Info("accounting spool opened", "head", s.head, "segments", len(s.segs),
			"open_sessions", n, "clean_shutdown", s.clean, "boot", s.boot)
	}
	if len(s.segs) > 0 {
		last := s.segs[len(s.segs)-1]
		f, err := s.fs.OpenFile(s.path(last.name), os.O_RDWR|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("acct spool: open segment %s: %w", last.name, err)
		}
		s.active = f
	}
	return nil
}

// scanSegment reads one segment at Open, replaying records newer than the checkpoint into the
// session table and truncating a torn tail of the last segment.
func (s *Spool) scanSegment(sg *segment, isLast bool, ckSeq uint64, lastSeq *uint64) error {
	p := s.path(sg.name)
	f, err := s.fs.OpenFile(p, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("acct spool: open segment %s: %w", sg.name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("acct spool: stat segment %s: %w", sg.name, err)
	}
	size := fi.Size()
	tornAt := int64(-1)
	sc := newSegScanner(f, 0, size, func(off, n int64, tail bool, reason error) {
		s.stats.Corrupt++
		s.log.Warn("accounting spool: skipping corrupt bytes", "segment", sg.name, "offset", off,
			"bytes", n, "torn_tail", tail, "reason", reason)
		if tail {
			tornAt = off
		}
	})
	for {
		kind, payload, off, err := sc.next(false)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("acct spool: read segment %s: %w", sg.name, err)
		}
		if kind != kindRecord {
			continue
		}
		rec, err := decodeRecord(payload)
		if err != nil {
			s.stats.Corrupt++
			s.log.Warn("accounting spool: skipping undecodable record", "segment", sg.name, "offset", off, "err", err)
			continue
		}
		if rec.Seq <= *lastSeq {
			s.stats.Corrupt++
			s.log.Warn("accounting spool: skipping record out of sequence", "segment", sg.name,
				"offset", off, "seq", rec.Seq, "after", *lastSeq)
			continue
		}
		*lastSeq = rec.Seq
		sg.last, sg.lastTime = rec.Seq, rec.Time
		if rec.Seq > ckSeq {
			s.applySession(rec)
		}
	}
	sg.size = size
	if tornAt >= 0 && isLast {
		s.saveTornTail(f, sg, tornAt, size)
		w, err := s.fs.OpenFile(p, os.O_RDWR, 0o600)
		if err == nil {
			err = w.Truncate(tornAt)
			if err == nil {
				err = w.Sync()
			}
			w.Close()
		}
		if err != nil {
			return fmt.Errorf("acct spool: truncate torn tail of %s at %d: %w", sg.name, tornAt, err)
		}
		s.log.Warn("accounting spool: truncated torn tail", "segment", sg.name, "offset", tornAt, "bytes", size-tornAt)
		sg.size = tornAt
	}
	return nil
}

// saveTornTail keeps the bytes about to be truncated in <dir>/corrupt, for forensics.
func (s *Spool) saveTornTail(f File, sg *segment, off, size int64) {
	b := make([]byte, size-off)
	n, _ := f.ReadAt(b, off)
	dir := s.path(corruptDir)
	name := filepath.Join(dir, fmt.Sprintf("%s.%d.torn", sg.name, off))
	err := s.fs.MkdirAll(dir, 0o700)
	if err == nil {
		err = writeFileAtomic(s.fs, name, b[:n])
	}
	if err != nil {
		s.log.Warn("accounting spool: could not keep torn tail", "file", name, "err", err)
	}
}

func (s *Spool) countBoot() error {
	var boot uint64
	if b, err := readFile(s.fs, s.path(bootFile)); err == nil {
		boot, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
		if err != nil {
			return fmt.Errorf("acct spool: %s holds %q: %w", bootFile, b, err)
		}
	} else if !isNotExist(err) {
		return fmt.Errorf("acct spool: read %s: %w", bootFile, err)
	}
	boot++
	if boot > 0xFFFFFFFF {
		boot = 1
	}
	if err := writeFileAtomic(s.fs, s.path(bootFile), []byte(strconv.FormatUint(boot, 10)+"\n")); err != nil {
		return fmt.Errorf("acct spool: write %s: %w", bootFile, err)
	}
	s.boot = uint32(boot)
	return nil
}

// NewSessionID returns an Acct-Session-Id unique across restarts: the spool's boot counter
// (persisted in <dir>/boot and incremented, durably, by every Open) and a counter within the
// boot, as two 8-digit hex numbers: "0000A3F1-00000001". Two calls never return the same id, even
// in the same nanosecond; ids repeat only if the spool directory is wiped (which also loses
// undelivered records) or after 2^32 boots. The per-boot half grows past 8 digits rather than wrap.
func (s *Spool) NewSessionID() string {
	n := s.sessN.Add(1)
	if n == 0 {
		// 2^32 ids in one boot: take a new boot number rather than repeat one.
		s.log.Error("accounting spool: session counter wrapped within one boot")
	}
	return fmt.Sprintf("%08X-%08X", s.boot, n)
}

// Boot is this run's boot counter.
func (s *Spool) Boot() uint32 { return s.boot }

// CleanShutdown reports whether the previous run closed the spool (false after a crash).
func (s *Spool) CleanShutdown() bool { return s.clean }

// Append makes rec durable and returns its sequence number. It returns only once the record is
// on disk (fsync), sharing that fsync with every other Append in flight. ctx bounds only the
// wait to be taken up by the writer: once the writer has the record, Append waits for the
// outcome, so a returned error always means the record was not written (except as described for
// ErrQueued). Failures wrap ErrSpoolUnavailable.
func (s *Spool) Append(ctx context.Context, rec Record) (uint64, error) {
	if err := validate(&rec); err != nil {
		return 0, err
	}
	rec.Seq = 0
	req := &appendReq{rec: rec, done: make(chan appendResult, 1)}
	// Marshal here, in the caller's goroutine, so that concurrent appenders encode in parallel;
	// the writer only splices in the sequence number.
	if b, err := json.Marshal(&rec); err != nil {
		return 0, fmt.Errorf("acct: encode %s record of session %s: %w", rec.Type, rec.SessionID, err)
	} else if bytes.HasPrefix(b, seqZeroPrefix) {
		req.tail = b[len(seqZeroPrefix):]
	}
	select {
	case s.reqCh <- req:
	case <-s.quit:
		return 0, ErrClosed
	case <-ctx.Done():
		return 0, fmt.Errorf("acct: append %s record of session %s: %w", rec.Type, rec.SessionID, ctx.Err())
	}
	r := <-req.done
	return r.seq, r.err
}

var seqZeroPrefix = []byte(`{"seq":0`)

func validate(rec *Record) error {
	if rec.SessionID == "" {
		return errors.New("acct: record without a session id")
	}
	if rec.Type != Start && rec.Type != Stop && rec.Type != Interim {
		return fmt.Errorf("acct: record of session %s: bad type %d", rec.SessionID, rec.Type)
	}
	if rec.Time.IsZero() {
		return fmt.Errorf("acct: %s record of session %s without a time", rec.Type, rec.SessionID)
	}
	return nil
}

// writer is the single goroutine that writes segments: it takes every Append waiting, writes
// them with one write and one fsync (group commit), and answers them all.
func (s *Spool) writer() {
	defer s.wg.Done()
	s.retryTimer = time.NewTimer(time.Hour)
	s.retryTimer.Stop()
	batch := make([]*appendReq, 0, s.opts.MaxBatch)
	for {
		select {
		case req := <-s.reqCh:
			batch = append(batch[:0], req)
			// Appenders just answered are typically about to send again: let them, so that
			// they share this batch's fsync instead of waiting for the next one.
			runtime.Gosched()
		gather:
			for len(batch) < s.opts.MaxBatch {
				select {
				case r := <-s.reqCh:
					batch = append(batch, r)
				default:
					break gather
				}
			}
			s.handle(batch)
			clear(batch)
		case <-s.retryTimer.C:
			s.retryArmed = false
			s.retry()
		case <-s.quit:
			s.shutdownWriter()
			return
		}
	}
}

func (s *Spool) handle(batch []*appendReq) {
	s.mu.Lock()
	queued := len(s.queue) > 0
	s.mu.Unlock()
	if queued {
		// Records already waiting in memory go first, or a Stop could reach the disk before
		// its Start.
		s.enqueue(batch, errors.New("earlier records still queued"))
		return
	}
	seq, err := s.write(batch)
	if err == nil {
		for i, r := range batch {
			r.done <- appendResult{seq: seq + uint64(i)}
		}
		return
	}
	s.failed(err)
	if s.opts.Policy == PolicyAnswer {
		s.enqueue(batch, err)
		return
	}
	s.mu.Lock()
	s.stats.AppendErrors += uint64(len(batch))
	s.mu.Unlock()
	for _, r := range batch {
		r.done <- appendResult{err: fmt.Errorf("acct: append %s record of session %s: %w: %v",
			r.rec.Type, r.rec.SessionID, ErrSpoolUnavailable, err)}
	}
}

// enqueue holds records in memory (PolicyAnswer) and answers their Appends.
func (s *Spool) enqueue(batch []*appendReq, cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range batch {
		s.stats.AppendErrors++
		if len(s.queue) < s.opts.MemoryQueue {
			s.queue = append(s.queue, r)
			r.done <- appendResult{err: fmt.Errorf("acct: append %s record of session %s: %w: %w: %v",
				r.rec.Type, r.rec.SessionID, ErrSpoolUnavailable, ErrQueued, cause)}
			continue
		}
		s.stats.Dropped++
		s.logLost(r.rec, "memory queue full")
		r.done <- appendResult{err: fmt.Errorf("acct: append %s record of session %s: %w: %w: %v",
			r.rec.Type, r.rec.SessionID, ErrSpoolUnavailable, ErrQueueFull, cause)}
	}
	s.stats.Queued = len(s.queue)
	s.scheduleRetry()
}

// logLost is the last resort for a record the spool cannot keep: the whole record goes to the
// log, where an operator can still bill from it.
func (s *Spool) logLost(rec Record, why string) {
	b, _ := json.Marshal(&rec)
	s.log.Error("ACCOUNTING RECORD NOT SPOOLED", "why", why, "session_id", rec.SessionID,
		"type", rec.Type.String(), "record", string(b))
}

// write assigns sequence numbers to batch, writes it to the active segment and fsyncs. On
// success the records are published to readers and the session table.
func (s *Spool) write(batch []*appendReq) (uint64, error) {
	if err := s.ensureSegment(); err != nil {
		return 0, err
	}
	first := s.nextSeq
	// A failed batch still uses up its numbers: should its bytes survive somewhere despite
	// the failure, they can never be mistaken for a later record.
	s.nextSeq += uint64(len(batch))
	buf := s.buf[:0]
	var payload []byte
	for i, r := range batch {
		r.rec.Seq = first + uint64(i)
		if r.tail != nil {
			payload = append(payload[:0], `{"seq":`...)
			payload = strconv.AppendUint(payload, r.rec.Seq, 10)
			payload = append(payload, r.tail...)
		} else {
			b, err := encodeRecord(&r.rec)
			if err != nil {
				return 0, err
			}
			payload = append(payload[:0], b...)
		}
		buf = appendFrame(buf, kindRecord, payload)
	}
	s.buf = buf
	if err := s.writeSync(buf); err != nil {
		return 0, err
	}
	s.mu.Lock()
	sg := s.segs[len(s.segs)-1]
	sg.size += int64(len(buf))
	last := batch[len(batch)-1].rec
	sg.last, sg.lastTime = last.Seq, last.Time
	s.head = last.Seq
	for _, r := range batch {
		s.applySession(r.rec)
	}
	s.stats.Appended += uint64(len(batch))
	s.stats.Batches++
	s.published()
	s.healthyLocked()
	s.mu.Unlock()
	return first, nil
}

// writeSync writes b at the end of the active segment and fsyncs it. On failure it truncates
// back to the last durable size and marks the file broken: after a failed fsync the kernel's
// view of the file cannot be trusted, so the next write starts a new segment.
func (s *Spool) writeSync(b []byte) error {
	_, err := s.active.Write(b)
	if err == nil {
		err = s.active.Sync()
	}
	if err == nil {
		return nil
	}
	s.mu.Lock()
	sg := s.segs[len(s.segs)-1]
	size := sg.size
	s.mu.Unlock()
	if terr := s.active.Truncate(size); terr != nil {
		s.log.Warn("accounting spool: could not truncate failed write", "segment", sg.name, "err", terr)
	}
	s.broken = true
	return fmt.Errorf("write segment %s: %w", sg.name, err)
}

// ensureSegment makes sure there is an active segment to write to, rotating by size or after a
// failure.
func (s *Spool) ensureSegment() error {
	s.mu.Lock()
	var cur *segment
	if len(s.segs) > 0 {
		cur = s.segs[len(s.segs)-1]
	}
	s.mu.Unlock()
	if s.active != nil && !s.broken && cur != nil && cur.size < s.opts.SegmentSize {
		return nil
	}
	name := segName(s.nextSeq)
	f, err := s.fs.OpenFile(s.path(name), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err == nil {
		if err = s.fs.SyncDir(s.dir); err != nil {
			f.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("create segment %s: %w", name, err)
	}
	if s.active != nil {
		s.active.Close()
	}
	s.active, s.broken = f, false
	s.mu.Lock()
	if cur != nil && cur.size == 0 && cur.name != name {
		// A segment that never got a byte (its first write failed) is not worth keeping.
		s.segs = s.segs[:len(s.segs)-1]
		_ = s.fs.Remove(s.path(cur.name))
	}
	if cur == nil || cur.name != name {
		s.segs = append(s.segs, &segment{name: name, first: s.nextSeq})
	}
	s.published()
	s.mu.Unlock()
	return nil
}

// published wakes readers. Caller holds mu.
func (s *Spool) published() {
	close(s.notify)
	s.notify = make(chan struct{})
}

// applySession keeps the table of open sessions. Caller holds mu (or is loading).
func (s *Spool) applySession(rec Record) {
	switch rec.Type {
	case Start, Interim:
		s.sessions[rec.SessionID] = rec
	case Stop:
		delete(s.sessions, rec.SessionID)
		delete(s.orphans, rec.SessionID)
	}
}

// failed records a failed write: the health goes bad (logged once per episode) and a retry is
// scheduled.
func (s *Spool) failed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hl.ok {
		s.hl = health{ok: false, reason: err.Error(), since: s.opts.Now()}
		s.log.Error("ACCOUNTING SPOOL UNAVAILABLE: records cannot be made durable", "err", err,
			"policy", s.opts.Policy.String())
	}
	s.hl.reason = err.Error()
	s.hl.failures++
	s.scheduleRetry()
}

// scheduleRetry arms the writer's retry timer with exponential backoff, unless it is armed
// already: steady traffic must not keep pushing the retry back. Writer only.
func (s *Spool) scheduleRetry() {
	if s.retryArmed {
		return
	}
	s.retryArmed = true
	s.retryTimer.Reset(s.retryDelay)
	s.retryDelay = min(2*s.retryDelay, s.opts.MaxRetryInterval)
}

func (s *Spool) healthy() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.healthyLocked()
}

// healthyLocked ends an episode of failure, if one is on. Caller holds mu; writer only.
func (s *Spool) healthyLocked() {
	if !s.hl.ok {
		s.log.Warn("accounting spool writable again", "down_for", s.opts.Now().Sub(s.hl.since).Round(time.Millisecond),
			"failed_writes", s.hl.failures)
		s.hl = health{ok: true}
	}
	s.retryDelay = s.opts.RetryInterval
}

// retry writes the memory queue, or probes a sick disk with a pad frame. Writer only.
func (s *Spool) retry() {
	for {
		s.mu.Lock()
		n := min(len(s.queue), s.opts.MaxBatch)
		batch := s.queue[:n:n]
		s.mu.Unlock()
		if n == 0 {
			break
		}
		if _, err := s.write(batch); err != nil {
			s.failed(err)
			return
		}
		s.mu.Lock()
		s.queue = s.queue[n:]
		if len(s.queue) == 0 {
			s.queue = nil
		}
		s.stats.Queued = len(s.queue)
		s.mu.Unlock()
		s.log.Info("accounting spool: wrote records held in memory", "records", n, "through_seq", batch[n-1].rec.Seq)
	}
	s.mu.Lock()
	ok := s.hl.ok
	s.mu.Unlock()
	if ok {
		return
	}
	if err := s.probe(); err != nil {
		s.failed(err)
		return
	}
	s.healthy()
}

// probe writes and fsyncs a pad frame: the cheapest proof that the disk takes writes again.
func (s *Spool) probe() error {
	if err := s.ensureSegment(); err != nil {
		return err
	}
	b := appendFrame(nil, kindPad, nil)
	if err := s.writeSync(b); err != nil {
		return err
	}
	s.mu.Lock()
	s.segs[len(s.segs)-1].size += int64(len(b))
	s.published()
	s.mu.Unlock()
	return nil
}

func (s *Spool) shutdownWriter() {
	s.retryTimer.Stop()
	s.mu.Lock()
	queued := len(s.queue) > 0
	s.mu.Unlock()
	if queued {
		s.retry()
	}
	s.mu.Lock()
	for _, r := range s.queue {
		s.stats.Dropped++
		s.logLost(r.rec, "spool closed while the disk was unavailable")
	}
	s.queue = nil
	s.stats.Queued = 0
	s.mu.Unlock()
	if s.active != nil {
		s.active.Close()
		s.active = nil
	}
}

// Health says whether records can be made durable now, and if not why — for `show` and metrics.
func (s *Spool) Health() (ok bool, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hl.ok {
		return true, ""
	}
	r := fmt.Sprintf("spool unwritable since %s: %s", s.hl.since.Format(time.RFC3339), s.hl.reason)
	if s.opts.Policy == PolicyAnswer {
		r += fmt.Sprintf(" (%d of %d records held in memory)", len(s.queue), s.opts.MemoryQueue)
	}
	return false, r
}

// Policy is the configured full-disk policy.
func (s *Spool) Policy() Policy { return s.opts.Policy }

// Admit says whether the session may answer a new call: nil, or an error wrapping
// ErrSpoolUnavailable. Under PolicyRefuse calls are refused while the spool is unhealthy; under
// PolicyAnswer only once the memory queue is full.
func (s *Spool) Admit() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hl.ok {
		return nil
	}
	if s.opts.Policy == PolicyAnswer {
		if len(s.queue) < s.opts.MemoryQueue {
			return nil
		}
		return fmt.Errorf("acct: refusing new calls: %w: %w", ErrSpoolUnavailable, ErrQueueFull)
	}
	return fmt.Errorf("acct: refusing new calls (policy refuse): %w: %s", ErrSpoolUnavailable, s.hl.reason)
}

// Stats returns the spool's counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Head = s.head
	st.Segments = len(s.segs)
	for _, sg := range s.segs {
		st.Bytes += sg.size
	}
	st.OpenSessions = len(s.sessions)
	st.Queued = len(s.queue)
	st.Healthy = s.hl.ok
	return st
}

// Dir is the spool directory.
func (s *Spool) Dir() string { return s.dir }

// Close stops the spool: no more Appends, readers return ErrClosed, acknowledged positions and
// the session table are made durable, and the directory lock is released. Records still held in
// memory (PolicyAnswer) get one last write attempt and are logged in full if it fails.
func (s *Spool) Close() error {
	var err error
	s.closeO.Do(func() {
		close(s.quit)
		s.wg.Wait()
		err = s.flushCursors()
		if cerr := s.writeCheckpoint(); err == nil {
			err = cerr
		}
		if err == nil {
			err = writeFileAtomic(s.fs, s.path(cleanFile), []byte("closed "+s.opts.Now().UTC().Format(time.RFC3339)+"\n"))
		}
		if lerr := s.lock.Close(); err == nil {
			err = lerr
		}
	})
	return err
}

// crash stops the spool's goroutines and closes its files without persisting anything: what a
// kill -9 leaves behind (for tests).
func (s *Spool) crash() {
	s.closeO.Do(func() {
		close(s.quit)
		s.mu.Lock()
		s.queue = nil // a killed process loses its memory
		s.mu.Unlock()
		s.wg.Wait()
		s.lock.Close()
	})
}
