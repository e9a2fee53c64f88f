package tacacs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	tq "github.com/facebookincubator/tacquito"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/mschap"
)

// Authentication REPLY statuses and flags (RFC 8907 §5.2), CONTINUE flags (§5.3).
const (
	authenPass    = 0x01
	authenFail    = 0x02
	authenGetData = 0x03
	authenGetUser = 0x04
	authenGetPass = 0x05
	authenRestart = 0x06
	authenError   = 0x07
	authenFollow  = 0x21 // deprecated by RFC 8907

	replyFlagNoEcho   = 0x01
	continueFlagAbort = 0x01
)

// authenReply is a decoded authentication REPLY body (RFC 8907 §5.2).
type authenReply struct {
	status byte
	noEcho bool
	msg    string
	data   []byte
}

// undecodable is the error for a body that does not decode: over TCP the secret is the
// usual suspect, over TLS the server alone.
func undecodable(tls bool, what string) error {
	if tls {
		return fmt.Errorf("%w: %s", ErrProtocol, what)
	}
	return fmt.Errorf("%w (%s)", ErrBadSecret, what)
}

// decodeAuthenReply decodes status(1) flags(1) server_msg_len(2) data_len(2) server_msg data.
// The lengths must account for the body exactly: a mismatch is how a wrong secret shows.
func decodeAuthenReply(b []byte, tls bool) (authenReply, error) {
	if len(b) < 6 {
		return authenReply{}, undecodable(tls, fmt.Sprintf("authentication reply of %d bytes is shorter than 6", len(b)))
	}
	msgLen := int(binary.BigEndian.Uint16(b[2:4]))
	dataLen := int(binary.BigEndian.Uint16(b[4:6]))
	if 6+msgLen+dataLen != len(b) {
		return authenReply{}, undecodable(tls, fmt.Sprintf("authentication reply fields add up to %d bytes, the body has %d", 6+msgLen+dataLen, len(b)))
	}
	switch b[0] {
	case authenPass, authenFail, authenGetData, authenGetUser, authenGetPass, authenRestart, authenError, authenFollow:
	default:
		return authenReply{}, undecodable(tls, fmt.Sprintf("authentication reply has unknown status %#x", b[0]))
	}
	return authenReply{
		status: b[0],
		noEcho: b[1]&replyFlagNoEcho != 0,
		msg:    string(b[6 : 6+msgLen]),
		data:   b[6+msgLen:],
	}, nil
}

// authenKind is how a request is authenticated.
type authenKind struct {
	typ   tq.AuthenType
	minor byte
	name  string
}

var (
	kindASCII    = authenKind{tq.AuthenTypeASCII, minorDefault, "ascii"}
	kindPAP      = authenKind{tq.AuthenTypePAP, minorOne, "pap"}
	kindCHAP     = authenKind{tq.AuthenTypeCHAP, minorOne, "chap"}
	kindMSCHAPv2 = authenKind{tq.AuthenTypeMSCHAPV2, minorOne, "mschapv2"}
)

func authenService(s aaa.Service) tq.AuthenService {
	switch s {
	case aaa.ServicePPP:
		return tq.AuthenServicePPP
	case aaa.ServiceARAP:
		return tq.AuthenServiceARAP
	}
	return tq.AuthenServiceLogin
}

// asciiText makes a field from the line side (port name, caller id) fit TACACS+'s US-ASCII
// text fields, replacing what does not fit, and cuts it to what a length octet can say.
func asciiText(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	if len(b) > 255 {
		b = b[:255]
	}
	return string(b)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] > 0x7e || s[i] < 0x20 {
			return false
		}
	}
	return true
}

func portName(r *aaa.Request) string {
	if r.PortName != "" {
		return asciiText(r.PortName)
	}
	return "tty" + strconv.Itoa(r.Line)
}

// authenOutcome is what a passed authentication learned.
type authenOutcome struct {
	user string
	msg  string
	data []byte
}

