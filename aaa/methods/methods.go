// Package methods builds the AAA method lists of a configuration (IOS `aaa authentication
// login|ppp|arap default METHOD...`) from the backends the NAS has — the local user table and
// the RADIUS and TACACS+ server groups — so that `nas serve` and `nas lab` wire AAA one way. Lists.Close
// releases what the backends hold.
package methods

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"

	"github.com/dialback/nas/aaa"
	"github.com/dialback/nas/aaa/local"
	"github.com/dialback/nas/aaa/radius"
	"github.com/dialback/nas/aaa/radius/dynauth"
	"github.com/dialback/nas/aaa/tacacs"
	"github.com/dialback/nas/config"
)

// RADIUSName is the method name of the RADIUS server group in method lists.
const RADIUSName = "radius"

// TACACSName is the method name of the TACACS+ server group in method lists.
const TACACSName = "tacacs"

// Lists are the method lists of one NAS, per service, and the local user table (which lines
// with `login local` use directly, as IOS does).
type Lists struct {
	Login, PPP, ARAP aaa.MethodList
	Local            *local.Local
	// RADIUS is the RADIUS server group, when radius is in a method list or in
	// accounting.methods; nil otherwise. It is also the RADIUS accounting destination
	// (Deliver) and answers `show radius` (Status).
	RADIUS *radius.Client
	// TACACS is the TACACS+ server group, when tacacs is in a method list or in
	// accounting.methods; nil otherwise. It is also the TACACS+ accounting destination
	// (Deliver).
	TACACS *tacacs.Client
}

// Close releases the backends' sockets and goroutines. Safe on a nil Lists and more than once.
func (l *Lists) Close() error {
	if l == nil {
		return nil
	}
	var errs []error
	if l.RADIUS != nil {
		errs = append(errs, l.RADIUS.Close())
	}
	if l.TACACS != nil {
		errs = append(errs, l.TACACS.Close())
	}
	return errors.Join(errs...)
}

// Build makes the method lists of cfg. Call Close on the result when done.
func Build(cfg *config.Config, log *slog.Logger) (*Lists, error) {
	loc, err := local.New(cfg.Users, local.WithLogger(log.With("component", "aaa-local")))
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	l := &Lists{Local: loc}
	if usesRADIUS(cfg) {
		rc, err := RADIUSConfig(cfg, log.With("component", "aaa-radius"))
		if err != nil {
			return nil, err
		}
		if l.RADIUS, err = radius.New(rc); err != nil {
			return nil, fmt.Errorf("radius: %w", err)
		}
	}
	if usesTACACS(cfg) {
		if l.TACACS, err = newTACACS(cfg, log.With("component", "aaa-tacacs")); err != nil {
			l.Close()
			return nil, err
		}
	}
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
			case RADIUSName:
				svc.list.Methods = append(svc.list.Methods, l.RADIUS)
			case TACACSName:
				svc.list.Methods = append(svc.list.Methods, l.TACACS)
			default:
				l.Close()
				return nil, fmt.Errorf("%s: method %q is not available", svc.key, name)
			}
		}
	}
	return l, nil
}

func usesRADIUS(cfg *config.Config) bool {
	for _, list := range [][]string{cfg.AAA.Login, cfg.AAA.PPP, cfg.AAA.ARAP, cfg.Accounting.Methods} {
		if slices.Contains(list, RADIUSName) {
			return true
		}
	}
	return false
}

// RADIUSConfig is the RADIUS client configuration of cfg: the servers in order with IOS's
// defaults for what the file leaves out, and NAS-Identifier defaulting to the hostname.
func RADIUSConfig(cfg *config.Config, log *slog.Logger) (radius.Config, error) {
	r := cfg.RADIUS
	if len(r.Servers) == 0 {
		return radius.Config{}, errors.New("radius: a method list names radius but radius.servers is empty")
	}
	rc := radius.Config{
		Name:          RADIUSName,
		DeadTime:      r.DeadTime,
		NASIdentifier: r.NASIdentifier,
		CallbackIDs:   r.CallbackIDs,
		Logger:        log,
	}
	if rc.NASIdentifier == "" {
		rc.NASIdentifier = cfg.Hostname
	}
	if r.NASIPAddress != "" {
		a, err := netip.ParseAddr(r.NASIPAddress)
		if err != nil {
			return radius.Config{}, fmt.Errorf("radius.nas-ip-address: %w", err)
		}
		rc.NASIPAddress = a
	}
	for _, s := range r.Servers {
		s = s.WithDefaults()
		rc.Servers = append(rc.Servers, radius.Server{
			Address:     s.Address,
			AuthPort:    s.AuthPort,
			AcctPort:    s.AcctPort,
			Secret:      s.Secret,
			Timeout:     s.Timeout,
			Retransmits: s.RetransmitCount(),
			Legacy:      s.Legacy,
		})
	}
	return rc, nil
}

func usesTACACS(cfg *config.Config) bool {
	for _, list := range [][]string{cfg.AAA.Login, cfg.AAA.PPP, cfg.AAA.ARAP, cfg.Accounting.Methods} {
		if slices.Contains(list, TACACSName) {
			return true
		}
	}
	return false
}

// newTACACS builds the TACACS+ client of cfg: the servers in order, IOS's defaults for what
// the file leaves out, the TLS files loaded.
func newTACACS(cfg *config.Config, log *slog.Logger) (*tacacs.Client, error) {
	t := cfg.TACACS
	if len(t.Servers) == 0 {
		return nil, errors.New("tacacs: a method list names tacacs but tacacs.servers is empty")
	}
	t.Servers = make([]config.TACACSServer, len(cfg.TACACS.Servers))
	for i, srv := range cfg.TACACS.Servers {
		t.Servers[i] = srv.WithDefaults()
	}
	tc, err := tacacs.FromConfig(t, log)
	if err != nil {
		return nil, err
	}
	tc.Name = TACACSName
	c, err := tacacs.New(tc)
	if err != nil {
		return nil, fmt.Errorf("tacacs: %w", err)
	}
	return c, nil
}

// DynamicAuthor opens the RFC 5176 listener of cfg (radius.dynamic-author) acting on
// sessions, or returns nil when no listen address is configured. The caller runs Serve and
// closes it. NAS-Identifier and NAS-IP-Address are checked against what the RADIUS client
// sends (RADIUSConfig).
func DynamicAuthor(cfg *config.Config, sessions dynauth.Sessions, log *slog.Logger) (*dynauth.Server, error) {
	d := cfg.RADIUS.DynamicAuthor
	if d.Listen == "" {
		return nil, nil
	}
	dc := dynauth.Config{Listen: d.Listen, Sessions: sessions, Logger: log, NASIdentifier: cfg.RADIUS.NASIdentifier}
	if dc.NASIdentifier == "" {
		dc.NASIdentifier = cfg.Hostname
	}
	if cfg.RADIUS.NASIPAddress != "" {
		a, err := netip.ParseAddr(cfg.RADIUS.NASIPAddress)
		if err != nil {
			return nil, fmt.Errorf("radius.nas-ip-address: %w", err)
		}
		dc.NASIPAddress = a
	}
	for i, c := range d.Clients {
		a, err := netip.ParseAddr(c.Address)
		if err != nil {
			return nil, fmt.Errorf("radius.dynamic-author.clients[%d].address: %w", i, err)
		}
		dc.Clients = append(dc.Clients, dynauth.Client{Address: a, Secret: c.Secret})
	}
	return dynauth.Listen(dc)
}
