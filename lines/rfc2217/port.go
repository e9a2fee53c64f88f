// Package rfc2217 owns the remote-serial-port backend of lines.Port: a Telnet Com Port
// Control (RFC 2217) client for a modem on an access server or a ser2net host. It negotiates
// the option, sets speed, framing and flow control, drives DTR, RTS and BREAK, and tracks the
// modem lines from the server's NOTIFY-MODEMSTATE.
package rfc2217

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/lines/serial"
)

// ErrPortGone is lines.ErrPortGone, wrapped by Read and Write once the port is gone for good.
var ErrPortGone = lines.ErrPortGone

// errClosed is what Read and Write return after Close (io.EOF as well as os.ErrClosed).
var errClosed = lines.ErrPortClosed

// Scheme is the prefix of an RFC 2217 port in the line configuration ("rfc2217://host:port").
const Scheme = "rfc2217://"

const (
	defaultHangupDrop = 500 * time.Millisecond
	// defaultAckTimeout bounds the wait for the server's reply to SET-CONTROL (DTR/RTS).
	defaultAckTimeout = 5 * time.Second
	// defaultDialTimeout applies when Dial's context has no deadline of its own.
	defaultDialTimeout = 10 * time.Second
	// probeTimeout bounds the wait for the reply to the DTR-state request at Dial. A server
	// that cannot read DTR may never answer; it then counts as having no modem control.
	probeTimeout = 2 * time.Second
	// maxBuffered is how much received data waits for Read before the connection reader stops
	// reading and TCP flow control pushes back on the server.
	maxBuffered = 64 << 10
)

// Port is a serial port on an RFC 2217 server. It implements lines.Port, lines.ModemControl
// and lines.Breaker.
type Port struct {
	addr string
	name string
	log  *slog.Logger
	conn net.Conn

	hangupDrop time.Duration
	ackTimeout time.Duration

	// wmu keeps each write to the connection whole, so a command never lands inside data.
	wmu sync.Mutex
	// readMu serialises Read.
	readMu sync.Mutex

	dec  decoder // owned by readLoop
	done chan struct{}

	mu             sync.Mutex
	changed        chan struct{} // closed and replaced on every state change
	buf            bytes.Buffer
	rerr           error // terminal error seen by readLoop
	closed         bool
	deadline       time.Time
	opts           [256]optState
	comPortRefused bool
	modemCtl       bool
	modem          lines.ModemStatus
	modemKnown     bool
	suspended      bool // FLOWCONTROL-SUSPEND from the server (RFC 2217 §5)
	writersWaiting int  // Writes blocked by suspension (observed by tests)
	waiters        []*waiter

	noModemOnce sync.Once
}

var (
	_ lines.Port         = (*Port)(nil)
	_ lines.ModemControl = (*Port)(nil)
	_ lines.Breaker      = (*Port)(nil)
)

// optState is one Telnet option's state in each direction, after RFC 1143: "us" is our side
// (WILL/WONT), "him" the server's (DO/DONT); pending means we asked and await the answer,
// so the answer is not answered again (the loop RFC 854 warns about).
type optState struct {
	us, usPending   bool
	him, himPending bool
}

// waiter is a caller waiting for the server's reply to a COM-PORT-OPTION command.
type waiter struct {
	code  byte // reply code: command + serverOffset
	group byte // for SET-CONTROL, the group of the request (controlGroup)
	val   []byte
	done  bool
	// abandoned is set when the caller stopped waiting: the waiter stays queued until then
	// so a late reply is swallowed instead of being taken for the answer to a later request.
	abandoned time.Time
}

// abandonedTTL is how long an abandoned waiter waits for its late reply. A server that never
// answers must not leave a waiter that eats the reply to some later request.
const abandonedTTL = 2 * defaultAckTimeout

