package config

import (
	"slices"
	"time"
)

// Defaults. Where IOS has a default for the equivalent command it is used and named here, so
// that an IOS operator gets the behaviour they expect from a key they leave out.
const (
	// DefaultHostname is the name used in prompts and as NAS-Identifier (IOS `hostname`, whose
	// factory value is "Router"; "nas" says what this box is).
	DefaultHostname = "nas"

	// DefaultSpeed is the DTE rate (IOS `speed`: 9600 on a console, 115200 on modem TTYs of an
	// access server, which is what a V.34/V.90 modem needs to keep up with compression).
	DefaultSpeed = 115200
	// DefaultParity, DefaultDataBits and DefaultStopBits are 8N1 (IOS `parity none`,
	// `databits 8`, `stopbits 1`; IOS's stopbits default is 2 on old images, 1 on access servers).
	DefaultParity   = "none"
	DefaultDataBits = 8
	DefaultStopBits = 1
	// DefaultFlowControl is RTS/CTS (IOS `flowcontrol hardware`, required by every modem
	// line in the IOS access-server guides).
	DefaultFlowControl = "hardware"

	// DefaultAnswer is "ring": the NAS counts RINGs and sends ATA, as IOS does with
	// `modem answer-timeout` and a modem set to S0=0 (IOS `modem inout` + autoconfigure).
	DefaultAnswer = "ring"
	// DefaultAnswerRings is how many RINGs before ATA (IOS answers on the first ring).
	DefaultAnswerRings = 1
	// DefaultModemMode allows answering and dialling (IOS `modem inout`), which callback needs.
	DefaultModemMode = "inout"

	// DefaultFlushAtActivation is on (IOS `flush-at-activation` is the default; `no
	// flush-at-activation` keeps the caller's first PPP frame or CR).
	DefaultFlushAtActivation = true
	// DefaultExecTimeout is the EXEC idle timeout (IOS `exec-timeout 10 0`).
	DefaultExecTimeout = 10 * time.Minute
	// DefaultLoginTimeout bounds the Username/Password dialog (IOS `timeout login response 30`).
	DefaultLoginTimeout = 30 * time.Second
	// DefaultLogin uses the aaa login method list (IOS `login authentication default`).
	DefaultLogin = "authentication"

	// DefaultForcedWait is the pause after hanging up the first leg before dialling
	// (IOS `callback forced-wait`, 4 seconds).
	DefaultForcedWait = 4 * time.Second
	// DefaultNoDSRWait is the longest wait for DSR to drop after the hang-up
	// (IOS `callback nodsr-wait 5000`, which IOS counts in milliseconds).
	DefaultNoDSRWait = 5 * time.Second

	// DefaultPromptTimeout bounds the EXEC prompt for a callback number (IOS waits 30 seconds).
	DefaultPromptTimeout = 30 * time.Second

	// DefaultRingPeriod is the simulated network's time between RINGs. A real cadence is 6 s;
	// the lab runs faster so that calls complete quickly.
	DefaultRingPeriod = time.Second
	// DefaultNoAnswerRings is how many rings before the simulated exchange says NO ANSWER.
	DefaultNoAnswerRings = 5
	// DefaultConnectSpeed is the rate reported in CONNECT by simulated modems (V.34 top speed).
	DefaultConnectSpeed = 33600

	// DefaultLogLevel and DefaultLogFormat are slog's info level and text handler.
	DefaultLogLevel  = "info"
	DefaultLogFormat = "text"
)

// DefaultMethods is the default method list for aaa.login and aaa.ppp
// (IOS `aaa authentication login default local`, `aaa authentication ppp default local`).
func DefaultMethods() []string { return []string{"local"} }

// Default returns a configuration with every default filled in and no lines or users.
// Parse decodes the file over it, so a key left out keeps its default and a key written
// explicitly (even as 0) keeps the value written.
func Default() *Config {
	return &Config{
		Hostname: DefaultHostname,
		AAA: AAA{
			Login: DefaultMethods(),
			PPP:   DefaultMethods(),
		},
		Callback: GlobalCallback{PromptTimeout: DefaultPromptTimeout},
		PSTN: PSTN{
			RingPeriod:    DefaultRingPeriod,
			NoAnswerRings: DefaultNoAnswerRings,
			ConnectSpeed:  DefaultConnectSpeed,
		},
		Log: Log{Level: DefaultLogLevel, Format: DefaultLogFormat},
	}
}

