package webhook

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver records what it got and answers with the statuses queued.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	got      []*http.Request
	bodies   [][]byte
	delay    time.Duration
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.got = append(r.got, req)
	r.bodies = append(r.bodies, body)
	status := http.StatusOK
	if len(r.statuses) > 0 {
		status, r.statuses = r.statuses[0], r.statuses[1:]
	}
	delay := r.delay
	r.delay = 0
	r.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-req.Context().Done():
			return
		}
	}
	if status == http.StatusFound {
		http.Redirect(w, req, "/elsewhere", status)
		return
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte("receiver says " + http.StatusText(status)))
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func fastClient(o Options) *Client {
	o.AllowPrivate = true // httptest listens on loopback
	if o.Backoff == 0 {
		o.Backoff = time.Millisecond
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	return New(o)
}

func TestDeliverHeadersAndSignature(t *testing.T) {
	rec := &receiver{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	secret := []byte("s3cret")
	body := []byte(`{"event_id":"ev-1","model":"m"}`)
	res, err := fastClient(Options{}).Deliver(context.Background(), Delivery{URL: srv.URL + "/hook", Secret: secret, EventID: "ev-1", Body: body})
	if err != nil || res.Attempts != 1 || res.Status != 200 {
		t.Fatalf("Deliver = %+v, %v", res, err)
	}
	req := rec.got[0]
	if req.Method != http.MethodPost || req.URL.Path != "/hook" {
		t.Fatalf("got %s %s", req.Method, req.URL.Path)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if id := req.Header.Get(HeaderEventID); id != "ev-1" {
		t.Errorf("%s = %q", HeaderEventID, id)
	}
	if string(rec.bodies[0]) != string(body) {
		t.Errorf("body = %s", rec.bodies[0])
	}
	if err := Verify(secret, req.Header.Get(HeaderSignature), rec.bodies[0], time.Now(), 0); err != nil {
		t.Errorf("signature does not verify: %v", err)
	}
}

func TestDeliverRetries(t *testing.T) {
	cases := []struct {
		name       string
		statuses   []int
		wantCalls  int
		wantErr    bool
		retryable  bool
		wantStatus int
	}{
		{"503 then 200", []int{503, 200}, 2, false, false, 0},
		{"500, 502, 504 then 200", []int{500, 502, 504, 200}, 4, false, false, 0},
		{"429 then 200", []int{429, 200}, 2, false, false, 0},
		{"5xx every time: bounded", []int{500, 500, 500, 500, 500, 500}, 4, true, true, 500},
		{"400 not retried", []int{400, 200}, 1, true, false, 400},
		{"404 not retried", []int{404, 200}, 1, true, false, 404},
		{"410 not retried", []int{410, 200}, 1, true, false, 410},
		{"redirect not followed", []int{302, 200}, 1, true, false, 302},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := &receiver{statuses: append([]int(nil), c.statuses...)}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			_, err := fastClient(Options{MaxAttempts: 4}).Deliver(context.Background(), Delivery{URL: srv.URL, Secret: []byte("k"), EventID: "e", Body: []byte("{}")})
			if rec.count() != c.wantCalls {
				t.Errorf("receiver got %d calls, want %d", rec.count(), c.wantCalls)
			}
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				var we *Error
				if !errors.As(err, &we) || we.Retryable != c.retryable || we.Status != c.wantStatus || we.Attempts != c.wantCalls {
					t.Fatalf("err = %#v", err)
				}
				if c.wantStatus != 302 && !strings.Contains(err.Error(), "receiver says") {
					t.Errorf("error does not name the answer: %v", err)
				}
			}
		})
	}
}

func TestDeliverTimeoutRetried(t *testing.T) {
	rec := &receiver{delay: time.Second}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	res, err := fastClient(Options{Timeout: 100 * time.Millisecond}).Deliver(context.Background(), Delivery{URL: srv.URL, Secret: []byte("k"), EventID: "e", Body: []byte("{}")})
	if err != nil || res.Attempts != 2 {
		t.Fatalf("Deliver = %+v, %v; want success on the second attempt after a timeout", res, err)
	}
}

func TestDeliverConnectionRefusedRetried(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	_, err = fastClient(Options{MaxAttempts: 3}).Deliver(context.Background(), Delivery{URL: "http://" + addr, Secret: []byte("k"), EventID: "e", Body: []byte("{}")})
	var we *Error
	if !errors.As(err, &we) || we.Attempts != 3 || !we.Retryable || we.Status != 0 {
		t.Fatalf("err = %#v, want 3 retryable attempts", err)
	}
}

func TestDeliverCancel(t *testing.T) {
	rec := &receiver{statuses: []int{503, 503, 503}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	c := fastClient(Options{Backoff: time.Hour, MaxBackoff: time.Hour})
	go func() {
		for rec.count() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := c.Deliver(ctx, Delivery{URL: srv.URL, Secret: []byte("k"), EventID: "e", Body: []byte("{}")})
	if !errors.Is(err, context.Canceled) || rec.count() != 1 {
		t.Fatalf("err = %v after %d calls, want canceled during the backoff", err, rec.count())
	}
}

// Without AllowPrivate the dialer refuses loopback even when the URL names
// it by a host name that a URL check never saw (DNS rebinding: the name
// resolved to a public address when the target was stored).
func TestDeliverRefusesPrivateAtDial(t *testing.T) {
	rec := &receiver{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	c := New(Options{Backoff: time.Millisecond})
	for _, u := range []string{srv.URL, "http://localhost:" + port + "/hook"} {
		_, err := c.Deliver(context.Background(), Delivery{URL: u, Secret: []byte("k"), EventID: "e", Body: []byte("{}")})
		var we *Error
		var be *BlockedError
		if !errors.As(err, &we) || we.Retryable || we.Attempts != 1 || !errors.As(err, &be) {
			t.Fatalf("Deliver(%s) = %#v, want one refused, non-retryable attempt", u, err)
		}
	}
	if rec.count() != 0 {
		t.Fatalf("receiver got %d calls", rec.count())
	}
}
