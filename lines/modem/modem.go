// Package modem owns the Hayes AT dialogue with one line's modem: waking and initialising it,
// answering calls (modem auto-answer or ATA after n RINGs, with caller ID), dialling through a
// chat script, hanging up by DTR drop or escape sequence, and watching carrier while a call is
// up so that the session above sees a plain data stream that ends with ErrCarrierLost.
package modem

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/lines/chat"
)

// Errors a caller can test for with errors.Is.
var (
	// ErrCarrierLost: the call ended from the far side (DCD dropped or the modem said
	// NO CARRIER in the data stream).
	ErrCarrierLost = errors.New("carrier lost")
	// ErrHungUp: the call was ended by Hangup (or a Reset) on this side.
	ErrHungUp = errors.New("call hung up")
	ErrBusy   = errors.New("line busy")
	// ErrNoAnswer: the called number rang but nobody answered.
	ErrNoAnswer = errors.New("no answer")
	// ErrNoCarrier: the modems did not agree on a carrier (or the modem gave up waiting).
	ErrNoCarrier  = errors.New("no carrier")
	ErrNoDialtone = errors.New("no dial tone")
	// ErrNoResponse: the modem did not answer a command in time.
	ErrNoResponse = errors.New("modem does not respond")
	// ErrCommand: the modem answered a command with ERROR.
	ErrCommand = errors.New("modem replied ERROR")
	// ErrCallActive: Answer or Dial while a call is still up; hang up first.
	ErrCallActive = errors.New("a call is already up on this modem")
)

// Defaults for the zero fields of Options.
const (
	DefaultCommandTimeout = 3 * time.Second
	// DefaultGuardTime is the escape guard of S12=50 (fiftieths of a second), the Hayes and
	// V.250 §6.2.13 factory value.
	DefaultGuardTime = time.Second
	// DefaultConnectTimeout covers the S7 wait for carrier (V.250 §6.3.9 leaves its default to
	// the manufacturer; most use 50 s) plus the time the modem takes to report.
	DefaultConnectTimeout = 60 * time.Second
	// DefaultRingGap: in the North American and European cadences a RING comes every 5-6 s,
	// so 10 s without one means the caller gave up and the ring count starts over.
	DefaultRingGap     = 10 * time.Second
	DefaultCarrierPoll = 100 * time.Millisecond
	DefaultHoldBack    = 50 * time.Millisecond
)

// Answer and Hangup modes.
const (
	AnswerAuto   = "auto"
	AnswerRing   = "ring"
	HangupDTR    = "dtr"
	HangupEscape = "escape"
)

// Options say how to drive the modem. Zero fields take the defaults above.
type Options struct {
	// Init is the init string sent after ATZ, e.g. "AT&F E0 V1 S0=0 &C1 &D2". "AT" is added in
	// front when missing. Empty sends nothing.
	Init string
	// Answer is "auto" (the modem answers by itself after S0 rings; wait for CONNECT) or
	// "ring" (send ATA after AnswerRings RINGs; the default). In auto mode Reset sets
	// S0=AnswerRings unless the init string sets S0 itself. Caller ID arrives between the
	// first and second RING, so it needs AnswerRings (or S0) of 2 or more.
	Answer      string
	AnswerRings int // default 1
	// Hangup is "dtr" (Port.Hangup, which drops DTR), "escape" (guard, "+++", guard, ATH), or
	// empty: dtr when the port has lines.ModemControl, else escape; and escape when the port
	// fails to drop DTR.
	Hangup         string
	CommandTimeout time.Duration // per AT command, default 3 s
	GuardTime      time.Duration // +++ guard, default 1 s
	// CallerID sends AT+VCID=1 (V.253 §9.2.3; AT#CID=1 on older Rockwell chips) at reset.
	CallerID bool
	// ConnectTimeout bounds ATA to CONNECT, default 60 s.
	ConnectTimeout time.Duration
	// RingGap is how long without a RING ends a ring series (the caller gave up), default 10 s.
	RingGap time.Duration
	// CarrierPoll is how often DCD is read during a call on a port with modem control,
	// default 100 ms.
	CarrierPoll time.Duration
	// HoldBack is the longest time the data stream holds back bytes that could be the start
	// of "\r\nNO CARRIER\r\n" (ports without modem control), default 50 ms. It is a latency
	// bound only: detection still works when the hold is released.
	HoldBack time.Duration
	// Chat holds the timings of Dial's chat script (zero fields: the IOS defaults).
	Chat chat.Timing
	Log  *slog.Logger
}

