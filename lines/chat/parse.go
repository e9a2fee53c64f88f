package chat

import (
	"fmt"
	"strconv"
)

// Parse parses a chat script in Cisco syntax: EXPECT SEND [EXPECT SEND]...
//
// Words are separated by white space. A word may be written in double or single quotes,
// and quoted and unquoted pieces with no space between them make one word (`ATDT"555 1234"`
// is one word, as in a shell). `""` is an empty word: as an expect it waits for nothing,
// as a send it sends a bare CR.
//
// In expect position, ABORT s adds an abort string and TIMEOUT n sets the expect timeout
// for the rest of the script (whole seconds, 1 to MaxTimeout). An expect word may hold
// sub-expects, EXPECT-SEND-EXPECT...: if an expect times out its sub-send is sent and the
// next expect is waited for. A sub-expect list that ends in a send (`OK-AT`) carries on
// after sending, as chat(8) does. In send position (also as a sub-send), BREAK sends a
// BREAK and EOT sends ^D (0x04), both without a CR (chat(8) sends them as `\K\c` and `^D\c`;
// IOS documents no CR rule for them). Keywords are recognised only where chat(8) looks for
// them: ABORT in send position is sent as text, EOT in expect position is waited for.
//
// Escapes, in sends and expects: \n LF, \r CR, \s space, \t tab, \b backspace, \N NUL,
// \\ \" \' \- \^ the character itself, \ddd octal (1 to 3 digits, at most \377), and ^X
// the control character X&0x1F (an IOS and chat(8) feature: write \^ for a literal caret).
// In sends only: \c (no trailing CR; must end the string), \d delay, \p pause, \K BREAK,
// \T the number, \q do not log the string (chat(8); IOS reserves \q). Any other escape is an
// error.
//
// Choices where IOS and chat(8) differ or are silent:
//   - Keywords count only when written bare: "BREAK" (quoted) sends the text BREAK and
//     "ABORT" expects the text ABORT. chat(8) strips quotes first and cannot say either.
//   - A '-' splits an expect word only when it is unquoted and unescaped: "NO-CARRIER"
//     quoted (or NO\-CARRIER) is one expect string. chat(8) splits it; IOS does not say.
//     Dashes in send strings and ABORT strings never split (ATDT 555-1234 is fine).
//   - A dangling final expect (a script ending with an expect and no send) is allowed, as
//     in chat(8): the script succeeds once it arrives. A dangling ABORT or TIMEOUT is an error.
//   - An expect word ending in an unquoted '-' with nothing after it is an error (chat(8)
//     ignores it, UUCP sends a CR): write OK-"" to send a bare CR as the sub-send.
//   - \" works inside double quotes too (IOS says it does not; chat(8) accepts it).
//   - \c anywhere but at the end of a send is an error (IOS: only at the end; chat(8) sends c).
//   - TIMEOUT must be a whole number from 1 to MaxTimeout (chat(8) turns junk into 45 s).
//   - ABORT needs a non-empty string (an empty one would abort at once).
//   - An empty script is an error. chat(8)'s other keywords (REPORT, ECHO, SAY, HANGUP,
//     CLR_ABORT...) and '#' comments are not IOS and are ordinary text here.
//
// Errors are *ParseError.
func Parse(text string) (*Script, error) {
	words, err := tokenize(text)
	if err != nil {
		return nil, err
	}
	if len(words) == 0 {
		return nil, &ParseError{Pos: 0, Msg: "empty chat script"}
	}
	s := &Script{}
	for i := 0; i < len(words); {
		w := &words[i]
		switch {
		case w.isBare("ABORT"):
			if i+1 >= len(words) {
				return nil, &ParseError{Pos: w.pos, Msg: "ABORT needs a string after it"}
			}
			arg := &words[i+1]
			str, err := literalText(arg.atoms, "an ABORT string")
			if err != nil {
				return nil, err
			}
			if str == "" {
				return nil, &ParseError{Pos: arg.pos, Msg: "ABORT string is empty"}
			}
			s.steps = append(s.steps, step{kind: stepAbort, abort: str})
			i += 2
		case w.isBare("TIMEOUT"):
			if i+1 >= len(words) {
				return nil, &ParseError{Pos: w.pos, Msg: "TIMEOUT needs a number of seconds after it"}
			}
			arg := &words[i+1]
			str, err := literalText(arg.atoms, "a TIMEOUT value")
			if err != nil {
				return nil, err
			}
			n, ok := parseSeconds(str)
			if !ok {
				return nil, &ParseError{Pos: arg.pos, Msg: fmt.Sprintf(
					"TIMEOUT needs a whole number of seconds from 1 to %d, not %q", MaxTimeout, str)}
			}
			s.steps = append(s.steps, step{kind: stepTimeout, seconds: n})
			i += 2
		default:
			st, err := parseExpectWord(w)
			if err != nil {
				return nil, err
			}
			if i+1 < len(words) {
				sd, err := parseSend(words[i+1].atoms)
				if err != nil {
					return nil, err
				}
				st.send = &sd
			}
			s.steps = append(s.steps, st)
			i += 2
		}
	}
	return s, nil
}

