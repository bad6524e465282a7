package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/modelreg/modelreg/shared/registry"
)

// statusOf is the one table that maps the domain's error codes to HTTP
// statuses. A code missing here is answered as an internal error.
var statusOf = map[registry.Code]int{
	registry.Invalid:             http.StatusBadRequest,
	registry.Unauthenticated:     http.StatusUnauthorized,
	registry.Forbidden:           http.StatusForbidden,
	registry.NotFound:            http.StatusNotFound,
	registry.Conflict:            http.StatusConflict,
	registry.TooLarge:            http.StatusRequestEntityTooLarge,
	registry.KeyReused:           http.StatusUnprocessableEntity,
	registry.Internal:            http.StatusInternalServerError,
	registry.NotImplemented:      http.StatusNotImplemented,
	registry.Unavailable:         http.StatusServiceUnavailable,
	unsupportedMediaType:         http.StatusUnsupportedMediaType,
	registry.InsufficientStorage: http.StatusInsufficientStorage,
}

// methodNotAllowed is the code of a 405 answer. The domain has no such code
// because only the router can make this mistake.
const methodNotAllowed registry.Code = "method_not_allowed"

// unsupportedMediaType is the code of a 415 answer: a body that is not
// declared JSON. Like methodNotAllowed, only the HTTP edge can see it.
const unsupportedMediaType registry.Code = "unsupported_media_type"

// ErrorBody is the JSON document of every error response:
// {"error":{"code":"…","message":"…"}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the code and caller-safe message of an error response.
type ErrorDetail struct {
	Code    registry.Code `json:"code"`
	Message string        `json:"message"`
}

// StatusCode returns the HTTP status that answers err: its code's status
// from the table, 500 for anything the table does not know.
func StatusCode(err error) int {
	if s, ok := statusOf[registry.ErrorCode(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// encode is the JSON encoding of every response body, fresh or stored for
// an idempotent replay, so that a replay is byte-identical. A
// json.RawMessage is sent as it is (the embedded OpenAPI document).
func encode(v any) ([]byte, error) {
	if raw, ok := v.(json.RawMessage); ok {
		return raw, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// writeBody sends status and body (JSON unless empty).
func writeBody(w http.ResponseWriter, status int, body []byte) {
	if len(body) > 0 {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	}
	w.WriteHeader(status)
	if len(body) > 0 && status != http.StatusNoContent {
		_, _ = w.Write(body)
	}
}

// reply encodes v and sends it with status; 204 sends no body.
func (a *api) reply(w http.ResponseWriter, r *http.Request, status int, v any) {
	if status == http.StatusNoContent || v == nil {
		writeBody(w, status, nil)
		return
	}
	body, err := encode(v)
	if err != nil {
		a.fail(w, r, registry.Wrap(registry.Internal, err, "encode response"))
		return
	}
	writeBody(w, status, body)
}

// fail answers err as an error document. Internal errors (and anything
// that is not a *registry.Error) say only "internal error"; the request
// log line carries the full error under the request id.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := registry.ErrorCode(err)
	status, known := statusOf[code]
	msg := registry.ErrorMessage(err)
	if !known {
		code, status, msg = registry.Internal, http.StatusInternalServerError, "internal error"
	}
	a.failWith(w, r, status, code, msg, err)
}

// failWith sends an error document with an explicit status and code.
func (a *api) failWith(w http.ResponseWriter, r *http.Request, status int, code registry.Code, msg string, err error) {
	if info := infoFrom(r.Context()); info != nil {
		info.code, info.err = code, err
	}
	switch status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="modelreg"`)
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	body, _ := encode(ErrorBody{Error: ErrorDetail{Code: code, Message: msg}})
	writeBody(w, status, body)
}
