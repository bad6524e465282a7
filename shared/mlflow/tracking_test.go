package mlflow

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/filesystem"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/sqlite"
)

// newTrackingEnv is newEnv with the tracking subset on: the SQLite store's
// tracking records and the filesystem's run files, the filesystem's blob
// routes on the same server (registration sends files there).
func newTrackingEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	store, err := sqlite.Open(filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	arts, err := filesystem.New(filepath.Join(dir, "artifacts"), srv.URL, bytes.Repeat([]byte("b"), 32))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { arts.Close() })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := registry.NewService(registry.Config{Store: store, Artifacts: arts, Secret: bytes.Repeat([]byte("s"), 32), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	auth := tokens{"paul": registry.RolePublisher, "rita": registry.RoleReader, "adam": registry.RoleAdmin}
	mux.Handle("/blobs/", arts.Handler())
	mux.Handle("/", New(svc, auth, Options{Logger: quiet, Tracking: store, RunFiles: arts}))
	return &env{t: t, srv: srv, svc: svc}
}

// put uploads body to the artifact proxy as who.
func (e *env) put(who, path string, body io.Reader, size int64) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest("PUT", e.srv.URL+ArtifactsPrefix+"artifacts/"+path, body)
	req.ContentLength = size
	req.Header.Set("Authorization", "Bearer "+who)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *env) get(who, path string) (int, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+ArtifactsPrefix+path, nil)
	req.Header.Set("Authorization", "Bearer "+who)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestTrackingRunsAndErrors(t *testing.T) {
	e := newTrackingEnv(t)
	// The default experiment exists on first use.
	doc := e.must("rita", "GET", "experiments/get", url.Values{"experiment_id": {"0"}})
	if x := doc["experiment"].(map[string]any); x["name"] != "Default" || x["artifact_location"] != "mlflow-artifacts:/0" {
		t.Fatalf("default experiment: %v", x)
	}
	id := e.must("paul", "POST", "experiments/create", map[string]any{"name": "exp"})["experiment_id"].(string)
	e.wantError(400, "RESOURCE_ALREADY_EXISTS", "paul", "POST", "experiments/create", map[string]any{"name": "exp"})
	if got := e.must("rita", "GET", "experiments/get-by-name", url.Values{"experiment_name": {"exp"}}); got["experiment"].(map[string]any)["experiment_id"] != id {
		t.Fatalf("by name: %v", got)
	}
	e.wantError(404, "RESOURCE_DOES_NOT_EXIST", "rita", "GET", "experiments/get-by-name", url.Values{"experiment_name": {"nope"}})
	e.wantError(403, "PERMISSION_DENIED", "rita", "POST", "experiments/create", map[string]any{"name": "x"})

	run := e.must("paul", "POST", "runs/create", map[string]any{"experiment_id": id, "start_time": 1700000000000,
		"tags": []map[string]string{{"key": "mlflow.source.git.commit", "value": "abc1234def"}, {"key": "mlflow.source.name", "value": "train.py"}}})["run"].(map[string]any)
	rid := run["info"].(map[string]any)["run_id"].(string)
	if run["info"].(map[string]any)["artifact_uri"] != "mlflow-artifacts:/"+id+"/"+rid+"/artifacts" {
		t.Fatalf("artifact uri: %v", run["info"])
	}
	e.must("paul", "POST", "runs/log-batch", map[string]any{"run_id": rid,
		"metrics": []map[string]any{{"key": "acc", "value": 0.5, "timestamp": 1, "step": 0}, {"key": "acc", "value": 0.9, "timestamp": 2, "step": 1}, {"key": "loss", "value": "NaN", "timestamp": 2, "step": 1}},
		"params":  []map[string]string{{"key": "lr", "value": "0.1"}}})
	e.must("paul", "POST", "runs/log-parameter", map[string]any{"run_id": rid, "key": "lr", "value": "0.1"}) // same value: fine
	e.wantError(400, "INVALID_PARAMETER_VALUE", "paul", "POST", "runs/log-parameter", map[string]any{"run_id": rid, "key": "lr", "value": "0.2"})
	for _, body := range []string{
		`{"run_id":"` + rid + `","key":"m","value":"high","timestamp":1}`,
		`{"run_id":"` + rid + `","key":"m","value":1,"timestamp":"soon"}`,
		`{"run_id":"` + rid + `","key":"m"}`,
		`{"run_id":"` + rid + `","key":"","value":1}`,
		`{"run_id":"` + rid + `","key":"m","value":1,"extra":1}`,
		`{"run_id":` + `["x"]}`,
		`[1]`,
	} {
		e.wantError(400, "INVALID_PARAMETER_VALUE", "paul", "POST", "runs/log-metric", body)
	}
	e.wantError(400, "INVALID_PARAMETER_VALUE", "paul", "POST", "runs/log-batch", `{"run_id":"`+rid+`","metrics":{"key":"x"}}`)
	e.wantError(404, "RESOURCE_DOES_NOT_EXIST", "paul", "POST", "runs/log-metric", map[string]any{"run_id": "nope", "key": "m", "value": 1, "timestamp": 1})
	e.wantError(400, "INVALID_PARAMETER_VALUE", "paul", "POST", "runs/update", map[string]any{"run_id": rid, "status": "DONE"})
	got := e.must("rita", "GET", "runs/get", url.Values{"run_id": {rid}})["run"].(map[string]any)
	if m := fmt.Sprint(got["data"].(map[string]any)["metrics"]); !strings.Contains(m, "key:acc") || !strings.Contains(m, "value:0.9") || !strings.Contains(m, "value:NaN") {
		t.Fatalf("metrics: %s", m)
	}

	// Artifacts: upload, list, download; bad paths and roles refused.
	data := []byte("weights")
	if st, body := e.put("paul", id+"/"+rid+"/artifacts/model/MLmodel", bytes.NewReader([]byte("flavors: {}\n")), 12); st != 200 {
		t.Fatalf("put: %d %s", st, body)
	}
	if st, body := e.put("paul", id+"/"+rid+"/artifacts/model/data/w.bin", bytes.NewReader(data), int64(len(data))); st != 200 {
		t.Fatalf("put: %d %s", st, body)
	}
	if st, _ := e.put("rita", id+"/"+rid+"/artifacts/x", strings.NewReader("x"), 1); st != 403 {
		t.Fatalf("reader upload: %d", st)
	}
	for _, p := range []string{id + "/" + rid + "/artifacts/../../x", id + "/" + rid + "/other/x", "x"} {
		if st, body := e.put("paul", p, strings.NewReader("x"), 1); st != 400 || !strings.Contains(body, "INVALID_PARAMETER_VALUE") {
			t.Errorf("put %s: %d %s", p, st, body)
		}
	}
	if st, _ := e.put("paul", id+"/ffff/artifacts/x", strings.NewReader("x"), 1); st != 404 {
		t.Fatalf("unknown run: %d", st)
	}
	if st, body := e.put("paul", id+"/"+rid+"/artifacts/model", strings.NewReader("x"), 1); st != 400 {
		t.Fatalf("file over a directory: %d %s", st, body)
	}
	st, list := e.get("rita", "artifacts?path="+url.QueryEscape(id+"/"+rid+"/artifacts/model"))
	if st != 200 || string(list) != `{"files":[{"path":"MLmodel","is_dir":false,"file_size":12},{"path":"data","is_dir":true}]}`+"\n" {
		t.Fatalf("list: %d %s", st, list)
	}
	if st, b := e.get("rita", "artifacts/"+id+"/"+rid+"/artifacts/model/data/w.bin"); st != 200 || !bytes.Equal(b, data) {
		t.Fatalf("download: %d %q", st, b)
	}
	if st, b := e.get("rita", "artifacts?path="+url.QueryEscape(id+"/"+rid+"/artifacts/model/MLmodel")); st != 200 || string(b) != `{"files":[]}`+"\n" {
		t.Fatalf("list of a file: %d %s", st, b)
	}
	if st, _ := e.get("rita", "artifacts/"+id+"/"+rid+"/artifacts/model/none"); st != 404 {
		t.Fatalf("missing download: %d", st)
	}

	// Register from runs:/ — the version's files are the run's, verified.
	e.must("paul", "POST", "registered-models/create", map[string]any{"name": "m"})
	e.wantError(400, "INVALID_PARAMETER_VALUE", "paul", "POST", "model-versions/create", map[string]any{"name": "m", "source": "runs:/" + rid + "/empty"})
	e.wantError(404, "RESOURCE_DOES_NOT_EXIST", "paul", "POST", "model-versions/create", map[string]any{"name": "m", "source": "runs:/nope/model"})
	e.wantError(400, "INVALID_PARAMETER_VALUE", "paul", "POST", "model-versions/create", map[string]any{"name": "m", "source": "runs:/" + rid + "/model",
		"tags": []map[string]string{{"key": sourceTag, "value": "x"}}})
	mv := e.must("paul", "POST", "model-versions/create", map[string]any{"name": "m", "source": "runs:/" + rid + "/model", "run_id": rid})["model_version"].(map[string]any)
	if mv["status"] != "READY" || mv["source"] != "runs:/"+rid+"/model" || mv["run_id"] != rid || mv["tags"] != nil {
		t.Fatalf("version: %v", mv)
	}
	v, err := e.svc.GetVersion(t.Context(), "m", 1)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if len(v.Artifacts) != 2 || v.Artifacts[1].Path != "data/w.bin" || v.Artifacts[1].SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("files: %+v", v.Artifacts)
	}
	if v.Metrics["acc"].Value != 0.9 || v.Metrics["acc"].Source != registry.SourceTraining || v.Params["lr"] != "0.1" {
		t.Fatalf("metrics/params: %+v %+v", v.Metrics, v.Params)
	}
	if _, ok := v.Metrics["loss"]; ok {
		t.Fatal("a NaN metric was copied")
	}
	if v.Lineage.Run.RunID != rid || v.Lineage.Code.Commit != "abc1234def" || v.Lineage.Code.EntryPoint != "train.py" {
		t.Fatalf("lineage: %+v", v.Lineage)
	}
	uri := e.must("rita", "GET", "model-versions/get-download-uri", url.Values{"name": {"m"}, "version": {"1"}})["artifact_uri"]
	if uri != "mlflow-artifacts:/"+id+"/"+rid+"/artifacts/model" {
		t.Fatalf("download uri: %v", uri)
	}
	e.wantError(400, "INVALID_PARAMETER_VALUE", "paul", "POST", "model-versions/set-tag", map[string]any{"name": "m", "version": "1", "key": filesTag, "value": "0/x/artifacts"})
}

