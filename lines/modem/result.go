package modem

import (
	"strconv"
	"strings"
	"unicode"
)

// Result is a modem result code.
type Result int

// Result codes. The verbose words and the numeric codes 0-4 and 6-8 are those of ITU-T V.250
// §5.7.1 (Table 1, "Result codes"); they match the Hayes Smartmodem basic set.
const (
	// Unknown is the zero value: not a result code.
	Unknown Result = iota
	OK
	Connect
	Ring
	NoCarrier
	Error
	NoDialtone
	Busy
	NoAnswer
	// CallerIDLine is not a V.250 result code: it is one "NAME = value" line of the caller-ID
	// report a modem prints between the first and second RING after AT+VCID=1.
	CallerIDLine
)

var resultNames = [...]string{
	Unknown:      "unknown",
	OK:           "OK",
	Connect:      "CONNECT",
	Ring:         "RING",
	NoCarrier:    "NO CARRIER",
	Error:        "ERROR",
	NoDialtone:   "NO DIALTONE",
	Busy:         "BUSY",
	NoAnswer:     "NO ANSWER",
	CallerIDLine: "caller ID",
}

// String returns the verbose result word ("NO CARRIER").
func (r Result) String() string {
	if r >= 0 && int(r) < len(resultNames) {
		return resultNames[r]
	}
	return "Result(" + strconv.Itoa(int(r)) + ")"
}

// Final reports whether r ends an AT command (V.250 §5.7.1 "final result codes"). RING and
// caller-ID lines are unsolicited and may arrive at any time.
func (r Result) Final() bool {
	switch r {
	case OK, Connect, NoCarrier, Error, NoDialtone, Busy, NoAnswer:
		return true
	}
	return false
}

// ResultInfo is what ParseResult found besides the code.
type ResultInfo struct {
	// Numeric is true when the line was a numeric (V0) code; Code is then the number.
	Numeric bool
	Code    int
	// Speed is the CONNECT speed in bit/s, 0 when the line did not say.
	Speed int
	// Protocol is the rest of a CONNECT line after the speed, joined with "/":
	// "CONNECT 33600/ARQ/V34/LAPM" gives "ARQ/V34/LAPM".
	Protocol string
	// Field and Value are a caller-ID line's parts: "NMBR = 5551234" gives "NMBR", "5551234".
	Field, Value string
}

// numericCodes maps V0 numeric codes to results. 0-4 and 6-8 are V.250 §5.7.1 Table 1.
// 5 (CONNECT 1200) and 10 (CONNECT 2400) are the Hayes Smartmodem 2400 basic set, which every
// Hayes-compatible modem shares; the codes above 10 differ between vendors (Hayes and Rockwell
// use 11 for CONNECT 4800, USRobotics uses it for RINGING), so they are not guessed at.
var numericCodes = map[int]struct {
	r     Result
	speed int
}{
	0:  {OK, 0},
	1:  {Connect, 0},
	2:  {Ring, 0},
	3:  {NoCarrier, 0},
	4:  {Error, 0},
	5:  {Connect, 1200},
	6:  {NoDialtone, 0},
	7:  {Busy, 0},
	8:  {NoAnswer, 0},
	10: {Connect, 2400},
}

// verboseCodes maps the normalized (upper case, single spaces) verbose words to results.
// "NO DIAL TONE" is how USRobotics and MultiTech spell V.250's "NO DIALTONE".
var verboseCodes = map[string]Result{
	"OK":           OK,
	"RING":         Ring,
	"NO CARRIER":   NoCarrier,
	"ERROR":        Error,
	"NO DIALTONE":  NoDialtone,
	"NO DIAL TONE": NoDialtone,
	"BUSY":         Busy,
	"NO ANSWER":    NoAnswer,
}

// callerIDFields are the field names of the Rockwell/V.253 style caller-ID report
// ("DATE = MMDD", "TIME = HHMM", "NMBR = number", "NAME = name", "MESG = data").
// V.253 §9.2.3 adds DDN_NMBR (the dialable directory number).
var callerIDFields = map[string]bool{
	"DATE": true, "TIME": true, "NMBR": true, "NAME": true, "MESG": true, "DDN_NMBR": true,
}

// ParseResult reads one line from a modem (without its CR/LF) as a result code. It accepts
// verbose and numeric codes with any surrounding blanks, runs of blanks inside the words and
// either case, CONNECT lines with speed and protocol ("CONNECT 33600/ARQ/V34/LAPM",
// "CONNECT 115200", "CONNECT"), and caller-ID lines ("NMBR = 5551234"). ok is false for
// anything else (command echo, information text, line noise).
func ParseResult(line string) (r Result, info ResultInfo, ok bool) {
	s := strings.TrimSpace(line)
	if s == "" {
		return Unknown, info, false
	}
	if isDigits(s) {
		if len(s) > 3 {
			return Unknown, info, false
		}
		n, _ := strconv.Atoi(s)
		c, found := numericCodes[n]
		if !found {
			return Unknown, info, false
		}
		return c.r, ResultInfo{Numeric: true, Code: n, Speed: c.speed}, true
	}
	if k, v, found := strings.Cut(s, "="); found {
		k = asciiUpper(strings.TrimSpace(k))
		if callerIDFields[k] {
			return CallerIDLine, ResultInfo{Field: k, Value: strings.TrimSpace(v)}, true
		}
		return Unknown, info, false
	}
	words := strings.Fields(asciiUpper(s))
	if words[0] == "CONNECT" {
		return parseConnect(strings.TrimSpace(s[len("CONNECT"):]))
	}
	if strings.HasPrefix(words[0], "CONNECT") {
		return Unknown, info, false // "CONNECTED", "CONNECT/": not a result code
	}
	if r, found := verboseCodes[strings.Join(words, " ")]; found {
		return r, info, true
	}
	return Unknown, info, false
}

// parseConnect reads what follows the word CONNECT: an optional speed, then protocol words
// separated by '/' or blanks. A line whose first word after CONNECT is not a number is still a
// CONNECT (some modems say "CONNECT FAX" or put the protocol first); it just has no speed.
func parseConnect(rest string) (Result, ResultInfo, bool) {
	var info ResultInfo
	parts := strings.FieldsFunc(rest, func(c rune) bool {
		return c == '/' || unicode.IsSpace(c)
	})
	if len(parts) > 0 && isDigits(parts[0]) {
		if len(parts[0]) > 9 {
			return Unknown, info, false // no line runs at a billion bit/s: noise
		}
		info.Speed, _ = strconv.Atoi(parts[0])
		parts = parts[1:]
	}
	for i := range parts {
		parts[i] = asciiUpper(parts[i])
	}
	info.Protocol = strings.Join(parts, "/")
	return Connect, info, true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// asciiUpper upper-cases ASCII letters only: modems speak ASCII, and Unicode case mapping
// would let "buſy" (long s) pass for BUSY.
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}
