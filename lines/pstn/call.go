package pstn

import (
	"bytes"
	"math"
	"strconv"
	"time"
)

type callState int

const (
	callRinging callState = iota
	callTraining
	callUp
	callOver
)

// call is one connection through the exchange, from the calling modem to the called one.
type call struct {
	id       uint64
	from, to *modem
	state    callState
	rings    int
	tick     *timer // next ring, no-answer, or end of training
	half     *timer // mid-ring: RI off, caller ID after the first ring
	done     chan struct{}
	paths    [2]path // [0] from->to, [1] to->from
}

// path is one direction of the data path.
type path struct {
	inflight int   // bytes delayed by Latency, not yet at the far DTE buffer
	skip     int64 // error-free bits before the next bit error
	primed   bool
}

func (c *call) other(m *modem) *modem {
	if m == c.from {
		return c.to
	}
	return c.from
}

func (c *call) path(m *modem) *path {
	if m == c.from {
		return &c.paths[0]
	}
	return &c.paths[1]
}

// placeCall routes a dialled number: intercept, busy, or ringing the called line.
func (x *Exchange) placeCall(m *modem, number string) {
	to, ok := x.lines[number]
	switch {
	case !ok:
		// Unallocated number: the exchange plays intercept; a data modem hears no carrier
		// and gives up after about one ring period.
		x.log.Info("call to unknown number", "from", m.number, "to", number)
		m.progress = x.after(x.o.RingPeriod, func() {
			m.progress = nil
			m.callFailed(resNoCarrier)
		})
	case to.busy() || to == m:
		x.log.Info("called line busy", "from", m.number, "to", number)
		if m.p.x >= 3 {
			m.callFailed(resBusy)
		} else {
			m.callFailed(resNoCarrier)
		}
	default:
		x.callSeq++
		c := &call{id: x.callSeq, from: m, to: to, done: make(chan struct{})}
		m.call = c
		to.incoming = c
		x.log.Info("call ringing", "call", c.id, "from", m.number, "to", number)
		// S7: the caller gives up waiting for carrier.
		m.progress = x.after(time.Duration(max(m.p.s[7], 1))*time.Second, func() {
			m.progress = nil
			m.abortCall(resNoCarrier)
		})
		x.ring(c)
	}
}

// ring rings the called line once and schedules what comes next.
func (x *Exchange) ring(c *call) {
	to := c.to
	c.rings++
	to.p.s[1] = byte(min(c.rings, 255))
	to.ri = true
	to.result(resRing)
	first := c.rings == 1
	c.half = x.after(x.o.RingPeriod/2, func() {
		c.half = nil
		to.ri = false
		if first && to.p.cid == 1 {
			to.callerID(c)
		}
	})
	if s0 := int(to.p.s[0]); s0 > 0 && c.rings >= s0 && to.answerAllowed() {
		x.answer(c)
		return
	}
	c.tick = x.after(x.o.RingPeriod, func() {
		c.tick = nil
		if c.rings >= x.o.NoAnswerRings {
			x.log.Info("call not answered", "call", c.id, "rings", c.rings)
			x.teardown(c)
			if c.from.p.x >= 3 {
				c.from.callFailed(resNoAnswer)
			} else {
				c.from.callFailed(resNoCarrier)
			}
			return
		}
		x.ring(c)
	})
}

// callerID prints the formatted caller-ID block of Rockwell-family modems (#CID=1, +VCID=1):
// tag = value pairs, spaces on both sides of '=', DATE as MMDD and TIME as HHMM.
func (m *modem) callerID(c *call) {
	now := time.Now()
	name := m.x.names[c.from.number]
	if name == "" {
		name = c.from.number
	}
	nl := m.crlf()
	m.out.put([]byte(nl +
		"DATE = " + now.Format("0102") + nl +
		"TIME = " + now.Format("1504") + nl +
		"NMBR = " + c.from.number + nl +
		"NAME = " + name + nl))
}

// answer takes the ringing call off-hook on the called side and starts training.
func (x *Exchange) answer(c *call) {
	to := c.to
	x.stop(c.tick)
	x.stop(c.half)
	c.tick, c.half = nil, nil
	to.incoming = nil
	to.ri = false
	to.p.s[1] = 0
	to.call = c
	to.state = stAnswering
	c.state = callTraining
	x.log.Info("call answered", "call", c.id, "by", to.number)
	if x.o.TrainingDelay < 0 {
		x.connect(c)
		return
	}
	c.tick = x.after(x.o.TrainingDelay, func() {
		c.tick = nil
		x.connect(c)
	})
}

