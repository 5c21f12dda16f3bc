package config

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/revprober/revprober/internal/secret"
)

// decoder walks the yaml.Node tree and the Go value side by side. Doing the
// walk ourselves, rather than yaml.v3's KnownFields, lets us report every
// problem at once (yaml.v3 stops at the first unknown key), each with its
// position and path, and expand ${VAR} in each value once it is known to be
// a string. The positions it records serve the validation that follows.
type decoder struct {
	file   string
	lookup func(string) (string, bool)
	errs   []FieldError
	warns  []FieldError          // see Config.Warnings
	vals   map[string]*yaml.Node // path → value node
	keys   map[string]*yaml.Node // path → key node
	bad    map[string]bool       // paths already reported: no follow-on errors below them
	budget int                   // nodes left to visit: bounds alias expansion ("billion laughs")
	// noSecrets: unset variables and unreadable secret files are
	// warnings (LoadOptions.NoSecrets).
	noSecrets bool
}

// maxNodes is well above any real configuration (10,000 targets with two
// endpoints each are about 400,000 nodes, parsed in about a second) and far
// below what an alias bomb expands to. A variable for tests.
var maxNodes = 2_000_000

var (
	secretType   = reflect.TypeFor[secret.Secret]()
	durationType = reflect.TypeFor[Duration]()
)

func newDecoder(file string, lookup func(string) (string, bool)) *decoder {
	return &decoder{
		file: file, lookup: lookup, budget: maxNodes,
		vals: map[string]*yaml.Node{}, keys: map[string]*yaml.Node{}, bad: map[string]bool{},
	}
}

// errorf reports a problem at node n.
func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.bad[path] = true
	d.errs = append(d.errs, FieldError{File: d.file, Line: n.Line, Column: n.Column, Path: path, Message: fmt.Sprintf(format, args...)})
}

// decode fills v from n. Null leaves v at its zero value (nil for pointers),
// the same as an absent key.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if d.budget--; d.budget < 0 {
		if d.budget == -1 {
			d.errorf(n, path, "document too large (alias expansion?)")
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.vals[path] = n
	if isNull(n) {
		return
	}
	switch {
	case v.Type() == secretType:
		if s, ok := d.str(n, path); ok {
			v.Set(reflect.ValueOf(secret.New(s)))
		}
		return
	case v.Type() == durationType:
		d.duration(n, v, path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		d.decode(n, p.Elem(), path)
		v.Set(p)
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Slice:
		d.sequence(n, v, path)
	case reflect.Map:
		d.mapping(n, v, path)
	case reflect.String:
		if s, ok := d.str(n, path); ok {
			v.SetString(s)
		}
	default:
		d.scalar(n, v, path)
	}
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping, not %s", kindName(n))
		return
	}
	fields := fieldsOf(v.Type())
	for _, kv := range d.pairs(n, path) {
		p := join(path, kv.key.Value)
		i, ok := fields[kv.key.Value]
		if !ok {
			d.errorf(kv.key, p, "unknown key%s", suggest(kv.key.Value, fields))
			continue
		}
		d.keys[p] = kv.key
		d.decode(kv.val, v.Field(i), p)
	}
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "must be a list, not %s", kindName(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, e := range n.Content {
		d.decode(e, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

// mapping decodes a map with string keys (params, attributes, expect).
// Keys are taken as written: ${VAR} is expanded in values only.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "must be a mapping, not %s", kindName(n))
		return
	}
	m := reflect.MakeMap(v.Type())
	for _, kv := range d.pairs(n, path) {
		p := join(path, kv.key.Value)
		d.keys[p] = kv.key
		e := reflect.New(v.Type().Elem()).Elem()
		d.decode(kv.val, e, p)
		m.SetMapIndex(reflect.ValueOf(kv.key.Value).Convert(v.Type().Key()), e)
	}
	v.Set(m)
}

// str returns a scalar's text with ${VAR} expanded.
func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "must be a string, not %s", kindName(n))
		return "", false
	}
	lookup := d.lookup
	var unset []string
	if d.noSecrets {
		lookup = func(name string) (string, bool) {
			if v, ok := d.lookup(name); ok {
				return v, true
			}
			unset = append(unset, name)
			return "${" + name + "}", true
		}
	}
	s, err := expand(n.Value, lookup)
	if err != nil {
		d.errorf(n, path, "%v", err)
		return "", false
	}
	for _, name := range unset {
		d.warns = append(d.warns, FieldError{File: d.file, Line: n.Line, Column: n.Column, Path: path,
			Message: fmt.Sprintf("environment variable %s is not set (structure checked without it)", name)})
	}
	return s, true
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) {
	s, ok := d.str(n, path)
	if !ok {
		return
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		d.errorf(n, path, "invalid duration (examples: 500ms, 30s, 5m)")
		return
	}
	v.SetInt(int64(dur))
}

// scalar decodes numbers and booleans; they are never expanded.
func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode || n.Decode(v.Addr().Interface()) != nil {
		d.errorf(n, path, "must be %s", kindWant(v.Kind()))
	}
}

type pair struct{ key, val *yaml.Node }

// pairs returns a mapping's entries, reporting duplicate keys (yaml.v3 does
// not when decoding into a yaml.Node) and applying merge keys (<<: *anchor),
// which let many targets share one block. Explicit keys win over merged
// ones, and earlier merged mappings over later ones, as YAML specifies.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var out, merged []pair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind != yaml.ScalarNode:
			d.errorf(k, path, "keys must be strings")
		case k.ShortTag() == "!!merge":
			merged = append(merged, d.merge(v, path)...)
		case seen[k.Value] != nil:
			d.errorf(k, join(path, k.Value), "duplicate key (first at line %d)", seen[k.Value].Line)
		default:
			seen[k.Value] = k
			out = append(out, pair{k, v})
		}
	}
	for _, p := range merged {
		if seen[p.key.Value] == nil {
			seen[p.key.Value] = p.key
			out = append(out, p)
		}
	}
	return out
}

// merge returns the entries of a merge key's value: a mapping or a list of them.
func (d *decoder) merge(v *yaml.Node, path string) []pair {
	if d.budget--; d.budget < 0 {
		if d.budget == -1 {
			d.errorf(v, path, "document too large (alias expansion?)")
		}
		return nil
	}
	if v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	switch v.Kind {
	case yaml.MappingNode:
		return d.pairs(v, path)
	case yaml.SequenceNode:
		var out []pair
		for _, e := range v.Content {
			out = append(out, d.merge(e, path)...)
		}
		return out
	}
	d.errorf(v, path, "<< must merge a mapping, not %s", kindName(v))
	return nil
}

// fieldsOf maps a struct's YAML keys to its field indexes.
func fieldsOf(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			m[name] = i
		}
	}
	return m
}

// yamlName is a field's YAML key, or "" when it has none.
func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// parent strips the last element of a path: a.b[2].c → a.b[2] → a.b.
func parent(path string) string {
	if i := strings.LastIndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return ""
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return "a scalar"
}

func kindWant(k reflect.Kind) string {
	if k == reflect.Bool {
		return "true or false"
	}
	return "an integer"
}

// suggest offers the closest known key for a misspelt one.
func suggest(key string, fields map[string]int) string {
	best, bestDist := "", 3 // further than 2 edits is not a typo
	for f := range fields {
		if dist := editDistance(key, f); dist < bestDist || (dist == bestDist && f < best) {
			best, bestDist = f, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
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
