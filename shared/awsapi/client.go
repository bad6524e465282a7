package awsapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Service describes one AWS service API.
type Service struct {
	// SigningName is the name signatures are scoped to ("dynamodb",
	// "s3", "states", "kms", "secretsmanager", "lambda").
	SigningName string
	// EndpointPrefix is the first label of the service's regional host
	// (https://PREFIX.REGION.amazonaws.com).
	EndpointPrefix string
	// TargetPrefix and JSONVersion are the JSON protocol's X-Amz-Target
	// prefix ("DynamoDB_20120810") and content type version ("1.0"); empty
	// for REST services.
	TargetPrefix string
	JSONVersion  string
	// EnvName is the service's name in the SDK's endpoint variable
	// AWS_ENDPOINT_URL_<EnvName> ("DYNAMODB", "SECRETS_MANAGER").
	EnvName string
	// S3 marks S3's signing rules: paths are not escaped twice, and every
	// request carries X-Amz-Content-Sha256.
	S3 bool
}

// UnsignedPayload is the payload hash of a request whose body is not
// signed (S3 over TLS, presigned URLs).
const UnsignedPayload = "UNSIGNED-PAYLOAD"

// Client calls one service in one region.
type Client struct {
	cfg      Config
	svc      Service
	endpoint *url.URL
	signer   *v4.Signer
	// sleep waits between tries (tests replace it).
	sleep func(context.Context, time.Duration) error
	// skew is the service's clock ahead of ours (nanoseconds), as the
	// Date of its last answer told: requests are signed at now+skew.
	skew atomic.Int64
}

// New returns a client of svc at endpoint: an emulator's URL, or "" for
// the one the environment sets (AWS_ENDPOINT_URL_<svc.EnvName>, then
// AWS_ENDPOINT_URL) or else the service's regional endpoint.
func New(cfg Config, svc Service, endpoint string) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if endpoint == "" {
		endpoint = cfg.envEndpoint(svc.EnvName)
	}
	if endpoint == "" {
		endpoint = "https://" + svc.EndpointPrefix + "." + cfg.Region + "." + dnsSuffix(cfg.Region)
	}
	u, err := url.Parse(strings.TrimRight(endpoint, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("awsapi: %s endpoint %q: want http(s)://host[:port]", svc.SigningName, endpoint)
	}
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = svc.S3 })
	return &Client{cfg: cfg, svc: svc, endpoint: u, signer: signer, sleep: sleepCtx}, nil
}

// dnsSuffix is the DNS suffix of a region's partition (the SDK's
// partitions.json: aws and aws-us-gov share amazonaws.com).
func dnsSuffix(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "amazonaws.com.cn"
	case strings.HasPrefix(region, "eusc-"):
		return "amazonaws.eu"
	case strings.HasPrefix(region, "us-iso-"):
		return "c2s.ic.gov"
	case strings.HasPrefix(region, "us-isob-"):
		return "sc2s.sgov.gov"
	case strings.HasPrefix(region, "us-isof-"):
		return "csp.hci.ic.gov"
	case strings.HasPrefix(region, "eu-isoe-"):
		return "cloud.adc-e.uk"
	}
	return "amazonaws.com"
}

// Region is the region the client signs for.
func (c *Client) Region() string { return c.cfg.Region }

// Endpoint is the URL requests go to (a copy).
func (c *Client) Endpoint() *url.URL { u := *c.endpoint; return &u }

// Request is one REST request for Do.
type Request struct {
	Method string
	// Host, when set, replaces the endpoint's host (S3's virtual-hosted
	// bucket.s3.REGION.amazonaws.com).
	Host string
	// Path is the escaped path ("/bucket/key%20name"), Query its parameters.
	Path   string
	Query  url.Values
	Header http.Header
	// Body is sent with ContentLength bytes; GetBody, when set, gives it
	// again for a retry (without it a request with a body is tried once).
	Body          io.Reader
	GetBody       func() (io.ReadCloser, error)
	ContentLength int64
	// PayloadHash is the body's hex SHA-256, or UnsignedPayload; empty
	// means the SHA-256 of no body.
	PayloadHash string
}

