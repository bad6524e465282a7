package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// The burst of a hyperparameter sweep: BurstSize registrations of one model
// from BurstCallers concurrent callers.
const (
	BurstSize    = 200
	BurstCallers = 32
)

// burstService returns a Service over s, as one server process would build
// it: each has its own in-process state, so several on one store act like
// several processes (Lambda containers) sharing one table.
func burstService(tb testing.TB, s registry.Store) *registry.Service {
	tb.Helper()
	svc, err := registry.NewService(registry.Config{
		Store: s, Artifacts: UnusedArtifacts{}, Secret: bytes.Repeat([]byte("k"), 32),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return svc
}

// burstContext is the context of registration i: a publisher, and for
// every other registration an idempotency key, as the HTTP API passes it
// (the CLI sends one with every write).
func burstContext(ctx context.Context, model string, i int) context.Context {
	ctx = registry.WithPrincipal(ctx, registry.Principal{Name: "sweep", Role: registry.RolePublisher})
	if i%2 == 1 {
		return ctx
	}
	return registry.WithIdempotency(ctx, &registry.Idempotency{
		Key: fmt.Sprintf("burst/%s/%d", model, i), RequestHash: fmt.Sprint(i),
		Render: func(result any) ([]byte, error) { return json.Marshal(result) },
	})
}

// Burst registers n versions of model through svcs from callers concurrent
// callers (caller c uses svcs[c%len(svcs)]) and returns the number each
// registration i got. The model must exist.
func Burst(ctx context.Context, svcs []*registry.Service, model string, n, callers int) ([]int, error) {
	numbers := make([]int, n)
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for c := range callers {
		svc := svcs[c%len(svcs)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				v, err := svc.RegisterVersion(burstContext(ctx, model, i), model, registry.NewVersion{
					Description: fmt.Sprintf("candidate %d", i),
					Tags:        map[string]string{"candidate": fmt.Sprint(i)},
					Metrics:     map[string]registry.Metric{"auc": {Value: float64(i) / float64(n), Source: registry.SourceValidation}},
				})
				numbers[i], errs[i] = v.Number, err
			}
		}()
	}
	wg.Wait()
	return numbers, errors.Join(errs...)
}

// testBurst: BurstSize registrations from BurstCallers callers spread over
// processes services get exactly 1..BurstSize; every version, audit entry,
// event and idempotency record is there once, and each idempotency record
// holds the response its request got.
func testBurst(t *testing.T, s registry.Store, processes int) {
	svcs := make([]*registry.Service, processes)
	for i := range svcs {
		svcs[i] = burstService(t, s)
	}
	c := registry.WithPrincipal(ctx(t), registry.Principal{Name: "alice", Role: registry.RolePublisher})
	if _, err := svcs[0].CreateModel(c, registry.NewModel{Name: "sweep"}); err != nil {
		t.Fatalf("CreateModel: %v", err)
	}
	start := time.Now()
	numbers, err := Burst(ctx(t), svcs, "sweep", BurstSize, BurstCallers)
	if err != nil {
		t.Fatalf("burst: %v", err)
	}
	t.Logf("%d registrations from %d callers over %d services in %v", BurstSize, BurstCallers, processes, time.Since(start).Round(time.Millisecond))
	sorted := slices.Sorted(slices.Values(numbers))
	for i, got := range sorted {
		if got != i+1 {
			t.Fatalf("registered numbers %v, want exactly 1..%d", sorted, BurstSize)
		}
	}

	m, err := s.GetModel(c, "sweep")
	if err != nil {
		t.Fatal(err)
	}
	if m.LatestVersion != BurstSize {
		t.Errorf("LatestVersion = %d, want %d", m.LatestVersion, BurstSize)
	}
	vs := collect(t, "ListVersions(sweep)", 100, func(cursor string) (registry.Page[registry.Version], error) {
		return s.ListVersions(c, registry.VersionQuery{Model: "sweep", Cursor: cursor, Limit: 100})
	})
	if len(vs) != BurstSize {
		t.Fatalf("listed %d versions, want %d", len(vs), BurstSize)
	}
	for _, v := range vs {
		var cand int
		if _, err := fmt.Sscan(v.Tags["candidate"], &cand); err != nil || cand < 0 || cand >= BurstSize || numbers[cand] != v.Number {
			t.Fatalf("version %d holds candidate %q, which was answered with another number", v.Number, v.Tags["candidate"])
		}
		if v.Description != fmt.Sprintf("candidate %d", cand) || v.Metrics["auc"].Value != float64(cand)/BurstSize {
			t.Fatalf("version %d holds fields of another candidate than %d: %+v", v.Number, cand, v)
		}
	}

	trail := collect(t, "ListAudit(sweep)", 1000, func(cursor string) (registry.Page[registry.AuditEntry], error) {
		return s.ListAudit(c, registry.AuditQuery{Model: "sweep", Cursor: cursor, Limit: 1000})
	})
	perVersion := map[int]int{}
	for _, e := range trail {
		if e.Action == registry.ActionVersionRegistered {
			perVersion[e.Version]++
		}
	}
	for n := 1; n <= BurstSize; n++ {
		if perVersion[n] != 1 {
			t.Fatalf("version %d has %d %s audit entries, want 1", n, perVersion[n], registry.ActionVersionRegistered)
		}
	}
	if len(trail) != BurstSize+1 {
		t.Errorf("audit trail has %d entries, want %d (one create, one per version)", len(trail), BurstSize+1)
	}

	events, err := s.PendingEvents(c, time.Now().Add(time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	perEvent := map[int]int{}
	for _, e := range events {
		if e.Event.Type == registry.EventVersionRegistered && e.Event.Detail.Model == "sweep" {
			perEvent[e.Event.Detail.Version]++
		}
	}
	for n := 1; n <= BurstSize; n++ {
		if perEvent[n] != 1 {
			t.Fatalf("version %d has %d %q events in the outbox, want 1", n, perEvent[n], registry.EventVersionRegistered)
		}
	}
	if len(events) != BurstSize {
		t.Errorf("outbox holds %d events, want %d", len(events), BurstSize)
	}

	for i := 0; i < BurstSize; i += 2 {
		key := fmt.Sprintf("burst/sweep/%d", i)
		rec, err := s.GetIdempotency(c, key, time.Now())
		if err != nil {
			t.Fatalf("idempotency record of registration %d: %v", i, err)
		}
		var v registry.Version
		if err := json.Unmarshal(rec.Response, &v); err != nil || v.Number != numbers[i] {
			t.Fatalf("idempotency record of registration %d answers %s, want version %d", i, rec.Response, numbers[i])
		}
	}
}

var groupCommitTests = []test{
	{"StoresEveryIdempotencyRecord", withStore(testGroupIdempotency)},
	{"AnyUsedKeyWritesNothing", withStore(testGroupIdempotencyDuplicate)},
	{"OneKeyTwiceIsInvalid", withStore(testGroupIdempotencySameKey)},
}

// testGroupIdempotency: a Change carrying several requests stores the
// idempotency record of each.
func testGroupIdempotency(t *testing.T, s registry.Store) {
	n := now()
	commit(t, s, &registry.Change{
		Models:          []registry.Model{model("g")},
		Idempotency:     idem("k1", n, `{"n":1}`),
		MoreIdempotency: []registry.IdempotencyRecord{*idem("k2", n, `{"n":2}`), *idem("k3", n, `{"n":3}`)},
	})
	for i, key := range []string{"k1", "k2", "k3"} {
		rec, err := s.GetIdempotency(ctx(t), key, n)
		if err != nil {
			t.Fatalf("GetIdempotency(%s): %v", key, err)
		}
		if want := fmt.Sprintf(`{"n":%d}`, i+1); string(rec.Response) != want {
			t.Errorf("record %s holds %s, want %s", key, rec.Response, want)
		}
	}
}

// testGroupIdempotencyDuplicate: when one of a Change's keys was used,
// nothing of the Change is written, and the answer is ErrDuplicateRequest.
func testGroupIdempotencyDuplicate(t *testing.T, s registry.Store) {
	n := now()
	commit(t, s, &registry.Change{Models: []registry.Model{model("first")}, Idempotency: idem("used", n, `{}`)})
	err := s.Commit(ctx(t), &registry.Change{
		Models:          []registry.Model{model("g")},
		Idempotency:     idem("fresh", n, `{}`),
		MoreIdempotency: []registry.IdempotencyRecord{*idem("used", n, `{"again":true}`), *idem("fresh2", n, `{}`)},
	})
	wantDuplicate(t, "a Change with one used key among three", err)
	if _, err := s.GetModel(ctx(t), "g"); !registry.IsCode(err, registry.NotFound) {
		t.Errorf("model of the refused Change: %v, want NotFound", err)
	}
	for _, key := range []string{"fresh", "fresh2"} {
		if _, err := s.GetIdempotency(ctx(t), key, n); !registry.IsCode(err, registry.NotFound) {
			t.Errorf("record %s of the refused Change: %v, want NotFound", key, err)
		}
	}
	rec, err := s.GetIdempotency(ctx(t), "used", n)
	if err != nil || string(rec.Response) != `{}` {
		t.Errorf("the first record under the used key: %s, %v; want it unchanged", rec.Response, err)
	}
}

// testGroupIdempotencySameKey: one key twice in a Change is Invalid.
func testGroupIdempotencySameKey(t *testing.T, s registry.Store) {
	n := now()
	err := s.Commit(ctx(t), &registry.Change{
		Models:          []registry.Model{model("g")},
		Idempotency:     idem("k", n, `{"n":1}`),
		MoreIdempotency: []registry.IdempotencyRecord{*idem("k", n, `{"n":2}`)},
	})
	wantCode(t, "two records with one key", err, registry.Invalid)
	if _, err := s.GetModel(ctx(t), "g"); !registry.IsCode(err, registry.NotFound) {
		t.Errorf("model of the refused Change: %v, want NotFound", err)
	}
}

// BenchmarkBurst measures BurstSize registrations of one model through the
// Service over s three ways, on a fresh model each: one caller after the
// other; BurstCallers concurrent callers through one Service (one server);
// and BurstCallers callers spread over processes Services sharing s (as
// Lambda containers share one table). It reports each as registrations per
// second and the concurrent figures as ratios to the sequential one
// (goal: at least 1).
func BenchmarkBurst(b *testing.B, s registry.Store, processes int) {
	one := []*registry.Service{burstService(b, s)}
	many := make([]*registry.Service, processes)
	for i := range many {
		many[i] = burstService(b, s)
	}
	ctx := registry.WithPrincipal(context.Background(), registry.Principal{Name: "bench", Role: registry.RolePublisher})
	var seq, conc, procs time.Duration
	run := func(svcs []*registry.Service, callers int, model string) time.Duration {
		if _, err := one[0].CreateModel(ctx, registry.NewModel{Name: model}); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		numbers, err := Burst(ctx, svcs, model, BurstSize, callers)
		d := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if got := slices.Sorted(slices.Values(numbers)); got[0] != 1 || got[BurstSize-1] != BurstSize {
			b.Fatalf("numbers %v, want 1..%d", got, BurstSize)
		}
		return d
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		seq += run(one, 1, fmt.Sprintf("seq-%d", i))
		conc += run(one, BurstCallers, fmt.Sprintf("conc-%d", i))
		procs += run(many, BurstCallers, fmt.Sprintf("procs-%d", i))
	}
	rate := func(d time.Duration) float64 { return float64(BurstSize*b.N) / d.Seconds() }
	b.ReportMetric(rate(seq), "seq_regs/s")
	b.ReportMetric(rate(conc), "conc32_regs/s")
	b.ReportMetric(rate(procs), fmt.Sprintf("conc32_%dprocs_regs/s", processes))
	b.ReportMetric(seq.Seconds()/conc.Seconds(), "conc32/seq")
	b.ReportMetric(seq.Seconds()/procs.Seconds(), fmt.Sprintf("conc32_%dprocs/seq", processes))
}

// testBurstReplay: a registration whose idempotency key was used, queued
// with others, gets ErrDuplicateRequest (its caller replays the first
// response) and the others are numbered as if it were not there.
func testBurstReplay(t *testing.T, s registry.Store) {
	svc := burstService(t, s)
	c := registry.WithPrincipal(ctx(t), registry.Principal{Name: "alice", Role: registry.RolePublisher})
	if _, err := svc.CreateModel(c, registry.NewModel{Name: "sweep"}); err != nil {
		t.Fatal(err)
	}
	first, err := svc.RegisterVersion(burstContext(ctx(t), "sweep", 0), "sweep", registry.NewVersion{})
	if err != nil || first.Number != 1 {
		t.Fatalf("first registration: %d, %v", first.Number, err)
	}
	const n = 24
	numbers := make([]int, n)
	errs := race(n, func(i int) error {
		// i == 0 reuses the first registration's key; the others are new.
		v, err := svc.RegisterVersion(burstContext(ctx(t), "sweep", i*2), "sweep", registry.NewVersion{})
		numbers[i] = v.Number
		return err
	})
	if !errors.Is(errs[0], registry.ErrDuplicateRequest) {
		t.Fatalf("registration with a used key: %v, want ErrDuplicateRequest", errs[0])
	}
	if err := errors.Join(errs[1:]...); err != nil {
		t.Fatalf("other registrations: %v", err)
	}
	got := slices.Sorted(slices.Values(numbers[1:]))
	for i, v := range got {
		if v != i+2 {
			t.Fatalf("numbers %v, want 2..%d", got, n)
		}
	}
}
