package deployments

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The template language's expressions: a JSON string "[f(a, 'b').c[0]]"
// is an expression (one starting "[[" is the literal string without its
// first "["); any other string is itself.

// node is a parsed expression.
type node interface{}

type (
	strLit struct{ v string }
	numLit struct{ v int64 }
	call   struct {
		name string
		args []node
	}
	member struct {
		x    node
		name string
	}
	indexOf struct{ x, i node }
)

// templateError is the template's fault, answered 400 InvalidTemplate
// naming where (the JSON path) and what.
type templateError struct {
	path string
	msg  string
}

func (e *templateError) Error() string {
	if e.path == "" {
		return e.msg
	}
	return fmt.Sprintf("The template expression at '%s' is not valid: %s", e.path, e.msg)
}

func errf(format string, args ...any) error { return &templateError{msg: fmt.Sprintf(format, args...)} }

// isExpr reports whether s is an expression, and returns its text.
func isExpr(s string) (string, bool) {
	if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' && !strings.HasPrefix(s, "[[") {
		return s[1 : len(s)-1], true
	}
	return "", false
}

// literal is s as a string value ("[[x]" is "[x]").
func literal(s string) string {
	if strings.HasPrefix(s, "[[") {
		return s[1:]
	}
	return s
}

type parser struct {
	s   string
	pos int
}

// maxExprChars is ARM's limit on a template expression's length (24,576
// characters): it also bounds how deep an expression nests, and so the
// stack its parse and evaluation take.
const maxExprChars = 24576

func parseExpr(s string) (node, error) {
	if n := utf8.RuneCountInString(s); n > maxExprChars {
		return nil, errf("The template expression is %d characters long: ARM's limit is %d. Split it, with variables.", n, maxExprChars)
	}
	p := &parser{s: s}
	n, err := p.expr()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.s) {
		return nil, errf("unexpected '%s' at position %d of the expression '%s'", p.s[p.pos:], p.pos, s)
	}
	return n, nil
}

func (p *parser) space() {
	for p.pos < len(p.s) && unicode.IsSpace(rune(p.s[p.pos])) {
		p.pos++
	}
}

func (p *parser) expr() (node, error) {
	p.space()
	if p.pos >= len(p.s) {
		return nil, errf("the expression '%s' ends too soon", p.s)
	}
	var n node
	c := p.s[p.pos]
	switch {
	case c == '\'':
		p.pos++
		var b strings.Builder
		for {
			if p.pos >= len(p.s) {
				return nil, errf("the string literal in '%s' is not terminated", p.s)
			}
			if p.s[p.pos] == '\'' {
				if p.pos+1 < len(p.s) && p.s[p.pos+1] == '\'' {
					b.WriteByte('\'')
					p.pos += 2
					continue
				}
				p.pos++
				break
			}
			b.WriteByte(p.s[p.pos])
			p.pos++
		}
		n = strLit{b.String()}
	case c == '-' || c >= '0' && c <= '9':
		start := p.pos
		p.pos++
		for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
			p.pos++
		}
		v, err := strconv.ParseInt(p.s[start:p.pos], 10, 64)
		if err != nil {
			return nil, errf("the number '%s' in '%s' is not valid", p.s[start:p.pos], p.s)
		}
		n = numLit{v}
	case isIdent(c):
		start := p.pos
		for p.pos < len(p.s) && (isIdent(p.s[p.pos]) || p.s[p.pos] >= '0' && p.s[p.pos] <= '9' || p.s[p.pos] == '.') {
			if p.s[p.pos] == '.' {
				break
			}
			p.pos++
		}
		name := p.s[start:p.pos]
		p.space()
		if p.pos >= len(p.s) || p.s[p.pos] != '(' {
			return nil, errf("'%s' in '%s' is not a function call: write a function with its arguments in parentheses, and strings in single quotes", name, p.s)
		}
		p.pos++
		cl := call{name: strings.ToLower(name)}
		p.space()
		if p.pos < len(p.s) && p.s[p.pos] == ')' {
			p.pos++
		} else {
			for {
				a, err := p.expr()
				if err != nil {
					return nil, err
				}
				cl.args = append(cl.args, a)
				p.space()
				if p.pos >= len(p.s) {
					return nil, errf("the call of '%s' in '%s' is not closed", name, p.s)
				}
				if p.s[p.pos] == ',' {
					p.pos++
					continue
				}
				if p.s[p.pos] == ')' {
					p.pos++
					break
				}
				return nil, errf("unexpected '%c' at position %d of '%s'", p.s[p.pos], p.pos, p.s)
			}
		}
		if _, ok := functions[cl.name]; !ok {
			return nil, errf("The template function '%s' is not valid. Please see https://aka.ms/arm-functions for usage details.", name)
		}
		n = cl
	default:
		return nil, errf("unexpected '%c' at position %d of '%s'", c, p.pos, p.s)
	}
	for {
		p.space()
		if p.pos >= len(p.s) {
			return n, nil
		}
		switch p.s[p.pos] {
		case '.':
			p.pos++
			start := p.pos
			for p.pos < len(p.s) && (isIdent(p.s[p.pos]) || p.s[p.pos] >= '0' && p.s[p.pos] <= '9') {
				p.pos++
			}
			if start == p.pos {
				return nil, errf("a property name is missing after '.' in '%s'", p.s)
			}
			n = member{n, p.s[start:p.pos]}
		case '[':
			p.pos++
			i, err := p.expr()
			if err != nil {
				return nil, err
			}
			p.space()
			if p.pos >= len(p.s) || p.s[p.pos] != ']' {
				return nil, errf("the index in '%s' is not closed with ']'", p.s)
			}
			p.pos++
			n = indexOf{n, i}
		default:
			return n, nil
		}
	}
}

