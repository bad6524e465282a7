package local

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"
)

// aslError is an error with an ASL error name (States.Runtime, a task's
// error...), as a Retry or Catch sees it.
type aslError struct {
	Name  string
	Cause string
}

func (e *aslError) Error() string { return e.Name + ": " + e.Cause }

func runtimeError(format string, args ...any) *aslError {
	return &aslError{Name: "States.Runtime", Cause: fmt.Sprintf(format, args...)}
}

// path is a parsed reference path: $ followed by .name, ['name'] or [n]
// steps (the subset of JSONPath ASL allows in InputPath, ResultPath…).
type path struct {
	text  string
	steps []step
}

type step struct {
	key   string
	index int // when key is ""
}

func parsePath(s string) (path, error) {
	p := path{text: s}
	if !strings.HasPrefix(s, "$") {
		return p, fmt.Errorf("path %q does not start with $", s)
	}
	rest := s[1:]
	for rest != "" {
		switch {
		case rest[0] == '.':
			rest = rest[1:]
			n := strings.IndexAny(rest, ".[")
			if n < 0 {
				n = len(rest)
			}
			if n == 0 {
				return p, fmt.Errorf("path %q has an empty step", s)
			}
			p.steps = append(p.steps, step{key: rest[:n]})
			rest = rest[n:]
		case strings.HasPrefix(rest, "['"):
			end := strings.Index(rest, "']")
			if end < 2 {
				return p, fmt.Errorf("path %q has an unterminated ['…']", s)
			}
			p.steps = append(p.steps, step{key: rest[2:end]})
			rest = rest[end+2:]
		case rest[0] == '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return p, fmt.Errorf("path %q has an unterminated [", s)
			}
			i, err := strconv.Atoi(rest[1:end])
			if err != nil || i < 0 {
				return p, fmt.Errorf("path %q: %q is not an array index (filters and wildcards are not supported)", s, rest[1:end])
			}
			p.steps = append(p.steps, step{key: "", index: i})
			rest = rest[end+1:]
		default:
			return p, fmt.Errorf("path %q: unexpected %q", s, rest)
		}
	}
	return p, nil
}

// get returns the value at p in doc; a missing step is States.Runtime.
func (p path) get(doc any) (any, error) {
	v := doc
	for _, s := range p.steps {
		switch {
		case s.key != "":
			m, ok := v.(map[string]any)
			if !ok {
				return nil, runtimeError("the JSONPath %q could not be found in the input", p.text)
			}
			if v, ok = m[s.key]; !ok {
				return nil, runtimeError("the JSONPath %q could not be found in the input", p.text)
			}
		default:
			a, ok := v.([]any)
			if !ok || s.index >= len(a) {
				return nil, runtimeError("the JSONPath %q could not be found in the input", p.text)
			}
			v = a[s.index]
		}
	}
	return v, nil
}

// set returns doc with value at p (doc itself is not modified: the objects
// along the path are copied). Missing objects along the way are created; a
// step through something that is not an object is States.Runtime.
func (p path) set(doc, value any) (any, error) {
	return setSteps(doc, p.steps, value, p.text)
}

func setSteps(doc any, steps []step, value any, text string) (any, error) {
	if len(steps) == 0 {
		return value, nil
	}
	s := steps[0]
	if s.key == "" {
		return nil, runtimeError("ResultPath %q: array indexes are not supported", text)
	}
	var m map[string]any
	switch d := doc.(type) {
	case map[string]any:
		m = maps.Clone(d)
	case nil:
		m = map[string]any{}
	default:
		return nil, runtimeError("unable to apply ResultPath %q to an input that is not an object", text)
	}
	child, err := setSteps(m[s.key], steps[1:], value, text)
	if err != nil {
		return nil, err
	}
	m[s.key] = child
	return m, nil
}

// template is a Parameters or ResultSelector object: fields ending in .$
// take their value from a path into the input ($…) or the context object ($$…).
type template struct{ v any }

func parseTemplate(raw json.RawMessage) (*template, error) {
	var v any
	if err := decodeJSON(raw, &v); err != nil {
		return nil, err
	}
	if err := checkTemplate(v); err != nil {
		return nil, err
	}
	return &template{v: v}, nil
}

func checkTemplate(v any) error {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if strings.HasSuffix(k, ".$") {
				s, ok := x.(string)
				if !ok {
					return fmt.Errorf("field %q: a .$ field takes a path string", k)
				}
				ps := s
				if strings.HasPrefix(s, "$$") {
					ps = s[1:]
				}
				if _, err := parsePath(ps); err != nil {
					return fmt.Errorf("field %q: %w (intrinsic functions are not supported)", k, err)
				}
				continue
			}
			if err := checkTemplate(x); err != nil {
				return err
			}
		}
	case []any:
		for _, x := range t {
			if err := checkTemplate(x); err != nil {
				return err
			}
		}
	}
	return nil
}

// eval builds the template's value from input and the context object.
func (t *template) eval(input, context any) (any, error) { return evalTemplate(t.v, input, context) }

func evalTemplate(v, input, context any) (any, error) {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			if name, ok := strings.CutSuffix(k, ".$"); ok {
				s := x.(string) // checked by checkTemplate
				src := input
				if strings.HasPrefix(s, "$$") {
					s, src = s[1:], context
				}
				p, _ := parsePath(s)
				val, err := p.get(src)
				if err != nil {
					return nil, err
				}
				out[name] = val
				continue
			}
			val, err := evalTemplate(x, input, context)
			if err != nil {
				return nil, err
			}
			out[k] = val
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			val, err := evalTemplate(x, input, context)
			if err != nil {
				return nil, err
			}
			out[i] = val
		}
		return out, nil
	default:
		return v, nil
	}
}

// decodeJSON decodes one JSON value, keeping numbers exact.
func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("more than one JSON value")
	}
	return nil
}