// Dial connects to the RFC 2217 server at addr ("host:port" or "rfc2217://host:port"),
// negotiates COM-PORT-OPTION, BINARY and SGA, sets the speed, framing and flow control of m,
// asks for modem-state notifications and probes whether the server can drive DTR. If ctx has
// no deadline, Dial gives up after 10 s.
func Dial(ctx context.Context, addr string, m serial.Mode, log *slog.Logger) (*Port, error) {
	addr = strings.TrimPrefix(addr, Scheme)
	name := Scheme + addr
	m, err := m.Normalize()
	if err != nil {
		return nil, fmt.Errorf("rfc2217 %s: %w", name, err)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("rfc2217 %s: address: %w", name, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultDialTimeout)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("rfc2217 %s: dial: %w", name, err)
	}
	p := newPort(conn, addr, log)
	go p.readLoop()
	if err := p.setup(ctx, m); err != nil {
		p.Close()
		return nil, fmt.Errorf("rfc2217 %s: %w", name, err)
	}
	log.Debug("rfc2217 port open", "port", name, "mode", m.String(), "modem_control", p.HasModemControl())
	return p, nil
}

func newPort(conn net.Conn, addr string, log *slog.Logger) *Port {
	return &Port{
		addr:       addr,
		name:       Scheme + addr,
		log:        log,
		conn:       conn,
		hangupDrop: defaultHangupDrop,
		ackTimeout: defaultAckTimeout,
		done:       make(chan struct{}),
		changed:    make(chan struct{}),
	}
}

// Name returns "rfc2217://host:port".
func (p *Port) Name() string { return p.name }

// HasModemControl reports whether the server drives DTR for us (it answered the DTR-state
// request with a state). When false, ModemStatus, SetDTR, SetRTS and Hangup return errors
// wrapping lines.ErrNoModemControl and the modem driver uses result codes and +++/ATH.
func (p *Port) HasModemControl() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.modemCtl
}

