package awsapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestRedirects: with the default HTTP client, a 302 (or 301, 303) is the
// answer, an error, never followed as a GET elsewhere; a 307 is followed
// with the same method and body, and the session token does not go to
// another host.
func TestRedirects(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, "other "+r.Method+" token="+r.Header.Get("X-Amz-Security-Token"))
		mu.Unlock()
	}))
	t.Cleanup(other.Close)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+string(body))
		mu.Unlock()
		switch r.URL.Path {
		case "/found":
			w.Header().Set("Location", other.URL+"/login")
			w.WriteHeader(http.StatusFound)
		case "/temporary":
			w.Header().Set("Location", "/moved")
			w.WriteHeader(http.StatusTemporaryRedirect)
		case "/away":
			w.Header().Set("Location", other.URL+"/x")
			w.WriteHeader(http.StatusTemporaryRedirect)
		}
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{Region: testRegion, Credentials: StaticCredentials("AKID", "SECRET", "TOKEN"), MaxAttempts: 1}, testLambda, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	put := func(path string) error {
		body := "payload"
		resp, err := c.Do(t.Context(), Request{Method: http.MethodPut, Path: path, Body: strings.NewReader(body), ContentLength: int64(len(body)),
			GetBody: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }, PayloadHash: UnsignedPayload})
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := put("/found"); Code(err) != "Found" {
		t.Errorf("302: %v, want the error Found", err)
	}
	if err := put("/temporary"); err != nil {
		t.Errorf("307: %v", err)
	}
	if err := put("/away"); err != nil {
		t.Errorf("307 to another host: %v", err)
	}
	want := []string{"PUT /found payload", "PUT /temporary payload", "PUT /moved payload", "PUT /away payload", "other PUT token="}
	if !slices.Equal(seen, want) {
		t.Errorf("requests %q, want %q", seen, want)
	}
}
