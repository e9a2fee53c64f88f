package modem

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/lines/chat"
	"github.com/dialback/nas/lines/pstn"
)

// Integration tests: the driver against the emulated modems of the simulated exchange.

func newPSTN(t *testing.T, o pstn.Options) *pstn.Exchange {
	t.Helper()
	if o.RingPeriod == 0 {
		o.RingPeriod = 30 * time.Millisecond
	}
	if o.TrainingDelay == 0 {
		o.TrainingDelay = 5 * time.Millisecond
	}
	if o.DTRPulse == 0 {
		o.DTRPulse = 5 * time.Millisecond
	}
	if o.DSRDrop == 0 {
		o.DSRDrop = 5 * time.Millisecond
	}
	o.Seed = 1
	x := pstn.New(o)
	t.Cleanup(func() { _ = x.Close() })
	return x
}

func attachSim(t *testing.T, x *pstn.Exchange, number string) *pstn.Port {
	t.Helper()
	p, err := x.Attach(number)
	if err != nil {
		t.Fatalf("attach %s: %v", number, err)
	}
	return p
}

// noMC hides a port's modem control, as a pty or a bare RFC 2217 port without notifications
// would: carrier is then seen only in the modem's words.
type noMC struct{ lines.Port }

// simInit is a NAS-style init string; S12=1 makes the escape guard 20 ms.
const simInit = "AT&F E0 V1 S0=0 &C1 &D2 S12=1"

// simOptions are the driver timings for the exchange. The DCD poll keeps its default, so that
// the carrier-loss tests see the bound a deployment gets.
func simOptions(o Options) Options {
	if o.Init == "" {
		o.Init = simInit
	}
	if o.GuardTime == 0 {
		o.GuardTime = 50 * time.Millisecond
	}
	if o.CommandTimeout == 0 {
		o.CommandTimeout = time.Second
	}
	if o.CarrierPoll == 0 {
		o.CarrierPoll = DefaultCarrierPoll
	}
	return testOptions(o)
}

func resetSim(t *testing.T, p lines.Port, o Options) *Modem {
	t.Helper()
	m := New(p, simOptions(o))
	if err := m.Reset(ctxT(t)); err != nil {
		t.Fatalf("Reset %s: %v", p.Name(), err)
	}
	return m
}

type answered struct {
	call  Call
	rings []int
	err   error
}

// answerAsync starts Answer on m and returns where its result will arrive.
func answerAsync(ctx context.Context, m *Modem) <-chan answered {
	ch := make(chan answered, 1)
	go func() {
		var a answered
		a.call, a.err = m.Answer(ctx, func(n int, _ CallerID) { a.rings = append(a.rings, n) })
		ch <- a
	}()
	return ch
}

// callUp answers on nas a call dialled from caller and checks both ends.
func callUp(t *testing.T, nas, caller *Modem, nasNumber string) Call {
	t.Helper()
	res := answerAsync(ctxT(t), nas)
	if _, err := caller.Dial(ctxT(t), nil, nasNumber); err != nil {
		t.Fatalf("Dial %s: %v", nasNumber, err)
	}
	a := <-res
	if a.err != nil {
		t.Fatalf("Answer: %v", a.err)
	}
	return a.call
}

// exchangeData checks that bytes pass both ways.
func exchangeData(t *testing.T, a, b *Modem) {
	t.Helper()
	for _, dir := range []struct{ from, to *Modem }{{a, b}, {b, a}} {
		msg := "\x7e\xff\x7d\x23\xc0\x21 hello\r\n"
		if _, err := dir.from.Data().Write([]byte(msg)); err != nil {
			t.Fatalf("Write: %v", err)
		}
		readN(t, dir.to.Data(), msg)
	}
}

func waitDone(t *testing.T, dc *DataConn, within time.Duration) {
	t.Helper()
	select {
	case <-dc.Done():
	case <-time.After(within):
		t.Fatalf("carrier loss not seen within %v", within)
	}
}