// Authenticate implements aaa.Method: EXEC logins run the ASCII login the server drives,
// PPP peers PAP, CHAP or MS-CHAPv2. After a PASS it authorizes the user (unless
// Config.SkipAuthorization) so that the Profile carries the callback and address AVs.
func (c *Client) Authenticate(ctx context.Context, r *aaa.Request) (*aaa.Profile, error) {
	log := c.log.With("user", r.User, "service", string(r.Service), "line", r.Line)
	kind, data, err := c.authenData(r)
	if err != nil {
		return nil, err
	}
	var out authenOutcome
	srv, err := c.run(ctx, "authentication", tq.Authenticate, kind.minor, log, func(s *session) error {
		out = authenOutcome{}
		if kind == kindASCII {
			return c.asciiLogin(s, r, log, &out)
		}
		return c.oneShotLogin(s, r, kind, data, log, &out)
	})
	if err != nil {
		return nil, err
	}
	log.Info("tacacs+ authentication passed", "server", srv.addr, "type", kind.name, "user", out.user)
	p := &aaa.Profile{User: out.user, ReplyMessage: out.msg, Source: c.name + " " + srv.addr}
	if kind == kindMSCHAPv2 {
		p.AuthenticatorResponse = authenticatorResponse(out)
	}
	if c.skipAuthor {
		return p, nil
	}
	rr := *r
	rr.User = out.user
	ap, err := c.authorize(ctx, &rr, tq.AuthenMethodTacacsPlus, kind.typ)
	if err != nil {
		return nil, err
	}
	ap.ReplyMessage = joinMsgs(p.ReplyMessage, ap.ReplyMessage)
	ap.AuthenticatorResponse = p.AuthenticatorResponse
	ap.Source = p.Source
	return ap, nil
}

// authenData picks the login type and builds the START data for PPP logins.
func (c *Client) authenData(r *aaa.Request) (authenKind, []byte, error) {
	switch r.Service {
	case aaa.ServiceLogin, "":
		return kindASCII, nil, nil
	case aaa.ServiceARAP:
		// ARAP login (authen_type 4) needs the ARAP challenges, which aaa.Request lacks.
		return authenKind{}, nil, fmt.Errorf("tacacs+ authentication of %q: ARAP login is not supported; use `aaa authentication arap` with another method", r.User)
	case aaa.ServicePPP:
	default:
		return authenKind{}, nil, fmt.Errorf("tacacs+ authentication of %q: unknown service %q", r.User, r.Service)
	}
	if r.CHAP == nil {
		return kindPAP, []byte(r.Password), nil
	}
	ch := r.CHAP
	switch ch.Type {
	case 0, aaa.CHAPMD5:
		if len(ch.Challenge) == 0 {
			return authenKind{}, nil, fmt.Errorf("tacacs+ CHAP authentication of %q: empty challenge", r.User)
		}
		if len(ch.Response) != aaa.CHAPMD5ResponseLen {
			c.log.Info("tacacs+ authentication refused locally: malformed CHAP response",
				"user", r.User, "len", len(ch.Response), "want", aaa.CHAPMD5ResponseLen)
			return authenKind{}, nil, c.reject("")
		}
		// RFC 8907 §5.4.2: PPP id, challenge, response.
		return kindCHAP, chapData(ch), nil
	case aaa.CHAPMSv2:
		if len(ch.Challenge) != mschap.ChallengeLen {
			return authenKind{}, nil, fmt.Errorf("tacacs+ MS-CHAPv2 authentication of %q: challenge of %d bytes, want %d", r.User, len(ch.Challenge), mschap.ChallengeLen)
		}
		if len(ch.Response) != mschap.ResponseLen {
			c.log.Info("tacacs+ authentication refused locally: malformed MS-CHAPv2 response",
				"user", r.User, "len", len(ch.Response), "want", mschap.ResponseLen)
			return authenKind{}, nil, c.reject("")
		}
		// RFC 8907 §5.4.2: PPP id, 16-byte challenge, 49-byte response.
		return kindMSCHAPv2, chapData(ch), nil
	}
	return authenKind{}, nil, fmt.Errorf("tacacs+ authentication of %q: %v is not supported", r.User, ch.Type)
}

