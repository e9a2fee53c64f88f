package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/dialback/nas/aaa/acct"
	"github.com/dialback/nas/aaa/radius/dynauth"
)

// DynAuth is the server's session registry as RFC 5176 dynamic authorization acts on it
// (dynauth.Config.Sessions): Disconnect-Request and CoA-Request name live legs by their
// accounting attributes.
func (s *Server) DynAuth() dynauth.Sessions { return dynAuth{s} }

type dynAuth struct{ s *Server }

func (d dynAuth) List() []dynauth.Session {
	in := d.s.Sessions()
	out := make([]dynauth.Session, len(in))
	for i, x := range in {
		out[i] = dynauth.Session{
			ID: x.SessionID, AcctSessionID: x.SessionID, AcctMultiSessionID: x.MultiSessionID, User: x.User,
			Line: x.Line, PortName: x.PortName, Address: x.Address, CallerID: x.CallerID, CalledID: x.CalledID,
		}
	}
	return out
}

func (d dynAuth) Disconnect(_ context.Context, id string, cause acct.Cause) error {
	return noSession(d.s.Disconnect(id, cause))
}

func (d dynAuth) SetTimeouts(_ context.Context, id string, t dynauth.Timeouts) error {
	return noSession(d.s.SetTimeouts(id, t.Session, t.Idle))
}

// noSession makes the registry's "gone" dynauth's, so the request is answered 503.
func noSession(err error) error {
	if errors.Is(err, ErrNoSession) {
		return fmt.Errorf("%w: %w", dynauth.ErrNoSession, err)
	}
	return err
}
