package awsapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/modelreg/modelreg/shared/client/sigv4test"
)

const (
	testRegion  = "eu-west-1"
	testKeyID   = "ASIAAWSAPITEST"
	testSecret  = "awsapi-test-secret"
	testSession = "awsapi-test-session-token"
)

var (
	testDynamoDB = Service{SigningName: "dynamodb", EndpointPrefix: "dynamodb", TargetPrefix: "DynamoDB_20120810", JSONVersion: "1.0", EnvName: "DYNAMODB"}
	testLambda   = Service{SigningName: "lambda", EndpointPrefix: "lambda", EnvName: "LAMBDA"}
	testS3       = Service{SigningName: "s3", EndpointPrefix: "s3", EnvName: "S3", S3: true}
)

// answer is one scripted answer of a test server.
type answer struct {
	status int
	header map[string]string
	body   string
}

// script is a server answering its requests with answers in turn (the
// last one again when they run out), recording each request's body.
type script struct {
	mu      sync.Mutex
	answers []answer
	reqs    []*http.Request
	bodies  []string
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	a := s.answers[min(len(s.reqs), len(s.answers)-1)]
	s.reqs = append(s.reqs, r)
	s.bodies = append(s.bodies, string(body))
	s.mu.Unlock()
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(a.status)
	io.WriteString(w, a.body)
}

func (s *script) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

// testClient returns a client of svc on a server answering with answers
// behind a SigV4 verifier for svc (temporary credentials: the session
// token must arrive), and records the waits between tries instead of
// sleeping. The test fails if a signature does not hold.
func testClient(t *testing.T, svc Service, attempts int, answers ...answer) (*Client, *script, *[]time.Duration) {
	t.Helper()
	s := &script{answers: answers}
	v := &sigv4test.Verifier{Region: testRegion, Service: svc.SigningName, Next: s,
		Keys: []sigv4test.Key{{AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: testSession}}}
	var h http.Handler = v
	if svc.S3 {
		h = s3Verifier{v}
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		for _, seen := range v.Seen() {
			if seen.Err != nil {
				t.Errorf("%s %s: signature refused: %v", seen.Method, seen.Path, seen.Err)
			}
		}
	})
	c, err := New(Config{Region: testRegion, Credentials: StaticCredentials(testKeyID, testSecret, testSession), MaxAttempts: attempts}, svc, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return ctx.Err()
	}
	return c, s, &waits
}

// s3Verifier verifies S3's signatures, whose canonical URI is the path
// URI-encoded once, not twice: the verifier, which encodes the path as
// sent once more, gets the path decoded.
type s3Verifier struct{ v *sigv4test.Verifier }

func (h s3Verifier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.RequestURI = r.URL.Path
	if r.URL.RawQuery != "" {
		r.RequestURI += "?" + r.URL.RawQuery
	}
	h.v.ServeHTTP(w, r)
}

var ok200 = answer{status: 200, header: map[string]string{"Content-Type": "application/x-amz-json-1.0"}, body: `{"Count":1}`}

