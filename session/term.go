package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Conn is the byte stream of one call: the modem's data connection after CONNECT.
// Read must honour SetReadDeadline with an error for which errors.Is(err,
// os.ErrDeadlineExceeded) holds, as lines.Port and modem.DataConn do.
type Conn interface {
	io.ReadWriter
	SetReadDeadline(t time.Time) error
}

// Errors of the line discipline.
var (
	// ErrInterrupt is ^C typed at a prompt.
	ErrInterrupt = errors.New("interrupted by ^C")
	// ErrEndOfInput is ^D typed on an empty line.
	ErrEndOfInput = errors.New("end of input (^D)")
	// ErrIdle is no input for the idle limit (IOS exec-timeout).
	ErrIdle = errors.New("idle timeout")
	// ErrTimeout is a hard deadline passed (login response timeout, absolute timeout).
	ErrTimeout = errors.New("timeout")
)

// DetectedError says autoselect recognised a protocol in the input: the text dialog stops and
// the protocol's handler takes the line. Frame holds the raw bytes seen so far, ending with
// the start of the protocol's first frame.
type DetectedError struct {
	Protocol string
	Frame    []byte
}

func (e *DetectedError) Error() string { return "autoselect: " + e.Protocol + " frame detected" }

// Control characters of the line discipline.
const (
	ctrlC   = 0x03
	ctrlD   = 0x04
	ctrlH   = 0x08 // backspace
	ctrlU   = 0x15 // erase the line
	charDEL = 0x7F // delete, sent by most terminals for the backspace key
	maxLine = 256  // longer input is dropped character by character, as a full IOS line buffer does
)

// limits bound one read of a line.
type limits struct {
	// idle ends the read when no byte arrives for this long; 0 = none.
	idle time.Duration
	// hard ends the read at this time; zero = none.
	hard time.Time
	// refresh, if set, gives the limits as they are now: authorization can change them while
	// a read waits (RFC 5176 CoA), and then wakes the read.
	refresh func(limits) limits
}

// term is the line discipline of one call: line editing, echo, timeouts and, until autoselect
// has decided, sniffing of the raw input for PPP/ARAP frames. It is used by one goroutine.
type term struct {
	ctx    context.Context
	c      Conn
	in     []byte // read from the line, not yet consumed
	rbuf   []byte
	sniff  *sniffer // nil once the caller is known to be a text user
	skipLF bool     // the last line ended with CR: an LF right after it is part of the same end
	stop   func() bool
	// carrier, if set, says whether the call is still up. It is asked before a line is
	// acted on: a modem that lost carrier prints NO CARRIER and, in command mode, may echo
	// our prompts back, all of which can reach us before the data stream notices the drop.
	carrier func() error
}

// newTerm wraps c. When ctx ends, a blocked read returns promptly with ctx's error.
func newTerm(ctx context.Context, c Conn, sniff bool) *term {
	t := &term{ctx: ctx, c: c, rbuf: make([]byte, 512)}
	if sniff {
		t.sniff = &sniffer{}
	}
	// A read blocked on the line cannot see ctx; moving its deadline to now wakes it. fill
	// checks ctx after setting its own deadline, so the two cannot miss each other.
	t.stop = context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	return t
}

func (t *term) close() { t.stop() }

// write sends s to the caller.
func (t *term) write(s string) error {
	if _, err := io.WriteString(t.c, s); err != nil {
		return fmt.Errorf("write to caller: %w", err)
	}
	return nil
}

// stopSniffing ends autoselect: from now on the input is text only.
func (t *term) stopSniffing() { t.sniff = nil }

// discard drops all input that arrives for d (flush-at-activation).
func (t *term) discard(d time.Duration) error {
	end := time.Now().Add(d)
	t.in = t.in[:0]
	// What is flushed is not looked at: a flushed frame must not select PPP.
	sn := t.sniff
	t.sniff = nil
	defer func() { t.sniff = sn }()
	for {
		err := t.fill(limits{hard: end})
		t.in = t.in[:0]
		switch {
		case errors.Is(err, ErrTimeout):
			return nil
		case err != nil:
			return err
		}
	}
}

