package modem

import (
	"strings"
	"testing"
)

func TestParseResult(t *testing.T) {
	tests := []struct {
		line string
		want Result
		info ResultInfo
		ok   bool
	}{
		// verbose
		{"OK", OK, ResultInfo{}, true},
		{"RING", Ring, ResultInfo{}, true},
		{"NO CARRIER", NoCarrier, ResultInfo{}, true},
		{"ERROR", Error, ResultInfo{}, true},
		{"NO DIALTONE", NoDialtone, ResultInfo{}, true},
		{"NO DIAL TONE", NoDialtone, ResultInfo{}, true},
		{"BUSY", Busy, ResultInfo{}, true},
		{"NO ANSWER", NoAnswer, ResultInfo{}, true},
		{"CONNECT", Connect, ResultInfo{}, true},
		{"CONNECT 115200", Connect, ResultInfo{Speed: 115200}, true},
		{"CONNECT 33600/ARQ/V34/LAPM", Connect, ResultInfo{Speed: 33600, Protocol: "ARQ/V34/LAPM"}, true},
		{"CONNECT 33600/V34", Connect, ResultInfo{Speed: 33600, Protocol: "V34"}, true},
		{"CONNECT 28800/ARQ/V34/LAPM/V42BIS", Connect, ResultInfo{Speed: 28800, Protocol: "ARQ/V34/LAPM/V42BIS"}, true},
		{"CONNECT 1200/75", Connect, ResultInfo{Speed: 1200, Protocol: "75"}, true},
		{"CONNECT 9600 EC", Connect, ResultInfo{Speed: 9600, Protocol: "EC"}, true},
		{"CONNECT FAX", Connect, ResultInfo{Protocol: "FAX"}, true},
		// odd spacing and case
		{"  OK  ", OK, ResultInfo{}, true},
		{"\tNO   CARRIER ", NoCarrier, ResultInfo{}, true},
		{"no carrier", NoCarrier, ResultInfo{}, true},
		{"CONNECT   33600 / v34 ", Connect, ResultInfo{Speed: 33600, Protocol: "V34"}, true},
		{"CONNECT 33600//ARQ", Connect, ResultInfo{Speed: 33600, Protocol: "ARQ"}, true},
		{"NO  DIAL  TONE", NoDialtone, ResultInfo{}, true},
		// numeric (V0)
		{"0", OK, ResultInfo{Numeric: true, Code: 0}, true},
		{"1", Connect, ResultInfo{Numeric: true, Code: 1}, true},
		{"2", Ring, ResultInfo{Numeric: true, Code: 2}, true},
		{"3", NoCarrier, ResultInfo{Numeric: true, Code: 3}, true},
		{"4", Error, ResultInfo{Numeric: true, Code: 4}, true},
		{"5", Connect, ResultInfo{Numeric: true, Code: 5, Speed: 1200}, true},
		{"6", NoDialtone, ResultInfo{Numeric: true, Code: 6}, true},
		{"7", Busy, ResultInfo{Numeric: true, Code: 7}, true},
		{"8", NoAnswer, ResultInfo{Numeric: true, Code: 8}, true},
		{"10", Connect, ResultInfo{Numeric: true, Code: 10, Speed: 2400}, true},
		{" 3 ", NoCarrier, ResultInfo{Numeric: true, Code: 3}, true},
		{"03", NoCarrier, ResultInfo{Numeric: true, Code: 3}, true},
		{"9", Unknown, ResultInfo{}, false},  // vendor-specific (CONNECT 600, CONNECT 2400, RINGING)
		{"11", Unknown, ResultInfo{}, false}, // CONNECT 4800 on Hayes, RINGING on USR
		{"99999", Unknown, ResultInfo{}, false},
		// caller ID
		{"NMBR = 5551234", CallerIDLine, ResultInfo{Field: "NMBR", Value: "5551234"}, true},
		{"NAME = JOHN Q PUBLIC", CallerIDLine, ResultInfo{Field: "NAME", Value: "JOHN Q PUBLIC"}, true},
		{"DATE=0321", CallerIDLine, ResultInfo{Field: "DATE", Value: "0321"}, true},
		{"TIME  =  1405", CallerIDLine, ResultInfo{Field: "TIME", Value: "1405"}, true},
		{"NMBR = P", CallerIDLine, ResultInfo{Field: "NMBR", Value: "P"}, true},
		{"DDN_NMBR= 5551234", CallerIDLine, ResultInfo{Field: "DDN_NMBR", Value: "5551234"}, true},
		{"NMBR =", CallerIDLine, ResultInfo{Field: "NMBR"}, true},
		// garbage
		{"", Unknown, ResultInfo{}, false},
		{"   ", Unknown, ResultInfo{}, false},
		{"OKAY", Unknown, ResultInfo{}, false},
		{"OK OK", Unknown, ResultInfo{}, false},
		{"RINGING", Unknown, ResultInfo{}, false},
		{"CONNECTED", Unknown, ResultInfo{}, false},
		{"NO", Unknown, ResultInfo{}, false},
		{"ATZ", Unknown, ResultInfo{}, false},
		{"ATE0V1S0=0", Unknown, ResultInfo{}, false},
		{"FOO = bar", Unknown, ResultInfo{}, false},
		{"\x7e\xff\x7d\x23\xc0\x21", Unknown, ResultInfo{}, false},
		{"CONNECT 99999999999999999999", Unknown, ResultInfo{}, false},
		{"-1", Unknown, ResultInfo{}, false},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.line, " ", "_"), func(t *testing.T) {
			got, info, ok := ParseResult(tt.line)
			if got != tt.want || ok != tt.ok || info != tt.info {
				t.Errorf("ParseResult(%q) = %v, %+v, %v; want %v, %+v, %v",
					tt.line, got, info, ok, tt.want, tt.info, tt.ok)
			}
		})
	}
}

