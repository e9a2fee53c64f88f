package session

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// scriptConn is a Conn that delivers fixed chunks, then says the deadline passed (or EOF).
type scriptConn struct {
	mu     sync.Mutex
	chunks [][]byte
	out    bytes.Buffer
	eof    bool
}

func (c *scriptConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.chunks) == 0 {
		if c.eof {
			return 0, io.EOF
		}
		return 0, os.ErrDeadlineExceeded
	}
	n := copy(p, c.chunks[0])
	if n == len(c.chunks[0]) {
		c.chunks = c.chunks[1:]
	} else {
		c.chunks[0] = c.chunks[0][n:]
	}
	return n, nil
}

func (c *scriptConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}

func (c *scriptConn) SetReadDeadline(time.Time) error { return nil }

func chunks(parts ...string) [][]byte {
	out := make([][]byte, len(parts))
	for i, p := range parts {
		out[i] = []byte(p)
	}
	return out
}

// past is a hard limit already reached: once the input runs out, readLine times out.
var past = limits{hard: time.Unix(1, 0)}

func TestReadLine(t *testing.T) {
	for _, tc := range []struct {
		name  string
		in    []string
		echo  bool
		lines []string // lines read before the input runs out
		echo2 string   // what was echoed
		err   error    // the error after the last line
	}{
		{name: "cr", in: []string{"alice\r"}, echo: true, lines: []string{"alice"}, echo2: "alice\r\n", err: ErrTimeout},
		{name: "crlf split", in: []string{"a\r", "\nb\n"}, echo: true, lines: []string{"a", "b"}, echo2: "a\r\nb\r\n", err: ErrTimeout},
		{name: "lf only", in: []string{"a\nb\n"}, lines: []string{"a", "b"}, err: ErrTimeout},
		{name: "empty lines", in: []string{"\r\r"}, lines: []string{"", ""}, err: ErrTimeout},
		{name: "backspace and del", in: []string{"abx\b\x7fc\r"}, echo: true, lines: []string{"ac"}, echo2: "abx\b \b\b \bc\r\n", err: ErrTimeout},
		{name: "no echo", in: []string{"secret\r"}, lines: []string{"secret"}, echo2: "\r\n", err: ErrTimeout},
		{name: "kill line", in: []string{"abc\x15d\r"}, lines: []string{"d"}, err: ErrTimeout},
		{name: "ctrl-c", in: []string{"abc\x03"}, echo2: "^C\r\n", err: ErrInterrupt},
		{name: "ctrl-d empty", in: []string{"\x04"}, err: ErrEndOfInput},
		{name: "ctrl-d ignored in a line", in: []string{"a\x04b\r"}, lines: []string{"ab"}, err: ErrTimeout},
		{name: "8-bit and controls dropped", in: []string{"a\x00\x1b\xffb\tc\r"}, lines: []string{"abc"}, err: ErrTimeout},
		{name: "too long", in: []string{strings.Repeat("x", maxLine+10) + "\r"}, lines: []string{strings.Repeat("x", maxLine)}, err: ErrTimeout},
		{name: "eof", in: []string{"ab"}, err: io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &scriptConn{chunks: chunks(tc.in...), eof: tc.err == io.EOF}
			tm := newTerm(context.Background(), c, false)
			defer tm.close()
			var got []string
			var err error
			for {
				var l string
				l, err = tm.readLine(past, tc.echo)
				if err != nil {
					break
				}
				got = append(got, l)
			}
			if strings.Join(got, "|") != strings.Join(tc.lines, "|") {
				t.Errorf("lines %q, want %q", got, tc.lines)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("error %v, want %v", err, tc.err)
			}
			if tc.echo2 != "" && c.out.String() != tc.echo2 {
				t.Errorf("echo %q, want %q", c.out.String(), tc.echo2)
			}
		})
	}
}

func TestReadLineDetectsPPP(t *testing.T) {
	c := &scriptConn{chunks: chunks("ali", "\x7e\xff\x7d", "\x23\xc0\x21\x7d\x21")}
	tm := newTerm(context.Background(), c, true)
	defer tm.close()
	_, err := tm.readLine(past, true)
	var det *DetectedError
	if !errors.As(err, &det) || det.Protocol != ProtoPPP {
		t.Fatalf("readLine: %v, want PPP detected", err)
	}
	if !bytes.Contains(det.Frame, []byte("\x7e\xff\x7d\x23\xc0\x21")) {
		t.Errorf("frame % x", det.Frame)
	}
}

func TestReadLineCarrierCheck(t *testing.T) {
	c := &scriptConn{chunks: chunks("NO CARRIER\r\n")}
	tm := newTerm(context.Background(), c, false)
	defer tm.close()
	lost := errors.New("carrier gone")
	tm.carrier = func() error { return lost }
	if _, err := tm.readLine(past, true); !errors.Is(err, lost) {
		t.Fatalf("readLine: %v, want the carrier error", err)
	}
}

func TestReadLineContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tm := newTerm(ctx, &scriptConn{}, false)
	defer tm.close()
	if _, err := tm.readLine(limits{}, true); !errors.Is(err, context.Canceled) {
		t.Fatalf("readLine: %v, want canceled", err)
	}
}

// FuzzReadLine: whatever a caller sends, readLine returns printable lines no longer than
// maxLine, and never panics.
func FuzzReadLine(f *testing.F) {
	f.Add([]byte("alice\r\nsecret\r"), true)
	f.Add([]byte("\x7e\xff\x7d\x23\xc0\x21"), true)
	f.Add([]byte("a\b\x7f\x15\x03\x04\r"), false)
	f.Fuzz(func(t *testing.T, in []byte, sniff bool) {
		c := &scriptConn{chunks: [][]byte{in}}
		tm := newTerm(context.Background(), c, sniff)
		defer tm.close()
		for i := 0; i < len(in)+1; i++ {
			l, err := tm.readLine(past, true)
			if err != nil {
				if errors.Is(err, ErrInterrupt) || errors.Is(err, ErrEndOfInput) {
					continue
				}
				return
			}
			if len(l) > maxLine {
				t.Fatalf("line of %d bytes", len(l))
			}
			for j := 0; j < len(l); j++ {
				if l[j] < 0x20 || l[j] >= 0x7f {
					t.Fatalf("line %q has a non-printable byte", l)
				}
			}
		}
	})
}

// FuzzShell runs arbitrary command lines through the command parser (no session state is
// touched by parse errors, help, or unknown commands).
func FuzzShell(f *testing.F) {
	f.Add("show users")
	f.Add("sh ?")
	f.Add("show line 99999999999999999999")
	f.Add("?")
	f.Fuzz(func(t *testing.T, line string) {
		ws := split(line)
		node := commands
		for _, w := range ws {
			if node.sub == nil {
				break
			}
			next, msg := lookup(node, w.text)
			if next == nil && msg == "" {
				t.Fatalf("lookup(%q) gave neither a command nor a message", w.text)
			}
			if next == nil {
				break
			}
			node = next
		}
		if node.args != nil {
			args := make([]string, 0, len(ws))
			for _, w := range ws {
				args = append(args, w.text)
			}
			if bad := node.args(args); bad >= len(args) {
				t.Fatalf("args check points past the arguments: %d of %d", bad, len(args))
			}
		}
		for _, w := range ws {
			if w.pos < 0 || w.pos+len(w.text) > len(line) || line[w.pos:w.pos+len(w.text)] != w.text {
				t.Fatalf("word %+v not at its position in %q", w, line)
			}
		}
	})
}
