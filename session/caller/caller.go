// Package caller is a simulated dial-up user for tests and `nas lab`: a subscriber on the
// simulated telephone network (lines/pstn) whose modem it drives with lines/modem, and a
// small expect/send helper over the call, like a terminal program with a login script.
// It answers callbacks too, which is what a callback user's modem has to do.
package caller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/dialback/nas/lines"
	"github.com/dialback/nas/lines/modem"
	"github.com/dialback/nas/lines/pstn"
	"github.com/dialback/nas/ppp"
)

// Options configure a Caller.
type Options struct {
	// Init is the modem init string (default "AT&F E0 V1 X4 S0=0").
	Init string
	// Modem is the template for the caller's modem driver (timings, logger). Init, Answer
	// and AnswerRings are set by the caller.
	Modem modem.Options
	// Log receives the caller's own notes (dial, answer, hang-up); nil discards them.
	Log *slog.Logger
}

// Caller is one simulated user with a modem on the simulated network. Its methods are for
// one goroutine at a time.
type Caller struct {
	Number string
	port   lines.Port
	m      *modem.Modem
	log    *slog.Logger
	ready  bool

	mu    sync.Mutex
	seen  bytes.Buffer // everything received on the current call
	used  int          // how much of seen Expect has consumed
	conn  *modem.DataConn
	rbuf  []byte
	ended error // why the current call ended, once it has
}

// DefaultInit is the caller's modem init string: factory profile, no echo, verbose results
// with BUSY and NO ANSWER reported, and no auto answer (the caller answers callbacks itself).
const DefaultInit = "AT&F E0 V1 X4 S0=0"

// New attaches a subscriber number to the exchange and returns a caller on it.
func New(x *pstn.Exchange, number string, o Options) (*Caller, error) {
	p, err := x.Attach(number)
	if err != nil {
		return nil, fmt.Errorf("caller %s: %w", number, err)
	}
	return NewOnPort(p, number, o), nil
}

// NewOnPort returns a caller driving the modem on p (a port of any kind: sim, pty, serial).
func NewOnPort(p lines.Port, number string, o Options) *Caller {
	mo := o.Modem
	mo.Init = o.Init
	if mo.Init == "" {
		mo.Init = DefaultInit
	}
	mo.Answer, mo.AnswerRings = modem.AnswerRing, 1
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if mo.Log == nil {
		mo.Log = log
	}
	return &Caller{Number: number, port: p, m: modem.New(p, mo), log: log.With("caller", number), rbuf: make([]byte, 1024)}
}

// Port is the caller's modem port, to pull the plug (Close) or watch modem status.
func (c *Caller) Port() lines.Port { return c.port }

func (c *Caller) reset(ctx context.Context) error {
	if c.ready {
		return nil
	}
	if err := c.m.Reset(ctx); err != nil {
		return fmt.Errorf("caller %s: reset modem: %w", c.Number, err)
	}
	c.ready = true
	return nil
}

// Dial calls number and returns once connected.
func (c *Caller) Dial(ctx context.Context, number string) (modem.Call, error) {
	if err := c.reset(ctx); err != nil {
		return modem.Call{}, err
	}
	call, err := c.m.Dial(ctx, nil, number)
	if err != nil {
		return modem.Call{}, fmt.Errorf("caller %s: dial %s: %w", c.Number, number, err)
	}
	c.start()
	c.log.Info("connected", "to", number, "connect", call.Connect)
	return call, nil
}

// Answer waits for an incoming call (a callback) and answers it.
func (c *Caller) Answer(ctx context.Context) (modem.Call, error) {
	if err := c.reset(ctx); err != nil {
		return modem.Call{}, err
	}
	call, err := c.m.Answer(ctx, nil)
	if err != nil {
		return modem.Call{}, fmt.Errorf("caller %s: answer: %w", c.Number, err)
	}
	c.start()
	c.log.Info("answered", "connect", call.Connect)
	return call, nil
}

func (c *Caller) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen.Reset()
	c.used = 0
	c.conn = c.m.Data()
	c.ended = nil
}

// Send writes s to the call as typed.
func (c *Caller) Send(s string) error {
	if c.conn == nil {
		return fmt.Errorf("caller %s: send: no call", c.Number)
	}
	if _, err := c.conn.Write([]byte(s)); err != nil {
		return fmt.Errorf("caller %s: send: %w", c.Number, err)
	}
	return nil
}

// SendLine types s and Return (CR).
func (c *Caller) SendLine(s string) error { return c.Send(s + "\r") }

// ErrHungUp means the call ended while Expect was waiting; errors.Is also matches the
// modem's reason (modem.ErrCarrierLost).
var ErrHungUp = errors.New("call ended")

// readMore reads once from the call into the transcript, until deadline.
func (c *Caller) readMore(deadline time.Time) error {
	if c.ended != nil {
		return c.ended
	}
	if c.conn == nil {
		return fmt.Errorf("caller %s: no call", c.Number)
	}
	_ = c.conn.SetReadDeadline(deadline)
	n, err := c.conn.Read(c.rbuf)
	if n > 0 {
		c.mu.Lock()
		c.seen.Write(c.rbuf[:n])
		c.mu.Unlock()
	}
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		c.ended = fmt.Errorf("caller %s: %w: %w", c.Number, ErrHungUp, err)
		return c.ended
	}
	return err
}

