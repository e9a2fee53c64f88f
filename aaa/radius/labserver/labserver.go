// Package labserver is a small RADIUS server for `nas lab` and for tests: layeh's
// PacketServer on a loopback port, serving a fixed table of users (password and reply
// attributes, as in a FreeRADIUS users file) with PAP, CHAP-MD5 and MS-CHAPv2. Like a
// FreeRADIUS 3.2 client with `require_message_authenticator = yes`, it drops requests without
// a valid Message-Authenticator, and it signs every reply, as the NAS's client requires.
package labserver

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"layeh.com/radius"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/mschap"
	"github.com/dialback/nas/dictionaries/microsoft"
	"github.com/dialback/nas/dictionaries/rfc"
)

// maLen is the length of a Message-Authenticator value, one HMAC-MD5 (RFC 3579 §3.2).
const maLen = md5.Size

// maxAccounting bounds the accounting requests kept for inspection.
const maxAccounting = 1024

// User is one entry of the server's users table.
type User struct {
	Name string
	// Password is the cleartext password (PAP, CHAP and MS-CHAPv2 all need it).
	Password string
	// Reply are the attributes of the Access-Accept, in order.
	Reply []Attr
}

// Attr is one reply attribute by its dictionary name and its value as text, as in a
// FreeRADIUS users file: `Service-Type = Callback-Login-User`, `Cisco-AVPair =
// "shell:callback-dialstring=5552001"`, `Framed-IP-Address = 10.0.0.5`.
type Attr struct {
	Name  string
	Value string
}

func (a Attr) String() string { return a.Name + " = " + a.Value }

// Stats counts what the server saw.
type Stats struct {
	AccessRequests int64 // with a valid Message-Authenticator
	Accepts        int64
	Rejects        int64
	StatusServer   int64
	Accounting     int64
	// Dropped are requests without a valid Message-Authenticator (not answered).
	Dropped int64
}

// Server is a running lab RADIUS server. Close stops it.
type Server struct {
	srv    *radius.PacketServer
	pc     net.PacketConn
	secret []byte
	users  map[string]compiledUser
	log    *slog.Logger
	done   chan struct{}

	access, accepts, rejects, status, acct, dropped atomic.Int64

	mu         sync.Mutex
	accounting []*radius.Packet
	closeOnce  sync.Once
}

type compiledUser struct {
	User
	add []func(*radius.Packet) error
}

// Compile checks every user's attributes against the dictionary and returns why the first bad
// one is bad. Start calls it; the lab calls it when a scenario is read.
func Compile(users []User) error {
	_, err := compile(users)
	return err
}

func compile(users []User) (map[string]compiledUser, error) {
	out := make(map[string]compiledUser, len(users))
	for i, u := range users {
		if u.Name == "" {
			return nil, fmt.Errorf("users[%d]: name is required", i)
		}
		if _, dup := out[u.Name]; dup {
			return nil, fmt.Errorf("users[%d]: %q is listed twice", i, u.Name)
		}
		if len(u.Password) > 128 {
			return nil, fmt.Errorf("users[%d] (%s): password longer than 128 characters (RFC 2865 §5.2)", i, u.Name)
		}
		cu := compiledUser{User: u}
		for _, a := range u.Reply {
			f, err := encoder(a)
			if err != nil {
				return nil, fmt.Errorf("users[%d] (%s): %w", i, u.Name, err)
			}
			cu.add = append(cu.add, f)
		}
		out[u.Name] = cu
	}
	return out, nil
}

// Start listens on 127.0.0.1 at a random UDP port (authentication and accounting share it)
// and serves users with secret. log may be nil.
func Start(secret string, users []User, logger *slog.Logger) (*Server, error) {
	if secret == "" {
		return nil, errors.New("lab radius server: the secret is empty")
	}
	table, err := compile(users)
	if err != nil {
		return nil, fmt.Errorf("lab radius server: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lab radius server: %w", err)
	}
	s := &Server{pc: pc, secret: []byte(secret), users: table, log: logger, done: make(chan struct{})}
	s.srv = &radius.PacketServer{
		Handler:      s,
		SecretSource: radius.StaticSecretSource(s.secret),
		// layeh logs bad authenticators on Accounting-Requests here; they are counted instead.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(pc)
	}()
	return s, nil
}

// Addr is the server's UDP address.
func (s *Server) Addr() *net.UDPAddr { return s.pc.LocalAddr().(*net.UDPAddr) }

// Port is the server's UDP port.
func (s *Server) Port() int { return s.Addr().Port }

// Close stops the server and waits for its goroutines.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(ctx)
		<-s.done
	})
	return nil
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{
		AccessRequests: s.access.Load(), Accepts: s.accepts.Load(), Rejects: s.rejects.Load(),
		StatusServer: s.status.Load(), Accounting: s.acct.Load(), Dropped: s.dropped.Load(),
	}
}

// Accounting returns the Accounting-Requests received (up to the last 1024), oldest first.
func (s *Server) Accounting() []*radius.Packet {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*radius.Packet(nil), s.accounting...)
}