// TestJSONSigned: a JSON call is POST / with the protocol's target and
// content type, the input as its body, signed; the answer decodes.
func TestJSONSigned(t *testing.T) {
	c, s, _ := testClient(t, testDynamoDB, 3, ok200)
	var out struct{ Count int }
	if err := c.JSON(t.Context(), "Query", map[string]string{"TableName": "t"}, &out); err != nil {
		t.Fatal(err)
	}
	r := s.reqs[0]
	if r.Method != http.MethodPost || r.URL.Path != "/" || r.Header.Get("X-Amz-Target") != "DynamoDB_20120810.Query" ||
		r.Header.Get("Content-Type") != "application/x-amz-json-1.0" || s.bodies[0] != `{"TableName":"t"}` {
		t.Errorf("request %s %s target %q type %q body %s", r.Method, r.URL.Path, r.Header.Get("X-Amz-Target"), r.Header.Get("Content-Type"), s.bodies[0])
	}
	if out.Count != 1 {
		t.Errorf("answer decoded as %+v", out)
	}
	// An empty answer leaves out alone; nil out discards the answer.
	c2, _, _ := testClient(t, testDynamoDB, 1, answer{status: 200})
	if err := c2.JSON(t.Context(), "DeleteItem", struct{}{}, &out); err != nil || out.Count != 1 {
		t.Errorf("empty answer: %v, %+v", err, out)
	}
	if err := c.JSON(t.Context(), "Query", struct{}{}, nil); err != nil {
		t.Errorf("discarded answer: %v", err)
	}
	// An answer that is not JSON is an error naming the operation.
	c3, _, _ := testClient(t, testDynamoDB, 1, answer{status: 200, body: "<html>"})
	if err := c3.JSON(t.Context(), "Query", struct{}{}, &out); err == nil || !strings.Contains(err.Error(), "Query") {
		t.Errorf("non-JSON answer: %v", err)
	}
}

// TestRESTSigned: a REST request keeps its escaped path and query, its
// headers and its body (hash signed), with the session token.
func TestRESTSigned(t *testing.T) {
	c, s, _ := testClient(t, testLambda, 3, answer{status: 202})
	body := `{"a":1}`
	resp, err := c.Do(t.Context(), Request{Method: http.MethodPost, Path: "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A1%3Afunction%3Af/invocations",
		Query: map[string][]string{"Qualifier": {"live 1"}}, Header: http.Header{"X-Amz-Invocation-Type": {"Event"}},
		Body: strings.NewReader(body), ContentLength: int64(len(body)), PayloadHash: sigv4test.HashHex([]byte(body))})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r := s.reqs[0]
	if resp.StatusCode != 202 || r.RequestURI != "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A1%3Afunction%3Af/invocations?Qualifier=live%201" ||
		r.Header.Get("X-Amz-Invocation-Type") != "Event" || s.bodies[0] != body {
		t.Errorf("status %d, request %s %q %s", resp.StatusCode, r.RequestURI, r.Header.Get("X-Amz-Invocation-Type"), s.bodies[0])
	}
	// A GET without a body, and S3's signing (X-Amz-Content-Sha256, the
	// path not escaped twice).
	s3c, s3s, _ := testClient(t, testS3, 1, answer{status: 200, body: "data"})
	resp, err = s3c.Do(t.Context(), Request{Method: http.MethodGet, Path: "/bucket/a%20b/c.txt"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != "data" || s3s.reqs[0].Header.Get("X-Amz-Content-Sha256") != emptyHash || s3s.reqs[0].URL.Path != "/bucket/a b/c.txt" {
		t.Errorf("S3 GET: %q, sha256 header %q, path %q", got, s3s.reqs[0].Header.Get("X-Amz-Content-Sha256"), s3s.reqs[0].URL.Path)
	}
}

// dynamoThrottled and friends are error answers as the services send them.
var (
	dynamoThrottled = answer{status: 400, header: map[string]string{"Content-Type": "application/x-amz-json-1.0"},
		body: `{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}`}
	dynamoValidation = answer{status: 400, header: map[string]string{"Content-Type": "application/x-amz-json-1.0"},
		body: `{"__type":"com.amazon.coral.validate#ValidationException","message":"1 validation error detected"}`}
	internal500 = answer{status: 500, body: `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}`}
)

// TestRetries: 5xx and throttling answers are tried again up to
// MaxAttempts, with growing jittered waits; a validation error is not.
func TestRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		attempts int
		answers  []answer
		tries    int
		code     string // "" for success
	}{
		{"500 then ok", 3, []answer{internal500, ok200}, 2, ""},
		{"throttled twice then ok", 3, []answer{dynamoThrottled, dynamoThrottled, ok200}, 3, ""},
		{"throttled every time", 3, []answer{dynamoThrottled}, 3, "ThrottlingException"},
		{"500 every time, 5 attempts", 5, []answer{internal500}, 5, "InternalServerError"},
		{"503 without a body", 2, []answer{{status: 503}}, 2, "ServiceUnavailable"},
		{"validation", 3, []answer{dynamoValidation, ok200}, 1, "ValidationException"},
		{"one attempt", 1, []answer{dynamoThrottled, ok200}, 1, "ThrottlingException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, s, waits := testClient(t, testDynamoDB, tc.attempts, tc.answers...)
			err := c.JSON(t.Context(), "GetItem", map[string]string{"TableName": "t"}, nil)
			if Code(err) != tc.code || (tc.code == "") != (err == nil) {
				t.Errorf("error %v (code %q), want code %q", err, Code(err), tc.code)
			}
			if s.count() != tc.tries {
				t.Errorf("%d tries, want %d", s.count(), tc.tries)
			}
			for i, b := range s.bodies {
				if b != `{"TableName":"t"}` {
					t.Errorf("try %d sent %q", i+1, b)
				}
			}
			if len(*waits) != tc.tries-1 {
				t.Errorf("%d waits for %d tries", len(*waits), tc.tries)
			}
			base := 50 * time.Millisecond
			if tc.answers[0].body == dynamoThrottled.body {
				base = time.Second // a throttled request waits longer, as with the SDK
			}
			for i, d := range *waits {
				if limit := base << i; d <= 0 || d > limit {
					t.Errorf("wait %d: %v, want in (0, %v]", i+1, d, limit)
				}
			}
		})
	}
	if !Retryable(&TransportError{Service: "s", Err: errors.New("reset")}) || Retryable(errors.New("other")) ||
		!Retryable(&Error{Code: "SlowDown", StatusCode: 503}) || !Retryable(&Error{Code: "ProvisionedThroughputExceededException", StatusCode: 400}) {
		t.Error("Retryable misjudges")
	}
}

