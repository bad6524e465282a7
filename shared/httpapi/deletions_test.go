package httpapi

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// seedProduction puts version number of model in Production straight
// through the store (the approval workflow that does it has not arrived),
// with the audit entry StageAt reads.
func (e *env) seedProduction(model string, number int) time.Time {
	e.t.Helper()
	ctx := as("adam")
	m, err := e.store.GetModel(ctx, model)
	if err != nil {
		e.t.Fatal(err)
	}
	v, err := e.store.GetVersion(ctx, model, number)
	if err != nil {
		e.t.Fatal(err)
	}
	now := e.svc.Now()
	ch := &registry.Change{}
	if m.ProductionVersion != 0 {
		old, err := e.store.GetVersion(ctx, model, m.ProductionVersion)
		if err != nil {
			e.t.Fatal(err)
		}
		old.Stage, old.Revision = registry.StageArchived, old.Revision+1
		ch.Versions = append(ch.Versions, old)
		ch.Audit = append(ch.Audit, registry.AuditEntry{ID: registry.NewID(now), Model: model, Version: old.Number,
			Action: registry.ActionStageChanged, Actor: "adam", From: registry.StageProduction, To: registry.StageArchived, At: now})
	}
	from := v.Stage
	v.Stage, v.StageChangedAt, v.Revision = registry.StageProduction, now, v.Revision+1
	m.ProductionVersion, m.Revision = number, m.Revision+1
	ch.Models, ch.Versions = []registry.Model{m}, append(ch.Versions, v)
	ch.Audit = append(ch.Audit, registry.AuditEntry{ID: registry.NewID(now), Model: model, Version: number,
		Action: registry.ActionStageChanged, Actor: "adam", From: from, To: registry.StageProduction, At: now})
	if err := e.store.Commit(ctx, ch); err != nil {
		e.t.Fatal(err)
	}
	return now
}

// seedPendingApproval records a PENDING approval for version number.
func (e *env) seedPendingApproval(model string, number int) {
	e.t.Helper()
	now := e.svc.Now()
	a := registry.Approval{ID: registry.NewID(now), Model: model, Version: number, TargetStage: registry.StageProduction,
		RequestedBy: "paul", Status: registry.ApprovalPending, ExpiresAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now, Revision: 1}
	if err := e.store.Commit(as("adam"), &registry.Change{Approvals: []registry.Approval{a}}); err != nil {
		e.t.Fatal(err)
	}
}

