package pstn

import (
	"fmt"
	"strconv"
	"time"
)

// hookState is where the modem is, seen from the line and from the DTE.
type hookState int

const (
	stIdle      hookState = iota // on-hook, command state (it may be ringing: modem.incoming)
	stOffHook                    // off-hook in command state (ATH1, or ATD...; between dial pieces)
	stDialing                    // originating: dialling, then waiting for the far end
	stAnswering                  // answered, training
	stOnline                     // data state
	stOnlineCmd                  // call up, command state after +++ (or DTR drop with &D1)
)

func (s hookState) String() string {
	return [...]string{"idle", "off-hook", "dialing", "answering", "online", "online-command"}[s]
}

// scanState is the command-line scanner: it looks for "AT" (or "A/") and collects to S3.
type scanState int

const (
	scanA scanState = iota
	scanT
	scanLine
)

// profile is the modem's configuration, what &F loads, &W stores and Z restores.
type profile struct {
	echo, quiet, verbose bool
	x, w                 int // X (result set), W (connect message form)
	c, d                 int // &C (DCD), &D (DTR)
	cid                  int // +VCID / #CID
	s                    [256]byte
}

// factory is the &F profile.
func factory() profile {
	p := profile{echo: true, verbose: true, x: 4, c: 1, d: 2}
	p.s[2] = '+' // escape character
	p.s[3] = '\r'
	p.s[4] = '\n'
	p.s[5] = '\b'
	p.s[6] = 2   // wait for dial tone, s
	p.s[7] = 50  // wait for carrier, s
	p.s[8] = 2   // comma pause, s
	p.s[9] = 6   // carrier detect time, 1/10 s (stored only)
	p.s[10] = 14 // carrier loss delay, 1/10 s (stored only)
	p.s[11] = 95 // DTMF duration, ms (stored only)
	p.s[12] = 50 // escape guard time, 1/50 s
	return p
}

// modem is one subscriber's emulated modem. All fields are guarded by x.mu.
type modem struct {
	x      *Exchange
	number string
	port   *Port
	out    *dteBuf // modem -> DTE
	closed bool

	dtr, rts, dsr, dcd, ri, cts bool
	dsrTimer                    *timer

	p, stored profile
	sreg      int // current S register for "ATS?" / "ATS=n"

	scan     scanState
	line     []byte
	overflow bool
	lastLine []byte

	state      hookState
	call       *call // the call this modem takes part in (originating, training, online)
	incoming   *call // the call ringing this modem
	progress   *timer
	dialPrefix string // digits dialled so far with ';'
	lastDialed string

	lastData time.Time // last byte from the DTE in data state, for the escape guard
	escCount int
	escTimer *timer
}

func newModem(x *Exchange, number string) *modem {
	m := &modem{
		x: x, number: number,
		out: newDTEBuf(4 * x.o.MaxBuffered),
		dtr: true, rts: true, dsr: true, cts: true,
		p: factory(),
	}
	m.stored = m.p
	return m
}

func (m *modem) hasDialTone() bool { return !m.x.noTone[m.number] }

func (m *modem) busy() bool { return m.closed || m.state != stIdle || m.incoming != nil }

func (m *modem) guard() time.Duration { return time.Duration(m.p.s[12]) * 20 * time.Millisecond }

// answerAllowed: with &D1..&D3 a modem whose DTR is off does not auto-answer.
func (m *modem) answerAllowed() bool { return m.dtr || m.p.d == 0 }

func (m *modem) crlf() string { return string([]byte{m.p.s[3], m.p.s[4]}) }

// result prints a result code (V.250 §5.7): V1 "<cr><lf>WORD<cr><lf>", V0 "<n><cr>".
func (m *modem) result(r result) {
	if r == resNone {
		return
	}
	m.resultText(int(r), resultWords[r])
}

func (m *modem) resultText(code int, word string) {
	if m.p.quiet {
		return
	}
	if m.p.verbose {
		m.out.put([]byte(m.crlf() + word + m.crlf()))
		return
	}
	m.out.put([]byte(strconv.Itoa(code) + string(m.p.s[3])))
}

// info prints information text (V.250 §5.7.1): V1 "<cr><lf>text<cr><lf>", V0 "text<cr><lf>".
func (m *modem) info(text string) {
	if m.p.verbose {
		m.out.put([]byte(m.crlf() + text + m.crlf()))
		return
	}
	m.out.put([]byte(text + m.crlf()))
}

