package wire

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Type is the data type of an AttributeValue: which of DynamoDB's
// members (S, N, B, BOOL, NULL, M, L, SS, NS, BS) it holds.
type Type uint8

// The data types; TypeNone is the zero AttributeValue (an absent
// attribute), never sent.
const (
	TypeNone Type = iota
	TypeS
	TypeN
	TypeB
	TypeBOOL
	TypeNULL
	TypeM
	TypeL
	TypeSS
	TypeNS
	TypeBS
)

var typeNames = [...]string{"none", "S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"}

// String is the type's member name in DynamoDB's JSON ("S", "M", …).
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

// AttributeValue is one DynamoDB attribute value. The zero value is an
// absent attribute (TypeNone): what an Item gives for a name it lacks.
// Build values with S, N, Int, B, Bool, Null, M, L, SS, NS and BS; read
// them with Type and the As methods.
type AttributeValue struct {
	t Type
	// v is a string (S, N), []byte (B), bool (BOOL), Item (M),
	// []AttributeValue (L), []string (SS, NS) or [][]byte (BS).
	v any
}

// Item is a DynamoDB item (or key): attribute values by name.
type Item map[string]AttributeValue

// S is a string value.
func S(s string) AttributeValue { return AttributeValue{TypeS, s} }

// N is a number value; n is its decimal text ("12", "-0.5", "1E+3").
func N(n string) AttributeValue { return AttributeValue{TypeN, n} }

// Int is the number value n.
func Int(n int64) AttributeValue { return N(strconv.FormatInt(n, 10)) }

// B is a binary value (nil is the empty binary).
func B(b []byte) AttributeValue {
	if b == nil {
		b = []byte{}
	}
	return AttributeValue{TypeB, b}
}

// Bool is a boolean value.
func Bool(b bool) AttributeValue { return AttributeValue{TypeBOOL, b} }

// Null is the NULL value.
func Null() AttributeValue { return AttributeValue{t: TypeNULL} }

// M is a map value (nil is the empty map, sent as {"M":{}}).
func M(m Item) AttributeValue {
	if m == nil {
		m = Item{}
	}
	return AttributeValue{TypeM, m}
}

// L is a list value (no elements is the empty list, sent as {"L":[]}).
func L(vs ...AttributeValue) AttributeValue {
	if vs == nil {
		vs = []AttributeValue{}
	}
	return AttributeValue{TypeL, vs}
}

// SS is a string set.
func SS(ss ...string) AttributeValue { return AttributeValue{TypeSS, nonNil(ss)} }

// NS is a number set (each number as decimal text).
func NS(ns ...string) AttributeValue { return AttributeValue{TypeNS, nonNil(ns)} }

// BS is a binary set.
func BS(bs ...[]byte) AttributeValue { return AttributeValue{TypeBS, nonNil(bs)} }

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Type is the value's data type (TypeNone for an absent attribute).
func (v AttributeValue) Type() Type { return v.t }

// AsS returns the string of an S value.
func (v AttributeValue) AsS() (string, bool) { return as[string](v, TypeS) }

// AsN returns the decimal text of an N value.
func (v AttributeValue) AsN() (string, bool) { return as[string](v, TypeN) }

// AsB returns the bytes of a B value (not a copy).
func (v AttributeValue) AsB() ([]byte, bool) { return as[[]byte](v, TypeB) }

// AsBOOL returns the boolean of a BOOL value.
func (v AttributeValue) AsBOOL() (bool, bool) { return as[bool](v, TypeBOOL) }

// IsNULL reports whether v is the NULL value.
func (v AttributeValue) IsNULL() bool { return v.t == TypeNULL }

// AsM returns the attributes of an M value (not a copy).
func (v AttributeValue) AsM() (Item, bool) { return as[Item](v, TypeM) }

// AsL returns the elements of an L value (not a copy).
func (v AttributeValue) AsL() ([]AttributeValue, bool) { return as[[]AttributeValue](v, TypeL) }

// AsSS returns the strings of an SS value.
func (v AttributeValue) AsSS() ([]string, bool) { return as[[]string](v, TypeSS) }

// AsNS returns the numbers (decimal text) of an NS value.
func (v AttributeValue) AsNS() ([]string, bool) { return as[[]string](v, TypeNS) }

// AsBS returns the binaries of a BS value.
func (v AttributeValue) AsBS() ([][]byte, bool) { return as[[][]byte](v, TypeBS) }

func as[T any](v AttributeValue, t Type) (T, bool) {
	if v.t != t {
		var zero T
		return zero, false
	}
	x, ok := v.v.(T)
	return x, ok
}

