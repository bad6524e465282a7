package s3

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

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

// codeOf classifies an S3 error.
func codeOf(err error) registry.Code {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
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
	}
	var resp *smithyhttp.ResponseError
	if errors.As(err, &resp) {
		switch resp.HTTPStatusCode() {
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

// isCode reports whether err is the S3 error code.
func isCode(err error, code string) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == code
}

// isNotFound reports whether err says that the key is not there.
func isNotFound(err error) bool {
	return err != nil && codeOf(err) == registry.NotFound
}

// isPreconditionFailed reports whether a conditional write was refused.
func isPreconditionFailed(err error) bool {
	return err != nil && codeOf(err) == registry.Conflict
}
