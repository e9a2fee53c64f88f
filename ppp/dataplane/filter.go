package dataplane

import (
	"errors"
	"fmt"
	"strings"
)

// Direction is the way a packet crosses the session.
type Direction uint8

// Directions, named as IOS names an access-group's: in is what the caller sends towards the
// network, out is what the network sends to the caller.
const (
	Out Direction = iota
	In
)

func (d Direction) String() string {
	if d == In {
		return "in"
	}
	return "out"
}

// ErrUnknownFilter: a Filter-Id names an access list the NAS does not have.
var ErrUnknownFilter = errors.New("unknown access list")

// ErrFilterID: a Filter-Id the data plane cannot read.
var ErrFilterID = errors.New("bad Filter-Id")

// FilterSpec names the access lists of one session, by direction; "" = none.
type FilterSpec struct {
	In, Out string
}

// ParseFilterID reads a RADIUS Filter-Id (RFC 2865 §5.11) or TACACS+ acl value the IOS way:
// "NAME.in" filters what the caller sends, "NAME.out" what it receives, and a bare "NAME"
// goes the default direction (IOS: outbound, unless `radius-server attribute 11 direction
// default inbound`). Several Filter-Id attributes, joined with spaces or commas, give one list
// per direction; two for the same direction is an error.
func ParseFilterID(s string, def Direction) (FilterSpec, error) {
	var spec FilterSpec
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		name, dir := f, def
		if i := strings.LastIndexByte(f, '.'); i >= 0 {
			switch strings.ToLower(f[i+1:]) {
			case "in":
				dir = In
			case "out":
				dir = Out
			default:
				return FilterSpec{}, fmt.Errorf("Filter-Id %q: %q: want NAME, NAME.in or NAME.out: %w", s, f, ErrFilterID)
			}
			name = f[:i]
		}
		if err := checkACLName(name); err != nil {
			return FilterSpec{}, fmt.Errorf("Filter-Id %q: %w: %w", s, ErrFilterID, err)
		}
		slot := &spec.Out
		if dir == In {
			slot = &spec.In
		}
		if *slot != "" {
			return FilterSpec{}, fmt.Errorf("Filter-Id %q: two access lists for direction %s (%s, %s): %w", s, dir, *slot, name, ErrFilterID)
		}
		*slot = name
	}
	return spec, nil
}

// resolve finds the lists a spec names.
func (spec FilterSpec) resolve(lists map[string]*ACL) (in, out *ACL, err error) {
	get := func(name string) (*ACL, error) {
		if name == "" {
			return nil, nil
		}
		a, ok := lists[name]
		if !ok {
			return nil, fmt.Errorf("access list %q: %w", name, ErrUnknownFilter)
		}
		return a, nil
	}
	if in, err = get(spec.In); err != nil {
		return nil, nil, err
	}
	if out, err = get(spec.Out); err != nil {
		return nil, nil, err
	}
	return in, out, nil
}
