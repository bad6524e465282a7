package lambdatest

import (
	"bytes"
	"encoding/json"
)

// DecodeStrict decodes the JSON of an events/ sample into v, the exact
// input type of a function, refusing any field v does not have (so a
// sample cannot drift from what the handler reads).
func DecodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// EnvWith returns a copy of env with the pairs kv (key, value, key,
// value…) set: a function's settings with some changed, for tests that
// check what setup refuses.
func EnvWith(env map[string]string, kv ...string) map[string]string {
	m := make(map[string]string, len(env)+len(kv)/2)
	for k, v := range env {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}
