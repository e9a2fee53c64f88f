package serial_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/dialback/nas/lines/modem"
	"github.com/dialback/nas/lines/pstn"
	"github.com/dialback/nas/lines/serial"
)

// TestSerialDrivesEmulatedModemOverPTY runs the NAS's side exactly as on hardware: the serial
// backend opens a pseudo-terminal whose other end is an emulated modem of the simulated
// exchange, and the Hayes driver answers a call from another subscriber through it. A pty has
// no modem-control lines, so the hang-up and the carrier loss go by the modem's words.
func TestSerialDrivesEmulatedModemOverPTY(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	x := pstn.New(pstn.Options{RingPeriod: 30 * time.Millisecond, TrainingDelay: 5 * time.Millisecond, Seed: 1})
	defer x.Close()

	slave, closePTY, err := x.AttachPTY("5551001")
	if err != nil {
		t.Fatalf("AttachPTY: %v", err)
	}
	defer closePTY()
	port, err := serial.Open(ctx, slave, serial.Mode{Speed: 115200, FlowControl: serial.FlowNone}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("serial.Open %s: %v", slave, err)
	}
	defer port.Close()
	if port.HasModemControl() {
		// A pty answers the modem ioctls with an error; the port must have noticed.
		if _, err := port.ModemStatus(); err == nil {
			t.Fatalf("a pty reported modem-control lines")
		}
	}
	nas := modem.New(port, modem.Options{Init: "AT&F E0 V1 S0=0 &C1 &D2 S12=1", GuardTime: 50 * time.Millisecond,
		Hangup: modem.HangupEscape, CommandTimeout: 2 * time.Second})
	if err := nas.Reset(ctx); err != nil {
		t.Fatalf("Reset over the pty: %v", err)
	}

	callerPort, err := x.Attach("5552001")
	if err != nil {
		t.Fatal(err)
	}
	defer callerPort.Close()
	caller := modem.New(callerPort, modem.Options{Init: "AT&F E0 V1", CommandTimeout: 2 * time.Second})
	if err := caller.Reset(ctx); err != nil {
		t.Fatalf("caller Reset: %v", err)
	}

	answered := make(chan error, 1)
	var call modem.Call
	go func() {
		var err error
		call, err = nas.Answer(ctx, nil)
		answered <- err
	}()
	if _, err := caller.Dial(ctx, nil, "5551001"); err != nil {
		t.Fatalf("caller Dial: %v", err)
	}
	if err := <-answered; err != nil {
		t.Fatalf("Answer over the pty: %v", err)
	}
	if call.Speed != 33600 {
		t.Errorf("CONNECT speed = %d (%q), want 33600", call.Speed, call.Connect)
	}

	// Bytes both ways, including a PPP-looking frame that a terminal's line discipline would mangle.
	msg := []byte("\x7e\xff\x7d\x23\xc0\x21\x01 Username: \r\n")
	if _, err := nas.Data().Write(msg); err != nil {
		t.Fatal(err)
	}
	readExactly(t, caller.Data(), msg)
	reply := []byte("alice\r")
	if _, err := caller.Data().Write(reply); err != nil {
		t.Fatal(err)
	}
	readExactly(t, nas.Data(), reply)

	// The caller hangs up: the NAS side sees NO CARRIER in the stream and reports carrier loss.
	if err := caller.Hangup(ctx); err != nil {
		t.Fatalf("caller Hangup: %v", err)
	}
	buf := make([]byte, 64)
	_ = nas.Data().SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, err := nas.Data().Read(buf)
		if errors.Is(err, modem.ErrCarrierLost) {
			break
		}
		if err != nil {
			t.Fatalf("after the caller hung up, Read = %v, want ErrCarrierLost", err)
		}
	}
	// And the modem is usable for the next call.
	if err := nas.Reset(ctx); err != nil {
		t.Fatalf("Reset after carrier loss: %v", err)
	}
}

func readExactly(t *testing.T, r interface {
	io.Reader
	SetReadDeadline(time.Time) error
}, want []byte) {
	t.Helper()
	_ = r.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("reading %q: %v (got %q)", want, err, got)
	}
	if string(got) != string(want) {
		t.Fatalf("read %q, want %q", got, want)
	}
}
