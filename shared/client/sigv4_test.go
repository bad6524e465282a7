package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/modelreg/modelreg/shared/client/sigv4test"
	"github.com/modelreg/modelreg/shared/httpapi"
)

// Fixed test credentials (temporary ones: with a session token).
const (
	testKeyID   = "AKIAMODELREGTEST0001"
	testSecret  = "modelreg/test/secret/0123456789abcdefABCDEF"
	testSession = "FwoGZXIvYXdzEmodelregSessionToken//+=="
	testRegion  = "eu-west-1"
)

var testKey = sigv4test.Key{AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: testSession}

// seenRequest is what the API behind the verifier received.
type seenRequest struct {
	method, path string
	query        map[string][]string
	body         string
}

// api is a stand-in API behind a verifier: it records each verified
// request and answers {} (or what fail says).
type api struct {
	mu   sync.Mutex
	seen []seenRequest
	// fail, if set, may answer a request instead (true: answered).
	fail func(w http.ResponseWriter, r *http.Request, n int) bool
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	a.seen = append(a.seen, seenRequest{r.Method, r.URL.Path, r.URL.Query(), string(body)})
	n := len(a.seen)
	a.mu.Unlock()
	if a.fail != nil && a.fail(w, r, n) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, "{}")
}

func (a *api) requests() []seenRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.seen)
}

// signedServer starts a verifier accepting keys in front of next, and a
// client signing with creds for testRegion that also holds a bearer
// token (which must never be sent).
func signedServer(t *testing.T, next http.Handler, creds aws.CredentialsProvider, keys ...sigv4test.Key) (*sigv4test.Verifier, *Client) {
	t.Helper()
	if len(keys) == 0 {
		keys = []sigv4test.Key{testKey}
	}
	v := &sigv4test.Verifier{Region: testRegion, Service: SigV4Service, Keys: keys, Next: next}
	srv := httptest.NewServer(v)
	t.Cleanup(srv.Close)
	c := New(srv.URL, "mr_bearer_token_that_must_not_be_sent")
	if creds == nil {
		creds = credentials.NewStaticCredentialsProvider(testKeyID, testSecret, testSession)
	}
	c.SigV4 = NewSigV4(creds, testRegion)
	return v, c
}

func mustVerified(t *testing.T, seen []sigv4test.Seen) {
	t.Helper()
	for _, s := range seen {
		if s.Err != nil {
			t.Errorf("%s %s?%s refused: %v", s.Method, s.Path, s.RawQuery, s.Err)
		}
	}
}

