//go:build linux

package pstn

import (
	"os"
	"syscall"
	"testing"
)

func TestAttachPTY(t *testing.T) {
	x := newExchange(t, fastOptions())
	slave, closeFn, err := x.AttachPTY("5550001")
	if err != nil {
		t.Fatalf("AttachPTY: %v", err)
	}
	if _, _, err := x.AttachPTY("5550001"); err == nil {
		t.Error("second AttachPTY on the same number succeeded")
	}
	pb, b := attach(t, x, "5550002")

	f, err := os.OpenFile(slave, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open %s: %v", slave, err)
	}
	defer f.Close()
	s := newTerm(t, f, slave)

	// Raw terminal: the modem's echo comes back once, with no CR/LF translation.
	s.send("AT\r")
	if got := s.expect("OK\r\n"); got != "AT\r\r\n" {
		t.Errorf("before OK on the pty: %q", got)
	}
	s.cmd("ATE0 V1 S0=0", "OK\r\n")
	s.send("ATDT5550002\r")
	b.expect("RING")
	b.send("ATA\r")
	s.expect("\r\nCONNECT 33600\r\n")
	b.expect("CONNECT 33600\r\n")

	s.send("from the pty\r\n")
	b.expect("from the pty\r\n")
	b.send("to the pty")
	s.expect("to the pty")

	// Incoming calls ring on the pty too.
	if err := x.Disconnect("5550002"); err != nil {
		t.Fatal(err)
	}
	s.expect("NO CARRIER")
	b.expect("NO CARRIER")
	b.send("ATD5550001\r")
	s.expect("RING")
	s.send("ATA\r")
	s.expect("CONNECT")
	b.expect("CONNECT")

	if err := closeFn(); err != nil {
		t.Errorf("closeFn: %v", err)
	}
	b.expect("NO CARRIER")
	if status(t, pb).DCD {
		t.Error("DCD on after the pty subscriber went away")
	}
	if err := closeFn(); err != nil {
		t.Errorf("second closeFn: %v", err)
	}
	// The number is free again.
	if _, err := x.Attach("5550001"); err != nil {
		t.Errorf("attach after closing the pty: %v", err)
	}
}
