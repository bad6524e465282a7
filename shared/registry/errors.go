package registry

import (
	"errors"
	"fmt"
)

// Code classifies an Error. Each code maps to one HTTP status at the edge
// (see httpapi); adapters translate their own failures into these codes.
type Code string

// The error codes the domain uses.
const (
	Invalid         Code = "invalid"                // 400: the request is malformed or breaks a rule
	Unauthenticated Code = "unauthenticated"        // 401: no or unknown credentials
	Forbidden       Code = "forbidden"              // 403: authenticated, not allowed (also bad or expired signed URLs)
	NotFound        Code = "not_found"              // 404
	Conflict        Code = "conflict"               // 409: the state does not allow it, or someone changed it first
	TooLarge        Code = "too_large"              // 413
	KeyReused       Code = "idempotency_key_reused" // 422: same Idempotency-Key, different request
	NotImplemented  Code = "not_implemented"        // 501: the feature has not arrived yet
	Unavailable     Code = "unavailable"            // 503: retry later (throttling, shutting down)
	Internal        Code = "internal"               // 500: a bug or an infrastructure failure; details only in logs

	// InsufficientStorage (507): the request is sound but the server has
	// no room for it now (its artifact disk is nearly full); it may succeed
	// once space is freed.
	InsufficientStorage Code = "insufficient_storage"
)

// Error is the one error type of the domain. Message is safe to show to the
// caller; Err, if set, carries the cause for logs and errors.Is.
type Error struct {
	Code    Code
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with the given code and message whose cause is err.
func Wrap(code Code, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, Internal
// when there is none, and "" for a nil error.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// ErrorMessage returns the caller-safe message of err: the message of its
// *Error, or "internal error" for anything else.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Code != Internal {
		return e.Message
	}
	return "internal error"
}

// IsCode reports whether err carries the given code.
func IsCode(err error, code Code) bool { return ErrorCode(err) == code }

// ErrStale is the cause a Store gives (inside a Conflict) when a record's
// revision is not the one a Change expected: someone else wrote first. The
// service re-reads and retries on it; it never reaches a caller as such.
var ErrStale = errors.New("stale revision")

// ErrDuplicateRequest is the cause a Store gives (inside a Conflict) when a
// Change carries an IdempotencyRecord whose key is already stored and not
// expired. Nothing of the Change is written; the caller replays the stored
// response.
var ErrDuplicateRequest = errors.New("idempotency key already used")