func parseSeconds(s string) (int, bool) {
	if s == "" || len(s) > 6 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxTimeout {
		return 0, false
	}
	return n, true
}

// parseExpectWord splits an expect word on its unquoted dashes into expects and sub-sends.
func parseExpectWord(w *word) (step, error) {
	var parts [][]atom
	start := 0
	for k, a := range w.atoms {
		if a.kind == atomDash {
			parts = append(parts, w.atoms[start:k])
			start = k + 1
		}
	}
	parts = append(parts, w.atoms[start:])
	if len(parts) > 1 && len(parts[len(parts)-1]) == 0 {
		last := w.atoms[len(w.atoms)-1]
		return step{}, &ParseError{Pos: last.pos, Msg: `expect string ends with '-' and nothing after it: write -"" for a sub-send of a bare CR, or \- for a dash`}
	}
	st := step{kind: stepExchange}
	for k, part := range parts {
		if k%2 == 0 {
			str, err := literalText(part, "an expect string")
			if err != nil {
				return step{}, err
			}
			st.expects = append(st.expects, str)
			continue
		}
		sd, err := parseSend(part)
		if err != nil {
			return step{}, err
		}
		st.subsends = append(st.subsends, sd)
	}
	if len(st.subsends) == len(st.expects) {
		// EXPECT-SEND with no expect after the send: carry on once it is sent (chat(8)).
		st.expects = append(st.expects, "")
	}
	return st, nil
}

// literalText is the text of an expect, ABORT or TIMEOUT word, where send-only escapes are
// errors and dashes are plain characters.
func literalText(atoms []atom, what string) (string, error) {
	var b []byte
	for _, a := range atoms {
		switch a.kind {
		case atomByte:
			b = append(b, a.b)
		case atomDash:
			b = append(b, '-')
		case atomEsc:
			return "", &ParseError{Pos: a.pos, Msg: fmt.Sprintf(`\%c is only valid in a send string, not in %s`, a.b, what)}
		}
	}
	return string(b), nil
}

// parseSend interprets the atoms of a send string or sub-send. A sub-send's dashes were
// already taken as separators, so any dash left here is text.
func parseSend(atoms []atom) (send, error) {
	if kw := bareText(atoms); kw == "EOT" || kw == "BREAK" {
		if kw == "EOT" {
			return send{ops: []op{{kind: opText, text: "\x04"}}, noCR: true, keyword: kw}, nil
		}
		return send{ops: []op{{kind: opBreak}}, noCR: true, keyword: kw}, nil
	}
	var sd send
	var text []byte
	flush := func() {
		if len(text) > 0 {
			sd.ops = append(sd.ops, op{kind: opText, text: string(text)})
			text = text[:0]
		}
	}
	for k, a := range atoms {
		switch a.kind {
		case atomQuote:
		case atomByte:
			text = append(text, a.b)
		case atomDash:
			text = append(text, '-')
		case atomEsc:
			switch a.b {
			case 'c':
				for _, rest := range atoms[k+1:] {
					if rest.kind != atomQuote {
						return send{}, &ParseError{Pos: a.pos, Msg: `\c must be at the end of a send string`}
					}
				}
				sd.noCR = true
			case 'q':
				sd.quiet = true
			case 'd':
				flush()
				sd.ops = append(sd.ops, op{kind: opDelay})
			case 'p':
				flush()
				sd.ops = append(sd.ops, op{kind: opPause})
			case 'K':
				flush()
				sd.ops = append(sd.ops, op{kind: opBreak})
			case 'T':
				flush()
				sd.ops = append(sd.ops, op{kind: opNumber})
			}
		}
	}
	flush()
	return sd, nil
}

// Tokens. A word is a list of atoms so that the meaning of a byte (keyword material, a
// sub-expect separator, a send-only escape) is decided by where the word stands.
type atomKind uint8