// Expect reads until want has arrived (after what earlier Expects consumed) and returns the
// text up to and including it. It fails when ctx ends or the call ends first; the error
// then quotes what did arrive.
func (c *Caller) Expect(ctx context.Context, want string) (string, error) {
	_, got, err := c.ExpectAny(ctx, want)
	return got, err
}

// ExpectAny is Expect for several possible texts: it returns the index of the one that
// arrived first (ending earliest in the received text) and the text up to and including it.
func (c *Caller) ExpectAny(ctx context.Context, wants ...string) (int, string, error) {
	for {
		i, got, rest, found := c.take(wants)
		if found {
			return i, got, nil
		}
		if ctx.Err() != nil {
			return -1, rest, fmt.Errorf("caller %s: expect %q: %w; got %q", c.Number, wants, ctx.Err(), rest)
		}
		// Short reads, so that ctx is looked at often even without a deadline.
		deadline, _ := ctx.Deadline()
		step := time.Now().Add(50 * time.Millisecond)
		if deadline.IsZero() || step.Before(deadline) {
			deadline = step
		}
		if err := c.readMore(deadline); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			i, got, rest, found := c.take(wants)
			if found {
				return i, got, nil
			}
			return -1, rest, fmt.Errorf("expect %q: %w; got %q", wants, err, rest)
		}
	}
}

// take consumes the received text up to the end of whichever of wants ends first.
func (c *Caller) take(wants []string) (which int, got, rest string, found bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rest = c.seen.String()[c.used:]
	which, end := -1, 0
	for i, w := range wants {
		if j := strings.Index(rest, w); j >= 0 && (which < 0 || j+len(w) < end) {
			which, end = i, j+len(w)
		}
	}
	if which < 0 {
		return -1, "", rest, false
	}
	c.used += end
	return which, rest[:end], "", true
}

// WaitHangup reads until the far end hangs up and returns what arrived meanwhile.
func (c *Caller) WaitHangup(ctx context.Context) (string, error) {
	c.mu.Lock()
	start := c.used
	c.mu.Unlock()
	for {
		if ctx.Err() != nil {
			c.mu.Lock()
			rest := c.seen.String()[start:]
			c.mu.Unlock()
			return rest, fmt.Errorf("caller %s: wait for hang-up: %w; got %q", c.Number, ctx.Err(), rest)
		}
		deadline := time.Now().Add(50 * time.Millisecond)
		if err := c.readMore(deadline); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			c.mu.Lock()
			rest := c.seen.String()[start:]
			c.used = c.seen.Len()
			c.mu.Unlock()
			if errors.Is(err, modem.ErrCarrierLost) || errors.Is(err, io.EOF) {
				return rest, nil
			}
			return rest, err
		}
	}
}

// Login answers the IOS login dialog: waits for "Username: ", types user, waits for
// "Password: ", types password.
func (c *Caller) Login(ctx context.Context, user, password string) error {
	if _, err := c.Expect(ctx, "Username: "); err != nil {
		return err
	}
	if err := c.SendLine(user); err != nil {
		return err
	}
	if _, err := c.Expect(ctx, "Password: "); err != nil {
		return err
	}
	return c.SendLine(password)
}

// ExecCallback is an EXEC callback user's whole dance: call nasNumber, log in, wait for the
// NAS to hang up, answer its callback and (when reverify) log in again, then wait for the
// EXEC prompt. It returns the callback leg's text up to the prompt.
func (c *Caller) ExecCallback(ctx context.Context, nasNumber, user, password, prompt string, reverify bool) (string, error) {
	if _, err := c.Dial(ctx, nasNumber); err != nil {
		return "", err
	}
	if err := c.Login(ctx, user, password); err != nil {
		return "", err
	}
	if _, err := c.WaitHangup(ctx); err != nil {
		return "", err
	}
	if _, err := c.Answer(ctx); err != nil {
		return "", err
	}
	if reverify {
		if err := c.Login(ctx, user, password); err != nil {
			return "", err
		}
	}
	return c.Expect(ctx, prompt)
}

// PPP runs PPP as the caller (cfg.Role is set to ppp.Client) on the current call until the
// link ends: the PPP dial-up networking of the simulated user. What arrived on the call and no
// Expect consumed (the NAS's banner, a login prompt) is given to the link first, which skips
// whatever is not a frame.
func (c *Caller) PPP(ctx context.Context, cfg ppp.LinkConfig) (ppp.LinkResult, error) {
	if c.conn == nil {
		return ppp.LinkResult{}, fmt.Errorf("caller %s: ppp: no call", c.Number)
	}
	c.mu.Lock()
	cfg.Initial = append([]byte(nil), c.seen.Bytes()[c.used:]...)
	c.used = c.seen.Len()
	c.mu.Unlock()
	cfg.Role = ppp.Client
	if cfg.Logger == nil {
		cfg.Logger = c.log
	}
	res, err := ppp.NewLink(c.conn, cfg).Run(ctx)
	if err != nil {
		return res, fmt.Errorf("caller %s: ppp: %w", c.Number, err)
	}
	return res, nil
}

// Hangup ends the call from the caller's side.
func (c *Caller) Hangup(ctx context.Context) error {
	if err := c.m.Hangup(ctx); err != nil {
		return fmt.Errorf("caller %s: hang up: %w", c.Number, err)
	}
	return nil
}

// Transcript is everything received on the current (or last) call.
func (c *Caller) Transcript() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen.String()
}

// Close unplugs the caller's modem from the network.
func (c *Caller) Close() error { return c.port.Close() }
