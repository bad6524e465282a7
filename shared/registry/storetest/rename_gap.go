package storetest

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// gapStore makes a rename run between a write's lock check and its
// commit: the first Commit of a Change setting the alias late starts
// rename (on a service over this store) and waits until the rename has
// copied everything and is about to flip; the flip waits until release
// is closed. So the write has passed the check before the lock existed,
// and reaches the store after the aliases were copied.
type gapStore struct {
	registry.Store
	late    string
	rename  func() error
	once    sync.Once
	flip    sync.Once
	atFlip  chan struct{}
	release chan struct{}
	renamed chan error
}

func (g *gapStore) Commit(ctx context.Context, ch *registry.Change) error {
	if slices.ContainsFunc(ch.Aliases, func(a registry.Alias) bool { return a.Name == g.late }) {
		g.once.Do(func() {
			go func() { g.renamed <- g.rename() }()
			select {
			case <-g.atFlip:
			case err := <-g.renamed:
				g.renamed <- err // for the test to read
			case <-time.After(time.Minute):
			}
		})
	}
	if len(ch.DeletedModels) > 0 && ch.DeletedModels[0].Rename != nil {
		g.flip.Do(func() {
			close(g.atFlip)
			<-g.release
		})
	}
	return g.Store.Commit(ctx, ch)
}

// testRenameLockAfterCheck: a write that creates a record without writing
// the model (setting a new alias) checks the lock, then the rename locks
// and copies the aliases before the write commits. The write carries a
// check of the model's revision it saw, so it fails stale, retries, meets
// the lock and answers Conflict; the rename then finishes with nothing
// lost or left under either name.
func testRenameLockAfterCheck(t *testing.T, s registry.Store) {
	e := newRenameEnv(t, s)
	ctx := e.ctx
	entries := e.populate("m")
	g := &gapStore{Store: s, late: "late", atFlip: make(chan struct{}), release: make(chan struct{}), renamed: make(chan error, 1)}
	renamer := e.service(g)
	g.rename = func() error { _, err := renamer.RenameModel(ctx, "m", "n", "typo"); return err }
	_, err := e.service(g).SetAlias(ctx, "m", "late", 2)
	select {
	case <-g.atFlip:
	default:
		t.Fatalf("the rename did not reach its flip while the write waited: %v", <-g.renamed)
	}
	close(g.release)
	if rerr := <-g.renamed; rerr != nil {
		t.Fatalf("rename: %v", rerr)
	}
	if !registry.IsCode(err, registry.Conflict) || !strings.Contains(registry.ErrorMessage(err), "being renamed") {
		t.Fatalf("alias set while the rename copied: %v (want Conflict \"being renamed\"; a success is lost by the cleanup)", err)
	}
	if errors.Is(err, registry.ErrStale) {
		t.Fatalf("the stale check leaked to the caller: %v", err)
	}
	e.checkRenamed("m", "n", entries)
	// The refused write can be made under the new name.
	if _, err := e.svc.SetAlias(ctx, "n", "late", 2); err != nil {
		t.Fatal(err)
	}
	if al, err := e.svc.ListAliases(ctx, "n"); err != nil || len(al) != 3 {
		t.Fatalf("aliases after the rename: %v %v", al, err)
	}
}

// recordStore keeps the CheckedModels of every Change committed through
// it (nil entries for Changes without checks).
type recordStore struct {
	registry.Store
	mu     sync.Mutex
	checks [][]registry.ModelCheck
}

func (r *recordStore) Commit(ctx context.Context, ch *registry.Change) error {
	r.mu.Lock()
	r.checks = append(r.checks, ch.CheckedModels)
	r.mu.Unlock()
	return r.Store.Commit(ctx, ch)
}

func (r *recordStore) take() [][]registry.ModelCheck {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.checks
	r.checks = nil
	return c
}

// testRenameChecksCarried: a write that does not write its model carries
// one check at the model's stored revision; a write of the model carries
// none, and neither do the rename's own steps.
func testRenameChecksCarried(t *testing.T, s registry.Store) {
	e := newRenameEnv(t, s)
	ctx := e.ctx
	e.populate("m")
	r := &recordStore{Store: s}
	svc := e.service(r)
	m, err := s.GetModel(ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetAlias(ctx, "m", "late", 2); err != nil {
		t.Fatal(err)
	}
	want := []registry.ModelCheck{{Name: "m", Revision: m.Revision}}
	if got := r.take(); len(got) != 1 || !slices.Equal(got[0], want) {
		t.Fatalf("alias set: checks %v, want one Change with %v", got, want)
	}
	desc := "d"
	if _, err := svc.UpdateModel(ctx, "m", registry.ModelPatch{Description: &desc}); err != nil {
		t.Fatal(err)
	}
	if got := r.take(); len(got) != 1 || got[0] != nil {
		t.Fatalf("model update: checks %v, want none", got)
	}
	if _, err := svc.RenameModel(ctx, "m", "n", ""); err != nil {
		t.Fatal(err)
	}
	got := r.take()
	if len(got) < 4 {
		t.Fatalf("rename committed %d Changes", len(got))
	}
	for i, c := range got {
		if c != nil {
			t.Fatalf("rename step %d carries checks %v", i, c)
		}
	}
}

// testChecksUnderContention: writes carrying a model check (aliases set)
// race registrations, which write the model each time: every one of
// them succeeds (a failed check is retried like any stale write), and
// the numbers come out without gaps.
func testChecksUnderContention(t *testing.T, s registry.Store) {
	e := newRenameEnv(t, s)
	ctx := e.ctx
	if _, err := e.svc.CreateModel(ctx, registry.NewModel{Name: "m"}); err != nil {
		t.Fatal(err)
	}
	e.register("m", nil)
	const n = 8
	svcs := []*registry.Service{e.svc, e.service(s)}
	errs := race(2*n, func(i int) error {
		svc := svcs[i%2]
		if i < n {
			_, err := svc.SetAlias(ctx, "m", "a"+strconv.Itoa(i), 1)
			return err
		}
		_, err := svc.RegisterVersion(ctx, "m", registry.NewVersion{})
		return err
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	if al, err := e.svc.ListAliases(ctx, "m"); err != nil || len(al) != n {
		t.Fatalf("aliases: %d %v, want %d", len(al), err, n)
	}
	if m, err := e.svc.GetModel(ctx, "m"); err != nil || m.LatestVersion != n+1 {
		t.Fatalf("latest version %d %v, want %d", m.LatestVersion, err, n+1)
	}
}
