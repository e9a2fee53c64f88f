package radius

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"layeh.com/radius"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/mschap"
	"github.com/dialback/nas/dictionaries/microsoft"
	"github.com/dialback/nas/dictionaries/rfc"
)

// maxChallengeRounds bounds an Access-Challenge dialogue: a server that challenges forever
// must not keep a line busy forever.
const maxChallengeRounds = 8

// What the caller is told on a reject: the same for an unknown user and a wrong password (the
// server does not say which either).
const reasonRejected = "rejected by the RADIUS server"

// Authenticate implements aaa.Method: an Access-Request with the user's credentials (login or
// PAP password as User-Password, CHAP-MD5 as CHAP-Password and CHAP-Challenge, MS-CHAPv2 as
// Microsoft VSAs) and the call's attributes. Access-Challenge is shown through r.Prompt and
// answered in a new request to the same server; without a Prompter it is a reject. An accept
// for a service the NAS cannot give is a reject too.
func (c *Client) Authenticate(ctx context.Context, r *aaa.Request) (*aaa.Profile, error) {
	r = withService(r)
	creds, err := credentials(r)
	if err != nil {
		c.log.LogAttrs(ctx, slog.LevelInfo, "radius authentication not sent", slog.String("user", r.User),
			slog.Int("line", r.Line), slog.String("why", err.Error()))
		return nil, &aaa.RejectError{Method: c.name, Reason: err.Error()}
	}
	var (
		only  *endpoint
		state []byte
	)
	for round := 0; ; round++ {
		fill := func(p *radius.Packet) error {
			c.requestAttrs(p, r, serviceType(r.Service))
			if state != nil {
				p.Add(rfc.State_Type, radius.Attribute(state))
			}
			return creds(p)
		}
		reply, ep, err := c.send(ctx, portAuth, only, c.accessRequest(fill))
		if err != nil {
			return nil, fmt.Errorf("%s: authentication of %q: %w", c.name, r.User, err)
		}
		switch reply.Code {
		case radius.CodeAccessAccept:
			return c.accepted(ctx, r, ep, reply)
		case radius.CodeAccessReject:
			return nil, c.rejected(ctx, r, ep, reply, "Access-Reject")
		}
		// Access-Challenge (RFC 2865 §4.4).
		if r.Prompt == nil {
			return nil, c.rejected(ctx, r, ep, nil, "Access-Challenge, but the caller cannot answer one (no prompt on this service)")
		}
		if round+1 >= maxChallengeRounds {
			return nil, c.rejected(ctx, r, ep, nil, "more than "+strconv.Itoa(maxChallengeRounds)+" Access-Challenges")
		}
		state = rfc.State_Get(reply)
		text := replyMessage(reply)
		if text == "" {
			text = "Response: "
		}
		echo := false // RFC 2869 §5.10: without Prompt, do not echo
		if v, err := rfc.Prompt_Lookup(reply); err == nil {
			echo = v == rfc.Prompt_Value_Echo
		}
		answer, err := r.Prompt.Prompt(ctx, text, echo)
		if err != nil {
			return nil, fmt.Errorf("%s: authentication of %q: answering the server's challenge: %w", c.name, r.User, err)
		}
		if len(answer) > 128 {
			return nil, c.rejected(ctx, r, ep, nil, "challenge answer longer than 128 characters")
		}
		// The answer goes back as User-Password (RFC 2865 §4.4), whatever the first round was,
		// to the server that holds the State.
		creds = passwordCreds(answer)
		only = ep
	}
}

// Authorize implements aaa.Method. RADIUS authorizes in the Access-Accept, so a recent accept
// of the same user and service answers (the callback leg of a nocallback-verify user);
// otherwise it asks with Service-Type Authorize-Only (RFC 5176 §3.1) and no credentials,
// which the server must be configured to accept.
func (c *Client) Authorize(ctx context.Context, r *aaa.Request) (*aaa.Profile, error) {
	r = withService(r)
	if p := c.cache.get(r.User, r.Service, c.now()); p != nil {
		return p, nil
	}
	fill := func(p *radius.Packet) error {
		c.requestAttrs(p, r, rfc.ServiceType_Value_AuthorizeOnly)
		return nil
	}
	reply, ep, err := c.send(ctx, portAuth, nil, c.accessRequest(fill))
	if err != nil {
		return nil, fmt.Errorf("%s: authorization of %q: %w", c.name, r.User, err)
	}
	switch reply.Code {
	case radius.CodeAccessAccept:
		return c.accepted(ctx, r, ep, reply)
	case radius.CodeAccessChallenge:
		return nil, c.rejected(ctx, r, ep, nil, "Access-Challenge to an Authorize-Only request")
	}
	return nil, c.rejected(ctx, r, ep, reply, "Access-Reject to an Authorize-Only request")
}

func withService(r *aaa.Request) *aaa.Request {
	if r.Service != "" {
		return r
	}
	rr := *r
	rr.Service = aaa.ServiceLogin
	return &rr
}