func TestPSTNAnswerWithCallerID(t *testing.T) {
	checkGoroutines(t)
	x := newPSTN(t, pstn.Options{})
	x.SetCallerName("5552000", "JOHN DOE")
	nas := resetSim(t, attachSim(t, x, "5551000"), Options{AnswerRings: 2, CallerID: true})
	caller := resetSim(t, attachSim(t, x, "5552000"), Options{})

	res := answerAsync(ctxT(t), nas)
	if _, err := caller.Dial(ctxT(t), nil, "5551000"); err != nil {
		t.Fatalf("Dial: %v", err)
	}
	a := <-res
	if a.err != nil {
		t.Fatalf("Answer: %v", a.err)
	}
	c := a.call
	if c.Connect != "CONNECT 33600" || c.Speed != 33600 || c.Rings != 2 {
		t.Errorf("call = %+v", c)
	}
	if c.CallerID.Number != "5552000" || c.CallerID.Name != "JOHN DOE" || len(c.CallerID.Date) != 4 || len(c.CallerID.Time) != 4 {
		t.Errorf("caller ID = %+v", c.CallerID)
	}
	if len(a.rings) != 2 || a.rings[0] != 1 || a.rings[1] != 2 {
		t.Errorf("onRing counts = %v", a.rings)
	}
	exchangeData(t, nas, caller)

	// The caller hangs up (DTR): the NAS sees carrier loss by DCD within a second.
	if err := caller.Hangup(ctxT(t)); err != nil {
		t.Fatalf("caller Hangup: %v", err)
	}
	dc := nas.Data()
	waitDone(t, dc, time.Second)
	if _, err := readAll(t, dc); !errors.Is(err, ErrCarrierLost) {
		t.Errorf("NAS Read after far hang-up = %v, want ErrCarrierLost", err)
	}
	if err := nas.Hangup(ctxT(t)); err != nil {
		t.Fatalf("NAS Hangup after carrier loss: %v", err)
	}
	// The line answers again.
	callUp(t, nas, caller, "5551000")
	exchangeData(t, nas, caller)
	if err := nas.Hangup(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	waitDone(t, caller.Data(), time.Second)
}

func TestPSTNAutoAnswer(t *testing.T) {
	x := newPSTN(t, pstn.Options{})
	nas := resetSim(t, attachSim(t, x, "5551000"), Options{Init: "AT&F E0 V1 &C1 &D2", Answer: AnswerAuto, AnswerRings: 2})
	caller := resetSim(t, attachSim(t, x, "5552000"), Options{})
	c := callUp(t, nas, caller, "5551000")
	if c.Rings != 2 || c.Speed != 33600 {
		t.Errorf("call = %+v", c)
	}
	exchangeData(t, nas, caller)
}

func TestPSTNDialScript(t *testing.T) {
	checkGoroutines(t)
	x := newPSTN(t, pstn.Options{})
	// The far end is a caller's modem waiting in auto-answer, as in a callback.
	remote := resetSim(t, attachSim(t, x, "5552000"), Options{Init: "AT&F E0 V1 &C1 &D2 S0=1", Answer: AnswerAuto})
	nas := resetSim(t, attachSim(t, x, "5551000"), Options{})
	res := answerAsync(ctxT(t), remote)
	script := mustParse(t, `ABORT ERROR ABORT BUSY ABORT "NO ANSWER" ABORT "NO CARRIER" ABORT "NO DIALTONE" `+
		`"" "ATZ" OK "ATE0 V1 W1 X4 &D2" OK "ATDT\T" TIMEOUT 10 CONNECT \c`)
	c, err := nas.Dial(ctxT(t), script, "5552000")
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if want := (Call{Connect: "CONNECT 33600/ARQ/V34/LAPM", Speed: 33600, Protocol: "ARQ/V34/LAPM"}); c != want {
		t.Errorf("call = %+v, want %+v", c, want)
	}
	if a := <-res; a.err != nil {
		t.Fatalf("remote Answer: %v", a.err)
	}
	exchangeData(t, nas, remote)
	if err := nas.Hangup(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	waitDone(t, remote.Data(), time.Second)
	if err := remote.Hangup(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestPSTNDialFailures(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, x *pstn.Exchange)
		to    string
		want  error
	}{
		{
			name: "busy",
			setup: func(t *testing.T, x *pstn.Exchange) {
				// The called line is off-hook.
				m := resetSim(t, attachSim(t, x, "5553000"), Options{})
				if err := m.expectOK(ctxT(t), "ATH1"); err != nil {
					t.Fatal(err)
				}
			},
			to: "5553000", want: ErrBusy,
		},
		{
			name:  "no answer",
			setup: func(t *testing.T, x *pstn.Exchange) { resetSim(t, attachSim(t, x, "5553000"), Options{}) },
			to:    "5553000", want: ErrNoAnswer,
		},
		{
			name:  "no dial tone",
			setup: func(t *testing.T, x *pstn.Exchange) { x.SetDialTone("5551000", false) },
			to:    "5553000", want: ErrNoDialtone,
		},
		{
			name:  "unallocated number",
			setup: func(t *testing.T, x *pstn.Exchange) {},
			to:    "5559999", want: ErrNoCarrier,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := newPSTN(t, pstn.Options{NoAnswerRings: 2})
			nas := resetSim(t, attachSim(t, x, "5551000"), Options{})
			tt.setup(t, x)
			_, err := nas.Dial(ctxT(t), nil, tt.to)
			if !errors.Is(err, tt.want) || !errors.Is(err, chat.ErrAborted) {
				t.Fatalf("Dial = %v, want %v", err, tt.want)
			}
			// The modem is usable afterwards.
			if err := nas.Reset(ctxT(t)); err != nil {
				t.Fatalf("Reset after failed dial: %v", err)
			}
		})
	}
}

func TestPSTNCarrierLossText(t *testing.T) {
	x := newPSTN(t, pstn.Options{})
	nas := resetSim(t, noMC{attachSim(t, x, "5551000")}, Options{})
	caller := resetSim(t, attachSim(t, x, "5552000"), Options{})
	callUp(t, nas, caller, "5551000")
	exchangeData(t, nas, caller)
	dc := nas.Data()
	if _, err := caller.Data().Write([]byte("last words\r\n")); err != nil {
		t.Fatal(err)
	}
	readN(t, dc, "last words")
	if err := x.Disconnect("5552000"); err != nil {
		t.Fatal(err)
	}
	got, err := readAll(t, dc)
	if got != "\r\n" || !errors.Is(err, ErrCarrierLost) {
		t.Errorf("read %q, %v; want the held CR LF and ErrCarrierLost", got, err)
	}
	waitDone(t, dc, time.Second)
	// Without modem control the hang-up is the escape sequence; the modem is already on-hook.
	if err := nas.Hangup(ctxT(t)); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
}

func TestPSTNEscapeHangup(t *testing.T) {
	x := newPSTN(t, pstn.Options{})
	nasPort := attachSim(t, x, "5551000")
	nas := resetSim(t, noMC{nasPort}, Options{})
	caller := resetSim(t, attachSim(t, x, "5552000"), Options{})
	callUp(t, nas, caller, "5551000")
	if err := nas.Hangup(ctxT(t)); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	waitDone(t, caller.Data(), time.Second)
	if st, _ := nasPort.ModemStatus(); st.DCD {
		t.Error("NAS modem still has carrier after the escape hang-up")
	}
	if !errors.Is(nas.Data().Err(), ErrHungUp) {
		t.Errorf("Err = %v, want ErrHungUp", nas.Data().Err())
	}
}

func TestPSTNNumericResults(t *testing.T) {
	x := newPSTN(t, pstn.Options{})
	nas := resetSim(t, attachSim(t, x, "5551000"), Options{Init: "AT&F E0 V0 X0 S0=0 &C1 &D2"})
	caller := resetSim(t, attachSim(t, x, "5552000"), Options{})
	c := callUp(t, nas, caller, "5551000")
	if want := (Call{Connect: "CONNECT", Rings: 1}); c != want {
		t.Errorf("call = %+v", c)
	}
	exchangeData(t, nas, caller)
	if err := nas.Hangup(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

func TestPSTNPortClosed(t *testing.T) {
	x := newPSTN(t, pstn.Options{})
	p := attachSim(t, x, "5551000")
	nas := resetSim(t, p, Options{})
	_ = p.Close()
	err := nas.Reset(ctxT(t))
	if err == nil || !(errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) || errors.Is(err, ErrNoResponse)) {
		t.Fatalf("Reset on a closed port = %v", err)
	}
}
