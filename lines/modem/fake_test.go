package modem

import (
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dialback/nas/lines"
)

// fakeModem is a scripted Hayes modem behind a lines.Port: it answers AT command lines the
// way a modem does (echo, verbose or numeric results, ATZ, ATA, ATD, ATH, +++) and lets a
// test inject what the line does (RING, caller ID, carrier loss, data from the far end).
type fakeModem struct {
	name string

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced at every change readers wait for
	out      []byte        // modem -> DTE, not yet read
	deadline time.Time
	closed   bool
	chunk    int // if > 0, Read returns at most this many bytes

	echo, verbose bool
	dataMode      bool
	dcd           bool
	dead          bool            // never says anything
	errorOn       map[string]bool // command lines (upper case, no blanks) answered ERROR
	answerResult  string          // result of ATA: "CONNECT 33600/V34", "NO CARRIER", "" = silence
	dialResult    string          // result of ATD
	afterConnect  string          // data the far end sends right after CONNECT
	hangupErr     error           // Port.Hangup fails with this
	lineBuf       []byte
	cmds          []string // command lines received, as sent
	remote        []byte   // bytes written while in data mode
	writes        []string // every Write, in order
	hangups       int      // Port.Hangup calls
	statusCalls   int
}

func newFakeModem(name string) *fakeModem {
	return &fakeModem{
		name: name, changed: make(chan struct{}), echo: true, verbose: true,
		errorOn: map[string]bool{}, answerResult: "CONNECT 33600/V34", dialResult: "CONNECT 33600/V34",
	}
}

// fakePort is the fake without modem control; fakeMCPort adds lines.ModemControl.
type fakePort struct{ *fakeModem }
type fakeMCPort struct{ *fakeModem }

func (f *fakeMCPort) SetDTR(on bool) error { return nil }
func (f *fakeMCPort) SetRTS(on bool) error { return nil }
func (f *fakeMCPort) ModemStatus() (lines.ModemStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statusCalls++
	return lines.ModemStatus{DCD: f.dcd, DSR: true, CTS: true}, nil
}

var (
	_ lines.Port         = (*fakePort)(nil)
	_ lines.Port         = (*fakeMCPort)(nil)
	_ lines.ModemControl = (*fakeMCPort)(nil)
)

func (f *fakeModem) Name() string { return f.name }

func (f *fakeModem) broadcastLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeModem) Read(b []byte) (int, error) {
	for {
		f.mu.Lock()
		if len(f.out) > 0 {
			n := len(f.out)
			if f.chunk > 0 {
				n = min(n, f.chunk)
			}
			n = copy(b, f.out[:n])
			f.out = f.out[n:]
			f.mu.Unlock()
			return n, nil
		}
		if f.closed {
			f.mu.Unlock()
			return 0, io.EOF
		}
		dl, ch := f.deadline, f.changed
		f.mu.Unlock()
		if dl.IsZero() {
			<-ch
			continue
		}
		d := time.Until(dl)
		if d <= 0 {
			return 0, os.ErrDeadlineExceeded
		}
		t := time.NewTimer(d)
		select {
		case <-ch:
		case <-t.C:
		}
		t.Stop()
	}
}

func (f *fakeModem) SetReadDeadline(t time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deadline = t
	f.broadcastLocked()
	return nil
}

func (f *fakeModem) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	f.broadcastLocked()
	return nil
}

// Hangup is the port's DTR drop: a modem with &D2 hangs up and goes to command mode.
func (f *fakeModem) Hangup(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hangups++
	if f.hangupErr != nil {
		return f.hangupErr
	}
	if f.dataMode || f.dcd {
		f.dataMode, f.dcd = false, false
		f.resultLocked(NoCarrier, "")
	}
	return nil
}

// emit queues bytes from the modem to the DTE.
func (f *fakeModem) emit(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.emitLocked(s)
}

