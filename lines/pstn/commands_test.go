package pstn

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		in      string
		want    []command
		wantErr bool
	}{
		{in: "", want: nil},
		{in: "&F E0 v1 s0=0", want: []command{
			{prefix: '&', name: "F"},
			{name: "E", hasNum: true},
			{name: "V", num: 1, hasNum: true},
			{name: "S", reg: 0, op: '=', hasNum: true},
		}},
		{in: "S7?S=3S", want: []command{
			{name: "S", reg: 7, op: '?'},
			{name: "S", reg: -1, op: '=', num: 3, hasNum: true},
			{name: "S", reg: -1},
		}},
		{in: "DT555-1234", want: []command{{name: "D", dial: dialString{number: "5551234"}}}},
		{in: "dt 9,,w555 (12)34", want: []command{{name: "D", dial: dialString{number: "955512" + "34", pauses: 2}}}},
		{in: "DT555;H", want: []command{
			{name: "D", dial: dialString{number: "555", semi: true}},
			{name: "H"},
		}},
		{in: "DL", want: []command{{name: "D", dial: dialString{redial: true}}}},
		{in: "D*70#,5", want: []command{{name: "D", dial: dialString{number: "*70#5", pauses: 1}}}},
		{in: "+VCID=1;+FCLASS=?#CID?", want: []command{
			{prefix: '+', name: "VCID", op: '=', num: 1, hasNum: true},
			{prefix: '+', name: "FCLASS", op: 't'},
			{prefix: '#', name: "CID", op: '?'},
		}},
		{in: "+VCID=1E0", want: []command{
			{prefix: '+', name: "VCID", op: '=', num: 1, hasNum: true},
			{name: "E", hasNum: true},
		}},
		{in: "E0!", want: []command{{name: "E", hasNum: true}}, wantErr: true},
		{in: "&", wantErr: true},
		{in: "&1", wantErr: true},
		{in: "+", wantErr: true},
		{in: "+=1", wantErr: true},
		{in: "S1234567=1", wantErr: true},
		{in: "E1234567", wantErr: true},
		{in: "DT555X", wantErr: true},
		{in: "\xff", wantErr: true},
	}
	for _, tc := range tests {
		got, err := parseLine([]byte(tc.in))
		if (err != nil) != tc.wantErr {
			t.Errorf("parseLine(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseLine(%q) =\n  %+v\nwant\n  %+v", tc.in, got, tc.want)
		}
	}
}