// ServeRADIUS implements radius.Handler.
func (s *Server) ServeRADIUS(w radius.ResponseWriter, r *radius.Request) {
	var resp *radius.Packet
	switch r.Code {
	case radius.CodeAccountingRequest:
		// The PacketServer has checked the Request Authenticator (RFC 2866 §3).
		s.acct.Add(1)
		s.mu.Lock()
		if len(s.accounting) == maxAccounting {
			s.accounting = s.accounting[1:]
		}
		s.accounting = append(s.accounting, r.Packet)
		s.mu.Unlock()
		resp = r.Response(radius.CodeAccountingResponse)
	case radius.CodeAccessRequest, radius.CodeStatusServer:
		if !RequestSigned(r.Packet) {
			s.dropped.Add(1)
			s.log.Warn("lab radius: request without a valid Message-Authenticator dropped",
				slog.String("from", r.RemoteAddr.String()), slog.String("code", r.Code.String()))
			return
		}
		if r.Code == radius.CodeStatusServer {
			s.status.Add(1)
			resp = r.Response(radius.CodeAccessAccept)
			break
		}
		s.access.Add(1)
		resp = s.authenticate(r.Packet)
	default:
		return
	}
	if resp.Code != radius.CodeAccountingResponse {
		if err := SignReply(resp); err != nil {
			s.log.Error("lab radius: cannot sign the reply", slog.Any("err", err))
			return
		}
	}
	if err := w.Write(resp); err != nil {
		s.log.Warn("lab radius: reply not sent", slog.Any("err", err))
	}
}

// authenticate answers an Access-Request from the users table.
func (s *Server) authenticate(p *radius.Packet) *radius.Packet {
	name := rfc.UserName_GetString(p)
	u, known := s.users[name]
	var (
		ok      bool
		method  string
		success []byte
	)
	switch {
	case len(rfc.CHAPPassword_Get(p)) > 0:
		method = "CHAP"
		cp := rfc.CHAPPassword_Get(p)
		challenge := rfc.CHAPChallenge_Get(p)
		if len(challenge) == 0 {
			challenge = p.Authenticator[:] // RFC 2865 §2.2: no CHAP-Challenge, the authenticator is the challenge
		}
		if len(cp) == 17 {
			want := aaa.CHAPMD5Response(cp[0], u.Password, challenge)
			ok = known && hmac.Equal(cp[1:], want[:])
		}
	case len(microsoft.MSCHAP2Response_Get(p)) > 0:
		method = "MS-CHAPv2"
		resp := microsoft.MSCHAP2Response_Get(p)
		challenge := microsoft.MSCHAPChallenge_Get(p)
		// RFC 2548 §2.3.2: Ident, Flags, Peer-Challenge(16), Reserved(8), Response(24).
		if known && len(resp) == 50 {
			var auth string
			if ok, auth = mschap.Verify(name, u.Password, challenge, resp[2:18], resp[26:50]); ok {
				success = append([]byte{resp[0]}, auth...)
			}
		}
	case rfc.ServiceType_Get(p) == rfc.ServiceType_Value_AuthorizeOnly && len(rfc.UserPassword_Get(p)) == 0:
		// RFC 5176 §3.1: authorization without credentials, for a user the table knows.
		method = "Authorize-Only"
		ok = known
	default:
		method = "PAP"
		pw, err := rfc.UserPassword_LookupString(p)
		ok = known && err == nil && hmac.Equal([]byte(pw), []byte(u.Password))
	}
	if !ok {
		s.rejects.Add(1)
		s.log.Info("lab radius: Access-Reject", slog.String("user", name), slog.String("method", method), slog.Bool("known", known))
		return &radius.Packet{Code: radius.CodeAccessReject, Identifier: p.Identifier, Secret: p.Secret, Authenticator: p.Authenticator}
	}
	q := &radius.Packet{Code: radius.CodeAccessAccept, Identifier: p.Identifier, Secret: p.Secret, Authenticator: p.Authenticator}
	for _, add := range u.add {
		if err := add(q); err != nil {
			s.log.Error("lab radius: reply attribute not added", slog.String("user", name), slog.Any("err", err))
		}
	}
	if success != nil {
		_ = microsoft.MSCHAP2Success_Add(q, success)
	}
	s.accepts.Add(1)
	s.log.Info("lab radius: Access-Accept", slog.String("user", name), slog.String("method", method), slog.Int("attributes", len(u.Reply)))
	return q
}

// RequestSigned reports whether p (as parsed by layeh, with its Secret) starts with a valid
// Message-Authenticator: HMAC-MD5 over the packet with the value taken as zero (RFC 3579 §3.2).
// Only the first attribute is accepted, as the NAS sends it (BlastRADIUS).
func RequestSigned(p *radius.Packet) bool {
	if len(p.Attributes) == 0 || p.Attributes[0].Type != rfc.MessageAuthenticator_Type || len(p.Attributes[0].Attribute) != maLen {
		return false
	}
	for _, a := range p.Attributes[1:] {
		if a.Type == rfc.MessageAuthenticator_Type {
			return false
		}
	}
	b, err := p.MarshalBinary()
	if err != nil {
		return false
	}
	const at = 20 + 2 // header, then the attribute's type and length
	got := append([]byte(nil), b[at:at+maLen]...)
	clear(b[at : at+maLen])
	mac := hmac.New(md5.New, p.Secret)
	mac.Write(b)
	return hmac.Equal(mac.Sum(nil), got)
}

// SignReply puts a Message-Authenticator first in a reply whose Authenticator still holds the
// request's (as radius.Packet.Response leaves it): HMAC-MD5 over the reply with the Request
// Authenticator in place (RFC 3579 §3.2). Encode then computes the Response Authenticator over
// the signed attributes.
func SignReply(q *radius.Packet) error {
	attrs := make(radius.Attributes, 0, len(q.Attributes)+1)
	attrs = append(attrs, &radius.AVP{Type: rfc.MessageAuthenticator_Type, Attribute: make(radius.Attribute, maLen)})
	for _, a := range q.Attributes {
		if a.Type != rfc.MessageAuthenticator_Type {
			attrs = append(attrs, a)
		}
	}
	q.Attributes = attrs
	b, err := q.MarshalBinary()
	if err != nil {
		return err
	}
	mac := hmac.New(md5.New, q.Secret)
	mac.Write(b)
	copy(q.Attributes[0].Attribute, mac.Sum(nil))
	return nil
}