func TestLoggedModels(t *testing.T) {
	e := newTrackingEnv(t)
	rid := e.must("paul", "POST", "runs/create", map[string]any{"experiment_id": "0"})["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	m := e.must("paul", "POST", "logged-models", map[string]any{"experiment_id": "0", "name": "model", "source_run_id": rid,
		"params": []map[string]string{{"key": "alpha", "value": "1"}}})["model"].(map[string]any)["info"].(map[string]any)
	mid := m["model_id"].(string)
	if m["status"] != "LOGGED_MODEL_PENDING" || m["artifact_uri"] != "mlflow-artifacts:/0/models/"+mid+"/artifacts" {
		t.Fatalf("logged model: %v", m)
	}
	e.wantError(404, "RESOURCE_DOES_NOT_EXIST", "paul", "POST", "logged-models", map[string]any{"experiment_id": "0", "source_run_id": "nope"})
	e.wantError(400, "INVALID_PARAMETER_VALUE", "paul", "PATCH", "logged-models/"+mid, map[string]any{"model_id": mid, "status": "DONE"})
	e.wantError(400, "INVALID_PARAMETER_VALUE", "paul", "PATCH", "logged-models/"+mid, map[string]any{"model_id": "other", "status": "LOGGED_MODEL_READY"})
	if st, body := e.put("paul", "0/models/"+mid+"/artifacts/MLmodel", strings.NewReader("m"), 1); st != 200 {
		t.Fatalf("put: %d %s", st, body)
	}
	e.must("paul", "PATCH", "logged-models/"+mid, map[string]any{"model_id": mid, "status": "LOGGED_MODEL_READY"})
	e.must("paul", "PATCH", "logged-models/"+mid+"/tags", map[string]any{"tags": []map[string]string{{"key": "k", "value": "v"}}})
	found := e.must("rita", "POST", "logged-models/search", map[string]any{"experiment_ids": []string{"0"}, "filter": "name = 'model'"})["models"].([]any)
	if len(found) != 1 || found[0].(map[string]any)["info"].(map[string]any)["status"] != "LOGGED_MODEL_READY" {
		t.Fatalf("search: %v", found)
	}
	e.wantError(400, "INVALID_PARAMETER_VALUE", "rita", "POST", "logged-models/search", map[string]any{"experiment_ids": []string{"0"}, "filter": "metrics.acc > 1"})
	e.must("paul", "POST", "registered-models/create", map[string]any{"name": "m"})
	mv := e.must("paul", "POST", "model-versions/create", map[string]any{"name": "m", "source": "models:/" + mid, "run_id": rid, "model_id": mid})["model_version"].(map[string]any)
	if mv["status"] != "READY" || mv["source"] != "models:/"+mid {
		t.Fatalf("version: %v", mv)
	}
	v, _ := e.svc.GetVersion(t.Context(), "m", 1)
	if v.Params["alpha"] != "1" || v.Lineage.Run.RunID != rid || len(v.Artifacts) != 1 {
		t.Fatalf("version from logged model: %+v", v)
	}
}

