package pstn

import (
	"container/heap"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Options configure an Exchange. Zero values select the defaults named on each field.
type Options struct {
	// RingPeriod is the time between RINGs (default 1 s). RI is on for the first half.
	RingPeriod time.Duration
	// NoAnswerRings is how many rings a caller waits before NO ANSWER (default 5).
	NoAnswerRings int
	// BitErrorRate is the probability that any one bit on the data path is flipped.
	BitErrorRate float64
	// Latency is the one-way delay on the data path (default none).
	Latency time.Duration
	// ConnectSpeed is the line rate both modems report in CONNECT (default 33600).
	ConnectSpeed int
	// TrainingDelay is the time from answer to CONNECT (default 200 ms; negative: none).
	TrainingDelay time.Duration
	// DSRDrop is how long DSR stays off when a modem goes on-hook (default 100 ms), the event
	// `callback nodsr-wait` waits for.
	DSRDrop time.Duration
	// DTRPulse is how long Port.Hangup holds DTR off (default 50 ms).
	DTRPulse time.Duration
	// MaxBuffered is the flow-control window of the data path: the bytes one side may have
	// in flight plus unread at the far DTE before its writes wait (default 64 KiB).
	MaxBuffered int
	// FlowTimeout is how long a Write waits without progress for the far DTE to read before
	// it gives up with ErrFlowTimeout (default 5 s).
	FlowTimeout time.Duration
	// Log receives call events (default: discarded).
	Log *slog.Logger
	// Rand drives line noise. If nil, one is seeded from Seed (or randomly when Seed is 0):
	// the same seed and the same traffic give the same bit errors.
	Rand *rand.Rand
	Seed uint64
}

func (o Options) withDefaults() Options {
	if o.RingPeriod <= 0 {
		o.RingPeriod = time.Second
	}
	if o.NoAnswerRings <= 0 {
		o.NoAnswerRings = 5
	}
	if o.ConnectSpeed <= 0 {
		o.ConnectSpeed = 33600
	}
	if o.TrainingDelay == 0 {
		o.TrainingDelay = 200 * time.Millisecond
	}
	if o.DSRDrop <= 0 {
		o.DSRDrop = 100 * time.Millisecond
	}
	if o.DTRPulse <= 0 {
		o.DTRPulse = 50 * time.Millisecond
	}
	if o.MaxBuffered <= 0 {
		o.MaxBuffered = 64 << 10
	}
	if o.FlowTimeout <= 0 {
		o.FlowTimeout = 5 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Rand == nil {
		seed := o.Seed
		if seed == 0 {
			seed = rand.Uint64()
		}
		o.Rand = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	}
	return o
}

// Errors returned by the exchange and its ports.
var (
	ErrClosed       = errors.New("pstn: exchange closed")
	ErrNumberTaken  = errors.New("pstn: number already attached")
	ErrBadNumber    = errors.New("pstn: subscriber number must be 1-32 digits")
	ErrNoSuchNumber = errors.New("pstn: no subscriber with that number")
	// ErrFlowTimeout: the far DTE did not read for Options.FlowTimeout while this side's
	// window was full; the unsent rest of the Write is dropped.
	ErrFlowTimeout = errors.New("pstn: far end not reading (flow-control timeout)")
)

// Exchange is the simulated telephone exchange. All its state — every modem, call and timer —
// is guarded by one mutex and driven by one goroutine that fires timers, so calls between two
// modems change state atomically and the simulation has no lock ordering between lines.
type Exchange struct {
	o   Options
	log *slog.Logger

	mu       sync.Mutex
	closed   bool
	lines    map[string]*modem
	noTone   map[string]bool   // numbers without dial tone (SetDialTone)
	names    map[string]string // caller-ID names (SetCallerName)
	ptys     map[*ptyLine]struct{}
	timers   timerHeap
	timerSeq uint64
	callSeq  uint64

	kick      chan struct{} // wakes the timer goroutine when an earlier timer is added
	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New starts an exchange. Close stops it.
func New(o Options) *Exchange {
	o = o.withDefaults()
	x := &Exchange{
		o:      o,
		log:    o.Log,
		lines:  make(map[string]*modem),
		noTone: make(map[string]bool),
		names:  make(map[string]string),
		ptys:   make(map[*ptyLine]struct{}),
		kick:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	x.wg.Add(1)
	go x.run()
	return x
}

func validNumber(n string) bool {
	if len(n) == 0 || len(n) > 32 {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return false
		}
	}
	return true
}

// Attach connects a new subscriber line with a modem and returns the modem's DTE side.
func (x *Exchange) Attach(number string) (*Port, error) {
	if !validNumber(number) {
		return nil, fmt.Errorf("pstn: attach %q: %w", number, ErrBadNumber)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return nil, fmt.Errorf("pstn: attach %s: %w", number, ErrClosed)
	}
	if _, ok := x.lines[number]; ok {
		return nil, fmt.Errorf("pstn: attach %s: %w", number, ErrNumberTaken)
	}
	m := newModem(x, number)
	x.lines[number] = m
	p := &Port{m: m, x: x, closed: make(chan struct{})}
	m.port = p
	x.log.Info("subscriber attached", "number", number)
	return p, nil
}

// SetDialTone gives (ok) or takes away (!ok) dial tone on a subscriber line, attached or not.
// A modem that dials without dial tone answers NO DIALTONE (X2, X4) or NO CARRIER.
func (x *Exchange) SetDialTone(number string, ok bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if ok {
		delete(x.noTone, number)
	} else {
		x.noTone[number] = true
	}
}

// SetCallerName sets the name the exchange sends as caller ID (NAME = ...) for calls from
// number. Without one, NAME carries the number.
func (x *Exchange) SetCallerName(number, name string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if name == "" {
		delete(x.names, number)
	} else {
		x.names[number] = name
	}
}

// Disconnect cuts a subscriber's call in the exchange, as a line fault would: both modems lose
// carrier and print NO CARRIER; a ringing line stops ringing.
func (x *Exchange) Disconnect(number string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	m, ok := x.lines[number]
	if !ok {
		return fmt.Errorf("pstn: disconnect %s: %w", number, ErrNoSuchNumber)
	}
	if c := m.incoming; c != nil {
		x.teardown(c)
		c.from.callFailed(resNoCarrier)
	}
	if m.call != nil {
		m.abortCall(resNoCarrier)
	}
	return nil
}

// Close hangs up every call, closes every port (their reads return io.EOF) and pty, and stops
// every goroutine of the exchange.
func (x *Exchange) Close() error {
	var err error
	x.closeOnce.Do(func() {
		x.mu.Lock()
		x.closed = true
		ptys := make([]*ptyLine, 0, len(x.ptys))
		for p := range x.ptys {
			ptys = append(ptys, p)
		}
		x.mu.Unlock()
		var errs []error
		for _, p := range ptys {
			errs = append(errs, p.close())
		}
		x.mu.Lock()
		for _, m := range x.lines {
			m.port.closeLocked()
		}
		for _, t := range x.timers {
			t.idx = -1 // so that a late stop is a no-op
		}
		x.timers = nil
		x.mu.Unlock()
		close(x.done)
		x.wg.Wait()
		err = errors.Join(errs...)
	})
	return err
}

// timer is a callback the exchange goroutine runs, under x.mu, at a given time.
type timer struct {
	at  time.Time
	seq uint64 // keeps timers due at the same instant in the order they were set (data FIFO)
	fn  func()
	idx int // position in the heap, -1 when popped or stopped
}

type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx = i
	h[j].idx = j
}
func (h *timerHeap) Push(v any) {
	t := v.(*timer)
	t.idx = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.idx = -1
	return t
}

// after runs fn after d on the exchange goroutine. Call with x.mu held.
func (x *Exchange) after(d time.Duration, fn func()) *timer {
	x.timerSeq++
	t := &timer{at: time.Now().Add(d), seq: x.timerSeq, fn: fn}
	heap.Push(&x.timers, t)
	if t.idx == 0 {
		select {
		case x.kick <- struct{}{}:
		default:
		}
	}
	return t
}

// stop cancels t if it has not run. Call with x.mu held; a nil timer is fine.
func (x *Exchange) stop(t *timer) {
	if t != nil && t.idx >= 0 {
		heap.Remove(&x.timers, t.idx)
	}
}

func (x *Exchange) run() {
	defer x.wg.Done()
	tm := time.NewTimer(time.Hour)
	defer tm.Stop()
	for {
		x.mu.Lock()
		now := time.Now()
		for len(x.timers) > 0 && !x.timers[0].at.After(now) {
			t := heap.Pop(&x.timers).(*timer)
			t.fn()
		}
		next := time.Hour
		if len(x.timers) > 0 {
			next = x.timers[0].at.Sub(now)
		}
		x.mu.Unlock()
		tm.Reset(next)
		select {
		case <-x.done:
			return
		case <-x.kick:
		case <-tm.C:
		}
	}
}
