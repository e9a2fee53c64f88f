package aaa

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// fake answers every call with a fixed result and records what it was asked.
type fake struct {
	name  string
	prof  *Profile
	err   error
	calls []Request
}

func (f *fake) Name() string { return f.name }

func (f *fake) Authenticate(_ context.Context, r *Request) (*Profile, error) {
	return f.answer(r)
}

func (f *fake) Authorize(_ context.Context, r *Request) (*Profile, error) {
	return f.answer(r)
}

func (f *fake) answer(r *Request) (*Profile, error) {
	f.calls = append(f.calls, *r)
	if f.prof == nil {
		return nil, f.err
	}
	p := *f.prof
	return &p, f.err
}

func accept(name string) *fake {
	return &fake{name: name, prof: &Profile{User: "u", Source: name + " (own)"}}
}
func reject(name string) *fake {
	return &fake{name: name, err: &RejectError{Method: name, Reason: "bad username or password"}}
}
func down(name string) *fake {
	return &fake{name: name, err: fmt.Errorf("%s 192.0.2.1:1812: %w: timeout after 3 tries", name, ErrUnreachable)}
}
func broken(name string) *fake {
	return &fake{name: name, err: errors.New(name + ": malformed reply")}
}

func TestMethodList(t *testing.T) {
	tests := []struct {
		name      string
		methods   []*fake
		wantFrom  string // Source of the profile; "" for an error
		wantErr   error  // errors.Is target
		wantCalls []int  // calls per method
	}{
		{"first accepts", []*fake{accept("a"), accept("b")}, "a (own)", nil, []int{1, 0}},
		{"first rejects: list stops", []*fake{reject("a"), accept("b")}, "", ErrRejected, []int{1, 0}},
		{"unreachable falls through to accept", []*fake{down("a"), accept("b")}, "b (own)", nil, []int{1, 1}},
		{"unreachable falls through to reject", []*fake{down("a"), reject("b"), accept("c")}, "", ErrRejected, []int{1, 1, 0}},
		{"two unreachable then accept", []*fake{down("a"), down("b"), accept("c")}, "c (own)", nil, []int{1, 1, 1}},
		{"all unreachable", []*fake{down("a"), down("b")}, "", ErrUnreachable, []int{1, 1}},
		{"other error stops the list", []*fake{broken("a"), accept("b")}, "", nil, []int{1, 0}},
		{"empty list", nil, "", ErrNoMethods, nil},
		{"single reject", []*fake{reject("a")}, "", ErrRejected, []int{1}},
	}
	for _, tt := range tests {
		for _, op := range []string{"Authenticate", "Authorize"} {
			t.Run(tt.name+"/"+op, func(t *testing.T) {
				l := MethodList{Service: ServicePPP}
				for _, m := range tt.methods {
					m.calls = nil
					l.Methods = append(l.Methods, m)
				}
				call := l.Authenticate
				if op == "Authorize" {
					call = l.Authorize
				}
				p, err := call(context.Background(), &Request{User: "u", Password: "pw"})
				if tt.wantFrom != "" {
					if err != nil {
						t.Fatalf("err = %v, want a profile from %s", err, tt.wantFrom)
					}
					if p.Source != tt.wantFrom {
						t.Errorf("Source = %q, want %q", p.Source, tt.wantFrom)
					}
				} else {
					if err == nil || p != nil {
						t.Fatalf("= %+v, %v; want an error", p, err)
					}
					if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
						t.Errorf("err = %v, want errors.Is %v", err, tt.wantErr)
					}
					if tt.wantErr != ErrUnreachable && errors.Is(err, ErrUnreachable) {
						t.Errorf("err = %v wraps ErrUnreachable, but a method answered", err)
					}
					if tt.wantErr != ErrRejected && errors.Is(err, ErrRejected) {
						t.Errorf("err = %v wraps ErrRejected, but no method rejected", err)
					}
				}
				for i, m := range tt.methods {
					if len(m.calls) != tt.wantCalls[i] {
						t.Errorf("method %s called %d times, want %d", m.name, len(m.calls), tt.wantCalls[i])
					}
				}
			})
		}
	}
}

func TestMethodListAllUnreachableNamesEach(t *testing.T) {
	l := MethodList{Service: ServiceLogin, Methods: []Method{down("radius"), down("tacacs")}}
	_, err := l.Authenticate(context.Background(), &Request{User: "u"})
	for _, s := range []string{"radius 192.0.2.1", "tacacs 192.0.2.1", "all 2 methods unreachable", "login"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

func TestMethodListFillsSourceAndService(t *testing.T) {
	m := &fake{name: "local", prof: &Profile{User: "u"}}
	l := MethodList{Service: ServiceARAP, Methods: []Method{m}}
	req := &Request{User: "u"}
	p, err := l.Authenticate(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if p.Source != "local" {
		t.Errorf("Source = %q, want the method's name", p.Source)
	}
	if m.calls[0].Service != ServiceARAP {
		t.Errorf("method saw service %q, want %q", m.calls[0].Service, ServiceARAP)
	}
	if req.Service != "" {
		t.Errorf("caller's request was modified: service %q", req.Service)
	}
	// An explicit service is passed on as is.
	if _, err := l.Authenticate(context.Background(), &Request{User: "u", Service: ServiceLogin}); err != nil {
		t.Fatal(err)
	}
	if m.calls[1].Service != ServiceLogin {
		t.Errorf("method saw service %q, want login", m.calls[1].Service)
	}
}

func TestMethodListNilProfile(t *testing.T) {
	l := MethodList{Service: ServicePPP, Methods: []Method{&fake{name: "buggy"}, accept("b")}}
	_, err := l.Authenticate(context.Background(), &Request{User: "u"})
	if err == nil || !strings.Contains(err.Error(), "buggy returned no profile") {
		t.Errorf("err = %v, want a complaint about the method", err)
	}
}

func TestMethodListCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	// The first method is unreachable and the context ends meanwhile: the list must not go on.
	first := &cancelling{fake: down("a"), cancel: cancel}
	second := accept("b")
	l := MethodList{Service: ServicePPP, Methods: []Method{first, second}}
	_, err := l.Authenticate(ctx, &Request{User: "u"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if len(second.calls) != 0 {
		t.Errorf("second method was tried after the context ended")
	}
}

type cancelling struct {
	*fake
	cancel context.CancelFunc
}

func (c *cancelling) Authenticate(ctx context.Context, r *Request) (*Profile, error) {
	c.cancel()
	return c.fake.Authenticate(ctx, r)
}

func TestRejectError(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", &RejectError{Method: "radius 127.0.0.1:1812", Reason: "bad username or password", Message: "Account expired"})
	if !errors.Is(err, ErrRejected) {
		t.Fatal("RejectError does not match ErrRejected")
	}
	var re *RejectError
	if !errors.As(err, &re) || re.Message != "Account expired" {
		t.Fatalf("errors.As = %v, %+v", re, re)
	}
	if got, want := re.Error(), "radius 127.0.0.1:1812: rejected: bad username or password"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
