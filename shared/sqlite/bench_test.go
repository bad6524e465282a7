package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/registry/storetest"
)

// The benchmarks go through registry.Service over this store, on a model
// with 10 and with 100,000 versions. Run them with
//
//	go test -run XXX -bench . ./shared/sqlite
//
// Each database is built once per process (in 1,000-version Changes) and
// kept as a template file: read benchmarks open it, the write benchmark a
// copy.

// benchModel is the model the benchmarks use.
const benchModel = "bench"

var benchSizes = []int{10, 100_000}

func TestMain(m *testing.M) {
	code := m.Run()
	benchDBs.Lock()
	if benchDBs.dir != "" {
		os.RemoveAll(benchDBs.dir)
	}
	benchDBs.Unlock()
	os.Exit(code)
}

var benchDBs struct {
	sync.Mutex
	dir   string
	paths map[int]string
}

// benchTemplate returns the path of a closed database holding benchModel
// with n versions.
func benchTemplate(b *testing.B, n int) string {
	benchDBs.Lock()
	defer benchDBs.Unlock()
	if p, ok := benchDBs.paths[n]; ok {
		return p
	}
	if benchDBs.dir == "" {
		dir, err := os.MkdirTemp("", "modelreg-sqlite-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchDBs.dir, benchDBs.paths = dir, map[int]string{}
	}
	path := filepath.Join(benchDBs.dir, fmt.Sprintf("versions-%d.sqlite", n))
	start := time.Now()
	if err := populate(path, n); err != nil {
		b.Fatalf("populate %d versions: %v", n, err)
	}
	if fi, err := os.Stat(path); err == nil {
		b.Logf("built %d versions in %v (%d MB)", n, time.Since(start).Round(time.Millisecond), fi.Size()>>20)
	}
	benchDBs.paths[n] = path
	return path
}

// populate writes benchModel and n versions in Changes of 1,000 versions,
// each also moving the model's LatestVersion and Revision on, as
// RegisterVersion would.
func populate(path string, n int) error {
	s, err := Open(path)
	if err != nil {
		return err
	}
	ctx := context.Background()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	m := registry.Model{Name: benchModel, Owner: "bench", CreatedBy: "bench", CreatedAt: t0, UpdatedAt: t0, Revision: 1}
	if err := s.Commit(ctx, &registry.Change{Models: []registry.Model{m}}); err != nil {
		return errors.Join(err, s.Close())
	}
	for first := 1; first <= n; first += 1000 {
		last := min(first+999, n)
		ch := &registry.Change{Versions: make([]registry.Version, 0, last-first+1)}
		for i := first; i <= last; i++ {
			ch.Versions = append(ch.Versions, benchVersion(i, n, t0))
		}
		m.LatestVersion, m.Revision, m.UpdatedAt = last, m.Revision+1, t0.Add(time.Duration(last)*time.Second)
		ch.Models = []registry.Model{m}
		if err := s.Commit(ctx, ch); err != nil {
			return errors.Join(err, s.Close())
		}
	}
	return s.Close()
}

// benchVersion returns a version of typical size (metrics, params, tags,
// lineage, artifacts). A few old versions (number%1000 == 1 in the first
// half) are in Staging, so finding the newest Staging version by scanning
// from the top would read half the table.
func benchVersion(i, n int, t0 time.Time) registry.Version {
	at := t0.Add(time.Duration(i) * time.Second)
	v := registry.Version{
		Model: benchModel, Number: i, Status: registry.StatusReady, Stage: registry.StageNone,
		Description: fmt.Sprintf("nightly retrain %d", i),
		Metrics: map[string]registry.Metric{
			"auc":  {Value: 0.9 + float64(i%100)/1000, Source: registry.SourceValidation, RecordedAt: at},
			"f1":   {Value: 0.8, Source: registry.SourceValidation, RecordedAt: at},
			"loss": {Value: 0.1, Source: registry.SourceTraining, RecordedAt: at},
		},
		Params: map[string]string{"lr": "0.001", "epochs": "20", "batch_size": "256", "optimizer": "adam"},
		Tags:   map[string]string{"team": "risk", "dataset": fmt.Sprintf("ds-%d", i%10), "nightly": "true"},
		Lineage: registry.Lineage{
			Code: registry.CodeLineage{Repo: "git@github.com:acme/fraud.git", Commit: fmt.Sprintf("%040x", i), EntryPoint: "train.py"},
			Data: registry.DataLineage{DatasetID: fmt.Sprintf("ds-%d", i%10), DatasetVersion: "2025-01-01"},
			Run:  registry.RunLineage{RunID: fmt.Sprintf("run-%d", i)},
		},
		Artifacts: []registry.Artifact{
			{Path: "model.bin", Size: 123456789, SHA256: fmt.Sprintf("%064x", i)},
			{Path: "config.json", Size: 1234, SHA256: fmt.Sprintf("%064x", i+1)},
		},
		CreatedBy: "bench", CreatedAt: at, UpdatedAt: at, StageChangedAt: at, Revision: 1,
	}
	if i%1000 == 1 && i <= max(n/2, 1) {
		v.Stage = registry.StageStaging
	}
	return v
}

// benchService opens a database with n versions (a private copy if the
// benchmark writes) and returns a Service over it.
func benchService(b *testing.B, n int, writes bool) (*registry.Service, context.Context) {
	path := benchTemplate(b, n)
	if writes {
		dst := filepath.Join(b.TempDir(), "db.sqlite")
		if err := copyFile(dst, path); err != nil {
			b.Fatal(err)
		}
		path = dst
	}
	s, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	svc, err := registry.NewService(registry.Config{
		Store: s, Artifacts: storetest.UnusedArtifacts{}, Secret: bytes.Repeat([]byte("b"), 32),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	return svc, registry.WithPrincipal(context.Background(), registry.Principal{Name: "bench", Role: registry.RoleAdmin})
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// forSizes runs bench as the sub-benchmarks versions=10 and
// versions=100000.
func forSizes(b *testing.B, writes bool, bench func(b *testing.B, svc *registry.Service, ctx context.Context, n int)) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("versions=%d", n), func(b *testing.B) {
			svc, ctx := benchService(b, n, writes)
			b.ReportAllocs()
			bench(b, svc, ctx, n)
		})
	}
}

func BenchmarkRegister(b *testing.B) {
	forSizes(b, true, func(b *testing.B, svc *registry.Service, ctx context.Context, n int) {
		in := registry.NewVersion{
			Description: "bench",
			Metrics:     map[string]registry.Metric{"auc": {Value: 0.9, Source: registry.SourceValidation}},
			Params:      map[string]string{"lr": "0.001"},
			Tags:        map[string]string{"team": "risk"},
		}
		for b.Loop() {
			if _, err := svc.RegisterVersion(ctx, benchModel, in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkGetVersion(b *testing.B) {
	forSizes(b, false, func(b *testing.B, svc *registry.Service, ctx context.Context, n int) {
		i := 0
		for b.Loop() {
			i++
			if _, err := svc.GetVersion(ctx, benchModel, i*7919%n+1); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkListVersions(b *testing.B) {
	forSizes(b, false, func(b *testing.B, svc *registry.Service, ctx context.Context, n int) {
		for b.Loop() {
			l, err := svc.ListVersions(ctx, benchModel, registry.VersionFilter{}, "", 100)
			if err != nil {
				b.Fatal(err)
			}
			if len(l.Items) != min(n, 100) {
				b.Fatalf("listed %d versions", len(l.Items))
			}
		}
	})
}

func BenchmarkStageLookup(b *testing.B) {
	forSizes(b, false, func(b *testing.B, svc *registry.Service, ctx context.Context, n int) {
		for b.Loop() {
			v, err := svc.StageVersion(ctx, benchModel, registry.StageStaging, nil)
			if err != nil {
				b.Fatal(err)
			}
			if v.Stage != registry.StageStaging {
				b.Fatalf("StageVersion returned a %s version", v.Stage)
			}
		}
	})
}

// BenchmarkBurst: 200 registrations of one model, sequential against 32
// concurrent callers through one service and through four services on
// one database file (see storetest.BenchmarkBurst).
func BenchmarkBurst(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "db.sqlite"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	storetest.BenchmarkBurst(b, s, 4)
}

// BenchmarkRename: a model of 100 versions renamed back and forth, against
// registering 100 versions in the same run (see storetest.BenchmarkRename).
func BenchmarkRename(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "db.sqlite"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	storetest.BenchmarkRename(b, s, 100)
}

// BenchmarkCheckedCommit: an alias Change committed with and without a
// check of its model's revision (see storetest.BenchmarkCheckedCommit).
func BenchmarkCheckedCommit(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "db.sqlite"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	storetest.BenchmarkCheckedCommit(b, s)
}
