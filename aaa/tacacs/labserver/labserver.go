// Package labserver is a small TACACS+ server for `nas lab` and for tests: tacquito's Server
// in-process on a loopback port, serving a fixed table of users (password and authorization
// AV pairs per service, as a tac_plus configuration would hold them). It answers ASCII logins
// with GETUSER/GETPASS prompts, PAP, CHAP and MS-CHAPv2, the NAS's authorization requests
// (service=shell, service=ppp protocol=lcp|ip, service=arap) and accounting.
package labserver

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	tq "github.com/facebookincubator/tacquito"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/mschap"
	"github.com/dialback/nas/aaa/tacacs"
)

// maxAccounting bounds the accounting requests kept for inspection.
const maxAccounting = 1024

// User is one entry of the server's users table. Every user is authorized for every service;
// the AV lists are what each authorization request is answered with (PASS_ADD), in order.
type User struct {
	Name string
	// Password is the cleartext password (PAP, CHAP and MS-CHAPv2 all need it).
	Password string
	// Exec answers service=shell cmd= (EXEC), e.g. "callback-dialstring=5552001",
	// "callback-line=4", "nocallback-verify=1".
	Exec []string
	// PPP answers service=ppp protocol=lcp (the callback AVs of a PPP user).
	PPP []string
	// PPPIP answers service=ppp protocol=ip (addr, addr-pool, route, ...).
	PPPIP []string
	// ARAP answers service=arap protocol=atalk.
	ARAP []string
}

// Stats counts what the server saw.
type Stats struct {
	Authentications int64 // START packets
	Passes          int64
	Fails           int64
	Authorizations  int64
	Accounting      int64
}

// Accounting is one accounting REQUEST as the server received it.
type Accounting struct {
	Flags tq.AcctRequestFlag
	User  string
	Port  string
	Args  []string
}

// Server is a running lab TACACS+ server. Close stops it.
type Server struct {
	ln     *trackingListener
	users  map[string]User
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}

	authen, passes, fails, author, acct atomic.Int64

	mu         sync.Mutex
	accounting []Accounting
	closeOnce  sync.Once
}

// Compile checks the users table: names present and unique, and every AV pair of the form
// attr=value or attr*value (RFC 8907 §6.1). Start calls it; the lab calls it when a scenario
// is read. It does not judge what the NAS will make of an AV: a server may send anything.
func Compile(users []User) error {
	_, err := compile(users)
	return err
}

func compile(users []User) (map[string]User, error) {
	out := make(map[string]User, len(users))
	for i, u := range users {
		if u.Name == "" {
			return nil, fmt.Errorf("users[%d]: name is required", i)
		}
		if _, dup := out[u.Name]; dup {
			return nil, fmt.Errorf("users[%d]: %q is listed twice", i, u.Name)
		}
		for _, l := range []struct {
			key string
			avs []string
		}{{"exec", u.Exec}, {"ppp", u.PPP}, {"ppp-ip", u.PPPIP}, {"arap", u.ARAP}} {
			if _, err := tacacs.ParseAVs(l.avs); err != nil {
				return nil, fmt.Errorf("users[%d] (%s): %s: %w", i, u.Name, l.key, err)
			}
		}
		out[u.Name] = u
	}
	return out, nil
}

// Start listens on 127.0.0.1 at a random TCP port and serves users with secret. logger may
// be nil.
func Start(secret string, users []User, logger *slog.Logger) (*Server, error) {
	if secret == "" {
		return nil, errors.New("lab tacacs+ server: the secret is empty")
	}
	table, err := compile(users)
	if err != nil {
		return nil, fmt.Errorf("lab tacacs+ server: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lab tacacs+ server: %w", err)
	}
	s := &Server{ln: &trackingListener{TCPListener: l.(*net.TCPListener)}, users: table, log: logger, done: make(chan struct{})}
	srv := tq.NewServer(quiet{}, staticSecret{secret: []byte(secret), h: s})
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() {
		defer close(s.done)
		_ = srv.Serve(ctx, s.ln)
	}()
	return s, nil
}

// Addr is the server's TCP address.
func (s *Server) Addr() *net.TCPAddr { return s.ln.Addr().(*net.TCPAddr) }

// Port is the server's TCP port.
func (s *Server) Port() int { return s.Addr().Port }

// Close stops the server and waits for its goroutines: tacquito's connection handlers
// block in reads for up to 15 s, so their connections are closed from here.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		_ = s.ln.Close()
		s.ln.closeConns()
		<-s.done
	})
	return nil
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Authentications: s.authen.Load(), Passes: s.passes.Load(), Fails: s.fails.Load(),
		Authorizations: s.author.Load(), Accounting: s.acct.Load(),
	}
}

// Accounting returns the accounting requests received (up to the last 1024), oldest first.
func (s *Server) Accounting() []Accounting {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Accounting(nil), s.accounting...)
}

// Handle implements tq.Handler for the first packet of every session.
func (s *Server) Handle(resp tq.Response, req tq.Request) {
	switch req.Header.Type {
	case tq.Authenticate:
		s.authenticate(resp, req)
	case tq.Authorize:
		s.authorize(resp, req)
	case tq.Accounting:
		s.account(resp, req)
	}
}