// fill reads once from the line into t.in, within lim.
func (t *term) fill(lim limits) error {
	for {
		if lim.refresh != nil {
			lim = lim.refresh(lim)
		}
		deadline := lim.hard
		if lim.idle > 0 {
			if d := time.Now().Add(lim.idle); deadline.IsZero() || d.Before(deadline) {
				deadline = d
			}
		}
		if err := t.c.SetReadDeadline(deadline); err != nil {
			return fmt.Errorf("set read deadline: %w", err)
		}
		if lim.refresh != nil {
			// Changed while the deadline was being set (the changer wakes the read only
			// after changing them): set it again.
			if n := lim.refresh(lim); n.idle != lim.idle || !n.hard.Equal(lim.hard) {
				continue
			}
		}
		if err := t.ctx.Err(); err != nil {
			return err
		}
		n, err := t.c.Read(t.rbuf)
		if n > 0 {
			chunk := t.rbuf[:n]
			if t.sniff != nil {
				switch t.sniff.feed(chunk) {
				case MatchPPP:
					return &DetectedError{Protocol: ProtoPPP, Frame: t.sniff.bytes()}
				case MatchARAP:
					return &DetectedError{Protocol: ProtoARAP, Frame: t.sniff.bytes()}
				}
			}
			t.in = append(t.in, chunk...)
			return nil
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, os.ErrDeadlineExceeded):
			if cerr := t.ctx.Err(); cerr != nil {
				return cerr
			}
			now := time.Now()
			if !lim.hard.IsZero() && !now.Before(lim.hard) {
				return ErrTimeout
			}
			if lim.idle > 0 && !deadline.After(now) && (lim.hard.IsZero() || deadline.Before(lim.hard)) {
				return ErrIdle
			}
			// Woken early (a deadline moved by someone else): read again.
		default:
			return fmt.Errorf("read from caller: %w", err)
		}
	}
}

// readLine reads one line of input, with line editing. echo=false hides what is typed
// (passwords). The line ends at CR, LF or CR LF.
func (t *term) readLine(lim limits, echo bool) (string, error) {
	var line []byte
	out := make([]byte, 0, 16)
	flush := func() error {
		if len(out) == 0 {
			return nil
		}
		_, err := t.c.Write(out)
		out = out[:0]
		if err != nil {
			return fmt.Errorf("echo to caller: %w", err)
		}
		return nil
	}
	for {
		for len(t.in) > 0 {
			c := t.in[0]
			t.in = t.in[1:]
			if t.skipLF {
				t.skipLF = false
				if c == '\n' {
					continue
				}
			}
			switch {
			case c == '\r' || c == '\n':
				t.skipLF = c == '\r'
				if t.carrier != nil {
					if err := t.carrier(); err != nil {
						return "", err
					}
				}
				out = append(out, '\r', '\n')
				return string(line), flush()
			case c == ctrlH || c == charDEL:
				if len(line) > 0 {
					line = line[:len(line)-1]
					if echo {
						out = append(out, '\b', ' ', '\b')
					}
				}
			case c == ctrlU:
				if echo {
					for range line {
						out = append(out, '\b', ' ', '\b')
					}
				}
				line = line[:0]
			case c == ctrlC:
				out = append(out, "^C\r\n"...)
				if err := flush(); err != nil {
					return "", err
				}
				return "", ErrInterrupt
			case c == ctrlD:
				if len(line) == 0 {
					if err := flush(); err != nil {
						return "", err
					}
					return "", ErrEndOfInput
				}
			case c >= 0x20 && c < charDEL:
				if len(line) < maxLine {
					line = append(line, c)
					if echo {
						out = append(out, c)
					}
				}
			default:
				// Other control characters and 8-bit octets (line noise, a PPP frame on a line
				// without autoselect) are not text: drop them.
			}
		}
		if err := flush(); err != nil {
			return "", err
		}
		if err := t.fill(lim); err != nil {
			return "", err
		}
	}
}
