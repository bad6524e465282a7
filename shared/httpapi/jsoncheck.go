package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/modelreg/modelreg/shared/registry"
)

// checkJSON is the strictness encoding/json lacks, checked on the tokens of
// data before it is decoded into a value of type t: a key given twice in
// one object (at any depth, maps included), a key that names a field of t
// only case-insensitively (encoding/json would take {"NAME":…} for name),
// and invalid UTF-8 (encoding/json would replace it silently). Each is
// Invalid, naming the key and where it is; what names the document.
// Syntax errors are left to the decoder, which says more about them.
func checkJSON(data []byte, t reflect.Type, what string) error {
	bad := -1
	if !utf8.Valid(data) {
		bad = firstInvalidUTF8(data)
	}
	c := jsonChecker{dec: json.NewDecoder(bytes.NewReader(data)), bad: int64(bad), what: what}
	c.dec.UseNumber() // numbers stay text: nothing to parse
	err := c.value(t, "")
	if errors.Is(err, errSyntax) {
		return nil
	}
	return err
}

// errSyntax stops the check at JSON the decoder will refuse with a better
// message.
var errSyntax = errors.New("syntax")

// jsonChecker walks one document token by token.
type jsonChecker struct {
	dec  *json.Decoder
	bad  int64 // offset of the first invalid UTF-8 byte, -1 if none
	what string
}

// token reads the next token; where is the value it belongs to.
func (c *jsonChecker) token(where string) (json.Token, error) {
	tok, err := c.dec.Token()
	if err != nil {
		return nil, errSyntax
	}
	if c.bad >= 0 && c.dec.InputOffset() > c.bad {
		if where == "" {
			return nil, registry.Errorf(registry.Invalid, "%s is not valid UTF-8 (at byte %d)", c.what, c.bad)
		}
		return nil, registry.Errorf(registry.Invalid, "%s is not valid UTF-8 (at byte %d, in %s)", c.what, c.bad, where)
	}
	return tok, nil
}

// value checks one value, which decodes into t (nil when not known: inside
// an interface or a type with its own UnmarshalJSON, only duplicates and
// UTF-8 are checked); path names it ("" at the top).
func (c *jsonChecker) value(t reflect.Type, path string) error {
	tok, err := c.token(path)
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	t = structural(t)
	switch d {
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; c.dec.More(); i++ {
			if err := c.value(elem, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	case '{':
		var fields map[string]reflect.Type
		var elem reflect.Type
		if t != nil {
			switch t.Kind() {
			case reflect.Struct:
				fields = jsonFields(t)
			case reflect.Map:
				elem = t.Elem()
			}
		}
		seen := make(map[string]struct{})
		for c.dec.More() {
			tok, err := c.token(path)
			if err != nil {
				return err
			}
			key, ok := tok.(string)
			if !ok {
				return errSyntax
			}
			at := joinPath(path, key)
			if _, dup := seen[key]; dup {
				return registry.Errorf(registry.Invalid, "%s: key %q appears twice%s: give each key once", c.what, key, in(path))
			}
			seen[key] = struct{}{}
			vt := elem
			if fields != nil {
				ft, known := fields[key]
				if !known {
					if name, near := foldMatch(fields, key); near {
						return registry.Errorf(registry.Invalid, "%s: unknown field %q%s (field names are case-sensitive: did you mean %q?)", c.what, key, in(path), name)
					}
					// Unknown outright: the decoder refuses it by name.
				}
				vt = ft
			}
			if err := c.value(vt, at); err != nil {
				return err
			}
		}
	}
	_, err = c.token(path) // the closing delimiter
	return err
}

// in says where a key is: "" at the top, else " in PATH".
func in(path string) string {
	if path == "" {
		return ""
	}
	return " in " + path
}

// joinPath names key inside path: a.b, or just key at the top.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// foldMatch returns the field whose name equals key case-insensitively.
func foldMatch(fields map[string]reflect.Type, key string) (string, bool) {
	for name := range fields {
		if strings.EqualFold(name, key) {
			return name, true
		}
	}
	return "", false
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// structural returns t with pointers removed, or nil when the decoder does
// not descend into it by field name: unknown, an interface, or a type that
// decodes itself.
func structural(t reflect.Type) reflect.Type {
	for t != nil {
		if t.Kind() == reflect.Interface {
			return nil
		}
		if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) ||
			t.Implements(textUnmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType) {
			return nil
		}
		if t.Kind() != reflect.Pointer {
			return t
		}
		t = t.Elem()
	}
	return nil
}

// fieldCache holds jsonFields by struct type.
var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// jsonFields returns the JSON names of struct t's fields (embedded structs'
// fields promoted, as encoding/json does) with their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	fields := make(map[string]reflect.Type)
	addFields(fields, t, 0)
	fieldCache.Store(t, fields)
	return fields
}

func addFields(fields map[string]reflect.Type, t reflect.Type, depth int) {
	if depth > 8 {
		return
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				addFields(fields, ft, depth+1)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, taken := fields[name]; !taken || depth == 0 {
			fields[name] = f.Type
		}
	}
}

// firstInvalidUTF8 returns the offset of the first byte of data that is
// not part of valid UTF-8.
func firstInvalidUTF8(data []byte) int {
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return len(data)
}