func TestResultString(t *testing.T) {
	for r := OK; r <= NoAnswer; r++ {
		got, _, ok := ParseResult(r.String())
		if !ok || got != r {
			t.Errorf("ParseResult(%v.String()) = %v, %v", r, got, ok)
		}
	}
	if s := Result(42).String(); s != "Result(42)" {
		t.Errorf("Result(42).String() = %q", s)
	}
}

func FuzzParseResult(f *testing.F) {
	for _, s := range []string{
		"OK", "CONNECT 33600/ARQ/V34/LAPM", "CONNECT", "3", "10", "NMBR = 5551234",
		"NO  DIAL TONE", "RING", "garbage", "\x00\xff", "CONNECT 1200/75", "DATE=0321",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		r, info, ok := ParseResult(line)
		if !ok {
			if r != Unknown || info != (ResultInfo{}) {
				t.Fatalf("ParseResult(%q) not ok but returned %v, %+v", line, r, info)
			}
			return
		}
		if r == Unknown || strings.HasPrefix(r.String(), "Result(") {
			t.Fatalf("ParseResult(%q) ok with result %v", line, r)
		}
		if info.Speed < 0 {
			t.Fatalf("ParseResult(%q): negative speed %d", line, info.Speed)
		}
		if r != Connect && (info.Speed != 0 && !info.Numeric || info.Protocol != "") {
			t.Fatalf("ParseResult(%q) = %v with CONNECT details %+v", line, r, info)
		}
		if (r == CallerIDLine) != (info.Field != "") {
			t.Fatalf("ParseResult(%q) = %v with field %q", line, r, info.Field)
		}
		// Blanks around a line never change its meaning.
		r2, info2, ok2 := ParseResult(" \t" + line + " ")
		if r2 != r || info2 != info || !ok2 {
			t.Fatalf("ParseResult(%q) = %v %+v, padded %v %+v %v", line, r, info, r2, info2, ok2)
		}
		// A result's own words parse back to it (CONNECT with its speed and protocol).
		// (Not when the protocol starts with digits after a zero or missing speed: "CONNECT
		// 0/5" and "CONNECT 5" are different lines with the same text form.)
		first, _, _ := strings.Cut(info.Protocol, "/")
		if r != CallerIDLine && (info.Speed > 0 || !isDigits(first)) {
			text := r.String()
			if r == Connect && info.Speed > 0 {
				text += " " + itoa(info.Speed)
			}
			if r == Connect && info.Protocol != "" {
				text += " " + info.Protocol
			}
			r3, info3, ok3 := ParseResult(text)
			if !ok3 || r3 != r || info3.Speed != info.Speed || info3.Protocol != info.Protocol {
				t.Fatalf("ParseResult(%q) = %v %+v; its text %q parses as %v %+v %v", line, r, info, text, r3, info3, ok3)
			}
		}
	})
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
