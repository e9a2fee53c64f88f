// Package local is the AAA method "local": the IOS `username` table from the configuration.
// It authenticates login, PAP, CHAP-MD5 and MS-CHAPv2 requests, authorizes with each user's callback
// entitlement and autocommand, and keeps an unknown user indistinguishable from a wrong password.
package local

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/mschap"
	"github.com/dialback/nas/config"
)

// Name is the method name, as written in the aaa method lists of the configuration.
const Name = "local"

// What the caller sees on any failed authentication: the same for an unknown user, a wrong
// password, a user without a password and CHAP against a hashed password, so that none of
// them can be used to probe the table. The log says which it was.
const reasonAuthFailed = "bad username or password"

const reasonNotAuthorized = "not authorized"

type secretKind int

const (
	secretNone   secretKind = iota // no password at all: authorization only
	secretClear                    // password: cleartext, usable for CHAP
	secretBcrypt                   // password-hash $2a$/$2b$/$2y$
	secretSHA512                   // password-hash $6$
)

func (k secretKind) String() string {
	return [...]string{"none", "cleartext", "bcrypt", "sha512-crypt"}[k]
}

type user struct {
	name        string
	kind        secretKind
	clear       string   // secretClear only: needed as-is for CHAP
	clearSum    [32]byte // SHA-256 of clear, so comparison time does not depend on its length
	bcrypt      []byte
	sha512      *sha512Hash
	callback    *aaa.Callback
	autocommand string
}

// Local is the local user table. It is immutable after New and safe for concurrent use.
type Local struct {
	users map[string]*user
	// dummy is verified, and its result thrown away, for a user that does not exist, so that
	// an unknown user costs about what a wrong password costs.
	dummy *user
	log   *slog.Logger
}

// Option configures New.
type Option func(*Local)

// WithLogger sets the logger for rejections and configuration warnings (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(t *Local) {
		if l != nil {
			t.log = l
		}
	}
}

// New builds the table from the configured users. It rejects empty or duplicate names, a user
// with both password and password-hash, a hash that is not bcrypt ($2a$, $2b$, $2y$) or
// sha512-crypt ($6$), and out-of-range callback-line or callback-rotary.
func New(users []config.User, opts ...Option) (*Local, error) {
	l := &Local{users: make(map[string]*user, len(users)), log: slog.Default()}
	for _, o := range opts {
		o(l)
	}
	for i, cu := range users {
		u, err := newUser(cu)
		if err != nil {
			if cu.Name == "" {
				return nil, fmt.Errorf("users[%d]: %w", i, err)
			}
			return nil, fmt.Errorf("users[%d] (%q): %w", i, cu.Name, err)
		}
		if _, dup := l.users[u.name]; dup {
			return nil, fmt.Errorf("users[%d]: user %q is defined twice; keep one entry", i, u.name)
		}
		if cu.CallbackDialstring == nil && (cu.CallbackLine != 0 || cu.CallbackRotary != 0 || cu.NoCallbackVerify) {
			l.log.Warn("local user has callback settings but no callback-dialstring: not a callback user",
				slog.String("user", u.name),
				slog.String("fix", `add callback-dialstring (use "" to let the user supply the number)`))
		}
		l.users[u.name] = u
	}
	d, err := pickDummy(l.users)
	if err != nil {
		return nil, err
	}
	l.dummy = d
	return l, nil
}

