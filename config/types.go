// Package config owns the NAS configuration: its typed form, loading it with viper from YAML
// and NAS_* environment variables, and validation whose errors name the key path and what is
// allowed. Names and defaults follow Cisco IOS so that an access-server operator feels at home.
package config

import "time"

// Config is the whole configuration of one NAS.
type Config struct {
	Hostname string `mapstructure:"hostname"`
	// Lines, in the order written. Each entry may cover a range of TTYs ("1-8").
	Lines []LineSpec `mapstructure:"lines"`
	// ChatScripts maps a script name to its text in Cisco chat-script syntax.
	ChatScripts map[string]string `mapstructure:"chat-scripts"`
	// Users are the local user table (IOS `username`).
	Users []User `mapstructure:"users"`
	AAA   AAA    `mapstructure:"aaa"`
	// Service holds IOS global `service` switches.
	Service Service `mapstructure:"service"`
	// Callback holds global callback settings.
	Callback GlobalCallback `mapstructure:"callback"`
	// PSTN configures the simulated telephone network used by `nas lab` and by lines whose
	// port is "sim:NUMBER".
	PSTN PSTN `mapstructure:"pstn"`
	Log  Log  `mapstructure:"log"`
	// RADIUS is the RADIUS server group (IOS `aaa group server radius`) and the RFC 5176
	// dynamic-authorization listener.
	RADIUS RADIUS `mapstructure:"radius"`
	// TACACS is the TACACS+ server group (IOS `aaa group server tacacs+`).
	TACACS TACACS `mapstructure:"tacacs"`
	// Accounting is the durable accounting spool, its destinations and exporters.
	Accounting Accounting `mapstructure:"accounting"`
	// PPP holds the interface-level PPP settings of the async lines (IOS `interface
	// Group-Async` / `ppp ...`).
	PPP PPP `mapstructure:"ppp"`
	// IPPools are the address pools (IOS `ip local pool NAME START END`).
	IPPools []IPPool `mapstructure:"ip-pools"`
	// DataPlane is the IP data plane that PPP callers' datagrams cross (ppp/dataplane).
	DataPlane DataPlane `mapstructure:"dataplane"`
	// AccessLists are the IP access lists a Filter-Id (RADIUS) or acl (TACACS+) may name, one
	// rule a line in IOS extended access-list syntax (IOS `ip access-list extended NAME`).
	// Names are case-insensitive: configuration keys are read in lower case.
	AccessLists map[string][]string `mapstructure:"access-lists"`
	// Metrics is the Prometheus metrics endpoint of `nas serve`.
	Metrics Metrics `mapstructure:"metrics"`
}

// Metrics configures the HTTP endpoint that serves Prometheus metrics at /metrics: the
// accounting spool's health and delivery, lines by state, sessions and RADIUS servers.
type Metrics struct {
	// Listen is the TCP address to serve on, e.g. "127.0.0.1:9464"; "" = off (the default).
	// The endpoint has no authentication: bind it to an address only the scraper reaches.
	Listen string `mapstructure:"listen"`
}

// DataPlane configures the IP data plane: one TUN interface shared by every PPP caller, with
// a host route to each caller (and its Framed-Routes) while it is connected. Zero values take
// the data plane's defaults. Without CAP_NET_ADMIN or /dev/net/tun the NAS runs without it.
type DataPlane struct {
	// Enabled: nil or true runs the data plane where the host allows it; false turns it off
	// (PPP callers then get no IP service).
	Enabled *bool `mapstructure:"enabled"`
	// Interface is the TUN interface's name; default "nas0". "%d" in it lets the kernel
	// number it.
	Interface string `mapstructure:"interface"`
	// MTU of the interface: the largest MRU a caller may have; default 1500. Each caller's own
	// MTU (its MRU, lowered by a Framed-MTU) is set on its routes.
	MTU int `mapstructure:"mtu"`
	// RouteProtocol marks the routes the NAS installs (rtnetlink protocol); default 241. At
	// start every route of this protocol in RouteTable is deleted.
	RouteProtocol int `mapstructure:"route-protocol"`
	// RouteTable holds the routes; default 254 (main).
	RouteTable int `mapstructure:"route-table"`
	// QueueLen is each caller's output queue in packets (IOS `hold-queue 40 out`); default 40.
	QueueLen int `mapstructure:"queue-len"`
	// FilterDirection is where a Filter-Id without ".in" or ".out" applies: "out" (what the
	// caller receives, the IOS default) or "in" (IOS `radius-server attribute 11 direction
	// default inbound`).
	FilterDirection string `mapstructure:"filter-direction"`
}

// On reports whether the data plane is to run.
func (d DataPlane) On() bool { return d.Enabled == nil || *d.Enabled }