func (p *Port) signalLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// waitUntil waits, under no lock, until cond (called with p.mu held) reports done or an
// error, or ctx ends.
func (p *Port) waitUntil(ctx context.Context, cond func() (bool, error)) error {
	p.mu.Lock()
	for {
		ok, err := cond()
		if ok || err != nil {
			p.mu.Unlock()
			return err
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		p.mu.Lock()
	}
}

// deadLocked returns the error a caller gets once the port is closed or the connection is
// lost, or nil.
func (p *Port) deadLocked(op string) error {
	if p.closed {
		return fmt.Errorf("rfc2217 %s: %s: %w", p.addr, op, errClosed)
	}
	return p.rerr
}

// ---- setup ----

func (p *Port) setup(ctx context.Context, m serial.Mode) error {
	if err := p.requestOptions(); err != nil {
		return err
	}
	// RFC 2217 §1: the client sends WILL COM-PORT-OPTION and the server agrees with DO.
	err := p.waitUntil(ctx, func() (bool, error) {
		switch {
		case p.opts[optComPort].us:
			return true, nil
		case p.comPortRefused:
			return false, errors.New("server refused COM-PORT-OPTION (RFC 2217); is the port configured for telnet(rfc2217)?")
		}
		return false, p.deadLocked("negotiate")
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("no COM-PORT-OPTION agreement from the server (is it an RFC 2217 server?): %w", err)
		}
		return err
	}

	parity, err := parityCode(m.Parity)
	if err != nil {
		return err
	}
	flow, err := flowCode(m.FlowControl)
	if err != nil {
		return err
	}
	stop := stopOne
	if m.StopBits == 2 {
		stop = stopTwo
	}
	var baud [4]byte
	binary.BigEndian.PutUint32(baud[:], uint32(m.Speed))

	type setting struct {
		name  string
		cmd   byte
		value []byte
		want  string
		got   func([]byte) string
	}
	one := func(v []byte) string {
		if len(v) < 1 {
			return "nothing"
		}
		return fmt.Sprint(v[0])
	}
	settings := []setting{
		{"speed", comSetBaudRate, baud[:], fmt.Sprint(m.Speed), func(v []byte) string {
			if len(v) < 4 {
				return "nothing"
			}
			return fmt.Sprint(binary.BigEndian.Uint32(v))
		}},
		{"data-bits", comSetDataSize, []byte{byte(m.DataBits)}, fmt.Sprint(m.DataBits), one},
		{"parity", comSetParity, []byte{parity}, fmt.Sprint(parity), one},
		{"stop-bits", comSetStopSize, []byte{stop}, fmt.Sprint(stop), one},
		{"flowcontrol", comSetControl, []byte{flow}, fmt.Sprint(flow), one},
	}
	// Register every waiter before sending so no reply can be missed, and send the commands
	// in one write: one round trip, whatever order the server answers in (ser2net reorders).
	ws := make([]*waiter, len(settings))
	var out []byte
	for i, s := range settings {
		ws[i] = p.expect(s.cmd, s.value[0])
		out = appendSubneg(out, optComPort, append([]byte{s.cmd}, s.value...)...)
	}
	// SET-MODEMSTATE-MASK (RFC 2217 §4). Not awaited: ser2net 4 does not answer it with 111,
	// it sends a NOTIFY-MODEMSTATE instead when the mask changes.
	out = appendSubneg(out, optComPort, comSetModemMask, modemStateMask)
	if err := p.send(out); err != nil {
		return err
	}
	for i, s := range settings {
		v, err := p.await(ctx, ws[i])
		if err != nil {
			return fmt.Errorf("set %s: %w", s.name, err)
		}
		if got := s.got(v); got != s.want {
			return fmt.Errorf("set %s: server answered %s, asked for %s (the server cannot do mode %s)", s.name, got, s.want, m)
		}
	}
	return p.probeDTR(ctx)
}

// requestOptions asks for COM-PORT-OPTION, BINARY both ways and SGA both ways, skipping any
// the server already offered (its DO/WILL may arrive before our requests go out).
func (p *Port) requestOptions() error {
	p.mu.Lock()
	var out []byte
	for _, o := range []byte{optComPort, optBinary, optSGA} {
		if s := &p.opts[o]; !s.us && !s.usPending {
			s.usPending = true
			out = appendNegotiation(out, cmdWILL, o)
		}
	}
	for _, o := range []byte{optBinary, optSGA} {
		if s := &p.opts[o]; !s.him && !s.himPending {
			s.himPending = true
			out = appendNegotiation(out, cmdDO, o)
		}
	}
	p.mu.Unlock()
	return p.send(out)
}

// probeDTR asks for the DTR state (SET-CONTROL 7, RFC 2217 §3). A server that can drive the
// line answers 8 or 9; ser2net on a pty cannot and echoes 7 (and never answers DTR on/off).
func (p *Port) probeDTR(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	v, err := p.control(pctx, ctlDTRRequest)
	switch {
	case err == nil && (v == ctlDTROn || v == ctlDTROff):
		p.mu.Lock()
		p.modemCtl = true
		p.mu.Unlock()
		if v == ctlDTROff {
			// Like opening a local tty: DTR up, so a modem set to &D2 takes commands.
			return p.SetDTR(true)
		}
		return nil
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("probe DTR: %w", ctx.Err())
	case err != nil && !errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("probe DTR: %w", err)
	}
	reason := "no reply to the DTR-state request"
	if err == nil {
		reason = fmt.Sprintf("DTR-state request answered with %d", v)
	}
	p.noModemControl(reason)
	return nil
}

func (p *Port) noModemControl(reason string) {
	p.mu.Lock()
	p.modemCtl = false
	p.mu.Unlock()
	p.noModemOnce.Do(func() {
		p.log.Warn("line has no modem-control lines; using modem result codes for carrier",
			"port", p.name, "reason", reason)
	})
}

func parityCode(s string) (byte, error) {
	switch s {
	case serial.ParityNone:
		return parityNone, nil
	case serial.ParityOdd:
		return parityOdd, nil
	case serial.ParityEven:
		return parityEven, nil
	case serial.ParityMark:
		return parityMark, nil
	case serial.ParitySpace:
		return paritySpace, nil
	}
	return 0, fmt.Errorf("parity %q not supported", s)
}

func flowCode(s string) (byte, error) {
	switch s {
	case serial.FlowNone:
		return ctlFlowNone, nil
	case serial.FlowSoftware:
		return ctlFlowXonXoff, nil
	case serial.FlowHardware:
		return ctlFlowHardware, nil
	}
	return 0, fmt.Errorf("flowcontrol %q not supported", s)
}

// ---- sending and replies ----

func (p *Port) send(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if _, err := p.conn.Write(b); err != nil {
		return p.writeFailed(err)
	}
	return nil
}

func (p *Port) writeFailed(err error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if dead := p.deadLocked("write"); dead != nil {
		return dead
	}
	return fmt.Errorf("rfc2217 %s: write: %w: %v", p.addr, ErrPortGone, err)
}

// expect registers interest in the reply to command cmd sent with value v.
func (p *Port) expect(cmd, v byte) *waiter {
	w := &waiter{code: cmd + serverOffset}
	if cmd == comSetControl {
		w.group = controlGroup(v)
	}
	p.mu.Lock()
	p.waiters = append(p.waiters, w)
	p.mu.Unlock()
	return w
}

// await waits for w's reply.
func (p *Port) await(ctx context.Context, w *waiter) ([]byte, error) {
	err := p.waitUntil(ctx, func() (bool, error) {
		if w.done {
			return true, nil
		}
		return false, p.deadLocked("await reply")
	})
	if err != nil {
		p.forget(w)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("no reply from the server: %w", err)
		}
		return nil, err
	}
	return w.val, nil
}