// accessRequest returns the builder of an Access-Request for a server: a random Request
// Authenticator, the zeroed Message-Authenticator first, fill's attributes (User-Password is
// hidden with this server's secret and authenticator), then signed once the Identifier is known.
func (c *Client) accessRequest(fill func(*radius.Packet) error) func(*endpoint) (*request, error) {
	return func(ep *endpoint) (*request, error) {
		p := radius.New(radius.CodeAccessRequest, ep.secret)
		p.Attributes = radius.Attributes{newMessageAuthenticator()}
		if err := fill(p); err != nil {
			return nil, err
		}
		return &request{
			build: func(id byte) ([]byte, error) {
				p.Identifier = id
				return encodeSigned(p)
			},
			rules: replyRules{
				codes:     []radius.Code{radius.CodeAccessAccept, radius.CodeAccessReject, radius.CodeAccessChallenge},
				requireMA: !ep.srv.Legacy,
			},
		}, nil
	}
}

// requestAttrs adds what REFERENCE §2 says a good NAS sends about the call.
func (c *Client) requestAttrs(p *radius.Packet, r *aaa.Request, st rfc.ServiceType) {
	addString(p, rfc.UserName_Type, r.User)
	c.nasAttrs(p)
	if r.Line >= 0 {
		addInt(p, rfc.NASPort_Type, uint32(r.Line))
	}
	addString(p, rfc.NASPortID_Type, portID(r.PortName, r.Line))
	addInt(p, rfc.NASPortType_Type, uint32(rfc.NASPortType_Value_Async))
	addInt(p, rfc.ServiceType_Type, uint32(st))
	switch r.Service {
	case aaa.ServicePPP:
		addInt(p, rfc.FramedProtocol_Type, uint32(rfc.FramedProtocol_Value_PPP))
	case aaa.ServiceARAP:
		addInt(p, rfc.FramedProtocol_Type, uint32(rfc.FramedProtocol_Value_ARAP))
	}
	if r.CallerID != "" {
		addString(p, rfc.CallingStationID_Type, r.CallerID)
	}
	if r.CalledID != "" {
		addString(p, rfc.CalledStationID_Type, r.CalledID)
	}
	if r.ConnectInfo != "" {
		addString(p, rfc.ConnectInfo_Type, r.ConnectInfo)
	}
	if r.CallbackNumber != "" {
		// A hint: the server decides (RFC 2865 §5.19).
		addString(p, rfc.CallbackNumber_Type, r.CallbackNumber)
	}
}

func portID(name string, line int) string {
	if name != "" {
		return name
	}
	return "tty" + strconv.Itoa(line)
}

// serviceType is the Service-Type of a service, in Access-Requests and accounting alike
// (RFC 2865 §5.6). An EXEC session is NAS-Prompt (7): "a command prompt on the NAS from which
// non-privileged commands can be executed", what IOS sends for exec. Login (1) means "the
// user should be connected to a host", which this NAS does not do. aaa/acct's detail export
// writes the same value.
func serviceType(s aaa.Service) rfc.ServiceType {
	if s == aaa.ServiceLogin {
		return rfc.ServiceType_Value_NASPromptUser
	}
	return rfc.ServiceType_Value_FramedUser
}

// credentials checks r's credentials and returns what adds them to a request.
func credentials(r *aaa.Request) (func(*radius.Packet) error, error) {
	if r.CHAP == nil {
		if len(r.Password) > 128 {
			// RFC 2865 §5.2: User-Password hides at most 128 octets.
			return nil, errors.New("password longer than 128 characters")
		}
		return passwordCreds(r.Password), nil
	}
	ch := *r.CHAP
	switch ch.Type {
	case 0, aaa.CHAPMD5:
		if len(ch.Response) != aaa.CHAPMD5ResponseLen {
			return nil, fmt.Errorf("CHAP-MD5 response is %d octets, want %d", len(ch.Response), aaa.CHAPMD5ResponseLen)
		}
		if len(ch.Challenge) == 0 || len(ch.Challenge) > 253 {
			return nil, fmt.Errorf("CHAP challenge is %d octets, want 1-253", len(ch.Challenge))
		}
		return func(p *radius.Packet) error {
			p.Add(rfc.CHAPPassword_Type, append([]byte{ch.ID}, ch.Response...))
			p.Add(rfc.CHAPChallenge_Type, radius.Attribute(ch.Challenge))
			return nil
		}, nil
	case aaa.CHAPMSv2:
		if len(ch.Challenge) != mschap.ChallengeLen || len(ch.Response) != mschap.ResponseLen {
			return nil, fmt.Errorf("MS-CHAPv2 challenge/response are %d/%d octets, want %d/%d",
				len(ch.Challenge), len(ch.Response), mschap.ChallengeLen, mschap.ResponseLen)
		}
		// RFC 2548 §2.3.2: Ident, Flags, Peer-Challenge(16), Reserved(8), Response(24); the
		// PPP Response Value has Flags last (RFC 2759 §4).
		resp := make([]byte, 0, 50)
		resp = append(resp, ch.ID, ch.Response[48])
		resp = append(resp, ch.Response[:48]...)
		return func(p *radius.Packet) error {
			if err := microsoft.MSCHAPChallenge_Add(p, ch.Challenge); err != nil {
				return err
			}
			return microsoft.MSCHAP2Response_Add(p, resp)
		}, nil
	}
	return nil, fmt.Errorf("%v is not supported", ch.Type)
}

