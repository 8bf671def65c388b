package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"

	"github.com/dirbook/dirbook/ldap"
	"github.com/dirbook/dirbook/mapping"
)

// Config is the one configuration file of dirbook. See docs/config.md.
type Config struct {
	// Listen is the address serve listens on.
	Listen string `yaml:"listen"`
	// MetricsListen is the address of the Prometheus /metrics endpoint;
	// empty turns it off. Keep it on loopback or an admin network.
	MetricsListen string `yaml:"metrics_listen"`
	// Store says where published revisions are kept.
	Store StoreConfig `yaml:"store"`
	// Sources are read in order; an earlier source wins for a duplicate ID.
	Sources []SourceConfig `yaml:"sources"`
	// Sync configures the schedule of serve.
	Sync SyncConfig `yaml:"sync"`
	// Auth configures the logins of the CardDAV server.
	Auth AuthConfig `yaml:"auth"`
	// Admin configures the admin endpoint of serve.
	Admin AdminConfig `yaml:"admin"`
	// Mapping holds the rules: fields, books, audiences.
	Mapping mapping.Rules `yaml:"mapping"`
	// MemoryLimit is the Go runtime's soft memory limit (see
	// applyMemoryLimit), as GOMEMLIMIT writes it; empty: 256MiB.
	MemoryLimit string `yaml:"memory_limit"`

	// path is the file the config was read from; relative paths in it are
	// relative to its folder.
	path string
	// mapper is Mapping compiled, by LoadConfig.
	mapper *mapping.Mapper
}

// StoreConfig configures the bbolt store.
type StoreConfig struct {
	Path string `yaml:"path"`
}

// SourceConfig is one directory source: an LDIF file (ldif) or an LDAP or
// Active Directory server (url).
type SourceConfig struct {
	Name string `yaml:"name"`
	Kind string `yaml:"kind"`

	LDIF string `yaml:"ldif"`

	URL               string        `yaml:"url"`
	StartTLS          bool          `yaml:"start_tls"`
	CAFile            string        `yaml:"ca_file"`
	CertFile          string        `yaml:"cert_file"`
	KeyFile           string        `yaml:"key_file"`
	AllowInsecureBind bool          `yaml:"allow_insecure_bind"`
	BindDN            string        `yaml:"bind_dn"`
	BindPasswordFile  string        `yaml:"bind_password_file"`
	BindPasswordEnv   string        `yaml:"bind_password_env"`
	Anonymous         bool          `yaml:"anonymous"`
	Scope             string        `yaml:"scope"`
	Attributes        []string      `yaml:"attributes"`
	PageSize          int           `yaml:"page_size"`
	Timeout           time.Duration `yaml:"timeout"`
	GroupBase         string        `yaml:"group_base"`
	GroupFilter       string        `yaml:"group_filter"`
	ActiveDirectory   bool          `yaml:"active_directory"`
	IncludeDisabled   bool          `yaml:"include_disabled"`
	Feed              string        `yaml:"feed"`

	Base        string `yaml:"base"`
	Filter      string `yaml:"filter"`
	IDAttribute string `yaml:"id_attribute"`

	// bindPassword is read from BindPasswordFile or BindPasswordEnv.
	bindPassword ldap.Secret
}

// SyncConfig configures the sync schedule.
type SyncConfig struct {
	Interval time.Duration `yaml:"interval"`
	// MaxRemovals refuses a plan removing more people than this; 0: no
	// absolute limit.
	MaxRemovals int `yaml:"max_removals"`
	// MaxRemovalShare refuses a plan removing more than this share of a
	// book's cards; 0: 0.10; 1: off.
	MaxRemovalShare float64 `yaml:"max_removal_share"`
	// HistoryRetention is how long removals are remembered for sync
	// tokens; 0: 30 days.
	HistoryRetention time.Duration `yaml:"history_retention"`
	// Mode is watch (default: follow the sources' change feeds as they
	// push, when every source has one) or poll (sync every interval).
	Mode string `yaml:"mode"`
	// ReconcileInterval is how often a full read and diff runs besides
	// the change feeds; 0: 6h.
	ReconcileInterval time.Duration `yaml:"reconcile_interval"`
}

// AuthConfig configures HTTP Basic logins.
type AuthConfig struct {
	LoginAttribute   string              `yaml:"login_attribute"`
	AppPasswords     []AppPasswordConfig `yaml:"app_passwords"`
	AppPasswordsFile string              `yaml:"app_passwords_file"`
	LDAP             *LDAPLoginConfig    `yaml:"ldap"`
	RateLimit        RateLimitConfig     `yaml:"rate_limit"`
}