// forget marks a waiter whose reply is no longer wanted; see waiter.abandoned.
func (p *Port) forget(w *waiter) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !w.done {
		w.abandoned = time.Now()
	}
}

// control sends SET-CONTROL v and returns the value the server answers with.
func (p *Port) control(ctx context.Context, v byte) (byte, error) {
	w := p.expect(comSetControl, v)
	if err := p.send(appendSubneg(nil, optComPort, comSetControl, v)); err != nil {
		p.forget(w)
		return 0, err
	}
	val, err := p.await(ctx, w)
	if err != nil {
		return 0, err
	}
	if len(val) < 1 {
		return 0, errors.New("empty SET-CONTROL reply")
	}
	return val[0], nil
}

// ---- the connection reader ----

func (p *Port) readLoop() {
	defer close(p.done)
	in := make([]byte, 4096)
	var data []byte
	var evs []event
	for {
		n, err := p.conn.Read(in)
		if n > 0 {
			p.mu.Lock()
			p.dec.nvt = !p.opts[optBinary].him
			p.mu.Unlock()
			data, evs = p.dec.decode(in[:n], data[:0], evs[:0])
			for _, ev := range evs {
				p.handle(ev)
			}
			if len(data) > 0 && !p.deliver(data) {
				return
			}
		}
		if err != nil {
			p.lost(err)
			return
		}
	}
}

// deliver queues data for Read, waiting while the queue is full. It reports false once the
// port is closed.
func (p *Port) deliver(data []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.buf.Len() >= maxBuffered && !p.closed {
		ch := p.changed
		p.mu.Unlock()
		<-ch
		p.mu.Lock()
	}
	if p.closed {
		return false
	}
	p.buf.Write(data)
	p.signalLocked()
	return true
}