// RADIUS configures the RADIUS client.
type RADIUS struct {
	// Servers are tried in order (IOS `server-private`); the next one is used only when a
	// server does not answer.
	Servers []RADIUSServer `mapstructure:"servers"`
	// DeadTime is how long a server that did not answer is skipped (IOS `deadtime`, minutes
	// there; 0 = never marked dead).
	DeadTime time.Duration `mapstructure:"dead-time"`
	// NASIdentifier is sent as NAS-Identifier (default: hostname).
	NASIdentifier string `mapstructure:"nas-identifier"`
	// NASIPAddress is sent as NAS-IP-Address (IOS `ip radius source-interface`); "" = none.
	NASIPAddress string `mapstructure:"nas-ip-address"`
	// CallbackIDs maps a Callback-Id value (RFC 2865 §5.20) to the number it stands for.
	CallbackIDs map[string]string `mapstructure:"callback-ids"`
	// DynamicAuthor is the RFC 5176 Disconnect/CoA listener (IOS `aaa server radius
	// dynamic-author`).
	DynamicAuthor DynamicAuthor `mapstructure:"dynamic-author"`
}

// RADIUSServer is one RADIUS server.
type RADIUSServer struct {
	Address  string `mapstructure:"address"`   // host or IP
	AuthPort int    `mapstructure:"auth-port"` // default 1812
	AcctPort int    `mapstructure:"acct-port"` // default 1813
	Secret   string `mapstructure:"secret"`
	// Timeout is the wait for each try (IOS `timeout`, default 5s).
	Timeout time.Duration `mapstructure:"timeout"`
	// Retransmits is how many times a request is resent (IOS `retransmit`, default 3).
	Retransmits *int `mapstructure:"retransmits"`
	// Legacy accepts replies without Message-Authenticator from this server (BlastRADIUS,
	// CVE-2024-3596: leave off unless the server cannot sign its replies).
	Legacy bool `mapstructure:"legacy"`
}

// DynamicAuthor is the RFC 5176 listener.
type DynamicAuthor struct {
	// Listen is the UDP address, e.g. "127.0.0.1:3799"; "" = off.
	Listen  string              `mapstructure:"listen"`
	Clients []DynamicAuthClient `mapstructure:"clients"`
}

// DynamicAuthClient is a host allowed to send Disconnect and CoA requests (IOS `client`).
type DynamicAuthClient struct {
	Address string `mapstructure:"address"`
	Secret  string `mapstructure:"secret"`
}

// TACACS configures the TACACS+ client.
type TACACS struct {
	Servers []TACACSServer `mapstructure:"servers"`
}

// TACACSServer is one TACACS+ server.
type TACACSServer struct {
	Address string `mapstructure:"address"` // host:port (port default 49)
	Secret  string `mapstructure:"secret"`
	// Timeout bounds each exchange (IOS `timeout`, default 5s).
	Timeout time.Duration `mapstructure:"timeout"`
	// SingleConnection keeps one connection open for many sessions (IOS `single-connection`).
	SingleConnection bool `mapstructure:"single-connection"`
	// TLS, when set, runs TACACS+ over TLS 1.3.
	TLS *TACACSTLS `mapstructure:"tls"`
}

// TACACSTLS is the TLS transport of a TACACS+ server.
type TACACSTLS struct {
	CA         string `mapstructure:"ca"`          // PEM file of the CA that signs the server's certificate
	Cert       string `mapstructure:"cert"`        // optional client certificate (PEM)
	Key        string `mapstructure:"key"`         // its key (PEM)
	ServerName string `mapstructure:"server-name"` // name to verify; default: the address's host
}

// Accounting configures the accounting spool (IOS `aaa accounting ... start-stop group ...`).
type Accounting struct {
	// Spool is the spool directory. Records are written here before a call goes on.
	Spool string `mapstructure:"spool"`
	// Policy is what happens when the spool cannot be written: refuse (new calls are not
	// answered; the default) or answer.
	Policy string `mapstructure:"policy"`
	// Methods are the destinations: radius, tacacs (IOS `aaa accounting network default
	// start-stop group radius`). Empty = records stay in the spool for the exporters.
	Methods []string `mapstructure:"methods"`
	// Retention of delivered records.
	Retention Retention `mapstructure:"retention"`
	// Exporters write the records continuously to rotated files.
	Exporters []Exporter `mapstructure:"exporters"`
}

// Retention says how long delivered records are kept in the archive, for exports.
type Retention struct {
	Delete   bool          `mapstructure:"delete"`    // delete delivered records at once
	MaxAge   time.Duration `mapstructure:"max-age"`   // default 31 days
	MaxBytes int64         `mapstructure:"max-bytes"` // default 1 GiB
}

