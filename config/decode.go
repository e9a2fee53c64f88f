package config

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The strict decoder. mapstructure (viper's Unmarshal) stops at the first error, cannot say
// where inside a list an unknown key sits, and happily turns 1.5 into 1; this walks the
// generic tree viper produced against the typed structs and records every problem with its
// key path.

var (
	durationType  = reflect.TypeFor[time.Duration]()
	lineSpecType  = reflect.TypeFor[LineSpec]()
	userType      = reflect.TypeFor[User]()
	secretFields  = map[string]bool{"password": true, "password-hash": true, "secret": true}
	durationHint  = `write Go syntax such as "30s", "2m" or "1h30m", or a plain integer meaning seconds`
	maxDurationS  = int64(math.MaxInt64 / int64(time.Second))
	stringyFields = map[reflect.Type]map[string]bool{
		// `lines: 3` is a YAML integer but a natural way to name one TTY.
		lineSpecType: {"lines": true},
	}
)

type decoder struct {
	errs *collector
	// text marks key paths whose value came from an environment variable: those are always
	// strings and are parsed as text ("30", "true", "local,radius") instead of by YAML type.
	text map[string]bool
}

// decode stores raw into v (which is settable), reporting problems under path.
// secret hides the value in messages.
func (d *decoder) decode(path string, raw any, v reflect.Value, secret bool) {
	if raw == nil {
		// YAML null (a key with nothing after it, often because every child is commented
		// out) leaves the default in place.
		return
	}
	fromText := d.text[path]
	show := func() string {
		if secret {
			return "the value"
		}
		return describe(raw)
	}

	if v.Type() == durationType {
		dur, msg := toDuration(raw)
		if msg != "" {
			d.errs.add(path, "%s is not a duration: %s", show(), msg)
			return
		}
		v.SetInt(int64(dur))
		return
	}

	switch v.Kind() {
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		before := len(d.errs.errs)
		d.decode(path, raw, elem.Elem(), secret)
		if len(d.errs.errs) == before {
			v.Set(elem)
		}

	case reflect.String:
		switch r := raw.(type) {
		case string:
			v.SetString(r)
		case int, int64, uint64:
			d.errs.add(path, "%s is a number, not text: write it in quotes (unquoted digits are a YAML number, and a leading 0 makes them octal)", show())
		case bool:
			d.errs.add(path, "%s is a boolean, not text: write it in quotes", show())
		default:
			d.errs.add(path, "got %s, want text", show())
		}

	case reflect.Int, reflect.Int64: // Int64: byte sizes (accounting retention, exporters)
		n, msg := toInt(raw, fromText)
		if msg != "" {
			d.errs.add(path, "%s %s", show(), msg)
			return
		}
		v.SetInt(n)

	case reflect.Bool:
		switch r := raw.(type) {
		case bool:
			v.SetBool(r)
		case string:
			if fromText {
				b, err := strconv.ParseBool(r)
				if err == nil {
					v.SetBool(b)
					return
				}
			}
			d.errs.add(path, "%s is not a boolean (want true or false)", show())
		default:
			d.errs.add(path, "%s is not a boolean (want true or false)", show())
		}

	case reflect.Float64:
		switch r := raw.(type) {
		case float64:
			v.SetFloat(r)
		case int:
			v.SetFloat(float64(r))
		case int64:
			v.SetFloat(float64(r))
		case uint64:
			v.SetFloat(float64(r))
		case string:
			if fromText {
				f, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
				if err == nil {
					v.SetFloat(f)
					return
				}
			}
			d.errs.add(path, "%s is not a number", show())
		default:
			d.errs.add(path, "%s is not a number", show())
		}

	case reflect.Slice:
		d.decodeSlice(path, raw, v, fromText)

	case reflect.Map:
		d.decodeMap(path, raw, v)

	case reflect.Struct:
		d.decodeStruct(path, raw, v)

	default:
		// Only reachable if types.go grows a field kind this decoder does not know.
		panic(fmt.Sprintf("config: decoder cannot handle %s at %s", v.Type(), path))
	}
}

func (d *decoder) decodeSlice(path string, raw any, v reflect.Value, fromText bool) {
	var items []any
	switch r := raw.(type) {
	case []any:
		items = r
	case string:
		if fromText && v.Type().Elem().Kind() == reflect.String {
			// NAS_AAA_LOGIN="local,radius" or "local radius".
			for _, f := range strings.FieldsFunc(r, func(c rune) bool { return c == ',' || c == ' ' || c == '\t' }) {
				items = append(items, f)
			}
			break
		}
		d.errs.add(path, "got %s, want a list (e.g. [%s] or one \"- item\" per line)", describe(raw), r)
		return
	default:
		d.errs.add(path, "got %s, want a list", describe(raw))
		return
	}
	et := v.Type().Elem()
	out := reflect.MakeSlice(v.Type(), len(items), len(items))
	for i, item := range items {
		p := index(path, i)
		if item == nil {
			d.errs.add(p, "empty entry")
			continue
		}
		elem := out.Index(i)
		if et == lineSpecType {
			elem.Set(reflect.ValueOf(DefaultLine()))
		}
		if et == radiusServerType {
			elem.Set(reflect.ValueOf(DefaultRADIUSServer()))
		}
		if et == tacacsServerType {
			elem.Set(reflect.ValueOf(DefaultTACACSServer()))
		}
		d.decode(p, item, elem, false)
	}
	v.Set(out)
}

func (d *decoder) decodeMap(path string, raw any, v reflect.Value) {
	m, ok := asMap(raw)
	if !ok {
		d.errs.add(path, "got %s, want a mapping of name: value", describe(raw))
		return
	}
	out := reflect.MakeMapWithSize(v.Type(), len(m))
	for _, k := range sortedKeys(m) {
		// A value that fails to decode is still entered (as zero) so that references to its
		// name do not also fail.
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(join(path, k), m[k], elem, false)
		out.SetMapIndex(reflect.ValueOf(k), elem)
	}
	v.Set(out)
}

func (d *decoder) decodeStruct(path string, raw any, v reflect.Value) {
	m, ok := asMap(raw)
	if !ok {
		what := "want a mapping of keys"
		if names := fieldNames(v.Type()); len(names) > 0 {
			what += " (" + strings.Join(names, ", ") + ")"
		}
		d.errs.add(path, "got %s, %s", describe(raw), what)
		return
	}
	t := v.Type()
	seen := make(map[string]bool, len(m))
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("mapstructure")
		if name == "" || name == "-" {
			continue
		}
		val, present := m[name]
		if !present {
			continue
		}
		seen[name] = true
		p := join(path, name)
		if val == nil && t == userType && name == "callback-dialstring" {
			// Null here is ambiguous between "not a callback user" and "user supplies
			// the number"; make the writer say which.
			d.errs.add(p, `has no value: write "" for a number the user supplies, or remove the key for a user without callback`)
			continue
		}
		if stringyFields[t][name] {
			switch n := val.(type) {
			case int:
				val = strconv.Itoa(n)
			case int64:
				val = strconv.FormatInt(n, 10)
			}
		}
		d.decode(p, val, v.Field(i), secretFields[name])
	}
	for _, k := range sortedKeys(m) {
		if seen[k] {
			continue
		}
		d.errs.add(join(path, k), "unknown key%s", suggest(k, fieldNames(t)))
	}
}

