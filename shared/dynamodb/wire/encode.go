package wire

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"time"
)

// MarshalMap encodes a struct (or a map with string keys), or a pointer to
// one, as an item, the way attributevalue.MarshalMap does by default:
//
//   - struct fields by their `dynamodbav` tag name (or Go name), embedded
//     structs flattened, `dynamodbav:"-"` skipped;
//   - a zero value with omitempty is left out (zero numbers, false, "",
//     nil maps, slices and pointers; never a struct, which is an M);
//   - without omitempty, nil maps, slices and pointers are NULL;
//   - strings are S, integers and floats N, bools BOOL, []byte (and byte
//     arrays) B, [][]byte BS (an empty one NULL), other slices and arrays
//     L, structs and maps M (keys: strings, numbers, bools,
//     encoding.TextMarshaler);
//   - elements of lists and maps are never left out: "" is S "", nil is
//     NULL.
//
// time.Time, channels, functions and complex numbers are refused.
func MarshalMap(v any) (Item, error) {
	av, err := Marshal(v)
	if err != nil {
		return nil, err
	}
	m, ok := av.AsM()
	if !ok {
		return nil, fmt.Errorf("dynamodb: %T encodes as %s, not as an item", v, av.Type())
	}
	return m, nil
}

// Marshal encodes v as one attribute value (see MarshalMap).
func Marshal(v any) (AttributeValue, error) {
	av, _, err := encode(reflect.ValueOf(v), false)
	return av, err
}

var timeType = reflect.TypeFor[time.Time]()

// encode encodes v; ok is false when it is left out (a zero value with
// omitempty).
func encode(v reflect.Value, omitEmpty bool) (av AttributeValue, ok bool, err error) {
	if isZero(v) {
		if omitEmpty {
			return AttributeValue{}, false, nil
		}
		if isNilable(v) {
			return Null(), true, nil
		}
	}
	if k := v.Kind(); k == reflect.Interface || k == reflect.Pointer {
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Invalid:
		if omitEmpty {
			return AttributeValue{}, false, nil
		}
		return Null(), true, nil
	case reflect.Pointer:
		if v.IsNil() {
			return Null(), true, nil
		}
		return encode(v.Elem(), omitEmpty)
	case reflect.Struct:
		av, err = encodeStruct(v)
	case reflect.Map:
		av, err = encodeMap(v)
	case reflect.Slice, reflect.Array:
		av, err = encodeSlice(v)
	case reflect.Bool:
		av = Bool(v.Bool())
	case reflect.String:
		if isNumber(v) {
			av = N(v.String())
		} else {
			av = S(v.String())
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		av = Int(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		av = N(strconv.FormatUint(v.Uint(), 10))
	case reflect.Float32:
		av = N(strconv.FormatFloat(v.Float(), 'f', -1, 32))
	case reflect.Float64:
		av = N(strconv.FormatFloat(v.Float(), 'f', -1, 64))
	default:
		err = fmt.Errorf("dynamodb: cannot encode a %s", v.Type())
	}
	if err != nil {
		return AttributeValue{}, false, err
	}
	return av, true, nil
}

func encodeStruct(v reflect.Value) (AttributeValue, error) {
	t := v.Type()
	if t.ConvertibleTo(timeType) {
		return AttributeValue{}, fmt.Errorf("dynamodb: cannot encode %s: store times as strings", t)
	}
	fs, err := fieldsOf(t)
	if err != nil {
		return AttributeValue{}, err
	}
	m := make(Item, len(fs.fields))
	for _, f := range fs.fields {
		fv, ok := fieldValue(v, f.index)
		if !ok {
			continue
		}
		av, ok, err := encode(fv, f.omitEmpty)
		if err != nil {
			return AttributeValue{}, fmt.Errorf("%s.%s: %w", t, f.name, err)
		}
		if ok {
			m[f.name] = av
		}
	}
	return M(m), nil
}

// fieldValue follows index through v; false if it passes a nil embedded
// pointer.
func fieldValue(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

func encodeMap(v reflect.Value) (AttributeValue, error) {
	m := make(Item, v.Len())
	iter := v.MapRange()
	for iter.Next() {
		k, err := mapKey(iter.Key())
		if err != nil {
			return AttributeValue{}, err
		}
		av, ok, err := encode(iter.Value(), false)
		if err != nil {
			return AttributeValue{}, fmt.Errorf("key %q: %w", k, err)
		}
		if ok {
			m[k] = av
		}
	}
	return M(m), nil
}

// mapKey is a map key as an attribute name.
func mapKey(k reflect.Value) (string, error) {
	var s string
	if tm, ok := k.Interface().(encoding.TextMarshaler); ok {
		b, err := tm.MarshalText()
		if err != nil {
			return "", fmt.Errorf("dynamodb: map key: %w", err)
		}
		s = string(b)
	} else {
		switch k.Kind() {
		case reflect.Bool, reflect.String,
			reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Float32, reflect.Float64:
			s = fmt.Sprint(k.Interface())
		default:
			return "", fmt.Errorf("dynamodb: map key type %s is not supported", k.Type())
		}
	}
	if s == "" {
		return "", fmt.Errorf("dynamodb: map key cannot be empty")
	}
	return s, nil
}

var bytesSliceType = reflect.TypeFor[[][]byte]()

func encodeSlice(v reflect.Value) (AttributeValue, error) {
	if v.Type().Elem().Kind() == reflect.Uint8 {
		b := make([]byte, v.Len())
		reflect.Copy(reflect.ValueOf(b), v)
		return B(b), nil
	}
	if v.Type() == bytesSliceType {
		if v.Len() == 0 {
			// attributevalue's default (NullEmptySets): DynamoDB refuses
			// an empty set.
			return Null(), nil
		}
		bs := make([][]byte, 0, v.Len())
		for i := range v.Len() {
			e := v.Index(i)
			if e.IsNil() {
				return AttributeValue{}, fmt.Errorf("dynamodb: binary set must only contain non-nil byte slices")
			}
			bs = append(bs, append([]byte{}, e.Bytes()...))
		}
		return BS(bs...), nil
	}
	l := make([]AttributeValue, 0, v.Len())
	for i := range v.Len() {
		av, ok, err := encode(v.Index(i), false)
		if err != nil {
			return AttributeValue{}, fmt.Errorf("element %d: %w", i, err)
		}
		if ok {
			l = append(l, av)
		}
	}
	return L(l...), nil
}

// isZero is attributevalue's notion of an empty value: what omitempty
// leaves out. A struct is never empty.
func isZero(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Invalid:
		return true
	case reflect.Array:
		return v.Len() == 0
	case reflect.Map, reflect.Slice, reflect.Interface, reflect.Pointer:
		return v.IsNil()
	case reflect.String:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	}
	return false
}

// isNilable reports whether v is a nil that encodes as NULL.
func isNilable(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Invalid:
		return true
	case reflect.Map, reflect.Slice, reflect.Interface, reflect.Pointer:
		return v.IsNil()
	}
	return false
}

// isNumber reports whether v is a string type with the methods of a
// number literal (json.Number): encoded as N, like attributevalue does.
func isNumber(v reflect.Value) bool {
	type number interface {
		Float64() (float64, error)
		Int64() (int64, error)
		String() string
	}
	if !v.CanInterface() {
		return false
	}
	_, ok := v.Interface().(number)
	return ok
}