// DefaultLine returns a line entry with every default filled in and no TTY numbers or port.
// Code that builds a LineSpec by hand (the lab, tests) should start from it: zero is a
// meaningful value for some fields (callback waits, login), so WithDefaults cannot fill those.
func DefaultLine() LineSpec {
	flush := DefaultFlushAtActivation
	exec := DefaultExecTimeout
	return LineSpec{
		Speed:       DefaultSpeed,
		Parity:      DefaultParity,
		StopBits:    DefaultStopBits,
		DataBits:    DefaultDataBits,
		FlowControl: DefaultFlowControl,
		Modem: Modem{
			Answer:      DefaultAnswer,
			AnswerRings: DefaultAnswerRings,
			Mode:        DefaultModemMode,
		},
		Login:             DefaultLogin,
		Callback:          LineCallback{ForcedWait: DefaultForcedWait, NoDSRWait: DefaultNoDSRWait},
		FlushAtActivation: &flush,
		ExecTimeout:       &exec,
		LoginTimeout:      DefaultLoginTimeout,
	}
}

// WithDefaults returns a copy of s with the defaults filled into the fields whose zero value
// is not a legal setting (speed, framing, flow control, modem answer/mode, login timeout, the
// pointer fields). Fields where zero means something (rotary, absolute-timeout, callback
// waits, hangup, login "") are left alone. It is safe on a parsed LineSpec: it changes nothing
// there. The copy shares no memory with s.
func (s LineSpec) WithDefaults() LineSpec {
	if s.Speed == 0 {
		s.Speed = DefaultSpeed
	}
	if s.Parity == "" {
		s.Parity = DefaultParity
	}
	if s.StopBits == 0 {
		s.StopBits = DefaultStopBits
	}
	if s.DataBits == 0 {
		s.DataBits = DefaultDataBits
	}
	if s.FlowControl == "" {
		s.FlowControl = DefaultFlowControl
	}
	if s.Modem.Answer == "" {
		s.Modem.Answer = DefaultAnswer
	}
	if s.Modem.AnswerRings == 0 {
		s.Modem.AnswerRings = DefaultAnswerRings
	}
	if s.Modem.Mode == "" {
		s.Modem.Mode = DefaultModemMode
	}
	if s.LoginTimeout == 0 {
		s.LoginTimeout = DefaultLoginTimeout
	}
	flush := s.Flush()
	s.FlushAtActivation = &flush
	exec := s.ExecIdleTimeout()
	s.ExecTimeout = &exec
	s.Autoselect = slices.Clone(s.Autoselect)
	return s
}

// ApplyDefaults fills defaults into a hand-built Config wherever a field is zero and zero is
// not a legal value (see WithDefaults for lines). Parse does not need it. A nil method list
// becomes the default; an empty non-nil one is left for Validate to reject.
func (c *Config) ApplyDefaults() {
	if c.Hostname == "" {
		c.Hostname = DefaultHostname
	}
	for i := range c.Lines {
		c.Lines[i] = c.Lines[i].WithDefaults()
	}
	if c.AAA.Login == nil {
		c.AAA.Login = DefaultMethods()
	}
	if c.AAA.PPP == nil {
		c.AAA.PPP = DefaultMethods()
	}
	if c.Callback.PromptTimeout == 0 {
		c.Callback.PromptTimeout = DefaultPromptTimeout
	}
	c.RADIUS.applyDefaults()
	c.TACACS.applyDefaults()
	if c.PSTN.RingPeriod == 0 {
		c.PSTN.RingPeriod = DefaultRingPeriod
	}
	if c.PSTN.NoAnswerRings == 0 {
		c.PSTN.NoAnswerRings = DefaultNoAnswerRings
	}
	if c.PSTN.ConnectSpeed == 0 {
		c.PSTN.ConnectSpeed = DefaultConnectSpeed
	}
	if c.Log.Level == "" {
		c.Log.Level = DefaultLogLevel
	}
	if c.Log.Format == "" {
		c.Log.Format = DefaultLogFormat
	}
}

// Flush reports whether input arriving as the line activates is discarded
// (IOS `flush-at-activation`, default on).
func (s LineSpec) Flush() bool {
	if s.FlushAtActivation == nil {
		return DefaultFlushAtActivation
	}
	return *s.FlushAtActivation
}

// ExecIdleTimeout is the EXEC idle timeout (IOS `exec-timeout`, default 10m); 0 means none.
func (s LineSpec) ExecIdleTimeout() time.Duration {
	if s.ExecTimeout == nil {
		return DefaultExecTimeout
	}
	return *s.ExecTimeout
}

// NoLogin reports whether the line goes straight to EXEC without a login dialog
// (login "" or "none").
func (s LineSpec) NoLogin() bool { return s.Login == "" || s.Login == "none" }

// IsCallbackUser reports whether the user is entitled to callback (has a callback-dialstring,
// possibly empty).
func (u User) IsCallbackUser() bool { return u.CallbackDialstring != nil }

// UserSuppliesNumber reports whether the user is a callback user whose dial string is empty,
// so the number comes from the caller (RFC 1570, CBCP, or the EXEC prompt).
func (u User) UserSuppliesNumber() bool {
	return u.CallbackDialstring != nil && *u.CallbackDialstring == ""
}
