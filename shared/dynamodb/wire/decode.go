package wire

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
)

// UnmarshalMap decodes an item into out, a non-nil pointer to a struct
// (or a map), the way attributevalue.UnmarshalMap does by default:
// attributes go to the struct field of that name (exactly, or else
// ignoring case), others are ignored, and NULL leaves a field at its zero
// value. It accepts everything MarshalMap produces, and numbers into
// string fields; an empty M or L decodes to an empty, non-nil map or
// slice, an empty B to an empty, non-nil []byte.
func UnmarshalMap(m Item, out any) error {
	return Unmarshal(M(m), out)
}

// Unmarshal decodes one attribute value into out, a non-nil pointer (see
// UnmarshalMap). An interface receives string, float64, bool, []byte,
// []any, map[string]any, []string, []float64 or [][]byte.
func Unmarshal(av AttributeValue, out any) error {
	rv := reflect.ValueOf(out)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("dynamodb: decode into %T: want a non-nil pointer", out)
	}
	return decode(av, rv.Elem())
}

func typeError(av AttributeValue, v reflect.Value) error {
	return fmt.Errorf("dynamodb: cannot decode %s into %s", av.Type(), v.Type())
}

// decode decodes av into v (settable).
func decode(av AttributeValue, v reflect.Value) error {
	if av.t == TypeNone || av.t == TypeNULL {
		if v.CanSet() {
			v.Set(reflect.Zero(v.Type()))
		}
		return nil
	}
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		v = v.Elem()
	}
	if v.Kind() == reflect.Interface {
		if v.NumMethod() != 0 {
			return typeError(av, v)
		}
		x, err := toAny(av)
		if err != nil {
			return err
		}
		v.Set(reflect.ValueOf(x))
		return nil
	}
	switch x := av.v.(type) {
	case string:
		if av.t == TypeN {
			return decodeNumber(x, v)
		}
		if v.Kind() != reflect.String || v.Type().ConvertibleTo(timeType) {
			return typeError(av, v)
		}
		v.SetString(x)
	case []byte:
		return decodeBinary(x, v)
	case bool:
		if v.Kind() != reflect.Bool {
			return typeError(av, v)
		}
		v.SetBool(x)
	case Item:
		return decodeMap(x, v)
	case []AttributeValue:
		return decodeList(len(x), v, func(i int, e reflect.Value) error { return decode(x[i], e) })
	case []string:
		if av.t == TypeNS {
			return decodeList(len(x), v, func(i int, e reflect.Value) error { return decode(N(x[i]), e) })
		}
		return decodeList(len(x), v, func(i int, e reflect.Value) error { return decode(S(x[i]), e) })
	case [][]byte:
		return decodeList(len(x), v, func(i int, e reflect.Value) error { return decodeBinary(x[i], e) })
	default:
		return typeError(av, v)
	}
	return nil
}

func decodeNumber(n string, v reflect.Value) error {
	switch v.Kind() {
	case reflect.String:
		v.SetString(n)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return fmt.Errorf("dynamodb: number %q into %s: %w", n, v.Type(), err)
		}
		if v.OverflowInt(i) {
			return fmt.Errorf("dynamodb: number %s overflows %s", n, v.Type())
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u, err := strconv.ParseUint(n, 10, 64)
		if err != nil {
			return fmt.Errorf("dynamodb: number %q into %s: %w", n, v.Type(), err)
		}
		if v.OverflowUint(u) {
			return fmt.Errorf("dynamodb: number %s overflows %s", n, v.Type())
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return fmt.Errorf("dynamodb: number %q into %s: %w", n, v.Type(), err)
		}
		if v.OverflowFloat(f) {
			return fmt.Errorf("dynamodb: number %s overflows %s", n, v.Type())
		}
		v.SetFloat(f)
	default:
		return typeError(N(n), v)
	}
	return nil
}

