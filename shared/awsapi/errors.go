package awsapi

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// Error is an AWS service's refusal: its error code ("ConditionalCheckFailedException",
// "NoSuchKey"), message and HTTP status.
type Error struct {
	Service    string
	Code       string
	Message    string
	StatusCode int
	RequestID  string
	// Body is the answer's body (up to 8 MiB), for the fields some errors
	// add (DynamoDB's CancellationReasons).
	Body []byte
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	return fmt.Sprintf("%s: %s (HTTP %d): %s", e.Service, e.Code, e.StatusCode, msg)
}

// TransportError is a request that got no answer (connection refused or
// reset, a timeout).
type TransportError struct {
	Service string
	Err     error
}

func (e *TransportError) Error() string { return e.Service + ": " + e.Err.Error() }
func (e *TransportError) Unwrap() error { return e.Err }

// Code returns the AWS error code of err ("" if it is not an *Error).
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// IsCode reports whether err is an *Error with one of codes.
func IsCode(err error, codes ...string) bool {
	c := Code(err)
	return c != "" && slices.Contains(codes, c)
}

// throttling are the error codes AWS services use for "slow down" (the
// SDK's DefaultThrottleErrorCodes); like the SDK's standard retryer, they
// are retried, after a longer wait.
var throttling = map[string]bool{
	"Throttling": true, "ThrottlingException": true, "ThrottledException": true, "RequestThrottledException": true,
	"TooManyRequestsException": true, "ProvisionedThroughputExceededException": true, "TransactionInProgressException": true,
	"RequestLimitExceeded": true, "BandwidthLimitExceeded": true, "LimitExceededException": true, "RequestThrottled": true,
	"SlowDown": true, "PriorRequestNotComplete": true, "EC2ThrottledException": true,
}

// transient are the other error codes worth another try.
var transient = map[string]bool{
	"RequestTimeout": true, "RequestTimeoutException": true, "InternalError": true, "InternalFailure": true,
	"ServiceUnavailable": true, "InternalServerError": true,
}

// throttled reports whether err is a throttling answer: a throttling code
// or a 429 status.
func throttled(err error) bool {
	var e *Error
	return errors.As(err, &e) && (throttling[e.Code] || e.StatusCode == http.StatusTooManyRequests)
}

// Retryable reports whether err is worth another try: no answer at all,
// a 5xx or 429 status, or a throttling code.
func Retryable(err error) bool {
	var te *TransportError
	if errors.As(err, &te) {
		return true
	}
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.StatusCode {
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return throttling[e.Code] || transient[e.Code]
}

// maxErrorBody is how much of an error answer is read: DynamoDB's
// TransactionCanceledException carries the old item (up to 400 KB) of each
// failed condition that asked for it, up to a transaction's 4 MB.
const maxErrorBody = 8 << 20

// readError reads an error answer, closing its body. The code comes from
// the X-Amzn-ErrorType header (REST-JSON, JSON), the body's __type or
// code (JSON) or <Code> (S3's XML, the query protocol's ErrorResponse), or
// else from the status (a HEAD answer has no body).
func readError(service string, resp *http.Response) error {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{Service: service, StatusCode: resp.StatusCode, Body: body,
		RequestID: firstHeader(resp.Header, "X-Amzn-Requestid", "X-Amz-Request-Id", "X-Amzn-Request-Id")}
	e.Code = resp.Header.Get("X-Amzn-Errortype")
	trimmed := strings.TrimSpace(string(body))
	switch {
	case strings.HasPrefix(trimmed, "{"):
		var j struct {
			Type     string `json:"__type"`
			Code     string `json:"code"`
			CodeU    string `json:"Code"`
			Message  string `json:"message"`
			MessageU string `json:"Message"`
			ErrorMsg string `json:"errorMessage"`
		}
		if json.Unmarshal(body, &j) == nil {
			if e.Code == "" {
				e.Code = firstOf(j.Type, j.Code, j.CodeU)
			}
			e.Message = firstOf(j.Message, j.MessageU, j.ErrorMsg)
		}
	case strings.HasPrefix(trimmed, "<"):
		var x struct {
			Code      string `xml:"Code"`
			Message   string `xml:"Message"`
			RequestID string `xml:"RequestId"`
			Error     struct {
				Code    string `xml:"Code"`
				Message string `xml:"Message"`
			} `xml:"Error"`
		}
		if xml.Unmarshal(body, &x) == nil {
			if e.Code == "" {
				e.Code = firstOf(x.Code, x.Error.Code)
			}
			e.Message = firstOf(x.Message, x.Error.Message)
			if e.RequestID == "" {
				e.RequestID = x.RequestID
			}
		}
	}
	e.Code = cleanCode(e.Code)
	if e.Code == "" {
		e.Code = statusCode(resp.StatusCode)
	}
	return e
}

// cleanCode strips a JSON __type's namespace ("com.amazonaws.dynamodb.v20120810#ResourceNotFoundException")
// and an X-Amzn-ErrorType's suffix ("ResourceNotFoundException:http://internal.amazon.com/…").
func cleanCode(c string) string {
	if i := strings.LastIndexByte(c, '#'); i >= 0 {
		c = c[i+1:]
	}
	if i := strings.IndexByte(c, ':'); i >= 0 {
		c = c[:i]
	}
	return strings.TrimSpace(c)
}

// statusCode names an error answer without a code, as the SDK does for
// S3's HEAD: 404 NotFound, 403 Forbidden, 304 NotModified, …
func statusCode(status int) string {
	switch status {
	case http.StatusNotFound:
		return "NotFound"
	case http.StatusForbidden:
		return "Forbidden"
	case http.StatusNotModified:
		return "NotModified"
	case http.StatusPreconditionFailed:
		return "PreconditionFailed"
	case http.StatusBadRequest:
		return "BadRequest"
	}
	return strings.ReplaceAll(http.StatusText(status), " ", "")
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func firstHeader(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}
