// Package apigw runs an http.Handler behind an API Gateway HTTP API
// (payload format 2.0, through aws-lambda-go) and identifies the caller
// from the IAM authorizer's request context. functions/api serves the
// registry's /v1 and MLflow handlers with it.
package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

type requestContextKey struct{}

// WithRequestContext returns ctx carrying API Gateway's request context
// (the caller's IAM identity, the request id, the route).
func WithRequestContext(ctx context.Context, rc events.APIGatewayV2HTTPRequestContext) context.Context {
	return context.WithValue(ctx, requestContextKey{}, rc)
}

// RequestContext returns the API Gateway request context ctx carries.
func RequestContext(ctx context.Context) (events.APIGatewayV2HTTPRequestContext, bool) {
	rc, ok := ctx.Value(requestContextKey{}).(events.APIGatewayV2HTTPRequestContext)
	return rc, ok
}

// Handler returns the Lambda handler that serves each API Gateway request
// with h: the request as API Gateway received it (raw path and query,
// headers, cookies, the body decoded from base64 when it is), its request
// context in the http.Request's context; the response with its headers,
// Set-Cookie lines as cookies, and a body that is not UTF-8 text in
// base64. A request API Gateway could not have sent (no method, a path
// that does not parse, a body that is not base64) is an error: Lambda
// reports it, API Gateway answers 500, and nothing reaches h.
func Handler(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		r, err := Request(ctx, req)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		w := newRecorder()
		h.ServeHTTP(w, r)
		return w.response(), nil
	}
}

// Request converts an API Gateway payload 2.0 request to an http.Request
// carrying ctx and the request context.
func Request(ctx context.Context, req events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	method := req.RequestContext.HTTP.Method
	if method == "" {
		return nil, fmt.Errorf("apigw: request without requestContext.http.method")
	}
	raw := req.RawPath
	if raw == "" {
		raw = req.RequestContext.HTTP.Path
	}
	if !strings.HasPrefix(raw, "/") {
		return nil, fmt.Errorf("apigw: request path %q does not start with /", raw)
	}
	if req.RawQueryString != "" {
		raw += "?" + req.RawQueryString
	}
	u, err := url.ParseRequestURI(raw)
	if err != nil {
		return nil, fmt.Errorf("apigw: request path: %w", err)
	}
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		if body, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
			return nil, fmt.Errorf("apigw: body marked base64 is not: %w", err)
		}
	}
	r, err := http.NewRequestWithContext(WithRequestContext(ctx, req.RequestContext), method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("apigw: %w", err)
	}
	r.RequestURI = raw
	r.ContentLength = int64(len(body))
	for k, v := range req.Headers {
		r.Header.Set(k, v)
	}
	if len(req.Cookies) > 0 {
		r.Header.Set("Cookie", strings.Join(req.Cookies, "; "))
	}
	r.Host = r.Header.Get("Host")
	if r.Host == "" {
		r.Host = req.RequestContext.DomainName
	}
	r.URL.Host = r.Host
	if src := req.RequestContext.HTTP.SourceIP; src != "" {
		r.RemoteAddr = src + ":0"
	}
	return r, nil
}

// recorder is the http.ResponseWriter a request is served into.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *recorder) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

func (w *recorder) response() events.APIGatewayV2HTTPResponse {
	w.WriteHeader(http.StatusOK)
	resp := events.APIGatewayV2HTTPResponse{StatusCode: w.status, Headers: map[string]string{}}
	for k, vs := range w.header {
		if http.CanonicalHeaderKey(k) == "Set-Cookie" {
			resp.Cookies = append(resp.Cookies, vs...)
			continue
		}
		resp.Headers[k] = strings.Join(vs, ",")
	}
	b := w.body.Bytes()
	if _, ok := w.header["Content-Type"]; !ok && len(b) > 0 {
		resp.Headers["Content-Type"] = http.DetectContentType(b)
	}
	if textual(resp.Headers["Content-Type"]) && utf8.Valid(b) {
		resp.Body = string(b)
	} else {
		resp.Body, resp.IsBase64Encoded = base64.StdEncoding.EncodeToString(b), len(b) > 0
	}
	return resp
}

// textual reports whether a body of content type ct is sent as text.
func textual(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mt, "text/") || mt == "application/json" || strings.HasSuffix(mt, "+json") ||
		mt == "application/javascript" || mt == "application/xml" || strings.HasSuffix(mt, "+xml")
}