func chapData(ch *aaa.CHAP) []byte {
	d := make([]byte, 0, 1+len(ch.Challenge)+len(ch.Response))
	d = append(d, ch.ID)
	d = append(d, ch.Challenge...)
	return append(d, ch.Response...)
}

// reject builds the aaa rejection. The reason reads the same whatever the cause (unknown
// user, wrong password, refused type): callers log the cause.
func (c *Client) reject(msg string) error {
	return &aaa.RejectError{Method: c.name, Reason: "authentication failed", Message: msg}
}

// start builds an authentication START (RFC 8907 §5.1).
func start(r *aaa.Request, kind authenKind, user string, data []byte) ([]byte, error) {
	// Their lengths travel in one octet each.
	if len(user) > 255 || len(data) > 255 {
		return nil, errors.New("encoding authentication START: user or data longer than 255 bytes")
	}
	b, err := tq.NewAuthenStart(
		tq.SetAuthenStartAction(tq.AuthenActionLogin),
		tq.SetAuthenStartPrivLvl(tq.PrivLvlUser),
		tq.SetAuthenStartType(kind.typ),
		tq.SetAuthenStartService(authenService(r.Service)),
		tq.SetAuthenStartUser(tq.AuthenUser(user)),
		tq.SetAuthenStartPort(tq.AuthenPort(portName(r))),
		tq.SetAuthenStartRemAddr(tq.AuthenRemAddr(asciiText(r.CallerID))),
		tq.SetAuthenStartData(tq.AuthenData(data)),
	).MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encoding authentication START: %w", err)
	}
	return b, nil
}

// finalAuthen turns a final REPLY into the attempt's result.
func (c *Client) finalAuthen(s *session, rep authenReply, kind authenKind, log *slog.Logger, out *authenOutcome) error {
	s.done = true
	switch rep.status {
	case authenPass:
		out.msg, out.data = rep.msg, rep.data
		return nil
	case authenFail:
		log.Info("tacacs+ authentication failed", "server", s.c.addr, "type", kind.name, "server_msg", rep.msg)
		return c.reject(rep.msg)
	case authenRestart:
		// RESTART asks for another authen_type (RFC 8907 §5.2); we have no other to offer.
		log.Warn("tacacs+ server answered RESTART: it does not accept this authentication type; treated as FAIL",
			"server", s.c.addr, "type", kind.name, "server_msg", rep.msg)
		return c.reject(rep.msg)
	case authenFollow:
		log.Warn("tacacs+ server answered FOLLOW (deprecated by RFC 8907); treated as FAIL",
			"server", s.c.addr, "type", kind.name)
		return c.reject("")
	case authenError:
		return fmt.Errorf("%w: authentication: %q", ErrServerError, rep.msg)
	}
	s.done = false
	return fmt.Errorf("%w: status %#x after a %s START, which takes no further input", ErrProtocol, rep.status, kind.name)
}

// oneShotLogin runs a PAP, CHAP or MS-CHAPv2 login: one START, one REPLY (RFC 8907 §5.4.2).
func (c *Client) oneShotLogin(s *session, r *aaa.Request, kind authenKind, data []byte, log *slog.Logger, out *authenOutcome) error {
	if !isASCII(r.User) {
		log.Info("tacacs+ authentication refused locally: user name is not printable US-ASCII")
		return stop(c.reject(""))
	}
	body, err := start(r, kind, r.User, data)
	if err != nil {
		return stop(fmt.Errorf("tacacs+ %s authentication of %q: %w", kind.name, r.User, err))
	}
	b, err := s.exchange(body)
	if err != nil {
		return err
	}
	rep, err := decodeAuthenReply(b, s.c.tls)
	if err != nil {
		return err
	}
	out.user = r.User
	err = c.finalAuthen(s, rep, kind, log, out)
	if err != nil && !s.done {
		c.abort(s, "unexpected prompt")
	}
	return err
}