// toDuration accepts Go duration syntax and plain integers meaning seconds (IOS counts most
// of its timers in seconds). It returns a message instead of an error for the caller to wrap.
func toDuration(raw any) (time.Duration, string) {
	secs := func(n int64) (time.Duration, string) {
		if n > maxDurationS || n < -maxDurationS {
			return 0, "too large"
		}
		return time.Duration(n) * time.Second, ""
	}
	switch r := raw.(type) {
	case string:
		s := strings.TrimSpace(r)
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return secs(n)
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			return 0, durationHint
		}
		return dur, ""
	case int:
		return secs(int64(r))
	case int64:
		return secs(r)
	case uint64:
		return 0, "too large"
	case float64:
		return 0, "a plain number must be whole seconds; " + durationHint + ` (e.g. "1500ms")`
	default:
		return 0, durationHint
	}
}

// toInt accepts YAML integers, and from environment text also decimal strings.
func toInt(raw any, fromText bool) (int64, string) {
	switch r := raw.(type) {
	case int:
		return int64(r), ""
	case int64:
		if r > math.MaxInt || r < math.MinInt {
			return 0, "is too large"
		}
		return r, ""
	case uint64:
		return 0, "is too large"
	case float64:
		return 0, "is not a whole number"
	case string:
		if fromText {
			n, err := strconv.ParseInt(strings.TrimSpace(r), 10, 0)
			if err == nil {
				return n, ""
			}
		}
		if _, err := strconv.ParseInt(strings.TrimSpace(r), 10, 0); err == nil {
			return 0, "is text, not a number: remove the quotes"
		}
		return 0, "is not a whole number"
	default:
		return 0, "is not a whole number"
	}
}

// asMap accepts both map shapes yaml.v3 and viper produce.
func asMap(raw any) (map[string]any, bool) {
	switch r := raw.(type) {
	case map[string]any:
		return r, true
	case map[any]any:
		m := make(map[string]any, len(r))
		for k, v := range r {
			m[strings.ToLower(fmt.Sprint(k))] = v
		}
		return m, true
	}
	return nil, false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func fieldNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if n := t.Field(i).Tag.Get("mapstructure"); n != "" && n != "-" {
			names = append(names, n)
		}
	}
	return names
}

// describe renders a raw YAML value for a message: strings quoted, numbers as written,
// containers by kind.
func describe(raw any) string {
	switch r := raw.(type) {
	case string:
		if len(r) > 60 {
			return strconv.Quote(r[:57] + "...")
		}
		return strconv.Quote(r)
	case bool, int, int64, uint64:
		return fmt.Sprint(r)
	case float64:
		return strconv.FormatFloat(r, 'g', -1, 64)
	case []any:
		return "a list"
	case map[string]any, map[any]any:
		return "a mapping"
	case nil:
		return "nothing"
	default:
		return fmt.Sprintf("a %T", raw)
	}
}

// suggest names the closest known key when the unknown one looks like a typo, and otherwise
// lists the keys allowed at that level.
func suggest(key string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if d := editDistance(key, k); d < bestDist && d < len(key) {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	if len(known) == 0 {
		return ""
	}
	return "; allowed here: " + strings.Join(known, ", ")
}

// editDistance is the Levenshtein distance, enough to catch "modme" for "modem".
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
