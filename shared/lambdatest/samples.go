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
