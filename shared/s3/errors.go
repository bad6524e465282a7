package s3

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/registry"
)

// translate turns an S3 error into a registry error whose message is
// what (formatted) and whose cause is err. See the package doc for the
// table; a registry error passes through unchanged.
func translate(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	var re *registry.Error
	if errors.As(err, &re) {
		return err
	}
	what := fmt.Sprintf(format, args...)
	switch code := codeOf(err); code {
	case registry.Internal:
		return registry.Wrap(code, err, "%s", what)
	case registry.NotFound:
		return registry.Wrap(code, err, "%s: not found", what)
	case registry.Invalid:
		return registry.Wrap(code, err, "%s: the upload no longer exists (aborted, completed or expired); start the file again", what)
	case registry.Conflict:
		return registry.Wrap(code, err, "%s: a file is already stored there", what)
	default:
		return registry.Wrap(code, err, "%s: storage is busy; try again", what)
	}
}

// codeOf classifies an S3 error: by its code, or else by its HTTP status.
func codeOf(err error) registry.Code {
	switch awsapi.Code(err) {
	case "NoSuchKey", "NotFound":
		return registry.NotFound
	case "NoSuchUpload":
		return registry.Invalid
	case "NoSuchBucket":
		return registry.Internal // a misconfiguration, not a missing file
	case "PreconditionFailed":
		return registry.Conflict
	case "SlowDown", "ServiceUnavailable", "Throttling", "ThrottlingException",
		"RequestLimitExceeded", "TooManyRequests", "ConditionalRequestConflict":
		// ConditionalRequestConflict: a concurrent conditional write
		// is in progress; S3 asks to retry.
		return registry.Unavailable
	}
	var e *awsapi.Error
	if errors.As(err, &e) {
		switch e.StatusCode {
		case http.StatusNotFound:
			return registry.NotFound
		case http.StatusPreconditionFailed:
			return registry.Conflict
		case http.StatusServiceUnavailable, http.StatusTooManyRequests:
			return registry.Unavailable
		}
	}
	return registry.Internal
}

// isCode reports whether err is one of the S3 error codes.
func isCode(err error, codes ...string) bool {
	return awsapi.IsCode(err, codes...)
}

// isNotFound reports whether err says that the key is not there.
func isNotFound(err error) bool {
	return err != nil && codeOf(err) == registry.NotFound
}

// isPreconditionFailed reports whether a conditional write was refused.
func isPreconditionFailed(err error) bool {
	return err != nil && codeOf(err) == registry.Conflict
}
