package console_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/console"
	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/registry/storetest"
	"github.com/modelreg/modelreg/shared/sqlite"
)

// The console's benchmarks (scripts/bench console): the server time to
// render the model page of a model with 100,000 versions (first page) and
// the compare page of 10 versions, p50/p99, and each page's weight with
// the styles and script it loads (goal: under 100 KB).

const benchVersions = 100_000

// benchConsole returns the console over a SQLite store holding model
// "bench" with benchVersions versions (Production: the 10th newest), and
// a session cookie of an approver.
func benchConsole(b *testing.B) (*console.Console, *http.Cookie) {
	st, err := sqlite.Open(benchDB(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	svc, err := registry.NewService(registry.Config{Store: st, Artifacts: storetest.UnusedArtifacts{},
		Secret: bytes.Repeat([]byte("b"), 32), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	toks := httpapi.NewTokens()
	if err := toks.Set("anna", registry.RoleApprover, approverToken); err != nil {
		b.Fatal(err)
	}
	c, err := console.New(svc, toks, console.Options{Key: bytes.Repeat([]byte("k"), 32), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	// Sign in through the form.
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, httptest.NewRequest("GET", "/login", nil))
	login := rec.Result().Cookies()[0]
	csrf := csrfRE.FindStringSubmatch(rec.Body.String())[1]
	req := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"csrf": {csrf}, "token": {approverToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(login)
	rec = httptest.NewRecorder()
	c.ServeHTTP(rec, req)
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == "modelreg_session" && ck.Value != "" {
			return c, ck
		}
	}
	b.Fatalf("sign-in answered %d without a session", rec.Code)
	return nil, nil
}

// benchDB returns the path of the benchmark database, built once per
// process (it takes about 40 s) and removed by TestMain.
func benchDB(b *testing.B) string {
	bench.Lock()
	defer bench.Unlock()
	if bench.path != "" {
		return bench.path
	}
	dir, err := os.MkdirTemp("", "modelreg-console-bench-")
	if err != nil {
		b.Fatal(err)
	}
	bench.dir = dir
	path := filepath.Join(dir, "bench.sqlite")
	start := time.Now()
	st, err := sqlite.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	populate(b, st, benchVersions)
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %d versions in %v", benchVersions, time.Since(start).Round(time.Millisecond))
	bench.path = path
	return path
}

var bench struct {
	sync.Mutex
	dir, path string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bench.dir != "" {
		os.RemoveAll(bench.dir)
	}
	os.Exit(code)
}

func populate(b *testing.B, st *sqlite.Store, n int) {
	ctx := context.Background()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	prod := n - 9
	m := registry.Model{Name: "bench", Owner: "risk", Description: "fraud scoring", CreatedBy: "bench", CreatedAt: t0, UpdatedAt: t0, Revision: 1}
	if err := st.Commit(ctx, &registry.Change{Models: []registry.Model{m}}); err != nil {
		b.Fatal(err)
	}
	for first := 1; first <= n; first += 1000 {
		last := min(first+999, n)
		ch := &registry.Change{}
		for i := first; i <= last; i++ {
			at := t0.Add(time.Duration(i) * time.Second)
			v := registry.Version{
				Model: "bench", Number: i, Status: registry.StatusReady, Stage: registry.StageNone,
				Description: fmt.Sprintf("nightly retrain %d", i),
				Metrics: map[string]registry.Metric{
					"auc":  {Value: 0.9 + float64(i%100)/1000, Source: registry.SourceValidation, RecordedAt: at},
					"f1":   {Value: 0.8 + float64(i%37)/1000, Source: registry.SourceValidation, RecordedAt: at},
					"loss": {Value: 0.1 + float64(i%13)/1000, Source: registry.SourceTraining, RecordedAt: at},
				},
				Params: map[string]string{"lr": fmt.Sprint(0.001 * float64(1+i%3)), "epochs": "20", "batch_size": "256", "optimizer": "adam"},
				Tags:   map[string]string{"team": "risk", "nightly": "true"},
				Lineage: registry.Lineage{
					Code: registry.CodeLineage{Repo: "https://github.com/acme/fraud", Commit: fmt.Sprintf("%040x", i), EntryPoint: "train.py"},
					Data: registry.DataLineage{DatasetID: fmt.Sprintf("ds-%d", i%10), DatasetVersion: "2025-01-01"},
				},
				Artifacts: []registry.Artifact{{Path: "model.bin", Size: 123456789, SHA256: fmt.Sprintf("%064x", i)}},
				CreatedBy: "bench", CreatedAt: at, UpdatedAt: at, StageChangedAt: at, Revision: 1,
			}
			if i == prod {
				v.Stage = registry.StageProduction
			} else if i%1000 == 1 && i <= n/2 {
				v.Stage = registry.StageStaging
			}
			ch.Versions = append(ch.Versions, v)
		}
		m.LatestVersion, m.Revision, m.UpdatedAt = last, m.Revision+1, t0.Add(time.Duration(last)*time.Second)
		if last >= prod {
			m.ProductionVersion = prod
		}
		ch.Models = []registry.Model{m}
		if err := st.Commit(ctx, ch); err != nil {
			b.Fatal(err)
		}
	}
}

// staticWeight is the size of the styles and script every page loads.
func staticWeight(b *testing.B, c *console.Console) int {
	n := 0
	for _, p := range []string{"/static/style.css", "/static/app.js"} {
		rec := httptest.NewRecorder()
		c.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != 200 {
			b.Fatalf("GET %s = %d", p, rec.Code)
		}
		n += rec.Body.Len()
	}
	return n
}

// benchPage renders path b.N times and reports p50/p99 server time and
// the page's weight with its assets.
func benchPage(b *testing.B, path string) {
	c, session := benchConsole(b)
	weight := staticWeight(b, c)
	times := make([]time.Duration, 0, b.N)
	var size int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("GET", path, nil)
		req.AddCookie(session)
		rec := httptest.NewRecorder()
		start := time.Now()
		c.ServeHTTP(rec, req)
		times = append(times, time.Since(start))
		if rec.Code != 200 {
			b.Fatalf("GET %s = %d: %.300s", path, rec.Code, rec.Body.String())
		}
		size = rec.Body.Len()
	}
	b.StopTimer()
	slices.Sort(times)
	pct := func(p float64) float64 {
		return float64(times[min(len(times)-1, int(p*float64(len(times))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(size), "html-bytes")
	b.ReportMetric(float64(size+weight), "page-bytes")
}

// BenchmarkModelPage: the model page (first page of 50 versions) of a
// model with 100,000 versions.
func BenchmarkModelPage(b *testing.B) { benchPage(b, "/models/bench") }

// BenchmarkComparePage: the compare page of the 10 newest versions, with
// the Production version among them and the chart of auc.
func BenchmarkComparePage(b *testing.B) {
	var vs []string
	for i := benchVersions; i > benchVersions-10; i-- {
		vs = append(vs, fmt.Sprint(i))
	}
	benchPage(b, "/models/bench/compare?metric=auc&v="+strings.Join(vs, ","))
}
