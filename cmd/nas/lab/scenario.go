// Package lab runs the NAS on the simulated telephone network with embedded AAA and judges
// scenarios: simulated callers dial in, log in, ask for and answer callbacks, and each scenario's
// ordered list of expected events must appear in what the NAS emits.
package lab

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/dialback/nas/aaa/radius/labserver"
	tlab "github.com/dialback/nas/aaa/tacacs/labserver"
	"github.com/dialback/nas/session/event"
)

// Scenario is one lab run: a NAS configuration, the callers, and the events that must appear.
type Scenario struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Config is the NAS configuration: inline YAML (a mapping), or a path to a file, relative
	// to the scenario file (or to the bundled examples for bundled scenarios).
	Config yaml.Node `yaml:"config"`
	// Timeout bounds the whole scenario (default 30s).
	Timeout time.Duration `yaml:"timeout"`
	Callers []Caller      `yaml:"callers"`
	Expect  []Expectation `yaml:"expect"`
	// RADIUSUsers are the users of the embedded RADIUS server (see EmbeddedRADIUS and
	// RADIUSUser): an inline list, or a path to a file holding one, resolved like Config.
	RADIUSUsers yaml.Node `yaml:"radius-users"`
	// TACACSUsers are the users of the embedded TACACS+ server (see EmbeddedTACACS and
	// TACACSUser): an inline list, or a path to a file holding one, resolved like Config.
	TACACSUsers yaml.Node `yaml:"tacacs-users"`
	// TACACSDown leaves the embedded TACACS+ server unstarted: the entries that name it get a
	// closed port, so the NAS finds the server down.
	TACACSDown bool `yaml:"tacacs-down"`

	configYAML  []byte // resolved Config
	radiusUsers []labserver.User
	tacacsUsers []tlab.User
	source      string
}