// AdminConfig configures the admin endpoint of serve (/admin/ on the
// CardDAV listener), which asks for a sync now.
type AdminConfig struct {
	// Logins are the login names (auth.app_passwords users or directory
	// logins) that may use the endpoint; empty: the endpoint is off and
	// answers 404.
	Logins []string `yaml:"logins"`
}

// LDAPLoginConfig lets people log in with their directory password,
// verified by a bind as the user.
type LDAPLoginConfig struct {
	// Source names the source whose server, TLS settings and bind account
	// are used to find the user.
	Source string `yaml:"source"`
	// UserBase is where users are searched; empty: the source's base.
	UserBase string `yaml:"user_base"`
	// UserScope is sub (default), one or base.
	UserScope string `yaml:"user_scope"`
	// UserFilter finds the user; {login} stands for the escaped login.
	UserFilter string `yaml:"user_filter"`
	// CacheTTL is how long a verified password is remembered.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// CacheSize is how many verified logins are remembered.
	CacheSize int `yaml:"cache_size"`
}

// RateLimitConfig limits failed logins.
type RateLimitConfig struct {
	MaxUserFailures    int           `yaml:"max_user_failures"`
	MaxAddressFailures int           `yaml:"max_address_failures"`
	Window             time.Duration `yaml:"window"`
}

// AppPasswordConfig is one device's password.
type AppPasswordConfig struct {
	// User is the HTTP Basic login name.
	User string `yaml:"user"`
	// Person is the value of the login attribute naming the directory person
	// whose groups decide which books the login sees.
	Person string `yaml:"person"`
	// Hash is the bcrypt hash of the password.
	Hash string `yaml:"hash"`
	// HashEnv names an environment variable holding the hash instead.
	HashEnv string `yaml:"hash_env"`
}

// Problem is one mistake in a configuration file.
type Problem struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// ConfigError lists every problem found in a configuration file.
type ConfigError struct {
	Problems []Problem
}

func (e *ConfigError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	if len(lines) == 1 {
		return "config: " + lines[0]
	}
	return fmt.Sprintf("config: %d problems:\n  %s", len(lines), strings.Join(lines, "\n  "))
}

// configFile is a parsed YAML document with a way to find lines by key path.
type configFile struct {
	name     string
	root     *yaml.Node
	problems []Problem
}

