package acct

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// MarshalText renders the type by its RFC 2866 name ("Interim-Update"), or its number when it
// has none, so that spool payloads and JSON exports read as words.
func (t Type) MarshalText() ([]byte, error) {
	if s := t.String(); s != "Unknown" {
		return []byte(s), nil
	}
	return strconv.AppendInt(nil, int64(t), 10), nil
}

// UnmarshalText accepts a name as MarshalText writes it, or a number.
func (t *Type) UnmarshalText(b []byte) error {
	for _, c := range []Type{Start, Stop, Interim} {
		if string(b) == c.String() {
			*t = c
			return nil
		}
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return fmt.Errorf("accounting record type %q: unknown", b)
	}
	*t = Type(n)
	return nil
}

// UnmarshalJSON accepts a JSON string (a name or a number) or a bare JSON number.
func (t *Type) UnmarshalJSON(b []byte) error {
	return unmarshalJSONText(b, t.UnmarshalText)
}

// MarshalText renders the cause by its RFC 2866 name ("Lost-Carrier"), or its number.
func (c Cause) MarshalText() ([]byte, error) {
	if s := c.String(); s != "Unknown" {
		return []byte(s), nil
	}
	return strconv.AppendInt(nil, int64(c), 10), nil
}

// UnmarshalText accepts a name as MarshalText writes it, or a number.
func (c *Cause) UnmarshalText(b []byte) error {
	for k, n := range causeNames {
		if string(b) == n {
			*c = k
			return nil
		}
	}
	n, err := strconv.Atoi(string(b))
	if err != nil {
		return fmt.Errorf("terminate cause %q: unknown", b)
	}
	*c = Cause(n)
	return nil
}

// UnmarshalJSON accepts a JSON string (a name or a number) or a bare JSON number.
func (c *Cause) UnmarshalJSON(b []byte) error {
	return unmarshalJSONText(b, c.UnmarshalText)
}

func unmarshalJSONText(b []byte, text func([]byte) error) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		return text([]byte(s))
	}
	if string(b) == "null" {
		return nil
	}
	return text(b)
}

// Delay is how long the record has waited since its event, as of now: what a destination puts
// in Acct-Delay-Time (RFC 2866 §5.2) on each attempt. The spool never stores a delay — a record
// is immutable once appended — so each destination computes it afresh from Time when it
// (re)sends, and a RADIUS resend carrying a new delay is a new packet with a new Identifier.
func (r Record) Delay(now time.Time) time.Duration {
	if r.Time.IsZero() || now.Before(r.Time) {
		return 0
	}
	return now.Sub(r.Time)
}
