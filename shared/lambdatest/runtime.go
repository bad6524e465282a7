// Package lambdatest runs a built Lambda function binary the way Lambda runs
// it, for tests: a small Lambda Runtime API server (version 2018-06-01: GET
// next, POST response, POST error, POST init/error) on 127.0.0.1, and the
// bootstrap process started with AWS_LAMBDA_RUNTIME_API pointing at it —
// natively, or an arm64 build under qemu-aarch64-static (labelled emulated).
//
// A test builds the function (Build), starts it (Start) and calls Invoke
// with each sample event; Invoke returns what the function posted, its
// response or its error, or fails if the process exits first.
package lambdatest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// apiPrefix is the path prefix of every Runtime API route.
const apiPrefix = "/2018-06-01/runtime/"

// FunctionError is what a function posted to …/error or init/error: the
// error type from the Lambda-Runtime-Function-Error-Type header (or the
// body's errorType) and the body's errorMessage, with the raw body.
type FunctionError struct {
	Type    string
	Message string
	Body    []byte
}

// Error returns the error's type and message.
func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// Result is the outcome of one invocation: exactly one of Payload (what the
// function posted to …/response) and Error (what it posted to …/error).
type Result struct {
	RequestID string
	Payload   []byte
	Error     *FunctionError
}

// invocation is a queued or running invocation.
type invocation struct {
	id      string
	payload []byte
	done    chan Result // buffered 1
}

// Server is a Lambda Runtime API server on 127.0.0.1. Invocations are
// handed to the function one at a time, in the order Invoke queues them.
type Server struct {
	srv      *http.Server
	ln       net.Listener
	queue    chan *invocation
	deadline time.Duration
	arn      string

	mu        sync.Mutex
	running   map[string]*invocation
	initErr   *FunctionError
	initDone  chan struct{} // closed at the first init/error
	firstNext time.Time
	nextSeen  chan struct{} // closed at the first GET next
	nextID    int
}

// NewServer starts a Runtime API server on a free loopback port. deadline
// is each invocation's time limit, sent as Lambda-Runtime-Deadline-Ms
// (zero means 15 minutes, Lambda's maximum). Close stops it.
func NewServer(deadline time.Duration) (*Server, error) {
	if deadline <= 0 {
		deadline = 15 * time.Minute
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("runtime API: listen: %w", err)
	}
	s := &Server{
		ln: ln, queue: make(chan *invocation, 64), deadline: deadline,
		arn:     "arn:aws:lambda:us-east-1:123456789012:function:lambdatest",
		running: map[string]*invocation{}, initDone: make(chan struct{}), nextSeen: make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+apiPrefix+"invocation/next", s.next)
	mux.HandleFunc("POST "+apiPrefix+"invocation/{id}/response", s.response)
	mux.HandleFunc("POST "+apiPrefix+"invocation/{id}/error", s.invocationError)
	mux.HandleFunc("POST "+apiPrefix+"init/error", s.initError)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln) //nolint:errcheck // ends with ErrServerClosed at Close
	return s, nil
}

// Address is the host:port to set as AWS_LAMBDA_RUNTIME_API.
func (s *Server) Address() string { return s.ln.Addr().String() }

// Close stops the server; a function blocked in GET next gets an error.
func (s *Server) Close() error { return s.srv.Close() }

// FirstNext reports when the function first asked for an invocation (the
// end of its init phase), or the zero time if it has not yet.
func (s *Server) FirstNext() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.firstNext
}

// NextSeen is closed when the function first asks for an invocation.
func (s *Server) NextSeen() <-chan struct{} { return s.nextSeen }

// InitError returns what the function posted to init/error, or nil.
func (s *Server) InitError() *FunctionError {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.initErr
}

// InitErrorPosted is closed when the function posts to init/error.
func (s *Server) InitErrorPosted() <-chan struct{} { return s.initDone }

// queueInvocation queues payload and returns its invocation.
func (s *Server) queueInvocation(payload []byte) *invocation {
	s.mu.Lock()
	s.nextID++
	id := fmt.Sprintf("lambdatest-%08d", s.nextID)
	s.mu.Unlock()
	inv := &invocation{id: id, payload: payload, done: make(chan Result, 1)}
	s.queue <- inv
	return inv
}