func (s *Server) authenticate(resp tq.Response, req tq.Request) {
	var st tq.AuthenStart
	if err := tq.Unmarshal(req.Body, &st); err != nil {
		s.log.Warn("lab tacacs+: authentication START does not decode", "err", err)
		reply(resp, tq.NewAuthenReply(tq.SetAuthenReplyStatus(tq.AuthenStatusError)))
		return
	}
	s.authen.Add(1)
	user, data := string(st.User), []byte(st.Data)
	u, known := s.users[user]
	switch st.Type {
	case tq.AuthenTypeASCII:
		s.askUser(resp, user)
	case tq.AuthenTypePAP:
		s.verdict(resp, user, "pap", known && hmac.Equal(data, []byte(u.Password)), "")
	case tq.AuthenTypeCHAP:
		s.verdict(resp, user, "chap", known && checkCHAP(u.Password, data), "")
	case tq.AuthenTypeMSCHAPV2:
		ok, success := false, ""
		if known {
			ok, success = checkMSCHAPv2(user, u.Password, data)
		}
		s.verdict(resp, user, "mschapv2", ok, success)
	default:
		s.log.Info("lab tacacs+: authentication type not served", "user", user, "type", st.Type)
		reply(resp, tq.NewAuthenReply(tq.SetAuthenReplyStatus(tq.AuthenStatusFail),
			tq.SetAuthenReplyServerMsg("authentication type not supported")))
	}
}

// checkCHAP checks CHAP START data: id(1), challenge, MD5 response(16) (RFC 8907 §5.4.2.3).
func checkCHAP(password string, data []byte) bool {
	if len(data) <= 1+aaa.CHAPMD5ResponseLen {
		return false
	}
	id, chal, r := data[0], data[1:len(data)-aaa.CHAPMD5ResponseLen], data[len(data)-aaa.CHAPMD5ResponseLen:]
	want := aaa.CHAPMD5Response(id, password, chal)
	return hmac.Equal(want[:], r)
}

// checkMSCHAPv2 checks MS-CHAPv2 START data: id(1), authenticator challenge(16), response(49)
// (RFC 8907 §5.4.2.5, RFC 2759 §4), and returns the authenticator response for the PASS.
func checkMSCHAPv2(user, password string, data []byte) (bool, string) {
	if len(data) != 1+mschap.ChallengeLen+mschap.ResponseLen {
		return false, ""
	}
	chal, r := data[1:1+mschap.ChallengeLen], data[1+mschap.ChallengeLen:]
	return mschap.Verify(user, password, chal, r[:16], r[24:48])
}

// askUser runs the ASCII login: GETUSER when the START had no name, then GETPASS with echo
// off (RFC 8907 §5.4.2).
func (s *Server) askUser(resp tq.Response, user string) {
	if user != "" {
		s.askPass(resp, user)
		return
	}
	resp.Next(tq.HandlerFunc(func(resp tq.Response, req tq.Request) {
		if c, ok := s.continuation(resp, req); ok {
			s.askPass(resp, string(c.UserMessage))
		}
	}))
	reply(resp, tq.NewAuthenReply(tq.SetAuthenReplyStatus(tq.AuthenStatusGetUser), tq.SetAuthenReplyServerMsg("Username: ")))
}

func (s *Server) askPass(resp tq.Response, user string) {
	resp.Next(tq.HandlerFunc(func(resp tq.Response, req tq.Request) {
		c, ok := s.continuation(resp, req)
		if !ok {
			return
		}
		u, known := s.users[user]
		s.verdict(resp, user, "ascii", known && hmac.Equal([]byte(c.UserMessage), []byte(u.Password)), "")
	}))
	reply(resp, tq.NewAuthenReply(tq.SetAuthenReplyStatus(tq.AuthenStatusGetPass),
		tq.SetAuthenReplyFlag(tq.AuthenReplyFlagNoEcho), tq.SetAuthenReplyServerMsg("Password: ")))
}

// continuation decodes a CONTINUE; false when it does not decode or the client aborted.
func (s *Server) continuation(resp tq.Response, req tq.Request) (tq.AuthenContinue, bool) {
	var c tq.AuthenContinue
	if err := tq.Unmarshal(req.Body, &c); err != nil {
		reply(resp, tq.NewAuthenReply(tq.SetAuthenReplyStatus(tq.AuthenStatusError)))
		return c, false
	}
	if c.Flags.Has(tq.AuthenContinueFlagAbort) {
		s.log.Info("lab tacacs+: the client aborted the login")
		return c, false
	}
	return c, true
}

