package aaa

import (
	"context"
	"errors"
	"fmt"
)

// MethodList is an IOS method list (`aaa authentication ppp default radius local`): methods
// are tried in order, and the next one is tried only when the current one is unreachable.
// A reject, or any other error, ends the list.
type MethodList struct {
	Service Service
	Methods []Method
}

// Authenticate runs Authenticate on each method in turn (see MethodList).
func (l MethodList) Authenticate(ctx context.Context, r *Request) (*Profile, error) {
	return l.run(ctx, r, "authentication", Method.Authenticate)
}

// Authorize runs Authorize on each method in turn (see MethodList).
func (l MethodList) Authorize(ctx context.Context, r *Request) (*Profile, error) {
	return l.run(ctx, r, "authorization", Method.Authorize)
}

func (l MethodList) run(ctx context.Context, r *Request, what string,
	call func(Method, context.Context, *Request) (*Profile, error)) (*Profile, error) {
	if len(l.Methods) == 0 {
		return nil, fmt.Errorf("aaa %s %s of %q: %w", l.Service, what, r.User, ErrNoMethods)
	}
	if r.Service == "" {
		// Fill in the service without touching the caller's request.
		rr := *r
		rr.Service = l.Service
		r = &rr
	}
	var unreachable []error
	for _, m := range l.Methods {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("aaa %s %s of %q: %w", l.Service, what, r.User, err)
		}
		p, err := call(m, ctx, r)
		switch {
		case err == nil && p == nil:
			return nil, fmt.Errorf("aaa %s %s of %q: method %s returned no profile and no error",
				l.Service, what, r.User, m.Name())
		case err == nil:
			if p.Source == "" {
				p.Source = m.Name()
			}
			return p, nil
		case errors.Is(err, ErrUnreachable):
			unreachable = append(unreachable, err)
			continue
		default:
			// A reject is an answer: IOS never asks the next method after a FAIL.
			return nil, err
		}
	}
	return nil, fmt.Errorf("aaa %s %s of %q: all %d methods unreachable: %w",
		l.Service, what, r.User, len(l.Methods), errors.Join(unreachable...))
}
