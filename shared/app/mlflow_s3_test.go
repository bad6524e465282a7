package app_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/app/embedded"
	"github.com/modelreg/modelreg/shared/mlflow"
	"github.com/modelreg/modelreg/shared/registry"
)

// publisherAuth lets every caller in as a publisher.
type publisherAuth struct{}

func (publisherAuth) Authenticate(*http.Request) (registry.Principal, error) {
	return registry.Principal{Name: "paul", Role: registry.RolePublisher}, nil
}

func mlflowCall(t *testing.T, url, path string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	method := "POST"
	if strings.HasPrefix(path, "model-versions/get") {
		method = "GET"
	}
	req, _ := http.NewRequest(method, url+mlflow.Prefix+path, bytes.NewReader(b))
	if method == "GET" {
		req, _ = http.NewRequest(method, url+mlflow.Prefix+path+"?name=m&version=1", nil)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestMLflowArtifactsS3: with MLflowArtifactsS3, runs/create answers an
// s3:// location under the prefix's runs/ (the keys of the proxy's run
// files); objects written there straight to MinIO register as a version
// (copied server-side; the file over VerifyAsyncBytes verified in the
// background), and sources outside the run's own location are refused.
func TestMLflowArtifactsS3(t *testing.T) {
	cfg := s3Config(t, t.TempDir(), 8<<20)
	cfg.MLflowArtifacts = app.MLflowArtifactsS3
	cfg.AWS.S3Prefix = "arts/"
	a, err := app.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if a.RunObjects == nil {
		t.Fatal("App.RunObjects is nil with MLflowArtifactsS3")
	}
	srv := httptest.NewServer(mlflow.New(a.Service, publisherAuth{}, mlflow.Options{Logger: quiet,
		Tracking: a.Tracking, RunFiles: a.RunFiles, RunObjects: a.RunObjects}))
	defer srv.Close()
	bucket := cfg.AWS.S3Bucket
	endpoint := os.Getenv("MODELREG_S3_ENDPOINT")
	c := awss3.NewFromConfig(*cfg.AWS.Config, func(o *awss3.Options) { o.BaseEndpoint = &endpoint; o.UsePathStyle = true })

	newRun := func() (string, string) {
		t.Helper()
		code, out := mlflowCall(t, srv.URL, "runs/create", map[string]any{"experiment_id": "0"})
		if code != 200 {
			t.Fatalf("runs/create: %d %v", code, out)
		}
		info := out["run"].(map[string]any)["info"].(map[string]any)
		return info["run_id"].(string), info["artifact_uri"].(string)
	}
	run, uri := newRun()
	if want := "s3://" + bucket + "/arts/runs/0/" + run + "/artifacts"; uri != want {
		t.Fatalf("artifact_uri %q, want %q", uri, want)
	}
	code, out := mlflowCall(t, srv.URL, "logged-models", map[string]any{"experiment_id": "0", "source_run_id": run})
	lm := out["model"].(map[string]any)["info"].(map[string]any)
	if code != 200 || lm["artifact_uri"] != "s3://"+bucket+"/arts/runs/0/models/"+lm["model_id"].(string)+"/artifacts" {
		t.Fatalf("logged-models: %d %v", code, out)
	}

	files := map[string][]byte{"MLmodel": []byte("flavors: {}\n"), "weights.bin": randomBody(11<<20, 5), "big/part.bin": randomBody(20<<20, 6)}
	for p, b := range files {
		key := "arts/runs/0/" + run + "/artifacts/model/" + p
		if _, err := c.PutObject(t.Context(), &awss3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(b)}); err != nil {
			t.Fatal(err)
		}
	}
	// The proxy lists and serves them too (same keys; not in its index).
	resp, err := http.Get(srv.URL + mlflow.ArtifactsPrefix + "artifacts?path=0/" + run + "/artifacts/model")
	if err != nil {
		t.Fatal(err)
	}
	var listing struct {
		Files []struct {
			Path     string `json:"path"`
			IsDir    bool   `json:"is_dir"`
			FileSize int64  `json:"file_size"`
		} `json:"files"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&listing)
	resp.Body.Close()
	if got := fmt.Sprint(listing.Files); got != fmt.Sprintf("[{MLmodel false 12} {big true 0} {weights.bin false %d}]", 11<<20) {
		t.Errorf("proxy listing %s", got)
	}
	resp, err = http.Get(srv.URL + mlflow.ArtifactsPrefix + "artifacts/0/" + run + "/artifacts/model/big/part.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, files["big/part.bin"]) {
		t.Errorf("proxy download: %d, %d bytes", resp.StatusCode, len(got))
	}

	if code, out := mlflowCall(t, srv.URL, "registered-models/create", map[string]any{"name": "m"}); code != 200 {
		t.Fatalf("registered-models/create: %d %v", code, out)
	}

	other, otherURI := newRun()
	for _, src := range []map[string]any{
		{"source": "s3://other-bucket/arts/runs/0/" + run + "/artifacts/model", "run_id": run},
		{"source": "s3://" + bucket + "/arts/m/1/"},
		{"source": "s3://" + bucket + "/arts/runs/9/" + run + "/artifacts/model", "run_id": run},
		{"source": otherURI, "run_id": run},
		{"source": "runs:/" + run + "/../../" + other + "/artifacts"},
		{"source": "models:/" + lm["model_id"].(string), "model_id": "m-someoneelse"},
		{"source": lm["artifact_uri"].(string) + "/../../../" + other + "/artifacts"},
	} {
		src["name"] = "m"
		if code, out := mlflowCall(t, srv.URL, "model-versions/create", src); code != 400 || out["error_code"] != "INVALID_PARAMETER_VALUE" {
			t.Errorf("source %v: %d %v, want 400 INVALID_PARAMETER_VALUE", src["source"], code, out)
		}
	}
	if vs, err := a.Service.ListVersions(admin(t.Context()), "m", registry.VersionFilter{}, "", 10); err != nil || len(vs.Items) != 0 {
		t.Fatalf("refused sources made versions: %v %v", vs.Items, err)
	}

	code, out = mlflowCall(t, srv.URL, "model-versions/create", map[string]any{"name": "m", "source": uri + "/model", "run_id": run})
	if code != 200 {
		t.Fatalf("model-versions/create: %d %v", code, out)
	}
	// 31 MiB is over the 8 MiB threshold: verified in the background.
	if st := out["model_version"].(map[string]any)["status"]; st != "PENDING_REGISTRATION" {
		t.Errorf("model-versions/create answered status %v, want PENDING_REGISTRATION (VERIFYING)", st)
	}
	v := waitStatus(t, a, "m", 1, registry.StatusReady)
	if len(v.Artifacts) != len(files) {
		t.Fatalf("version files %+v, want %d", v.Artifacts, len(files))
	}
	for _, f := range v.Artifacts {
		sum := sha256.Sum256(files[f.Path])
		if f.SHA256 != hex.EncodeToString(sum[:]) || f.Size != int64(len(files[f.Path])) {
			t.Errorf("%s: %d bytes sha256 %s, want those of the run's object", f.Path, f.Size, f.SHA256)
		}
	}
	if code, out := mlflowCall(t, srv.URL, "model-versions/get-download-uri", nil); code != 200 || out["artifact_uri"] != uri+"/model" {
		t.Errorf("get-download-uri: %d %v, want %s/model", code, out, uri)
	}
}

// TestMLflowArtifactsConfig: the s3 mode needs S3 artifacts; an unknown
// mode is refused.
func TestMLflowArtifactsConfig(t *testing.T) {
	cfg := localConfig(t.TempDir())
	cfg.Embedded = embedded.Backends{}
	for _, mode := range []string{app.MLflowArtifactsS3, "s4"} {
		cfg.MLflowArtifacts = mode
		_, err := app.New(context.Background(), cfg)
		var ce *app.ConfigError
		if !errors.As(err, &ce) || ce.Setting != "MLflowArtifacts" {
			t.Errorf("MLflowArtifacts %q with filesystem artifacts: %v, want a ConfigError on MLflowArtifacts", mode, err)
		}
	}
}
