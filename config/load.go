package config

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/viper"
)

// keyDelim separates nested keys inside viper. Viper's default "." would split a chat-script
// named "v.90" into two levels; "::" does not occur in key names.
const keyDelim = "::"

// EnvPrefix starts every environment variable that overrides a configuration key.
const EnvPrefix = "NAS"

var envReplacer = strings.NewReplacer(keyDelim, "_", "-", "_", ".", "_")

// Load reads the YAML configuration file at path with viper, applies NAS_* environment
// overrides, decodes it strictly and validates it. On any problem it returns nil and Errors
// listing every problem found, each naming its key; a file that cannot be read gives a plain
// error wrapping the os error.
//
// Environment overrides. Every key outside the lists (lines, users) and chat-scripts can be
// set from the environment: NAS_ followed by the key path in upper case with "." and "-"
// written as "_". Environment values win over the file. The full mapping (see EnvNames):
//
//	NAS_HOSTNAME                 hostname
//	NAS_AAA_LOGIN                aaa.login        (list: "local" or "local,radius")
//	NAS_AAA_PPP                  aaa.ppp          (list)
//	NAS_AAA_ARAP                 aaa.arap         (list)
//	NAS_SERVICE_EXEC_CALLBACK    service.exec-callback   (true/false)
//	NAS_CALLBACK_SECURE          callback.secure         (true/false)
//	NAS_CALLBACK_PROMPT_TIMEOUT  callback.prompt-timeout (duration: "30s" or seconds)
//	NAS_CALLBACK_RETRIES         callback.retries
//	NAS_PSTN_RING_PERIOD         pstn.ring-period
//	NAS_PSTN_NO_ANSWER_RINGS     pstn.no-answer-rings
//	NAS_PSTN_BIT_ERROR_RATE      pstn.bit-error-rate
//	NAS_PSTN_LATENCY             pstn.latency
//	NAS_PSTN_CONNECT_SPEED       pstn.connect-speed
//	NAS_LOG_LEVEL                log.level
//	NAS_LOG_FORMAT               log.format
//	NAS_RADIUS_DEAD_TIME         radius.dead-time
//	NAS_RADIUS_NAS_IDENTIFIER    radius.nas-identifier
//	NAS_RADIUS_NAS_IP_ADDRESS    radius.nas-ip-address
//	NAS_RADIUS_DYNAMIC_AUTHOR_LISTEN radius.dynamic-author.listen
//	NAS_ACCOUNTING_SPOOL         accounting.spool
//	NAS_ACCOUNTING_POLICY        accounting.policy
//	NAS_ACCOUNTING_METHODS       accounting.methods
//	NAS_ACCOUNTING_RETENTION_DELETE accounting.retention.delete
//	NAS_ACCOUNTING_RETENTION_MAX_AGE accounting.retention.max-age
//	NAS_ACCOUNTING_RETENTION_MAX_BYTES accounting.retention.max-bytes
//	NAS_PPP_AUTHENTICATION       ppp.authentication
//	NAS_PPP_CALLBACK             ppp.callback
//	NAS_PPP_KEEPALIVE            ppp.keepalive
//	NAS_PPP_KEEPALIVE_RETRIES    ppp.keepalive-retries
//	NAS_PPP_LOCAL_ADDRESS        ppp.local-address
//	NAS_PPP_DNS                  ppp.dns
//	NAS_PPP_POOL                 ppp.pool
//	NAS_PPP_MRU                  ppp.mru
//	NAS_DATAPLANE_ENABLED        dataplane.enabled  (true/false)
//	NAS_DATAPLANE_INTERFACE      dataplane.interface
//	NAS_DATAPLANE_MTU            dataplane.mtu
//	NAS_DATAPLANE_ROUTE_PROTOCOL dataplane.route-protocol
//	NAS_DATAPLANE_ROUTE_TABLE    dataplane.route-table
//	NAS_DATAPLANE_QUEUE_LEN      dataplane.queue-len
//	NAS_DATAPLANE_FILTER_DIRECTION dataplane.filter-direction
//	NAS_METRICS_LISTEN           metrics.listen  (TCP HOST:PORT; "" = off)
//
// An empty variable counts as unset (viper's rule). Values are text and are parsed as the
// key's type; a bad one is reported under the key's path like any other problem.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return parse(b, true)
}

// Parse decodes and validates a YAML configuration held in memory (tests, fuzzing, the lab's
// embedded configurations). It is exactly as strict as Load but ignores the environment.
func Parse(yamlBytes []byte) (*Config, error) {
	return parse(yamlBytes, false)
}

