package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/modelreg/modelreg/shared/registry"
)

// input is one request as a handler sees it: the body already read (and
// limited), path and query helpers that answer Invalid for bad values.
type input struct {
	r *http.Request
	// q is the query, parsed once (parseQuery) before the handler runs.
	q    url.Values
	body []byte
}

// name is the {name} path value: the model.
func (in *input) name() string { return in.r.PathValue("name") }

// query returns the query parameter k ("" if absent).
func (in *input) query(k string) string { return in.q.Get(k) }

// parseQuery parses a raw query string strictly: a broken %-escape, a ';'
// separator, a name or value that is not UTF-8, or a parameter given twice
// is Invalid, naming the parameter. (url.ParseQuery drops what it cannot
// parse, which turns ?stage=Staging% into no filter at all.)
func parseQuery(raw string) (url.Values, error) {
	q := url.Values{}
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		rawKey, rawValue, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil || !utf8.ValidString(key) {
			return nil, registry.Errorf(registry.Invalid, "query parameter name %q is not valid: %%-escape it as UTF-8 (%% itself is %%25)", rawKey)
		}
		if strings.Contains(pair, ";") {
			return nil, registry.Errorf(registry.Invalid, "query parameter %s: ';' is not a separator: use '&' between parameters, or escape it as %%3B", key)
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil || !utf8.ValidString(value) {
			return nil, registry.Errorf(registry.Invalid, "query parameter %s: %q is not a valid value: %%-escape it as UTF-8 (%% itself is %%25)", key, rawValue)
		}
		if q.Has(key) {
			return nil, registry.Errorf(registry.Invalid, "query parameter %s is given twice: give it once", key)
		}
		q.Set(key, value)
	}
	return q, nil
}

// version is the {version} path value, a positive integer.
func (in *input) version() (int, error) {
	s := in.r.PathValue("version")
	n, err := positiveInt(s)
	if err != nil {
		return 0, registry.Errorf(registry.Invalid, "invalid version %q: versions are positive integers", s)
	}
	return n, nil
}

// positiveInt parses a decimal positive integer without sign or leading
// zeros.
func positiveInt(s string) (int, error) {
	if s == "" || len(s) > 9 || s[0] == '0' {
		return 0, errors.New("not a positive integer")
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, errors.New("not a positive integer")
		}
	}
	return strconv.Atoi(s)
}

// page returns the page_token and page_size query parameters; page_size
// is 0 when absent (the service's default), else 1..MaxPageSize.
func (in *input) page() (token string, size int, err error) {
	token = in.query("page_token")
	if s := in.query("page_size"); s != "" {
		size, err = strconv.Atoi(s)
		if err != nil || size < 1 || size > registry.MaxPageSize {
			return "", 0, registry.Errorf(registry.Invalid, "invalid page_size %q: use an integer from 1 to %d", s, registry.MaxPageSize)
		}
	}
	return token, size, nil
}

// decode reads the body, a single JSON object, into dst. Unknown fields,
// trailing data and type mismatches are Invalid, naming what is wrong.
func (in *input) decode(dst any) error {
	body := bytes.TrimSpace(in.body)
	if len(body) == 0 {
		return registry.Errorf(registry.Invalid, "request body is empty: send a JSON object")
	}
	return decodeStrict(body, dst, "request body")
}

// decodeEmpty accepts an empty body or an empty JSON object ({}), the body
// of actions that take no input.
func (in *input) decodeEmpty() error {
	if len(bytes.TrimSpace(in.body)) == 0 {
		return nil
	}
	return in.decode(&struct{}{})
}

// decodeStrict decodes exactly one JSON object from data into dst; what
// names the document in error messages. Beyond encoding/json's checks it
// refuses duplicate keys, case-insensitive field matches and invalid UTF-8
// (checkJSON).
func decodeStrict(data []byte, dst any, what string) error {
	if len(data) == 0 || data[0] != '{' {
		return registry.Errorf(registry.Invalid, "%s must be a JSON object", what)
	}
	if err := checkJSON(data, reflect.TypeOf(dst), what); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err, what)
	}
	if _, err := dec.Token(); err != io.EOF {
		return registry.Errorf(registry.Invalid, "%s has data after the JSON object: send exactly one object", what)
	}
	return nil
}

// jsonError turns a decoding error into an Invalid error that says what
// is wrong, without Go type names.
func jsonError(err error, what string) error {
	var re *registry.Error
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &re):
		return re
	case errors.As(err, &syn):
		return registry.Errorf(registry.Invalid, "%s is not valid JSON (at byte %d): %s", what, syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(top level)"
		}
		return registry.Errorf(registry.Invalid, "%s: field %s must be %s, not a JSON %s", what, field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return registry.Errorf(registry.Invalid, "%s is truncated JSON", what)
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if f, ok := strings.CutPrefix(msg, "unknown field "); ok {
		return registry.Errorf(registry.Invalid, "%s: unknown field %s", what, f)
	}
	return registry.Errorf(registry.Invalid, "%s: %s", what, msg)
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	}
	return "a " + kind
}

// readBody reads the body of a write, at most limit bytes (413 beyond),
// and checks that a non-empty body is declared JSON: another Content-Type
// is 415. A body without a Content-Type is taken as JSON, so that
// `curl -d '{…}'` users (who send form encoding by default) and clients that
// set no header are not refused.
func (a *api) readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	tooLarge := registry.Errorf(registry.TooLarge, "request body is larger than %d bytes", limit)
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, registry.Errorf(registry.Invalid, "the request body stalled: %d bytes arrived before the server's read timeout", len(body))
		}
		return nil, registry.Wrap(registry.Invalid, err, "could not read the request body")
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if ct := r.Header.Get("Content-Type"); ct != "" && !isJSON(ct) && !isCurlDefault(ct) {
			return nil, registry.Errorf(unsupportedMediaType, "Content-Type %q is not accepted: send the body as application/json", ct)
		}
	}
	return body, nil
}

// isCurlDefault reports whether ct is application/x-www-form-urlencoded,
// what `curl -d` sends unless told otherwise. The body must still be JSON.
func isCurlDefault(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/x-www-form-urlencoded"
}

// isJSON reports whether a Content-Type is JSON (application/json or a
// +json type, any parameters).
func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}