// TestThrottledWaitsLonger: the first retry of a throttled request waits
// up to 1 s (jittered), as the SDK's standard retryer does, not the 50 ms
// of other errors: a retry within milliseconds would be throttled again.
func TestThrottledWaitsLonger(t *testing.T) {
	for _, tc := range []struct {
		name string
		a    answer
		min  time.Duration // the longest of the waits must exceed it
		max  time.Duration
	}{
		{"ThrottlingException", dynamoThrottled, 50 * time.Millisecond, time.Second},
		{"429 without a code", answer{status: http.StatusTooManyRequests}, 50 * time.Millisecond, time.Second},
		{"500", internal500, 0, 50 * time.Millisecond},
	} {
		c, _, waits := testClient(t, testDynamoDB, 2, tc.a)
		for range 100 {
			_ = c.JSON(t.Context(), "GetItem", struct{}{}, nil)
		}
		longest := time.Duration(0)
		for _, d := range *waits {
			longest = max(longest, d)
		}
		if len(*waits) != 100 || longest <= tc.min || longest > tc.max {
			t.Errorf("%s: %d waits, the longest %v; want 100 waits, the longest in (%v, %v]", tc.name, len(*waits), longest, tc.min, tc.max)
		}
	}
	if throttled(&Error{Code: "InternalServerError", StatusCode: 500}) || !throttled(&Error{Code: "SlowDown", StatusCode: 503}) {
		t.Error("throttled misjudges")
	}
}