const (
	atomByte  atomKind = iota // a literal byte
	atomDash                  // an unquoted, unescaped '-'
	atomEsc                   // a send-only escape; b is its letter: c d p K T q
	atomQuote                 // a quoted piece began here (marks the word as written, "" included)
)

type atom struct {
	kind atomKind
	b    byte
	bare bool // atomByte written as itself outside quotes: may form a keyword
	pos  int
}

type word struct {
	pos   int
	atoms []atom
}

// bareText returns the word's text if it is written entirely bare (no quotes, no escapes,
// no dashes), or "" otherwise.
func bareText(atoms []atom) string {
	b := make([]byte, 0, len(atoms))
	for _, a := range atoms {
		if a.kind != atomByte || !a.bare {
			return ""
		}
		b = append(b, a.b)
	}
	return string(b)
}

func (w *word) isBare(kw string) bool { return bareText(w.atoms) == kw }

func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\v', '\f':
		return true
	}
	return false
}

func tokenize(text string) ([]word, error) {
	var words []word
	i := 0
	for {
		for i < len(text) && isSpace(text[i]) {
			i++
		}
		if i >= len(text) {
			return words, nil
		}
		w := word{pos: i}
		for i < len(text) && !isSpace(text[i]) {
			c := text[i]
			if c == '"' || c == '\'' {
				open := i
				w.atoms = append(w.atoms, atom{kind: atomQuote, pos: open})
				i++
				for {
					if i >= len(text) {
						return nil, &ParseError{Pos: open, Msg: fmt.Sprintf("unterminated %c quote", c)}
					}
					if text[i] == c {
						i++
						break
					}
					a, n, err := scanChar(text, i, c)
					if err != nil {
						return nil, err
					}
					w.atoms = append(w.atoms, a)
					i += n
				}
				continue
			}
			a, n, err := scanChar(text, i, 0)
			if err != nil {
				return nil, err
			}
			w.atoms = append(w.atoms, a)
			i += n
		}
		words = append(words, w)
	}
}

// scanChar reads one character, escape or ^X at text[i]. quote is the quote character the
// text is inside, or 0 outside quotes. It returns the atom and the bytes it used.
func scanChar(text string, i int, quote byte) (atom, int, error) {
	c := text[i]
	switch c {
	case '\\':
		return scanEscape(text, i)
	case '^':
		j := i + 1
		if j >= len(text) || (quote == 0 && isSpace(text[j])) || (quote != 0 && text[j] == quote) {
			return atom{kind: atomByte, b: '^', pos: i}, 1, nil // a caret at the end is itself
		}
		return atom{kind: atomByte, b: text[j] & 0x1f, pos: i}, 2, nil
	case '-':
		if quote == 0 {
			return atom{kind: atomDash, b: '-', pos: i}, 1, nil
		}
	}
	return atom{kind: atomByte, b: c, bare: quote == 0, pos: i}, 1, nil
}

func scanEscape(text string, i int) (atom, int, error) {
	if i+1 >= len(text) {
		return atom{}, 0, &ParseError{Pos: i, Msg: "backslash at the end of the script"}
	}
	c := text[i+1]
	lit := func(b byte) (atom, int, error) { return atom{kind: atomByte, b: b, pos: i}, 2, nil }
	switch c {
	case 'n':
		return lit('\n')
	case 'r':
		return lit('\r')
	case 's':
		return lit(' ')
	case 't':
		return lit('\t')
	case 'b':
		return lit('\b')
	case 'N':
		return lit(0)
	case '\\', '"', '\'', '-', '^':
		return lit(c)
	case 'c', 'd', 'p', 'K', 'T', 'q':
		return atom{kind: atomEsc, b: c, pos: i}, 2, nil
	}
	if c >= '0' && c <= '7' {
		v, j := 0, i+1
		for j < len(text) && j < i+4 && text[j] >= '0' && text[j] <= '7' {
			v = v*8 + int(text[j]-'0')
			j++
		}
		if v > 0o377 {
			return atom{}, 0, &ParseError{Pos: i, Msg: fmt.Sprintf(`octal escape \%s is more than \377`, text[i+1:j])}
		}
		return atom{kind: atomByte, b: byte(v), pos: i}, j - i, nil
	}
	return atom{}, 0, &ParseError{Pos: i, Msg: fmt.Sprintf("unknown escape %q", text[i:i+2])}
}