// patterned is a streamed body of n bytes that is never held in memory.
type patterned struct{ n, off int64 }

func (p *patterned) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	k := min(int64(len(b)), p.n-p.off)
	for i := range b[:k] {
		b[i] = byte((p.off + int64(i)) * 31)
	}
	p.off += k
	return int(k), nil
}

// rss returns this process's resident set size in bytes (Linux), or the Go
// runtime's Sys elsewhere.
func rss() int64 {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				return kb << 10
			}
		}
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.Sys)
}

// peakRSSGrowth runs fn while it samples the process's RSS every 20 ms,
// and fails t if the peak is over 100 MB above where it started.
func peakRSSGrowth(t *testing.T, what string, fn func()) {
	t.Helper()
	runtime.GC()
	base := rss()
	var peak atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if r := rss(); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	fn()
	close(stop)
	<-done
	grew := peak.Load() - base
	t.Logf("RSS %d MB before, peak %d MB during %s (+%d MB)", base>>20, peak.Load()>>20, what, grew>>20)
	if grew > 100<<20 {
		t.Fatalf("RSS grew by %d MB during %s; want at most 100 MB", grew>>20, what)
	}
}

// TestUpload1GiBStreams sends a 1 GiB log_artifact through the proxy (the
// client and the server are this process) and samples the process's RSS
// every 20 ms: it must stay within 100 MB of where it started.
func TestUpload1GiBStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB upload")
	}
	e := newTrackingEnv(t)
	rid := e.must("paul", "POST", "runs/create", map[string]any{"experiment_id": "0"})["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	const size = 1 << 30
	var st int
	var body string
	peakRSSGrowth(t, "a 1 GiB upload", func() { st, body = e.put("paul", "0/"+rid+"/artifacts/big.bin", &patterned{n: size}, size) })
	if st != 200 {
		t.Fatalf("upload: %d %s", st, body)
	}
	st, list := e.get("rita", "artifacts?path=0/"+rid+"/artifacts")
	if st != 200 || !strings.Contains(string(list), `"file_size":1073741824`) {
		t.Fatalf("list: %d %s", st, list)
	}
}
