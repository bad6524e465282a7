package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

var concurrencyTests = []test{
	{"OneWriterWinsUpdate", withStore(testRaceUpdate)},
	{"OneWriterWinsCreate", withStore(testRaceCreate)},
	{"OneRequestPerIdempotencyKey", withStore(testRaceIdempotency)},
	{"ServiceRegistersWithoutGaps", withStore(testServiceRegisterRace)},
	{"BurstOneProcess", withStore(func(t *testing.T, s registry.Store) { testBurst(t, s, 1) })},
	{"BurstFourProcesses", withStore(func(t *testing.T, s registry.Store) { testBurst(t, s, 4) })},
	{"BurstWithReplayedKey", withStore(testBurstReplay)},
}

// race runs f(i) for i in 0..n-1 in goroutines released together and
// returns their errors.
func race(n int, f func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner checks that exactly one of errs is nil and that the others
// satisfy want; it returns the winner's index.
func oneWinner(t *testing.T, what string, errs []error, want func(error) bool) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("%s: writers %d and %d both succeeded", what, winner, i)
		case err == nil:
			winner = i
		case !want(err):
			t.Fatalf("%s: writer %d: unexpected error %v", what, i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: no writer succeeded", what)
	}
	return winner
}

func isStale(err error) bool {
	return registry.IsCode(err, registry.Conflict) && errors.Is(err, registry.ErrStale)
}