// asciiLogin runs the ASCII login (RFC 8907 §5.4.2): the server asks (GETUSER, GETPASS,
// GETDATA) and we answer, first with what the Request already holds, then through the
// Request's Prompter.
func (c *Client) asciiLogin(s *session, r *aaa.Request, log *slog.Logger, out *authenOutcome) error {
	user := r.User
	if !isASCII(user) {
		log.Info("tacacs+ authentication refused locally: user name is not printable US-ASCII")
		return stop(c.reject(""))
	}
	body, err := start(r, kindASCII, user, nil)
	if err != nil {
		return stop(fmt.Errorf("tacacs+ ascii authentication of %q: %w", user, err))
	}
	// The Request's user and password answer the first GETUSER and GETPASS; after that (a
	// retry the server offers, or a value the Request lacks) the user is asked.
	userSent, passSent := false, false
	for {
		b, err := s.exchange(body)
		if err != nil {
			return err
		}
		rep, err := decodeAuthenReply(b, s.c.tls)
		if err != nil {
			return err
		}
		var answer string
		switch rep.status {
		case authenGetUser:
			if r.User != "" && !userSent {
				answer, userSent = r.User, true
			} else if answer, err = c.ask(s, r, rep, "Username: ", true); err != nil {
				return err
			}
			user = answer
		case authenGetPass:
			if r.Password != "" && !passSent {
				answer, passSent = r.Password, true
			} else if answer, err = c.ask(s, r, rep, "Password: ", false); err != nil {
				return err
			}
		case authenGetData:
			if answer, err = c.ask(s, r, rep, "", !rep.noEcho); err != nil {
				return err
			}
		default:
			out.user = user
			return c.finalAuthen(s, rep, kindASCII, log, out)
		}
		if !isASCII(answer) {
			c.abort(s, "answer not ASCII")
			log.Info("tacacs+ authentication refused locally: an answer is not printable US-ASCII")
			return stop(c.reject(""))
		}
		body, err = tq.NewAuthenContinue(tq.SetAuthenContinueUserMessage(tq.AuthenUserMessage(answer))).MarshalBinary()
		if err != nil {
			c.abort(s, "encoding failed")
			return stop(fmt.Errorf("tacacs+ ascii authentication: encoding CONTINUE: %w", err))
		}
	}
}

// ask puts the server's prompt to the user. Without a Prompter (PPP, or a session that
// cannot ask) the login is aborted and rejected.
func (c *Client) ask(s *session, r *aaa.Request, rep authenReply, def string, echo bool) (string, error) {
	text := rep.msg
	if text == "" {
		text = def
	}
	if r.Prompt == nil {
		c.abort(s, "no way to ask the user")
		c.log.Info("tacacs+ server asked for input the caller cannot give; login aborted",
			"server", s.c.addr, "user", r.User, "prompt", text)
		return "", stop(c.reject(""))
	}
	answer, err := r.Prompt.Prompt(s.ctx, text, echo)
	if err != nil {
		c.abort(s, "prompt failed")
		return "", stop(fmt.Errorf("tacacs+ ascii authentication: asking the user: %w", err))
	}
	return answer, nil
}

// abort ends a session the client will not finish: CONTINUE with the ABORT flag (RFC 8907
// §5.3). The connection is not reused after it.
func (c *Client) abort(s *session, why string) {
	s.done = false
	b, err := tq.NewAuthenContinue(
		tq.SetAuthenContinueFlag(continueFlagAbort),
		tq.SetAuthenContinueData(tq.AuthenData(why)),
	).MarshalBinary()
	if err == nil && s.ctx.Err() == nil {
		_ = s.send(b)
	}
}

// authenticatorResponse finds the MS-CHAPv2 authenticator response ("S=" and 40 hex digits)
// in a PASS reply: in its data, else in its server_msg. (inferred: RFC 8907 leaves open
// where a server puts it.)
func authenticatorResponse(out authenOutcome) string {
	for _, s := range []string{string(out.data), out.msg} {
		if i := strings.Index(s, "S="); i >= 0 && len(s) >= i+42 && isHex(s[i+2:i+42]) {
			return s[i : i+42]
		}
	}
	return ""
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func joinMsgs(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "\n" + b
}