// String shows the value as DynamoDB's JSON (for messages and tests).
func (v AttributeValue) String() string {
	b, err := v.appendJSON(nil)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

// errNoValue is the encoding of the zero AttributeValue.
var errNoValue = errors.New("dynamodb: attribute value without a type")

// MarshalJSON encodes v as DynamoDB's JSON: {"S":"x"}, {"N":"1"},
// {"B":"base64"}, {"M":{}}, {"L":[]}, ….
func (v AttributeValue) MarshalJSON() ([]byte, error) { return v.appendJSON(nil) }

func (v AttributeValue) appendJSON(buf []byte) ([]byte, error) {
	if v.t == TypeNone || int(v.t) >= len(typeNames) {
		return nil, errNoValue
	}
	buf = append(buf, `{"`...)
	buf = append(buf, typeNames[v.t]...)
	buf = append(buf, `":`...)
	var err error
	switch x := v.v.(type) {
	case string:
		buf = appendString(buf, x)
	case []byte:
		buf = appendBytes(buf, x)
	case bool:
		buf = strconv.AppendBool(buf, x)
	case nil:
		buf = append(buf, "true"...) // NULL
	case Item:
		if buf, err = x.appendJSON(buf); err != nil {
			return nil, err
		}
	case []AttributeValue:
		buf = append(buf, '[')
		for i, e := range x {
			if i > 0 {
				buf = append(buf, ',')
			}
			if buf, err = e.appendJSON(buf); err != nil {
				return nil, err
			}
		}
		buf = append(buf, ']')
	case []string:
		buf = append(buf, '[')
		for i, s := range x {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendString(buf, s)
		}
		buf = append(buf, ']')
	case [][]byte:
		buf = append(buf, '[')
		for i, b := range x {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendBytes(buf, b)
		}
		buf = append(buf, ']')
	default:
		return nil, fmt.Errorf("dynamodb: %s value holds %T", v.t, v.v)
	}
	return append(buf, '}'), nil
}

// MarshalJSON encodes the item as a JSON object, names in byte order.
func (m Item) MarshalJSON() ([]byte, error) { return m.appendJSON(nil) }

func (m Item) appendJSON(buf []byte) ([]byte, error) {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	buf = append(buf, '{')
	for i, k := range names {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, k)
		buf = append(buf, ':')
		var err error
		if buf, err = m[k].appendJSON(buf); err != nil {
			return nil, fmt.Errorf("attribute %q: %w", k, err)
		}
	}
	return append(buf, '}'), nil
}

// UnmarshalJSON decodes DynamoDB's JSON for one value: an object with
// exactly one member.
func (v *AttributeValue) UnmarshalJSON(b []byte) error {
	var w struct {
		S, N       *string
		B          *[]byte
		BOOL, NULL *bool
		M          Item
		L          *[]AttributeValue
		SS, NS     *[]string
		BS         *[][]byte
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	var set []AttributeValue
	add := func(ok bool, av AttributeValue) {
		if ok {
			set = append(set, av)
		}
	}
	add(w.S != nil, AttributeValue{TypeS, deref(w.S)})
	add(w.N != nil, AttributeValue{TypeN, deref(w.N)})
	add(w.B != nil, AttributeValue{TypeB, nonNil(deref(w.B))})
	add(w.BOOL != nil, AttributeValue{TypeBOOL, deref(w.BOOL)})
	add(w.NULL != nil, Null())
	add(w.M != nil, AttributeValue{TypeM, w.M})
	add(w.L != nil, AttributeValue{TypeL, nonNil(deref(w.L))})
	add(w.SS != nil, AttributeValue{TypeSS, nonNil(deref(w.SS))})
	add(w.NS != nil, AttributeValue{TypeNS, nonNil(deref(w.NS))})
	add(w.BS != nil, AttributeValue{TypeBS, nonNil(deref(w.BS))})
	if len(set) != 1 {
		return fmt.Errorf("dynamodb: attribute value %.100s: want exactly one of S, N, B, BOOL, NULL, M, L, SS, NS, BS", b)
	}
	*v = set[0]
	return nil
}

func deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// appendBytes appends b as a base64 JSON string.
func appendBytes(buf, b []byte) []byte {
	buf = append(buf, '"')
	buf = base64.StdEncoding.AppendEncode(buf, b)
	return append(buf, '"')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, as encoding/json writes it
// (without its HTML escaping): invalid UTF-8 becomes U+FFFD.
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
