package failure

import (
	"encoding/json"
	"reflect"
	"strings"
)

// JSONPath is the JSON path of a decode error's field (a
// json.UnmarshalTypeError's Field) in a body decoded into a t:
// encoding/json puts in the path the Go names of the structs embedded in t
// (resourceInput.properties.diskSizeGB, BlockProperties.creationData.x),
// which are no part of the JSON the client sent (properties.diskSizeGB,
// creationData.x).
func JSONPath(t reflect.Type, field string) string {
	var out []string
	for _, seg := range strings.Split(field, ".") {
		for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map) {
			t = t.Elem()
		}
		if t == nil || t.Kind() != reflect.Struct {
			out, t = append(out, seg), nil
			continue
		}
		var next reflect.Type
		embedded := false
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && name == "" && f.Name == seg && indirect(f.Type).Kind() == reflect.Struct {
				next, embedded = f.Type, true
				break
			}
			if name == "" {
				name = f.Name
			}
			if name == seg && next == nil {
				next = f.Type
			}
		}
		if !embedded {
			out = append(out, seg)
		}
		t = next
	}
	return strings.Join(out, ".")
}

func indirect(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// JSONKind names the JSON value a Go type decodes from ("an object"), not
// the Go type itself, which means nothing to a caller.
func JSONKind(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "a value"
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a value of another type"
}

// Article puts "a"/"an" before the JSON kind encoding/json reports
// ("string", "number 1.5", "object").
func Article(v string) string {
	switch {
	case v == "":
		return "that value"
	case v == "object" || v == "array":
		return "an " + v
	}
	return "a " + v
}

// TypeMismatch describes a value of the wrong JSON type met decoding into a
// t (te as encoding/json reports it): the field's JSON path below t (""
// for the value itself), what it must be and what it was, both as JSON
// values ("an integer", "a string").
func TypeMismatch(t reflect.Type, te *json.UnmarshalTypeError) (path, want, got string) {
	if te.Field != "" {
		path = JSONPath(t, te.Field)
	}
	return path, JSONKind(te.Type), Article(te.Value)
}
