package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/client"
	"github.com/modelreg/modelreg/shared/client/sigv4test"
	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
)

// Fixed test credentials for the CLI (temporary: with a session token).
const (
	cliKeyID   = "AKIAMODELREGCLI00001"
	cliSecret  = "modelreg/cli/test/secret/0123456789abcdef"
	cliSession = "FwoGZXIvYXdzEmodelregCliSessionToken//+=="
	cliRegion  = "eu-west-1"
)

// signedRegistry is a `modelreg serve` behind a SigV4 verifier (standing
// in for API Gateway's IAM authorizer, which passes verified requests on
// with the admin token), with its presigned URLs behind a guard that
// refuses any signed request, as S3 does.
type signedRegistry struct {
	srv      *server
	verifier *sigv4test.Verifier
	guard    *sigv4test.Presigned
	apiURL   string
	// direct is the server's own URL, not behind the verifier.
	direct string
	// lose503, when set, makes the next request whose path is its value
	// reach the server and then answer 503, as if the answer was lost.
	lose503 atomic.Pointer[string]
}

// startSignedRegistry starts it; serverEnv is the server's extra
// environment (its backends).
func startSignedRegistry(t *testing.T, now func() time.Time, serverEnv ...string) *signedRegistry {
	t.Helper()
	sr := &signedRegistry{}
	var upstream atomic.Pointer[httputil.ReverseProxy]
	sr.guard = &sigv4test.Presigned{Next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstream.Load().ServeHTTP(w, r)
	})}
	blobs := httptest.NewServer(sr.guard)
	t.Cleanup(blobs.Close)
	// The server prints its public URL (the guard's), so it listens on an
	// address chosen here.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	sr.srv = startServerArgs(t, t.TempDir(), []string{"--addr", addr, "--public-url", blobs.URL}, serverEnv...)
	target := &url.URL{Scheme: "http", Host: addr}
	sr.direct = target.String()
	upstream.Store(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }})
	toAPI, err := sigv4test.Proxy(target.String(), adminToken)
	if err != nil {
		t.Fatal(err)
	}
	sr.verifier = &sigv4test.Verifier{Region: cliRegion, Service: client.SigV4Service, Now: now,
		Keys: []sigv4test.Key{{AccessKeyID: cliKeyID, SecretAccessKey: cliSecret, SessionToken: cliSession}},
		Next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p := sr.lose503.Load(); p != nil && *p == r.URL.Path && sr.lose503.CompareAndSwap(p, nil) {
				rec := httptest.NewRecorder()
				toAPI.ServeHTTP(rec, r)
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, `{"message":"Service Unavailable"}`)
				return
			}
			toAPI.ServeHTTP(w, r)
		})}
	api := httptest.NewServer(sr.verifier)
	t.Cleanup(api.Close)
	sr.apiURL = api.URL
	return sr
}

