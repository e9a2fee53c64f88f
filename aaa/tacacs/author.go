package tacacs

import (
	"context"
	"encoding/binary"
	"fmt"

	tq "github.com/facebookincubator/tacquito"

	"github.com/dialback/nas/aaa"
)

// authorReply is a decoded authorization REPLY body (RFC 8907 §6.2).
type authorReply struct {
	status byte
	args   []string
	msg    string
}

// decodeAuthorReply decodes status(1) arg_cnt(1) server_msg_len(2) data_len(2) arg lengths,
// server_msg, data, args. The lengths must account for the body exactly.
func decodeAuthorReply(b []byte, tls bool) (authorReply, error) {
	if len(b) < 6 {
		return authorReply{}, undecodable(tls, fmt.Sprintf("authorization reply of %d bytes is shorter than 6", len(b)))
	}
	n := int(b[1])
	msgLen := int(binary.BigEndian.Uint16(b[2:4]))
	dataLen := int(binary.BigEndian.Uint16(b[4:6]))
	if len(b) < 6+n {
		return authorReply{}, undecodable(tls, fmt.Sprintf("authorization reply of %d bytes cannot hold %d argument lengths", len(b), n))
	}
	total := 6 + n + msgLen + dataLen
	for _, l := range b[6 : 6+n] {
		total += int(l)
	}
	if total != len(b) {
		return authorReply{}, undecodable(tls, fmt.Sprintf("authorization reply fields add up to %d bytes, the body has %d", total, len(b)))
	}
	switch b[0] {
	case authorPassAdd, authorPassRepl, authorFail, authorError, authorFollow:
	default:
		return authorReply{}, undecodable(tls, fmt.Sprintf("authorization reply has unknown status %#x", b[0]))
	}
	off := 6 + n
	rep := authorReply{status: b[0], msg: string(b[off : off+msgLen])}
	off += msgLen + dataLen
	for _, l := range b[6 : 6+n] {
		rep.args = append(rep.args, string(b[off:off+int(l)]))
		off += int(l)
	}
	return rep, nil
}

// authorSteps are the requests that authorize a service (REFERENCE §2): EXEC is
// service=shell cmd=; PPP is service=ppp protocol=lcp (callback AVs), then protocol=ip
// (addresses); ARA is service=arap protocol=atalk.
func authorSteps(s aaa.Service) ([][]AV, error) {
	switch s {
	case aaa.ServiceLogin, "":
		return [][]AV{{{Attr: "service", Value: "shell"}, {Attr: "cmd"}}}, nil
	case aaa.ServicePPP:
		return [][]AV{
			{{Attr: "service", Value: "ppp"}, {Attr: "protocol", Value: "lcp"}},
			{{Attr: "service", Value: "ppp"}, {Attr: "protocol", Value: "ip"}},
		}, nil
	case aaa.ServiceARAP:
		return [][]AV{{{Attr: "service", Value: "arap"}, {Attr: "protocol", Value: "atalk"}}}, nil
	}
	return nil, fmt.Errorf("unknown service %q", s)
}

// Authorize implements aaa.Method: it asks the servers what the user may do, without
// authenticating (a callback leg with nocallback-verify, or a user another method
// authenticated). Every step must pass; the Profile holds what all of them granted.
func (c *Client) Authorize(ctx context.Context, r *aaa.Request) (*aaa.Profile, error) {
	return c.authorize(ctx, r, tq.AuthenMethodNotSet, tq.AuthenTypeNotSet)
}