func newUser(cu config.User) (*user, error) {
	if cu.Name == "" {
		return nil, errors.New("name is empty")
	}
	u := &user{name: cu.Name, autocommand: cu.Autocommand}
	switch {
	case cu.Password != "" && cu.PasswordHash != "":
		return nil, errors.New("both password and password-hash are set; keep one (password if the user needs CHAP)")
	case cu.Password != "":
		u.kind = secretClear
		u.clear = cu.Password
		u.clearSum = sha256.Sum256([]byte(cu.Password))
	case cu.PasswordHash != "":
		h := cu.PasswordHash
		switch {
		case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
			if err := checkBcrypt(h); err != nil {
				return nil, fmt.Errorf("password-hash: %w", err)
			}
			u.kind = secretBcrypt
			u.bcrypt = []byte(h)
		case strings.HasPrefix(h, sha512Prefix):
			p, err := parseSHA512Crypt(h)
			if err != nil {
				return nil, fmt.Errorf("password-hash: sha512-crypt: %w", err)
			}
			u.kind = secretSHA512
			u.sha512 = p
		default:
			return nil, errors.New("password-hash: unsupported format; use bcrypt ($2a$, $2b$, $2y$) or sha512-crypt ($6$), e.g. from `mkpasswd -m sha-512` or `htpasswd -nB`")
		}
	}
	if cu.CallbackLine < 0 {
		return nil, fmt.Errorf("callback-line %d: must be a TTY number, or 0 for none", cu.CallbackLine)
	}
	if cu.CallbackRotary < 0 || cu.CallbackRotary > 100 {
		return nil, fmt.Errorf("callback-rotary %d: must be 1-100, or 0 for none", cu.CallbackRotary)
	}
	if cu.CallbackDialstring != nil {
		u.callback = &aaa.Callback{
			Dialstring: *cu.CallbackDialstring,
			Line:       cu.CallbackLine,
			Rotary:     cu.CallbackRotary,
			NoVerify:   cu.NoCallbackVerify,
		}
	}
	return u, nil
}

// bcrypt hashes are "$2x$CC$" + 53 characters of bcrypt's base-64 (22 salt + 31 hash).
const bcryptLen = 60

func checkBcrypt(h string) error {
	if len(h) != bcryptLen {
		return fmt.Errorf("bcrypt hash is %d characters, want %d", len(h), bcryptLen)
	}
	if _, err := bcrypt.Cost([]byte(h)); err != nil {
		return fmt.Errorf("bcrypt: %w", err)
	}
	const alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	for i := 7; i < len(h); i++ {
		if strings.IndexByte(alphabet, h[i]) < 0 {
			return fmt.Errorf("bcrypt hash has %q, outside bcrypt's alphabet", h[i])
		}
	}
	return nil
}

// pickDummy chooses what an unknown user is verified against: the most expensive hash in the
// table (bcrypt before sha512-crypt, then the highest cost), else a random cleartext secret.
func pickDummy(users map[string]*user) (*user, error) {
	var best *user
	bestCost := -1
	for _, u := range users {
		var cost int
		switch u.kind {
		case secretBcrypt:
			c, _ := bcrypt.Cost(u.bcrypt) // checked in newUser
			cost = 1<<40 + c              // any bcrypt outranks sha512-crypt
		case secretSHA512:
			cost = u.sha512.rounds
		default:
			continue
		}
		// Ties broken by name so the choice does not depend on map order.
		if best == nil || cost > bestCost || (cost == bestCost && u.name < best.name) {
			best, bestCost = u, cost
		}
	}
	if best != nil {
		d := *best
		d.name = ""
		return &d, nil
	}
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return nil, fmt.Errorf("local: dummy secret: %w", err)
	}
	return &user{kind: secretClear, clear: string(secret[:]), clearSum: sha256.Sum256(secret[:])}, nil
}

// Name implements aaa.Method.
func (l *Local) Name() string { return Name }

// CHAPCapable reports whether user exists and has a cleartext password, which CHAP needs.
// Configuration checks use it to warn about hashed users on lines that run PPP.
func (l *Local) CHAPCapable(name string) bool {
	u, ok := l.users[name]
	return ok && u.kind == secretClear
}

// Authenticate implements aaa.Method: CHAP-MD5 or MS-CHAPv2 when r.CHAP is set, otherwise the
// login or PAP password. On success the profile carries the user's callback entitlement and
// autocommand, and for MS-CHAPv2 the authenticator response for the Success packet.
func (l *Local) Authenticate(ctx context.Context, r *aaa.Request) (*aaa.Profile, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("local: authentication of %q: %w", r.User, err)
	}
	u, known := l.users[r.User]
	if r.CHAP != nil {
		return l.chap(ctx, r, u, known)
	}
	if !known {
		l.dummy.verifyPassword(r.Password)
		return nil, l.reject(ctx, r, "unknown user")
	}
	if u.kind == secretNone {
		l.dummy.verifyPassword(r.Password)
		return nil, l.reject(ctx, r, "user has no password configured (authorization only)")
	}
	if !u.verifyPassword(r.Password) {
		return nil, l.reject(ctx, r, "wrong password")
	}
	return u.profile(), nil
}

