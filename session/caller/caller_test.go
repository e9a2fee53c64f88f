package caller_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dialback/nas/lines/modem"
	"github.com/dialback/nas/lines/pstn"
	"github.com/dialback/nas/session/caller"
)

func TestTwoCallers(t *testing.T) {
	x := pstn.New(pstn.Options{RingPeriod: 30 * time.Millisecond, TrainingDelay: time.Millisecond})
	defer x.Close()
	mo := modem.Options{CommandTimeout: time.Second, CarrierPoll: 5 * time.Millisecond, HoldBack: 5 * time.Millisecond}
	a, err := caller.New(x, "5550001", caller.Options{Modem: mo})
	if err != nil {
		t.Fatal(err)
	}
	b, err := caller.New(x, "5550002", caller.Options{Modem: mo})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := caller.New(x, "5550001", caller.Options{}); err == nil {
		t.Error("a number attached twice")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	answered := make(chan error, 1)
	go func() {
		_, err := b.Answer(ctx)
		answered <- err
	}()
	if _, err := a.Dial(ctx, "5550002"); err != nil {
		t.Fatal(err)
	}
	if err := <-answered; err != nil {
		t.Fatal(err)
	}
	if err := a.SendLine("hello"); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Expect(ctx, "hello\r"); err != nil || got != "hello\r" {
		t.Fatalf("Expect = %q, %v", got, err)
	}
	// Expect consumes: the same text is not found twice.
	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = b.Expect(short, "hello")
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second Expect: %v, want a timeout", err)
	}
	if err := b.Send("bye"); err != nil {
		t.Fatal(err)
	}
	if err := b.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	rest, err := a.WaitHangup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rest != "bye" {
		t.Errorf("before the hang-up got %q, want %q", rest, "bye")
	}
	if _, err := a.Expect(ctx, "more"); !errors.Is(err, caller.ErrHungUp) {
		t.Errorf("Expect after the hang-up: %v, want ErrHungUp", err)
	}
	if a.Transcript() != "bye" {
		t.Errorf("transcript %q", a.Transcript())
	}
}