// TestTraceHeader: in Lambda every request carries the invocation's X-Ray
// trace (_X_AMZN_TRACE_ID, percent-encoded as the SDK does) in
// X-Amzn-Trace-Id, unsigned; outside Lambda none.
func TestTraceHeader(t *testing.T) {
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "")
	t.Setenv("_X_AMZN_TRACE_ID", "")
	c, s, _ := testClient(t, testDynamoDB, 1, ok200)
	if err := c.JSON(t.Context(), "GetItem", struct{}{}, nil); err != nil {
		t.Fatal(err)
	}
	t.Setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1|68fd508a:5")
	if err := c.JSON(t.Context(), "GetItem", struct{}{}, nil); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "modelreg-api")
	if err := c.JSON(t.Context(), "GetItem", struct{}{}, nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"", "", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1%7C68fd508a:5"}
	for i, r := range s.reqs {
		if got := r.Header.Get("X-Amzn-Trace-Id"); got != want[i] {
			t.Errorf("request %d: X-Amzn-Trace-Id %q, want %q", i+1, got, want[i])
		}
		if strings.Contains(strings.ToLower(r.Header.Get("Authorization")), "x-amzn-trace-id") {
			t.Errorf("request %d: the trace header is signed", i+1)
		}
	}
}

// TestRewind: a body with GetBody is sent again whole; one without is
// sent once, even when the answer asks for a retry.
func TestRewind(t *testing.T) {
	body := "0123456789"
	c, s, _ := testClient(t, testLambda, 3, internal500, answer{status: 200})
	resp, err := c.Do(t.Context(), Request{Method: http.MethodPut, Path: "/x", Body: strings.NewReader(body), ContentLength: int64(len(body)),
		GetBody:     func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil },
		PayloadHash: sigv4test.HashHex([]byte(body))})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if s.count() != 2 || s.bodies[1] != body {
		t.Errorf("rewindable: %d tries, bodies %q", s.count(), s.bodies)
	}
	c, s, _ = testClient(t, testLambda, 3, internal500, answer{status: 200})
	_, err = c.Do(t.Context(), Request{Method: http.MethodPut, Path: "/x", Body: io.MultiReader(strings.NewReader(body)), ContentLength: int64(len(body)),
		PayloadHash: sigv4test.HashHex([]byte(body))})
	if Code(err) != "InternalServerError" || s.count() != 1 {
		t.Errorf("non-rewindable: %v after %d tries, want InternalServerError after 1", err, s.count())
	}
}

// TestCancelStopsBackoff: a context cancelled while waiting to retry ends
// the call with the last answer's error, without another try; one
// cancelled before the call sends nothing.
func TestCancelStopsBackoff(t *testing.T) {
	c, s, _ := testClient(t, testDynamoDB, 5, dynamoThrottled)
	ctx, cancel := context.WithCancel(t.Context())
	c.sleep = func(ctx context.Context, _ time.Duration) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}
	err := c.JSON(ctx, "GetItem", struct{}{}, nil)
	if Code(err) != "ThrottlingException" || s.count() != 1 {
		t.Errorf("cancelled in the backoff: %v after %d tries", err, s.count())
	}
	// The real wait ends with the context too.
	ctx2, cancel2 := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel2()
	start := time.Now()
	if err := sleepCtx(ctx2, time.Hour); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 10*time.Second {
		t.Errorf("sleepCtx: %v after %v", err, time.Since(start))
	}
	ctx3, cancel3 := context.WithCancel(t.Context())
	cancel3()
	if err := c.JSON(ctx3, "GetItem", struct{}{}, nil); !errors.Is(err, context.Canceled) || s.count() != 1 {
		t.Errorf("cancelled before: %v, %d tries", err, s.count())
	}
}