func decodeBinary(b []byte, v reflect.Value) error {
	switch {
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8:
		s := reflect.MakeSlice(v.Type(), len(b), len(b))
		reflect.Copy(s, reflect.ValueOf(b))
		v.Set(s)
	case v.Kind() == reflect.Array && v.Type().Elem().Kind() == reflect.Uint8:
		reflect.Copy(v, reflect.ValueOf(b))
	case v.Kind() == reflect.Interface && v.NumMethod() == 0:
		v.Set(reflect.ValueOf(append([]byte{}, b...)))
	default:
		return typeError(B(b), v)
	}
	return nil
}

// decodeList decodes n elements into a slice (a new one) or an array (as
// many as fit), each with elem.
func decodeList(n int, v reflect.Value, elem func(i int, e reflect.Value) error) error {
	switch v.Kind() {
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), n, n))
	case reflect.Array:
		n = min(n, v.Len())
	default:
		return fmt.Errorf("dynamodb: cannot decode a list or set into %s", v.Type())
	}
	for i := range n {
		if err := elem(i, v.Index(i)); err != nil {
			return fmt.Errorf("element %d: %w", i, err)
		}
	}
	return nil
}

func decodeMap(m Item, v reflect.Value) error {
	switch v.Kind() {
	case reflect.Map:
		if v.IsNil() {
			v.Set(reflect.MakeMapWithSize(v.Type(), len(m)))
		}
		kt, et := v.Type().Key(), v.Type().Elem()
		for name, av := range m {
			k := reflect.New(kt).Elem()
			if err := decodeKey(name, k); err != nil {
				return err
			}
			e := reflect.New(et).Elem()
			if err := decode(av, e); err != nil {
				return fmt.Errorf("key %q: %w", name, err)
			}
			v.SetMapIndex(k, e)
		}
	case reflect.Struct:
		if v.Type().ConvertibleTo(timeType) {
			return typeError(M(m), v)
		}
		fs, err := fieldsOf(v.Type())
		if err != nil {
			return err
		}
		for name, av := range m {
			f, ok := fs.lookup(name)
			if !ok {
				continue
			}
			if err := decode(av, settableField(v, f.index)); err != nil {
				return fmt.Errorf("attribute %q: %w", name, err)
			}
		}
	default:
		return typeError(M(m), v)
	}
	return nil
}

// settableField follows index through v, allocating nil embedded pointers.
func settableField(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}

// decodeKey decodes an attribute name into a map key.
func decodeKey(s string, k reflect.Value) error {
	if tu, ok := k.Addr().Interface().(encoding.TextUnmarshaler); ok {
		if err := tu.UnmarshalText([]byte(s)); err != nil {
			return fmt.Errorf("dynamodb: map key %q: %w", s, err)
		}
		return nil
	}
	var err error
	switch k.Kind() {
	case reflect.String:
		k.SetString(s)
	case reflect.Bool:
		var b bool
		b, err = strconv.ParseBool(s)
		k.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		err = decodeNumber(s, k)
	default:
		return fmt.Errorf("dynamodb: map key type %s is not supported", k.Type())
	}
	if err != nil {
		return fmt.Errorf("dynamodb: map key %q: %w", s, err)
	}
	return nil
}

// toAny is av as the Go value an empty interface receives.
func toAny(av AttributeValue) (any, error) {
	switch av.t {
	case TypeS:
		s, _ := av.AsS()
		return s, nil
	case TypeN:
		n, _ := av.AsN()
		f, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return nil, fmt.Errorf("dynamodb: number %q: %w", n, err)
		}
		return f, nil
	case TypeB:
		b, _ := av.AsB()
		return append([]byte{}, b...), nil
	case TypeBOOL:
		b, _ := av.AsBOOL()
		return b, nil
	case TypeM:
		var m map[string]any
		err := decode(av, reflect.ValueOf(&m).Elem())
		return m, err
	case TypeL:
		var l []any
		err := decode(av, reflect.ValueOf(&l).Elem())
		return l, err
	case TypeSS:
		ss, _ := av.AsSS()
		return append([]string{}, ss...), nil
	case TypeNS:
		var fs []float64
		err := decode(av, reflect.ValueOf(&fs).Elem())
		return fs, err
	case TypeBS:
		var bs [][]byte
		err := decode(av, reflect.ValueOf(&bs).Elem())
		return bs, err
	}
	return nil, fmt.Errorf("dynamodb: cannot decode %s", av.Type())
}