func parse(b []byte, useEnv bool) (*Config, error) {
	v := viper.NewWithOptions(viper.KeyDelimiter(keyDelim), viper.EnvKeyReplacer(envReplacer))
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(b)); err != nil {
		return nil, Errors{{Msg: yamlMessage(err)}}
	}
	// Snapshot the file before binding the environment: viper merges env values in an order
	// that depends on map iteration when the file has a scalar where a mapping belongs, so
	// the overlay is done here, deterministically.
	tree := v.AllSettings()

	var errs collector
	d := decoder{errs: &errs, text: map[string]bool{}}
	conflicts := map[string][]string{} // key path -> environment variables that cannot apply
	if useEnv {
		v.SetEnvPrefix(EnvPrefix)
		for _, key := range envKeys() {
			vkey := strings.ReplaceAll(key, ".", keyDelim)
			if err := v.BindEnv(vkey); err != nil {
				return nil, fmt.Errorf("bind environment for %s: %w", key, err)
			}
			name := envName(key)
			if s, ok := os.LookupEnv(name); !ok || s == "" {
				continue
			}
			if at, ok := overlay(tree, key, v.Get(vkey)); ok {
				d.text[key] = true
			} else {
				conflicts[at] = append(conflicts[at], name)
			}
		}
	}

	c := Default()
	d.decode("", tree, reflect.ValueOf(c).Elem(), false)
	for _, at := range slices.Sorted(maps.Keys(conflicts)) {
		errs.add(at, "%s cannot apply: the file sets %s to something other than a mapping",
			strings.Join(conflicts[at], ", "), at)
	}
	c.normalize()
	// Validate even after decode errors so that one run reports everything, but drop what
	// validation says under a key that did not decode: that key still holds its default or
	// zero, and "is required" next to "is not a number" would only confuse.
	failed := make([]string, len(errs.errs))
	for i, fe := range errs.errs {
		failed[i] = fe.Path
	}
	var verrs Errors
	if err := c.Validate(); err != nil {
		verrs = err.(Errors)
	}
	for _, fe := range verrs {
		if !under(fe.Path, failed) {
			errs.errs = append(errs.errs, fe)
		}
	}
	if len(errs.errs) > 0 {
		sortErrors(errs.errs)
		return nil, errs.errs
	}
	return c, nil
}

// under reports whether path is one of roots or inside one of them.
func under(path string, roots []string) bool {
	for _, r := range roots {
		if path == r || r == "" || strings.HasPrefix(path, r+".") || strings.HasPrefix(path, r+"[") {
			return true
		}
	}
	return false
}

// sortErrors orders problems as the file is usually written: by top-level key in the order of
// Config's fields, then by list entry. Within that the order found is kept.
func sortErrors(es Errors) {
	rank := map[string]int{}
	for i, n := range fieldNames(reflect.TypeFor[Config]()) {
		rank[n] = i
	}
	key := func(p string) (int, int) {
		top := p
		if i := strings.IndexAny(p, ".["); i >= 0 {
			top = p[:i]
		}
		r, ok := rank[top]
		if !ok {
			r = len(rank)
		}
		idx := -1
		if rest, found := strings.CutPrefix(p, top+"["); found {
			if j := strings.IndexByte(rest, ']'); j > 0 {
				if n, err := strconv.Atoi(rest[:j]); err == nil {
					idx = n
				}
			}
		}
		return r, idx
	}
	sort.SliceStable(es, func(i, j int) bool {
		ri, ii := key(es[i].Path)
		rj, ij := key(es[j].Path)
		if ri != rj {
			return ri < rj
		}
		return ii < ij
	})
}

// normalize brings parsed values to one spelling so that consumers compare one thing.
func (c *Config) normalize() {
	for i := range c.Lines {
		s := &c.Lines[i]
		if s.Login == "none" {
			s.Login = ""
		}
		// Viper folds keys to lower case, so chat-scripts names arrive lower-cased; fold the
		// references the same way (chat-script names are case-insensitive here).
		s.Script.Callback = strings.ToLower(s.Script.Callback)
		s.Script.Reset = strings.ToLower(s.Script.Reset)
		s.Script.Startup = strings.ToLower(s.Script.Startup)
		s.Script.Dialer = strings.ToLower(s.Script.Dialer)
	}
	c.TACACS.addDefaultPorts()
}

// overlay sets the dotted key in tree to val, creating mappings on the way. When the file
// holds a non-mapping where the key needs one it changes nothing and returns that path.
func overlay(tree map[string]any, key string, val any) (string, bool) {
	parts := strings.Split(key, ".")
	m := tree
	for i, p := range parts[:len(parts)-1] {
		next, ok := m[p]
		if !ok || next == nil {
			nm := map[string]any{}
			m[p] = nm
			m = nm
			continue
		}
		nm, ok := asMap(next)
		if !ok {
			return strings.Join(parts[:i+1], "."), false
		}
		m[p] = nm
		m = nm
	}
	m[parts[len(parts)-1]] = val
	return "", true
}

// yamlMessage turns viper's wrapped YAML error into one line that says it is a syntax problem.
func yamlMessage(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "While parsing config: ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.ReplaceAll(msg, "\n", "; ")
	return "YAML syntax: " + msg
}

// envKeys lists, sorted, the dotted paths of every key the environment can override: scalar
// and string-list keys reachable without passing through a list or a map.
func envKeys() []string {
	var keys []string
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := f.Tag.Get("mapstructure")
			if name == "" || name == "-" {
				continue
			}
			key := join(prefix, name)
			ft := f.Type
			switch {
			case ft == durationType:
				keys = append(keys, key)
			case ft.Kind() == reflect.Struct:
				walk(key, ft)
			case ft.Kind() == reflect.Map:
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() != reflect.String:
			default:
				keys = append(keys, key)
			}
		}
	}
	walk("", reflect.TypeFor[Config]())
	sort.Strings(keys)
	return keys
}

func envName(key string) string {
	return envReplacer.Replace(strings.ToUpper(EnvPrefix + "_" + key))
}

// EnvNames maps each environment variable Load honours to the key path it overrides,
// e.g. "NAS_LOG_LEVEL" -> "log.level".
func EnvNames() map[string]string {
	m := map[string]string{}
	for _, k := range envKeys() {
		m[envName(k)] = k
	}
	return m
}
