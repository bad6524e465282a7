package dynamodb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/modelreg/modelreg/shared/dynamodb/wire"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/registry/storetest"
)

// BenchmarkOperations runs service operations over the DynamoDB store
// against DynamoDB Local and reports, per operation, the DynamoDB requests
// it made (req/op) and the capacity they consumed (RCU+WCU/op, from
// ReturnConsumedCapacity TOTAL). Run it with the plug-in started:
//
//	MODELREG_DYNAMODB_ENDPOINT=… go test -run XXX -bench Operations ./shared/dynamodb
func BenchmarkOperations(b *testing.B) {
	const model, versions = "bench", 200
	setup := func(b *testing.B) (*registry.Service, context.Context, *meter) {
		m := &meter{}
		c := newClient(b, localEndpoint(b), 0, wire.WithCapacity(m.observe))
		s := New(c, newTable(b, c))
		svc, err := registry.NewService(registry.Config{
			Store: s, Artifacts: storetest.UnusedArtifacts{}, Secret: bytes.Repeat([]byte("b"), 32), Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			b.Fatal(err)
		}
		ctx := registry.WithPrincipal(context.Background(), registry.Principal{Name: "bench", Role: registry.RoleAdmin})
		if _, err := svc.CreateModel(ctx, registry.NewModel{Name: model}); err != nil {
			b.Fatal(err)
		}
		for i := 1; i <= versions; i++ {
			in := registry.NewVersion{Source: "s3://bucket/v", Tags: map[string]string{"team": "risk", "nightly": fmt.Sprint(i%2 == 0)},
				Metrics: map[string]registry.Metric{"auc": {Value: 0.9, Source: registry.SourceValidation}}}
			if _, err := svc.RegisterVersion(ctx, model, in); err != nil {
				b.Fatal(err)
			}
		}
		for _, n := range []int{10, 20} {
			if _, err := svc.Transition(ctx, model, n, registry.StageStaging, "bench"); err != nil {
				b.Fatal(err)
			}
		}
		m.reset()
		return svc, ctx, m
	}
	ops := []struct {
		name string
		op   func(b *testing.B, svc *registry.Service, ctx context.Context, m *meter, i int) error
	}{
		{"CreateModel", func(b *testing.B, svc *registry.Service, ctx context.Context, m *meter, i int) error {
			_, err := svc.CreateModel(ctx, registry.NewModel{Name: fmt.Sprintf("m-%d", i)})
			return err
		}},
		{"RegisterVersion", func(b *testing.B, svc *registry.Service, ctx context.Context, m *meter, i int) error {
			_, err := svc.RegisterVersion(ctx, model, registry.NewVersion{Tags: map[string]string{"team": "risk"}})
			return err
		}},
		{"GetVersion", func(b *testing.B, svc *registry.Service, ctx context.Context, m *meter, i int) error {
			_, err := svc.GetVersion(ctx, model, i%versions+1)
			return err
		}},
		{"ListVersions", func(b *testing.B, svc *registry.Service, ctx context.Context, m *meter, i int) error {
			return wantItems(svc.ListVersions(ctx, model, registry.VersionFilter{}, "", 20))
		}},
		{"ListVersionsByTag", func(b *testing.B, svc *registry.Service, ctx context.Context, m *meter, i int) error {
			return wantItems(svc.ListVersions(ctx, model, registry.VersionFilter{Tag: "nightly=true"}, "", 20))
		}},
		{"TransitionToStaging", func(b *testing.B, svc *registry.Service, ctx context.Context, m *meter, i int) error {
			n := 100 + i%50
			m.pause(true) // move it back to None first, unmetered
			_, err := svc.Transition(ctx, model, n, registry.StageNone, "bench")
			m.pause(false)
			if err != nil && !registry.IsCode(err, registry.Conflict) {
				return err
			}
			_, err = svc.Transition(ctx, model, n, registry.StageStaging, "bench")
			return err
		}},
		{"SetAlias", func(b *testing.B, svc *registry.Service, ctx context.Context, m *meter, i int) error {
			_, err := svc.SetAlias(ctx, model, "champion", i%versions+1)
			return err
		}},
		{"StageVersion", func(b *testing.B, svc *registry.Service, ctx context.Context, m *meter, i int) error {
			v, err := svc.StageVersion(ctx, model, registry.StageStaging, nil)
			if err == nil && v.Number != 20 {
				err = fmt.Errorf("Staging version %d, want 20", v.Number)
			}
			return err
		}},
		{"History", func(b *testing.B, svc *registry.Service, ctx context.Context, m *meter, i int) error {
			return wantItems(svc.History(ctx, model, 0, "", 20))
		}},
	}
	for _, o := range ops {
		b.Run(o.name, func(b *testing.B) {
			svc, ctx, m := setup(b)
			i := 0
			for b.Loop() {
				i++
				if err := o.op(b, svc, ctx, m, i); err != nil {
					b.Fatal(err)
				}
			}
			req, capacity := m.totals()
			b.ReportMetric(float64(req)/float64(b.N), "req/op")
			b.ReportMetric(capacity/float64(b.N), "RCU+WCU/op")
		})
	}
}

func wantItems[T any](l registry.List[T], err error) error {
	if err == nil && len(l.Items) == 0 {
		err = errors.New("empty listing")
	}
	return err
}

// meter counts the DynamoDB calls of a client and sums the capacity they
// consumed; the client asks every call for ReturnConsumedCapacity TOTAL.
type meter struct {
	mu       sync.Mutex
	paused   bool
	requests int
	capacity float64
}

func (m *meter) observe(op string, consumed []wire.ConsumedCapacity, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.paused {
		return
	}
	m.requests++
	for _, c := range consumed {
		m.capacity += c.CapacityUnits
	}
}

func (m *meter) reset() {
	m.mu.Lock()
	m.requests, m.capacity = 0, 0
	m.mu.Unlock()
}

func (m *meter) pause(p bool) {
	m.mu.Lock()
	m.paused = p
	m.mu.Unlock()
}

func (m *meter) totals() (int, float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.requests, m.capacity
}

// BenchmarkBurst: 200 registrations of one model on DynamoDB Local,
// sequential against 32 concurrent callers through one service and
// through four services (four processes) on one table (see
// storetest.BenchmarkBurst). Run it with -benchtime 1x: one iteration
// registers 600 versions.
func BenchmarkBurst(b *testing.B) {
	c := localClient(b)
	storetest.BenchmarkBurst(b, New(c, newTable(b, c)), 4)
}

// BenchmarkRename: a model of 100 versions renamed back and forth on
// DynamoDB Local, against registering 100 versions in the same run (see
// storetest.BenchmarkRename).
func BenchmarkRename(b *testing.B) {
	c := localClient(b)
	storetest.BenchmarkRename(b, New(c, newTable(b, c)), 100)
}

// BenchmarkCheckedCommit: an alias Change committed on DynamoDB Local with
// and without a check of its model's revision (see
// storetest.BenchmarkCheckedCommit).
func BenchmarkCheckedCommit(b *testing.B) {
	c := localClient(b)
	storetest.BenchmarkCheckedCommit(b, New(c, newTable(b, c)))
}