// testRaceUpdate: writers update the same model and version from the same
// revision; one wins, the others are stale, and the store holds the
// winner's write.
func testRaceUpdate(t *testing.T, s registry.Store) {
	const n = 16
	m, v := model("m"), version("m", 1)
	commit(t, s, &registry.Change{Models: []registry.Model{m}, Versions: []registry.Version{v}})
	mine := func(i int) (registry.Model, registry.Version) {
		m, v := m, v
		m.Description, m.LatestVersion, m.Revision = fmt.Sprintf("writer %d", i), i, 2
		v.Description, v.Revision = fmt.Sprintf("writer %d", i), 2
		return m, v
	}
	errs := race(n, func(i int) error {
		m, v := mine(i)
		return s.Commit(context.Background(), &registry.Change{Models: []registry.Model{m}, Versions: []registry.Version{v},
			Audit: []registry.AuditEntry{auditEntry(fmt.Sprintf("race-%02d", i), "m", 1, registry.ActionVersionUpdated, at(0))}})
	})
	w := oneWinner(t, "concurrent updates from revision 1", errs, isStale)
	wm, wv := mine(w)
	gm, err := s.GetModel(ctx(t), "m")
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "model after the race", gm, wm)
	gv, err := s.GetVersion(ctx(t), "m", 1)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "version after the race", gv, wv)
	p, err := s.ListAudit(ctx(t), registry.AuditQuery{Model: "m", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 1 || p.Items[0].ID != fmt.Sprintf("race-%02d", w) {
		t.Errorf("audit after the race: got %v, want only the winner's entry", p.Items)
	}
}

// testRaceCreate: writers create the same model; one wins.
func testRaceCreate(t *testing.T, s registry.Store) {
	const n = 16
	errs := race(n, func(i int) error {
		m := model("m")
		m.Description = fmt.Sprintf("writer %d", i)
		return s.Commit(context.Background(), &registry.Change{Models: []registry.Model{m}})
	})
	w := oneWinner(t, "concurrent creates", errs, isStale)
	got, err := s.GetModel(ctx(t), "m")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("writer %d", w); got.Description != want {
		t.Errorf("stored model from %q, want the winner %q", got.Description, want)
	}
}

// testRaceIdempotency: concurrent Changes with one idempotency key and
// otherwise unrelated writes; exactly one is written.
func testRaceIdempotency(t *testing.T, s registry.Store) {
	const n = 16
	created := now()
	errs := race(n, func(i int) error {
		return s.Commit(context.Background(), &registry.Change{
			Models:      []registry.Model{model(fmt.Sprintf("m%02d", i))},
			Idempotency: idem("k", created, fmt.Sprintf(`{"writer":%d}`, i)),
		})
	})
	w := oneWinner(t, "concurrent requests with one key", errs, func(err error) bool {
		return registry.IsCode(err, registry.Conflict) && errors.Is(err, registry.ErrDuplicateRequest)
	})
	p, err := s.ListModels(ctx(t), registry.ModelQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 1 || p.Items[0].Name != fmt.Sprintf("m%02d", w) {
		t.Errorf("models after the race: got %d (%v), want only the winner's", len(p.Items), p.Items)
	}
	rec, err := s.GetIdempotency(ctx(t), "k", created)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`{"writer":%d}`, w); string(rec.Response) != want {
		t.Errorf("stored response %s, want the winner's %s", rec.Response, want)
	}
}

// testServiceRegisterRace registers versions concurrently through the
// service: numbers come out 1..n with no gaps and no duplicates, and the
// trail and the outbox have one entry per version.
func testServiceRegisterRace(t *testing.T, s registry.Store) {
	const n = 50
	svc, err := registry.NewService(registry.Config{
		Store: s, Artifacts: UnusedArtifacts{}, Secret: bytes.Repeat([]byte("k"), 32),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := registry.WithPrincipal(ctx(t), registry.Principal{Name: "alice", Role: registry.RolePublisher})
	if _, err := svc.CreateModel(c, registry.NewModel{Name: "race"}); err != nil {
		t.Fatalf("CreateModel: %v", err)
	}
	numbers := make([]int, n)
	errs := race(n, func(i int) error {
		v, err := svc.RegisterVersion(c, "race", registry.NewVersion{
			Description: fmt.Sprintf("writer %d", i), Tags: map[string]string{"writer": fmt.Sprint(i)},
		})
		numbers[i] = v.Number
		return err
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("RegisterVersion: %v", err)
	}
	slices.Sort(numbers)
	for i, got := range numbers {
		if got != i+1 {
			t.Fatalf("registered numbers %v, want 1..%d", numbers, n)
		}
	}

	m, err := s.GetModel(c, "race")
	if err != nil {
		t.Fatal(err)
	}
	if m.LatestVersion != n {
		t.Errorf("LatestVersion = %d, want %d", m.LatestVersion, n)
	}
	// One create, then one write per group of registrations committed
	// together (at most one per version).
	if m.Revision < 2 || m.Revision > n+1 {
		t.Errorf("model revision = %d, want 2..%d", m.Revision, n+1)
	}
	vs := collect(t, "ListVersions(race)", 7, func(cursor string) (registry.Page[registry.Version], error) {
		return s.ListVersions(c, registry.VersionQuery{Model: "race", Cursor: cursor, Limit: 7})
	})
	writers := map[string]bool{}
	for i, v := range vs {
		if v.Number != n-i {
			t.Fatalf("listed version %d at position %d, want %d", v.Number, i, n-i)
		}
		writers[v.Tags["writer"]] = true
	}
	if len(vs) != n || len(writers) != n {
		t.Errorf("listed %d versions from %d writers, want %d of each", len(vs), len(writers), n)
	}
	trail := collect(t, "ListAudit(race)", 1000, func(cursor string) (registry.Page[registry.AuditEntry], error) {
		return s.ListAudit(c, registry.AuditQuery{Model: "race", Cursor: cursor, Limit: 1000})
	})
	registered, seen := 0, map[int]bool{}
	for _, e := range trail {
		if e.Action == registry.ActionVersionRegistered {
			registered++
			seen[e.Version] = true
		}
	}
	if len(trail) != n+1 || registered != n || len(seen) != n {
		t.Errorf("audit trail has %d entries, %d %s entries for %d versions; want %d, %d and %d",
			len(trail), registered, registry.ActionVersionRegistered, len(seen), n+1, n, n)
	}
	events, err := s.PendingEvents(c, time.Now().Add(time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != n {
		t.Errorf("outbox holds %d events, want %d", len(events), n)
	}
}

// UnusedArtifacts is a registry.Artifacts for tests and benchmarks of a
// Store through the Service that never touch artifacts: every method fails.
type UnusedArtifacts struct {
	// registry.Artifacts (nil) only keeps this fake compiling when the
	// port grows a method; every method the port has today is below.
	registry.Artifacts
}

var errUnused = errors.New("storetest: artifacts are not used by this test")

func (UnusedArtifacts) Begin(context.Context, registry.UploadSession, registry.UploadFile) (registry.UploadFile, error) {
	return registry.UploadFile{}, errUnused
}

func (UnusedArtifacts) PresignPart(context.Context, registry.UploadSession, registry.UploadFile, int, time.Time) (registry.PartRequest, error) {
	return registry.PartRequest{}, errUnused
}

func (UnusedArtifacts) UploadedParts(context.Context, registry.UploadSession, registry.UploadFile) ([]int, error) {
	return nil, errUnused
}

func (UnusedArtifacts) Complete(context.Context, registry.UploadSession, registry.UploadFile) error {
	return errUnused
}

func (UnusedArtifacts) Abort(context.Context, registry.UploadSession, registry.UploadFile) error {
	return errUnused
}

func (UnusedArtifacts) Discard(context.Context, string, int, string) error {
	return errUnused
}

func (UnusedArtifacts) RemoveVersion(context.Context, string, int) error {
	return errUnused
}

func (UnusedArtifacts) PresignDownload(context.Context, string, int, string, time.Time) (string, error) {
	return "", errUnused
}