func (p *Port) lost(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rerr == nil {
		if p.closed {
			p.rerr = fmt.Errorf("rfc2217 %s: read: %w", p.addr, errClosed)
		} else {
			p.rerr = fmt.Errorf("rfc2217 %s: %w: %v", p.addr, ErrPortGone, err)
			p.log.Warn("rfc2217 connection lost", "port", p.name, "err", err)
		}
	}
	p.signalLocked()
}

func (p *Port) handle(ev event) {
	switch ev.kind {
	case evNegotiation:
		p.mu.Lock()
		reply := p.negotiateLocked(ev.verb, ev.option)
		p.signalLocked()
		p.mu.Unlock()
		p.send(reply) // a failure shows up as a read error too
	case evSubneg:
		if ev.option == optComPort {
			p.comPort(ev.data)
		}
	case evCommand:
		// NOP, DM, GA, AYT and the rest mean nothing to a serial stream.
		p.log.Debug("rfc2217 telnet command ignored", "port", p.name, "command", ev.verb)
	}
}

func wanted(verb, opt byte) bool {
	switch verb {
	case cmdDO, cmdDONT: // about our side
		return opt == optComPort || opt == optBinary || opt == optSGA
	default: // WILL/WONT, about the server's side
		return opt == optBinary || opt == optSGA
	}
}

// negotiateLocked applies one WILL/WONT/DO/DONT and returns the reply to send, if any
// (RFC 854 option negotiation, with RFC 1143's rule: never answer an answer).
func (p *Port) negotiateLocked(verb, opt byte) []byte {
	s := &p.opts[opt]
	switch verb {
	case cmdDO:
		if !wanted(verb, opt) {
			return appendNegotiation(nil, cmdWONT, opt)
		}
		pending := s.usPending
		s.usPending = false
		if !s.us {
			s.us = true
			if !pending {
				return appendNegotiation(nil, cmdWILL, opt)
			}
		}
	case cmdDONT:
		if opt == optComPort {
			p.comPortRefused = true
		}
		if s.us || s.usPending {
			pending := s.usPending
			s.us, s.usPending = false, false
			if !pending {
				return appendNegotiation(nil, cmdWONT, opt)
			}
		}
	case cmdWILL:
		if !wanted(verb, opt) {
			return appendNegotiation(nil, cmdDONT, opt)
		}
		pending := s.himPending
		s.himPending = false
		if !s.him {
			s.him = true
			if !pending {
				return appendNegotiation(nil, cmdDO, opt)
			}
		}
	case cmdWONT:
		if s.him || s.himPending {
			pending := s.himPending
			s.him, s.himPending = false, false
			if !pending {
				return appendNegotiation(nil, cmdDONT, opt)
			}
		}
	}
	return nil
}

