// Package methods builds the AAA method lists of a configuration (IOS `aaa authentication
// login|ppp|arap default METHOD...`) from the backends the NAS has, so that `nas serve` and
// `nas lab` wire AAA one way.
package methods

import (
	"fmt"
	"log/slog"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/local"
	"github.com/dialback/nas/config"
)

// Lists are the method lists of one NAS, per service, and the local user table (which lines
// with `login local` use directly, as IOS does).
type Lists struct {
	Login, PPP, ARAP aaa.MethodList
	Local            *local.Local
}

// Build makes the method lists of cfg.
func Build(cfg *config.Config, log *slog.Logger) (*Lists, error) {
	loc, err := local.New(cfg.Users, local.WithLogger(log.With("component", "aaa-local")))
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	l := &Lists{Local: loc}
	for _, svc := range []struct {
		key   string
		names []string
		list  *aaa.MethodList
		kind  aaa.Service
	}{
		{"aaa.login", cfg.AAA.Login, &l.Login, aaa.ServiceLogin},
		{"aaa.ppp", cfg.AAA.PPP, &l.PPP, aaa.ServicePPP},
		{"aaa.arap", cfg.AAA.ARAP, &l.ARAP, aaa.ServiceARAP},
	} {
		svc.list.Service = svc.kind
		for _, name := range svc.names {
			switch name {
			case local.Name:
				svc.list.Methods = append(svc.list.Methods, loc)
			default:
				return nil, fmt.Errorf("%s: method %q is not available", svc.key, name)
			}
		}
	}
	return l, nil
}
