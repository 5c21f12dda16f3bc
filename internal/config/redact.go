package config

import (
	"bytes"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/revprober/revprober/internal/secret"
)

// Redacted is the effective configuration as YAML, for the /config page:
// defaults applied, every secret shown as <secret>, a secret read from a
// file shown as its file, the params a driver declares secret (a webhook's
// header_*; LoadOptions.SecretParam, and every param of a config loaded
// without it) shown as <secret>, and the query string of every URL shown as
// ?<redacted> (an api_key=… travels there). Parsing the output again gives
// the same config except for those values, which become "<secret>" and
// "?<redacted>".
//
// Empty values are left out: in this format an absent key and a zero value
// mean the same, so nothing is lost and the page stays readable. Every $ is
// written as $$ because Parse expands each string.
func (c *Config) Redacted() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c.encode(reflect.ValueOf(*c))); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// encode builds the YAML node for v.
func (c *Config) encode(v reflect.Value) *yaml.Node {
	switch {
	case v.Type() == secretType || v.Type() == durationType:
		return scalar(v.Interface()) // their MarshalYAML: "<secret>", "30s"
	case v.Type() == endpointType:
		return c.encodeStruct(reflect.ValueOf(c.redactParams(v.Interface().(Endpoint))))
	}
	switch v.Kind() {
	case reflect.Pointer:
		return c.encode(v.Elem())
	case reflect.Struct:
		return c.encodeStruct(v)
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for i := range v.Len() {
			n.Content = append(n.Content, c.encode(v.Index(i)))
		}
		return n
	case reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, k := range keys {
			n.Content = append(n.Content, scalar(k.String()), c.encode(v.MapIndex(k)))
		}
		return n
	case reflect.String:
		return scalar(strings.ReplaceAll(redactQuery(v.String()), "$", "$$"))
	}
	return scalar(v.Interface())
}

var endpointType = reflect.TypeFor[Endpoint]()

// redactParams is e with the values of the params its driver declares
// secret replaced by <secret>. Without the driver registry's answer
// (LoadOptions.SecretParam) every param counts as secret.
func (c *Config) redactParams(e Endpoint) Endpoint {
	params := make(map[string]string, len(e.Params))
	for k, v := range e.Params {
		if c.secretParam == nil || c.secretParam(e.Driver, k) {
			v = secret.Redacted
		}
		params[k] = v
	}
	e.Params = params
	return e
}

// redactQuery replaces the query (and fragment) of an absolute URL with
// ?<redacted>, keeping scheme, host and path. Other strings are unchanged.
func redactQuery(s string) string {
	i := strings.IndexByte(s, '?')
	if i < 0 || !strings.Contains(s[:i], "://") {
		return s
	}
	if u, err := url.Parse(s); err != nil || u.Scheme == "" || u.Host == "" {
		return s
	}
	return s[:i] + "?<redacted>"
}

func (c *Config) encodeStruct(v reflect.Value) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	fields := fieldsOf(v.Type())
	for i := range v.NumField() {
		name, f := yamlName(v.Type().Field(i)), v.Field(i)
		if name == "" || isEmpty(f) || fromFile(v, fields, name) {
			continue
		}
		n.Content = append(n.Content, scalar(name), c.encode(f))
	}
	return n
}

// fromFile reports whether field name is a secret loaded from its sibling
// name_file: the file's path tells the reader more than <secret>, and
// keeping both would not parse again (both set is an error).
func fromFile(v reflect.Value, fields map[string]int, name string) bool {
	i, ok := fields[name+"_file"]
	return ok && v.Field(fields[name]).Type() == secretType && v.Field(i).String() != ""
}

func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	}
	return v.IsZero()
}

// scalar encodes a plain value; yaml.v3 quotes it where needed.
func scalar(x any) *yaml.Node {
	var n yaml.Node
	if err := n.Encode(x); err != nil {
		panic(err) // only strings, numbers, booleans and our marshalers reach here
	}
	return &n
}