func (s *Server) verdict(resp tq.Response, user, how string, ok bool, data string) {
	if !ok {
		s.fails.Add(1)
		s.log.Info("lab tacacs+: authentication FAIL", "user", user, "type", how)
		reply(resp, tq.NewAuthenReply(tq.SetAuthenReplyStatus(tq.AuthenStatusFail), tq.SetAuthenReplyServerMsg("Login incorrect")))
		return
	}
	s.passes.Add(1)
	s.log.Info("lab tacacs+: authentication PASS", "user", user, "type", how)
	opts := []tq.AuthenReplyOption{tq.SetAuthenReplyStatus(tq.AuthenStatusPass)}
	if data != "" {
		opts = append(opts, tq.SetAuthenReplyData(tq.AuthenData(data)))
	}
	reply(resp, tq.NewAuthenReply(opts...))
}

// authorize answers from the user's AV lists: service=shell -> Exec, service=ppp
// protocol=lcp -> PPP, protocol=ip -> PPPIP, service=arap -> ARAP. An unknown user or
// service gets FAIL.
func (s *Server) authorize(resp tq.Response, req tq.Request) {
	var a tq.AuthorRequest
	if err := tq.Unmarshal(req.Body, &a); err != nil {
		s.log.Warn("lab tacacs+: authorization REQUEST does not decode", "err", err)
		reply(resp, tq.NewAuthorReply(tq.SetAuthorReplyStatus(tq.AuthorStatusError)))
		return
	}
	s.author.Add(1)
	var service, protocol string
	for _, arg := range a.Args {
		if av, err := tacacs.ParseAV(string(arg)); err == nil {
			switch av.Attr {
			case "service":
				service = av.Value
			case "protocol":
				protocol = av.Value
			}
		}
	}
	user := string(a.User)
	u, known := s.users[user]
	var avs []string
	found := known
	switch {
	case service == "shell":
		avs = u.Exec
	case service == "ppp" && protocol == "lcp":
		avs = u.PPP
	case service == "ppp" && protocol == "ip":
		avs = u.PPPIP
	case service == "arap":
		avs = u.ARAP
	default:
		found = false
	}
	if !found {
		s.log.Info("lab tacacs+: authorization FAIL", "user", user, "service", service, "protocol", protocol, "known", known)
		reply(resp, tq.NewAuthorReply(tq.SetAuthorReplyStatus(tq.AuthorStatusFail)))
		return
	}
	s.log.Info("lab tacacs+: authorization PASS_ADD", "user", user, "service", service, "protocol", protocol,
		"args", strings.Join(avs, " "))
	reply(resp, tq.NewAuthorReply(tq.SetAuthorReplyStatus(tq.AuthorStatusPassAdd), tq.SetAuthorReplyArgs(avs...)))
}

func (s *Server) account(resp tq.Response, req tq.Request) {
	var a tq.AcctRequest
	if err := tq.Unmarshal(req.Body, &a); err != nil {
		s.log.Warn("lab tacacs+: accounting REQUEST does not decode", "err", err)
		reply(resp, tq.NewAcctReply(tq.SetAcctReplyStatus(tq.AcctReplyStatusError)))
		return
	}
	s.acct.Add(1)
	rec := Accounting{Flags: a.Flags, User: string(a.User), Port: string(a.Port)}
	for _, arg := range a.Args {
		rec.Args = append(rec.Args, string(arg))
	}
	s.mu.Lock()
	if len(s.accounting) == maxAccounting {
		s.accounting = s.accounting[1:]
	}
	s.accounting = append(s.accounting, rec)
	s.mu.Unlock()
	s.log.Info("lab tacacs+: accounting", "user", rec.User, "flags", a.Flags.String(), "port", rec.Port)
	reply(resp, tq.NewAcctReply(tq.SetAcctReplyStatus(tq.AcctReplyStatusSuccess)))
}

func reply(resp tq.Response, v tq.EncoderDecoder) {
	_, _ = resp.Reply(v)
}

// staticSecret gives every client the same key and handler.
type staticSecret struct {
	secret []byte
	h      tq.Handler
}

func (p staticSecret) Get(context.Context, net.Addr) ([]byte, tq.Handler, error) {
	return p.secret, p.h, nil
}

// quiet is tacquito's logger, discarding: the server logs what matters through slog.
type quiet struct{}

func (quiet) Infof(context.Context, string, ...any)                {}
func (quiet) Errorf(context.Context, string, ...any)               {}
func (quiet) Debugf(context.Context, string, ...any)               {}
func (quiet) Record(context.Context, map[string]string, ...string) {}

// trackingListener remembers the connections it accepted so Close can end them.
type trackingListener struct {
	*net.TCPListener
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.TCPListener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = c.Close()
		// An *net.OpError that is not temporary is what makes tacquito's Serve return.
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
	}
	if l.conns == nil {
		l.conns = map[net.Conn]struct{}{}
	}
	l.conns[c] = struct{}{}
	return &trackedConn{Conn: c, l: l}, nil
}

func (l *trackingListener) closeConns() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for c := range l.conns {
		_ = c.Close()
	}
	l.conns = nil
}

// trackedConn forgets itself when closed, so a long-running lab does not collect them.
type trackedConn struct {
	net.Conn
	l *trackingListener
}

func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c.Conn)
	c.l.mu.Unlock()
	return c.Conn.Close()
}