// next hands the function the next invocation, blocking until there is one.
func (s *Server) next(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.firstNext.IsZero() {
		s.firstNext = time.Now()
		close(s.nextSeen)
	}
	s.mu.Unlock()
	var inv *invocation
	select {
	case inv = <-s.queue:
	case <-r.Context().Done():
		return
	}
	s.mu.Lock()
	s.running[inv.id] = inv
	s.mu.Unlock()
	h := w.Header()
	h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(s.deadline).UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", s.arn)
	h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0")
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(inv.payload) //nolint:errcheck // the function reads it or dies
}

// finish completes the running invocation id with res; false if none runs.
func (s *Server) finish(id string, res Result) bool {
	s.mu.Lock()
	inv, ok := s.running[id]
	delete(s.running, id)
	s.mu.Unlock()
	if !ok {
		return false
	}
	res.RequestID = id
	inv.done <- res
	return true
}

// errorResponse answers a Runtime API call the way Lambda does when it is
// refused (an unknown or already answered request id: 400).
func errorResponse(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"errorType": typ, "errorMessage": msg}) //nolint:errcheck
}

// maxPayload is Lambda's synchronous response limit (6 MB).
const maxPayload = 6 * 1024 * 1024

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPayload))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			errorResponse(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "response over 6 MB")
		} else {
			errorResponse(w, http.StatusBadRequest, "InvalidRequestContent", err.Error())
		}
		return nil, false
	}
	return b, true
}

func (s *Server) response(w http.ResponseWriter, r *http.Request) {
	b, ok := readBody(w, r)
	if !ok {
		return
	}
	if !s.finish(r.PathValue("id"), Result{Payload: b}) {
		errorResponse(w, http.StatusBadRequest, "InvalidRequestID", "no running invocation "+r.PathValue("id"))
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// parseError reads a posted error body: JSON {errorType, errorMessage}
// (what aws-lambda-go sends); the header's type wins when present.
func parseError(r *http.Request, body []byte) *FunctionError {
	var m struct {
		Type    string `json:"errorType"`
		Message string `json:"errorMessage"`
	}
	_ = json.Unmarshal(body, &m) // a non-JSON body keeps its raw bytes
	fe := &FunctionError{Type: m.Type, Message: m.Message, Body: bytes.Clone(body)}
	if t := r.Header.Get("Lambda-Runtime-Function-Error-Type"); t != "" {
		fe.Type = t
	}
	if fe.Type == "" {
		fe.Type = "Unhandled"
	}
	return fe
}

func (s *Server) invocationError(w http.ResponseWriter, r *http.Request) {
	b, ok := readBody(w, r)
	if !ok {
		return
	}
	if !s.finish(r.PathValue("id"), Result{Error: parseError(r, b)}) {
		errorResponse(w, http.StatusBadRequest, "InvalidRequestID", "no running invocation "+r.PathValue("id"))
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (s *Server) initError(w http.ResponseWriter, r *http.Request) {
	b, ok := readBody(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.initErr != nil || !s.firstNext.IsZero() {
		// Lambda accepts init/error once, and only during init.
		errorResponse(w, http.StatusForbidden, "InvalidStateTransition", "init/error after init or twice")
		return
	}
	s.initErr = parseError(r, b)
	close(s.initDone)
	w.WriteHeader(http.StatusAccepted)
}

// runtimeEnv is the environment Lambda gives a provided.al2023 function,
// less AWS_LAMBDA_RUNTIME_API (added by Start).
func runtimeEnv(name string) []string {
	return []string{
		"AWS_LAMBDA_FUNCTION_NAME=" + name,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + name,
		"AWS_LAMBDA_LOG_STREAM_NAME=lambdatest",
		"AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_EXECUTION_ENV=AWS_Lambda_provided.al2023",
		"_HANDLER=bootstrap",
		"LAMBDA_TASK_ROOT=/var/task",
		"TZ=:UTC",
	}
}

// sanitize keeps a name usable in an environment value.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '=' || r < 0x20 {
			return '-'
		}
		return r
	}, s)
}
