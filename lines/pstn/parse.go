package pstn

import (
	"errors"
	"fmt"
)

// maxLine is the longest command line (after "AT") the modem keeps. V.250 §5.2.4 asks for at
// least 40 characters; Rockwell-era modems took about 56. Longer lines give ERROR.
const maxLine = 256

// maxDigits bounds a numeric argument so that "ATS999999999999999999=1" cannot overflow.
const maxDigits = 6

// command is one command of an AT command line (V.250 §5.3 basic, §5.4 extended syntax).
type command struct {
	prefix byte   // 0 for a basic command, '&', '+' or '#'
	name   string // "E", "S", "C" (for &C), "VCID" (for +VCID)
	num    int    // numeric argument of a basic command, or the value of "=" / S-register write
	hasNum bool
	op     byte // 0 (action), '?' (read), '=' (write), 't' (test, "=?")
	reg    int  // S-register number, -1 for "the current register"
	dial   dialString
}

// dialString is the parsed argument of D (V.250 §6.3.1).
type dialString struct {
	number string // digits and DTMF symbols to send, modifiers removed
	pauses int    // ',' pauses, S8 seconds each
	redial bool   // 'L': dial the last number again
	semi   bool   // ';': stay in command state after dialling
}

var errSyntax = errors.New("syntax error")

// parseLine splits the text after "AT" (without the terminating S3) into commands. On a
// syntax error it returns the commands before the error and an error: the modem runs those and
// then answers ERROR, as Hayes modems do. The parser is linear in the input and never panics.
func parseLine(line []byte) ([]command, error) {
	s := make([]byte, 0, len(line))
	for _, b := range line {
		switch {
		case b == ' ' || b < 0x20 || b == 0x7f:
			// V.250 §5.2.2: spaces and control characters are ignored.
		case b >= 'a' && b <= 'z':
			s = append(s, b-'a'+'A')
		default:
			s = append(s, b)
		}
	}
	var cmds []command
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == 'D':
			d, n, err := parseDial(s[i+1:])
			if err != nil {
				return cmds, err
			}
			cmds = append(cmds, command{name: "D", dial: d})
			i += 1 + n
			if !d.semi {
				// Without ';' the dial string runs to the end of the line (V.250 §6.3.1).
				return cmds, nil
			}
		case c == 'S':
			cmd := command{name: "S", reg: -1}
			i++
			if v, n, err := parseNum(s[i:]); err != nil {
				return cmds, err
			} else if n > 0 {
				cmd.reg = v
				i += n
			}
			switch {
			case i < len(s) && s[i] == '?':
				cmd.op = '?'
				i++
			case i < len(s) && s[i] == '=':
				cmd.op = '='
				i++
				v, n, err := parseNum(s[i:])
				if err != nil {
					return cmds, err
				}
				cmd.num, cmd.hasNum = v, n > 0
				i += n
			}
			cmds = append(cmds, cmd)
		case c >= 'A' && c <= 'Z':
			cmd := command{name: string(c)}
			i++
			v, n, err := parseNum(s[i:])
			if err != nil {
				return cmds, err
			}
			cmd.num, cmd.hasNum = v, n > 0
			i += n
			cmds = append(cmds, cmd)
		case c == '&':
			if i+1 >= len(s) || s[i+1] < 'A' || s[i+1] > 'Z' {
				return cmds, fmt.Errorf("%w: '&' without a letter", errSyntax)
			}
			cmd := command{prefix: '&', name: string(s[i+1])}
			i += 2
			v, n, err := parseNum(s[i:])
			if err != nil {
				return cmds, err
			}
			cmd.num, cmd.hasNum = v, n > 0
			i += n
			cmds = append(cmds, cmd)
		case c == '+' || c == '#':
			cmd, n, err := parseExtended(s[i:])
			if err != nil {
				return cmds, err
			}
			cmds = append(cmds, cmd)
			i += n
		default:
			return cmds, fmt.Errorf("%w: unexpected %q", errSyntax, c)
		}
	}
	return cmds, nil
}

// parseExtended reads "+NAME", "+NAME?", "+NAME=?" or "+NAME=<number>" and an optional ';'
// separator (V.250 §5.4.1). s starts at the '+' or '#'.
func parseExtended(s []byte) (command, int, error) {
	cmd := command{prefix: s[0]}
	i := 1
	for i < len(s) && s[i] >= 'A' && s[i] <= 'Z' {
		i++
	}
	if i == 1 {
		return cmd, 0, fmt.Errorf("%w: %q without a name", errSyntax, s[0])
	}
	cmd.name = string(s[1:i])
	switch {
	case i+1 < len(s) && s[i] == '=' && s[i+1] == '?':
		cmd.op = 't'
		i += 2
	case i < len(s) && s[i] == '?':
		cmd.op = '?'
		i++
	case i < len(s) && s[i] == '=':
		cmd.op = '='
		i++
		v, n, err := parseNum(s[i:])
		if err != nil {
			return cmd, 0, err
		}
		cmd.num, cmd.hasNum = v, n > 0
		i += n
	}
	if i < len(s) && s[i] == ';' {
		i++
	}
	return cmd, i, nil
}

// parseNum reads leading decimal digits. It returns the value and how many bytes it used.
func parseNum(s []byte) (int, int, error) {
	v, n := 0, 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		if n == maxDigits {
			return 0, 0, fmt.Errorf("%w: number too long", errSyntax)
		}
		v = v*10 + int(s[n]-'0')
		n++
	}
	return v, n, nil
}

// parseDial reads a dial string up to and including ';' or to the end of s.
// Modifiers (V.250 §6.3.1): T and P select tone or pulse, W waits for a second dial tone,
// ',' pauses S8 seconds, '!' flashes the hook, '@' waits for quiet answer, R reverses the
// originate/answer roles, L (first) redials; '-', '(', ')', '.', '/' are punctuation.
func parseDial(s []byte) (dialString, int, error) {
	var d dialString
	num := make([]byte, 0, len(s))
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9', c == '*', c == '#', c >= 'A' && c <= 'D':
			num = append(num, c)
		case c == ',':
			d.pauses++
		case c == 'L' && i == 0:
			d.redial = true
		case c == 'T', c == 'P', c == 'W', c == '!', c == '@', c == 'R',
			c == '-', c == '(', c == ')', c == '.', c == '/':
		case c == ';':
			d.number = string(num)
			d.semi = true
			return d, i + 1, nil
		default:
			return d, 0, fmt.Errorf("%w: %q in dial string", errSyntax, c)
		}
	}
	d.number = string(num)
	return d, len(s), nil
}