func (l *Local) chap(ctx context.Context, r *aaa.Request, u *user, known bool) (*aaa.Profile, error) {
	verify := func(secret string) (bool, string) { return aaa.VerifyCHAPMD5(secret, r.CHAP), "" }
	switch t := r.CHAP.Type; t {
	case 0, aaa.CHAPMD5:
	case aaa.CHAPMSv2:
		verify = func(secret string) (bool, string) { return verifyMSCHAPv2(r.User, secret, r.CHAP) }
	default:
		// Decided before the user lookup, so it says nothing about the user.
		return nil, &aaa.RejectError{Method: Name, Reason: t.String() + " is not supported"}
	}
	switch {
	case !known:
		verify(l.dummy.clear)
		return nil, l.reject(ctx, r, "unknown user")
	case u.kind == secretNone:
		verify(l.dummy.clear)
		return nil, l.reject(ctx, r, "user has no password configured (authorization only)")
	case u.kind != secretClear:
		verify(l.dummy.clear)
		return nil, l.reject(ctx, r, "CHAP needs a cleartext secret but the user has "+u.kind.String()+
			"; set password instead of password-hash, or use PAP")
	}
	ok, authResp := verify(u.clear)
	if !ok {
		return nil, l.reject(ctx, r, "wrong CHAP response ("+r.CHAP.Type.String()+")")
	}
	p := u.profile()
	p.AuthenticatorResponse = authResp
	return p, nil
}

// verifyMSCHAPv2 checks a 49-octet MS-CHAPv2 Response Value against the cleartext secret and
// returns the authenticator response for the Success packet (RFC 2759 §4, §5). A malformed
// response costs the same hashing as a wrong one.
func verifyMSCHAPv2(user, secret string, c *aaa.CHAP) (bool, string) {
	peer, nt, err := mschap.ParseResponse(c.Response)
	if err != nil {
		mschap.Verify(user, secret, c.Challenge, make([]byte, mschap.ChallengeLen), nil)
		return false, ""
	}
	return mschap.Verify(user, secret, c.Challenge, peer, nt)
}

// Authorize implements aaa.Method: the profile of a configured user, without credentials.
func (l *Local) Authorize(ctx context.Context, r *aaa.Request) (*aaa.Profile, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("local: authorization of %q: %w", r.User, err)
	}
	u, ok := l.users[r.User]
	if !ok {
		l.log.LogAttrs(ctx, slog.LevelInfo, "local authorization rejected",
			slog.String("user", r.User), slog.Int("line", r.Line), slog.String("service", string(r.Service)),
			slog.String("why", "unknown user"))
		return nil, &aaa.RejectError{Method: Name, Reason: reasonNotAuthorized}
	}
	return u.profile(), nil
}

// reject logs the real reason and returns the uniform one.
func (l *Local) reject(ctx context.Context, r *aaa.Request, why string) error {
	l.log.LogAttrs(ctx, slog.LevelInfo, "local authentication rejected",
		slog.String("user", r.User), slog.Int("line", r.Line), slog.String("service", string(r.Service)),
		slog.String("leg", r.Leg), slog.String("why", why))
	return &aaa.RejectError{Method: Name, Reason: reasonAuthFailed}
}

func (u *user) verifyPassword(pw string) bool {
	switch u.kind {
	case secretClear:
		sum := sha256.Sum256([]byte(pw))
		return subtle.ConstantTimeCompare(sum[:], u.clearSum[:]) == 1
	case secretBcrypt:
		return bcrypt.CompareHashAndPassword(u.bcrypt, []byte(pw)) == nil
	case secretSHA512:
		return u.sha512.verify(pw)
	}
	return false
}

func (u *user) profile() *aaa.Profile {
	p := &aaa.Profile{User: u.name, Autocommand: u.autocommand, Source: Name}
	if u.callback != nil {
		cb := *u.callback
		p.Callback = &cb
	}
	return p
}