func isIdent(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// walk calls fn on n and every node under it.
func walk(n node, fn func(node)) {
	fn(n)
	switch x := n.(type) {
	case call:
		for _, a := range x.args {
			walk(a, fn)
		}
	case member:
		walk(x.x, fn)
	case indexOf:
		walk(x.x, fn)
		walk(x.i, fn)
	}
}

// eval evaluates n in c.
func (c *evalCtx) eval(n node) (any, error) {
	switch x := n.(type) {
	case strLit:
		return x.v, nil
	case numLit:
		return x.v, nil
	case call:
		f := functions[x.name]
		if f.lazy != nil {
			return f.lazy(c, x.args)
		}
		args := make([]any, len(x.args))
		for i, a := range x.args {
			v, err := c.eval(a)
			if err != nil {
				return nil, err
			}
			args[i] = v
		}
		if len(args) < f.min || f.max >= 0 && len(args) > f.max {
			return nil, errf("The template function '%s' takes %s, not %d.", x.name, arity(f.min, f.max), len(args))
		}
		v, err := f.fn(c, args)
		if err != nil {
			return nil, err
		}
		switch x.name {
		case "parameters", "variables", "copyindex": // values already counted
		default:
			if err := c.account(x.name, v); err != nil {
				return nil, err
			}
		}
		return v, nil
	case member:
		v, err := c.eval(x.x)
		if err != nil {
			return nil, err
		}
		if _, ok := v.(runtimeValue); ok {
			return v, nil // known when deployed
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, errf("The language expression property '%s' can't be evaluated: the value is %s, not an object.", x.name, kindOf(v))
		}
		if pv, ok := prop(m, x.name); ok {
			return pv, nil
		}
		return nil, errf("The language expression property '%s' doesn't exist, available properties are '%s'.", x.name, strings.Join(keysOf(m), ", "))
	case indexOf:
		v, err := c.eval(x.x)
		if err != nil {
			return nil, err
		}
		i, err := c.eval(x.i)
		if err != nil {
			return nil, err
		}
		switch vv := v.(type) {
		case runtimeValue:
			return vv, nil
		case []any:
			n, ok := i.(int64)
			if !ok || n < 0 || n >= int64(len(vv)) {
				return nil, errf("The language expression property array index '%v' is out of bounds (the array has %d items).", i, len(vv))
			}
			return vv[n], nil
		case map[string]any:
			k, ok := i.(string)
			if !ok {
				return nil, errf("an object is indexed by a string, not %s", kindOf(i))
			}
			if pv, ok := prop(vv, k); ok {
				return pv, nil
			}
			return nil, errf("The language expression property '%s' doesn't exist, available properties are '%s'.", k, strings.Join(keysOf(vv), ", "))
		}
		return nil, errf("The language expression can't index %s.", kindOf(v))
	}
	return nil, errf("unknown expression")
}

func arity(min, max int) string {
	switch {
	case max < 0:
		return fmt.Sprintf("at least %d arguments", min)
	case min == max:
		return fmt.Sprintf("%d arguments", min)
	}
	return fmt.Sprintf("%d to %d arguments", min, max)
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case int64:
		return "an integer"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// prop is m's property k, its name in any case (as ARM reads them).
func prop(m map[string]any, k string) (any, bool) {
	if v, ok := m[k]; ok {
		return v, true
	}
	for mk, v := range m {
		if strings.EqualFold(mk, k) {
			return v, true
		}
	}
	return nil, false
}

func keysOf(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
