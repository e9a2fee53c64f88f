package tacacs

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/dialback/nas/aaa"
)

// Separators between attribute and value (RFC 8907 §6.1): '=' marks a mandatory argument,
// '*' an optional one.
const (
	sepMandatory = '='
	sepOptional  = '*'
)

// maxAVLen is the longest argument a TACACS+ packet can carry: its length is one octet
// (RFC 8907 §6.1, arg_N_len).
const maxAVLen = 255

// AV is one TACACS+ argument, an attribute-value pair (RFC 8907 §6.1).
type AV struct {
	Attr  string
	Value string
	// Optional is true for "attr*value": the receiver may disregard it. A mandatory
	// ("attr=value") argument may not be disregarded.
	Optional bool
}

// String renders the argument as it travels: "attr=value" or "attr*value".
func (a AV) String() string {
	sep := string(sepMandatory)
	if a.Optional {
		sep = string(sepOptional)
	}
	return a.Attr + sep + a.Value
}

// ErrBadAV means an argument is not of the form attr=value or attr*value.
var ErrBadAV = errors.New("malformed TACACS+ argument")

// ParseAV parses one argument. The attribute runs to the first '=' or '*' and must not be
// empty; the value may be (callback-dialstring= means "the user supplies the number").
// Attribute and value must be printable US-ASCII (RFC 8907 §3.7).
func ParseAV(s string) (AV, error) {
	if len(s) > maxAVLen {
		return AV{}, fmt.Errorf("%w: %d bytes, longer than %d", ErrBadAV, len(s), maxAVLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return AV{}, fmt.Errorf("%w: %q has a byte that is not printable US-ASCII", ErrBadAV, s)
		}
	}
	i := strings.IndexAny(s, "=*")
	switch {
	case i < 0:
		return AV{}, fmt.Errorf("%w: %q has no '=' or '*'", ErrBadAV, s)
	case i == 0:
		return AV{}, fmt.Errorf("%w: %q has an empty attribute", ErrBadAV, s)
	}
	return AV{Attr: s[:i], Value: s[i+1:], Optional: s[i] == sepOptional}, nil
}

// ParseAVs parses every argument of a packet; the first malformed one is the error.
func ParseAVs(args []string) ([]AV, error) {
	avs := make([]AV, 0, len(args))
	for n, s := range args {
		av, err := ParseAV(s)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", n+1, err)
		}
		avs = append(avs, av)
	}
	return avs, nil
}

// Authorization reply statuses (RFC 8907 §6.2).
const (
	authorPassAdd  = 0x01
	authorPassRepl = 0x02
	authorFail     = 0x10
	authorError    = 0x11
	authorFollow   = 0x21 // deprecated by RFC 8907
)

// EffectiveAVs is what a passed authorization grants (RFC 8907 §6.2): with PASS_ADD the
// request's arguments plus the reply's, with PASS_REPL the reply's alone.
func EffectiveAVs(request []AV, replace bool, reply []AV) []AV {
	if replace {
		return append([]AV(nil), reply...)
	}
	out := make([]AV, 0, len(request)+len(reply))
	out = append(out, request...)
	return append(out, reply...)
}

// ErrMandatoryAV means an authorization carried a mandatory argument the NAS does not know
// or cannot apply; RFC 8907 §6.1 says it must not be disregarded, so the authorization fails.
var ErrMandatoryAV = errors.New("mandatory TACACS+ argument not understood")

// avHandler applies one known attribute to the profile being built.
type avHandler func(b *profileBuilder, value string) error

