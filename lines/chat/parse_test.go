package chat

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func txt(s string) op { return op{kind: opText, text: s} }

var (
	opD = op{kind: opDelay}
	opP = op{kind: opPause}
	opK = op{kind: opBreak}
	opT = op{kind: opNumber}
)

func snd(ops ...op) *send { return &send{ops: ops} }

func xch(expect string, sd *send) step {
	return step{kind: stepExchange, expects: []string{expect}, send: sd}
}

func mustParse(t *testing.T, text string) *Script {
	t.Helper()
	s, err := Parse(text)
	if err != nil {
		t.Fatalf("Parse(%q): %v", text, err)
	}
	return s
}

func checkRoundTrip(t *testing.T, s *Script) {
	t.Helper()
	out := s.String()
	back, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse(String()) of %q: %v", out, err)
	}
	if !reflect.DeepEqual(back.steps, s.steps) {
		t.Fatalf("round trip through %q changed the script:\n got %#v\nwant %#v", out, back.steps, s.steps)
	}
	if again := back.String(); again != out {
		t.Fatalf("String not stable: %q then %q", out, again)
	}
}

func TestParseCanonical(t *testing.T) {
	s := mustParse(t, `ABORT ERROR ABORT BUSY "" "ATZ" OK "ATDT \T" TIMEOUT 30 CONNECT \c`)
	want := []step{
		{kind: stepAbort, abort: "ERROR"},
		{kind: stepAbort, abort: "BUSY"},
		xch("", snd(txt("ATZ"))),
		xch("OK", snd(txt("ATDT "), opT)),
		{kind: stepTimeout, seconds: 30},
		xch("CONNECT", &send{noCR: true}),
	}
	if !reflect.DeepEqual(s.steps, want) {
		t.Fatalf("got  %#v\nwant %#v", s.steps, want)
	}
	if got, w := s.String(), `ABORT ERROR ABORT BUSY "" ATZ OK "ATDT \T" TIMEOUT 30 CONNECT \c`; got != w {
		t.Errorf("String() = %q, want %q", got, w)
	}
	if !s.UsesNumber() {
		t.Error("UsesNumber() = false for a script with \\T")
	}
	if mustParse(t, `"" ATZ OK`).UsesNumber() {
		t.Error("UsesNumber() = true for a script without \\T")
	}
	checkRoundTrip(t, s)
}

