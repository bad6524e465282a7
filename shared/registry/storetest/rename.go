package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/filesystem"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/registry/artifacttest"
)

// Renaming a model, through the service on the store under test: the
// store's side of it (records deleted at a revision, audit entries moved
// between models, version tags following their version) and the whole
// move, its crash recovery and its races.
var renameTests = []test{
	{"StoreDeletions", withStore(testRenameStoreDeletions)},
	{"Whole", withStore(testRenameWhole)},
	{"ResumeAfterCrash", withStore(testRenameResume)},
	{"Refusals", withStore(testRenameRefusals)},
	{"WritesDuringMove", withStore(testRenameWritesRefused)},
	{"Races", withStore(testRenameRaces)},
	{"LockAfterCheck", withStore(testRenameLockAfterCheck)},
	{"ChecksCarried", withStore(testRenameChecksCarried)},
	{"ChecksUnderContention", withStore(testChecksUnderContention)},
}

// testRenameStoreDeletions: DeletedVersions, DeletedAudit and
// DeletedDeployments delete at the stored revision (Conflict wrapping
// ErrStale otherwise, nothing written), a version's spilled tags go with
// it, and one Change moves an audit entry and a deployment to another
// model keeping their IDs. A model's rename state and a version's storage
// name round-trip.
func testRenameStoreDeletions(t *testing.T, s registry.Store) {
	ctx := context.Background()
	tags := map[string]string{}
	for i := range 23 {
		tags[fmt.Sprintf("k%02d", i)] = "v"
	}
	m := registry.Model{Name: "a", CreatedAt: at(0), UpdatedAt: at(0), Revision: 1,
		Rename: &registry.RenameState{Phase: registry.RenameMoving, From: "a", To: "b", By: "admin", Reason: "typo", At: at(1), Cursor: "versions:x:y", Copied: 3}}
	v := registry.Version{Model: "a", Number: 1, Status: registry.StatusReady, Stage: registry.StageNone, Tags: tags,
		StorageName: "old", CreatedAt: at(0), UpdatedAt: at(0), StageChangedAt: at(0), Revision: 1}
	a := registry.AuditEntry{ID: registry.NewID(at(2)), Model: "a", Action: registry.ActionModelCreated, Actor: "admin", At: at(2)}
	d := deployment("a", "dp-1", at(3))
	if err := s.Commit(ctx, &registry.Change{Models: []registry.Model{m}, Versions: []registry.Version{v},
		Audit: []registry.AuditEntry{a}, Deployments: []registry.Deployment{d}}); err != nil {
		t.Fatal(err)
	}
	gm, err := s.GetModel(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "model with a rename", gm, m)
	gv, err := s.GetVersion(ctx, "a", 1)
	if err != nil {
		t.Fatal(err)
	}
	if gv.StorageName != "old" || gv.Storage() != "old" {
		t.Fatalf("storage name %q", gv.StorageName)
	}
	// Wrong revisions and missing entries: stale, nothing deleted.
	for i, ch := range []*registry.Change{
		{DeletedVersions: []registry.Version{{Model: "a", Number: 1, Tags: tags, Revision: 2}}},
		{DeletedDeployments: []registry.Deployment{{Model: "a", ID: "dp-1", Revision: 2}}},
		{DeletedAudit: []registry.AuditEntry{{Model: "b", ID: a.ID}}, DeletedVersions: []registry.Version{v}},
	} {
		if err := s.Commit(ctx, ch); !isStale(err) {
			t.Fatalf("change %d: %v, want stale", i, err)
		}
	}
	if _, err := s.GetVersion(ctx, "a", 1); err != nil {
		t.Fatalf("a failed change deleted the version: %v", err)
	}
	// The move: delete and write under the other model in one Change.
	moved, md := a, d
	moved.Model, md.Model = "b", "b"
	if err := s.Commit(ctx, &registry.Change{DeletedVersions: []registry.Version{v}, DeletedAudit: []registry.AuditEntry{a},
		Audit: []registry.AuditEntry{moved}, DeletedDeployments: []registry.Deployment{d}, Deployments: []registry.Deployment{md}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetVersion(ctx, "a", 1); !registry.IsCode(err, registry.NotFound) {
		t.Fatalf("deleted version: %v", err)
	}
	p, err := s.ListVersions(ctx, registry.VersionQuery{Model: "a", TagKey: "k20", IncludeDeleted: true, Limit: 10})
	if err != nil || len(p.Items) != 0 {
		t.Fatalf("tags of a deleted version still match: %v %v", p.Items, err)
	}
	// A version created again at that number has only its own tags.
	v2 := v
	v2.Tags = map[string]string{"only": "1"}
	if err := s.Commit(ctx, &registry.Change{Versions: []registry.Version{v2}}); err != nil {
		t.Fatal(err)
	}
	if gv, err := s.GetVersion(ctx, "a", 1); err != nil || len(gv.Tags) != 1 {
		t.Fatalf("version made again: %v %v", gv.Tags, err)
	}
	for _, model := range []string{"a", "b"} {
		h, err := s.ListAudit(ctx, registry.AuditQuery{Model: model, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		want := 0
		if model == "b" {
			want = 1
		}
		if len(h.Items) != want {
			t.Fatalf("audit of %s: %v", model, h.Items)
		}
		dp, err := s.ListDeployments(ctx, registry.DeploymentQuery{Model: model, Limit: 10})
		if err != nil || len(dp.Items) != want {
			t.Fatalf("deployments of %s: %v %v", model, dp.Items, err)
		}
	}
	if _, err := s.GetDeployment(ctx, "b", "dp-1"); err != nil {
		t.Fatal(err)
	}
}

// renameEnv is a service over the store under test with files on disk.
type renameEnv struct {
	t     *testing.T
	ctx   context.Context
	store registry.Store
	fs    *filesystem.Artifacts
	svc   *registry.Service
}

// crashStore fails the Commit numbered crashAt (1-based) as a process that
// dies there would: nothing of it is written, the caller gets an error.
type crashStore struct {
	registry.Store
	commits, crashAt atomic.Int64
}

var errCrash = errors.New("crashed")

func (c *crashStore) Commit(ctx context.Context, ch *registry.Change) error {
	if n := c.commits.Add(1); n == c.crashAt.Load() {
		return errCrash
	}
	return c.Store.Commit(ctx, ch)
}

func newRenameEnv(t *testing.T, s registry.Store) *renameEnv {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	fs, err := filesystem.New(t.TempDir(), srv.URL, bytes.Repeat([]byte("s"), 32))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	mux.Handle("/blobs/", fs.Handler())
	e := &renameEnv{t: t, store: s, fs: fs,
		ctx: registry.WithPrincipal(context.Background(), registry.Principal{Name: "ciso", Role: registry.RoleAdmin})}
	e.svc = e.service(s)
	return e
}

func (e *renameEnv) service(s registry.Store) *registry.Service {
	svc, err := registry.NewService(registry.Config{Store: s, Artifacts: e.fs, Secret: bytes.Repeat([]byte("k"), 32),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		e.t.Fatal(err)
	}
	return svc
}

func renameData(model string, n int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("weights of %s v%d;", model, n)), 200)
}

// register registers a version of model with one uploaded file.
func (e *renameEnv) register(model string, tags map[string]string) int {
	e.t.Helper()
	v, err := e.svc.RegisterVersion(e.ctx, model, registry.NewVersion{Tags: tags})
	if err != nil {
		e.t.Fatal(err)
	}
	data := renameData(model, v.Number)
	sum := sha256.Sum256(data)
	tk, err := e.svc.CreateUpload(e.ctx, model, v.Number, []registry.FileSpec{{Path: "model.bin", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}})
	if err != nil {
		e.t.Fatal(err)
	}
	artifacttest.SendParts(e.t, tk.Files[0], data)
	if _, err := e.svc.CompleteUpload(e.ctx, model, v.Number, tk.UploadID); err != nil {
		e.t.Fatal(err)
	}
	return v.Number
}

// download fetches the file of a version through the service's link.
func (e *renameEnv) download(model string, n int) []byte {
	e.t.Helper()
	set, err := e.svc.Downloads(e.ctx, model, n, "")
	if err != nil {
		e.t.Fatalf("downloads of %s v%d: %v", model, n, err)
	}
	res, err := http.Get(set.Files[0].URL)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		e.t.Fatalf("download of %s v%d: %s", model, n, res.Status)
	}
	return b
}

// populate makes model m: 3 versions with files (v1 deleted, v3 with
// tags enough to spill), aliases, two deploy targets, 50 deployments, a
// decided approval, and description and tags on the model. It returns the
// number of audit entries m has.
func (e *renameEnv) populate(m string) int {
	e.t.Helper()
	ctx := e.ctx
	if _, err := e.svc.CreateModel(ctx, registry.NewModel{Name: m, Description: "fraud", Tags: map[string]string{"team": "risk"}}); err != nil {
		e.t.Fatal(err)
	}
	many := map[string]string{}
	for i := range 17 {
		many[fmt.Sprintf("t%02d", i)] = "x"
	}
	e.register(m, nil)
	e.register(m, map[string]string{"k": "v"})
	e.register(m, many)
	if _, err := e.svc.DeleteVersion(ctx, m, 1, "bad data"); err != nil {
		e.t.Fatal(err)
	}
	for _, al := range []string{"champion", "challenger"} {
		if _, err := e.svc.SetAlias(ctx, m, al, 2); err != nil {
			e.t.Fatal(err)
		}
	}
	ch := &registry.Change{DeployTargets: []registry.DeployTarget{webhookTarget(m, "dt-1", at(0)), sagemakerTarget(m, "dt-2", at(1))},
		Approvals: []registry.Approval{{ID: "ap-" + m, Model: m, Version: 2, TargetStage: registry.StageProduction, RequestedBy: "ci",
			Status: registry.ApprovalRejected, DecidedBy: "boss", ExpiresAt: at(3600), CreatedAt: at(0), UpdatedAt: at(0), ApprovalsRequired: 1, Revision: 1}}}
	for i := range 50 {
		ch.Deployments = append(ch.Deployments, deployment(m, fmt.Sprintf("dp-%02d", i), at(time.Duration(i)*time.Second)))
	}
	if err := e.store.Commit(ctx, ch); err != nil {
		e.t.Fatal(err)
	}
	h, err := e.store.ListAudit(ctx, registry.AuditQuery{Model: m, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(h.Items)
}

// checkRenamed checks that everything of model from (populated) answers
// under to, and nothing is left under from but the rename's mark.
func (e *renameEnv) checkRenamed(from, to string, entries int) {
	e.t.Helper()
	ctx := e.ctx
	m, err := e.svc.GetModel(ctx, to)
	if err != nil {
		e.t.Fatal(err)
	}
	if m.Rename != nil || m.Description != "fraud" || m.Tags["team"] != "risk" || m.LatestVersion != 3 {
		e.t.Fatalf("renamed model %+v", m)
	}
	if _, err := e.svc.GetModel(ctx, from); !registry.IsCode(err, registry.NotFound) || !strings.Contains(registry.ErrorMessage(err), "renamed to") {
		e.t.Fatalf("old name: %v", err)
	}
	vs, err := e.store.ListVersions(ctx, registry.VersionQuery{Model: to, IncludeDeleted: true, Limit: 10})
	if err != nil || len(vs.Items) != 3 {
		e.t.Fatalf("versions under the new name: %v %v", vs.Items, err)
	}
	if v, err := e.svc.GetVersion(ctx, to, 3); err != nil || len(v.Tags) != 17 {
		e.t.Fatalf("v3: %v %v", v.Tags, err)
	}
	if _, err := e.svc.GetVersion(ctx, to, 1); !registry.IsCode(err, registry.NotFound) || !strings.Contains(registry.ErrorMessage(err), "bad data") {
		e.t.Fatalf("the tombstone: %v", err)
	}
	for _, n := range []int{2, 3} {
		if got := e.download(to, n); !bytes.Equal(got, renameData(from, n)) {
			e.t.Fatalf("v%d downloads other bytes after the rename", n)
		}
	}
	p, err := e.store.ListVersions(ctx, registry.VersionQuery{Model: to, TagKey: "t16", Limit: 10})
	if err != nil || len(p.Items) != 1 {
		e.t.Fatalf("tag index under the new name: %v %v", p.Items, err)
	}
	if al, err := e.svc.ListAliases(ctx, to); err != nil || len(al) != 2 || al[0].Version != 2 {
		e.t.Fatalf("aliases: %v %v", al, err)
	}
	if ts, err := e.store.ListDeployTargets(ctx, to); err != nil || len(ts) != 2 {
		e.t.Fatalf("targets: %v %v", ts, err)
	}
	if ds, err := e.store.ListDeployments(ctx, registry.DeploymentQuery{Model: to, Limit: 100}); err != nil || len(ds.Items) != 50 {
		e.t.Fatalf("deployments: %d %v", len(ds.Items), err)
	}
	if a, err := e.store.GetApproval(ctx, "ap-"+from); err != nil || a.Model != to {
		e.t.Fatalf("approval: %+v %v", a, err)
	}
	h, err := e.store.ListAudit(ctx, registry.AuditQuery{Model: to, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(h.Items) != entries+1 || h.Items[0].Action != registry.ActionModelRenamed || h.Items[0].Details["from"] != from {
		e.t.Fatalf("history under the new name: %d entries (want %d), newest %+v", len(h.Items), entries+1, h.Items[0])
	}
	// Nothing left under the old name but the mark.
	old, err := e.store.ListVersions(ctx, registry.VersionQuery{Model: from, IncludeDeleted: true, Limit: 10})
	if err != nil || len(old.Items) != 0 {
		e.t.Fatalf("versions left under the old name: %v %v", old.Items, err)
	}
	if al, err := e.store.ListAliases(ctx, from); err != nil || len(al) != 0 {
		e.t.Fatalf("aliases left: %v %v", al, err)
	}
	if ts, err := e.store.ListDeployTargets(ctx, from); err != nil || len(ts) != 0 {
		e.t.Fatalf("targets left: %v %v", ts, err)
	}
	if ds, err := e.store.ListDeployments(ctx, registry.DeploymentQuery{Model: from, Limit: 100}); err != nil || len(ds.Items) != 0 {
		e.t.Fatalf("deployments left: %d %v", len(ds.Items), err)
	}
	oh, err := e.store.ListAudit(ctx, registry.AuditQuery{Model: from, Limit: 10})
	if err != nil || len(oh.Items) != 1 || oh.Items[0].Action != registry.ActionModelRenamed {
		e.t.Fatalf("old name's history: %v %v", oh.Items, err)
	}
	ms, err := e.svc.ListModels(ctx, "", "", 100)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, x := range ms.Items {
		if x.Name == from {
			e.t.Fatalf("old name listed")
		}
	}
}

// testRenameWhole: a rename moves everything, keeps the files where they
// are, emits its event; new versions store under the new name; the old
// name can be created again and numbers after the renamed model, so no
// file key is shared; deleting a renamed version removes its files.
func testRenameWhole(t *testing.T, s registry.Store) {
	e := newRenameEnv(t, s)
	ctx := e.ctx
	entries := e.populate("old")
	m, err := e.svc.RenameModel(ctx, "old", "new", "typo in the name")
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "new" || m.Rename != nil {
		t.Fatalf("rename returned %+v", m)
	}
	e.checkRenamed("old", "new", entries)
	// Again: the same answer, nothing more written.
	if again, err := e.svc.RenameModel(ctx, "old", "new", "typo in the name"); err != nil || again.Name != "new" {
		t.Fatalf("repeated rename: %+v %v", again, err)
	}
	e.checkRenamed("old", "new", entries)
	evs, err := s.PendingEvents(ctx, time.Now().Add(time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	renamed := 0
	for _, r := range evs {
		if r.Event.Type == registry.EventModelRenamed {
			renamed++
			if r.Event.Detail.Model != "new" || r.Event.Detail.FromName != "old" || r.Event.Detail.Reason != "typo in the name" {
				t.Fatalf("event %+v", r.Event.Detail)
			}
		}
	}
	if renamed != 1 {
		t.Fatalf("%d Model Renamed events", renamed)
	}
	// A new version of the renamed model stores under the new name.
	if n := e.register("new", nil); n != 4 {
		t.Fatalf("next version %d", n)
	}
	if got := e.download("new", 4); !bytes.Equal(got, renameData("new", 4)) {
		t.Fatal("v4 bytes")
	}
	// The old name again: numbering continues after the renamed model's.
	o, err := e.svc.CreateModel(ctx, registry.NewModel{Name: "old"})
	if err != nil {
		t.Fatal(err)
	}
	if o.LatestVersion != 3 {
		t.Fatalf("old name created again at %d", o.LatestVersion)
	}
	if n := e.register("old", nil); n != 4 {
		t.Fatalf("first version of the new old: %d", n)
	}
	if got := e.download("new", 2); !bytes.Equal(got, renameData("old", 2)) {
		t.Fatal("v2 of the renamed model changed")
	}
	// Deleting a renamed version removes its files, where they are.
	if _, err := e.svc.DeleteVersion(ctx, "new", 2, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fs.PresignDownload(ctx, "old", 2, "model.bin", time.Now().Add(time.Minute)); !registry.IsCode(err, registry.NotFound) {
		t.Fatalf("files of a deleted renamed version: %v", err)
	}
	if _, err := e.fs.PresignDownload(ctx, "old", 4, "model.bin", time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("the new old model's v4 lost its file: %v", err)
	}
	// Back onto a name in use: refused, nothing changed.
	_, err = e.svc.RenameModel(ctx, "new", "old", "")
	if !registry.IsCode(err, registry.Conflict) || !errors.Is(err, registry.ErrNameTaken) {
		t.Fatalf("rename onto an existing model: %v", err)
	}
	if x, err := e.svc.GetModel(ctx, "new"); err != nil || x.Rename != nil {
		t.Fatalf("refused rename changed the model: %+v %v", x, err)
	}
}

// testRenameResume: a crash at every Commit of a rename in turn (the lock,
// each batch, the flip, the cleanup): each retry commits one step and dies
// at the next, and between them readers see exactly one of the names; the
// last retry finishes with everything in place.
func testRenameResume(t *testing.T, s registry.Store) {
	e := newRenameEnv(t, s)
	entries := e.populate("m")
	crashes := 0
	for {
		cs := &crashStore{Store: s}
		cs.crashAt.Store(2)
		if crashes == 0 {
			cs.crashAt.Store(1) // the lock itself
		}
		_, err := e.service(cs).RenameModel(e.ctx, "m", "n", "resume")
		if err == nil {
			break
		}
		if !errors.Is(err, errCrash) {
			t.Fatalf("after %d crashes: %v", crashes, err)
		}
		crashes++
		_, errM := e.svc.GetModel(e.ctx, "m")
		_, errN := e.svc.GetModel(e.ctx, "n")
		if (errM == nil) == (errN == nil) {
			t.Fatalf("after %d crashes: old name %v, new name %v", crashes, errM, errN)
		}
		// Its versions too: once flipped, the old name's copies are gone
		// for readers (and reading one finishes the cleanup).
		_, errV := e.svc.GetVersion(e.ctx, "m", 2)
		if (errV == nil) != (errM == nil) {
			t.Fatalf("after %d crashes: old name %v, its version 2 %v", crashes, errM, errV)
		}
		if crashes > 100 {
			t.Fatal("the rename makes no progress across crashes")
		}
	}
	t.Logf("%d crash points", crashes)
	if crashes < 8 {
		t.Fatalf("only %d crash points: the test does not reach every step", crashes)
	}
	e.checkRenamed("m", "n", entries)
}

// testRenameRefusals: bad names, the same name, a PENDING_UPLOAD version,
// a missing model, a name holding a deleted model's versions: refused,
// nothing changed.
func testRenameRefusals(t *testing.T, s registry.Store) {
	e := newRenameEnv(t, s)
	ctx := e.ctx
	for _, name := range []string{"a", "b", "c"} {
		if _, err := e.svc.CreateModel(ctx, registry.NewModel{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	e.register("c", nil)
	if err := e.svc.DeleteModel(ctx, "c", "retired"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.RegisterVersion(ctx, "b", registry.NewVersion{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"d"} {
		if _, err := e.svc.CreateModel(ctx, registry.NewModel{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Commit(ctx, &registry.Change{Approvals: []registry.Approval{{ID: "ap-pending", Model: "d", Version: 1,
		TargetStage: registry.StageProduction, RequestedBy: "ci", Status: registry.ApprovalPending, ExpiresAt: at(3600),
		CreatedAt: at(0), UpdatedAt: at(0), ApprovalsRequired: 1, Revision: 1}}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from, to string
		code     registry.Code
		says     string
	}{
		{"a", "bad name", registry.Invalid, "name"},
		{"a", "", registry.Invalid, "name"},
		{"a", "a", registry.Invalid, "already has"},
		{"nope", "x", registry.NotFound, "not found"},
		{"a", "b", registry.Conflict, "already exists"},
		{"a", "c", registry.Conflict, "deleted"},
		{"b", "x", registry.Conflict, "PENDING_UPLOAD"},
		{"d", "x", registry.Conflict, "PENDING approval"},
	} {
		_, err := e.svc.RenameModel(ctx, tc.from, tc.to, "")
		if !registry.IsCode(err, tc.code) || !strings.Contains(registry.ErrorMessage(err), tc.says) {
			t.Errorf("rename %s to %q: %v, want %s saying %q", tc.from, tc.to, err, tc.code, tc.says)
		}
	}
	for _, name := range []string{"a", "b", "d"} {
		m, err := e.svc.GetModel(ctx, name)
		if err != nil || m.Rename != nil {
			t.Fatalf("%s after refusals: %+v %v", name, m, err)
		}
	}
	if _, err := e.store.GetModel(ctx, "x"); !registry.IsCode(err, registry.NotFound) {
		t.Fatalf("a refused rename reserved the name: %v", err)
	}
}

// testRenameWritesRefused: while a rename is under way (stopped after the
// lock), writes to the model answer Conflict naming the new name, reads
// work, and the new name is neither readable nor creatable; the rename
// then finishes.
func testRenameWritesRefused(t *testing.T, s registry.Store) {
	e := newRenameEnv(t, s)
	ctx := e.ctx
	entries := e.populate("m")
	cs := &crashStore{Store: s}
	cs.crashAt.Store(2) // the lock commits, the first copy does not
	if _, err := e.service(cs).RenameModel(ctx, "m", "n", ""); !errors.Is(err, errCrash) {
		t.Fatalf("rename: %v", err)
	}
	desc := "x"
	for what, err := range map[string]error{
		"update":   second(e.svc.UpdateModel(ctx, "m", registry.ModelPatch{Description: &desc})),
		"register": second(e.svc.RegisterVersion(ctx, "m", registry.NewVersion{})),
		"alias":    second(e.svc.SetAlias(ctx, "m", "new", 3)),
		"delete":   e.svc.DeleteModel(ctx, "m", ""),
		"version":  second(e.svc.UpdateVersion(ctx, "m", 3, registry.VersionPatch{Description: &desc})),
		"other":    second(e.svc.RenameModel(ctx, "m", "o", "")),
	} {
		if !registry.IsCode(err, registry.Conflict) || !strings.Contains(registry.ErrorMessage(err), `"n"`) {
			t.Errorf("%s during the rename: %v", what, err)
		}
	}
	if _, err := e.svc.CreateModel(ctx, registry.NewModel{Name: "n"}); !registry.IsCode(err, registry.Conflict) {
		t.Errorf("create the new name during the rename: %v", err)
	}
	if _, err := e.svc.GetModel(ctx, "n"); !registry.IsCode(err, registry.NotFound) {
		t.Errorf("read the new name during the rename: %v", err)
	}
	if _, err := e.svc.GetVersion(ctx, "m", 3); err != nil {
		t.Errorf("read during the rename: %v", err)
	}
	if _, err := e.svc.RenameModel(ctx, "m", "n", ""); err != nil {
		t.Fatal(err)
	}
	e.checkRenamed("m", "n", entries)
}

// testRenameRaces: two renames of one model race: one wins, the other is
// refused; two models renamed onto one name: one wins.
func testRenameRaces(t *testing.T, s registry.Store) {
	e := newRenameEnv(t, s)
	ctx := e.ctx
	for _, name := range []string{"m", "a", "b"} {
		if _, err := e.svc.CreateModel(ctx, registry.NewModel{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	svcs := []*registry.Service{e.svc, e.service(s)}
	targets := []string{"x", "y"}
	errs := race(2, func(i int) error { _, err := svcs[i].RenameModel(ctx, "m", targets[i], ""); return err })
	w := oneWinner(t, "two renames of one model", errs, func(err error) bool {
		return registry.IsCode(err, registry.Conflict) || registry.IsCode(err, registry.NotFound)
	})
	if _, err := e.svc.GetModel(ctx, targets[w]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.GetModel(ctx, targets[1-w]); !registry.IsCode(err, registry.NotFound) {
		t.Fatalf("the loser's name: %v", err)
	}
	froms := []string{"a", "b"}
	errs = race(2, func(i int) error { _, err := svcs[i].RenameModel(ctx, froms[i], "z", ""); return err })
	w = oneWinner(t, "two renames onto one name", errs, func(err error) bool { return registry.IsCode(err, registry.Conflict) })
	if _, err := e.svc.GetModel(ctx, froms[1-w]); err != nil {
		t.Fatalf("the loser: %v", err)
	}
}

// BenchmarkRename renames a model of versions versions (with an alias and
// their audit entries) back and forth, one rename per iteration, and
// reports versions moved per second. Registering the same versions one
// by one (sub-benchmark register) is the baseline measured in the same
// run: a rename writes about three items per version, a registration two.
func BenchmarkRename(b *testing.B, s registry.Store, versions int) {
	svc := burstService(b, s)
	ctx := registry.WithPrincipal(context.Background(), registry.Principal{Name: "bench", Role: registry.RoleAdmin})
	model := "bench-" + strings.ToLower(registry.RandomToken(6))
	if _, err := svc.CreateModel(ctx, registry.NewModel{Name: model}); err != nil {
		b.Fatal(err)
	}
	register := func(name string) {
		for range versions {
			if _, err := svc.RegisterVersion(ctx, name, registry.NewVersion{Source: "s3://bench/" + name}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("register", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			name := fmt.Sprintf("%s-r%d", model, i)
			if _, err := svc.CreateModel(ctx, registry.NewModel{Name: name}); err != nil {
				b.Fatal(err)
			}
			register(name)
		}
		b.ReportMetric(float64(versions*b.N)/b.Elapsed().Seconds(), "versions/s")
	})
	register(model)
	if _, err := svc.SetAlias(ctx, model, "champion", versions); err != nil {
		b.Fatal(err)
	}
	b.Run("rename", func(b *testing.B) {
		names := [2]string{model, model + "-renamed"}
		for i := 0; b.Loop(); i++ {
			if _, err := svc.RenameModel(ctx, names[i%2], names[(i+1)%2], ""); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(versions*b.N)/b.Elapsed().Seconds(), "versions/s")
	})
}