func passwordCreds(pw string) func(*radius.Packet) error {
	return func(p *radius.Packet) error {
		// Hidden with this packet's secret and Request Authenticator (RFC 2865 §5.2).
		return rfc.UserPassword_AddString(p, pw)
	}
}

// accepted maps an Access-Accept; an accept the NAS cannot honour is a reject.
func (c *Client) accepted(ctx context.Context, r *aaa.Request, ep *endpoint, reply *radius.Packet) (*aaa.Profile, error) {
	prof, warnings, err := ProfileFromPacket(reply, r.Service, c.cfg.CallbackIDs)
	for _, w := range warnings {
		c.log.LogAttrs(ctx, slog.LevelWarn, "radius reply attribute ignored", slog.String("user", r.User),
			slog.String("server", ep.name), slog.String("why", w))
	}
	if err != nil {
		return nil, c.rejected(ctx, r, ep, nil, "Access-Accept the NAS cannot honour: "+err.Error())
	}
	if prof.User == "" {
		prof.User = r.User
	}
	prof.Source = c.name + " " + ep.name
	c.cache.put(r.User, r.Service, prof, c.now())
	return prof, nil
}

// rejected logs why and returns the uniform reject, with the server's Reply-Message for the
// user when the reject came from the server.
func (c *Client) rejected(ctx context.Context, r *aaa.Request, ep *endpoint, reply *radius.Packet, why string) error {
	c.log.LogAttrs(ctx, slog.LevelInfo, "radius authentication rejected", slog.String("user", r.User),
		slog.Int("line", r.Line), slog.String("service", string(r.Service)), slog.String("leg", r.Leg),
		slog.String("server", ep.name), slog.String("why", why))
	c.cache.drop(r.User, r.Service) // a cached accept must not outlive a reject
	e := &aaa.RejectError{Method: c.name, Reason: reasonRejected}
	if reply != nil {
		e.Message = replyMessage(reply)
	}
	return e
}

// replyMessage joins the Reply-Message attributes, which RFC 2865 §5.18 says are shown in order.
func replyMessage(p *radius.Packet) string {
	var parts []string
	for _, a := range p.Attributes {
		if a.Type == rfc.ReplyMessage_Type {
			parts = append(parts, string(a.Attribute))
		}
	}
	return strings.Join(parts, "\n")
}

// profileCache remembers recent accepts for Authorize. It is bounded: a full cache drops
// expired entries, then the oldest.
type profileCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[cacheKey]cacheEntry
}

type cacheKey struct {
	user    string
	service aaa.Service
}

type cacheEntry struct {
	p       *aaa.Profile
	expires time.Time
}

const maxCacheEntries = 4096

func newProfileCache(ttl time.Duration) *profileCache {
	return &profileCache{ttl: ttl, m: make(map[cacheKey]cacheEntry)}
}

func (pc *profileCache) get(user string, s aaa.Service, now time.Time) *aaa.Profile {
	if pc == nil {
		return nil
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	e, ok := pc.m[cacheKey{user, s}]
	if !ok || !now.Before(e.expires) {
		return nil
	}
	return cloneProfile(e.p)
}

func (pc *profileCache) drop(user string, s aaa.Service) {
	if pc == nil {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	delete(pc.m, cacheKey{user, s})
}

func (pc *profileCache) put(user string, s aaa.Service, p *aaa.Profile, now time.Time) {
	if pc == nil {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if len(pc.m) >= maxCacheEntries {
		var oldest cacheKey
		var oldestAt time.Time
		for k, e := range pc.m {
			if !now.Before(e.expires) {
				delete(pc.m, k)
			} else if oldestAt.IsZero() || e.expires.Before(oldestAt) {
				oldest, oldestAt = k, e.expires
			}
		}
		if len(pc.m) >= maxCacheEntries {
			delete(pc.m, oldest)
		}
	}
	pc.m[cacheKey{user, s}] = cacheEntry{p: cloneProfile(p), expires: now.Add(pc.ttl)}
}

// cloneProfile copies p deeply enough that no caller can change another's profile.
func cloneProfile(p *aaa.Profile) *aaa.Profile {
	q := *p
	if p.Callback != nil {
		cb := *p.Callback
		q.Callback = &cb
	}
	if p.Class != nil {
		q.Class = make([][]byte, len(p.Class))
		for i, c := range p.Class {
			q.Class[i] = append([]byte(nil), c...)
		}
	}
	if p.Routes != nil {
		q.Routes = append([]aaa.Route(nil), p.Routes...)
	}
	return &q
}
