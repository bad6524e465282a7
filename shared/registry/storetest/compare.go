package storetest

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// assertEqual reports the differences between got and want (see diff).
func assertEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if d := diff(got, want); len(d) > 0 {
		t.Errorf("%s: read back differs from what was written:\n\t%s", what, strings.Join(d, "\n\t"))
	}
}

// diff lists where got differs from want. Nil and empty maps and slices
// are equal (a store need not keep the difference); times are compared
// with time.Equal and got's times must be in UTC; pointers are compared by
// what they point at, but nil and non-nil differ.
func diff(got, want any) []string {
	var d []string
	diffValue(&d, "", reflect.ValueOf(got), reflect.ValueOf(want))
	return d
}

var timeType = reflect.TypeFor[time.Time]()

func diffValue(d *[]string, path string, g, w reflect.Value) {
	add := func(format string, args ...any) {
		p := path
		if p == "" {
			p = "value"
		}
		*d = append(*d, p+": "+fmt.Sprintf(format, args...))
	}
	if !g.IsValid() || !w.IsValid() {
		if g.IsValid() != w.IsValid() {
			add("got %v, want %v", g, w)
		}
		return
	}
	if g.Type() != w.Type() {
		add("got a %s, want a %s", g.Type(), w.Type())
		return
	}
	if g.Type() == timeType {
		gt, wt := g.Interface().(time.Time), w.Interface().(time.Time)
		switch {
		case !gt.Equal(wt):
			add("got %s, want %s", gt.Format(time.RFC3339Nano), wt.Format(time.RFC3339Nano))
		case gt.Location() != time.UTC:
			add("got %s in location %q, want UTC", gt.Format(time.RFC3339Nano), gt.Location())
		}
		return
	}
	switch g.Kind() {
	case reflect.Pointer:
		if g.IsNil() || w.IsNil() {
			if g.IsNil() != w.IsNil() {
				add("got %s, want %s", describePtr(g), describePtr(w))
			}
			return
		}
		diffValue(d, path, g.Elem(), w.Elem())
	case reflect.Interface:
		if g.IsNil() || w.IsNil() {
			if g.IsNil() != w.IsNil() {
				add("got %v, want %v", g, w)
			}
			return
		}
		diffValue(d, path, g.Elem(), w.Elem())
	case reflect.Struct:
		for i := range g.NumField() {
			f := g.Type().Field(i)
			if f.IsExported() {
				diffValue(d, join(path, f.Name), g.Field(i), w.Field(i))
			}
		}
	case reflect.Map:
		for _, k := range w.MapKeys() {
			gv := g.MapIndex(k)
			if !gv.IsValid() {
				add("missing key %v (want %v)", k, w.MapIndex(k))
				continue
			}
			diffValue(d, fmt.Sprintf("%s[%v]", path, k), gv, w.MapIndex(k))
		}
		for _, k := range g.MapKeys() {
			if !w.MapIndex(k).IsValid() {
				add("unexpected key %v = %v", k, g.MapIndex(k))
			}
		}
	case reflect.Slice:
		if g.Type().Elem().Kind() == reflect.Uint8 {
			if !bytes.Equal(g.Bytes(), w.Bytes()) {
				add("got bytes %q, want %q", g.Bytes(), w.Bytes())
			}
			return
		}
		if g.Len() != w.Len() {
			add("got %d elements, want %d: got %v, want %v", g.Len(), w.Len(), g, w)
			return
		}
		for i := range g.Len() {
			diffValue(d, fmt.Sprintf("%s[%d]", path, i), g.Index(i), w.Index(i))
		}
	case reflect.Array:
		for i := range g.Len() {
			diffValue(d, fmt.Sprintf("%s[%d]", path, i), g.Index(i), w.Index(i))
		}
	default:
		if !g.Equal(w) {
			add("got %#v, want %#v", g, w)
		}
	}
}

func describePtr(v reflect.Value) string {
	if v.IsNil() {
		return "nil"
	}
	return fmt.Sprintf("&%v", v.Elem())
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
