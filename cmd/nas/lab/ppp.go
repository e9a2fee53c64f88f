package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dialback/nas/lines/modem"
	"github.com/dialback/nas/ppp"
	"github.com/dialback/nas/session/caller"
)

// Simulated PPP callers: a caller that `speaks: ppp` runs a ppp.Link in the client role over
// its modem's call, as a dial-up networking client would, optionally asking to be called back
// (RFC 1570 or MS-CBCP) and answering the callback with PPP again.

// Defaults of a PPP caller.
const (
	// defaultHold is how long a PPP caller stays online once IPCP is up, before it hangs up.
	defaultHold = 200 * time.Millisecond
	// defaultCBCPDelay is the callback delay the lab's CBCP callers ask for. pppd always asks
	// for 5 s; the lab's callers are less patient, so that the scenarios stay quick.
	defaultCBCPDelay = time.Second
	// pppRestart is the callers' LCP retransmission period (pppd: 3 s). A first frame lost to
	// flush-at-activation is sent again this soon.
	pppRestart = time.Second
)

// PPP caller scenario values.
var (
	pppAuths     = []string{"chap", "pap", "ms-chap-v2"}
	pppCallbacks = []string{"cbcp", "rfc1570"}
)

// checkPPP checks the PPP fields of callers[i].
func (c Caller) checkPPP(i int) []error {
	var errs []error
	if c.Speaks != "ppp" {
		for _, f := range []struct {
			key string
			set bool
		}{{"auth", c.Auth != ""}, {"callback", c.Callback != ""}, {"hold", c.Hold != 0}, {"cbcp-delay", c.CBCPDelay != 0}} {
			if f.set {
				errs = append(errs, fmt.Errorf("callers[%d].%s: only for a caller that speaks ppp", i, f.key))
			}
		}
		return errs
	}
	if c.Auth != "" && !contains(pppAuths, c.Auth) {
		errs = append(errs, fmt.Errorf("callers[%d].auth: %q is not one of chap, pap, ms-chap-v2", i, c.Auth))
	}
	if c.Callback != "" && !contains(pppCallbacks, c.Callback) {
		errs = append(errs, fmt.Errorf("callers[%d].callback: %q is not one of cbcp, rfc1570", i, c.Callback))
	}
	if c.Hold < 0 {
		errs = append(errs, fmt.Errorf("callers[%d].hold: %v is negative", i, c.Hold))
	}
	if c.CBCPDelay < 0 || c.CBCPDelay > 255*time.Second {
		errs = append(errs, fmt.Errorf("callers[%d].cbcp-delay: %v is out of range 0s-255s", i, c.CBCPDelay))
	}
	if c.Callback != "cbcp" && c.CBCPDelay != 0 {
		errs = append(errs, fmt.Errorf("callers[%d].cbcp-delay: only with callback: cbcp", i))
	}
	return errs
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// playCaller plays a caller in the language it speaks.
func playCaller(ctx context.Context, c *caller.Caller, p Caller, hostname string, log *slog.Logger) error {
	if p.Speaks == "ppp" {
		return playPPP(ctx, c, p, log)
	}
	return play(ctx, c, p, hostname)
}

// pppLink is the caller's link configuration.
func (p Caller) pppLink(log *slog.Logger) (ppp.LinkConfig, error) {
	cfg := ppp.LinkConfig{User: p.Username, Password: p.Password, RestartTimer: pppRestart,
		CBCPDelay: p.CBCPDelay, Logger: log}
	if cfg.CBCPDelay == 0 {
		cfg.CBCPDelay = defaultCBCPDelay
	}
	if p.Auth != "" {
		a, err := ppp.ParseAuthProto(p.Auth)
		if err != nil {
			return cfg, err
		}
		cfg.Auth = []ppp.AuthProto{a}
	}
	switch p.Callback {
	case "cbcp":
		// As pppd's `callback NUMBER`: option 13 operation 6, the number given in CBCP.
		cfg.CallbackRequest = ppp.CallbackRequest{Requested: true, Op: ppp.CallbackOpCBCP, Message: p.CallbackNumber}
	case "rfc1570":
		cfg.CallbackRequest = ppp.CallbackRequest{Requested: true, Op: ppp.CallbackOpAuth}
		if p.CallbackNumber != "" {
			cfg.CallbackRequest = ppp.CallbackRequest{Requested: true, Op: ppp.CallbackOpDialString, Message: p.CallbackNumber}
		}
	}
	return cfg, nil
}

// playPPP is a dial-up networking user: dial, run PPP, stay online for Hold, hang up; with
// answer-callback, answer the NAS's call back and run PPP again (without asking for callback).
func playPPP(ctx context.Context, c *caller.Caller, p Caller, log *slog.Logger) error {
	defer c.Close()
	if p.Delay > 0 {
		select {
		case <-time.After(p.Delay):
		case <-ctx.Done():
			return nil
		}
	}
	log = log.With("caller", c.Number, "user", p.Username)
	cfg, err := p.pppLink(log)
	if err != nil {
		return err
	}
	if _, err := c.Dial(ctx, p.Dial); err != nil {
		return err
	}
	res, err := runPPP(ctx, c, cfg, p.hold())
	if err != nil {
		return err
	}
	log.Info("ppp ended", "cause", res.Cause, "message", res.Message, "address", res.Local, "callback", res.Callback != nil)
	if !p.AnswerCallback {
		return hangup(ctx, c)
	}
	// The NAS hangs up and calls back (RFC 1570, CBCP, or `ppp callback initiate`).
	if _, err := c.WaitHangup(ctx); err != nil {
		return err
	}
	if _, err := c.Answer(ctx); err != nil {
		return err
	}
	cfg.CallbackRequest = ppp.CallbackRequest{}
	res, err = runPPP(ctx, c, cfg, p.hold())
	if err != nil {
		return err
	}
	log.Info("ppp ended on the callback", "cause", res.Cause, "address", res.Local)
	return hangup(ctx, c)
}

func (p Caller) hold() time.Duration {
	if p.Hold > 0 {
		return p.Hold
	}
	return defaultHold
}

// runPPP runs the link on the current call until it ends, closing it hold after IPCP is up.
func runPPP(ctx context.Context, c *caller.Caller, cfg ppp.LinkConfig, hold time.Duration) (ppp.LinkResult, error) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var t *time.Timer
	cfg.Up = func(ppp.LinkResult) { t = time.AfterFunc(hold, cancel) }
	res, err := c.PPP(lctx, cfg)
	if t != nil {
		t.Stop()
	}
	switch {
	case err == nil:
	case lctx.Err() != nil && ctx.Err() == nil:
		err = nil // the user hung up
	case errors.Is(err, modem.ErrCarrierLost):
		err = nil // the NAS hung up: how a refused or called-back link ends
	}
	return res, err
}

// hangup puts the caller's telephone down, if the NAS has not already.
func hangup(ctx context.Context, c *caller.Caller) error {
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Hangup(hctx); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}
