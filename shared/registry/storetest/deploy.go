package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

var deployTests = []test{
	{"TargetsCreateUpdateDelete", withStore(testDeployTargets)},
	{"DeploymentsAdvanceAndList", withStore(testDeployments)},
	{"ProcessedEvents", withStore(testProcessedEvents)},
}

func webhookTarget(model, id string, created time.Time) registry.DeployTarget {
	return registry.DeployTarget{
		ID: id, Model: model, Kind: registry.TargetWebhook, URL: "https://hooks.example.com/" + id + "?q=ä",
		SealedSecret: "v1:sealed+/=" + id, SecretFingerprint: "sha256:0011223344556677",
		CreatedBy: "admin", CreatedAt: created, UpdatedAt: created, Revision: 1,
	}
}

func sagemakerTarget(model, id string, created time.Time) registry.DeployTarget {
	return registry.DeployTarget{
		ID: id, Model: model, Kind: registry.TargetSageMaker, Endpoint: "fraud-prod",
		ImageURI: "123456789012.dkr.ecr.us-east-1.amazonaws.com/serve:1", RoleARN: "arn:aws:iam::123456789012:role/SageMaker",
		InstanceType: "ml.m5.large", ArtifactPath: "model/model.tar.gz",
		CreatedBy: "admin", CreatedAt: created, UpdatedAt: created, Revision: 1,
	}
}

// testDeployTargets: targets round-trip exactly, belong to one model, are
// listed oldest first, and obey the revision rules for update and delete.
func testDeployTargets(t *testing.T, s registry.Store) {
	c := ctx(t)
	list := func(model string) []registry.DeployTarget {
		t.Helper()
		got, err := s.ListDeployTargets(c, model)
		if err != nil {
			t.Fatalf("ListDeployTargets(%s): %v", model, err)
		}
		return got
	}
	if got := list("nobody"); len(got) != 0 {
		t.Fatalf("targets of a model without any: %v", got)
	}
	a1 := webhookTarget("a", "dt-z1", at(time.Minute))
	a2 := sagemakerTarget("a", "dt-a2", at(2*time.Minute))
	b1 := webhookTarget("b", "dt-b1", at(0))
	commit(t, s, &registry.Change{DeployTargets: []registry.DeployTarget{a2, b1}})
	commit(t, s, &registry.Change{DeployTargets: []registry.DeployTarget{a1}})

	got, err := s.GetDeployTarget(c, "a", a2.ID)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "sagemaker target", got, a2)
	assertEqual(t, "targets of a (oldest first, not by id)", list("a"), []registry.DeployTarget{a1, a2})
	assertEqual(t, "targets of b", list("b"), []registry.DeployTarget{b1})
	_, err = s.GetDeployTarget(c, "b", a1.ID)
	wantCode(t, "target of another model", err, registry.NotFound)
	_, err = s.GetDeployTarget(c, "a", "dt-none")
	wantCode(t, "missing target", err, registry.NotFound)

	// Create twice: stale.
	wantStale(t, "create an existing target", s.Commit(c, &registry.Change{DeployTargets: []registry.DeployTarget{a1}}))
	// Update (rotate the secret) at the right revision; a stale one fails.
	rot := a1
	rot.SealedSecret, rot.SecretFingerprint, rot.UpdatedAt, rot.Revision = "v1:other", "sha256:8899aabbccddeeff", at(time.Hour), 2
	commit(t, s, &registry.Change{DeployTargets: []registry.DeployTarget{rot}})
	wantStale(t, "stale target update", s.Commit(c, &registry.Change{DeployTargets: []registry.DeployTarget{rot}}))
	got, _ = s.GetDeployTarget(c, "a", a1.ID)
	assertEqual(t, "rotated target", got, rot)
	// Delete names the stored revision.
	wantStale(t, "delete at an old revision", s.Commit(c, &registry.Change{DeletedDeployTargets: []registry.DeployTarget{a1}}))
	commit(t, s, &registry.Change{DeletedDeployTargets: []registry.DeployTarget{rot}})
	_, err = s.GetDeployTarget(c, "a", a1.ID)
	wantCode(t, "deleted target", err, registry.NotFound)
	assertEqual(t, "targets of a after delete", list("a"), []registry.DeployTarget{a2})
	wantStale(t, "delete again", s.Commit(c, &registry.Change{DeletedDeployTargets: []registry.DeployTarget{rot}}))
}

func deployment(model, id string, started time.Time) registry.Deployment {
	return registry.Deployment{
		ID: id, Model: model, Version: 3, PreviousVersion: 2, TargetID: "dt-1", TargetKind: registry.TargetWebhook,
		EventID: "ev-" + id, Status: registry.DeploymentStarted, Attempts: 1, Actor: "assumed-role/CI/run-7",
		StartedAt: started, UpdatedAt: started, Revision: 1,
	}
}

