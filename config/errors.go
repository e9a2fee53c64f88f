package config

import (
	"fmt"
	"strings"
)

// FieldError is one problem with one configuration key.
type FieldError struct {
	// Path names the key as written in the file: "hostname", "lines[2].modem.answer",
	// "chat-scripts.callback". It is empty for a problem with the file as a whole (YAML syntax).
	Path string
	// Msg says what is wrong and what is allowed, e.g. `500 is out of range 0-100`.
	Msg string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// Errors is every problem found in one configuration, in a stable order. Parse and Load
// return it (never a bare FieldError) so that `nas check` can print one problem per line.
type Errors []*FieldError

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find a single *FieldError inside Errors.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// collector accumulates problems so that one run reports all of them, not just the first.
type collector struct {
	errs Errors
}

func (c *collector) add(path, format string, args ...any) {
	c.errs = append(c.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// err returns nil (untyped) when there were no problems, so that `err != nil` works.
func (c *collector) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	return c.errs
}

// join builds a key path: join("lines[0]", "modem") = "lines[0].modem".
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}
