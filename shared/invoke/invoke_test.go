package invoke

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/modelreg/modelreg/shared/registry"
)

// lambdaServer answers the Lambda Invoke API (POST
// /2015-03-31/functions/NAME/invocations) with status, recording what the
// SDK sent.
type lambdaServer struct {
	mu     sync.Mutex
	status int
	paths  []string
	types  []string
	bodies []string
	signed []bool
}

func (s *lambdaServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.paths = append(s.paths, r.Method+" "+r.URL.Path)
	s.types = append(s.types, r.Header.Get("X-Amz-Invocation-Type"))
	s.bodies = append(s.bodies, string(body))
	s.signed = append(s.signed, strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 "))
	status := s.status
	s.mu.Unlock()
	if status == http.StatusTooManyRequests {
		w.Header().Set("X-Amzn-Errortype", "TooManyRequestsException")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"message":"Rate exceeded","Type":"User"}`))
		return
	}
	w.WriteHeader(status)
}

func client(url string) *awslambda.Client {
	return awslambda.New(awslambda.Options{Region: "eu-west-1", BaseEndpoint: aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
		RetryMaxAttempts: 1})
}

func TestInvokeVerifyIsAsync(t *testing.T) {
	srv := &lambdaServer{status: http.StatusAccepted}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	l, err := New(client(ts.URL), "modelreg-verify-upload")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.InvokeVerify(t.Context(), registry.VerifyRequest{Model: "fraud", Version: 3, UploadID: "01UP"}); err != nil {
		t.Fatal(err)
	}
	if len(srv.paths) != 1 || srv.paths[0] != "POST /2015-03-31/functions/modelreg-verify-upload/invocations" {
		t.Fatalf("requests %v", srv.paths)
	}
	if srv.types[0] != "Event" || !srv.signed[0] {
		t.Errorf("invocation type %q, signed %v: want an asynchronous (Event), signed invoke", srv.types[0], srv.signed[0])
	}
	var p VerifyPayload
	dec := json.NewDecoder(strings.NewReader(srv.bodies[0]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil || p != (VerifyPayload{Model: "fraud", Version: 3, UploadID: "01UP"}) {
		t.Errorf("payload %s (%v)", srv.bodies[0], err)
	}
}

func TestInvokeVerifyErrors(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   registry.Code
	}{
		{http.StatusTooManyRequests, registry.Unavailable},
		{http.StatusInternalServerError, registry.Unavailable},
		{http.StatusOK, registry.Internal}, // a synchronous answer: not what was asked
	} {
		srv := &lambdaServer{status: tc.status}
		ts := httptest.NewServer(srv)
		l, _ := New(client(ts.URL), "f")
		err := l.InvokeVerify(t.Context(), registry.VerifyRequest{Model: "m", Version: 1, UploadID: "u"})
		ts.Close()
		if err == nil || registry.ErrorCode(err) != tc.code {
			t.Errorf("status %d: error %v (code %s), want %s", tc.status, err, registry.ErrorCode(err), tc.code)
		}
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
}