func (f *configFile) add(key, format string, args ...any) {
	f.problems = append(f.problems, Problem{File: f.name, Line: f.line(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

// line returns the line of the YAML node at the key path ("a.b[2].c"),
// or of its nearest existing parent.
func (f *configFile) line(path string) int {
	n := f.root
	if n == nil {
		return 0
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, seg := range splitPath(path) {
		var next *yaml.Node
		switch {
		case seg.index >= 0 && n.Kind == yaml.SequenceNode && seg.index < len(n.Content):
			next = n.Content[seg.index]
		case seg.index < 0 && n.Kind == yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == seg.key {
					next = n.Content[i+1]
					line = n.Content[i].Line
					break
				}
			}
		}
		if next == nil {
			return line
		}
		n = next
		if n.Kind != yaml.MappingNode || seg.index >= 0 {
			line = n.Line
		}
	}
	return line
}

type pathSeg struct {
	key   string
	index int
}

func splitPath(path string) []pathSeg {
	var segs []pathSeg
	for _, part := range strings.Split(path, ".") {
		if part == "" {
			continue
		}
		key, rest, _ := strings.Cut(part, "[")
		if key != "" {
			segs = append(segs, pathSeg{key: key, index: -1})
		}
		for rest != "" {
			num, after, _ := strings.Cut(rest, "]")
			i, err := strconv.Atoi(num)
			if err != nil {
				break
			}
			segs = append(segs, pathSeg{index: i})
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return segs
}

var yamlLineError = regexp.MustCompile(`^line (\d+): (.*)$`)

// LoadConfig reads, decodes and validates the configuration file at path,
// compiling its mapping rules. Every problem is reported at once in a
// *ConfigError.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg := &Config{path: path}
	f, empty := decodeFile(path, data, cfg)
	if empty {
		return nil, &ConfigError{Problems: []Problem{{File: path, Msg: "the file is empty"}}}
	}
	// Unknown keys leave the rest of the file decoded, so the checks of
	// values still run and every problem is reported at once.
	if f.root != nil && onlyUnknownKeys(f.problems) {
		cfg.validate(f)
	}
	if len(f.problems) > 0 {
		sort.SliceStable(f.problems, func(i, j int) bool { return f.problems[i].Line < f.problems[j].Line })
		return nil, &ConfigError{Problems: f.problems}
	}
	return cfg, nil
}

// decodeFile decodes the YAML document data of the file named path into
// out (a pointer), strictly. It returns the parsed file with every
// problem found, and whether the document is empty. A file that is not
// YAML at all has one problem and no root.
func decodeFile(path string, data []byte, out any) (f *configFile, empty bool) {
	f = &configFile{name: path}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		line, msg := yamlLine(strings.TrimPrefix(err.Error(), "yaml: "))
		f.problems = append(f.problems, Problem{File: path, Line: line, Msg: "invalid YAML: " + msg})
		return f, false
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return f, true
	}
	f.root = &root
	checkShape(f, root.Content[0], reflect.TypeOf(out).Elem(), "")
	reported := map[int]bool{}
	for _, p := range f.problems {
		reported[p.Line] = true
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			f.problems = append(f.problems, Problem{File: path, Msg: err.Error()})
			return f, false
		}
		for _, msg := range te.Errors {
			line, msg := yamlLine(msg)
			if reported[line] {
				continue // the shape check said it better
			}
			f.problems = append(f.problems, Problem{File: path, Line: line, Msg: msg})
		}
	}
	return f, false
}

// yamlLine splits a yaml message "line N: text" into N and text.
func yamlLine(msg string) (int, string) {
	m := yamlLineError.FindStringSubmatch(msg)
	if m == nil {
		return 0, msg
	}
	line, _ := strconv.Atoi(m[1])
	return line, m[2]
}

func onlyUnknownKeys(problems []Problem) bool {
	for _, p := range problems {
		if !strings.HasPrefix(p.Msg, "unknown key") {
			return false
		}
	}
	return true
}

// checkShape walks the YAML tree against the Go type and reports unknown
// keys and values of the wrong kind with their key path and line.
func checkShape(f *configFile, n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	key := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			f.problems = append(f.problems, Problem{File: f.name, Line: n.Line, Key: path, Msg: "want a mapping of keys, got " + kindName(n)})
			return
		}
		fields := map[string]reflect.StructField{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
			if name == "" || name == "-" || !sf.IsExported() {
				continue
			}
			fields[name] = sf
			names = append(names, name)
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			sf, ok := fields[k.Value]
			if !ok {
				msg := "unknown key"
				if s := suggest(k.Value, names); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				f.problems = append(f.problems, Problem{File: f.name, Line: k.Line, Key: key(k.Value), Msg: msg})
				continue
			}
			if seen[k.Value] {
				f.problems = append(f.problems, Problem{File: f.name, Line: k.Line, Key: key(k.Value), Msg: "key given twice"})
			}
			seen[k.Value] = true
			checkShape(f, v, sf.Type, key(k.Value))
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			f.problems = append(f.problems, Problem{File: f.name, Line: n.Line, Key: path, Msg: "want a list, got " + kindName(n)})
			return
		}
		for i, c := range n.Content {
			checkShape(f, c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			f.problems = append(f.problems, Problem{File: f.name, Line: n.Line, Key: path, Msg: "want a mapping, got " + kindName(n)})
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkShape(f, n.Content[i+1], t.Elem(), key(n.Content[i].Value))
		}
	default:
		if n.Kind != yaml.ScalarNode {
			f.problems = append(f.problems, Problem{File: f.name, Line: n.Line, Key: path, Msg: "want a single value, got " + kindName(n)})
			return
		}
		var err error
		switch {
		case t == reflect.TypeOf(time.Duration(0)):
			if _, err = time.ParseDuration(n.Value); err != nil {
				err = fmt.Errorf("want a duration such as 30s, 5m or 1h30m, got %q", n.Value)
			}
		case t.Kind() == reflect.Bool:
			if n.Tag != "!!bool" {
				err = fmt.Errorf("want true or false, got %q", n.Value)
			}
		case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
			if n.Tag != "!!int" {
				err = fmt.Errorf("want a whole number, got %q", n.Value)
			}
		}
		if err != nil {
			f.problems = append(f.problems, Problem{File: f.name, Line: n.Line, Key: path, Msg: err.Error()})
		}
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the value %q", n.Value)
	}
	return "something else"
}

// suggest returns the known name closest to s, if it is close enough to be
// a typo.
func suggest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(s, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

func editDistance(a, b string) int {
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

// validate checks required values and cross references.
func (c *Config) validate(f *configFile) {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8484"
	}
	if c.Store.Path == "" {
		f.add("store.path", "required: the bbolt file that keeps published address books")
	}
	if c.MemoryLimit != "" {
		if _, err := parseMemoryLimit(c.MemoryLimit); err != nil {
			f.add("memory_limit", "%v, got %q", err, c.MemoryLimit)
		}
	}
	if len(c.Sources) == 0 {
		f.add("sources", "required: at least one source")
	}
	names := map[string]bool{}
	for i, s := range c.Sources {
		k := fmt.Sprintf("sources[%d]", i)
		if s.Name == "" {
			f.add(k+".name", "required")
		} else if names[s.Name] {
			f.add(k+".name", "source name %q is used twice", s.Name)
		}
		names[s.Name] = true
		c.checkSource(f, k, &c.Sources[i])
	}
	if c.Sync.MaxRemovals < 0 {
		f.add("sync.max_removals", "must not be negative")
	}
	if c.Sync.MaxRemovalShare < 0 || c.Sync.MaxRemovalShare > 1 {
		f.add("sync.max_removal_share", "want a share between 0 and 1, e.g. 0.1 for 10 %%, got %v", c.Sync.MaxRemovalShare)
	}
	switch c.Sync.Mode {
	case "", "watch", "poll":
	default:
		f.add("sync.mode", "want watch or poll, got %q", c.Sync.Mode)
	}
	if c.Sync.ReconcileInterval < 0 {
		f.add("sync.reconcile_interval", "must not be negative")
	}
	if c.Sync.Interval < 0 {
		f.add("sync.interval", "must not be negative")
	} else if c.Sync.Interval == 0 {
		c.Sync.Interval = 5 * time.Minute
	}
	if c.Auth.LoginAttribute == "" {
		c.Auth.LoginAttribute = "uid"
	}
	c.Auth.AppPasswords = checkAppPasswords(f, c.Auth.AppPasswords, "auth.app_passwords", c.Auth.LoginAttribute)
	if c.Auth.AppPasswordsFile != "" {
		c.loadAppPasswords(f)
	}
	c.checkLDAPLogin(f)
	c.checkAdmin(f)
	if c.Auth.RateLimit.MaxUserFailures < 0 || c.Auth.RateLimit.MaxAddressFailures < 0 || c.Auth.RateLimit.Window < 0 {
		f.add("auth.rate_limit", "limits must not be negative")
	}
	m, problems := mapping.Compile(&c.Mapping)
	for _, p := range problems {
		f.add("mapping."+p.Path, "%s", p.Message)
	}
	c.mapper = m
}

// checkAppPasswords validates a list of app passwords found at key path
// prefix of f and returns it with hashes from the environment filled in.
func checkAppPasswords(f *configFile, list []AppPasswordConfig, prefix, loginAttr string) []AppPasswordConfig {
	for i, ap := range list {
		k := fmt.Sprintf("%s[%d]", prefix, i)
		if ap.User == "" {
			f.add(k+".user", "required")
		}
		if ap.Person == "" {
			f.add(k+".person", "required: the %s of the person this login belongs to", loginAttr)
		}
		switch {
		case ap.Hash != "" && ap.HashEnv != "":
			f.add(k, "give hash or hash_env, not both")
		case ap.HashEnv != "":
			v, ok := os.LookupEnv(ap.HashEnv)
			if !ok || v == "" {
				f.add(k+".hash_env", "environment variable %s is not set", ap.HashEnv)
			}
			list[i].Hash = v
		case ap.Hash == "":
			f.add(k+".hash", "required: a bcrypt hash of the password")
		default:
			if _, err := bcrypt.Cost([]byte(ap.Hash)); err != nil {
				f.add(k+".hash", "not a bcrypt hash (make one with: dirbook hash-password)")
			}
		}
	}
	return list
}

// loadAppPasswords appends the app passwords of the file auth.app_passwords_file.
func (c *Config) loadAppPasswords(f *configFile) {
	path := c.resolve(c.Auth.AppPasswordsFile)
	data, err := os.ReadFile(path)
	if err != nil {
		f.add("auth.app_passwords_file", "cannot read %q: %v", c.Auth.AppPasswordsFile, errors.Unwrap(err))
		return
	}
	var list []AppPasswordConfig
	sub, _ := decodeFile(path, data, &list)
	if len(sub.problems) == 0 {
		list = checkAppPasswords(sub, list, "", c.Auth.LoginAttribute)
	}
	f.problems = append(f.problems, sub.problems...)
	c.Auth.AppPasswords = append(c.Auth.AppPasswords, list...)
}

// resolve makes a path from the config relative to the config's folder.
func (c *Config) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(c.path), p)
}

// rulesFingerprint identifies what decides the published cards besides
// the directory: the mapping rules and the sources' kinds and filters. A
// store whose change-feed index was made under another fingerprint is
// rebuilt with a full read.
func (c *Config) rulesFingerprint() string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	enc.Encode(c.Mapping)
	for _, s := range c.Sources {
		enc.Encode([]string{s.Name, s.Kind, s.Base, s.Scope, s.Filter, s.IDAttribute, s.LDIF, s.URL})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
