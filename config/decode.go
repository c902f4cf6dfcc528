package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// FieldError is one problem in a config file.
type FieldError struct {
	File string // as given to Load or Parse
	Line int    // 1-based
	Path string // key path such as "repos[1].url"; "" for the whole document
	Msg  string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Path, e.Msg)
}

// decoder walks a yaml.Node tree into a Go value, checking every key against
// the struct's yaml tags (the strictness of KnownFields, but reporting every
// unknown key with its path and going on). It remembers the line of every key
// path so that later checks can point at the offending line.
type decoder struct {
	file  string
	lines map[string]int // key path -> line of the key (or sequence item)
	env   map[string]string
	errs  []*FieldError
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, lines: map[string]int{"": 1}, env: map[string]string{}}
}

// errorf records a problem at path, on the line of path or of its nearest
// ancestor that is in the file. A value set from the environment says so.
func (d *decoder) errorf(path, format string, args ...any) {
	msg := redact(fmt.Sprintf(format, args...))
	if name, ok := d.env[path]; ok {
		msg += fmt.Sprintf(" (from $%s)", name)
	}
	d.errs = append(d.errs, &FieldError{File: d.file, Line: d.line(path), Path: path, Msg: msg})
}

func (d *decoder) errorAt(line int, path, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{File: d.file, Line: line, Path: path, Msg: redact(fmt.Sprintf(format, args...))})
}

// userinfo matches the user[:password]@ of any URL in a message, as the
// git integration hides it: a config error must not print a password, nor
// a user name that is a token. It runs to the last "@" before a quote or
// the line's end, as the messages quote URLs: a password may hold a "/", a
// space or an "@" that the URL's author did not escape.
var userinfo = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*://)[^"'\n]*@`)

func redact(s string) string {
	return userinfo.ReplaceAllString(s, "${1}***@")
}

func (d *decoder) line(path string) int {
	for {
		if l, ok := d.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return d.lines[""]
		}
		path = path[:i]
	}
}

