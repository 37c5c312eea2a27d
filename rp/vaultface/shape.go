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

// The other shapes.
var (
	OnOff       = Enum("Enabled", "Disabled")
	String      = Shape{kind: 's'}
	AnyObject   = Shape{kind: 'o'}
	Bool        = Shape{kind: 'b'}
	StringArray = Shape{kind: 'a'}
	ObjectArray = Shape{kind: 'l'}
)

// CheckShape checks in, the decoded JSON object at path, against the
// object shape s; a property that is not what s says is 400 code naming
// it. A null (a PATCH's removal) is taken anywhere.
func CheckShape(code, path string, in map[string]any, s Shape) error {
	return checkFields(code, path, in, s.fields)
}

func checkFields(code, path string, in map[string]any, fields map[string]Shape) error {
	for k, v := range in {
		// Azure's property names match in any case; the stored key is
		// the one sent.
		var shape Shape
		var known bool
		for name, s := range fields {
			if strings.EqualFold(name, k) {
				shape, known = s, true
				break
			}
		}
		if !known {
			continue
		}
		at := path + "." + k
		if v == nil {
			continue
		}
		if err := checkValue(code, at, v, shape); err != nil {
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