// TestParseSendEscapes covers every escape in send position, where the whole word is the
// second word of `"" WORD`.
func TestParseSendEscapes(t *testing.T) {
	tests := []struct {
		word string
		want send
	}{
		{`a\nb`, send{ops: []op{txt("a\nb")}}},
		{`a\rb`, send{ops: []op{txt("a\rb")}}},
		{`a\sb`, send{ops: []op{txt("a b")}}},
		{`a\tb`, send{ops: []op{txt("a\tb")}}},
		{`a\bb`, send{ops: []op{txt("a\bb")}}},
		{`a\Nb`, send{ops: []op{txt("a\x00b")}}},
		{`a\\b`, send{ops: []op{txt(`a\b`)}}},
		{`a\"b`, send{ops: []op{txt(`a"b`)}}},
		{`"a\"b"`, send{ops: []op{txt(`a"b`)}}},
		{`a\'b`, send{ops: []op{txt(`a'b`)}}},
		{`a\-b`, send{ops: []op{txt(`a-b`)}}},
		{`a\^b`, send{ops: []op{txt(`a^b`)}}},
		{`\101`, send{ops: []op{txt("A")}}},
		{`\7`, send{ops: []op{txt("\a")}}},
		{`\12x`, send{ops: []op{txt("\nx")}}},
		{`\0101`, send{ops: []op{txt("\b1")}}}, // at most three octal digits
		{`\377`, send{ops: []op{txt("\xff")}}},
		{`\0`, send{ops: []op{txt("\x00")}}},
		{`^C`, send{ops: []op{txt("\x03")}}},
		{`^c^[`, send{ops: []op{txt("\x03\x1b")}}},
		{`a^`, send{ops: []op{txt("a^")}}},
		{`"a^"`, send{ops: []op{txt("a^")}}},
		{`ATZ\c`, send{ops: []op{txt("ATZ")}, noCR: true}},
		{`"ATZ\c"`, send{ops: []op{txt("ATZ")}, noCR: true}},
		{`\c`, send{noCR: true}},
		{`AT\dZ`, send{ops: []op{txt("AT"), opD, txt("Z")}}},
		{`\d\d`, send{ops: []op{opD, opD}}},
		{`AT\pZ`, send{ops: []op{txt("AT"), opP, txt("Z")}}},
		{`\KATZ`, send{ops: []op{opK, txt("ATZ")}}},
		{`ATDT\T`, send{ops: []op{txt("ATDT"), opT}}},
		{`\qsecret`, send{ops: []op{txt("secret")}, quiet: true}},
		{`sec\qret\c`, send{ops: []op{txt("secret")}, quiet: true, noCR: true}},
		{`EOT`, send{ops: []op{txt("\x04")}, noCR: true, keyword: "EOT"}},
		{`BREAK`, send{ops: []op{opK}, noCR: true, keyword: "BREAK"}},
		{`"EOT"`, send{ops: []op{txt("EOT")}}},
		{`'BREAK'`, send{ops: []op{txt("BREAK")}}},
		{`EOT\c`, send{ops: []op{txt("EOT")}, noCR: true}},
		{`ABORT`, send{ops: []op{txt("ABORT")}}}, // keywords count only where chat(8) looks
		{`TIMEOUT`, send{ops: []op{txt("TIMEOUT")}}},
		{`555-1234`, send{ops: []op{txt("555-1234")}}},
		{`""`, send{}},
		{`''`, send{}},
	}
	for _, tc := range tests {
		t.Run(tc.word, func(t *testing.T) {
			s := mustParse(t, `"" `+tc.word)
			if len(s.steps) != 1 || s.steps[0].send == nil {
				t.Fatalf("steps = %#v", s.steps)
			}
			if got := *s.steps[0].send; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("send = %#v\nwant   %#v", got, tc.want)
			}
			checkRoundTrip(t, s)
		})
	}
}

func TestParseExpectEscapes(t *testing.T) {
	tests := []struct {
		word string
		want string
	}{
		{`\r\nOK\r\n`, "\r\nOK\r\n"},
		{`a\sb`, "a b"},
		{`\t\b\N\\\"\'\^`, "\t\b\x00\\\"'^"},
		{`\101\0`, "A\x00"},
		{`^D`, "\x04"},
		{`"NO CARRIER"`, "NO CARRIER"},
		{`"NO-CARRIER"`, "NO-CARRIER"}, // quoted dash is text
		{`NO\-CARRIER`, "NO-CARRIER"},
		{`'NO-CARRIER'`, "NO-CARRIER"},
		{`EOT`, "EOT"},
		{`BREAK`, "BREAK"},
		{`"ABORT"`, "ABORT"},
		{`'TIMEOUT'`, "TIMEOUT"},
		{`""`, ""},
		{`CON"NE"'CT'`, "CONNECT"},
		{`"#"`, "#"},
	}
	for _, tc := range tests {
		t.Run(tc.word, func(t *testing.T) {
			s := mustParse(t, tc.word+" x")
			if len(s.steps) != 1 {
				t.Fatalf("steps = %#v", s.steps)
			}
			if got := s.steps[0].expects; !reflect.DeepEqual(got, []string{tc.want}) {
				t.Errorf("expects = %q, want [%q]", got, tc.want)
			}
			checkRoundTrip(t, s)
		})
	}
}

