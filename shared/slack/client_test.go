package slack

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// receiver is a webhook that answers with the statuses it is given, in
// order (then 200), and keeps the bodies it got.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	headers  []http.Header
	bodies   [][]byte
	srv      *httptest.Server
}

func newReceiver(t *testing.T, statuses []int, headers ...http.Header) *receiver {
	r := &receiver{statuses: statuses, headers: headers}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
			t.Errorf("got %s with Content-Type %q", req.Method, req.Header.Get("Content-Type"))
		}
		r.mu.Lock()
		n := len(r.bodies)
		r.bodies = append(r.bodies, body)
		status := http.StatusOK
		if n < len(r.statuses) {
			status = r.statuses[n]
		}
		if n < len(r.headers) {
			for k, v := range r.headers[n] {
				w.Header()[k] = v
			}
		}
		r.mu.Unlock()
		w.WriteHeader(status)
		if status == http.StatusOK {
			io.WriteString(w, "ok")
		} else {
			io.WriteString(w, "no_service")
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

// recordSleep records the waits instead of sleeping.
type recordSleep struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *recordSleep) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits = append(s.waits, d)
	return nil
}

func TestPostRetries(t *testing.T) {
	h := func(k, v string) http.Header { return http.Header{k: {v}} }
	for _, tc := range []struct {
		name     string
		statuses []int
		headers  []http.Header
		want     int // requests made
		waits    []time.Duration
		ok       bool
		perm     bool
	}{
		{name: "ok at once", want: 1, ok: true},
		{name: "5xx then ok", statuses: []int{500, 503}, want: 3, waits: []time.Duration{time.Second, 2 * time.Second}, ok: true},
		{name: "5xx every time", statuses: []int{500, 502, 503, 504}, want: 3, waits: []time.Duration{time.Second, 2 * time.Second}},
		{name: "429 honours Retry-After", statuses: []int{429}, headers: []http.Header{h("Retry-After", "7")}, want: 2, waits: []time.Duration{7 * time.Second}, ok: true},
		{name: "429 asking longer than the call may wait", statuses: []int{429}, headers: []http.Header{h("Retry-After", "120")}, want: 1},
		{name: "404 is not retried", statuses: []int{404}, want: 1, perm: true},
		{name: "400 is not retried", statuses: []int{400}, want: 1, perm: true},
		{name: "410 is not retried", statuses: []int{410}, want: 1, perm: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReceiver(t, tc.statuses, tc.headers...)
			var s recordSleep
			c, err := New(r.srv.URL, WithSleep(s.sleep))
			if err != nil {
				t.Fatal(err)
			}
			err = c.Post(context.Background(), Message{Text: "hi"})
			if (err == nil) != tc.ok {
				t.Fatalf("Post: %v, want ok=%v", err, tc.ok)
			}
			if got := r.count(); got != tc.want {
				t.Errorf("%d requests, want %d", got, tc.want)
			}
			if strings.Join(durs(s.waits), ",") != strings.Join(durs(tc.waits), ",") {
				t.Errorf("waits %v, want %v", s.waits, tc.waits)
			}
			if err != nil {
				if registry.IsPermanent(err) != tc.perm {
					t.Errorf("IsPermanent(%v) = %v, want %v", err, !tc.perm, tc.perm)
				}
				var se *Error
				if !errors.As(err, &se) || se.Status == 0 || se.Attempts != tc.want {
					t.Errorf("error %#v: want an *Error with the status and %d attempts", err, tc.want)
				}
			}
			for _, b := range r.bodies {
				if string(b) != `{"text":"hi"}` {
					t.Errorf("body %s", b)
				}
			}
		})
	}
}

func durs(ds []time.Duration) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.String())
	}
	return out
}

// TestPostHangingReceiver: a receiver that never answers costs one
// attempt timeout per attempt, and the error is retryable.
func TestPostHangingReceiver(t *testing.T) {
	release := make(chan struct{})
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	var s recordSleep
	c, _ := New(srv.URL, WithSleep(s.sleep), WithAttempts(2), WithAttemptTimeout(50*time.Millisecond))
	err := c.Post(context.Background(), Message{Text: "hi"})
	if err == nil || registry.IsPermanent(err) {
		t.Fatalf("Post to a hanging receiver: %v, want a retryable error", err)
	}
	if hits.Load() != 2 {
		t.Errorf("%d attempts, want 2", hits.Load())
	}
	if strings.Contains(err.Error(), srv.URL) {
		t.Errorf("error %q shows the webhook URL (a secret)", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		" 30 ":                          30 * time.Second,
		"-1":                            0,
		"soon":                          0,
		"Wed, 02 Dec 2026 00:00:09 GMT": 9 * time.Second,
		"Tue, 01 Dec 2026 00:00:09 GMT": 0,
	} {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestNewRefusesBadURL(t *testing.T) {
	for _, u := range []string{"", "hooks.slack.com/services/x", "ftp://x"} {
		if _, err := New(u); !registry.IsCode(err, registry.Invalid) {
			t.Errorf("New(%q): %v, want Invalid", u, err)
		}
	}
}

// TestNotifyPostsBlocks: Notify sends Build's message.
func TestNotifyPostsBlocks(t *testing.T) {
	r := newReceiver(t, nil)
	c, _ := New(r.srv.URL)
	n := fixtures()["promoted"]
	if err := c.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	var got, want any
	json.Unmarshal(r.bodies[0], &got)
	b, _ := Build(n).JSON()
	json.Unmarshal(b, &want)
	if !jsonEqual(got, want) {
		t.Errorf("posted %s, want %s", r.bodies[0], b)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