// TestErrorParsing: the codes and messages of error answers as each
// protocol sends them.
func TestErrorParsing(t *testing.T) {
	for _, tc := range []struct {
		name          string
		method        string
		a             answer
		code, message string
		requestID     string
	}{
		{"DynamoDB JSON with namespace", http.MethodPost, answer{status: 400,
			header: map[string]string{"Content-Type": "application/x-amz-json-1.0", "X-Amzn-Requestid": "DDBREQ"},
			body:   `{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"}`},
			"ConditionalCheckFailedException", "The conditional request failed", "DDBREQ"},
		{"S3 XML", http.MethodGet, answer{status: 404, header: map[string]string{"Content-Type": "application/xml"},
			body: `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a/b</Key><RequestId>4442587FB7D0A2F9</RequestId><HostId>h</HostId></Error>`},
			"NoSuchKey", "The specified key does not exist.", "4442587FB7D0A2F9"},
		{"query XML", http.MethodPost, answer{status: 400,
			body: `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>InvalidParameter</Code><Message>Invalid parameter: TopicArn</Message></Error><RequestId>q-1</RequestId></ErrorResponse>`},
			"InvalidParameter", "Invalid parameter: TopicArn", "q-1"},
		{"Lambda X-Amzn-ErrorType", http.MethodPost, answer{status: 404,
			header: map[string]string{"X-Amzn-Errortype": "ResourceNotFoundException:http://internal.amazon.com/coral/com.amazonaws.lambda/", "X-Amzn-Requestid": "LREQ"},
			body:   `{"Type":"User","message":"Function not found: arn:aws:lambda:eu-west-1:1:function:f"}`},
			"ResourceNotFoundException", "Function not found: arn:aws:lambda:eu-west-1:1:function:f", "LREQ"},
		{"Secrets Manager Message", http.MethodPost, answer{status: 400,
			body: `{"__type":"ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret."}`},
			"ResourceNotFoundException", "Secrets Manager can't find the specified secret.", ""},
		{"HEAD 404 without body", http.MethodHead, answer{status: 404, header: map[string]string{"X-Amz-Request-Id": "HEADREQ"}},
			"NotFound", "", "HEADREQ"},
		{"403 without body", http.MethodGet, answer{status: 403}, "Forbidden", "", ""},
		{"412 without body", http.MethodPut, answer{status: 412}, "PreconditionFailed", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, _ := testClient(t, testS3, 1, tc.a)
			_, err := c.Do(t.Context(), Request{Method: tc.method, Path: "/b/k"})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T), want *Error", err, err)
			}
			if e.Code != tc.code || e.Message != tc.message || e.StatusCode != tc.a.status || e.RequestID != tc.requestID || e.Service != "s3" {
				t.Errorf("error %+v, want code %q message %q status %d request id %q", e, tc.code, tc.message, tc.a.status, tc.requestID)
			}
			if !IsCode(err, "Other", tc.code) || IsCode(err, "Other") || !strings.Contains(err.Error(), tc.code) {
				t.Errorf("IsCode/Error() of %v", err)
			}
		})
	}
	if Code(errors.New("plain")) != "" || IsCode(errors.New("plain"), "") {
		t.Error("a plain error has a code")
	}
	// A cancelled call is the context's error, not a transport error.
	var te *TransportError
	c, err := New(Config{Region: testRegion, Credentials: StaticCredentials("a", "b", ""), MaxAttempts: 1}, testLambda, "http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(t.Context(), Request{Method: http.MethodGet, Path: "/"}); !errors.As(err, &te) || !Retryable(err) {
		t.Errorf("unreachable: %v, want a retryable *TransportError", err)
	}
}