// URL is the absolute URL r goes to: the endpoint with r's host, path
// and query (what Do sends, and what a presigned URL starts from).
func (c *Client) URL(r Request) (*url.URL, error) {
	u := c.Endpoint()
	p, err := url.PathUnescape(r.Path)
	if err != nil {
		return nil, fmt.Errorf("awsapi: path %q: %w", r.Path, err)
	}
	u.Path, u.RawPath = u.Path+p, u.EscapedPath()+r.Path
	u.RawQuery = r.Query.Encode()
	if r.Host != "" {
		u.Host = r.Host
	}
	return u, nil
}

// emptyHash is the SHA-256 of an empty body.
const emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// Do sends a REST request, signed, retrying as the package doc says, and
// returns the 2xx (or 304) response for the caller to read and close.
func (c *Client) Do(ctx context.Context, r Request) (*http.Response, error) {
	rewindable, build := c.rest(ctx, r)
	return c.send(ctx, rewindable, build, nil)
}

// DoRead is Do with the answer read by read inside the tries: an
// *Error read returns (S3's 200 with an <Error> body) or a
// *TransportError (the body broke off) is retried like an error status;
// any other error of read is final. The body is closed after read.
func (c *Client) DoRead(ctx context.Context, r Request, read func(*http.Response) error) error {
	rewindable, build := c.rest(ctx, r)
	resp, err := c.send(ctx, rewindable, build, read)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// rest is the builder of r's tries, and whether r can be sent again.
func (c *Client) rest(ctx context.Context, r Request) (bool, func() (*http.Request, error)) {
	hash := r.PayloadHash
	if hash == "" {
		hash = emptyHash
	}
	rewindable := r.Body == nil || r.GetBody != nil
	first := true
	return rewindable, func() (*http.Request, error) {
		body := r.Body
		if !first && r.GetBody != nil {
			rc, err := r.GetBody()
			if err != nil {
				return nil, err
			}
			body = rc
		}
		first = false
		u, err := c.URL(r)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), body)
		if err != nil {
			return nil, err
		}
		if body == nil {
			req.Body, req.GetBody = nil, nil
		} else if rc, ok := body.(io.ReadCloser); ok {
			req.Body = rc
		}
		req.ContentLength = r.ContentLength
		if r.ContentLength == 0 && body != nil {
			req.Body, req.ContentLength = http.NoBody, 0
		}
		for k, vs := range r.Header {
			req.Header[k] = append([]string(nil), vs...)
		}
		return req, c.sign(ctx, req, hash)
	}
}

// JSON calls op of a JSON-protocol service with in (marshalled with
// encoding/json) and decodes the answer into out (nil to discard it).
func (c *Client) JSON(ctx context.Context, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("awsapi: encode %s input: %w", op, err)
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	build := func() (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint.String()+"/", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-amz-json-"+c.svc.JSONVersion)
		req.Header.Set("X-Amz-Target", c.svc.TargetPrefix+"."+op)
		return req, c.sign(ctx, req, hash)
	}
	// The answer is read whole, inside send's tries: a connection that
	// breaks while it is read is a reason to send the call again, as the
	// SDK's deserializers inside its retry loop did (JSON answers are
	// small; a json.Decoder buffers the whole value anyway).
	var answer []byte
	resp, err := c.send(ctx, true, build, func(resp *http.Response) (err error) {
		if answer, err = io.ReadAll(resp.Body); err != nil {
			return &TransportError{Service: c.svc.SigningName, Err: fmt.Errorf("%s: read the answer: %w", op, err)}
		}
		return nil
	})
	if err != nil {
		return err
	}
	resp.Body.Close()
	if out != nil && len(bytes.TrimSpace(answer)) > 0 {
		if err := json.Unmarshal(answer, out); err != nil {
			return fmt.Errorf("%s %s: read the answer: %w", c.svc.SigningName, op, err)
		}
	}
	return nil
}

// Presign signs r (an absolute URL on this client's endpoint) to be sent
// by someone else until at+expires, with the payload UNSIGNED; it returns
// the URL and the headers the sender must send as they are.
func (c *Client) Presign(ctx context.Context, r *http.Request, at time.Time, expires time.Duration) (string, http.Header, error) {
	q := r.URL.Query()
	q.Set("X-Amz-Expires", fmt.Sprint(int64(expires/time.Second)))
	r.URL.RawQuery = q.Encode()
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("%s: AWS credentials: %w", c.svc.SigningName, err)
	}
	return c.signer.PresignHTTP(ctx, creds, r, UnsignedPayload, c.svc.SigningName, c.cfg.Region, at.UTC())
}

