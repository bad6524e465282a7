package invoke

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/client/sigv4test"
	"github.com/modelreg/modelreg/shared/registry"
)

// lambdaServer answers the Lambda Invoke API (POST
// /2015-03-31/functions/NAME/invocations) with status (statuses, in turn,
// first), recording what the client sent. Error answers are Lambda's
// (X-Amzn-ErrorType and a JSON body, as in the Lambda API Reference).
type lambdaServer struct {
	mu       sync.Mutex
	status   int
	statuses []int
	uris     []string
	paths    []string
	types    []string
	bodies   []string
}

func (s *lambdaServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.uris = append(s.uris, r.RequestURI)
	s.paths = append(s.paths, r.Method+" "+r.URL.Path)
	s.types = append(s.types, r.Header.Get("X-Amz-Invocation-Type"))
	s.bodies = append(s.bodies, string(body))
	status := s.status
	if len(s.statuses) > 0 {
		status, s.statuses = s.statuses[0], s.statuses[1:]
	}
	s.mu.Unlock()
	w.Header().Set("X-Amzn-Requestid", "c6e1a8b0-0000-4000-8000-000000000000")
	switch status {
	case http.StatusTooManyRequests:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-Errortype", "TooManyRequestsException")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"Reason":"ReservedFunctionConcurrentInvocationLimitExceeded","Type":"User","message":"Rate Exceeded."}`))
		return
	case http.StatusNotFound:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-Errortype", "ResourceNotFoundException")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"Type":"User","message":"Function not found: arn:aws:lambda:eu-west-1:123456789012:function:f"}`))
		return
	}
	w.WriteHeader(status) // 202: an empty body
}