// testDeployments: deployments round-trip, advance by revision, and list
// newest first (StartedAt, then ID) in full pages.
func testDeployments(t *testing.T, s registry.Store) {
	c := ctx(t)
	ch := &registry.Change{}
	var want []registry.Deployment
	for i := range 7 {
		// Two share a start time: the larger ID comes first.
		started := at(time.Duration(i/2) * time.Minute)
		d := deployment("m", fmt.Sprintf("dp-%02d", i), started)
		ch.Deployments = append(ch.Deployments, d)
		want = append([]registry.Deployment{d}, want...)
	}
	ch.Deployments = append(ch.Deployments, deployment("other", "dp-other", at(time.Hour)))
	commit(t, s, ch)

	d := ch.Deployments[3]
	done := d
	done.Status, done.Reason, done.Attempts, done.External = registry.DeploymentFailed, "HTTP 500 from receiver ✗", 3, "cfg-m-3-abc"
	done.UpdatedAt, done.Revision = at(time.Hour), 2
	commit(t, s, &registry.Change{Deployments: []registry.Deployment{done}})
	wantStale(t, "stale deployment update", s.Commit(c, &registry.Change{Deployments: []registry.Deployment{done}}))
	wantStale(t, "create an existing deployment", s.Commit(c, &registry.Change{Deployments: []registry.Deployment{d}}))
	got, err := s.GetDeployment(c, "m", d.ID)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "advanced deployment", got, done)
	_, err = s.GetDeployment(c, "other", d.ID)
	wantCode(t, "deployment of another model", err, registry.NotFound)
	_, err = s.GetDeployment(c, "m", "dp-none")
	wantCode(t, "missing deployment", err, registry.NotFound)

	for i := range want {
		if want[i].ID == done.ID {
			want[i] = done
		}
	}
	for _, limit := range []int{1, 3, 7, 100} {
		all := collect(t, fmt.Sprintf("deployments limit %d", limit), limit, func(cursor string) (registry.Page[registry.Deployment], error) {
			return s.ListDeployments(c, registry.DeploymentQuery{Model: "m", Cursor: cursor, Limit: limit})
		})
		assertEqual(t, fmt.Sprintf("deployments limit %d", limit), all, want)
	}
	p, err := s.ListDeployments(c, registry.DeploymentQuery{Model: "none", Limit: 10})
	if err != nil || len(p.Items) != 0 || p.Next != "" {
		t.Fatalf("deployments of a model without any: %v, %v", p, err)
	}
	wantInvalidCursor(t, "deployments", func(cursor string) (registry.Page[registry.Deployment], error) {
		return s.ListDeployments(c, registry.DeploymentQuery{Model: "m", Cursor: cursor, Limit: 2})
	})
	_, err = s.ListDeployments(c, registry.DeploymentQuery{Model: "m", Limit: 0})
	wantCode(t, "limit 0", err, registry.Invalid)
}

// testProcessedEvents: a processed-event record is found until it expires;
// recording it again while unexpired is stale and writes nothing else of
// the Change; once expired it may be recorded again.
func testProcessedEvents(t *testing.T, s registry.Store) {
	c := ctx(t)
	rec := registry.ProcessedEvent{Consumer: "redeploy", EventID: "01JWNQ3JZ8T4EM2VQ1X0A6B7CE", ProcessedAt: at(0), ExpiresAt: at(time.Hour)}
	_, err := s.GetProcessed(c, rec.Consumer, rec.EventID, at(0))
	wantCode(t, "not processed yet", err, registry.NotFound)
	commit(t, s, &registry.Change{Processed: []registry.ProcessedEvent{rec}})

	got, err := s.GetProcessed(c, rec.Consumer, rec.EventID, at(time.Hour))
	if err != nil {
		t.Fatalf("GetProcessed at its expiry: %v", err)
	}
	assertEqual(t, "processed record", got, rec)
	_, err = s.GetProcessed(c, "notify", rec.EventID, at(0))
	wantCode(t, "another consumer", err, registry.NotFound)
	_, err = s.GetProcessed(c, rec.Consumer, rec.EventID, at(time.Hour+time.Microsecond))
	wantCode(t, "expired", err, registry.NotFound)

	// A second record while the first is unexpired: stale, and nothing
	// else of its Change is written.
	again := rec
	again.ProcessedAt, again.ExpiresAt = at(time.Hour), at(2*time.Hour)
	a := auditEntry("01JWNQ3JZ8T4EM2VQ1X0A6B7AA", "m", 1, registry.ActionStageChanged, at(time.Hour))
	wantStale(t, "record an unexpired event again", s.Commit(c, &registry.Change{
		Processed: []registry.ProcessedEvent{again}, Audit: []registry.AuditEntry{a},
		Deployments: []registry.Deployment{deployment("m", "dp-x", at(0))},
	}))
	if _, err := s.GetDeployment(c, "m", "dp-x"); !registry.IsCode(err, registry.NotFound) {
		t.Fatalf("deployment of a refused Change: %v", err)
	}
	p, err := s.ListAudit(c, registry.AuditQuery{Model: "m", Limit: 10})
	if err != nil || len(p.Items) != 0 {
		t.Fatalf("audit of a refused Change: %v, %v", p.Items, err)
	}
	got, _ = s.GetProcessed(c, rec.Consumer, rec.EventID, at(0))
	assertEqual(t, "first record kept", got, rec)

	// After expiry it may be recorded again.
	again.ProcessedAt = at(time.Hour + time.Microsecond)
	commit(t, s, &registry.Change{Processed: []registry.ProcessedEvent{again}})
	got, err = s.GetProcessed(c, rec.Consumer, rec.EventID, at(90*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "record after expiry", got, again)
	// Each consumer has its own record.
	other := rec
	other.Consumer = "notify"
	commit(t, s, &registry.Change{Processed: []registry.ProcessedEvent{other}})
	wantCode(t, "record without a consumer", s.Commit(c, &registry.Change{
		Processed: []registry.ProcessedEvent{{EventID: "e", ProcessedAt: at(0), ExpiresAt: at(time.Hour)}}}), registry.Invalid)
}