// TestEndpoints: the regional endpoint by partition, the environment's
// (the service's variable, then AWS_ENDPOINT_URL), and an emulator's URL
// as given, before both; a URL that is not http(s)://host is refused.
func TestEndpoints(t *testing.T) {
	creds := StaticCredentials("a", "b", "")
	for _, tc := range []struct {
		region, endpoint string
		env              map[string]string
		want             string
		svc              Service
		base             string
	}{
		{"us-east-1", "", nil, "https://dynamodb.us-east-1.amazonaws.com", testDynamoDB, ""},
		{"cn-north-1", "", nil, "https://dynamodb.cn-north-1.amazonaws.com.cn", testDynamoDB, ""},
		{"us-gov-west-1", "", nil, "https://lambda.us-gov-west-1.amazonaws.com", testLambda, ""},
		{"eusc-de-east-1", "", nil, "https://lambda.eusc-de-east-1.amazonaws.eu", testLambda, ""},
		{"us-iso-east-1", "", nil, "https://dynamodb.us-iso-east-1.c2s.ic.gov", testDynamoDB, ""},
		{"us-isob-east-1", "", nil, "https://dynamodb.us-isob-east-1.sc2s.sgov.gov", testDynamoDB, ""},
		{"us-isof-south-1", "", nil, "https://lambda.us-isof-south-1.csp.hci.ic.gov", testLambda, ""},
		{"eu-isoe-west-1", "", nil, "https://lambda.eu-isoe-west-1.cloud.adc-e.uk", testLambda, ""},
		{"eu-west-1", "", nil, "https://lambda.eu-west-1.amazonaws.com", testLambda, ""},
		{"us-east-1", "http://127.0.0.1:4566/", nil, "http://127.0.0.1:4566", testDynamoDB, ""},
		{"us-east-1", "", map[string]string{"AWS_ENDPOINT_URL": "http://all:1"}, "http://all:1", testDynamoDB, ""},
		{"us-east-1", "", map[string]string{"AWS_ENDPOINT_URL": "http://all:1", "AWS_ENDPOINT_URL_DYNAMODB": " http://ddb:2 "}, "http://ddb:2", testDynamoDB, ""},
		{"us-east-1", "", map[string]string{"AWS_ENDPOINT_URL_DYNAMODB": "http://ddb:2"}, "https://lambda.us-east-1.amazonaws.com", testLambda, ""},
		{"us-east-1", "http://given:3", map[string]string{"AWS_ENDPOINT_URL": "http://all:1", "AWS_ENDPOINT_URL_DYNAMODB": "http://ddb:2"}, "http://given:3", testDynamoDB, ""},
		// A profile's endpoint_url (the SDK's BaseEndpoint) comes after both variables.
		{"us-east-1", "", nil, "http://profile:4", testDynamoDB, "http://profile:4"},
		{"us-east-1", "", map[string]string{"AWS_ENDPOINT_URL": "http://all:1"}, "http://all:1", testDynamoDB, "http://profile:4"},
	} {
		getenv := func(k string) string { return tc.env[k] }
		c, err := New(Config{Region: tc.region, Credentials: creds, Getenv: getenv, BaseEndpoint: tc.base}, tc.svc, tc.endpoint)
		if err != nil {
			t.Fatalf("%s %q: %v", tc.region, tc.endpoint, err)
		}
		if got := c.Endpoint().String(); got != tc.want || c.Region() != tc.region {
			t.Errorf("%s %q %v: endpoint %s, want %s", tc.region, tc.endpoint, tc.env, got, tc.want)
		}
	}
	for _, bad := range []string{"127.0.0.1:4566", "ftp://host", "http://", "http://[::1"} {
		if _, err := New(Config{Region: "us-east-1", Credentials: creds}, testDynamoDB, bad); err == nil {
			t.Errorf("endpoint %q accepted", bad)
		}
	}
	if _, err := New(Config{Credentials: creds}, testDynamoDB, ""); !errors.Is(err, ErrNoRegion) {
		t.Errorf("no region: %v", err)
	}
	if _, err := New(Config{Region: "us-east-1"}, testDynamoDB, ""); err == nil {
		t.Error("no credentials accepted")
	}
}

