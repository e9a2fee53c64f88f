package chat

import (
	"strconv"
	"strings"
)

// String renders the script in canonical form: one space between words, double quotes only
// where needed, control bytes as escapes. Parse(s.String()) gives back the same script.
// Send strings marked \q are rendered in full: use Redacted for logs.
func (s *Script) String() string { return s.render(false) }

// Redacted is String with every send string marked \q replaced by "??????", for logs.
// It is for reading only and does not parse back to the same script.
func (s *Script) Redacted() string { return s.render(true) }

func (s *Script) render(redact bool) string {
	var b strings.Builder
	word := func(w string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(w)
	}
	for i := range s.steps {
		st := &s.steps[i]
		switch st.kind {
		case stepAbort:
			word("ABORT")
			word(quoteIfNeeded(escapeText(st.abort), false))
		case stepTimeout:
			word("TIMEOUT")
			word(strconv.Itoa(st.seconds))
		case stepExchange:
			var e strings.Builder
			for k, ex := range st.expects {
				if k > 0 {
					e.WriteByte('-')
					e.WriteString(renderSend(&st.subsends[k-1], true, redact))
					e.WriteByte('-')
				}
				e.WriteString(quoteIfNeeded(escapeText(ex), true))
			}
			word(e.String())
			if st.send != nil {
				word(renderSend(st.send, false, redact))
			}
		}
	}
	return b.String()
}

func renderSend(sd *send, inExpect, redact bool) string {
	if sd.keyword != "" {
		return sd.keyword
	}
	if redact && sd.quiet {
		return `"??????"`
	}
	var body strings.Builder
	if sd.quiet {
		body.WriteString(`\q`)
	}
	for _, o := range sd.ops {
		switch o.kind {
		case opText:
			body.WriteString(escapeText(o.text))
		case opDelay:
			body.WriteString(`\d`)
		case opPause:
			body.WriteString(`\p`)
		case opBreak:
			body.WriteString(`\K`)
		case opNumber:
			body.WriteString(`\T`)
		}
	}
	if sd.noCR {
		body.WriteString(`\c`)
	}
	return quoteIfNeeded(body.String(), inExpect)
}

// quoteIfNeeded wraps an escaped body in double quotes when it would not read back as the
// same single word bare: it is empty, holds a space, is a keyword, or holds a dash inside an
// expect word (where a bare dash separates sub-expects).
func quoteIfNeeded(body string, inExpect bool) string {
	switch {
	case body == "", strings.IndexByte(body, ' ') >= 0,
		body == "ABORT", body == "TIMEOUT", body == "BREAK", body == "EOT",
		inExpect && strings.IndexByte(body, '-') >= 0:
		return `"` + body + `"`
	}
	return body
}

// escapeText renders bytes so that they read back the same bare or inside double quotes
// (except spaces, which need the quotes): only printable ASCII other than \ " ' ^ appears
// as itself.
func escapeText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\', '"', '\'', '^':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case 0:
			b.WriteString(`\N`)
		default:
			if c < 0x20 || c >= 0x7f {
				// Always three digits, so that a digit after it is not taken into the escape.
				b.WriteByte('\\')
				b.WriteByte('0' + c>>6)
				b.WriteByte('0' + (c>>3)&7)
				b.WriteByte('0' + c&7)
				continue
			}
			b.WriteByte(c)
		}
	}
	return b.String()
}
