package modem

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Answer waits for an incoming call and returns it connected; Data then gives the stream.
// In "ring" mode it sends ATA after Options.AnswerRings RINGs; in "auto" mode the modem
// answers by itself and Answer waits for its CONNECT. onRing (may be nil) is called at every
// RING with the count so far and the caller ID gathered so far (a modem reports it between
// the first and second RING). A series of RINGs that stops for Options.RingGap starts the
// count over. Lines that are not result codes are ignored. Cancelling ctx stops the wait.
func (m *Modem) Answer(ctx context.Context, onRing func(n int, cid CallerID)) (Call, error) {
	if dc := m.Data(); dc != nil && dc.Err() == nil {
		return Call{}, fmt.Errorf("answer on %s: %w", m.p.Name(), ErrCallActive)
	}
	var (
		rings    int
		cid      CallerID
		lastRing time.Time
	)
	for {
		var deadline time.Time
		if rings > 0 {
			deadline = lastRing.Add(m.o.RingGap)
		}
		line, cr, err := m.readLine(ctx, deadline)
		if err != nil {
			if ctx.Err() != nil {
				return Call{}, fmt.Errorf("wait for a call on %s: %w", m.p.Name(), ctx.Err())
			}
			if errors.Is(err, os.ErrDeadlineExceeded) && rings > 0 {
				m.log.Info("ringing stopped before the call was answered", "rings", rings, "caller", cid.Number)
				rings, cid = 0, CallerID{}
				continue
			}
			return Call{}, fmt.Errorf("wait for a call on %s: %w", m.p.Name(), err)
		}
		r, info, ok := ParseResult(line)
		if !ok {
			m.log.Debug("modem line ignored while waiting for a call", "line", line)
			continue
		}
		switch r {
		case Ring:
			rings++
			lastRing = time.Now()
			m.log.Debug("RING", "n", rings, "caller", cid.Number)
			if onRing != nil {
				onRing(rings, cid)
			}
			if m.o.Answer == AnswerRing && rings >= m.o.AnswerRings {
				return m.answerNow(ctx, rings, cid)
			}
		case CallerIDLine:
			cid.set(info.Field, info.Value)
		case Connect:
			// Auto answer; in ring mode a modem with S0>0 beat us to it, which is still a call.
			return m.connected(line, info, cr, rings, cid), nil
		case NoCarrier:
			if rings > 0 && m.o.Answer == AnswerAuto {
				return Call{}, fmt.Errorf("answer on %s after %d rings: %w", m.p.Name(), rings, ErrNoCarrier)
			}
			m.log.Debug("NO CARRIER ignored while waiting for a call", "rings", rings)
		default:
			m.log.Debug("result ignored while waiting for a call", "line", line)
		}
	}
}

// answerNow sends ATA and waits for the handshake's result.
func (m *Modem) answerNow(ctx context.Context, rings int, cid CallerID) (Call, error) {
	r, info, line, cr, err := m.commandLine(ctx, "ATA", m.o.ConnectTimeout, true)
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, ErrNoResponse) {
			// Any character aborts a modem's answer handshake; leave it on hook.
			_, _ = m.p.Write([]byte("\r"))
			if herr := m.Hangup(ctx); herr != nil {
				m.log.Warn("hang-up after failed answer", "err", herr)
			}
		}
		return Call{}, fmt.Errorf("answer on %s: %w", m.p.Name(), err)
	}
	if r != Connect {
		return Call{}, fmt.Errorf("answer on %s: ATA: %w", m.p.Name(), resultErr(r))
	}
	return m.connected(line, info, cr, rings, cid), nil
}

// connected starts the data phase after a CONNECT line read by readLine: whatever the line
// reader holds beyond the line is the caller's first data.
func (m *Modem) connected(line string, info ResultInfo, cr bool, rings int, cid CallerID) Call {
	pending := m.rbuf
	m.rbuf = nil
	return m.startCall(connectText(line, info), info, pending, cr && !info.Numeric, rings, cid)
}

func (m *Modem) startCall(text string, info ResultInfo, pending []byte, skipLF bool, rings int, cid CallerID) Call {
	call := Call{Connect: text, Speed: info.Speed, Protocol: info.Protocol, CallerID: cid, Rings: rings}
	dc := newDataConn(m, pending, skipLF)
	m.mu.Lock()
	m.data = dc
	m.mu.Unlock()
	m.log.Info("call connected", "connect", call.Connect, "rings", rings, "caller", cid.Number)
	return call
}

// connectText is the CONNECT line as Call.Connect shows it: blanks collapsed, and for a
// numeric code the words it stands for.
func connectText(line string, info ResultInfo) string {
	if info.Numeric {
		if info.Speed > 0 {
			return fmt.Sprintf("CONNECT %d", info.Speed)
		}
		return "CONNECT"
	}
	return strings.Join(strings.Fields(line), " ")
}