func TestParseQuotingAndSpace(t *testing.T) {
	tests := []struct {
		text string
		want []step
	}{
		{"\t\"\"  'AT Z' \n OK\r\n\"ATDT 1\"  ", []step{xch("", snd(txt("AT Z"))), xch("OK", snd(txt("ATDT 1")))}},
		{`'say "hi"' "it's"`, []step{xch(`say "hi"`, snd(txt("it's")))}},
		{`"" AT"DT 5"'5'5`, []step{xch("", snd(txt("ATDT 555")))}},
		{`"" """"`, []step{xch("", snd())}},
		// A dangling final expect: wait for it, then stop (chat(8)).
		{`"" ATZ OK`, []step{xch("", snd(txt("ATZ"))), {kind: stepExchange, expects: []string{"OK"}}}},
		{`CONNECT`, []step{{kind: stepExchange, expects: []string{"CONNECT"}}}},
		{`ABORT "NO CARRIER" ABORT NO-DIALTONE`, []step{{kind: stepAbort, abort: "NO CARRIER"}, {kind: stepAbort, abort: "NO-DIALTONE"}}},
		{`ABORT ABORT ABORT TIMEOUT`, []step{{kind: stepAbort, abort: "ABORT"}, {kind: stepAbort, abort: "TIMEOUT"}}},
		{`TIMEOUT 1 TIMEOUT 86400`, []step{{kind: stepTimeout, seconds: 1}, {kind: stepTimeout, seconds: MaxTimeout}}},
		{`TIMEOUT "60"`, []step{{kind: stepTimeout, seconds: 60}}},
		{`TIMEOUT 007`, []step{{kind: stepTimeout, seconds: 7}}},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			s := mustParse(t, tc.text)
			if !reflect.DeepEqual(s.steps, tc.want) {
				t.Errorf("got  %#v\nwant %#v", s.steps, tc.want)
			}
			checkRoundTrip(t, s)
		})
	}
}

