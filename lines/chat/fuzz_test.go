package chat

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzParse checks that Parse never panics, that its errors are *ParseError with a position
// inside the text, and that every script that parses survives String and Parse unchanged.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		dialScript,
		`ABORT ERROR ABORT BUSY ABORT "NO ANSWER" "" "AT H" OK "AT DT \T" DIALING \c TIMEOUT 30 CONNECT \c`,
		`ogin:-BREAK-ogin: \quser ssword:-\r-ssword "\qpass" ">" slip`,
		`'' 'AT&F' OK-AT-OK "ATDT\T\d\p\K" CONNECT EOT`,
		`"" "\N\101\377^C\^\-\'\"\s\t\b\n\r" "NO-CARRIER" x`,
		`OK-AT`, `OK-`, `"unterminated`, `\400`, `TIMEOUT 0`, `ABORT`, `a"b"'c'd -"-"-`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		s, err := Parse(text)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse(%q): error %v is %T, not *ParseError", text, err, err)
			}
			if pe.Pos < 0 || pe.Pos > len(text) {
				t.Fatalf("Parse(%q): position %d outside the text", text, pe.Pos)
			}
			return
		}
		out := s.String()
		back, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(%q) ok, but Parse(String() = %q): %v", text, out, err)
		}
		if !reflect.DeepEqual(back.steps, s.steps) {
			t.Fatalf("Parse(%q) and Parse(%q) differ:\n%#v\n%#v", text, out, s.steps, back.steps)
		}
		if again := back.String(); again != out {
			t.Fatalf("String not stable: %q then %q", out, again)
		}
		_ = s.Redacted()
		_ = s.UsesNumber()
	})
}
