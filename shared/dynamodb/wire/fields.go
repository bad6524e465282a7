package wire

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// tagKey is the struct tag MarshalMap and UnmarshalMap read, as
// attributevalue does: `dynamodbav:"name,omitempty"` or `dynamodbav:"-"`.
const tagKey = "dynamodbav"

// field is one attribute of a struct type: a field of the struct or of a
// struct embedded in it (flattened, with Go's visibility rules).
type field struct {
	name      string
	tagged    bool // the name comes from the tag
	index     []int
	omitEmpty bool
}

// fieldSet is a struct type's attributes in field order.
type fieldSet struct {
	fields []field
	byName map[string]int
	err    error
}

// lookup finds the field for an attribute name: exactly, or else
// ignoring case (as attributevalue's decoder does).
func (fs *fieldSet) lookup(name string) (field, bool) {
	if i, ok := fs.byName[name]; ok {
		return fs.fields[i], true
	}
	for _, f := range fs.fields {
		if strings.EqualFold(f.name, name) {
			return f, true
		}
	}
	return field{}, false
}

var fieldCache sync.Map // reflect.Type → *fieldSet

// fieldsOf returns the attributes of struct type t.
func fieldsOf(t reflect.Type) (*fieldSet, error) {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(*fieldSet), fs.(*fieldSet).err
	}
	fields, err := enumFields(t)
	fs := &fieldSet{fields: fields, byName: make(map[string]int, len(fields)), err: err}
	for i, f := range fields {
		fs.byName[f.name] = i
	}
	v, _ := fieldCache.LoadOrStore(t, fs)
	return v.(*fieldSet), err
}

// parseTag reads a field's tag. Options other than omitempty (which
// attributevalue has, but this package's item structs do not use) are
// refused rather than ignored, so that no item encodes differently.
func parseTag(t reflect.Type, sf reflect.StructField) (name string, omitEmpty, ignore bool, err error) {
	s, ok := sf.Tag.Lookup(tagKey)
	if !ok || s == "" {
		return "", false, false, nil
	}
	parts := strings.Split(s, ",")
	if parts[0] == "-" {
		return "", false, true, nil
	}
	for _, opt := range parts[1:] {
		switch opt {
		case "omitempty":
			omitEmpty = true
		case "":
		default:
			return "", false, false, fmt.Errorf("dynamodb: %s.%s: tag option %q is not supported", t, sf.Name, opt)
		}
	}
	return parts[0], omitEmpty, false, nil
}

// enumFields lists the attributes of t the way encoding/json (and after
// it attributevalue) lists a struct's fields: breadth first through
// embedded structs, the shallowest of a name winning, a tagged one
// winning a tie, and names still tied dropped.
func enumFields(t reflect.Type) ([]field, error) {
	type queued struct {
		typ   reflect.Type
		index []int
	}
	var current []queued
	next := []queued{{typ: t}}
	count, nextCount := map[reflect.Type]int{}, map[reflect.Type]int{}
	visited := map[reflect.Type]bool{}
	var fields []field
	for len(next) > 0 {
		current, next = next, current[:0]
		count, nextCount = nextCount, map[reflect.Type]int{}
		for _, q := range current {
			if visited[q.typ] {
				continue
			}
			visited[q.typ] = true
			for i := range q.typ.NumField() {
				sf := q.typ.Field(i)
				if !sf.IsExported() && !sf.Anonymous {
					continue
				}
				name, omitEmpty, ignore, err := parseTag(q.typ, sf)
				if err != nil {
					return nil, err
				}
				if ignore {
					continue
				}
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				index := append(slices.Clone(q.index), i)
				if sf.Anonymous && name == "" && ft.Kind() == reflect.Struct {
					nextCount[ft]++
					if nextCount[ft] == 1 {
						next = append(next, queued{typ: ft, index: index})
					}
					continue
				}
				if !sf.IsExported() {
					return nil, fmt.Errorf("dynamodb: %s: embedded unexported %s is not a struct", q.typ, sf.Name)
				}
				f := field{name: sf.Name, index: index, omitEmpty: omitEmpty}
				if name != "" {
					f.name, f.tagged = name, true
				}
				fields = append(fields, f)
				if count[q.typ] > 1 {
					fields = append(fields, f) // a duplicate, annihilated below
				}
			}
		}
	}
	slices.SortFunc(fields, func(a, b field) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := cmp.Compare(len(a.index), len(b.index)); c != 0 {
			return c
		}
		if a.tagged != b.tagged {
			if a.tagged {
				return -1
			}
			return 1
		}
		return slices.Compare(a.index, b.index)
	})
	out := fields[:0]
	for i := 0; i < len(fields); {
		j := i + 1
		for j < len(fields) && fields[j].name == fields[i].name {
			j++
		}
		if f, ok := dominant(fields[i:j]); ok {
			out = append(out, f)
		}
		i = j
	}
	slices.SortFunc(out, func(a, b field) int { return slices.Compare(a.index, b.index) })
	return out, nil
}

// dominant picks the field that a name means among fields of that name
// (sorted by depth, tagged first): the shallowest, if it is the only one
// at its depth or the only tagged one there.
func dominant(fields []field) (field, bool) {
	depth := len(fields[0].index)
	tagged := -1
	for i, f := range fields {
		if len(f.index) > depth {
			fields = fields[:i]
			break
		}
		if f.tagged {
			if tagged >= 0 {
				return field{}, false
			}
			tagged = i
		}
	}
	if tagged >= 0 {
		return fields[tagged], true
	}
	if len(fields) > 1 {
		return field{}, false
	}
	return fields[0], true
}