func (c *Client) authorize(ctx context.Context, r *aaa.Request, method tq.AuthenMethod, atype tq.AuthenType) (*aaa.Profile, error) {
	log := c.log.With("user", r.User, "service", string(r.Service), "line", r.Line)
	steps, err := authorSteps(r.Service)
	if err != nil {
		return nil, fmt.Errorf("tacacs+ authorization of %q: %w", r.User, err)
	}
	if !isASCII(r.User) || len(r.User) > 255 {
		log.Info("tacacs+ authorization refused locally: user name is not printable US-ASCII")
		return nil, c.authorReject("")
	}
	var granted []AV
	var msg string
	var answered *server
	for _, req := range steps {
		args := make(tq.Args, 0, len(req))
		for _, av := range req {
			args = append(args, tq.Arg(av.String()))
		}
		body, err := tq.NewAuthorRequest(
			tq.SetAuthorRequestMethod(method),
			tq.SetAuthorRequestPrivLvl(tq.PrivLvlUser),
			tq.SetAuthorRequestType(atype),
			tq.SetAuthorRequestService(authenService(r.Service)),
			tq.SetAuthorRequestUser(tq.AuthenUser(r.User)),
			tq.SetAuthorRequestPort(tq.AuthenPort(portName(r))),
			tq.SetAuthorRequestRemAddr(tq.AuthenRemAddr(asciiText(r.CallerID))),
			tq.SetAuthorRequestArgs(args),
		).MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("tacacs+ authorization of %q: encoding REQUEST: %w", r.User, err)
		}
		var eff []AV
		var stepMsg string
		srv, err := c.run(ctx, "authorization", tq.Authorize, minorDefault, log, func(s *session) error {
			b, err := s.exchange(body)
			if err != nil {
				return err
			}
			rep, err := decodeAuthorReply(b, s.c.tls)
			if err != nil {
				return err
			}
			s.done = true
			switch rep.status {
			case authorPassAdd, authorPassRepl:
				got, err := ParseAVs(rep.args)
				if err != nil {
					return fmt.Errorf("%w: authorization reply: %w", ErrProtocol, err)
				}
				eff = EffectiveAVs(req, rep.status == authorPassRepl, got)
				stepMsg = rep.msg
				log.Debug("tacacs+ authorization passed", "server", s.c.addr, "request", req,
					"replace", rep.status == authorPassRepl, "reply", got)
				return nil
			case authorFail:
				log.Info("tacacs+ authorization failed", "server", s.c.addr, "request", req, "server_msg", rep.msg)
				return c.authorReject(rep.msg)
			case authorFollow:
				log.Warn("tacacs+ server answered FOLLOW to authorization (deprecated by RFC 8907); treated as FAIL",
					"server", s.c.addr)
				return c.authorReject("")
			}
			return fmt.Errorf("%w: authorization: %q", ErrServerError, rep.msg)
		})
		if err != nil {
			return nil, err
		}
		if want := req[0].Value; !serviceIs(eff, want) {
			log.Error("tacacs+ authorization granted another service than asked; refused",
				"server", srv.addr, "asked", want, "granted", eff)
			return nil, c.authorReject("")
		}
		answered = srv
		granted = append(granted, eff...)
		msg = joinMsgs(msg, stepMsg)
	}
	p, ignored, err := ProfileFromAVs(granted)
	if len(ignored) > 0 {
		log.Info("tacacs+ authorization: optional arguments ignored", "server", answered.addr, "ignored", ignored)
	}
	if err != nil {
		// RFC 8907 §6.1: a mandatory argument the NAS cannot honour fails the authorization.
		log.Error("tacacs+ authorization refused: the server demands what this NAS cannot do",
			"server", answered.addr, "err", err)
		return nil, c.authorReject("")
	}
	p.User = r.User
	p.ReplyMessage = msg
	p.Source = c.name + " " + answered.addr
	return p, nil
}

// serviceIs reports whether every service argument granted names want: a PASS_REPL may
// not swap the service for another.
func serviceIs(avs []AV, want string) bool {
	for _, av := range avs {
		if av.Attr == "service" && av.Value != want {
			return false
		}
	}
	return true
}

func (c *Client) authorReject(msg string) error {
	return &aaa.RejectError{Method: c.name, Reason: "authorization failed", Message: msg}
}
