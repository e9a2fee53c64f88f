package modem

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dialback/nas/lines/chat"
)

// DefaultDialScript is the script Dial runs when given none: the IOS canonical dialer script
// with the failure words of V.250 §5.7.1 as ABORT strings.
const DefaultDialScript = `ABORT ERROR ABORT BUSY ABORT "NO ANSWER" ABORT "NO CARRIER" ` +
	`ABORT "NO DIALTONE" ABORT "NO DIAL TONE" "" "ATDT\T" TIMEOUT 60 CONNECT \c`

// Dial places a call by running script (nil: DefaultDialScript) with \T = number, and returns
// it connected; Data then gives the stream. The CONNECT line is found in what the script read
// (the script must expect "CONNECT", so the modem must give verbose results, V1; what follows
// the word on its line gives speed and protocol). When the script aborts, the error wraps ErrBusy, ErrNoAnswer, ErrNoCarrier,
// ErrNoDialtone or ErrCommand as the ABORT string says, and chat.ErrAborted; when it times
// out, chat.ErrTimeout.
func (m *Modem) Dial(ctx context.Context, script *chat.Script, number string) (Call, error) {
	if dc := m.Data(); dc != nil && dc.Err() == nil {
		return Call{}, fmt.Errorf("dial on %s: %w", m.p.Name(), ErrCallActive)
	}
	if script == nil {
		s, err := chat.Parse(DefaultDialScript)
		if err != nil {
			return Call{}, fmt.Errorf("default dial script: %w", err)
		}
		script = s
	}
	m.rbuf = nil // stale command-mode output; the script reads the port itself
	m.log.Info("dialling", "number", number)
	res, err := script.RunWith(ctx, m.p, chat.Vars{Number: number, Logger: m.chatLog}, m.o.Chat)
	if err != nil {
		if errors.Is(err, chat.ErrAborted) {
			if r, _, ok := ParseResult(res.Abort); ok && r != OK && r.Final() && r != Connect {
				err = fmt.Errorf("%w: %w", resultErr(r), err)
			}
		}
		m.log.Info("dial failed", "number", number, "abort", res.Abort, "timed_out", res.TimedOut, "err", err)
		return Call{}, fmt.Errorf("dial %s on %s: %w", number, m.p.Name(), err)
	}
	line, pending, complete, cr := connectFromTranscript(res)
	if line == "" {
		m.log.Warn("dial script ended without a CONNECT line; taking the call as connected",
			"transcript", strings.Join(res.Transcript, "; "))
		return m.startCall("CONNECT", ResultInfo{}, pending, false, 0, CallerID{}), nil
	}
	if !complete {
		// The script stopped at the word CONNECT: the rest of the line is still coming.
		m.rbuf = []byte(line)
		var err error
		line, cr, err = m.readLine(ctx, time.Now().Add(m.o.CommandTimeout))
		if err != nil {
			m.log.Debug("no end to the CONNECT line", "err", err)
			line, cr = string(m.rbuf), false
			m.rbuf = nil
		}
		pending, m.rbuf = m.rbuf, nil
	}
	_, info, ok := ParseResult(line)
	if !ok {
		info = ResultInfo{}
	}
	return m.startCall(connectText(line, info), info, pending, cr && !info.Numeric, 0, CallerID{}), nil
}

// connectFromTranscript finds the last CONNECT the script read. It returns the CONNECT line
// (as far as it has arrived), the bytes after it that the script did not consume, whether the
// line's end was seen, and whether that end was a CR whose LF may still follow.
//
// The transcript records what each expect consumed as `got "..."`, in order, so those pieces
// and Received (what followed the last match) are the stream as read; a long piece is
// trimmed at the front ("got ..."), which costs nothing here as CONNECT is near its end.
// Without a CONNECT, line is empty and rest is Received.
func connectFromTranscript(res chat.Result) (line string, rest []byte, complete, cr bool) {
	var sb strings.Builder
	for _, t := range res.Transcript {
		q, ok := strings.CutPrefix(t, "got ")
		if !ok {
			continue
		}
		s, err := strconv.Unquote(strings.TrimPrefix(q, "..."))
		if err != nil {
			continue
		}
		sb.WriteString(s)
	}
	consumed := sb.Len()
	sb.WriteString(res.Received)
	full := sb.String()
	j := strings.LastIndex(full[:consumed], "CONNECT")
	if j < 0 {
		return "", []byte(res.Received), false, false
	}
	k := strings.IndexAny(full[j:], "\r\n")
	if k < 0 {
		return full[j:], nil, false, false
	}
	k += j
	// Bytes up to consumed were eaten by later expects (a login prompt, say): not data.
	return full[j:k], []byte(full[max(k+1, consumed):]), true, full[k] == '\r' && k+1 >= consumed
}
