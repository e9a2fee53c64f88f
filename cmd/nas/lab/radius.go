package lab

import (
	"bytes"
	"fmt"
	"io/fs"
	"log/slog"

	"go.yaml.in/yaml/v3"

	"github.com/dialback/nas/aaa/radius/labserver"
	"github.com/dialback/nas/config"
)

// EmbeddedRADIUS is the address a scenario's NAS configuration gives a radius.servers entry to
// mean the lab's embedded RADIUS server. The lab starts that server on 127.0.0.1 at a random
// port, serving the scenario's radius-users with the entry's secret, and points the entry at
// it before the NAS starts.
const EmbeddedRADIUS = "embedded"

// RADIUSUser is a user of the embedded RADIUS server, as a scenario's radius-users list (or the
// file it names) writes it:
//
//   - name: alice
//     password: alice-secret
//     reply:
//     Service-Type: Login-User
//     Cisco-AVPair: ["shell:callback-dialstring=5552001", "shell:callback-rotary=77"]
//
// Reply attributes are the Access-Accept's, in the order written; a list value repeats the
// attribute. Names and values are FreeRADIUS users-file spellings.
type RADIUSUser struct {
	Name     string     `yaml:"name"`
	Password string     `yaml:"password"`
	Reply    ReplyAttrs `yaml:"reply"`
}

// ReplyAttrs are reply attributes in the order a scenario writes them.
type ReplyAttrs []labserver.Attr

// UnmarshalYAML reads a mapping of attribute name to a value or a list of values.
func (r *ReplyAttrs) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: reply: want a mapping of attribute: value (or [values])", n.Line)
	}
	var out ReplyAttrs
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch v.Kind {
		case yaml.ScalarNode:
			out = append(out, labserver.Attr{Name: k.Value, Value: v.Value})
		case yaml.SequenceNode:
			for _, item := range v.Content {
				if item.Kind != yaml.ScalarNode {
					return fmt.Errorf("line %d: reply %s: each value must be a scalar", item.Line, k.Value)
				}
				out = append(out, labserver.Attr{Name: k.Value, Value: item.Value})
			}
		default:
			return fmt.Errorf("line %d: reply %s: want a value or a list of values", v.Line, k.Value)
		}
	}
	*r = out
	return nil
}

// resolveRADIUSUsers reads the scenario's radius-users: an inline list, or a path to a file
// holding one (relative like config), and checks every attribute.
func (s *Scenario) resolveRADIUSUsers(dir fs.FS) error {
	users, err := decodeListOrFile[RADIUSUser](&s.RADIUSUsers, dir, "radius-users")
	if err != nil || users == nil {
		return err
	}
	for _, u := range users {
		s.radiusUsers = append(s.radiusUsers, labserver.User{Name: u.Name, Password: u.Password, Reply: u.Reply})
	}
	if err := labserver.Compile(s.radiusUsers); err != nil {
		return fmt.Errorf("radius-users: %w", err)
	}
	return nil
}

// decodeStrict decodes a node with unknown keys as errors (yaml.Node.Decode has no
// KnownFields: re-encode and decode strictly).
// decodeListOrFile decodes a scenario key that holds either a list of users inline or the path of a
// file holding one (relative to the scenario, like config), strictly. A missing key gives nil.
func decodeListOrFile[T any](node *yaml.Node, dir fs.FS, key string) ([]T, error) {
	switch node.Kind {
	case 0:
		return nil, nil
	case yaml.ScalarNode:
		b, err := fs.ReadFile(dir, node.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", key, node.Value, err)
		}
		if len(doc.Content) == 0 {
			return nil, fmt.Errorf("%s: %s is empty", key, node.Value)
		}
		node = doc.Content[0]
	case yaml.SequenceNode:
	default:
		return nil, fmt.Errorf("%s: either a list of users or a file path", key)
	}
	var out []T
	if err := decodeStrict(node, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return out, nil
}

func decodeStrict(n *yaml.Node, v any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	return dec.Decode(v)
}

// startEmbeddedRADIUS starts the embedded RADIUS server when cfg names it, and points the
// servers that name it there. It returns nil when cfg does not name it.
func startEmbeddedRADIUS(s *Scenario, cfg *config.Config, log *slog.Logger) (*labserver.Server, error) {
	var (
		at     []int
		secret string
	)
	for i, srv := range cfg.RADIUS.Servers {
		if srv.Address != EmbeddedRADIUS {
			continue
		}
		if secret != "" && srv.Secret != secret {
			return nil, fmt.Errorf("radius.servers[%d]: every %q server must have the same secret (the embedded server has one)", i, EmbeddedRADIUS)
		}
		secret = srv.Secret
		at = append(at, i)
	}
	switch {
	case len(at) == 0 && len(s.radiusUsers) > 0:
		return nil, fmt.Errorf("radius-users are given, but no radius.servers entry has address %q to use them", EmbeddedRADIUS)
	case len(at) == 0:
		return nil, nil
	case len(s.radiusUsers) == 0:
		return nil, fmt.Errorf("radius.servers[%d] is the embedded server, but the scenario has no radius-users", at[0])
	}
	srv, err := labserver.Start(secret, s.radiusUsers, log.With("component", "lab-radius"))
	if err != nil {
		return nil, err
	}
	for _, i := range at {
		e := &cfg.RADIUS.Servers[i]
		e.Address, e.AuthPort, e.AcctPort = "127.0.0.1", srv.Port(), srv.Port()
	}
	log.Info("embedded RADIUS server", "addr", srv.Addr().String(), "users", len(s.radiusUsers))
	return srv, nil
}
