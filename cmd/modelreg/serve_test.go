package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// TestServerCutsStalledBody: a request whose body stalls (Content-Length
// 100, 8 bytes sent) is answered and closed once the read timeout has
// passed, instead of holding the connection forever.
func TestServerCutsStalledBody(t *testing.T) {
	s := startServer(t, t.TempDir(), "MODELREG_READ_TIMEOUT=1s")
	u, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/models HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":", u.Host, adminToken)
	start := time.Now()
	conn.SetReadDeadline(start.Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	took := time.Since(start)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server still holds a stalled request after %v", took)
	}
	if err != nil {
		t.Fatalf("no answer to a stalled request: %v", err)
	}
	var body struct {
		Error struct{ Code, Message string }
	}
	_ = json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(body.Error.Message, "stalled") {
		t.Errorf("a stalled request answered %d %q, want 400 saying it stalled", res.StatusCode, body.Error.Message)
	}
	if took > 5*time.Second {
		t.Errorf("the stalled request was cut after %v, want about 1s", took)
	}
}

// TestServerAnswersUncleanPathsInJSON: the server does not redirect
// /v1/models/.. (ServeMux's HTML 307) but answers a JSON error.
func TestServerAnswersUncleanPathsInJSON(t *testing.T) {
	s := startServer(t, t.TempDir())
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"/v1/models/..", "/v1/models//versions", "/blobs/../v1/health", "/blobs", "/v1", "/models/../v1/health"} {
		req, err := http.NewRequest("GET", s.url+p, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = p // send the path as it is, uncleaned
		req.Header.Set("Authorization", "Bearer "+adminToken)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error struct{ Code, Message string }
		}
		err = json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		if res.StatusCode/100 != 4 || err != nil || body.Error.Code == "" || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
			t.Errorf("GET %s = %d %s (Location %q), want a 4xx JSON error", p, res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Location"))
		}
	}
}

// TestServeRefusesUnworkableBackends: a backend choice the composition root
// refuses is a usage error (exit 2) naming the flag to fix, and the server
// does not start.
func TestServeRefusesUnworkableBackends(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--store", "postgres"}, "--store"},
		{[]string{"--artifacts", "s3"}, "--s3-bucket"},
		{[]string{"--workflow", "sfn"}, "--state-machine-arn"},
		{[]string{"--workflow", "temporal"}, "--workflow"},
		{[]string{"--events", "kafka"}, "--events"},
		{[]string{"--events", "eventbridge"}, "--event-bus"},
		{[]string{"--upload-grace", "0s"}, "--upload-grace"},
		{[]string{"--upload-sweep-interval", "-1m"}, "--upload-sweep-interval"},
	}
	for _, tc := range cases {
		args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, tc.args...)
		r := runBinary(t, append(os.Environ(), "MODELREG_ADMIN_TOKEN="+adminToken), args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stdout, "listening") {
			t.Errorf("serve %v: exit %d\nstdout: %s\nstderr: %s\nwant exit %d naming %s", tc.args, r.code, r.stdout, r.stderr, exitUsage, tc.want)
		}
	}
}
