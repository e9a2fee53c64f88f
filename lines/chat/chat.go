// Package chat owns chat scripts in the Cisco IOS `chat-script` language: parsing a script
// (EXPECT SEND pairs, sub-expects, ABORT, TIMEOUT, BREAK, EOT and the backslash escapes),
// rendering it back in canonical form, and running it against a lines.Port to drive a modem.
//
// The language follows the IOS Dial Technologies guide ("Creating and Using Modem Chat
// Scripts") and, where IOS says nothing, the public-domain chat(8) of pppd. The differences
// from chat(8), and the choices made where neither source says, are listed in the comment
// on Parse.
package chat

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults of the IOS chat-script language (IOS Dial Technologies Configuration Guide,
// "Chat String Escape Key Sequences" and "Special-Case Script Modifiers"). Linux chat(8)
// uses 1 s, 0.1 s and 45 s instead.
const (
	DefaultDelay   = 2 * time.Second        // \d
	DefaultPause   = 250 * time.Millisecond // \p
	DefaultTimeout = 5 * time.Second        // until the script says TIMEOUT n
	// DefaultBreak is the length of a BREAK: tcsendbreak(fd, 0), which chat(8) uses,
	// gives "at least 0.25 s and not more than 0.5 s" (POSIX).
	DefaultBreak = 250 * time.Millisecond
)

// Limits on what a script may say.
const (
	MaxTimeout = 24 * 60 * 60 // seconds; larger TIMEOUT values are a parse error
)

// Run's error wraps ErrAborted when an ABORT string arrived and ErrTimeout when the last
// expect (after any sub-expects) timed out. ErrNoNumber means the script sends \T but
// Vars.Number is empty; it is reported before anything is written to the port.
var (
	ErrAborted  = errors.New("chat script aborted")
	ErrTimeout  = errors.New("chat script timed out")
	ErrNoNumber = errors.New(`chat script sends \T but no number was given`)
)

// ParseError is a syntax error in a chat script. Pos is the byte offset in the script text
// of the word, quote or escape at fault.
type ParseError struct {
	Pos int
	Msg string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("chat script: position %d: %s", e.Pos, e.Msg)
}

// Script is a parsed chat script. It is immutable and safe to Run concurrently on
// different ports.
type Script struct {
	steps []step
}

// Vars are the values a run substitutes into the script.
type Vars struct {
	Number string // \T, the phone number (IOS: the dial string; chat(8): -T)
	// Logger receives every transcript line at Debug level as it happens, with the port's
	// name. Nil means slog.Default(). Send strings marked \q are logged as "??????".
	Logger *slog.Logger
}

// Timing holds the durations of a run. A zero field takes its IOS default, so tests
// shrink only what they need.
type Timing struct {
	Delay          time.Duration // \d (default 2 s)
	Pause          time.Duration // \p (default 0.25 s)
	DefaultTimeout time.Duration // expect timeout until TIMEOUT n (default 5 s)
	Break          time.Duration // length of the BREAK sent for \K and BREAK (default 0.25 s)
}

func (t Timing) withDefaults() Timing {
	if t.Delay == 0 {
		t.Delay = DefaultDelay
	}
	if t.Pause == 0 {
		t.Pause = DefaultPause
	}
	if t.DefaultTimeout == 0 {
		t.DefaultTimeout = DefaultTimeout
	}
	if t.Break == 0 {
		t.Break = DefaultBreak
	}
	return t
}

// Result describes a run, successful or not.
type Result struct {
	Abort    string // the ABORT string that matched, if any
	TimedOut bool   // the final expect timed out
	Expect   string // the expect string being waited for when the run failed
	// Transcript is the run as human-readable lines, in order: `expect "OK"`,
	// `got "ATZ\r\r\nOK"`, `send "ATDT5551234\r"`, `delay 2s`, `break`, ...
	Transcript []string
	// Received holds bytes that were read from the port but not consumed by an expect:
	// whatever followed the final match (for `CONNECT \c`, the rest of the line,
	// " 33600/V34\r\n"). A stream cannot be read exactly up to a match without reading
	// byte by byte, so the bytes are handed back instead. Bytes the modem sent that no
	// read had reached yet are still in the port: the caller reads on from there.
	Received string
}

type stepKind uint8

const (
	stepAbort stepKind = iota + 1
	stepTimeout
	stepExchange
)

// step is one EXPECT SEND pair of the script, or an ABORT or TIMEOUT pair.
type step struct {
	kind    stepKind
	abort   string // stepAbort
	seconds int    // stepTimeout
	// stepExchange: wait for expects[0]; if that times out send subsends[0] and wait for
	// expects[1], and so on. len(subsends) == len(expects)-1.
	expects  []string
	subsends []send
	send     *send // nil when the script ends with this expect
}

type opKind uint8

const (
	opText   opKind = iota // write text
	opDelay                // \d
	opPause                // \p
	opBreak                // \K
	opNumber               // \T
)

type op struct {
	kind opKind
	text string // opText
}

// send is one send string.
type send struct {
	ops     []op
	noCR    bool   // \c at the end, or EOT/BREAK
	quiet   bool   // \q: never log the string
	keyword string // "EOT" or "BREAK" when written as that keyword, for rendering
}

func (sd *send) usesNumber() bool {
	for _, o := range sd.ops {
		if o.kind == opNumber {
			return true
		}
	}
	return false
}

// UsesNumber reports whether the script sends \T, so that a configuration check can insist
// on a number for it (a callback script without \T dials nothing useful).
func (s *Script) UsesNumber() bool {
	for i := range s.steps {
		st := &s.steps[i]
		if st.send != nil && st.send.usesNumber() {
			return true
		}
		for j := range st.subsends {
			if st.subsends[j].usesNumber() {
				return true
			}
		}
	}
	return false
}