func (m *modem) connectResult() {
	if m.p.x == 0 {
		m.result(resConnect)
		return
	}
	code, word := connectMessage(m.x.o.ConnectSpeed, m.p.w != 0, m.x.o.BitErrorRate > 0)
	m.resultText(code, word)
}

func (m *modem) setDCD(on bool) { m.dcd = on }

// dropDSR models `nodsr-wait`: DSR goes off for a moment when the modem goes on-hook.
func (m *modem) dropDSR() {
	if m.closed {
		return
	}
	m.dsr = false
	m.x.stop(m.dsrTimer)
	m.dsrTimer = m.x.after(m.x.o.DSRDrop, func() {
		m.dsrTimer = nil
		if !m.closed {
			m.dsr = true
		}
	})
}

// callFailed puts the modem on-hook in command state, printing r (resNone: nothing).
func (m *modem) callFailed(r result) {
	wasOffHook := m.state != stIdle
	m.x.stop(m.progress)
	m.progress = nil
	m.x.stop(m.escTimer)
	m.escTimer = nil
	m.escCount = 0
	m.dialPrefix = ""
	m.state = stIdle
	m.setDCD(false)
	m.scan = scanA
	m.result(r)
	if wasOffHook {
		m.dropDSR()
	}
}

// abortCall ends this modem's call (if any) and goes on-hook printing r; the far modem, if it
// was in the call, loses carrier.
func (m *modem) abortCall(r result) {
	if c := m.call; c != nil {
		peer := c.other(m)
		peerIn := peer.call == c
		m.x.teardown(c)
		if peerIn {
			peer.callFailed(resNoCarrier)
		}
		m.x.log.Info("call ended", "call", c.id, "by", m.number, "state", m.state.String())
	}
	m.callFailed(r)
}

// powerOff is the modem being unplugged: its calls end, it rings no more.
func (m *modem) powerOff() {
	if c := m.incoming; c != nil {
		m.x.teardown(c)
		c.from.callFailed(resNoCarrier)
	}
	m.abortCall(resNone)
	m.x.stop(m.dsrTimer)
	m.dsrTimer = nil
	m.dsr, m.dcd, m.ri, m.cts = false, false, false, false
	m.closed = true
}

// input takes bytes from the DTE. In data state it may stop early when the far side's
// window is full: it returns how much it took and what to wait on before offering the rest.
func (m *modem) input(p []byte, now time.Time) (int, <-chan struct{}, <-chan struct{}) {
	i := 0
	for i < len(p) {
		switch m.state {
		case stOnline:
			n, wait := m.sendData(p[i:], now)
			i += n
			if wait != nil {
				return i, wait, m.call.done
			}
		case stDialing, stAnswering:
			b := p[i]
			i++
			// Any character aborts dialling or answering (Hayes); line-end characters that
			// trail the dial command itself do not.
			if b != m.p.s[3] && b != m.p.s[4] && b != 0 {
				m.x.log.Info("call attempt aborted by DTE", "number", m.number)
				m.abortCall(resNoCarrier)
			}
		default:
			m.commandByte(p[i])
			i++
		}
	}
	return i, nil, nil
}

func (m *modem) commandByte(b byte) {
	if m.p.echo {
		m.out.put([]byte{b})
	}
	switch m.scan {
	case scanA:
		if b|0x20 == 'a' {
			m.scan = scanT
		}
	case scanT:
		switch {
		case b|0x20 == 't':
			m.scan = scanLine
			m.line = m.line[:0]
			m.overflow = false
		case b == '/':
			m.scan = scanA
			m.execute(m.lastLine)
		case b|0x20 == 'a':
		default:
			m.scan = scanA
		}
	case scanLine:
		switch b {
		case m.p.s[3]:
			m.scan = scanA
			if m.overflow {
				m.overflow = false
				m.result(resError)
				return
			}
			m.lastLine = append(m.lastLine[:0], m.line...)
			m.execute(m.lastLine)
		case m.p.s[5]:
			if len(m.line) > 0 {
				m.line = m.line[:len(m.line)-1]
			}
		default:
			if len(m.line) < maxLine {
				m.line = append(m.line, b)
			} else {
				m.overflow = true
			}
		}
	}
}

// execute runs one command line. Commands run left to right; the first failing one stops the
// line with ERROR. D (without ';'), A and O end the line: their result comes from the call.
func (m *modem) execute(line []byte) {
	cmds, err := parseLine(line)
	for _, c := range cmds {
		ok, final := m.run(c)
		if !ok {
			m.result(resError)
			return
		}
		if final {
			return
		}
	}
	if err != nil {
		m.result(resError)
		return
	}
	m.result(resOK)
}

