package main

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/webhook"
)

// The golden value of shared/webhook's test (computed with openssl).
const golden = "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"

func TestVerify(t *testing.T) {
	secret, body, at := []byte("whsec_test"), []byte(`{"a":1}`), time.Unix(1700000000, 0)
	for _, c := range []struct {
		name   string
		header string
		body   []byte
		now    time.Time
		ok     bool
	}{
		{"golden", golden, body, at.Add(time.Minute), true},
		{"signed by shared/webhook", webhook.Sign(secret, at, body), body, at, true},
		{"older than 5 minutes", golden, body, at.Add(5*time.Minute + time.Second), false},
		{"in the future", golden, body, at.Add(-6 * time.Minute), false},
		{"tampered body", golden, []byte(`{"a":2}`), at, false},
		{"wrong secret", webhook.Sign([]byte("other"), at, body), body, at, false},
		{"malformed", "v1=abc", body, at, false},
		{"empty", "", body, at, false},
	} {
		if err := verify(secret, c.header, c.body, c.now); (err == nil) != c.ok {
			t.Errorf("%s: verify = %v, want ok=%v", c.name, err, c.ok)
		}
	}
}

// TestReceiver: the real client delivers to the receiver; a repeated
// event id deploys once; a wrong signature is 401, which the client does
// not retry.
func TestReceiver(t *testing.T) {
	var mu sync.Mutex
	var deployed [][]byte
	rc := &receiver{secret: []byte("s3cret"), seen: map[string]bool{}, deploy: func(b []byte) { mu.Lock(); deployed = append(deployed, b); mu.Unlock() }}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	c := webhook.New(webhook.Options{AllowPrivate: true, Backoff: time.Millisecond})
	d := webhook.Delivery{URL: srv.URL, Secret: []byte("s3cret"), EventID: "ev-1", Body: []byte(`{"model":"m","version":2}`)}
	for i := 0; i < 2; i++ {
		if _, err := c.Deliver(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	if len(deployed) != 1 || !bytes.Equal(deployed[0], d.Body) {
		t.Fatalf("deployed %q", deployed)
	}
	d.Secret, d.EventID = []byte("wrong"), "ev-2"
	_, err := c.Deliver(context.Background(), d)
	var we *webhook.Error
	if !errors.As(err, &we) || we.Status != 401 || we.Attempts != 1 || we.Retryable {
		t.Fatalf("wrong secret: %v", err)
	}
}

// TestREADMEShowsVerify: README.md's Go snippet is verify as it is here.
func TestREADMEShowsVerify(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("receiver.go")
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	start := strings.Index(s, "// verify checks")
	end := strings.Index(s, "// receiver accepts")
	fn := strings.TrimSpace(s[start:end])
	if !strings.Contains(string(readme), fn) {
		t.Fatal("README.md (section Webhooks) does not show verify from examples/webhook/receiver.go as it is")
	}
}