// withDefaults fills in zero fields. Unknown modes are the configuration checker's to
// reject; here they take the default rather than fail at the first call.
func (o Options) withDefaults(hasMC bool) Options {
	if o.Answer = strings.ToLower(o.Answer); o.Answer != AnswerAuto {
		o.Answer = AnswerRing
	}
	if o.AnswerRings <= 0 {
		o.AnswerRings = 1
	}
	if o.Hangup = strings.ToLower(o.Hangup); o.Hangup != HangupDTR && o.Hangup != HangupEscape {
		o.Hangup = HangupEscape
		if hasMC {
			o.Hangup = HangupDTR
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.CommandTimeout, DefaultCommandTimeout)
	def(&o.GuardTime, DefaultGuardTime)
	def(&o.ConnectTimeout, DefaultConnectTimeout)
	def(&o.RingGap, DefaultRingGap)
	def(&o.CarrierPoll, DefaultCarrierPoll)
	def(&o.HoldBack, DefaultHoldBack)
	return o
}

// CallerID is what the modem reported between the first and second RING. Fields are as the
// modem printed them ("0321", "1405", "5551234"; "P" or "O" for private or unavailable).
type CallerID struct {
	Number, Name, Date, Time string
}

func (c *CallerID) set(field, value string) {
	switch field {
	case "NMBR":
		c.Number = value
	case "DDN_NMBR":
		if c.Number == "" {
			c.Number = value
		}
	case "NAME":
		c.Name = value
	case "DATE":
		c.Date = value
	case "TIME":
		c.Time = value
	}
}

// Call describes a connected call.
type Call struct {
	Connect  string // the CONNECT line, blanks collapsed: "CONNECT 33600/V34"
	Speed    int    // bit/s, 0 when the modem did not say
	Protocol string // "V34", "ARQ/V34/LAPM", "" when the modem did not say
	CallerID CallerID
	Rings    int // RINGs seen before the call connected (0 for a dialled call)
}

// Modem drives one modem. Its methods are for one goroutine at a time (the line's), except
// that Hangup may be called while another goroutine is reading or writing the DataConn.
type Modem struct {
	p   lines.Port
	mc  lines.ModemControl
	o   Options
	log *slog.Logger // with the port's name
	// chatLog is the logger without the port's name, which chat adds itself.
	chatLog *slog.Logger
	r       *portReader
	// hangupAuto: Options.Hangup was empty, so a port that cannot drop DTR falls back to escape.
	hangupAuto bool

	rbuf []byte // bytes read in command mode, not yet taken as a line

	mu   sync.Mutex // guards data
	data *DataConn
}

// New returns a driver for the modem on p. It does not touch the port until a method is called.
func New(p lines.Port, o Options) *Modem {
	mc, _ := lines.ModemControlOf(p)
	h := strings.ToLower(o.Hangup)
	auto := h != HangupDTR && h != HangupEscape
	o = o.withDefaults(mc != nil)
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Modem{
		p: p, mc: mc, o: o, log: log.With("port", p.Name()), chatLog: log,
		r: &portReader{p: p}, hangupAuto: auto,
	}
}

// Data returns the data stream of the current call, or nil before the first CONNECT. After
// the call ends it keeps returning the ended stream (whose Read says why) until the next call.
func (m *Modem) Data() *DataConn {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.data
}

// Reset brings the modem to a known command state: wake it (AT until OK, then escape and try
// again, in case it is still in a call), ATZ, the init string, S0 for auto answer, and caller
// ID if asked for. A call in progress is hung up first.
func (m *Modem) Reset(ctx context.Context) error {
	if dc := m.Data(); dc != nil && dc.Err() == nil {
		if err := m.Hangup(ctx); err != nil {
			m.log.Warn("hang-up before reset failed", "err", err)
		}
	}
	if err := m.wake(ctx); err != nil {
		return err
	}
	if err := m.expectOK(ctx, "ATZ"); err != nil {
		return err
	}
	if init := strings.TrimSpace(m.o.Init); init != "" {
		if !strings.HasPrefix(strings.ToUpper(init), "AT") {
			init = "AT" + init
		}
		if err := m.expectOK(ctx, init); err != nil {
			return fmt.Errorf("init string %q: %w", m.o.Init, err)
		}
	}
	if m.o.Answer == AnswerAuto && !setsS0(m.o.Init) {
		if err := m.expectOK(ctx, "ATS0="+strconv.Itoa(m.o.AnswerRings)); err != nil {
			return err
		}
	}
	if m.o.CallerID {
		err := m.expectOK(ctx, "AT+VCID=1")
		if errors.Is(err, ErrCommand) {
			err = m.expectOK(ctx, "AT#CID=1")
		}
		if err != nil {
			return fmt.Errorf("enable caller ID (AT+VCID=1, AT#CID=1): %w", err)
		}
	}
	if strings.Contains(strings.ToUpper(strings.ReplaceAll(m.o.Init, " ", "")), "V0") {
		m.log.Warn("init string selects numeric result codes (V0): CONNECT codes above 10 are " +
			"vendor-specific and not recognised; use V1 or X0")
	}
	m.log.Debug("modem reset", "init", m.o.Init)
	return nil
}

// setsS0 reports whether an init string sets register S0 (auto-answer ring count).
func setsS0(init string) bool {
	s := strings.ToUpper(strings.ReplaceAll(init, " ", ""))
	for i := strings.Index(s, "S0"); i >= 0; {
		rest := s[i+2:]
		// "S0=" sets it; "S01=" is another register.
		if strings.HasPrefix(rest, "=") {
			return true
		}
		j := strings.Index(rest, "S0")
		if j < 0 {
			break
		}
		i += 2 + j
	}
	return false
}

// wake sends AT until the modem answers OK. A modem left in a call (data mode) ignores AT, so
// the third try is preceded by the escape sequence.
func (m *Modem) wake(ctx context.Context) error {
	timeout := min(m.o.CommandTimeout, time.Second)
	const tries = 4
	for i := range tries {
		if i == tries/2 {
			if err := m.escape(ctx); err != nil {
				return err
			}
		}
		r, err := m.command(ctx, "AT", timeout, false)
		if err == nil && r == OK {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("wake modem on %s: %w", m.p.Name(), ctx.Err())
		}
		m.log.Debug("no OK to AT", "try", i+1, "result", r, "err", err)
		if err := m.drain(ctx); err != nil {
			return err
		}
	}
	return fmt.Errorf("modem on %s does not answer AT: %w", m.p.Name(), ErrNoResponse)
}

// expectOK sends cmd and wants OK.
func (m *Modem) expectOK(ctx context.Context, cmd string) error {
	r, err := m.command(ctx, cmd, m.o.CommandTimeout, false)
	if err != nil {
		return err
	}
	if r != OK {
		return fmt.Errorf("modem on %s: %s: %w", m.p.Name(), cmd, resultErr(r))
	}
	return nil
}

// command writes cmd and returns its final result code. For ordinary commands only OK and
// ERROR end the wait: a NO CARRIER or CONNECT then is left over from a call and is skipped.
// For a call command (ATA, ATD) every final code ends it.
func (m *Modem) command(ctx context.Context, cmd string, timeout time.Duration, call bool) (Result, error) {
	r, _, _, _, err := m.commandLine(ctx, cmd, timeout, call)
	return r, err
}

func (m *Modem) commandLine(ctx context.Context, cmd string, timeout time.Duration, call bool) (Result, ResultInfo, string, bool, error) {
	if _, err := m.p.Write([]byte(cmd + "\r")); err != nil {
		return Unknown, ResultInfo{}, "", false, fmt.Errorf("write %q to modem on %s: %w", cmd, m.p.Name(), err)
	}
	deadline := time.Now().Add(timeout)
	for {
		line, cr, err := m.readLine(ctx, deadline)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				err = fmt.Errorf("modem on %s: no reply to %s within %v: %w", m.p.Name(), cmd, timeout, ErrNoResponse)
			} else {
				err = fmt.Errorf("modem on %s: waiting for reply to %s: %w", m.p.Name(), cmd, err)
			}
			return Unknown, ResultInfo{}, "", false, err
		}
		r, info, ok := ParseResult(line)
		switch {
		case !ok:
			if !isEcho(line) {
				m.log.Debug("modem line ignored", "cmd", cmd, "line", line)
			}
		case r == OK || r == Error:
			return r, info, line, cr, nil
		case call && r.Final():
			return r, info, line, cr, nil
		default:
			m.log.Debug("result ignored", "cmd", cmd, "line", line)
		}
	}
}