// run executes one command: ok false means ERROR; final means the command printed (or will
// print) the line's result itself.
func (m *modem) run(c command) (ok, final bool) {
	inRange := func(max int) bool { return c.num <= max }
	switch c.prefix {
	case 0:
		switch c.name {
		case "A":
			return m.cmdAnswer()
		case "D":
			return m.cmdDial(c.dial)
		case "B":
			return inRange(1), false
		case "E":
			if !inRange(1) {
				return false, false
			}
			m.p.echo = c.num == 1
		case "H":
			return m.cmdHook(c.num)
		case "I":
			return m.cmdInfo(c.num)
		case "L", "M":
			return inRange(3), false
		case "O":
			if !inRange(1) {
				return false, false
			}
			if m.state != stOnlineCmd {
				m.result(resNoCarrier)
				return true, true
			}
			m.state = stOnline
			m.escCount = 0
			m.lastData = time.Now()
			m.connectResult()
			return true, true
		case "P", "T":
			return !c.hasNum, false
		case "Q":
			if !inRange(1) {
				return false, false
			}
			m.p.quiet = c.num == 1
		case "S":
			return m.cmdRegister(c)
		case "V":
			if !inRange(1) {
				return false, false
			}
			m.p.verbose = c.num == 1
		case "W":
			if !inRange(2) {
				return false, false
			}
			m.p.w = c.num
		case "X":
			if !inRange(4) {
				return false, false
			}
			m.p.x = c.num
		case "Z":
			if !inRange(1) {
				return false, false
			}
			if m.state != stIdle {
				m.abortCall(resNone)
			}
			m.p = m.stored
			m.sreg = 0
		default:
			return false, false
		}
	case '&':
		switch c.name {
		case "C":
			if !inRange(1) {
				return false, false
			}
			m.p.c = c.num
		case "D":
			if !inRange(3) {
				return false, false
			}
			m.p.d = c.num
		case "F":
			if c.num != 0 {
				return false, false
			}
			m.p = factory()
		case "K":
			return inRange(6), false // flow control: the emulated DTE link has none to choose
		case "S":
			return inRange(1), false
		case "W":
			if c.num != 0 {
				return false, false
			}
			m.stored = m.p
		default:
			return false, false
		}
	case '+', '#':
		return m.cmdExtended(c)
	default:
		return false, false
	}
	return true, false
}

func (m *modem) cmdRegister(c command) (bool, bool) {
	reg := c.reg
	if reg < 0 {
		reg = m.sreg
	}
	if reg > 255 {
		return false, false
	}
	m.sreg = reg
	switch c.op {
	case '?':
		m.info(fmt.Sprintf("%03d", m.p.s[reg]))
	case '=':
		if c.num > 255 {
			return false, false
		}
		m.p.s[reg] = byte(c.num)
	}
	return true, false
}

func (m *modem) cmdExtended(c command) (bool, bool) {
	name := string(c.prefix) + c.name
	switch name {
	case "+VCID", "#CID":
		switch c.op {
		case '=':
			if c.num > 1 { // 2 (unformatted) is not emulated
				return false, false
			}
			m.p.cid = c.num
		case '?':
			m.info(strconv.Itoa(m.p.cid))
		case 't':
			if c.prefix == '+' {
				m.info("(0-1)")
			} else {
				m.info("0,1")
			}
		default:
			return false, false
		}
	case "+FCLASS":
		switch c.op {
		case '=':
			return c.num == 0, false // data only: no fax or voice classes
		case '?', 't':
			m.info("0")
		default:
			return false, false
		}
	case "+GMI", "+GMM", "+GMR":
		if c.op != 0 {
			return false, false
		}
		m.info(map[string]string{"+GMI": manufacturer, "+GMM": model, "+GMR": revision}[name])
	default:
		return false, false
	}
	return true, false
}

const (
	manufacturer = "nas"
	model        = "nas simulated V.34 modem"
	revision     = "1.0"
)

func (m *modem) cmdInfo(n int) (bool, bool) {
	switch n {
	case 0:
		m.info("SIMV34")
	case 1:
		m.info("000")
	case 2:
	case 3:
		m.info(model + " " + revision)
	case 4:
		m.info(m.number)
	default:
		return false, false
	}
	return true, false
}