// TestSigV4SignsEveryAPIRequest: reads and writes of every method, with
// query strings holding spaces, slashes, "+" and "=", verify against the
// independent verifier; the body, the session token, Content-Type and
// Idempotency-Key are signed; the API gets the query as it was meant; no
// bearer token is sent.
func TestSigV4SignsEveryAPIRequest(t *testing.T) {
	a := &api{}
	v, c := signedServer(t, a, nil)
	ctx := context.Background()
	if _, err := c.CreateModel(ctx, httpapi.NewModel{Name: "fraud", Description: "card fraud, ünïcode"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetModel(ctx, "fraud"); err != nil {
		t.Fatal(err)
	}
	// A path with escapes on the wire: SigV4 encodes it once more.
	if _, err := c.GetAlias(ctx, "fraud", "a b:c@d%e/ü"); err != nil {
		t.Fatal(err)
	}
	f := VersionFilter{Stage: "Staging", Tag: "team=fraud ops/x+y", Dataset: "s3://bucket/data set@v2"}
	if _, err := c.ListVersions(ctx, "fraud", f, "page/token+=", 5); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Downloads(ctx, "fraud", 3, "dir/my model+1.bin"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateModel(ctx, "fraud", httpapi.ModelPatch{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetAlias(ctx, "fraud", "champion", 3); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteAlias(ctx, "fraud", "champion"); err != nil {
		t.Fatal(err)
	}
	seen := v.Seen()
	if len(seen) != 8 {
		t.Fatalf("verifier saw %d requests, want 8", len(seen))
	}
	mustVerified(t, seen)
	got := a.requests()
	for i, s := range seen {
		want := []string{"host", "x-amz-date", "x-amz-security-token"}
		if s.Method != http.MethodGet {
			want = append(want, "idempotency-key")
		}
		if got[i].body != "" {
			want = append(want, "content-length", "content-type")
		}
		for _, h := range want {
			if !slices.Contains(s.SignedHeaders, h) {
				t.Errorf("%s %s: %s not signed (%v)", s.Method, s.Path, h, s.SignedHeaders)
			}
		}
	}
	if got[0].body != `{"name":"fraud","description":"card fraud, ünïcode"}` && !strings.Contains(got[0].body, "ünïcode") {
		t.Errorf("create body %q", got[0].body)
	}
	if got[2].path != "/v1/models/fraud/aliases/a b:c@d%e/ü" {
		t.Errorf("escaped path arrived as %q", got[2].path)
	}
	q := got[3].query
	if q["tag"][0] != f.Tag || q["dataset"][0] != f.Dataset || q["page_token"][0] != "page/token+=" || q["stage"][0] != "Staging" {
		t.Errorf("list query arrived as %v", q)
	}
	if got[4].query["path"][0] != "dir/my model+1.bin" {
		t.Errorf("download query arrived as %v", got[4].query)
	}
	for _, s := range seen {
		if strings.Contains(s.RawQuery, "+") && !strings.Contains(s.RawQuery, "%2B") {
			t.Errorf("query %q sends a space as +", s.RawQuery)
		}
	}
}

// TestSigV4Concurrent: one client signing from many goroutines (as
// register and download do) sends only valid signatures.
func TestSigV4Concurrent(t *testing.T) {
	v, c := signedServer(t, &api{}, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				_, err := c.GetModel(context.Background(), "fraud")
				errs <- err
				return
			}
			_, err := c.PushMetrics(context.Background(), "fraud", i, map[string]float64{"latency_ms": float64(i)}, "")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if seen := v.Seen(); len(seen) != 32 {
		t.Fatalf("%d requests, want 32", len(seen))
	}
	mustVerified(t, v.Seen())
}

// BenchmarkAPIRequest: one API round trip to a local no-op server with a
// bearer token and signed with SigV4 (the credentials cached), so the
// signing cost shows as a ratio of the same request unsigned.
func BenchmarkAPIRequest(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "{}")
	}))
	defer srv.Close()
	for _, mode := range []string{"token", "sigv4"} {
		b.Run(mode, func(b *testing.B) {
			c := New(srv.URL, "mr_token")
			if mode == "sigv4" {
				c.SigV4 = NewSigV4(credentials.NewStaticCredentialsProvider(testKeyID, testSecret, testSession), testRegion)
			}
			ctx := context.Background()
			for b.Loop() {
				if _, err := c.CreateModel(ctx, httpapi.NewModel{Name: "fraud", Description: "card fraud classifier"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSigV4Sign: signing alone (credentials cached), to set against
// BenchmarkAPIRequest's round trip.
func BenchmarkSigV4Sign(b *testing.B) {
	s := NewSigV4(credentials.NewStaticCredentialsProvider(testKeyID, testSecret, testSession), testRegion)
	payload := []byte(`{"name":"fraud","description":"card fraud classifier"}`)
	ctx := context.Background()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/v1/models", nil)
		req.ContentLength = int64(len(payload))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "0123456789abcdef")
		if err := s.Sign(ctx, req, payload); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSigV4RetryResigns: a write answered 503 is sent again with the same
// Idempotency-Key and body, signed afresh at the new time; both attempts
// verify.
func TestSigV4RetryResigns(t *testing.T) {
	a := &api{fail: func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"message":"Service Unavailable"}`)
			return true
		}
		return false
	}}
	v, c := signedServer(t, a, nil)
	var clock atomic.Int64 // seconds the fake local clock moved
	c.SigV4.now = func() time.Time { return time.Now().Add(time.Duration(clock.Add(3)) * time.Second) }
	if _, err := c.RegisterVersion(context.Background(), "fraud", httpapi.RegisterRequest{Description: "v1"}); err != nil {
		t.Fatal(err)
	}
	seen := v.Seen()
	mustVerified(t, seen)
	if len(seen) != 2 {
		t.Fatalf("%d attempts, want 2", len(seen))
	}
	if seen[0].IdempotencyKey == "" || seen[0].IdempotencyKey != seen[1].IdempotencyKey {
		t.Errorf("idempotency keys %q, %q: want one key for both attempts", seen[0].IdempotencyKey, seen[1].IdempotencyKey)
	}
	if seen[0].AmzDate == seen[1].AmzDate || seen[0].Signature == seen[1].Signature {
		t.Errorf("the retry was not signed again: %s %s / %s %s", seen[0].AmzDate, seen[0].Signature, seen[1].AmzDate, seen[1].Signature)
	}
	if got := a.requests(); got[0].body != got[1].body || got[1].body == "" {
		t.Errorf("bodies %q, %q", got[0].body, got[1].body)
	}
}

// TestSigV4WrongSecret: a request signed with the wrong secret is refused
// with API Gateway's message as the error, and not retried.
func TestSigV4WrongSecret(t *testing.T) {
	a := &api{}
	v, c := signedServer(t, a, credentials.NewStaticCredentialsProvider(testKeyID, testSecret+"x", testSession))
	_, err := c.CreateModel(context.Background(), httpapi.NewModel{Name: "fraud"})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusForbidden || ae.Code != "http_403" || !strings.HasPrefix(ae.Message, "The request signature we calculated does not match") {
		t.Fatalf("got %v", err)
	}
	if n := len(v.Seen()); n != 1 || len(a.requests()) != 0 {
		t.Fatalf("%d attempts, %d reached the API: want 1 refused, none through", n, len(a.requests()))
	}
}

// TestSigV4ClockSkew: with the local clock an hour (or six minutes) off
// either way, the first request is refused for its time, signed again at
// the server's time and accepted; later requests are signed at the
// server's time straight away.
func TestSigV4ClockSkew(t *testing.T) {
	for _, off := range []time.Duration{time.Hour, -time.Hour, 6 * time.Minute, -6 * time.Minute} {
		t.Run(off.String(), func(t *testing.T) {
			a := &api{}
			v, c := signedServer(t, a, nil)
			v.Now = func() time.Time { return time.Now().Add(off) }
			if _, err := c.CreateModel(context.Background(), httpapi.NewModel{Name: "fraud"}); err != nil {
				t.Fatal(err)
			}
			seen := v.Seen()
			if len(seen) != 2 || seen[0].Err == nil || !strings.Contains(seen[0].Err.Error(), "Signature") || seen[1].Err != nil {
				t.Fatalf("attempts %+v: want a refusal for the time, then success", seen)
			}
			if seen[0].IdempotencyKey != seen[1].IdempotencyKey {
				t.Error("the re-signed attempt has a new idempotency key")
			}
			if _, err := c.GetModel(context.Background(), "fraud"); err != nil {
				t.Fatal(err)
			}
			if seen = v.Seen(); len(seen) != 3 || seen[2].Err != nil {
				t.Fatalf("after the correction: %+v", seen[2:])
			}
			if len(a.requests()) != 2 {
				t.Fatalf("%d requests reached the API, want 2", len(a.requests()))
			}
		})
	}
}

// TestSigV4ClockSkewNoLoop: a server whose clock keeps running away gets
// one re-signed attempt, not an endless loop.
func TestSigV4ClockSkewNoLoop(t *testing.T) {
	v, c := signedServer(t, &api{}, nil)
	var calls atomic.Int64
	v.Now = func() time.Time { return time.Now().Add(time.Duration(calls.Add(1)) * time.Hour) }
	_, err := c.GetModel(context.Background(), "fraud")
	if !IsStatus(err, http.StatusForbidden) || !strings.Contains(err.Error(), "Signature expired") {
		t.Fatalf("got %v", err)
	}
	if n := len(v.Seen()); n != 2 {
		t.Fatalf("%d attempts, want 2", n)
	}
}

// TestCorrectSkew: the server's time comes from the refusal's message, or
// from its Date header when the message has none; other 403s change
// nothing.
func TestCorrectSkew(t *testing.T) {
	local := time.Date(2026, 12, 2, 4, 0, 0, 0, time.UTC)
	s := NewSigV4(credentials.NewStaticCredentialsProvider("a", "b", ""), testRegion)
	s.now = func() time.Time { return local }
	if s.correctSkew("User: arn:aws:iam::123456789012:user/x is not authorized to perform: execute-api:Invoke", "") {
		t.Fatal("a policy refusal corrected the clock")
	}
	if !s.correctSkew("Signature expired: 20261202T040000Z is now earlier than 20261202T045500Z (20261202T050000Z - 5 min.)", "Wed, 02 Dec 2026 09:00:00 GMT") ||
		time.Duration(s.skew.Load()) != time.Hour {
		t.Fatalf("skew %v, want 1h from the message", time.Duration(s.skew.Load()))
	}
	if s.correctSkew("Signature expired: 20261202T040000Z is now earlier than 20261202T045500Z (20261202T050000Z - 5 min.)", "") {
		t.Fatal("the same correction again reports a change")
	}
	if !s.correctSkew("Signature not yet current", "Wed, 02 Dec 2026 03:30:00 GMT") || time.Duration(s.skew.Load()) != -30*time.Minute {
		t.Fatalf("skew %v, want -30m from Date", time.Duration(s.skew.Load()))
	}
	if s.correctSkew("Signature expired", "not a date") {
		t.Fatal("corrected from nothing")
	}
}

// countingProvider hands out creds in turn, counting Retrieve calls.
type countingProvider struct {
	calls atomic.Int64
	creds []aws.Credentials
	err   error
}

func (p *countingProvider) Retrieve(context.Context) (aws.Credentials, error) {
	n := int(p.calls.Add(1))
	if p.err != nil {
		return aws.Credentials{}, p.err
	}
	return p.creds[min(n, len(p.creds))-1], nil
}

// TestSigV4CredentialsCached: credentials are fetched once for many
// requests, and again only once they expire; the requests after that are
// signed with the new ones.
func TestSigV4CredentialsCached(t *testing.T) {
	second := sigv4test.Key{AccessKeyID: "AKIAMODELREGTEST0002", SecretAccessKey: "second-secret", SessionToken: "second-token"}
	p := &countingProvider{creds: []aws.Credentials{
		{AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: testSession, CanExpire: true, Expires: time.Now().Add(time.Second)},
		{AccessKeyID: second.AccessKeyID, SecretAccessKey: second.SecretAccessKey, SessionToken: second.SessionToken, CanExpire: true, Expires: time.Now().Add(time.Hour)},
	}}
	v, c := signedServer(t, &api{}, p, testKey, second)
	ctx := context.Background()
	for range 5 {
		if _, err := c.GetModel(ctx, "fraud"); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.calls.Load(); n != 1 {
		t.Fatalf("5 requests fetched credentials %d times, want 1", n)
	}
	time.Sleep(time.Until(p.creds[0].Expires) + 50*time.Millisecond)
	for range 3 {
		if _, err := c.GetModel(ctx, "fraud"); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.calls.Load(); n != 2 {
		t.Fatalf("credentials fetched %d times, want 2 (once more after they expired)", n)
	}
	seen := v.Seen()
	mustVerified(t, seen)
	for i, s := range seen {
		want := testKeyID
		if i >= 5 {
			want = second.AccessKeyID
		}
		if s.AccessKeyID != want {
			t.Errorf("request %d signed by %s, want %s", i, s.AccessKeyID, want)
		}
	}
}

// TestSigV4NoCredentials: when no credentials can be had, nothing is sent,
// nothing is retried, and the error says so (ErrCredentials).
func TestSigV4NoCredentials(t *testing.T) {
	p := &countingProvider{err: errors.New("no EC2 IMDS role found")}
	v, c := signedServer(t, &api{}, p)
	_, err := c.CreateModel(context.Background(), httpapi.NewModel{Name: "fraud"})
	if !errors.Is(err, ErrCredentials) || !strings.Contains(err.Error(), "no EC2 IMDS role found") {
		t.Fatalf("got %v", err)
	}
	if len(v.Seen()) != 0 || p.calls.Load() != 1 {
		t.Fatalf("%d requests sent, credentials asked %d times: want 0 and 1", len(v.Seen()), p.calls.Load())
	}
}

// TestSigV4PresignedUnsigned: with SigV4 on, part uploads and downloads go
// to their presigned URLs exactly as presigned, with no Authorization or
// SigV4 header (which S3 refuses next to a presigned URL's own signature).
func TestSigV4PresignedUnsigned(t *testing.T) {
	var mu sync.Mutex
	objects := map[string][]byte{}
	store := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.Method {
		case http.MethodPut:
			b, _ := io.ReadAll(r.Body)
			objects[r.URL.Path] = b
		case http.MethodGet:
			w.Write(objects[r.URL.Path])
		}
	})
	guard := &sigv4test.Presigned{Next: store}
	blobs := httptest.NewServer(guard)
	defer blobs.Close()
	_, c := signedServer(t, &api{}, nil)

	data := []byte(strings.Repeat("weights!", 4096))
	local := filepath.Join(t.TempDir(), "model.bin")
	if err := os.WriteFile(local, data, 0o644); err != nil {
		t.Fatal(err)
	}
	half := int64(len(data) / 2)
	sig := "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=presigned"
	ticket := httpapi.UploadTicket{UploadID: "u1", Files: []httpapi.FileTicket{{Path: "model.bin", Parts: []httpapi.PartRequest{
		{Number: 1, Method: http.MethodPut, URL: blobs.URL + "/b/model.bin.1" + sig, Offset: 0, Size: half},
		{Number: 2, Method: http.MethodPut, URL: blobs.URL + "/b/model.bin.2" + sig, Offset: half, Size: int64(len(data)) - half},
	}}}}
	if err := c.UploadParts(context.Background(), ticket, map[string]string{"model.bin": local}, 2, nil); err != nil {
		t.Fatal(err)
	}
	link := httpapi.DownloadLink{Artifact: httpapi.Artifact{Path: "part1", Size: half, SHA256: sigv4test.HashHex(data[:half])}, URL: blobs.URL + "/b/model.bin.1" + sig}
	if err := c.DownloadFile(context.Background(), link, filepath.Join(t.TempDir(), "part1"), nil); err != nil {
		t.Fatal(err)
	}
	if ok, refused, why := guard.Counts(); ok != 3 || refused != 0 {
		t.Fatalf("presigned requests: %d passed, %d refused (%s)", ok, refused, why)
	}
	// The guard itself refuses a signed request, as S3 does.
	req, _ := http.NewRequest(http.MethodGet, link.URL, nil)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a signed request to a presigned URL got %d", resp.StatusCode)
	}
}

// TestRegionFromURL: the region an API Gateway host names.
func TestRegionFromURL(t *testing.T) {
	for u, want := range map[string]string{
		"https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com":                                  "eu-west-1",
		"https://a1b2c3d4e5.execute-api.us-gov-west-1.amazonaws.com/prod":                         "us-gov-west-1",
		"https://a1b2c3d4e5.execute-api.cn-north-1.amazonaws.com.cn":                              "cn-north-1",
		"https://a1b2c3d4e5-vpce-0123456789abcdef0.execute-api.ap-southeast-2.vpce.amazonaws.com": "ap-southeast-2",
		"https://A1B2C3D4E5.EXECUTE-API.EU-CENTRAL-1.AMAZONAWS.COM:443":                           "eu-central-1",
		"https://models.example.com":                                                              "",
		"http://127.0.0.1:8080":                                                                   "",
		"https://execute-api.eu-west-1.amazonaws.com.evil.example":                                "",
		"::not a url": "",
	} {
		if got := RegionFromURL(u); got != want {
			t.Errorf("RegionFromURL(%q) = %q, want %q", u, got, want)
		}
	}
}

// isolateAWS makes the default AWS chain see only what a test sets: no
// shared files of this machine, no instance metadata (nothing leaves the
// machine), no region or credentials from the environment.
func isolateAWS(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "MODELREG_AWS_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID",
		"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return dir
}

// TestLoadSigV4: the region is MODELREG_AWS_REGION, else the URL's, else
// the AWS configuration's; none is a clear error; credentials and region
// come from a shared config profile through the default chain.
func TestLoadSigV4(t *testing.T) {
	ctx := context.Background()
	apiURL := "https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com"
	t.Run("no region", func(t *testing.T) {
		isolateAWS(t)
		_, err := LoadSigV4(ctx, "http://127.0.0.1:8080")
		if !errors.Is(err, ErrNoRegion) || !strings.Contains(err.Error(), "AWS_REGION") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("precedence", func(t *testing.T) {
		isolateAWS(t)
		t.Setenv("AWS_REGION", "us-east-1")
		for _, c := range []struct{ url, modelregRegion, want string }{
			{apiURL, "", "eu-central-1"},
			{"https://models.example.com", "", "us-east-1"},
			{apiURL, "ap-south-1", "ap-south-1"},
		} {
			t.Setenv("MODELREG_AWS_REGION", c.modelregRegion)
			s, err := LoadSigV4(ctx, c.url)
			if err != nil || s.Region != c.want {
				t.Errorf("%s with MODELREG_AWS_REGION=%q: %v, %v: want %s", c.url, c.modelregRegion, s, err, c.want)
			}
		}
	})
	t.Run("profile", func(t *testing.T) {
		dir := isolateAWS(t)
		if err := os.WriteFile(filepath.Join(dir, "config"), []byte("[profile ci]\nregion = eu-north-1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "credentials"), []byte("[ci]\naws_access_key_id = "+testKeyID+"\naws_secret_access_key = "+testSecret+"\naws_session_token = "+testSession+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("AWS_PROFILE", "ci")
		s, err := LoadSigV4(ctx, "https://models.example.com")
		if err != nil || s.Region != "eu-north-1" {
			t.Fatalf("%v, %v", s, err)
		}
		if _, ok := s.creds.(*aws.CredentialsCache); !ok {
			t.Errorf("credentials are a %T, not cached", s.creds)
		}
		// The profile's keys sign requests the verifier accepts.
		v := &sigv4test.Verifier{Region: "eu-north-1", Service: SigV4Service, Keys: []sigv4test.Key{testKey}}
		srv := httptest.NewServer(v)
		defer srv.Close()
		c := New(srv.URL, "")
		c.SigV4 = s
		if err := c.DeleteAlias(ctx, "m", "a"); err != nil {
			t.Fatal(err)
		}
		mustVerified(t, v.Seen())
	})
}

// TestDecodeGatewayError: API Gateway's own {"message": …} answers become
// the error's message.
func TestDecodeGatewayError(t *testing.T) {
	w := httptest.NewRecorder()
	w.WriteHeader(http.StatusForbidden)
	json.NewEncoder(w).Encode(map[string]string{"message": "User: arn:aws:sts::123456789012:assumed-role/CI/job is not authorized to perform: execute-api:Invoke"})
	err := decodeError(w.Result())
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != "http_403" || !strings.HasPrefix(ae.Message, "User: arn:aws:sts::") {
		t.Fatalf("got %#v", err)
	}
}