// sigv4Env is the environment of a CLI run against the signed registry:
// none of this machine's AWS or modelreg settings, the test credentials,
// no instance metadata (nothing leaves the machine), and a bearer token
// that must be ignored. extra entries override (KEY= removes one).
func (sr *signedRegistry) sigv4Env(t *testing.T, extra ...string) []string {
	t.Helper()
	dir := t.TempDir()
	set := map[string]string{
		"MODELREG_URL": sr.apiURL, "MODELREG_AUTH": "sigv4", "MODELREG_TOKEN": "mr_bearer_token_that_must_be_ignored",
		"AWS_ACCESS_KEY_ID": cliKeyID, "AWS_SECRET_ACCESS_KEY": cliSecret, "AWS_SESSION_TOKEN": cliSession,
		"AWS_REGION": cliRegion, "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
	}
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		set[k] = v
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "MODELREG_") {
			env = append(env, kv)
		}
	}
	for k, v := range set {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// since returns the requests the verifier saw from index n on.
func (sr *signedRegistry) since(n int) []sigv4test.Seen { return sr.verifier.Seen()[n:] }

func allVerified(t *testing.T, seen []sigv4test.Seen) {
	t.Helper()
	if len(seen) == 0 {
		t.Fatal("no request reached the verifier")
	}
	for _, s := range seen {
		if s.Err != nil {
			t.Errorf("%s %s?%s refused: %v", s.Method, s.Path, s.RawQuery, s.Err)
		}
	}
}

// TestSigV4CLI: real commands signed by the CLI — models create, register
// with a two-part artifact whose parts go to presigned URLs unsigned, a
// retry after a 503 whose answer was lost (re-signed, same
// Idempotency-Key, one version), a GET with a query string, download —
// all verify against the independent verifier; MODELREG_TOKEN is never
// sent.
func TestSigV4CLI(t *testing.T) {
	sr := startSignedRegistry(t, nil)
	env := sr.sigv4Env(t)

	n := len(sr.verifier.Seen())
	runBinary(t, env, "models", "create", "signed", "--description", "signed with SigV4").must(t)
	allVerified(t, sr.since(n))

	art := t.TempDir()
	if err := os.MkdirAll(filepath.Join(art, "weights"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, bigSum := randomFile(t, filepath.Join(art, "weights"), "big part.bin", 17<<20) // two parts
	writeFile(t, art, "config+1.json", []byte(`{"layers": 3}`))
	register := "/v1/models/signed/versions"
	sr.lose503.Store(&register)
	n = len(sr.verifier.Seen())
	runBinary(t, env, "register", "signed", "--artifact", art, "--metric", "accuracy=0.93", "--no-git").must(t)
	seen := sr.since(n)
	allVerified(t, seen)
	var posts []sigv4test.Seen
	for _, s := range seen {
		if s.Method == http.MethodPost && s.Path == register {
			posts = append(posts, s)
		}
	}
	if len(posts) != 2 || posts[0].IdempotencyKey == "" || posts[0].IdempotencyKey != posts[1].IdempotencyKey {
		t.Fatalf("register attempts %+v: want two with one Idempotency-Key", posts)
	}
	// Both attempts verified: the retry was signed for its own moment (the
	// same second as the first gives the same signature; shared/client's
	// test moves the clock to see a new X-Amz-Date).
	if passed, refused, why := sr.guard.Counts(); passed < 3 || refused != 0 {
		t.Fatalf("presigned uploads: %d passed, %d refused (%s): want the 3 parts unsigned", passed, refused, why)
	}

	// One version despite the retry, READY with both files.
	var list []httpapi.Version
	out := runBinary(t, env, "versions", "signed", "--output", "json").must(t)
	if err := json.Unmarshal([]byte(out.stdout), &list); err != nil {
		t.Fatalf("%v: %s", err, out.stdout)
	}
	if len(list) != 1 || list[0].Status != "READY" || len(list[0].Artifacts) != 2 {
		t.Fatalf("versions after a retried register: %+v", list)
	}

	// A GET with a query string (a space and a slash in it), then the
	// download from the presigned URL, unsigned.
	n = len(sr.verifier.Seen())
	passedBefore, _, _ := sr.guard.Counts()
	dest := t.TempDir()
	runBinary(t, env, "download", "signed", "1", "--path", "weights/big part.bin", "--dest", dest).must(t)
	seen = sr.since(n)
	allVerified(t, seen)
	query := false
	for _, s := range seen {
		query = query || (strings.HasSuffix(s.Path, "/download") && strings.Contains(s.RawQuery, "path=weights%2Fbig%20part.bin"))
	}
	if !query {
		t.Fatalf("no signed GET …/download?path=weights%%2Fbig%%20part.bin among %+v", seen)
	}
	if got := fileSum(t, filepath.Join(dest, "weights", "big part.bin")); got != bigSum {
		t.Fatalf("downloaded sha256 %s, want %s", got, bigSum)
	}
	if passed, refused, why := sr.guard.Counts(); passed != passedBefore+1 || refused != 0 {
		t.Fatalf("presigned download: %d passed (before %d), %d refused (%s)", passed, passedBefore, refused, why)
	}

	// The caller is who API Gateway's authorizer let through.
	who := runBinary(t, env, "whoami", "--output", "json").must(t)
	if !strings.Contains(who.stdout, `"admin"`) {
		t.Fatalf("whoami: %s", who.stdout)
	}
}

// TestSigV4CLIOnS3: with S3 artifacts (MinIO), the parts and the download
// go to S3's own presigned URLs, which S3 refuses next to an Authorization
// header: register and download work with --auth sigv4 because those are
// sent unsigned while every API request is signed.
func TestSigV4CLIOnS3(t *testing.T) {
	endpoint := os.Getenv("MODELREG_S3_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("MODELREG_S3_ENDPOINT is unset: run the tests with scripts/test")
		}
		t.Skip("MinIO is not running: scripts/test starts it")
	}
	bucket := "sigv4-" + strings.ToLower(registry.RandomToken(6))
	sr := startSignedRegistry(t, nil, "MODELREG_ARTIFACTS=s3", "MODELREG_S3_BUCKET="+bucket, "MODELREG_CREATE_RESOURCES=true",
		"AWS_ACCESS_KEY_ID="+os.Getenv("MODELREG_S3_ACCESS_KEY"), "AWS_SECRET_ACCESS_KEY="+os.Getenv("MODELREG_S3_SECRET_KEY"),
		"AWS_SESSION_TOKEN=", "AWS_REGION=us-east-1")
	env := sr.sigv4Env(t)
	file, sum := randomFile(t, t.TempDir(), "model.bin", 17<<20) // two parts
	n := len(sr.verifier.Seen())
	runBinary(t, env, "register", "ons3", "--artifact", file, "--no-git").must(t)
	dest := t.TempDir()
	runBinary(t, env, "download", "ons3", "1", "--dest", dest).must(t)
	allVerified(t, sr.since(n))
	if got := fileSum(t, filepath.Join(dest, "model.bin")); got != sum {
		t.Fatalf("downloaded sha256 %s, want %s", got, sum)
	}
	if passed, refused, _ := sr.guard.Counts(); passed+refused != 0 {
		t.Fatalf("%d requests went to the server's own blob routes: the links should point at S3", passed+refused)
	}
	for _, s := range sr.verifier.Seen() {
		if strings.HasPrefix(s.Path, "/"+bucket) {
			t.Fatalf("an S3 request went through the API: %s %s", s.Method, s.Path)
		}
	}
}

// TestSigV4CLIGlobalFlag: --auth sigv4 before the command or after it;
// without it (token, the default) the bearer token is sent and the IAM
// authorizer refuses it (exit 5).
func TestSigV4CLIGlobalFlag(t *testing.T) {
	sr := startSignedRegistry(t, nil)
	env := sr.sigv4Env(t, "MODELREG_AUTH=")
	runBinary(t, env, "--auth", "sigv4", "models").must(t)
	runBinary(t, env, "--auth=sigv4", "--output", "json", "models").must(t)
	runBinary(t, env, "models", "--auth", "sigv4").must(t)
	allVerified(t, sr.verifier.Seen())
	n := len(sr.verifier.Seen())
	r := runBinary(t, env, "models").wantCode(t, exitAuth)
	if seen := sr.since(n); len(seen) != 1 || seen[0].Err == nil || !strings.Contains(r.stderr, "Authorization header requires") {
		t.Fatalf("token mode against the IAM authorizer: %+v\n%s", seen, r.stderr)
	}
}

// TestSigV4CLIRefusals: a wrong secret or region is refused (exit 5, API
// Gateway's message and what to check; MODELREG_AWS_REGION fixes the
// region); no credentials (exit 5) and no region
// (exit 2) say what to set and send nothing; a server that wants a bearer
// token says sigv4 sends none; a bad --auth is a usage error.
func TestSigV4CLIRefusals(t *testing.T) {
	sr := startSignedRegistry(t, nil)
	r := runBinary(t, sr.sigv4Env(t, "AWS_SECRET_ACCESS_KEY=not-the-secret"), "models").wantCode(t, exitAuth)
	if !strings.Contains(r.stderr, "signature we calculated does not match") || !strings.Contains(r.stderr, "API Gateway refused") {
		t.Errorf("wrong secret: %s", r.stderr)
	}
	r = runBinary(t, sr.sigv4Env(t, "AWS_REGION=us-east-1"), "models").wantCode(t, exitAuth)
	if !strings.Contains(r.stderr, "scoped to a valid region") || !strings.Contains(r.stderr, "the region signed for") {
		t.Errorf("wrong region: %s", r.stderr)
	}
	runBinary(t, sr.sigv4Env(t, "AWS_REGION=us-east-1", "MODELREG_AWS_REGION="+cliRegion), "models").must(t)
	n := len(sr.verifier.Seen())
	r = runBinary(t, sr.sigv4Env(t, "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN="), "models").wantCode(t, exitAuth)
	if !strings.Contains(r.stderr, "no AWS credentials") || !strings.Contains(r.stderr, "AWS_PROFILE") {
		t.Errorf("no credentials: %s", r.stderr)
	}
	r = runBinary(t, sr.sigv4Env(t, "AWS_REGION="), "models").wantCode(t, exitUsage)
	if !strings.Contains(r.stderr, "no AWS region") || !strings.Contains(r.stderr, "AWS_REGION") {
		t.Errorf("no region: %s", r.stderr)
	}
	if len(sr.since(n)) != 0 {
		t.Errorf("requests were sent without credentials or region: %+v", sr.since(n))
	}
	r = runBinary(t, sr.sigv4Env(t, "MODELREG_URL="+sr.direct), "models").wantCode(t, exitAuth)
	if !strings.Contains(r.stderr, "--auth sigv4 sends none") {
		t.Errorf("sigv4 against a server that wants a token: %s", r.stderr)
	}
	runBinary(t, sr.sigv4Env(t, "MODELREG_AUTH=SigV4"), "models").must(t)
	// bearer (the Python client's name for token) sends the token.
	r = runBinary(t, sr.sigv4Env(t, "MODELREG_AUTH=bearer"), "models").wantCode(t, exitAuth)
	if !strings.Contains(r.stderr, "Authorization header requires") {
		t.Errorf("MODELREG_AUTH=bearer: %s", r.stderr)
	}
	r = runBinary(t, sr.sigv4Env(t, "MODELREG_AUTH=iam"), "models").wantCode(t, exitUsage)
	if !strings.Contains(r.stderr, "must be token (or bearer) or sigv4") {
		t.Errorf("bad MODELREG_AUTH: %s", r.stderr)
	}
	r = runBinary(t, sr.sigv4Env(t), "models", "--token", "mr_explicit").wantCode(t, exitUsage)
	if !strings.Contains(r.stderr, "--token cannot be used with --auth sigv4") {
		t.Errorf("--token with sigv4: %s", r.stderr)
	}
}

// TestSigV4CLIClockSkew: with this machine's clock an hour behind the
// server's, the first request is refused for its time and signed again at
// the server's; the command succeeds.
func TestSigV4CLIClockSkew(t *testing.T) {
	for _, off := range []time.Duration{time.Hour, -time.Hour} {
		t.Run(off.String(), func(t *testing.T) {
			sr := startSignedRegistry(t, func() time.Time { return time.Now().Add(off) })
			env := sr.sigv4Env(t)
			runBinary(t, env, "models", "create", "skewed").must(t)
			seen := sr.verifier.Seen()
			if len(seen) != 2 || seen[0].Err == nil || seen[1].Err != nil || seen[0].IdempotencyKey != seen[1].IdempotencyKey {
				t.Fatalf("attempts %+v: want one refused for its time, then one accepted with the same key", seen)
			}
			runBinary(t, env, "models", "get", "skewed").must(t)
		})
	}
}

// TestHoistGlobals: global flags before the command move just after it;
// anything else stays where it is, for run to refuse.
func TestHoistGlobals(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"--auth sigv4 models list", "models --auth sigv4 list"},
		{"--auth=sigv4 -output json --url http://x whoami", "whoami --auth=sigv4 -output json --url http://x"},
		{"--auth sigv4 help models", "help --auth sigv4 models"},
		{"models --auth sigv4", "models --auth sigv4"},
		{"--auth sigv4", "--auth sigv4"},
		{"--auth", "--auth"},
		{"--verbose models", "--verbose models"},
		{"--auth sigv4 --verbose models", "--auth sigv4 --verbose models"},
		{"-- models", "-- models"},
		{"help", "help"},
	} {
		if got := strings.Join(hoistGlobals(strings.Fields(c.in)), " "); got != c.want {
			t.Errorf("hoistGlobals(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestSigV4Help: the global flag is in the help, with what it means for
// MODELREG_TOKEN.
func TestSigV4Help(t *testing.T) {
	r := runBinary(t, os.Environ(), "help").must(t)
	if !strings.Contains(r.stdout, "--auth sigv4") || !strings.Contains(r.stdout, "MODELREG_TOKEN is ignored") {
		t.Errorf("modelreg help:\n%s", r.stdout)
	}
	r = runBinary(t, os.Environ(), "--auth", "sigv4", "help", "models").must(t)
	if !strings.Contains(r.stdout, "--auth") || !strings.Contains(r.stdout, "MODELREG_AUTH") {
		t.Errorf("modelreg models --help:\n%s", r.stdout)
	}
}