// server starts srv behind a SigV4 verifier (temporary credentials) and
// returns a client of it making up to attempts tries; the test fails if a
// request's signature does not hold.
func server(t *testing.T, srv *lambdaServer, attempts int) *awsapi.Client {
	t.Helper()
	v := &sigv4test.Verifier{Region: "eu-west-1", Service: "lambda", Next: srv,
		Keys: []sigv4test.Key{{AccessKeyID: "ASIALAMBDA", SecretAccessKey: "SECRET", SessionToken: "TOKEN"}}}
	ts := httptest.NewServer(v)
	t.Cleanup(ts.Close)
	t.Cleanup(func() {
		for _, s := range v.Seen() {
			if s.Err != nil {
				t.Errorf("%s %s: signature refused: %v", s.Method, s.Path, s.Err)
			}
		}
	})
	c, err := awsapi.New(awsapi.Config{Region: "eu-west-1", Credentials: awsapi.StaticCredentials("ASIALAMBDA", "SECRET", "TOKEN"),
		MaxAttempts: attempts}, Service, ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestInvokeVerifyIsAsync(t *testing.T) {
	srv := &lambdaServer{status: http.StatusAccepted}
	l, err := New(server(t, srv, 1), "modelreg-verify-upload")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.InvokeVerify(t.Context(), registry.VerifyRequest{Model: "fraud", Version: 3, UploadID: "01UP"}); err != nil {
		t.Fatal(err)
	}
	if len(srv.paths) != 1 || srv.paths[0] != "POST /2015-03-31/functions/modelreg-verify-upload/invocations" {
		t.Fatalf("requests %v", srv.paths)
	}
	if srv.types[0] != "Event" {
		t.Errorf("invocation type %q: want an asynchronous (Event) invoke", srv.types[0])
	}
	var p VerifyPayload
	dec := json.NewDecoder(strings.NewReader(srv.bodies[0]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil || p != (VerifyPayload{Model: "fraud", Version: 3, UploadID: "01UP"}) {
		t.Errorf("payload %s (%v)", srv.bodies[0], err)
	}
}

// TestInvokeByARN: a function named by its ARN goes in the path as one
// escaped label, as the SDK sends it.
func TestInvokeByARN(t *testing.T) {
	srv := &lambdaServer{status: http.StatusAccepted}
	arn := "arn:aws:lambda:eu-west-1:123456789012:function:modelreg-verify-upload:live"
	l, _ := New(server(t, srv, 1), arn)
	if err := l.Send(t.Context(), VerifyPayload{Model: "m", Version: 1, UploadID: "u"}); err != nil {
		t.Fatal(err)
	}
	want := "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3Amodelreg-verify-upload%3Alive/invocations"
	if len(srv.uris) != 1 || srv.uris[0] != want || srv.paths[0] != "POST /2015-03-31/functions/"+arn+"/invocations" {
		t.Errorf("requests %v (%v), want %s", srv.uris, srv.paths, want)
	}
}

func TestInvokeVerifyErrors(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   registry.Code
		aws    string // the AWS error code kept as the cause
	}{
		{http.StatusTooManyRequests, registry.Unavailable, "TooManyRequestsException"},
		{http.StatusInternalServerError, registry.Unavailable, "InternalServerError"},
		{http.StatusNotFound, registry.Internal, "ResourceNotFoundException"},
		{http.StatusOK, registry.Internal, ""}, // a synchronous answer: not what was asked
	} {
		srv := &lambdaServer{status: tc.status}
		l, _ := New(server(t, srv, 1), "f")
		err := l.InvokeVerify(t.Context(), registry.VerifyRequest{Model: "m", Version: 1, UploadID: "u"})
		if err == nil || registry.ErrorCode(err) != tc.code {
			t.Errorf("status %d: error %v (code %s), want %s", tc.status, err, registry.ErrorCode(err), tc.code)
		}
		if got := awsapi.Code(err); got != tc.aws {
			t.Errorf("status %d: AWS code %q, want %q", tc.status, got, tc.aws)
		}
	}
	// Unreachable: Unavailable.
	c, _ := awsapi.New(awsapi.Config{Region: "eu-west-1", Credentials: awsapi.StaticCredentials("A", "S", ""), MaxAttempts: 1}, Service, "http://127.0.0.1:1")
	l, _ := New(c, "f")
	var te *awsapi.TransportError
	if err := l.InvokeVerify(t.Context(), registry.VerifyRequest{Model: "m", Version: 1, UploadID: "u"}); !registry.IsCode(err, registry.Unavailable) || !errors.As(err, &te) {
		t.Errorf("Lambda unreachable: %v, want Unavailable", err)
	}
}

// TestThrottledRetried: a throttled invoke is tried again with the same
// payload; one throttled on every try is Unavailable.
func TestThrottledRetried(t *testing.T) {
	srv := &lambdaServer{status: http.StatusAccepted, statuses: []int{http.StatusTooManyRequests, http.StatusTooManyRequests}}
	l, _ := New(server(t, srv, 3), "f")
	if err := l.Send(t.Context(), VerifyPayload{Model: "m", Version: 2, UploadID: "u"}); err != nil {
		t.Fatalf("Send after two throttled tries: %v", err)
	}
	if len(srv.bodies) != 3 || srv.bodies[0] != srv.bodies[2] || srv.bodies[0] != `{"model":"m","version":2,"upload_id":"u"}` {
		t.Errorf("bodies sent %q, want the payload three times", srv.bodies)
	}
	srv = &lambdaServer{status: http.StatusTooManyRequests}
	l, _ = New(server(t, srv, 2), "f")
	if err := l.Send(t.Context(), VerifyPayload{Model: "m", Version: 2, UploadID: "u"}); !registry.IsCode(err, registry.Unavailable) || len(srv.bodies) != 2 {
		t.Errorf("always throttled: %v after %d tries, want Unavailable after 2", err, len(srv.bodies))
	}
}

func TestPayloadCheck(t *testing.T) {
	if err := (VerifyPayload{Model: "m", Version: 1, UploadID: "u"}).Check(); err != nil {
		t.Error(err)
	}
	for _, p := range []VerifyPayload{{Version: 1, UploadID: "u"}, {Model: "m", UploadID: "u"}, {Model: "m", Version: 1}} {
		if err := p.Check(); !registry.IsCode(err, registry.Invalid) {
			t.Errorf("%+v: %v, want Invalid", p, err)
		}
	}
	if _, err := New(nil, "f"); err == nil {
		t.Error("New accepted no client")
	}
}