func TestParseSubExpects(t *testing.T) {
	tests := []struct {
		word     string
		expects  []string
		subsends []send
	}{
		{`ogin:-BREAK-ogin:`, []string{"ogin:", "ogin:"}, []send{{ops: []op{opK}, noCR: true, keyword: "BREAK"}}},
		{`ogin:-"BREAK"-ogin:`, []string{"ogin:", "ogin:"}, []send{{ops: []op{txt("BREAK")}}}},
		{`ssword:-\r-ssword`, []string{"ssword:", "ssword"}, []send{{ops: []op{txt("\r")}}}},
		{`login--login`, []string{"login", "login"}, []send{{}}},
		{`OK-""`, []string{"OK", ""}, []send{{}}},
		{`OK-AT-OK-ATZ\d-OK`, []string{"OK", "OK", "OK"}, []send{{ops: []op{txt("AT")}}, {ops: []op{txt("ATZ"), opD}}}},
		{`OK-AT`, []string{"OK", ""}, []send{{ops: []op{txt("AT")}}}}, // carry on after sending
		{`OK-EOT-OK`, []string{"OK", "OK"}, []send{{ops: []op{txt("\x04")}, noCR: true, keyword: "EOT"}}},
		{`OK-"AT-1"-OK`, []string{"OK", "OK"}, []send{{ops: []op{txt("AT-1")}}}},
		{`OK-AT\-1-OK`, []string{"OK", "OK"}, []send{{ops: []op{txt("AT-1")}}}},
		{`OK-AT\c-OK`, []string{"OK", "OK"}, []send{{ops: []op{txt("AT")}, noCR: true}}},
		{`-AT-OK`, []string{"", "OK"}, []send{{ops: []op{txt("AT")}}}},
		{`"A B"-"C D"-'E-F'`, []string{"A B", "E-F"}, []send{{ops: []op{txt("C D")}}}},
	}
	for _, tc := range tests {
		t.Run(tc.word, func(t *testing.T) {
			s := mustParse(t, tc.word+" next")
			if len(s.steps) != 1 {
				t.Fatalf("steps = %#v", s.steps)
			}
			st := s.steps[0]
			if !reflect.DeepEqual(st.expects, tc.expects) || !reflect.DeepEqual(st.subsends, tc.subsends) {
				t.Errorf("expects %q subsends %#v\nwant    %q subsends %#v", st.expects, st.subsends, tc.expects, tc.subsends)
			}
			checkRoundTrip(t, s)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		text string
		pos  int
		msg  string // part of the message
	}{
		{``, 0, "empty chat script"},
		{" \t\n", 0, "empty chat script"},
		{`"" "ATZ`, 3, `unterminated " quote`},
		{`'OK ATZ`, 0, `unterminated ' quote`},
		{`"" AT"Z`, 5, `unterminated " quote`},
		{`"" AT\x`, 5, `unknown escape "\\x"`},
		{`"" AT\U`, 5, `unknown escape`},
		{`"" "AT\ Z"`, 6, `unknown escape`},
		{`"" AT\`, 5, "backslash at the end"},
		{`"" \400`, 3, `octal escape \400 is more than \377`},
		{`TIMEOUT`, 0, "TIMEOUT needs a number"},
		{`"" ATZ TIMEOUT`, 7, "TIMEOUT needs a number"},
		{`TIMEOUT abc`, 8, `not "abc"`},
		{`TIMEOUT 0`, 8, "from 1 to"},
		{`TIMEOUT -5`, 8, "whole number"},
		{`TIMEOUT 86401`, 8, "from 1 to 86400"},
		{`TIMEOUT 99999999999999999999`, 8, "whole number"},
		{`TIMEOUT 3\d`, 9, `\d is only valid in a send string, not in a TIMEOUT value`},
		{`ABORT`, 0, "ABORT needs a string"},
		{`"" ATZ ABORT`, 7, "ABORT needs a string"},
		{`ABORT ""`, 6, "ABORT string is empty"},
		{`ABORT BU\cSY`, 8, `\c is only valid in a send string, not in an ABORT string`},
		{`OK\d ATZ`, 2, `\d is only valid in a send string, not in an expect string`},
		{`OK-AT-\TOK x`, 6, `\T is only valid`},
		{`\K x`, 0, `\K is only valid`},
		{`\p x`, 0, `\p is only valid`},
		{`\q x`, 0, `\q is only valid`},
		{`"" AT\cZ`, 5, `\c must be at the end`},
		{`OK-AT\cZ-OK x`, 5, `\c must be at the end`},
		{`OK- x`, 2, "ends with '-'"},
		{`OK-AT-OK- x`, 8, "ends with '-'"},
		{`- x`, 0, "ends with '-'"},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			s, err := Parse(tc.text)
			if err == nil {
				t.Fatalf("Parse(%q) = %q, want an error", tc.text, s.String())
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T) is not a *ParseError", err, err)
			}
			if pe.Pos != tc.pos || !strings.Contains(pe.Msg, tc.msg) {
				t.Errorf("error at %d %q, want at %d containing %q", pe.Pos, pe.Msg, tc.pos, tc.msg)
			}
			if want := "chat script: position "; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("Error() = %q, want it to start %q", err.Error(), want)
			}
		})
	}
}

func TestStringCanonical(t *testing.T) {
	tests := []struct{ in, out string }{
		{`ABORT 'NO CARRIER' '' 'AT&F' OK 'ATDT\T'`, `ABORT "NO CARRIER" "" AT&F OK ATDT\T`},
		{`"" "ATZ\r\n\c"`, `"" ATZ\r\n\c`},
		{`'NO-CARRIER' x`, `"NO-CARRIER" x`},
		{`ogin:--ogin: \quser word: "\qpass word"`, `ogin:-""-ogin: \quser word: "\qpass word"`},
		{`"" "\001\177\200^A\^"`, `"" \001\177\200\001\^`},
		{`"" "12\0123"`, `"" 12\n3`},
		{`"" "\0011"`, `"" \0011`},
		{`"EOT" EOT "BREAK" BREAK`, `"EOT" EOT "BREAK" BREAK`},
		{`x "ABORT"`, `x "ABORT"`},
		{`OK-AT`, `OK-AT-""`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			s := mustParse(t, tc.in)
			if got := s.String(); got != tc.out {
				t.Errorf("String() = %q, want %q", got, tc.out)
			}
			checkRoundTrip(t, s)
		})
	}
}

func TestRedacted(t *testing.T) {
	s := mustParse(t, `ogin: user word: \qhunter2 ">" ppp`)
	got := s.Redacted()
	if strings.Contains(got, "hunter2") {
		t.Fatalf("Redacted() = %q shows the secret", got)
	}
	if want := `ogin: user word: "??????" > ppp`; got != want {
		t.Errorf("Redacted() = %q, want %q", got, want)
	}
	if !strings.Contains(s.String(), `\qhunter2`) {
		t.Errorf("String() = %q lost the quiet send", s.String())
	}
}