func (f *fakeModem) emitLocked(s string) {
	if f.dead {
		return
	}
	f.out = append(f.out, s...)
	f.broadcastLocked()
}

var numericOf = map[Result]int{OK: 0, Connect: 1, Ring: 2, NoCarrier: 3, Error: 4, NoDialtone: 6, Busy: 7, NoAnswer: 8}

// resultLocked sends a result code in the current V0/V1 form; extra follows the word
// (the speed of a CONNECT), verbose only.
func (f *fakeModem) resultLocked(r Result, extra string) {
	if f.verbose {
		f.emitLocked("\r\n" + r.String() + extra + "\r\n")
		return
	}
	f.emitLocked(strconv.Itoa(numericOf[r]) + "\r")
}

// sendLine sends a verbose result line (possibly one the modem would not send itself).
func (f *fakeModem) sendLine(s string) { f.emit("\r\n" + s + "\r\n") }

// dropCarrier ends the call from the far end: DCD off, command mode, and NO CARRIER if text.
func (f *fakeModem) dropCarrier(text bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dcd, f.dataMode = false, false
	if text {
		f.resultLocked(NoCarrier, "")
	}
}

func (f *fakeModem) Write(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, os.ErrClosed
	}
	f.writes = append(f.writes, string(b))
	if f.dataMode {
		if string(b) == "+++" { // the guard times are the driver's business, not checked here
			f.dataMode = false
			f.resultLocked(OK, "")
			return len(b), nil
		}
		f.remote = append(f.remote, b...)
		return len(b), nil
	}
	for _, c := range b {
		if c != '\r' {
			f.lineBuf = append(f.lineBuf, c)
			continue
		}
		line := string(f.lineBuf)
		f.lineBuf = f.lineBuf[:0]
		if f.echo && !f.dead {
			f.emitLocked(line + "\r")
		}
		f.commandLocked(line)
	}
	return len(b), nil
}

func (f *fakeModem) commandLocked(line string) {
	s := strings.ToUpper(strings.ReplaceAll(line, " ", ""))
	if !strings.HasPrefix(s, "AT") {
		return
	}
	f.cmds = append(f.cmds, line)
	if f.errorOn[s] {
		f.resultLocked(Error, "")
		return
	}
	for i := 2; i < len(s); {
		c := s[i]
		i++
		num := func() int {
			j := i
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
			}
			n, _ := strconv.Atoi(s[j:i])
			return n
		}
		switch c {
		case 'E':
			f.echo = num() == 1
		case 'V':
			f.verbose = num() == 1
		case 'Z':
			num()
			f.echo, f.verbose = true, true
		case 'H':
			num()
			f.dataMode, f.dcd = false, false
		case 'S':
			num()
			if i < len(s) && s[i] == '=' {
				i++
				num()
			}
		case '&', '\\', '%':
			if i < len(s) {
				i++
			}
			num()
		case '+', '#':
			i = len(s)
		case 'A':
			f.callLocked(f.answerResult)
			return
		case 'D':
			f.callLocked(f.dialResult)
			return
		default:
			num()
		}
	}
	f.resultLocked(OK, "")
}

func (f *fakeModem) callLocked(result string) {
	if result == "" {
		return
	}
	r, _, _ := ParseResult(result)
	if r == Connect {
		f.dataMode, f.dcd = true, true
		if f.verbose {
			f.emitLocked("\r\n" + result + "\r\n" + f.afterConnect)
		} else {
			f.emitLocked("1\r" + f.afterConnect)
		}
		return
	}
	if f.verbose {
		f.emitLocked("\r\n" + result + "\r\n")
	} else {
		f.resultLocked(r, "")
	}
}

func (f *fakeModem) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.cmds...)
}

func (f *fakeModem) remoteData() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return string(f.remote)
}

func (f *fakeModem) allWrites() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.writes...)
}

func (f *fakeModem) set(fn func(f *fakeModem)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

var errFakeDTR = errors.New("inappropriate ioctl for device")
