package lab

import (
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"strconv"

	tlab "github.com/dialback/nas/aaa/tacacs/labserver"
	"github.com/dialback/nas/config"
)

// EmbeddedTACACS is the host a scenario's NAS configuration gives a tacacs.servers entry to
// mean the lab's embedded TACACS+ server (as EmbeddedRADIUS does for RADIUS; the
// configuration reads "embedded" as "embedded:49"). The lab starts that server on 127.0.0.1
// at a random port, serving the scenario's tacacs-users with the entry's secret, and points
// the entry at it before the NAS starts. With tacacs-down the server is not started and the
// entry points at a closed port instead: a TACACS+ server that is down.
const EmbeddedTACACS = "embedded"

// TACACSUser is a user of the embedded TACACS+ server, as a scenario's tacacs-users list (or
// the file it names) writes it:
//
//   - name: terry
//     password: terry-secret
//     exec-avs: ["callback-dialstring=5552007", "callback-line=4", "nocallback-verify=1"]
//     ppp-avs: ["callback-dialstring=5552008"]
//
// Every user is authorized for every service; each list is the PASS_ADD reply to one
// authorization request: exec-avs to service=shell cmd=, ppp-avs to service=ppp
// protocol=lcp, ppp-ip-avs to service=ppp protocol=ip, arap-avs to service=arap. AVs are
// written as they travel: attr=value (mandatory) or attr*value (optional).
type TACACSUser struct {
	Name     string   `yaml:"name"`
	Password string   `yaml:"password"`
	ExecAVs  []string `yaml:"exec-avs"`
	PPPAVs   []string `yaml:"ppp-avs"`
	PPPIPAVs []string `yaml:"ppp-ip-avs"`
	ARAPAVs  []string `yaml:"arap-avs"`
}

// resolveTACACSUsers reads the scenario's tacacs-users: an inline list, or a path to a file
// holding one (relative like config), and checks every AV's syntax.
func (s *Scenario) resolveTACACSUsers(dir fs.FS) error {
	users, err := decodeListOrFile[TACACSUser](&s.TACACSUsers, dir, "tacacs-users")
	if err != nil || users == nil {
		return err
	}
	for _, u := range users {
		s.tacacsUsers = append(s.tacacsUsers, tlab.User{Name: u.Name, Password: u.Password,
			Exec: u.ExecAVs, PPP: u.PPPAVs, PPPIP: u.PPPIPAVs, ARAP: u.ARAPAVs})
	}
	if err := tlab.Compile(s.tacacsUsers); err != nil {
		return fmt.Errorf("tacacs-users: %w", err)
	}
	return nil
}

// startEmbeddedTACACS starts the embedded TACACS+ server when cfg names it, and points the
// servers that name it there (or, with tacacs-down, at a closed port). It returns nil when
// no server was started.
func startEmbeddedTACACS(s *Scenario, cfg *config.Config, log *slog.Logger) (*tlab.Server, error) {
	var (
		at     []int
		secret string
	)
	for i, srv := range cfg.TACACS.Servers {
		host, _, err := net.SplitHostPort(srv.Address)
		if err != nil || host != EmbeddedTACACS {
			continue
		}
		if srv.TLS != nil {
			return nil, fmt.Errorf("tacacs.servers[%d]: the embedded TACACS+ server speaks TCP with a secret, not TLS", i)
		}
		if secret != "" && srv.Secret != secret {
			return nil, fmt.Errorf("tacacs.servers[%d]: every %q server must have the same secret (the embedded server has one)", i, EmbeddedTACACS)
		}
		secret = srv.Secret
		at = append(at, i)
	}
	switch {
	case len(at) == 0 && (len(s.tacacsUsers) > 0 || s.TACACSDown):
		return nil, fmt.Errorf("tacacs-users or tacacs-down are given, but no tacacs.servers entry has address %q to use them", EmbeddedTACACS)
	case len(at) == 0:
		return nil, nil
	case s.TACACSDown:
		port, err := closedPort()
		if err != nil {
			return nil, fmt.Errorf("tacacs-down: %w", err)
		}
		point(cfg, at, port)
		log.Info("embedded TACACS+ server down (tacacs-down): its entries point at a closed port", "port", port)
		return nil, nil
	case len(s.tacacsUsers) == 0:
		return nil, fmt.Errorf("tacacs.servers[%d] is the embedded server, but the scenario has no tacacs-users", at[0])
	}
	srv, err := tlab.Start(secret, s.tacacsUsers, log.With("component", "lab-tacacs"))
	if err != nil {
		return nil, err
	}
	point(cfg, at, srv.Port())
	log.Info("embedded TACACS+ server", "addr", srv.Addr().String(), "users", len(s.tacacsUsers))
	return srv, nil
}

func point(cfg *config.Config, at []int, port int) {
	for _, i := range at {
		cfg.TACACS.Servers[i].Address = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	}
}

// closedPort returns a loopback TCP port nothing listens on: it is bound and released, so a
// connection to it is refused at once, as to a server that is down.
func closedPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}
