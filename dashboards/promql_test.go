package dashboards

// A small PromQL scanner, enough to list the metric names, label matchers
// and grouping labels of an expression. The syntax itself is checked by
// promtool (check rules, test rules) and, for dashboard queries, by a real
// Prometheus in the e2e test; this file keeps the prometheus/prometheus
// module (and its dependency tree) out of go.mod.

import (
	"fmt"
	"regexp"
	"strings"
)

type tokenKind int

const (
	tIdent tokenKind = iota
	tString
	tNumber
	tPunct
)

type token struct {
	kind tokenKind
	text string // a string token holds its unquoted value
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

var puncts = []string{"=~", "!~", "!=", "==", "<=", ">=", "(", ")", "{", "}", "[", "]", ",", "=", "<", ">", "+", "-", "*", "/", "%", "^", "@"}

func lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			j := i + 1
			var b strings.Builder
			for ; j < len(s) && s[j] != c; j++ {
				if s[j] == '\\' && c != '`' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated string at %d", i)
			}
			toks = append(toks, token{tString, b.String()})
			i = j + 1
		case c >= '0' && c <= '9' || c == '.':
			j := i
			for j < len(s) && (isIdentChar(s[j]) || s[j] == '.') {
				j++
			}
			toks = append(toks, token{tNumber, s[i:j]})
			i = j
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdentChar(s[j]) {
				j++
			}
			toks = append(toks, token{tIdent, s[i:j]})
			i = j
		default:
			ok := false
			for _, p := range puncts {
				if strings.HasPrefix(s[i:], p) {
					toks = append(toks, token{tPunct, p})
					i += len(p)
					ok = true
					break
				}
			}
			if !ok {
				return nil, fmt.Errorf("unexpected %q at %d", c, i)
			}
		}
	}
	return toks, nil
}

type matcher struct{ label, op, value string }

type selector struct {
	metric   string // "" for {__name__=...} selectors
	matchers []matcher
}

// refs is what an expression refers to.
type refs struct {
	selectors   []selector
	groupLabels []string // by, without, on, ignoring, group_left, group_right
}

var (
	groupingKeywords = set("by", "without", "on", "ignoring", "group_left", "group_right")
	keywords         = set("and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "start", "end")
	aggregators      = set("sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
		"bottomk", "topk", "quantile", "limitk", "limit_ratio")
)

func set(xs ...string) map[string]bool {
	m := map[string]bool{}
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// scan lists the selectors and grouping labels of a PromQL expression.
func scan(expr string) (refs, error) {
	var r refs
	toks, err := lex(expr)
	if err != nil {
		return r, err
	}
	depth := map[string]int{}
	for _, t := range toks {
		if t.kind == tPunct {
			switch t.text {
			case "(", "[", "{":
				depth[t.text]++
			case ")":
				depth["("]--
			case "]":
				depth["["]--
			case "}":
				depth["{"]--
			}
			for _, d := range depth {
				if d < 0 {
					return r, fmt.Errorf("unbalanced %q", t.text)
				}
			}
		}
	}
	for k, d := range depth {
		if d != 0 {
			return r, fmt.Errorf("unbalanced %q", k)
		}
	}
	next := func(i int) token {
		if i+1 < len(toks) {
			return toks[i+1]
		}
		return token{}
	}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.kind == tIdent && groupingKeywords[strings.ToLower(t.text)]:
			if n := next(i); n.kind != tPunct || n.text != "(" {
				continue // "group_left" without a label list
			}
			i += 2
			for ; i < len(toks) && toks[i].text != ")"; i++ {
				switch {
				case toks[i].kind == tIdent:
					r.groupLabels = append(r.groupLabels, toks[i].text)
				case toks[i].text == ",":
				default:
					return r, fmt.Errorf("unexpected %q in a label list", toks[i].text)
				}
			}
		case t.kind == tIdent && (keywords[strings.ToLower(t.text)] || aggregators[strings.ToLower(t.text)]):
		case t.kind == tIdent && next(i).text == "(" && next(i).kind == tPunct:
			// a function call
		case t.kind == tIdent:
			sel := selector{metric: t.text}
			if n := next(i); n.kind == tPunct && n.text == "{" {
				ms, end, err := matchers(toks, i+1)
				if err != nil {
					return r, fmt.Errorf("%s: %w", t.text, err)
				}
				sel.matchers, i = ms, end
			}
			r.selectors = append(r.selectors, sel)
		case t.kind == tPunct && t.text == "{":
			ms, end, err := matchers(toks, i)
			if err != nil {
				return r, err
			}
			r.selectors = append(r.selectors, selector{matchers: ms})
			i = end
		}
	}
	return r, nil
}

// matchers parses {label op "value", ...} starting at toks[open] == "{" and
// returns the index of the closing "}".
func matchers(toks []token, open int) ([]matcher, int, error) {
	var ms []matcher
	i := open + 1
	for i < len(toks) && toks[i].text != "}" {
		if i+2 >= len(toks) || toks[i].kind != tIdent || toks[i+1].kind != tPunct || toks[i+2].kind != tString {
			return nil, 0, fmt.Errorf("bad label matcher near %q", toks[i].text)
		}
		op := toks[i+1].text
		if op != "=" && op != "!=" && op != "=~" && op != "!~" {
			return nil, 0, fmt.Errorf("bad matcher operator %q", op)
		}
		ms = append(ms, matcher{toks[i].text, op, toks[i+2].text})
		i += 3
		if i < len(toks) && toks[i].text == "," {
			i++
		}
	}
	if i >= len(toks) {
		return nil, 0, fmt.Errorf("unterminated selector")
	}
	return ms, i, nil
}

var (
	grafanaDurations = regexp.MustCompile(`\$(__rate_interval|__range|__interval)\b|\$\{(__rate_interval|__range|__interval)\}`)
	grafanaVars      = regexp.MustCompile(`\$\{[^}]+\}|\$[A-Za-z_]\w*`)
	labelValues      = regexp.MustCompile(`^\s*label_values\((?:(.*),)?\s*([A-Za-z_]\w*)\s*\)\s*$`)
)

// grafana replaces Grafana's variables with values PromQL accepts.
func grafana(expr string) string {
	expr = grafanaDurations.ReplaceAllString(expr, "5m")
	return grafanaVars.ReplaceAllString(expr, "x")
}