// TestCommands runs command lines on an idle modem. In command state the modem answers while
// Write runs, so each step's whole output is there when Write returns.
func TestCommands(t *testing.T) {
	const ok = "\r\nOK\r\n"
	const errs = "\r\nERROR\r\n"
	info := func(s string) string { return "\r\n" + s + "\r\n" }
	type step struct{ send, want string }
	tests := []struct {
		name  string
		steps []step
	}{
		{"echo by default", []step{{"AT\r", "AT\r" + ok}}},
		{"lower and mixed case", []step{{"ATE0\r", "ATE0\r" + ok}, {"at\r", ok}, {"aT\r", ok}, {"At e1\r", ok}, {"AT\r", "AT\r" + ok}}},
		{"noise before AT", []step{{"ATE0\r", "ATE0\r" + ok}, {"xyz\rqqAT\r", ok}, {"\r", ""}}},
		{"init string", []step{{"AT&F E0 V1 S0=0 &C1 &D2 +FCLASS=0\r", "AT&F E0 V1 S0=0 &C1 &D2 +FCLASS=0\r" + ok}, {"AT\r", ok}}},
		{"wvdial init", []step{{"ATE0\r", "ATE0\r" + ok}, {"ATQ0 V1 E1 S0=0 &C1 &D2 +FCLASS=0\r", ok}}},
		{"S registers", []step{
			{"ATE0\r", "ATE0\r" + ok},
			{"ATS0?\r", info("000") + ok},
			{"ATS7=30 S7?\r", info("030") + ok},
			{"ATS12?S2?S3?\r", info("050") + info("043") + info("013") + ok},
			{"ATS200=7S200?\r", info("007") + ok},
			{"ATS11 S=99 S11?\r", info("099") + ok},
			{"ATS256=1\r", errs},
			{"ATS0=256\r", errs},
			{"ATS8 ?\r", info("002") + ok},
		}},
		{"backspace", []step{{"ATE0\r", "ATE0\r" + ok}, {"ATS7=4\b9S7?\r", info("009") + ok}}},
		{"repeat last line", []step{{"ATE0\r", "ATE0\r" + ok}, {"ATS7=33S7?\r", info("033") + ok}, {"A/", info("033") + ok}}},
		{"unknown commands", []step{
			{"ATE0\r", "ATE0\r" + ok},
			{"ATFOO\r", errs}, {"ATY\r", errs}, {"AT&Q\r", errs}, {"AT+FOO\r", errs},
			{"ATX5\r", errs}, {"AT&D4\r", errs}, {"ATE2\r", errs}, {"AT?\r", errs},
			{"AT#CID=2\r", errs}, {"AT+FCLASS=1\r", errs}, {"AT+VCID\r", errs},
		}},
		{"commands before an error run", []step{{"ATE0Y\r", "ATE0Y\r" + errs}, {"AT\r", ok}}},
		{"quiet", []step{{"ATE0Q1\r", "ATE0Q1\r"}, {"ATS0?\r", info("000")}, {"ATFOO\r", ""}, {"ATQ0\r", ok}}},
		{"numeric", []step{{"ATE0V0\r", "ATE0V0\r0\r"}, {"ATS0?\r", "000\r\n0\r"}, {"ATV1\r", ok}}},
		{"info", []step{
			{"ATE0\r", "ATE0\r" + ok},
			{"ATI0\r", info("SIMV34") + ok}, {"ATI2\r", ok}, {"ATI4\r", info("5550001") + ok},
			{"ATI9\r", errs}, {"AT+GMI\r", info("nas") + ok},
		}},
		{"caller ID settings", []step{
			{"ATE0\r", "ATE0\r" + ok},
			{"AT+VCID?\r", info("0") + ok},
			{"AT+VCID=1;+VCID?\r", info("1") + ok},
			{"AT+VCID=?\r", info("(0-1)") + ok},
			{"AT#CID=0#CID?\r", info("0") + ok},
			{"AT#CID=?\r", info("0,1") + ok},
		}},
		{"store and restore profile", []step{
			{"ATE0&W\r", "ATE0&W\r" + ok},
			{"ATE1\r", ok},
			{"ATZ\r", "ATZ\r" + ok},
			{"AT\r", ok},
			{"AT&F\r", ok},
			{"AT\r", "AT\r" + ok},
		}},
		{"idle line", []step{{"ATE0\r", "ATE0\r" + ok}, {"ATO\r", "\r\nNO CARRIER\r\n"}, {"ATA\r", "\r\nNO CARRIER\r\n"}, {"ATH\r", ok}}},
		{"dial in pieces", []step{{"ATE0\r", "ATE0\r" + ok}, {"ATDT555;\r", ok}, {"ATH\r", ok}}},
		{"line too long", []step{{"ATE0\r", "ATE0\r" + ok}, {"AT" + strings.Repeat("E0", 200) + "\r", errs}, {"AT\r", ok}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := newExchange(t, fastOptions())
			_, d := attach(t, x, "5550001")
			for _, s := range tc.steps {
				d.send(s.send)
				if got := d.drain(); got != s.want {
					t.Errorf("after %q: got %q, want %q", s.send, got, s.want)
				}
			}
		})
	}
}

func FuzzCommandLine(f *testing.F) {
	for _, s := range []string{
		"AT&F E0 V1 S0=0", "ATDT5550002", "ATS7=30S7?", "AT+VCID=1;#CID=?", "ATDT555,,W;H",
		"ATS99999999999=1", "A/", "ATZ\b\b\bE1", "AT&D3&C0X0V0Q1", "ATDL;", "ATA", "ATO", "ATH1",
		"AT+FCLASS=?+GMM", "ATS=5?",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if _, err := parseLine(line); err != nil && len(line) == 0 {
			t.Fatalf("empty line gave %v", err)
		}
		o := fastOptions()
		o.RingPeriod = time.Millisecond
		o.TrainingDelay = -1
		x := New(o)
		defer x.Close()
		p, err := x.Attach("5550001")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := x.Attach("5550002"); err != nil {
			t.Fatal(err)
		}
		// As a command line, and raw (as data, if the line went online).
		for _, b := range [][]byte{append([]byte("AT"), line...), []byte("\r"), line, []byte("\rAT\r")} {
			if _, err := p.Write(b); err != nil {
				t.Fatalf("write %q: %v", b, err)
			}
		}
	})
}