func (m *modem) cmdHook(n int) (bool, bool) {
	switch n {
	case 0:
		if m.state != stIdle {
			m.abortCall(resNone)
		}
	case 1:
		if m.state == stIdle {
			if c := m.incoming; c != nil {
				// Picking up a ringing line without answering as a modem: the caller's modem
				// hears no answer tone.
				m.x.teardown(c)
				c.from.callFailed(resNoCarrier)
			}
			m.state = stOffHook
		}
	default:
		return false, false
	}
	return true, false
}

func (m *modem) cmdAnswer() (bool, bool) {
	switch {
	case m.incoming != nil:
		m.x.answer(m.incoming)
	case m.state == stIdle:
		// Off-hook in answer mode on a line nobody is calling: no carrier to find.
		m.result(resNoCarrier)
	default:
		return false, false
	}
	return true, true
}

func (m *modem) cmdDial(d dialString) (bool, bool) {
	if m.state != stIdle && m.state != stOffHook {
		return false, false
	}
	if m.incoming != nil {
		// Going off-hook to dial picks up the ringing line instead.
		c := m.incoming
		m.x.teardown(c)
		c.from.callFailed(resNoCarrier)
	}
	number := d.number
	if d.redial {
		number = m.lastDialed + number
	}
	if !m.hasDialTone() {
		if m.p.x == 2 || m.p.x == 4 {
			m.callFailed(resNoDialtone)
			return true, true
		}
		// Blind dialling (X0, X1, X3) into a dead line: nothing answers.
		m.state = stDialing
		m.progress = m.x.after(m.x.o.RingPeriod, func() {
			m.progress = nil
			m.callFailed(resNoCarrier)
		})
		return true, true
	}
	if d.semi {
		m.dialPrefix += number
		m.state = stOffHook
		return true, false
	}
	number = m.dialPrefix + number
	m.dialPrefix = ""
	m.lastDialed = number
	m.state = stDialing
	m.x.log.Info("dialing", "number", m.number, "to", number)
	if d.pauses > 0 {
		m.progress = m.x.after(time.Duration(d.pauses)*time.Duration(m.p.s[8])*time.Second, func() {
			m.progress = nil
			m.x.placeCall(m, number)
		})
		return true, true
	}
	m.x.placeCall(m, number)
	return true, true
}

// escapeByte runs the Hayes escape detector on one byte sent in data state: S12 guard time of
// silence, three S2 characters each within the guard time, and S12 of silence after, which
// the timer started here confirms.
func (m *modem) escapeByte(b byte, now time.Time) {
	guard := m.guard()
	esc := m.p.s[2]
	if esc <= 127 && b == esc {
		switch {
		case m.escCount == 0 && now.Sub(m.lastData) >= guard:
			m.escCount = 1
		case m.escCount > 0 && m.escCount < 3 && now.Sub(m.lastData) <= guard:
			m.escCount++
		default:
			m.escCount = 0
		}
	} else {
		m.escCount = 0
	}
	m.lastData = now
	m.x.stop(m.escTimer)
	m.escTimer = nil
	if m.escCount == 3 {
		m.escTimer = m.x.after(guard, func() {
			m.escTimer = nil
			if m.state == stOnline && m.escCount == 3 {
				m.escCount = 0
				m.state = stOnlineCmd
				m.scan = scanA
				m.result(resOK)
			}
		})
	}
}

// sendData transmits what the flow-control window allows; a nil channel means all was sent.
func (m *modem) sendData(p []byte, now time.Time) (int, <-chan struct{}) {
	c := m.call
	peer := c.other(m)
	path := c.path(m)
	buffered, sig := peer.out.pending()
	room := m.x.o.MaxBuffered - buffered - path.inflight
	if room <= 0 {
		return 0, sig
	}
	n := min(room, len(p))
	for _, b := range p[:n] {
		m.escapeByte(b, now)
	}
	m.x.transmit(c, path, peer, p[:n])
	return n, nil
}

// receive takes bytes from the line: to the DTE in data state, lost otherwise.
func (m *modem) receive(b []byte) {
	if m.state == stOnline {
		m.out.put(b)
	}
}

// dtrChanged applies &D when the DTE drops DTR.
func (m *modem) dtrChanged(on bool) {
	if on {
		return
	}
	switch m.p.d {
	case 1:
		if m.state == stOnline {
			m.x.stop(m.escTimer)
			m.escTimer = nil
			m.escCount = 0
			m.state = stOnlineCmd
			m.scan = scanA
			m.result(resOK)
		}
	case 2, 3:
		switch m.state {
		case stIdle:
		case stOffHook:
			m.abortCall(resNone)
		default:
			m.abortCall(resNoCarrier)
		}
		if m.p.d == 3 {
			m.p = m.stored
		}
	}
}