// connect ends training: both modems go online.
func (x *Exchange) connect(c *call) {
	c.state = callUp
	now := time.Now()
	for _, m := range []*modem{c.from, c.to} {
		x.stop(m.progress)
		m.progress = nil
		m.state = stOnline
		m.setDCD(true)
		m.lastData = now
		m.escCount = 0
		m.connectResult()
	}
	x.log.Info("call connected", "call", c.id, "from", c.from.number, "to", c.to.number,
		"speed", x.o.ConnectSpeed)
}

// teardown releases the call in the exchange without telling either DTE anything.
func (x *Exchange) teardown(c *call) {
	if c.state == callOver {
		return
	}
	c.state = callOver
	x.stop(c.tick)
	x.stop(c.half)
	c.tick, c.half = nil, nil
	close(c.done)
	if c.to.incoming == c {
		c.to.incoming = nil
		c.to.ri = false
		c.to.p.s[1] = 0
	}
	for _, m := range []*modem{c.from, c.to} {
		if m.call == c {
			m.call = nil
		}
	}
}

// transmit sends bytes on one direction of a call, with noise and latency.
func (x *Exchange) transmit(c *call, p *path, to *modem, data []byte) {
	buf := data
	if x.o.BitErrorRate > 0 || x.o.Latency > 0 {
		buf = bytes.Clone(data)
	}
	x.corrupt(p, buf)
	if x.o.Latency <= 0 {
		to.receive(buf)
		return
	}
	p.inflight += len(buf)
	x.after(x.o.Latency, func() {
		p.inflight -= len(buf)
		if c.state == callUp {
			to.receive(buf)
		}
	})
}

// corrupt flips bits at BitErrorRate. The gaps between errors are drawn from the geometric
// distribution, so a low rate costs one random number per error, not one per bit.
func (x *Exchange) corrupt(p *path, b []byte) {
	ber := x.o.BitErrorRate
	if ber <= 0 || len(b) == 0 {
		return
	}
	if ber >= 1 {
		for i := range b {
			b[i] ^= 0xff
		}
		return
	}
	gap := func() int64 {
		u := 1 - x.o.Rand.Float64() // (0, 1]
		g := math.Floor(math.Log(u) / math.Log1p(-ber))
		if g > 1e15 {
			g = 1e15
		}
		return int64(g)
	}
	if !p.primed {
		p.skip, p.primed = gap(), true
	}
	bits := int64(len(b)) * 8
	pos := int64(0)
	for pos+p.skip < bits {
		pos += p.skip
		b[pos/8] ^= 1 << (pos % 8)
		pos++
		p.skip = gap()
	}
	p.skip -= bits - pos
}

// result is a Hayes result code; the value is its numeric (V0) form.
type result int

const (
	resNone       result = -1
	resOK         result = 0
	resConnect    result = 1
	resRing       result = 2
	resNoCarrier  result = 3
	resError      result = 4
	resNoDialtone result = 6
	resBusy       result = 7
	resNoAnswer   result = 8
)

var resultWords = map[result]string{
	resOK:         "OK",
	resConnect:    "CONNECT",
	resRing:       "RING",
	resNoCarrier:  "NO CARRIER",
	resError:      "ERROR",
	resNoDialtone: "NO DIALTONE",
	resBusy:       "BUSY",
	resNoAnswer:   "NO ANSWER",
}

// connectCodes are the numeric CONNECT <rate> codes of Rockwell-family modems (as their
// Windows .inf response tables list them). A rate without a code reports plain 1 (CONNECT).
var connectCodes = map[int]int{
	600: 9, 1200: 5, 2400: 10, 4800: 11, 7200: 13, 9600: 12, 12000: 14, 14400: 15,
	16800: 59, 19200: 16, 21600: 61, 24000: 62, 26400: 63, 28800: 64, 31200: 91, 33600: 84,
	38400: 17, 57600: 18, 115200: 19,
}

// modulation names the ITU-T recommendation a rate belongs to, for the extended message.
func modulation(speed int) string {
	switch {
	case speed > 33600:
		return "V90"
	case speed > 14400:
		return "V34"
	case speed > 9600 || speed == 7200:
		return "V32BIS"
	case speed >= 4800:
		return "V32"
	case speed >= 2400:
		return "V22BIS"
	case speed >= 1200:
		return "V22"
	default:
		return "V21"
	}
}

// connectMessage is the CONNECT result for a rate: "CONNECT 33600", or with the extended form
// (W1, W2) "CONNECT 33600/ARQ/V34/LAPM" as USRobotics modems print it; a noisy line (no error
// control in this simulation) drops "/ARQ" and "/LAPM".
func connectMessage(speed int, extended, noisy bool) (int, string) {
	code, ok := connectCodes[speed]
	if !ok {
		code = int(resConnect)
	}
	word := "CONNECT " + strconv.Itoa(speed)
	if extended {
		if noisy {
			word += "/" + modulation(speed)
		} else {
			word += "/ARQ/" + modulation(speed) + "/LAPM"
		}
	}
	return code, word
}