// Caller is a simulated user at a telephone with a modem.
type Caller struct {
	// Phone is the caller's own number on the simulated network.
	Phone string `yaml:"phone"`
	// Dial is the number the caller calls (a NAS line).
	Dial string `yaml:"dial"`
	// Speaks is exec, ppp or arap.
	Speaks   string `yaml:"speaks"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// CallbackNumber is what the caller answers when the NAS asks for a callback number.
	CallbackNumber string `yaml:"callback-number"`
	// AnswerCallback says whether the caller answers when the NAS calls back.
	AnswerCallback bool `yaml:"answer-callback"`
	// Busy keeps the caller's telephone off-hook after the first call, so a callback finds it busy.
	Busy bool `yaml:"busy"`
	// Delay is how long the caller waits before dialling.
	Delay time.Duration `yaml:"delay"`
	// Commands are typed at the EXEC prompt once logged in (default: "show users", then "exit").
	Commands []string `yaml:"commands"`
	// Auth is the one protocol a PPP caller authenticates with: chap, pap or ms-chap-v2
	// (default: whichever the NAS asks for).
	Auth string `yaml:"auth"`
	// Callback is how a PPP caller asks to be called back: cbcp (as pppd's `callback NUMBER`,
	// the number being callback-number) or rfc1570 (LCP option 13 with callback-number, or
	// "from authentication" without one). Default: it does not ask.
	Callback string `yaml:"callback"`
	// Hold is how long a PPP caller stays online once IPCP is up (default 200ms).
	Hold time.Duration `yaml:"hold"`
	// CBCPDelay is the callback delay a CBCP caller asks for (default 1s; pppd asks for 5s).
	CBCPDelay time.Duration `yaml:"cbcp-delay"`
}

// Expectation is a subset of an event's fields; the event name is required.
type Expectation struct {
	Event    string `yaml:"event"`
	Line     *int   `yaml:"line"`
	User     string `yaml:"user"`
	Protocol string `yaml:"protocol"`
	Leg      string `yaml:"leg"`
	Number   string `yaml:"number"`
	Rotary   *int   `yaml:"rotary"`
	Cause    string `yaml:"cause"`
	Address  string `yaml:"address"`
}

// Matches reports whether e has every field the expectation names.
func (x Expectation) Matches(e event.Event) bool {
	return e.Kind == x.Event &&
		(x.Line == nil || *x.Line == e.Line) &&
		(x.Rotary == nil || *x.Rotary == e.Rotary) &&
		(x.User == "" || x.User == e.User) &&
		(x.Protocol == "" || x.Protocol == e.Protocol) &&
		(x.Leg == "" || x.Leg == e.Leg) &&
		(x.Number == "" || x.Number == e.Number) &&
		(x.Cause == "" || x.Cause == e.Cause) &&
		(x.Address == "" || x.Address == e.Address)
}

func (x Expectation) String() string {
	parts := []string{x.Event}
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	if x.Line != nil {
		add("line", fmt.Sprint(*x.Line))
	}
	add("user", x.User)
	add("protocol", x.Protocol)
	add("leg", x.Leg)
	add("number", x.Number)
	if x.Rotary != nil {
		add("rotary", fmt.Sprint(*x.Rotary))
	}
	add("cause", x.Cause)
	add("address", x.Address)
	return strings.Join(parts, " ")
}

// Judge walks the events in order and reports how many expectations were met in order (an
// expectation is met by the first matching event after the one that met its predecessor).
func Judge(expect []Expectation, events []event.Event) (met int) {
	for _, e := range events {
		if met < len(expect) && expect[met].Matches(e) {
			met++
		}
	}
	return met
}

// Parse reads a scenario from YAML. Unknown keys are errors. dir resolves a config path.
func Parse(data []byte, source string, dir fs.FS) (*Scenario, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Scenario
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("scenario %s: %w", source, err)
	}
	s.source = source
	if s.Name == "" {
		s.Name = strings.TrimSuffix(filepath.Base(source), filepath.Ext(source))
	}
	if s.Timeout == 0 {
		s.Timeout = 30 * time.Second
	}
	var errs []error
	switch s.Config.Kind {
	case yaml.MappingNode:
		b, err := yaml.Marshal(&s.Config)
		if err != nil {
			errs = append(errs, fmt.Errorf("config: %w", err))
		}
		s.configYAML = b
	case yaml.ScalarNode:
		b, err := fs.ReadFile(dir, s.Config.Value)
		if err != nil {
			errs = append(errs, fmt.Errorf("config: %w", err))
		}
		s.configYAML = b
	default:
		errs = append(errs, errors.New("config: required, either a mapping (inline NAS configuration) or a file path"))
	}
	if err := s.resolveRADIUSUsers(dir); err != nil {
		errs = append(errs, err)
	}
	if err := s.resolveTACACSUsers(dir); err != nil {
		errs = append(errs, err)
	}
	if len(s.Callers) == 0 {
		errs = append(errs, errors.New("callers: at least one caller is required"))
	}
	for i, c := range s.Callers {
		if !digits(c.Phone) {
			errs = append(errs, fmt.Errorf("callers[%d].phone: %q is not a telephone number (digits only)", i, c.Phone))
		}
		if !digits(c.Dial) {
			errs = append(errs, fmt.Errorf("callers[%d].dial: %q is not a telephone number (digits only)", i, c.Dial))
		}
		switch c.Speaks {
		case "exec", "ppp", "arap":
		case "":
			s.Callers[i].Speaks = "exec"
		default:
			errs = append(errs, fmt.Errorf("callers[%d].speaks: %q is not one of exec, ppp, arap", i, c.Speaks))
		}
		errs = append(errs, s.Callers[i].checkPPP(i)...)
	}
	if len(s.Expect) == 0 {
		errs = append(errs, errors.New("expect: at least one expected event is required"))
	}
	for i, x := range s.Expect {
		if x.Event == "" {
			errs = append(errs, fmt.Errorf("expect[%d].event: required", i))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("scenario %s: %w", source, errors.Join(errs...))
	}
	return &s, nil
}

// ConfigYAML is the NAS configuration of the scenario.
func (s *Scenario) ConfigYAML() []byte { return s.configYAML }

// LoadFile reads a scenario file; a config path in it is relative to the file.
func LoadFile(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	return Parse(data, path, os.DirFS(abs))
}

// LoadBundled reads every scenario under dir of fsys (the embedded examples), sorted by name.
func LoadBundled(fsys fs.FS, dir string) ([]*Scenario, error) {
	names, err := fs.Glob(fsys, dir+"/*.yaml")
	if err != nil {
		return nil, err
	}
	var out []*Scenario
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		sub, err := fs.Sub(fsys, dir)
		if err != nil {
			return nil, err
		}
		s, err := Parse(data, n, sub)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