// Exporter writes accounting records to rotated files.
type Exporter struct {
	Name    string `mapstructure:"name"`
	Format  string `mapstructure:"format"` // csv | jsonl | detail
	Dir     string `mapstructure:"dir"`
	MaxSize int64  `mapstructure:"max-size"` // rotate at this size too (bytes); 0 = daily only
}

// PPP holds the PPP settings of the async lines.
type PPP struct {
	// Authentication is the order of protocols offered (IOS `ppp authentication chap pap`):
	// chap, ms-chap-v2, pap.
	Authentication []string `mapstructure:"authentication"`
	// Callback is "" (off), "accept" (honour RFC 1570/CBCP requests) or "initiate" (also
	// call back entitled users who did not ask) (IOS `ppp callback accept|initiate`).
	Callback string `mapstructure:"callback"`
	// Keepalive is the LCP echo interval (IOS `keepalive 10`); 0 = off.
	Keepalive *time.Duration `mapstructure:"keepalive"`
	// KeepaliveRetries is how many unanswered echoes end the link (IOS `keepalive 10 5`).
	KeepaliveRetries int `mapstructure:"keepalive-retries"`
	// LocalAddress is the NAS's address on every PPP link (IOS `ip unnumbered`).
	LocalAddress string `mapstructure:"local-address"`
	// DNS are offered to callers that ask (RFC 1877; IOS `async-bootp dns-server`).
	DNS []string `mapstructure:"dns"`
	// Pool is the default address pool (IOS `peer default ip address pool NAME`).
	Pool string `mapstructure:"pool"`
	// MRU is the MRU asked for (default 1500).
	MRU int `mapstructure:"mru"`
}

// IPPool is an address pool (IOS `ip local pool NAME START END`).
type IPPool struct {
	Name  string `mapstructure:"name"`
	Start string `mapstructure:"start"`
	End   string `mapstructure:"end"`
}

// LineSpec is one `lines` entry: settings for a single TTY or a range of them.
type LineSpec struct {
	// Lines is the TTY number or range: "3", "1-8".
	Lines string `mapstructure:"lines"`
	// Port is the device: "/dev/ttyS0", "rfc2217://host:port", "sim:5551001". In a range, a
	// trailing "{n}" is replaced by the TTY number ("sim:55510{n}", "/dev/ttyUSB{n}").
	Port     string `mapstructure:"port"`
	Speed    int    `mapstructure:"speed"`     // bits per second, default 115200
	Parity   string `mapstructure:"parity"`    // none | even | odd | mark | space, default none
	StopBits int    `mapstructure:"stop-bits"` // 1 | 2, default 1
	DataBits int    `mapstructure:"data-bits"` // 5-8, default 8
	// FlowControl is hardware (RTS/CTS), software (XON/XOFF) or none. Default hardware.
	FlowControl string `mapstructure:"flowcontrol"`
	Modem       Modem  `mapstructure:"modem"`
	// Rotary is the rotary group (IOS `rotary N`, 1-100); 0 means none.
	Rotary int `mapstructure:"rotary"`
	// Autoselect lists what the line detects at activation: ppp, arap, during-login.
	Autoselect []string `mapstructure:"autoselect"`
	// Login is "local" (local user table) or "authentication" (the aaa login method list).
	// Empty means no login: the line goes straight to EXEC. Default "authentication".
	Login    string       `mapstructure:"login"`
	Callback LineCallback `mapstructure:"callback"`
	Script   LineScripts  `mapstructure:"script"`
	// FlushAtActivation discards input that arrives as the line activates (IOS default on).
	FlushAtActivation *bool `mapstructure:"flush-at-activation"`
	// ExecTimeout is the idle timeout of an EXEC session (IOS `exec-timeout`, default 10m);
	// 0 disables it.
	ExecTimeout *time.Duration `mapstructure:"exec-timeout"`
	// AbsoluteTimeout ends a session this long after it started (IOS `absolute-timeout`); 0 = none.
	AbsoluteTimeout time.Duration `mapstructure:"absolute-timeout"`
	// LoginTimeout bounds the Username/Password dialog (IOS `timeout login response`, default 30s).
	LoginTimeout time.Duration `mapstructure:"login-timeout"`
}

// Modem is how the line's modem is driven.
type Modem struct {
	// Init is the init string sent after reset, e.g. "AT&F E0 V1 S0=0 &C1 &D2".
	Init string `mapstructure:"init"`
	// Answer is "auto" (the modem answers itself, S0>0) or "ring" (the NAS sends ATA after
	// AnswerRings RINGs). Default "ring".
	Answer      string `mapstructure:"answer"`
	AnswerRings int    `mapstructure:"answer-rings"` // default 1, range 1-10
	// Mode is "inout" (answer and dial) or "dialin" (answer only). Default "inout".
	Mode string `mapstructure:"mode"`
	// Hangup is "dtr" (drop DTR) or "escape" (+++ guard time then ATH). Default: dtr when the
	// port has modem control, otherwise escape.
	Hangup string `mapstructure:"hangup"`
}