// isEcho reports whether a line is the modem echoing a command (E1).
func isEcho(line string) bool {
	s := strings.ToUpper(strings.TrimSpace(line))
	return strings.HasPrefix(s, "AT") || strings.HasPrefix(s, "+++")
}

// resultErr maps a final result code other than OK and CONNECT to its sentinel error.
func resultErr(r Result) error {
	switch r {
	case Busy:
		return ErrBusy
	case NoAnswer:
		return ErrNoAnswer
	case NoCarrier:
		return ErrNoCarrier
	case NoDialtone:
		return ErrNoDialtone
	case Error:
		return ErrCommand
	}
	return fmt.Errorf("unexpected result %v", r)
}

// maxLine bounds a line without CR or LF; longer runs of noise are cut into lines this long.
const maxLine = 256

// readLine returns the next non-blank line from the modem, and whether it ended in CR (so that
// the LF of a CR LF pair may still be on its way).
func (m *Modem) readLine(ctx context.Context, deadline time.Time) (string, bool, error) {
	var buf [128]byte
	for {
		if line, cr, ok := m.takeLine(); ok {
			return line, cr, nil
		}
		n, err := m.r.read(ctx, buf[:], deadline, false)
		m.rbuf = append(m.rbuf, buf[:n]...)
		if err != nil && n == 0 {
			return "", false, err
		}
	}
}