// sign signs req for this client's service with payload hash hash.
func (c *Client) sign(ctx context.Context, req *http.Request, hash string) error {
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return &credentialsError{svc: c.svc.SigningName, err: err}
	}
	if c.svc.S3 {
		req.Header.Set("X-Amz-Content-Sha256", hash)
	}
	req.Header.Set("User-Agent", "modelreg-awsapi")
	if id := c.traceID(); id != "" && req.Header.Get(traceHeader) == "" {
		req.Header.Set(traceHeader, id) // not signed: the signer ignores it
	}
	return c.signer.SignHTTP(ctx, creds, req, hash, c.svc.SigningName, c.cfg.Region, time.Now().Add(time.Duration(c.skew.Load())).UTC())
}

// traceHeader carries the X-Ray trace a request belongs to.
const traceHeader = "X-Amzn-Trace-Id"

// traceID is the X-Ray trace of the Lambda invocation under way (which
// aws-lambda-go puts in _X_AMZN_TRACE_ID for each one), percent-encoded,
// or "" outside Lambda. Like the SDK's recursion detection, every request
// carries it: X-Ray joins the calls to the function's trace (Lambda,
// Step Functions and SNS pass it on), and Lambda's loop detection counts
// the hops of a Lambda–SNS–S3 loop by it.
func (c *Client) traceID() string {
	if c.cfg.getenv("AWS_LAMBDA_FUNCTION_NAME") == "" {
		return ""
	}
	return Escape(c.cfg.getenv("_X_AMZN_TRACE_ID"), "-=;:+&[]{}\"',")
}

// credentialsError is a failure to get credentials: never retried.
type credentialsError struct {
	svc string
	err error
}

func (e *credentialsError) Error() string { return e.svc + ": AWS credentials: " + e.err.Error() }
func (e *credentialsError) Unwrap() error { return e.err }

// send builds (afresh for each try), sends and retries one request. A
// request that is not rewindable is sent once. With read, a 2xx answer's
// body is read inside the tries (then closed by the caller), and read's
// retryable errors (see DoRead) are retried like the others.
func (c *Client) send(ctx context.Context, rewindable bool, build func() (*http.Request, error), read func(*http.Response) error) (*http.Response, error) {
	attempts := c.cfg.attempts()
	if !rewindable {
		attempts = 1
	}
	for n := 1; ; n++ {
		signedSkew := time.Duration(c.skew.Load())
		req, err := build()
		if err != nil {
			return nil, err
		}
		sent := time.Now()
		resp, err := c.cfg.doer().Do(req)
		skewed := false
		if err == nil {
			skewed = c.observeSkew(resp, sent, signedSkew)
		}
		switch {
		case err == nil && (resp.StatusCode < 300 || resp.StatusCode == http.StatusNotModified):
			if read == nil {
				return resp, nil
			}
			if err = read(resp); err == nil {
				return resp, nil
			}
			resp.Body.Close()
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s: %w", c.svc.SigningName, ctx.Err())
			}
		case err == nil:
			err = readError(c.svc.SigningName, resp)
		default:
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s: %w", c.svc.SigningName, ctx.Err())
			}
			err = &TransportError{Service: c.svc.SigningName, Err: err}
		}
		if n >= attempts || !(Retryable(err) || skewed && clockSkewCodes[Code(err)]) {
			return nil, err
		}
		if serr := c.sleep(ctx, backoff(n, throttled(err))); serr != nil {
			return nil, err
		}
	}
}

// backoff is the wait before try n+1: full jitter up to base·2ⁿ⁻¹,
// capped at 5 s, where base is 50 ms, or 1 s after a throttling answer
// (as the SDK's standard retryer waits: a throttled request retried
// within milliseconds is throttled again).
func backoff(n int, throttle bool) time.Duration {
	base := 50 * time.Millisecond
	if throttle {
		base = time.Second
	}
	d := base << min(n-1, 10)
	d = min(d, 5*time.Second)
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Escape percent-encodes s byte by byte for a URL path or header as AWS's
// REST bindings do: A-Z a-z 0-9 and the bytes in keep stay as they are,
// every other byte is %XX (upper-case hex).
func Escape(s, keep string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