// comPort handles one COM-PORT-OPTION subnegotiation from the server.
func (p *Port) comPort(data []byte) {
	if len(data) == 0 {
		return
	}
	code, val := data[0], data[1:]
	switch code {
	case comNotifyModemState + serverOffset:
		if len(val) < 1 {
			return
		}
		ms := lines.ModemStatus{
			DCD: val[0]&msCD != 0,
			RI:  val[0]&msRI != 0,
			DSR: val[0]&msDSR != 0,
			CTS: val[0]&msCTS != 0,
		}
		p.mu.Lock()
		p.modem, p.modemKnown = ms, true
		p.signalLocked()
		p.mu.Unlock()
		p.log.Debug("rfc2217 modem state", "port", p.name, "dcd", ms.DCD, "dsr", ms.DSR, "cts", ms.CTS, "ri", ms.RI)
	case comNotifyLineState + serverOffset:
		if len(val) > 0 && val[0]&lsErrors != 0 {
			p.log.Debug("rfc2217 line state", "port", p.name, "state", val[0])
		}
	case comFlowSuspend + serverOffset, comFlowResume + serverOffset:
		// RFC 2217 §5: the server asks us to stop (or resume) sending.
		p.mu.Lock()
		p.suspended = code == comFlowSuspend+serverOffset
		p.signalLocked()
		p.mu.Unlock()
	case comSignature + serverOffset:
		if len(val) == 0 {
			// An empty SIGNATURE is the server asking for ours (RFC 2217 §2).
			p.send(appendSubneg(nil, optComPort, append([]byte{comSignature}, "nas"...)...))
			return
		}
		p.log.Debug("rfc2217 server signature", "port", p.name, "signature", string(val))
	default:
		if code < serverOffset {
			return // client-direction codes mean nothing coming from a server
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		now := time.Now()
		p.waiters = slices.DeleteFunc(p.waiters, func(w *waiter) bool {
			return !w.abandoned.IsZero() && now.Sub(w.abandoned) > abandonedTTL
		})
		for i, w := range p.waiters {
			if w.code != code {
				continue
			}
			if code == comSetControl+serverOffset && (len(val) < 1 || controlGroup(val[0]) != w.group) {
				continue
			}
			w.val, w.done = append([]byte(nil), val...), true
			p.waiters = slices.Delete(p.waiters, i, i+1)
			p.signalLocked()
			return
		}
	}
}

// ---- lines.Port ----

// SetReadDeadline sets the time after which Read fails with an error wrapping
// os.ErrDeadlineExceeded; it also moves the deadline of a Read in progress. Zero means none.
func (p *Port) SetReadDeadline(t time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("rfc2217 %s: set read deadline: %w", p.addr, errClosed)
	}
	p.deadline = t
	p.signalLocked()
	return nil
}

// Read returns received data. Data that arrived before the connection was lost is returned
// before the error.
func (p *Port) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	p.readMu.Lock()
	defer p.readMu.Unlock()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	p.mu.Lock()
	for {
		if p.closed {
			p.mu.Unlock()
			return 0, fmt.Errorf("rfc2217 %s: read: %w", p.addr, errClosed)
		}
		if p.buf.Len() > 0 {
			full := p.buf.Len() >= maxBuffered
			n, _ := p.buf.Read(b)
			if full {
				p.signalLocked() // wake the connection reader
			}
			p.mu.Unlock()
			return n, nil
		}
		if p.rerr != nil {
			err := p.rerr
			p.mu.Unlock()
			return 0, err
		}
		dl, ch := p.deadline, p.changed
		p.mu.Unlock()
		var expired <-chan time.Time
		if !dl.IsZero() {
			left := time.Until(dl)
			if left <= 0 {
				return 0, fmt.Errorf("rfc2217 %s: read: %w", p.addr, os.ErrDeadlineExceeded)
			}
			if timer == nil {
				timer = time.NewTimer(left)
			} else {
				timer.Reset(left)
			}
			expired = timer.C
		}
		select {
		case <-ch:
		case <-expired:
		}
		p.mu.Lock()
	}
}

// Write sends b, doubling IAC bytes. It waits while the server has asked us to suspend.
func (p *Port) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var nvt bool
	p.mu.Lock()
	waiting := false
	for {
		if err := p.deadLocked("write"); err != nil {
			if waiting {
				p.writersWaiting--
			}
			p.mu.Unlock()
			return 0, err
		}
		if !p.suspended {
			break
		}
		if !waiting {
			waiting = true
			p.writersWaiting++
			p.signalLocked()
		}
		ch := p.changed
		p.mu.Unlock()
		<-ch
		p.mu.Lock()
	}
	if waiting {
		p.writersWaiting--
	}
	nvt = !p.opts[optBinary].us
	p.mu.Unlock()
	if err := p.send(appendData(make([]byte, 0, len(b)+8), b, nvt)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// ---- lines.ModemControl and lines.Breaker ----

func (p *Port) noModemError(op string) error {
	return fmt.Errorf("rfc2217 %s: %s: %w", p.addr, op, lines.ErrNoModemControl)
}

func (p *Port) checkModem(op string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.deadLocked(op); err != nil {
		return err
	}
	if !p.modemCtl {
		return p.noModemError(op)
	}
	return nil
}

// SetDTR switches DTR through SET-CONTROL 8/9 and waits for the server to confirm.
func (p *Port) SetDTR(on bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), p.ackTimeout)
	defer cancel()
	return p.setLine(ctx, "set DTR", on, ctlDTROn, ctlDTROff)
}