// TestFromEnv: Lambda's variables. Without a region New fails; without
// credentials each request fails, untried and unretried.
func TestFromEnv(t *testing.T) {
	env := map[string]string{"AWS_DEFAULT_REGION": "eu-central-1", "AWS_ACCESS_KEY_ID": "ASIA1", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "tok"}
	get := func(k string) string { return env[k] }
	cfg := FromEnv(get)
	creds, err := cfg.Credentials.Retrieve(t.Context())
	if err != nil || cfg.Region != "eu-central-1" || creds.AccessKeyID != "ASIA1" || creds.SecretAccessKey != "s" || creds.SessionToken != "tok" {
		t.Errorf("FromEnv = %+v, %+v, %v", cfg, creds, err)
	}
	env["AWS_REGION"] = " us-west-2 "
	if cfg := FromEnv(get); cfg.Region != "us-west-2" {
		t.Errorf("AWS_REGION does not win: %q", cfg.Region)
	}
	without := func(keys ...string) Config {
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		for _, k := range keys {
			delete(e, k)
		}
		return FromEnv(func(k string) string { return e[k] })
	}
	if _, err := New(without("AWS_REGION", "AWS_DEFAULT_REGION"), testDynamoDB, ""); !errors.Is(err, ErrNoRegion) {
		t.Errorf("without a region: New = %v, want ErrNoRegion", err)
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		s := &script{answers: []answer{ok200}}
		srv := httptest.NewServer(s)
		c, err := New(without(k), testDynamoDB, srv.URL)
		if err != nil {
			t.Fatalf("without %s: New = %v", k, err)
		}
		err = c.JSON(t.Context(), "GetItem", struct{}{}, nil)
		srv.Close()
		if !errors.Is(err, ErrNoCredentials) || s.count() != 0 || Retryable(err) {
			t.Errorf("without %s: %v after %d requests, want ErrNoCredentials before any", k, err, s.count())
		}
	}
}

// TestFromSDKAndBack: an SDK configuration's region, credentials, HTTP
// client, attempts and base endpoint survive FromSDK and Config.SDK.
func TestFromSDKAndBack(t *testing.T) {
	base := "http://profile:4"
	hc := &http.Client{}
	sdk := aws.Config{Region: "eu-west-2", Credentials: StaticCredentials("a", "b", ""), HTTPClient: hc, RetryMaxAttempts: 5, BaseEndpoint: &base}
	c := FromSDK(sdk)
	if c.Region != "eu-west-2" || c.Credentials == nil || c.HTTP != hc || c.MaxAttempts != 5 || c.BaseEndpoint != base {
		t.Fatalf("FromSDK: %+v", c)
	}
	back := c.SDK()
	if back.Region != sdk.Region || back.HTTPClient != hc || back.RetryMaxAttempts != 5 || back.BaseEndpoint == nil || *back.BaseEndpoint != base {
		t.Fatalf("SDK: %+v", back)
	}
	if got := FromSDK(aws.Config{Region: "us-east-1"}); got.HTTP != nil || got.BaseEndpoint != "" {
		t.Fatalf("FromSDK of a bare config: %+v", got)
	}
}

// TestBrokenAnswerRetried: a 2xx answer whose connection breaks before its
// body ends is sent again (the SDK read answers inside its retry loop),
// and the whole answer of the next try is decoded; when every try breaks,
// the error is a TransportError after MaxAttempts tries.
func TestBrokenAnswerRetried(t *testing.T) {
	for _, breakAll := range []bool{false, true} {
		var tries int
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tries++
			if tries == 1 || breakAll {
				w.Header().Set("Content-Length", "100")
				w.WriteHeader(200)
				w.Write([]byte(`{"Count":`)) //nolint:errcheck
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
				}
				return
			}
			w.Write([]byte(`{"Count":7}`)) //nolint:errcheck
		}))
		c, err := New(Config{Region: testRegion, Credentials: StaticCredentials("a", "b", "")}, testDynamoDB, srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		c.sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
		var out struct{ Count int }
		err = c.JSON(t.Context(), "Query", map[string]string{}, &out)
		var te *TransportError
		switch {
		case !breakAll && (err != nil || out.Count != 7 || tries != 2):
			t.Errorf("one broken answer: %v, count %d after %d tries, want 7 after 2", err, out.Count, tries)
		case breakAll && (!errors.As(err, &te) || tries != 3 || out.Count != 0):
			t.Errorf("every answer broken: %v after %d tries (count %d), want a TransportError after 3", err, tries, out.Count)
		}
		srv.Close()
	}
}
