package secret_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/client/sigv4test"
	"github.com/modelreg/modelreg/shared/secret"
)

// fakeSM is a Secrets Manager endpoint behind a SigV4 verifier: it
// answers GetSecretValue from secrets (an ARN's SecretString), and an
// unknown id with Secrets Manager's ResourceNotFoundException.
type fakeSM struct {
	secrets map[string]string
	mu      sync.Mutex
	bodies  []string
}

func (f *fakeSM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.bodies = append(f.bodies, string(body))
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"__type":"UnknownOperationException"}`)
		return
	}
	var in struct{ SecretId string }
	json.Unmarshal(body, &in)
	v, ok := f.secrets[in.SecretId]
	switch {
	case !ok:
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"__type":"ResourceNotFoundException","Message":"Secrets Manager can't find the specified secret."}`)
	case v == "":
		json.NewEncoder(w).Encode(map[string]any{"ARN": in.SecretId, "Name": "bin", "SecretBinary": []byte{1, 2, 3}, "VersionId": "v1"})
	default:
		json.NewEncoder(w).Encode(map[string]any{"ARN": in.SecretId, "Name": "s", "SecretString": v, "VersionId": "v1",
			"VersionStages": []string{"AWSCURRENT"}, "CreatedDate": 1.523477145713e9})
	}
}

// TestGetWire: GetSecretValue goes out signed with the secret's id; the
// string comes back trimmed, a binary secret and Secrets Manager's
// not-found answer are errors naming the secret, the latter keeping its
// AWS code.
func TestGetWire(t *testing.T) {
	const arn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:modelreg-AbCdEf"
	f := &fakeSM{secrets: map[string]string{arn: " s3cret\n", arn + "-bin": ""}}
	v := &sigv4test.Verifier{Region: "eu-west-1", Service: "secretsmanager", Next: f,
		Keys: []sigv4test.Key{{AccessKeyID: "ASIASM", SecretAccessKey: "sm-secret", SessionToken: "sm-token"}}}
	srv := httptest.NewServer(v)
	defer srv.Close()
	// The endpoint from the environment, as the SDK reads it.
	env := map[string]string{"AWS_ENDPOINT_URL_SECRETS_MANAGER": srv.URL, "AWS_ENDPOINT_URL": "http://127.0.0.1:1"}
	cfg := awsapi.Config{Region: "eu-west-1", Credentials: awsapi.StaticCredentials("ASIASM", "sm-secret", "sm-token"), MaxAttempts: 1,
		Getenv: func(k string) string { return env[k] }}
	r := secret.Open(cfg)
	if v, err := r.Get(t.Context(), arn); err != nil || v != "s3cret" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if want := `{"SecretId":"` + arn + `"}`; len(f.bodies) != 1 || f.bodies[0] != want {
		t.Errorf("bodies %q, want %s", f.bodies, want)
	}
	if _, err := r.Get(t.Context(), arn+"-bin"); err == nil || !strings.Contains(err.Error(), "no string") {
		t.Errorf("a binary secret: %v", err)
	}
	_, err := r.Get(t.Context(), arn+"-gone")
	var api *awsapi.Error
	if !errors.As(err, &api) || api.Code != "ResourceNotFoundException" || !strings.Contains(err.Error(), arn+"-gone") {
		t.Errorf("a missing secret: %v, want ResourceNotFoundException naming it", err)
	}
	if n, _ := r.Calls(); n != 3 {
		t.Errorf("Calls = %d, want 3", n)
	}
	for _, s := range v.Seen() {
		if s.Err != nil {
			t.Errorf("signature refused: %v", s.Err)
		}
	}
}

// TestOpenWithoutConfiguration: a Reader opened without a region still
// reads values from the environment, and fails naming why when asked for
// an ARN.
func TestOpenWithoutConfiguration(t *testing.T) {
	r := secret.Open(awsapi.FromEnv(func(string) string { return "" }))
	env := map[string]string{"X_SECRET": "by-value", "X_SECRET_ARN": ""}
	if v, err := r.FromEnv(t.Context(), func(k string) string { return env[k] }, "X_SECRET_ARN", "X_SECRET"); err != nil || v != "by-value" {
		t.Errorf("FromEnv by value: %q, %v", v, err)
	}
	env["X_SECRET_ARN"] = "arn:aws:secretsmanager:eu-west-1:1:secret:s"
	if _, err := r.FromEnv(t.Context(), func(k string) string { return env[k] }, "X_SECRET_ARN", "X_SECRET"); !errors.Is(err, awsapi.ErrNoRegion) ||
		!strings.Contains(err.Error(), "X_SECRET_ARN") {
		t.Errorf("FromEnv with an ARN and no region: %v, want ErrNoRegion naming the variable", err)
	}
	if _, err := secret.New(nil).Get(t.Context(), "s"); err == nil {
		t.Error("a Reader without a client read a secret")
	}
}
