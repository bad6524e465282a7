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

// checkJSON is the strictness encoding/json lacks, checked on data before
// it is decoded into a value of type t: a key given twice in one object (at
// any depth, maps included), a key that names a field of t only
// case-insensitively (encoding/json would take {"NAME":…} for name), and
// invalid UTF-8 in a string (encoding/json would replace it silently). Each
// is Invalid, naming the key and where it is; what names the document.
// Syntax errors are left to the decoder, which says more about them.
//
// It is a small scanner rather than a walk over json.Decoder.Token, which
// allocates per token and cost more than the decode itself on an 8 MiB
// upload-session body (BenchmarkDecodeUploadBody).
func checkJSON(data []byte, t reflect.Type, what string) error {
	c := jsonChecker{data: data, bad: -1, what: what}
	if !utf8.Valid(data) {
		c.bad = firstInvalidUTF8(data)
	}
	err := c.value(t, 0)
	if errors.Is(err, errSyntax) {
		return nil
	}
	return err
}

// errSyntax stops the check at JSON the decoder will refuse with a better
// message.
var errSyntax = errors.New("syntax")

// maxDepth is encoding/json's nesting limit: deeper documents are refused
// by the decoder, and the check must not recurse without bound.
const maxDepth = 10000

// jsonChecker scans one document.
type jsonChecker struct {
	data []byte
	i    int // the next byte to read
	bad  int // offset of the first invalid UTF-8 byte, -1 if none
	what string
	// path leads to the value being read: keys, and -1-index for an
	// array element. It is named only in an error, so it costs nothing
	// on the way.
	path []pathStep
}

// pathStep is one step of jsonChecker.path: a key, or an array index.
type pathStep struct {
	key   string
	index int // -1 for a key
}

// where names the value the checker is in: files[0].path ("" at the top).
func (c *jsonChecker) where() string {
	var b strings.Builder
	for _, s := range c.path {
		switch {
		case s.index >= 0:
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
		case b.Len() > 0:
			b.WriteString("." + s.key)
		default:
			b.WriteString(s.key)
		}
	}
	return b.String()
}

// space skips white space.
func (c *jsonChecker) space() {
	for c.i < len(c.data) {
		switch c.data[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

// value checks one value, which decodes into t (nil when not known: inside
// an interface or a type with its own UnmarshalJSON, only duplicates and
// UTF-8 are checked); c.path leads to it.
func (c *jsonChecker) value(t reflect.Type, depth int) error {
	c.space()
	if c.i >= len(c.data) || depth > maxDepth {
		return errSyntax
	}
	switch c.data[c.i] {
	case '{':
		return c.object(structural(t), depth+1)
	case '[':
		return c.array(structural(t), depth+1)
	case '"':
		_, _, err := c.str()
		return err
	}
	// A number, true, false or null: the decoder checks which.
	for c.i < len(c.data) {
		switch c.data[c.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return nil
		}
		c.i++
	}
	return nil
}

// str reads the string at c.i and returns its bytes between the quotes and
// whether it holds an escape.
func (c *jsonChecker) str() (raw []byte, escaped bool, err error) {
	start := c.i + 1
	j := start
	for {
		q := bytes.IndexByte(c.data[j:], '"')
		if q < 0 {
			return nil, false, errSyntax
		}
		b := bytes.IndexByte(c.data[j:j+q], '\\')
		if b < 0 {
			j += q
			break
		}
		escaped = true
		j += b + 2 // the backslash and the byte it escapes
		if j > len(c.data) {
			return nil, false, errSyntax
		}
	}
	c.i = j + 1
	if c.bad >= start && c.bad < j {
		where := c.where()
		if where == "" {
			return nil, false, registry.Errorf(registry.Invalid, "%s is not valid UTF-8 (at byte %d)", c.what, c.bad)
		}
		return nil, false, registry.Errorf(registry.Invalid, "%s is not valid UTF-8 (at byte %d, in %s)", c.what, c.bad, where)
	}
	return c.data[start:j], escaped, nil
}

// array checks the array at c.i, whose elements decode into t's.
func (c *jsonChecker) array(t reflect.Type, depth int) error {
	var elem reflect.Type
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		elem = t.Elem()
	}
	c.i++ // [
	c.space()
	if c.i < len(c.data) && c.data[c.i] == ']' {
		c.i++
		return nil
	}
	c.path = append(c.path, pathStep{})
	defer func() { c.path = c.path[:len(c.path)-1] }()
	for n := 0; ; n++ {
		c.path[len(c.path)-1] = pathStep{index: n}
		if err := c.value(elem, depth); err != nil {
			return err
		}
		if done, err := c.separator(']'); done || err != nil {
			return err
		}
	}
}

// object checks the object at c.i, which decodes into t: a struct (keys
// must match its fields exactly) or a map.
func (c *jsonChecker) object(t reflect.Type, depth int) error {
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
	c.i++ // {
	c.space()
	if c.i < len(c.data) && c.data[c.i] == '}' {
		c.i++
		return nil
	}
	var seen []string // most objects have a few keys: a slice beats a map
	var seenSet map[string]struct{}
	for {
		c.space()
		if c.i >= len(c.data) || c.data[c.i] != '"' {
			return errSyntax
		}
		raw, escaped, err := c.str()
		if err != nil {
			return err
		}
		key := string(raw)
		if escaped {
			if json.Unmarshal(c.data[c.i-len(raw)-2:c.i], &key) != nil {
				return errSyntax
			}
		}
		if seenSet != nil {
			_, dup := seenSet[key]
			seenSet[key] = struct{}{}
			if dup {
				return c.duplicate(key)
			}
		} else {
			for _, k := range seen {
				if k == key {
					return c.duplicate(key)
				}
			}
			if seen = append(seen, key); len(seen) > 16 {
				seenSet = make(map[string]struct{}, 2*len(seen))
				for _, k := range seen {
					seenSet[k] = struct{}{}
				}
			}
		}
		vt := elem
		if fields != nil {
			ft, known := fields[key]
			if !known {
				if name, near := foldMatch(fields, key); near {
					return registry.Errorf(registry.Invalid, "%s: unknown field %q%s (field names are case-sensitive: did you mean %q?)", c.what, key, in(c.where()), name)
				}
				// Unknown outright: the decoder refuses it by name.
			}
			vt = ft
		}
		c.space()
		if c.i >= len(c.data) || c.data[c.i] != ':' {
			return errSyntax
		}
		c.i++
		c.path = append(c.path, pathStep{key: key, index: -1})
		err = c.value(vt, depth)
		c.path = c.path[:len(c.path)-1]
		if err != nil {
			return err
		}
		if done, err := c.separator('}'); done || err != nil {
			return err
		}
	}
}

// separator reads what follows an element of an array or object: a comma
// (more follows) or its closing byte (done).
func (c *jsonChecker) separator(closing byte) (done bool, err error) {
	c.space()
	if c.i >= len(c.data) {
		return false, errSyntax
	}
	c.i++
	switch c.data[c.i-1] {
	case ',':
		return false, nil
	case closing:
		return true, nil
	}
	return false, errSyntax
}

// duplicate is the error for key given twice in the current object.
func (c *jsonChecker) duplicate(key string) error {
	return registry.Errorf(registry.Invalid, "%s: key %q appears twice%s: give each key once", c.what, key, in(c.where()))
}

// in says where a key is: "" at the top, else " in PATH".
func in(path string) string {
	if path == "" {
		return ""
	}
	return " in " + path
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