func TestDeleteVersionAndModel(t *testing.T) {
	e := newEnv(t)
	e.seedModel("fraud", 3)
	adam, rita := tok("adam"), tok("rita")
	const v = "/v1/models/fraud/versions"
	at := e.seedProduction("fraud", 1)
	time.Sleep(2 * time.Millisecond)
	e.seedProduction("fraud", 2) // v1 leaves Production (Archived)
	e.must(200, req{"PUT", "/v1/models/fraud/aliases/champion", tok("paul"), `{"version":1}`, nil}, nil)

	var tomb Version
	e.must(200, req{"DELETE", v + "/1", adam, `{"reason":"leaked training data"}`, nil}, &tomb)
	if !tomb.Deleted || tomb.Status != registry.StatusDeleted || tomb.DeletedBy != "adam" || tomb.DeletedAt == nil || tomb.DeleteReason != "leaked training data" {
		t.Fatalf("tombstone = %+v", tomb)
	}
	// GET is 404 and says who deleted it (MLflow clients expect a 404).
	res := e.do(req{"GET", v + "/1", rita, nil, nil})
	if res.status != 404 || !strings.Contains(res.errMessage(), "deleted by adam") || !strings.Contains(res.errMessage(), "leaked training data") {
		t.Fatalf("GET deleted version = %d %s", res.status, res.body)
	}
	// Its alias went with it.
	if res := e.do(req{"GET", "/v1/models/fraud/aliases/champion", rita, nil, nil}); res.status != 404 {
		t.Fatalf("alias of a deleted version = %d %s", res.status, res.body)
	}
	// Listings leave it out unless asked.
	var list List[Version]
	e.must(200, req{"GET", v, rita, nil, nil}, &list)
	if numbers(list.Items) != "3,2" {
		t.Fatalf("versions = %s, want 3,2", numbers(list.Items))
	}
	e.must(200, req{"GET", v + "?include_deleted=true", rita, nil, nil}, &list)
	if numbers(list.Items) != "3,2,1" || !list.Items[2].Deleted {
		t.Fatalf("versions with deleted = %s", numbers(list.Items))
	}
	e.must(200, req{"GET", v + "?status=DELETED", rita, nil, nil}, &list)
	if numbers(list.Items) != "1" {
		t.Fatalf("versions?status=DELETED = %s, want 1", numbers(list.Items))
	}
	// Production at a time when v1 held it answers with the tombstone.
	var then Version
	e.must(200, req{"GET", "/v1/models/fraud/stages/Production?at=" + at.Format(time.RFC3339Nano), rita, nil, nil}, &then)
	if then.Number != 1 || !then.Deleted || then.DeletedBy != "adam" {
		t.Fatalf("Production at %s = %+v, want the tombstone of v1", at, then)
	}
	// A repeated delete answers the tombstone again and changes nothing.
	before := e.snapshot()
	var again Version
	e.must(200, req{"DELETE", v + "/1", adam, nil, nil}, &again)
	if again.Revision != tomb.Revision || !again.Deleted {
		t.Fatalf("repeated delete = %+v, want the same tombstone", again)
	}
	if after := e.snapshot(); after != before {
		t.Fatalf("a repeated delete changed the registry:\n%s\n%s", before, after)
	}
	var h List[AuditEntry]
	e.must(200, req{"GET", "/v1/models/fraud/history?version=1", rita, nil, nil}, &h)
	if h.Items[0].Action != registry.ActionVersionDeleted || h.Items[0].Actor != "adam" || h.Items[0].Reason != "leaked training data" {
		t.Fatalf("newest entry of v1 = %+v", h.Items[0])
	}

	// The model cannot go while v2 is in Production.
	if res := e.do(req{"DELETE", "/v1/models/fraud", adam, nil, nil}); res.status != 409 {
		t.Fatalf("DELETE model with Production = %d %s", res.status, res.body)
	}
	e.seedProduction("fraud", 3)
	e.must(200, req{"DELETE", v + "/2", adam, nil, nil}, nil) // Archived now
	m, _ := e.store.GetModel(as("adam"), "fraud")
	m.ProductionVersion, m.Revision = 0, m.Revision+1 // as a rollback to nothing would
	v3, _ := e.store.GetVersion(as("adam"), "fraud", 3)
	v3.Stage, v3.Revision = registry.StageArchived, v3.Revision+1
	if err := e.store.Commit(as("adam"), &registry.Change{Models: []registry.Model{m}, Versions: []registry.Version{v3}}); err != nil {
		t.Fatal(err)
	}
	e.must(204, req{"DELETE", "/v1/models/fraud", adam, `{"reason":"project closed"}`, nil}, nil)
	res = e.do(req{"GET", "/v1/models/fraud", rita, nil, nil})
	if res.status != 404 || !strings.Contains(res.errMessage(), "was deleted by adam") {
		t.Fatalf("GET deleted model = %d %s", res.status, res.body)
	}
	// Created again, it continues the numbering; history shows both lives.
	var nm Model
	e.must(201, req{"POST", "/v1/models", tok("paul"), `{"name":"fraud"}`, nil}, &nm)
	if nm.LatestVersion != 3 {
		t.Fatalf("new model's latest_version = %d, want 3", nm.LatestVersion)
	}
	var nv Version
	e.must(201, req{"POST", v, tok("paul"), `{"source":"s3://b/fraud/4"}`, nil}, &nv)
	if nv.Number != 4 {
		t.Fatalf("first version of the new model = %d, want 4", nv.Number)
	}
	e.must(200, req{"GET", v, rita, nil, nil}, &list)
	if numbers(list.Items) != "4" {
		t.Fatalf("versions of the new model = %s, want 4", numbers(list.Items))
	}
	h = List[AuditEntry]{} // json.Unmarshal would merge into the old items
	e.must(200, req{"GET", "/v1/models/fraud/history?page_size=1000", rita, nil, nil}, &h)
	var actions []string
	for _, a := range h.Items {
		if a.Version == 0 && (a.Action == registry.ActionModelCreated || a.Action == registry.ActionModelDeleted) {
			actions = append(actions, string(a.Action))
		}
	}
	if got := strings.Join(actions, ","); got != "model.created,model.deleted,model.created" {
		t.Fatalf("model entries, newest first = %s", got)
	}
}

func numbers(vs []Version) string {
	var out []string
	for _, v := range vs {
		out = append(out, strconv.Itoa(v.Number))
	}
	return strings.Join(out, ",")
}