// knownAVs are the attributes the NAS understands (Cisco IOS "TACACS+ Attribute-Value Pairs",
// REFERENCE §2). service, protocol, cmd and cmd-arg shape the request and change nothing.
var knownAVs = map[string]avHandler{
	"service":  nil,
	"protocol": nil,
	"cmd":      nil,
	"cmd-arg":  nil,
	"callback-dialstring": func(b *profileBuilder, v string) error {
		if err := checkDialstring(v); err != nil {
			return err
		}
		b.dialstring, b.hasDialstring = v, true
		return nil
	},
	"callback-line": func(b *profileBuilder, v string) error {
		n, err := parseUint(v, 1<<16)
		b.cbLine = n
		return err
	},
	"callback-rotary": func(b *profileBuilder, v string) error {
		// IOS rotary groups are numbered 0–100 (REFERENCE §2).
		n, err := parseUint(v, 100)
		b.cbRotary = n
		return err
	},
	"nocallback-verify": func(b *profileBuilder, v string) error {
		switch strings.ToLower(v) {
		case "1", "true", "yes":
			b.noVerify = true
		case "0", "false", "no":
			b.noVerify = false
		default:
			return fmt.Errorf("want 1 or 0, got %q", v)
		}
		return nil
	},
	"addr": func(b *profileBuilder, v string) error {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return err
		}
		b.p.Address = a.Unmap()
		return nil
	},
	"addr-pool": func(b *profileBuilder, v string) error {
		if v == "" {
			return errors.New("empty pool name")
		}
		b.p.Pool = v
		return nil
	},
	"timeout": func(b *profileBuilder, v string) error {
		d, err := parseMinutes(v)
		b.p.SessionTimeout = d
		return err
	},
	"idletime": func(b *profileBuilder, v string) error {
		d, err := parseMinutes(v)
		b.p.IdleTimeout = d
		return err
	},
	"acl": func(b *profileBuilder, v string) error {
		if v == "" {
			return errors.New("empty access list")
		}
		b.p.Filter = v
		return nil
	},
	"route": func(b *profileBuilder, v string) error {
		r, err := parseRoute(v)
		if err != nil {
			return err
		}
		b.p.Routes = append(b.p.Routes, r)
		return nil
	},
	"autocmd": func(b *profileBuilder, v string) error {
		b.p.Autocommand = v
		return nil
	},
	// priv-lvl is what tac_plus and ISE send for EXEC users (mandatory, priv-lvl=15 for
	// administrators). Accepting it loses nothing: this EXEC has one level.
	"priv-lvl": func(b *profileBuilder, v string) error {
		// IOS privilege levels are 0-15 (RFC 8907 §5.1 priv_lvl, TAC_PLUS_PRIV_LVL_MAX).
		n, err := parseUint(v, 15)
		b.p.PrivLevel = n
		return err
	},
}

type profileBuilder struct {
	p                   aaa.Profile
	dialstring          string
	hasDialstring       bool
	cbLine, cbRotary    int
	noVerify            bool
	cbLineSet, cbRotSet bool
}

// ProfileFromAVs maps the effective arguments of an authorization onto a Profile. A known
// attribute with a bad value, or an unknown attribute, fails the mapping when it is mandatory
// (wrapping ErrMandatoryAV) and is returned in ignored when it is optional. When an attribute
// repeats, the last one wins, except route, which accumulates. The user is a callback user
// (Profile.Callback != nil) exactly when callback-dialstring is present (REFERENCE §1).
func ProfileFromAVs(avs []AV) (p *aaa.Profile, ignored []AV, err error) {
	var b profileBuilder
	for _, av := range avs {
		h, known := knownAVs[av.Attr]
		if !known {
			if av.Optional {
				ignored = append(ignored, av)
				continue
			}
			return nil, ignored, fmt.Errorf("%w: unknown attribute in %q", ErrMandatoryAV, av.String())
		}
		if h == nil {
			continue
		}
		// Apply to a copy so a rejected optional value leaves no trace.
		nb := b
		nb.p.Routes = append([]aaa.Route(nil), b.p.Routes...)
		// Servers write "callback-dialstring= 5551234" (IOS documentation does); the blanks
		// around a value carry nothing.
		if herr := h(&nb, strings.TrimSpace(av.Value)); herr != nil {
			if av.Optional {
				ignored = append(ignored, av)
				continue
			}
			return nil, ignored, fmt.Errorf("%w: %q: %v", ErrMandatoryAV, av.String(), herr)
		}
		switch av.Attr {
		case "callback-line":
			nb.cbLineSet = true
		case "callback-rotary":
			nb.cbRotSet = true
		}
		b = nb
	}
	if b.hasDialstring {
		b.p.Callback = &aaa.Callback{Dialstring: b.dialstring, NoVerify: b.noVerify}
		if b.cbLineSet {
			b.p.Callback.Line = b.cbLine
		}
		if b.cbRotSet {
			b.p.Callback.Rotary = b.cbRotary
		}
	}
	out := b.p
	return &out, ignored, nil
}

