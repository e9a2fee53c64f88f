package config

import (
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// MaxTTY is the highest TTY number (IOS numbers async lines 0-999 on the largest chassis).
const MaxTTY = 999

// PortTemplate in a port is replaced by the TTY number, so one entry can cover a range.
const PortTemplate = "{n}"

// Port schemes.
const (
	SchemeDevice  = "device"  // "/dev/ttyS0": a local serial device (go.bug.st/serial)
	SchemeRFC2217 = "rfc2217" // "rfc2217://host:port": a remote port (RFC 2217 Telnet COM port control)
	SchemeSim     = "sim"     // "sim:5551001": a modem on the simulated telephone network
)

// TTY is one async line after expansion: its number and its settings with defaults filled in
// and the port template substituted.
type TTY struct {
	Num  int
	Spec LineSpec
}

// Range parses the entry's TTY number or range ("3", "1-8") into its first and last TTY.
func (s LineSpec) Range() (first, last int, err error) {
	text := strings.TrimSpace(s.Lines)
	if text == "" {
		return 0, 0, fmt.Errorf(`is required: a TTY number or range such as "3" or "1-8"`)
	}
	a, b, isRange := strings.Cut(text, "-")
	first, errA := parseTTYNum(a)
	last, errB := first, error(nil)
	if isRange {
		last, errB = parseTTYNum(b)
	}
	if errA != nil || errB != nil {
		return 0, 0, fmt.Errorf(`%q is not a TTY number or range: write "3" or "1-8", with numbers 0-%d`, s.Lines, MaxTTY)
	}
	if first > last {
		return 0, 0, fmt.Errorf("%q is not a valid range: %d is greater than %d", s.Lines, first, last)
	}
	return first, last, nil
}

func parseTTYNum(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.TrimLeft(s, "0123456789") != "" || len(s) > 3 {
		return 0, fmt.Errorf("bad TTY number %q", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > MaxTTY {
		return 0, fmt.Errorf("bad TTY number %q", s)
	}
	return n, nil
}

// PortFor returns the entry's port for TTY n, with the template substituted.
func (s LineSpec) PortFor(n int) string {
	return strings.ReplaceAll(s.Port, PortTemplate, strconv.Itoa(n))
}

// PortScheme returns which backend a (substituted) port names: SchemeDevice, SchemeRFC2217 or
// SchemeSim, or "" if it names none of them.
func PortScheme(port string) string {
	switch {
	case strings.HasPrefix(port, "/"):
		return SchemeDevice
	case strings.HasPrefix(port, "rfc2217://"):
		return SchemeRFC2217
	case strings.HasPrefix(port, "sim:"):
		return SchemeSim
	}
	return ""
}

// SimNumber returns the telephone number of a "sim:NUMBER" port.
func SimNumber(port string) (string, bool) {
	return strings.CutPrefix(port, "sim:")
}

// checkPort says what is wrong with one substituted port, or "" if nothing.
func checkPort(port string) string {
	if strings.ContainsAny(port, "{}") {
		return fmt.Sprintf("%q has an unknown template: only %s (the TTY number) is supported", port, PortTemplate)
	}
	switch PortScheme(port) {
	case SchemeDevice:
		if strings.ContainsAny(port, " \t\r\n\x00") {
			return fmt.Sprintf("%q is not a device path: it contains white space or NUL", port)
		}
		return ""
	case SchemeRFC2217:
		u, err := url.Parse(port)
		if err != nil || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
			return fmt.Sprintf("%q is not rfc2217://host:port", port)
		}
		host, p, err := net.SplitHostPort(u.Host)
		if err != nil || host == "" {
			return fmt.Sprintf("%q is not rfc2217://host:port (host and TCP port are both required)", port)
		}
		if _, ok := portNumber(p); !ok {
			return fmt.Sprintf("%q: TCP port %q is out of range 1-65535", port, p)
		}
		return ""
	case SchemeSim:
		num, _ := SimNumber(port)
		if num == "" || strings.TrimLeft(num, "0123456789") != "" {
			return fmt.Sprintf("%q is not sim:NUMBER: the number must be digits only", port)
		}
		if len(num) > 20 {
			return fmt.Sprintf("%q: the number is longer than 20 digits", port)
		}
		return ""
	}
	return fmt.Sprintf("%q is not a port: use a device path (/dev/ttyS0), rfc2217://host:port or sim:NUMBER", port)
}

// TTYs expands every line entry into its TTYs, sorted by number. Entries whose range does not
// parse are skipped, and where entries overlap the first one wins (Validate reports both).
func (c *Config) TTYs() []TTY {
	seen := map[int]bool{}
	var out []TTY
	for _, s := range c.Lines {
		first, last, err := s.Range()
		if err != nil {
			continue
		}
		for n := first; n <= last; n++ {
			if seen[n] {
				continue
			}
			seen[n] = true
			spec := s.WithDefaults()
			spec.Lines = strconv.Itoa(n)
			spec.Port = s.PortFor(n)
			out = append(out, TTY{Num: n, Spec: spec})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Num < out[j].Num })
	return out
}

// TTY returns the expanded TTY number n, if configured.
func (c *Config) TTY(n int) (TTY, bool) {
	for _, t := range c.TTYs() {
		if t.Num == n {
			return t, true
		}
	}
	return TTY{}, false
}

// Rotaries maps each rotary group (IOS `rotary N`) to its TTY numbers, ascending.
// Lines without a rotary group are not listed.
func (c *Config) Rotaries() map[int][]int {
	m := map[int][]int{}
	for _, t := range c.TTYs() {
		if t.Spec.Rotary > 0 {
			m[t.Spec.Rotary] = append(m[t.Spec.Rotary], t.Num)
		}
	}
	return m
}

// compressNums writes ascending numbers as ranges: [1 2 3 7] -> "1-3, 7".
func compressNums(nums []int) string {
	var parts []string
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, strconv.Itoa(nums[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", nums[i], nums[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}
