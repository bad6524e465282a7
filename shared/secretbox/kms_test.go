package secretbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/client/sigv4test"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/secretbox"
)

// kmsCall is one request the fake KMS received.
type kmsCall struct {
	Target, ContentType string
	Body                map[string]any
}

// fakeKMS answers Encrypt with the plain text reversed as the ciphertext
// and Decrypt with it reversed back, unless status is set: then every call
// gets status and body, as KMS sends its errors.
type fakeKMS struct {
	mu     sync.Mutex
	calls  []kmsCall
	status int
	body   string
}

func (f *fakeKMS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var in struct {
		KeyId             string
		Plaintext         []byte
		CiphertextBlob    []byte
		EncryptionContext map[string]string
	}
	call := kmsCall{Target: r.Header.Get("X-Amz-Target"), ContentType: r.Header.Get("Content-Type")}
	_ = json.Unmarshal(raw, &call.Body)
	f.mu.Lock()
	f.calls = append(f.calls, call)
	status, body := f.status, f.body
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if status != 0 {
		w.WriteHeader(status)
		io.WriteString(w, body)
		return
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"__type":"SerializationException"}`)
		return
	}
	rev := func(b []byte) []byte {
		out := bytes.Clone(b)
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
		return out
	}
	switch call.Target {
	case "TrentService.Encrypt":
		json.NewEncoder(w).Encode(map[string]any{"CiphertextBlob": rev(in.Plaintext), "KeyId": "arn:aws:kms:eu-west-1:111122223333:key/k", "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"})
	case "TrentService.Decrypt":
		json.NewEncoder(w).Encode(map[string]any{"Plaintext": rev(in.CiphertextBlob), "KeyId": "arn:aws:kms:eu-west-1:111122223333:key/k"})
	default:
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"__type":"UnknownOperationException"}`)
	}
}

// kmsBox returns a box on a fake KMS behind a SigV4 verifier (temporary
// credentials), trying each request once.
func kmsBox(t *testing.T) (*fakeKMS, *secretbox.KMS) {
	t.Helper()
	f := &fakeKMS{}
	v := &sigv4test.Verifier{Region: "eu-west-1", Service: "kms", Next: f,
		Keys: []sigv4test.Key{{AccessKeyID: "ASIAKMS", SecretAccessKey: "kms-secret", SessionToken: "kms-token"}}}
	srv := httptest.NewServer(v)
	t.Cleanup(srv.Close)
	c, err := awsapi.New(awsapi.Config{Region: "eu-west-1", Credentials: awsapi.StaticCredentials("ASIAKMS", "kms-secret", "kms-token"), MaxAttempts: 1},
		secretbox.Service, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range v.Seen() {
			if s.Err != nil {
				t.Errorf("%s %s: signature refused: %v", s.Method, s.Path, s.Err)
			}
		}
	})
	box, err := secretbox.NewKMS(c, "alias/modelreg")
	if err != nil {
		t.Fatal(err)
	}
	return f, box
}

// TestKMSWire: Encrypt and Decrypt go out as KMS's JSON 1.1 operations,
// signed, with the key, the blobs in base64 and the seal context as the
// encryption context.
func TestKMSWire(t *testing.T) {
	f, box := kmsBox(t)
	ctx := registry.WithSealContext(context.Background(), "fraud", "dt-1")
	sealed, err := box.Seal(ctx, []byte("whsec_1"))
	if err != nil {
		t.Fatal(err)
	}
	if sealed != "kms:v1:MV9jZXNodw" {
		t.Errorf("sealed %q, want the fake's ciphertext 1_ceshw in base64url", sealed)
	}
	got, err := box.Open(ctx, sealed)
	if err != nil || string(got) != "whsec_1" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if len(f.calls) != 2 {
		t.Fatalf("%d calls, want 2", len(f.calls))
	}
	wantContext := map[string]any{}
	for k, v := range registry.SealContextFrom(ctx) {
		wantContext[k] = v
	}
	for i, want := range []struct{ target, blobField, blob string }{
		{"TrentService.Encrypt", "Plaintext", "d2hzZWNfMQ=="},
		{"TrentService.Decrypt", "CiphertextBlob", "MV9jZXNodw=="},
	} {
		c := f.calls[i]
		if c.Target != want.target || c.ContentType != "application/x-amz-json-1.1" {
			t.Errorf("call %d: %s (%s), want %s (application/x-amz-json-1.1)", i, c.Target, c.ContentType, want.target)
		}
		ec, _ := json.Marshal(c.Body["EncryptionContext"])
		wc, _ := json.Marshal(wantContext)
		if c.Body["KeyId"] != "alias/modelreg" || c.Body[want.blobField] != want.blob || string(ec) != string(wc) || len(c.Body) != 3 {
			t.Errorf("%s body %v, want KeyId, %s %s and EncryptionContext %s", want.target, c.Body, want.blobField, want.blob, wc)
		}
	}
}

// TestKMSErrors: KMS's error answers (bodies as KMS sends them) keep
// their registry codes.
func TestKMSErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		status int
		body   string
		seal   registry.Code // Seal's code
		open   registry.Code // Open's code
	}{
		{"invalid ciphertext", 400, `{"__type":"InvalidCiphertextException","message":null}`, "", registry.Invalid},
		{"incorrect key", 400, `{"__type":"IncorrectKeyException","message":"The key ID in the request does not identify a CMK that can perform this operation."}`, "", registry.Invalid},
		{"access denied", 400, `{"__type":"AccessDeniedException","Message":"User: arn:aws:sts::111122223333:assumed-role/r/f is not authorized to perform: kms:Decrypt"}`, registry.Internal, registry.Invalid},
		{"throttled", 400, `{"__type":"ThrottlingException","message":"Rate exceeded"}`, registry.Unavailable, registry.Unavailable},
		{"internal", 500, `{"__type":"KMSInternalException"}`, registry.Unavailable, registry.Unavailable},
		{"disabled key", 400, `{"__type":"DisabledException","message":"arn:aws:kms:eu-west-1:111122223333:key/k is disabled."}`, registry.Internal, registry.Internal},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, box := kmsBox(t)
			f.status, f.body = c.status, c.body
			ctx := registry.WithSealContext(context.Background(), "fraud", "dt-1")
			if c.seal != "" {
				if _, err := box.Seal(ctx, []byte("s")); registry.ErrorCode(err) != c.seal {
					t.Errorf("Seal: %v (%s), want %s", err, registry.ErrorCode(err), c.seal)
				}
			}
			if _, err := box.Open(ctx, "kms:v1:AQIDBA"); registry.ErrorCode(err) != c.open {
				t.Errorf("Open: %v (%s), want %s", err, registry.ErrorCode(err), c.open)
			}
		})
	}
}