// err returns all problems, ordered by line, joined; nil if none.
func (d *decoder) err() error {
	if len(d.errs) == 0 {
		return nil
	}
	sort.SliceStable(d.errs, func(i, j int) bool { return d.errs[i].Line < d.errs[j].Line })
	errs := make([]error, len(d.errs))
	for i, e := range d.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): `)

// document parses data into its single YAML document.
func (d *decoder) document(data []byte) (*yaml.Node, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, true // empty file: the required fields will be missing
		}
		msg, line := err.Error(), 1
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = msg[len(m[0]):]
		}
		d.errorAt(line, "", "%s", strings.TrimPrefix(msg, "yaml: "))
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		d.errorAt(extra.Line, "", "a config file holds one YAML document, found another")
	}
	if len(doc.Content) == 0 {
		return nil, true
	}
	root := doc.Content[0]
	d.lines[""] = root.Line
	return root, true
}

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

// value decodes n into v, which is addressable.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		v.SetZero()
		return
	}
	if reflect.PointerTo(v.Type()).Implements(unmarshalerType) {
		d.scalar(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.mapping(n, v, path)
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, v.Elem(), path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorAt(n.Line, path, "must be a list, got %s", describe(n))
			return
		}
		if len(n.Content) == 0 {
			v.SetZero() // an empty list is no list, as when it is left out
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.lines[p] = item.Line
			d.value(item, s.Index(i), p)
		}
		v.Set(s)
	case reflect.Map:
		d.dict(n, v, path)
	default:
		d.scalar(n, v, path)
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	fields := yamlFields(v.Type())
	d.entries(n, path, func(k, val *yaml.Node, p string) {
		idx, ok := fields[k.Value]
		if !ok {
			d.errorAt(k.Line, p, "unknown key%s", suggest(k.Value, fields))
			return
		}
		d.lines[p] = k.Line
		d.value(val, v.Field(idx), p)
	})
}

// dict decodes a mapping into a Go map with string keys; an empty mapping is
// a nil map, as when it is left out.
func (d *decoder) dict(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.MappingNode && len(n.Content) == 0 {
		v.SetZero()
		return
	}
	m := reflect.MakeMap(v.Type())
	d.entries(n, path, func(k, val *yaml.Node, p string) {
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			d.errorAt(k.Line, p, "a key here is a non-empty string, got %s", describe(k))
			return
		}
		d.lines[p] = k.Line
		e := reflect.New(v.Type().Elem()).Elem()
		d.value(val, e, p)
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), e)
	})
	v.Set(m)
}

// entries calls f with each key and value of mapping n and the key's path.
// A key given twice is reported, and only its first value is used.
func (d *decoder) entries(n *yaml.Node, path string, f func(k, v *yaml.Node, p string)) {
	if n.Kind != yaml.MappingNode {
		d.errorAt(n.Line, path, "must be a mapping, got %s", describe(n))
		return
	}
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		p := join(path, k.Value)
		if line, dup := first[k.Value]; dup {
			d.errorAt(k.Line, p, "given twice (also line %d)", line)
			continue
		}
		first[k.Value] = k.Line
		f(k, n.Content[i+1], p)
	}
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.errorAt(n.Line, path, "must be %s, got %s", kindName(v), describe(n))
		return
	}
	err := n.Decode(v.Addr().Interface())
	if err == nil {
		return
	}
	var ve *valueError
	if errors.As(err, &ve) {
		d.errorAt(n.Line, path, "%s", ve.msg)
		return
	}
	d.errorAt(n.Line, path, "must be %s, got %q", kindName(v), n.Value)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlFields maps the yaml keys of struct type t to field indexes.
func yamlFields(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			m[name] = i
		}
	}
	return m
}

// suggest explains an unknown key when a known one is near.
func suggest(key string, fields map[string]int) string {
	var known []string
	for k := range fields {
		known = append(known, k)
	}
	sort.Strings(known)
	for _, k := range known {
		if strings.EqualFold(k, key) || closeTo(k, key) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
	}
	for _, k := range known {
		if stem, ok := strings.CutSuffix(k, "Env"); ok && strings.EqualFold(stem, key) {
			return fmt.Sprintf(" (secrets are references: use %q to name an environment variable or %q a file)", k, stem+"File")
		}
	}
	return fmt.Sprintf(" (known keys: %s)", strings.Join(known, ", "))
}

// closeTo reports whether key looks like a typo of known.
func closeTo(known, key string) bool {
	d := distance(strings.ToLower(known), strings.ToLower(key))
	return d <= 2 && d < len(key)/2
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func kindName(v reflect.Value) string {
	switch v.Interface().(type) {
	case Duration:
		return "a duration such as 90s or 2h30m"
	case bool:
		return "true or false"
	case int:
		return "an integer"
	case string:
		return "a string"
	}
	return "a " + v.Type().String()
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

// valueError is a bad scalar. Its Error names the line for callers that
// decode a Duration by itself; the decoder uses msg with its own position.
type valueError struct {
	line int
	msg  string
}

func (e *valueError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

// UnmarshalYAML reads a duration such as "90s" or "2h30m".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &valueError{n.Line, "must be a duration such as 90s or 2h30m, got " + describe(n)}
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return &valueError{n.Line, fmt.Sprintf("invalid duration %q (want a number with a unit, such as 90s or 2h30m)", n.Value)}
	}
	d.Duration = v
	return nil
}

// MarshalYAML writes the duration as time.Duration.String does.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

var speedRE = regexp.MustCompile(`^\s*(\d+)\s*(B|KiB|MiB|GiB)/s\s+over\s+(\S+)\s*$`)

var byteUnits = map[string]int64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}

// UnmarshalYAML reads a speed such as "10KiB/s over 1m".
func (s *Speed) UnmarshalYAML(n *yaml.Node) error {
	bad := func(why string) error {
		return &valueError{n.Line, fmt.Sprintf("invalid speed %q: %s (want a rate and a window, such as \"10KiB/s over 1m\")", n.Value, why)}
	}
	if n.Kind != yaml.ScalarNode {
		return &valueError{n.Line, "must be a speed such as \"10KiB/s over 1m\", got " + describe(n)}
	}
	m := speedRE.FindStringSubmatch(n.Value)
	if m == nil {
		return bad("not RATE over WINDOW, RATE in B, KiB, MiB or GiB per second")
	}
	v, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || v > 1<<40/byteUnits[m[2]] {
		return bad("rate too large")
	}
	w, err := time.ParseDuration(m[3])
	if err != nil || w <= 0 {
		return bad("the window is not a positive duration")
	}
	*s = Speed{BytesPerSecond: v * byteUnits[m[2]], Window: w}
	return nil
}

// String writes the speed as the config reads it.
func (s Speed) String() string {
	for _, u := range []string{"GiB", "MiB", "KiB"} {
		if n := byteUnits[u]; s.BytesPerSecond >= n && s.BytesPerSecond%n == 0 {
			return fmt.Sprintf("%d%s/s over %s", s.BytesPerSecond/n, u, s.Window)
		}
	}
	return fmt.Sprintf("%dB/s over %s", s.BytesPerSecond, s.Window)
}

// MarshalYAML writes the speed as String does.
func (s Speed) MarshalYAML() (any, error) { return s.String(), nil }