// SetRTS switches RTS through SET-CONTROL 11/12 and waits for the server to confirm.
func (p *Port) SetRTS(on bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), p.ackTimeout)
	defer cancel()
	return p.setLine(ctx, "set RTS", on, ctlRTSOn, ctlRTSOff)
}

func (p *Port) setLine(ctx context.Context, op string, on bool, onCode, offCode byte) error {
	if err := p.checkModem(op); err != nil {
		return err
	}
	want := offCode
	if on {
		want = onCode
	}
	got, err := p.control(ctx, want)
	if err != nil {
		return fmt.Errorf("rfc2217 %s: %s %v: %w", p.addr, op, on, err)
	}
	if got != want {
		return fmt.Errorf("rfc2217 %s: %s %v: server answered SET-CONTROL %d, asked for %d", p.addr, op, on, got, want)
	}
	return nil
}

// ModemStatus returns DCD, DSR, CTS and RI as of the server's last NOTIFY-MODEMSTATE.
// RFC 2217 has no request for the modem state: the server sends it when a bit under the
// SET-MODEMSTATE-MASK changes (and ser2net also once when the option is agreed).
func (p *Port) ModemStatus() (lines.ModemStatus, error) {
	const op = "modem status"
	if err := p.checkModem(op); err != nil {
		return lines.ModemStatus{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.modemKnown {
		return lines.ModemStatus{}, fmt.Errorf("rfc2217 %s: %s: server has sent no NOTIFY-MODEMSTATE: %w",
			p.addr, op, lines.ErrNoModemControl)
	}
	return p.modem, nil
}

// Hangup drops DTR for about half a second, then raises it again. Without modem control it
// returns an error wrapping lines.ErrNoModemControl so the modem driver hangs up in-band.
func (p *Port) Hangup(ctx context.Context) error {
	if err := p.checkModem("hangup"); err != nil {
		return err
	}
	dropErr := p.setLine(ctx, "hangup: drop DTR", false, ctlDTROn, ctlDTROff)
	if dropErr != nil && ctx.Err() == nil {
		return dropErr
	}
	if dropErr == nil {
		t := time.NewTimer(p.hangupDrop)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	// Raise DTR even when the caller gave up: a line left with DTR low answers no calls.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.ackTimeout)
	defer cancel()
	if err := p.setLine(rctx, "hangup: raise DTR", true, ctlDTROn, ctlDTROff); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rfc2217 %s: hangup: %w", p.addr, err)
	}
	return nil
}

// Break sends SET-CONTROL BREAK ON, waits d, then BREAK OFF (RFC 2217 §3). The replies are
// not checked: ser2net answers BREAK OFF with the BREAK ON value.
func (p *Port) Break(d time.Duration) error {
	p.mu.Lock()
	err := p.deadLocked("break")
	p.mu.Unlock()
	if err != nil {
		return err
	}
	if err := p.send(appendSubneg(nil, optComPort, comSetControl, ctlBreakOn)); err != nil {
		return err
	}
	time.Sleep(d)
	return p.send(appendSubneg(nil, optComPort, comSetControl, ctlBreakOff))
}

// Close closes the connection and waits for the connection reader to stop. A Read in
// progress returns an error wrapping io.EOF.
func (p *Port) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.done
		return nil
	}
	p.closed = true
	p.signalLocked()
	p.mu.Unlock()
	err := p.conn.Close()
	<-p.done
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("rfc2217 %s: close: %w", p.addr, err)
	}
	return nil
}
