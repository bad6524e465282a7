package storetest

import (
	"context"
	"errors"
	"slices"
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