func (m *Modem) takeLine() (string, bool, bool) {
	for {
		i := strings.IndexAny(string(m.rbuf), "\r\n")
		if i < 0 {
			if len(m.rbuf) >= maxLine {
				line := string(m.rbuf[:maxLine])
				m.rbuf = m.rbuf[maxLine:]
				return line, false, true
			}
			return "", false, false
		}
		line, cr := string(m.rbuf[:i]), m.rbuf[i] == '\r'
		m.rbuf = m.rbuf[i+1:]
		if strings.TrimSpace(line) != "" {
			return line, cr, true
		}
	}
}

// drain discards input until the modem has been quiet for a moment, so that a late reply to
// a timed-out command is not taken as the reply to the next one.
func (m *Modem) drain(ctx context.Context) error {
	m.rbuf = nil
	quiet := min(m.o.CommandTimeout/4, 100*time.Millisecond)
	var buf [256]byte
	for {
		n, err := m.r.read(ctx, buf[:], time.Now().Add(quiet), false)
		if ctx.Err() != nil {
			return fmt.Errorf("modem on %s: %w", m.p.Name(), ctx.Err())
		}
		if n == 0 || err != nil {
			return nil
		}
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// escape returns a modem in a call to command mode: silence for the guard time, "+++",
// silence again (Hayes escape with guard time, S2/S12; V.250 §6.2.13 leaves the method to the
// manufacturer). It does not fail when the modem says nothing: it may already be in command mode.
func (m *Modem) escape(ctx context.Context) error {
	if err := sleep(ctx, m.o.GuardTime); err != nil {
		return fmt.Errorf("escape on %s: %w", m.p.Name(), err)
	}
	if _, err := m.p.Write([]byte("+++")); err != nil {
		return fmt.Errorf("write escape to modem on %s: %w", m.p.Name(), err)
	}
	deadline := time.Now().Add(m.o.GuardTime + m.o.CommandTimeout)
	for {
		line, _, err := m.readLine(ctx, deadline)
		if ctx.Err() != nil {
			return fmt.Errorf("escape on %s: %w", m.p.Name(), ctx.Err())
		}
		if err != nil {
			m.log.Debug("no OK after escape; modem may already be in command mode", "err", err)
			return nil
		}
		if r, _, ok := ParseResult(line); ok && r == OK {
			return nil
		}
	}
}

// Hangup ends the call: DTR drop through Port.Hangup, or the escape sequence and ATH, as
// Options.Hangup says. It stops the DataConn first (its readers get ErrHungUp) and checks
// that the modem is back in command mode with AT.
func (m *Modem) Hangup(ctx context.Context) error {
	m.mu.Lock()
	dc := m.data
	m.mu.Unlock()
	// Only a call still up needs "+++": after carrier loss, a hang-up or a failed answer the
	// modem is in command mode already, and the escape would only cost guard times.
	inCall := false
	if dc != nil {
		inCall = dc.Err() == nil
		dc.end(ErrHungUp, "hangup")
		dc.wait()
	}
	m.rbuf = nil
	method := m.o.Hangup
	if method == HangupDTR {
		err := m.p.Hangup(ctx)
		if err != nil {
			if m.hangupAuto {
				m.log.Warn("DTR hang-up failed; using escape", "err", err)
				method = HangupEscape
			} else {
				return fmt.Errorf("hang up %s by DTR: %w", m.p.Name(), err)
			}
		}
	}
	if method == HangupEscape {
		if inCall {
			if err := m.escape(ctx); err != nil {
				return err
			}
		}
		if err := m.expectOK(ctx, "ATH"); err != nil {
			return fmt.Errorf("hang up %s: %w", m.p.Name(), err)
		}
	}
	// After a DTR drop the modem may need a moment (and may say NO CARRIER first).
	var err error
	for range 3 {
		if err = m.expectOK(ctx, "AT"); err == nil {
			m.log.Debug("hung up", "method", method)
			return nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("hang up %s: modem not back in command mode: %w", m.p.Name(), err)
}
