package vaultface

import (
	"fmt"
	"slices"
	"strings"

	"github.com/safehold/safehold/arm"
)

// A vault's settings are kept as the JSON they were sent as (Azure defines
// more than Safehold acts on, and clients read back what they wrote), so
// both vault faces check their shape: each property Azure defines must
// have its JSON type, which the SDKs decode it as, and one with an enum one
// of its values (400 with the face's error code, naming the property).
// Properties Azure does not define are kept as sent.

// Shape is what a vault property may hold.
type Shape struct {
	kind   byte     // 'o' object, 's' string, 'b' bool, 'a' array of strings, 'l' array of objects, 0 anything
	values []string // a string's allowed values (any case), when an enum
	fields map[string]Shape
}

// Enum is a string holding one of values (any case).
func Enum(values ...string) Shape { return Shape{kind: 's', values: values} }

// Object is an object whose listed fields have their shapes (others are
// anything); nil fields: any object.
func Object(fields map[string]Shape) Shape { return Shape{kind: 'o', fields: fields} }

// Fields is anything (its own check is the face's), whose listed fields,
// when it is an object, have their shapes and Azure's spelling.
func Fields(fields map[string]Shape) Shape { return Shape{fields: fields} }

// The other shapes.
var (
	OnOff       = Enum("Enabled", "Disabled")
	Any         = Shape{}
	String      = Shape{kind: 's'}
	AnyObject   = Shape{kind: 'o'}
	Bool        = Shape{kind: 'b'}
	StringArray = Shape{kind: 'a'}
	ObjectArray = Shape{kind: 'l'}
)

// CheckShape checks in, the decoded JSON object at path, against the
// object shape s; a property that is not what s says is 400 code naming
// it. A null (a PATCH's removal) is taken anywhere. Azure's property names
// match in any case, but clients read them in Azure's spelling only (the
// Go SDK drops a key cased otherwise), so each property s names is renamed
// in in to s's spelling, nested ones too (one sent twice in two spellings
// is 400); properties s does not name are kept as sent.
func CheckShape(code, path string, in map[string]any, s Shape) error {
	return checkFields(code, path, in, s.fields)
}

func checkFields(code, path string, in map[string]any, fields map[string]Shape) error {
	renamed := map[string]string{} // sent -> Azure's spelling
	sent := map[string]string{}    // Azure's spelling -> sent
	for k := range in {
		for name := range fields {
			if !strings.EqualFold(name, k) {
				continue
			}
			if other, twice := sent[name]; twice {
				return arm.BadRequestAt(path+"."+name, code, "%s.%s is given twice, as '%s' and '%s': give it once.", path, name, other, k)
			}
			sent[name] = k
			if name != k {
				renamed[k] = name
			}
		}
	}
	for k, name := range renamed {
		in[name] = in[k]
		delete(in, k)
	}
	for name, shape := range fields {
		v, ok := in[name]
		if !ok || v == nil {
			continue
		}
		if err := checkValue(code, path+"."+name, v, shape); err != nil {
			return err
		}
	}
	return nil
}

func checkValue(code, at string, v any, shape Shape) error {
	bad := func(want string) error {
		return arm.BadRequestAt(at, code, "%s must be %s, not %s.", at, want, describeJSON(v))
	}
	switch shape.kind {
	case 0:
		if m, ok := v.(map[string]any); ok && shape.fields != nil {
			return checkFields(code, at, m, shape.fields)
		}
	case 'o':
		m, ok := v.(map[string]any)
		if !ok {
			return bad("an object")
		}
		if shape.fields != nil {
			return checkFields(code, at, m, shape.fields)
		}
	case 's':
		s, ok := v.(string)
		if !ok {
			if len(shape.values) > 0 {
				return bad("one of '" + strings.Join(shape.values, "', '") + "'")
			}
			return bad("a string")
		}
		if len(shape.values) > 0 && !slices.ContainsFunc(shape.values, func(x string) bool { return strings.EqualFold(x, s) }) {
			return arm.BadRequestAt(at, code, "%s '%s' is not valid: use one of '%s'.", at, s, strings.Join(shape.values, "', '"))
		}
	case 'b':
		if _, ok := v.(bool); !ok {
			return bad("true or false")
		}
	case 'a', 'l':
		l, ok := v.([]any)
		if !ok {
			return bad(map[byte]string{'a': "an array of strings", 'l': "an array of objects"}[shape.kind])
		}
		item := map[byte]Shape{'a': String, 'l': AnyObject}[shape.kind]
		for i, x := range l {
			if err := checkValue(code, fmt.Sprintf("%s[%d]", at, i), x, item); err != nil {
				return err
			}
		}
	}
	return nil
}

// describeJSON names a decoded JSON value's type and value, for messages.
func describeJSON(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the string '%s'", x)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case bool:
		return fmt.Sprintf("%t", x)
	default:
		return fmt.Sprintf("%v", x)
	}
}