// LineCallback is the line's IOS `callback` settings.
type LineCallback struct {
	// ForcedWait is the wait after hanging up the first leg before dialling (IOS `callback
	// forced-wait`, default 4s here; IOS counts seconds).
	ForcedWait time.Duration `mapstructure:"forced-wait"`
	// NoDSRWait is the longest wait for DSR to drop after the hang-up (IOS `callback
	// nodsr-wait`, default 5s).
	NoDSRWait time.Duration `mapstructure:"nodsr-wait"`
}

// LineScripts names the chat scripts the line runs (IOS `script ...`).
type LineScripts struct {
	Callback string `mapstructure:"callback"`
	Reset    string `mapstructure:"reset"`
	Startup  string `mapstructure:"startup"`
	Dialer   string `mapstructure:"dialer"`
}

// User is a local user (IOS `username NAME password SECRET callback-dialstring ...`).
type User struct {
	Name string `mapstructure:"name"`
	// Password is the cleartext secret. CHAP and MS-CHAPv2 need it in cleartext.
	Password string `mapstructure:"password"`
	// PasswordHash is a crypt-style hash ($2a$ bcrypt or $6$ sha512-crypt) usable for login and
	// PAP only.
	PasswordHash string `mapstructure:"password-hash"`
	// CallbackDialstring is the callback number. Nil: not a callback user. Pointer to "": the
	// user supplies the number.
	CallbackDialstring *string `mapstructure:"callback-dialstring"`
	CallbackLine       int     `mapstructure:"callback-line"`   // 0 = not set
	CallbackRotary     int     `mapstructure:"callback-rotary"` // 0 = not set
	NoCallbackVerify   bool    `mapstructure:"nocallback-verify"`
	// Autocommand runs at EXEC start (IOS `autocommand`), e.g. "ppp".
	Autocommand string `mapstructure:"autocommand"`
}

// AAA holds the method lists, per service, as in IOS `aaa authentication login default local`.
type AAA struct {
	Login []string `mapstructure:"login"` // methods: local (radius, tacacs later)
	PPP   []string `mapstructure:"ppp"`
	ARAP  []string `mapstructure:"arap"`
}

// Service holds IOS global `service` switches.
type Service struct {
	// ExecCallback enables callback for EXEC (text login) users (IOS `service exec-callback`).
	ExecCallback bool `mapstructure:"exec-callback"`
}

// GlobalCallback holds global callback settings.
type GlobalCallback struct {
	// Secure disconnects a caller who asked for callback but is not entitled to it
	// (IOS `callback-secure` on a line; here global).
	Secure bool `mapstructure:"secure"`
	// PromptTimeout bounds the EXEC prompt for a callback number when the dial string is empty.
	PromptTimeout time.Duration `mapstructure:"prompt-timeout"`
	// Retries is how many times a failed callback dial is retried (IOS: none). Default 0.
	Retries int `mapstructure:"retries"`
}

// PSTN configures the simulated telephone network.
type PSTN struct {
	// RingPeriod is the time between RINGs (a real ring cadence is 6s; the lab runs faster).
	RingPeriod time.Duration `mapstructure:"ring-period"`
	// NoAnswerRings is how many rings before the exchange gives up with NO ANSWER.
	NoAnswerRings int `mapstructure:"no-answer-rings"`
	// BitErrorRate injects line noise: the probability that any bit is flipped.
	BitErrorRate float64       `mapstructure:"bit-error-rate"`
	Latency      time.Duration `mapstructure:"latency"`
	// ConnectSpeed is the speed reported in CONNECT (default 33600).
	ConnectSpeed int `mapstructure:"connect-speed"`
	// Expose puts simulated subscribers on host pseudo-terminals, so that programs outside
	// the NAS (a terminal program, pppd, a load generator) can dial its sim lines with the
	// subscribers' modems. Linux only.
	Expose []PSTNExpose `mapstructure:"expose"`
}

// PSTNExpose is one simulated subscriber on a pseudo-terminal.
type PSTNExpose struct {
	Number string `mapstructure:"number"` // the subscriber's number on the simulated exchange
	// Link is made a symbolic link to the pty's device (replacing what was there), for
	// programs to open: the device's own name changes from run to run.
	Link string `mapstructure:"link"`
}

// Log configures logging.
type Log struct {
	Level  string `mapstructure:"level"`  // debug | info | warn | error
	Format string `mapstructure:"format"` // text | json
}