// checkDialstring admits what a Hayes dial string may hold and nothing that could end the
// dial command or start another (';', CR, quotes): the number goes into a chat script as \T.
func checkDialstring(v string) error {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= '0' && c <= '9':
		case c >= 'A' && c <= 'D', c >= 'a' && c <= 'd':
		case strings.IndexByte("*#+,-() .WwPpTt!@", c) >= 0:
		default:
			return fmt.Errorf("dial string %q has %q, which a dial string may not hold", v, c)
		}
	}
	if len(v) > 64 {
		return fmt.Errorf("dial string of %d characters is too long", len(v))
	}
	return nil
}

func parseUint(v string, max int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > max {
		return 0, fmt.Errorf("want a number from 0 to %d, got %q", max, v)
	}
	return n, nil
}

// parseMinutes reads an IOS timeout/idletime value: whole minutes, 0 meaning none.
func parseMinutes(v string) (time.Duration, error) {
	// A year of minutes is far beyond any session and keeps the product inside int64.
	n, err := parseUint(v, 525600)
	return time.Duration(n) * time.Minute, err
}

// parseRoute reads the IOS route value "dst mask [gateway]" (the mask dotted, as IOS writes
// it) or "dst/len [gateway]".
func parseRoute(v string) (aaa.Route, error) {
	f := strings.Fields(v)
	if len(f) == 0 {
		return aaa.Route{}, errors.New("empty route")
	}
	var r aaa.Route
	rest := f[1:]
	if strings.Contains(f[0], "/") {
		p, err := netip.ParsePrefix(f[0])
		if err != nil {
			return aaa.Route{}, err
		}
		r.Prefix = p.Masked()
	} else {
		if len(f) < 2 {
			return aaa.Route{}, fmt.Errorf("route %q has no mask", v)
		}
		dst, err := netip.ParseAddr(f[0])
		if err != nil {
			return aaa.Route{}, err
		}
		bits, err := maskBits(f[1], dst.BitLen())
		if err != nil {
			return aaa.Route{}, err
		}
		r.Prefix = netip.PrefixFrom(dst.Unmap(), bits).Masked()
		rest = f[2:]
	}
	switch len(rest) {
	case 0:
	case 1:
		gw, err := netip.ParseAddr(rest[0])
		if err != nil {
			return aaa.Route{}, err
		}
		r.Gateway = gw.Unmap()
	default:
		return aaa.Route{}, fmt.Errorf("route %q has too many fields", v)
	}
	if r.Gateway.IsValid() && r.Gateway.Is4() != r.Prefix.Addr().Is4() {
		return aaa.Route{}, fmt.Errorf("route %q mixes address families", v)
	}
	return r, nil
}

// maskBits turns a dotted netmask into a prefix length; the mask must be contiguous.
func maskBits(mask string, bitLen int) (int, error) {
	m, err := netip.ParseAddr(mask)
	if err != nil || !m.Is4() || bitLen != 32 {
		return 0, fmt.Errorf("bad netmask %q", mask)
	}
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	ones := 0
	for ones < 32 && v&(1<<(31-ones)) != 0 {
		ones++
	}
	if ones < 32 && v<<ones != 0 {
		return 0, fmt.Errorf("netmask %q is not contiguous", mask)
	}
	return ones, nil
}
