package awsapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestClockSkew: a clock an hour behind the service's gets its first
// request refused (RequestTimeTooSkewed); the answer's Date corrects it, the
// request is sent again at once signed at the service's time, and later
// requests are signed so too. A refused signature from a clock that is
// right is not tried again.
func TestClockSkew(t *testing.T) {
	const ahead = time.Hour // the service's clock, ahead of ours
	var mu sync.Mutex
	var dates []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
		if err != nil {
			t.Errorf("X-Amz-Date %q: %v", r.Header.Get("X-Amz-Date"), err)
		}
		mu.Lock()
		dates = append(dates, at)
		mu.Unlock()
		serverNow := time.Now().Add(ahead)
		w.Header().Set("Date", serverNow.UTC().Format(http.TimeFormat))
		if d := serverNow.Sub(at); d > 5*time.Minute || d < -5*time.Minute {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between the request time and the current time is too large.</Message></Error>`))
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{Region: testRegion, Credentials: StaticCredentials("AKID", "SECRET", "")}, testS3, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	c.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	for i := range 2 {
		resp, err := c.Do(t.Context(), Request{Method: http.MethodGet, Path: "/b/k"})
		if err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		resp.Body.Close()
	}
	if len(dates) != 3 {
		t.Fatalf("%d tries for 2 requests, want 3 (one refused for the skew)", len(dates))
	}
	for i, at := range dates[1:] {
		if d := time.Until(at) - ahead; d > 5*time.Second || d < -5*time.Second {
			t.Errorf("try %d signed at %v, %v off the service's clock", i+2, at, d)
		}
	}

	// A clock that is right: a refused signature is final.
	var tries int
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tries++
		w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`<Error><Code>SignatureDoesNotMatch</Code></Error>`))
	}))
	t.Cleanup(srv2.Close)
	c2, err := New(Config{Region: testRegion, Credentials: StaticCredentials("AKID", "SECRET", "")}, testS3, srv2.URL)
	if err != nil {
		t.Fatal(err)
	}
	c2.sleep = c.sleep
	if _, err := c2.Do(t.Context(), Request{Method: http.MethodGet, Path: "/b/k"}); Code(err) != "SignatureDoesNotMatch" || tries != 1 {
		t.Errorf("%v after %d tries, want SignatureDoesNotMatch after 1", err, tries)
	}
}
