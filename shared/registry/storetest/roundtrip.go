package storetest

import (
	"math"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

var roundTripTests = []test{
	{"Full", withStore(testRoundTripFull)},
	{"Minimal", withStore(testRoundTripMinimal)},
}

// ptr returns a pointer to a copy of t.
func ptr(t time.Time) *time.Time { return &t }

// Every field of every record set, with values that trip careless
// encodings: nanosecond-free but microsecond-exact times, floats that do not
// survive a float32 or a decimal with few digits, unicode, JSON with
// whitespace (an adapter that re-encodes it changes the bytes), binary
// bytes.
func fullRecords() (registry.Model, registry.Version, registry.Alias, registry.Approval, registry.Execution, registry.UploadSession, registry.AuditEntry, registry.Event) {
	us := time.Microsecond
	tenth, fifth := 0.1, 0.2
	inexact := tenth + fifth // 0.30000000000000004, not the constant 0.3
	m := registry.Model{
		Name: "fraud-detector.v2_eu", Description: "Détecteur de fraude — \"v2\"\nline two", Owner: "team-risk",
		Tags: map[string]string{"domain": "payments", "pii": "", "region:eu/west": "ñ"}, LatestVersion: 41, ProductionVersion: 38,
		CreatedBy: "alice@example.com", CreatedAt: at(1*us + 1*time.Second), UpdatedAt: at(999999 * us), Revision: 1,
		Policy: registry.Policy{
			Approval: registry.ApprovalAuto, ApprovalsRequired: 3, Approvers: []string{"carol", "group:risk-leads", "dave é"},
			Metrics: []registry.MetricRule{
				{Metric: "auc", Op: registry.OpGE, Value: inexact}, {Metric: "loss", Op: registry.OpLT, Value: 1e-300},
				{Metric: "latency_p99", Op: registry.OpLE, Value: math.MaxFloat64}, {Metric: "delta", Op: registry.OpEQ, Value: -123456789.123456789},
				{Metric: "auc", Op: registry.OpLT, Value: 1},
			},
			MustBeatProduction: []string{"auc", "latency_p99:min"}, RequireCommit: true, RequireCleanTree: true,
			RollbackRole: registry.RolePublisher,
		},
	}
	v := registry.Version{
		Model: m.Name, Number: 41, Status: registry.StatusPendingUpload, Stage: registry.StageStaging,
		Description: "retrained with 🚀 and \x01 control",
		Metrics: map[string]registry.Metric{
			"auc":         {Value: inexact, Source: registry.SourceValidation, RecordedAt: at(3 * us)},
			"loss":        {Value: 1e-300, Source: registry.SourceTraining, RecordedAt: at(time.Hour + 7*us)},
			"latency_p99": {Value: math.MaxFloat64, Source: registry.SourceProduction, RecordedAt: at(48 * time.Hour)},
			"delta":       {Value: -123456789.123456789, Source: registry.SourceProduction, RecordedAt: at(-time.Hour)},
		},
		Params: map[string]string{"lr": "0.001", "layers": "[64, 32]", "empty": ""},
		Tags:   map[string]string{"team": "risk", "candidate": ""},
		Lineage: registry.Lineage{
			Code:        registry.CodeLineage{Repo: "git@github.com:acme/fraud.git", Commit: "0123456789abcdef0123456789abcdef01234567", Dirty: true, EntryPoint: "train.py:main"},
			Data:        registry.DataLineage{DatasetID: "ds-payments", DatasetVersion: "2025-05-31", FeatureSetVersion: "fs-12"},
			Run:         registry.RunLineage{RunID: "sm-job-123", StartedAt: ptr(at(-2*time.Hour + 5*us)), EndedAt: ptr(at(-time.Hour))},
			Environment: registry.EnvLineage{ImageURI: "123.dkr.ecr.eu-west-1.amazonaws.com/train:1", RequirementsHash: sha('b')},
			SourceURI:   "s3://bucket/prefix/run-123/",
		},
		Artifacts: []registry.Artifact{
			{Path: "model/weights.bin", Size: 5 << 40, SHA256: sha('c')},
			{Path: "model/config.json", Size: 0, SHA256: sha('d')},
		},
		UploadID: "up-41", CreatedBy: "bob", CreatedAt: at(10 * us), UpdatedAt: at(20 * us), StageChangedAt: at(30 * us), Revision: 1,
	}
	al := registry.Alias{Model: m.Name, Name: "champion", Version: 38, UpdatedBy: "carol", UpdatedAt: at(11 * us), Revision: 1}
	ap := registry.Approval{
		ID: "01JWNQ3J0085C9ZSGN7KXW5R1P", Model: m.Name, Version: 41, TargetStage: registry.StageProduction, RequestedBy: "bob",
		Reason: "beats 38 on auc", Status: registry.ApprovalApproved, DecidedBy: "carol", Comment: "ok 👍",
		DecidedAt: ptr(at(2*time.Hour + 13*us)), ExpiresAt: at(72 * time.Hour), ArchiveExisting: true, Rollback: true,
		Criteria: map[string]float64{"auc": inexact, "loss": 1e-300}, ExecutionID: "exec-1",
		ApprovalsRequired: 2, AutoApproved: true, ArchivedVersion: 38,
		Decisions: []registry.ApprovalDecision{
			{By: "carol", Approve: true, Comment: "ok 👍", At: at(time.Hour + 7*us)},
			{By: "dave", At: at(2 * time.Hour)},
		},
		Checks:    []registry.PolicyCheck{{Name: "accuracy>=0.9", Passed: true, Detail: "accuracy 0.93 >= 0.9"}, {Name: "commit"}},
		TaskToken: "AQCEAAAAKgAAAAMAAAAAAAAAAd+secret==", CreatedAt: at(12 * us), UpdatedAt: at(2*time.Hour + 13*us), Revision: 1,
	}
	ex := registry.Execution{
		ID: "exec-1", Workflow: "promotion", Status: registry.ExecutionRunning, State: "WaitForApproval",
		Input:  []byte("{\n  \"approval_id\": \"" + ap.ID + "\",\n  \"n\": 1.50, \"u\": \"\\u00e9\"\n}"),
		Output: []byte(`{"b":2,"a":1}`), TaskToken: "task-token-\u00e9",
		TimeoutAt: at(72*time.Hour + us), Error: "States.Timeout", Cause: "no decision",
		StartedAt: at(13 * us), UpdatedAt: at(14 * us), Revision: 1,
	}
	up := registry.UploadSession{
		ID: "up-41", Model: m.Name, Version: 41, Status: registry.UploadOpen,
		Files: []registry.UploadFile{
			{Path: "model/weights.bin", Size: 100 << 20, SHA256: sha('c'), PartSize: 16 << 20, Parts: 7,
				PartSHA256: []string{sha('1'), sha('2'), sha('3'), sha('4'), sha('5'), sha('6'), sha('7')}, BackendID: "s3-upload-id+/=", Completed: false},
			{Path: "model/config.json", Size: 0, SHA256: sha('d'), PartSize: 1, Parts: 1, Completed: true},
		},
		CreatedBy: "bob", CreatedAt: at(15 * us), UpdatedAt: at(16 * us), ExpiresAt: at(time.Hour + 17*us), Revision: 1,
	}
	au := registry.AuditEntry{
		ID: "01JWNQ3JZ8T4EM2VQ1X0A6B7CD", Model: m.Name, Version: 41, Action: registry.ActionStageChanged, Actor: "bob",
		Reason: "promote ✔", From: registry.StageNone, To: registry.StageStaging,
		Criteria: map[string]float64{"auc": inexact}, ApprovalID: ap.ID, Rollback: true,
		Details: map[string]string{"alias": "champion", "previous_version": "38", "empty": ""}, At: at(time.Second + 18*us),
	}
	ev := registry.Event{
		ID: "01JWNQ3JZ8T4EM2VQ1X0A6B7CE", Type: registry.EventStageChanged, Source: registry.EventSource, Time: at(time.Second + 19*us),
		Detail: registry.EventDetail{Model: m.Name, Version: 41, From: registry.StageNone, To: registry.StageStaging, Actor: "bob",
			Reason: "promote ✔", ApprovalID: ap.ID, Status: "READY", Alias: "champion", Rollback: true, AuditID: au.ID,
			PreviousVersion: 38, TargetID: "dt-full", TargetKind: "webhook", DeploymentID: "dp-full"},
	}
	return m, v, al, ap, ex, up, au, ev
}

// testRoundTripFull writes fully populated records and reads each back
// through every method that returns it.
func testRoundTripFull(t *testing.T, s registry.Store) {
	m, v, al, ap, ex, up, au, ev := fullRecords()
	commit(t, s, &registry.Change{
		Models: []registry.Model{m}, Versions: []registry.Version{v}, Aliases: []registry.Alias{al},
		Approvals: []registry.Approval{ap}, Executions: []registry.Execution{ex}, Uploads: []registry.UploadSession{up},
		Audit: []registry.AuditEntry{au}, Events: []registry.Event{ev},
	})
	checkRoundTrip(t, s, m, v, al, ap, ex, up, au, ev)

	// Updates keep every field too.
	m.Revision, v.Revision, al.Revision, ap.Revision, ex.Revision, up.Revision = 2, 2, 2, 2, 2, 2
	v.Metrics["new"] = registry.Metric{Value: 42, Source: registry.SourceProduction, RecordedAt: at(99 * time.Hour)}
	ex.Output = []byte("[1, 2,\t3]")
	m.Policy.Metrics = m.Policy.Metrics[:1]
	m.Policy.Approvers = nil
	m.Policy.RequireCleanTree = false
	commit(t, s, &registry.Change{
		Models: []registry.Model{m}, Versions: []registry.Version{v}, Aliases: []registry.Alias{al},
		Approvals: []registry.Approval{ap}, Executions: []registry.Execution{ex}, Uploads: []registry.UploadSession{up},
	})
	checkRoundTrip(t, s, m, v, al, ap, ex, up, au, ev)

	// A version verified in the background: VERIFYING (found by its
	// status), then FAILED with its reason.
	v.Revision, up.Revision = 3, 3
	v.Status, up.Status = registry.StatusVerifying, registry.UploadVerifying
	commit(t, s, &registry.Change{Versions: []registry.Version{v}, Uploads: []registry.UploadSession{up}})
	checkRoundTrip(t, s, m, v, al, ap, ex, up, au, ev)
	pv, err := s.ListVersions(ctx(t), registry.VersionQuery{Model: v.Model, Status: registry.StatusVerifying, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "ListVersions with status VERIFYING", pv.Items, []registry.Version{v})
	v.Revision, up.Revision = 4, 4
	v.Status, v.StatusReason, up.Status = registry.StatusFailed, "file model.bin: sha256 mismatch — déclaré", registry.UploadAborted
	commit(t, s, &registry.Change{Versions: []registry.Version{v}, Uploads: []registry.UploadSession{up}})
	checkRoundTrip(t, s, m, v, al, ap, ex, up, au, ev)

	// A policy set back to the zero policy is gone, not kept from before.
	m.Revision = 3
	m.Policy = registry.Policy{}
	commit(t, s, &registry.Change{Models: []registry.Model{m}})
	gm, err := s.GetModel(ctx(t), m.Name)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "GetModel after the policy was cleared", gm, m)
}

func checkRoundTrip(t *testing.T, s registry.Store, m registry.Model, v registry.Version, al registry.Alias, ap registry.Approval,
	ex registry.Execution, up registry.UploadSession, au registry.AuditEntry, ev registry.Event) {
	t.Helper()
	c := ctx(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	gm, err := s.GetModel(c, m.Name)
	must(err)
	assertEqual(t, "GetModel", gm, m)
	pm, err := s.ListModels(c, registry.ModelQuery{Limit: 10})
	must(err)
	assertEqual(t, "ListModels", pm.Items, []registry.Model{m})

	gv, err := s.GetVersion(c, v.Model, v.Number)
	must(err)
	assertEqual(t, "GetVersion", gv, v)
	pv, err := s.ListVersions(c, registry.VersionQuery{Model: v.Model, Limit: 10})
	must(err)
	assertEqual(t, "ListVersions", pv.Items, []registry.Version{v})

	ga, err := s.GetAlias(c, al.Model, al.Name)
	must(err)
	assertEqual(t, "GetAlias", ga, al)
	la, err := s.ListAliases(c, al.Model)
	must(err)
	assertEqual(t, "ListAliases", la, []registry.Alias{al})

	gp, err := s.GetApproval(c, ap.ID)
	must(err)
	assertEqual(t, "GetApproval", gp, ap)
	if gp.TaskToken != ap.TaskToken {
		t.Errorf("GetApproval lost the task token: got %q, want %q", gp.TaskToken, ap.TaskToken)
	}
	pp, err := s.ListApprovals(c, registry.ApprovalQuery{Limit: 10})
	must(err)
	assertEqual(t, "ListApprovals", pp.Items, []registry.Approval{ap})

	ge, err := s.GetExecution(c, ex.ID)
	must(err)
	assertEqual(t, "GetExecution", ge, ex)
	if string(ge.Input) != string(ex.Input) || string(ge.Output) != string(ex.Output) || ge.TaskToken != ex.TaskToken {
		t.Errorf("GetExecution changed input, output or task token: got %q %q %q", ge.Input, ge.Output, ge.TaskToken)
	}
	pe, err := s.ListExecutions(c, registry.ExecutionQuery{Limit: 10})
	must(err)
	assertEqual(t, "ListExecutions", pe.Items, []registry.Execution{ex})

	gu, err := s.GetUpload(c, up.ID)
	must(err)
	assertEqual(t, "GetUpload", gu, up)

	pa, err := s.ListAudit(c, registry.AuditQuery{Model: au.Model, Limit: 10})
	must(err)
	assertEqual(t, "ListAudit", pa.Items, []registry.AuditEntry{au})
	sa, err := s.StageAt(c, au.Model, registry.StageStaging, au.At)
	must(err)
	assertEqual(t, "StageAt", sa, au)

	po, err := s.PendingEvents(c, ev.Time, 10)
	must(err)
	assertEqual(t, "PendingEvents", po, []registry.OutboxRecord{{Event: ev, NextAttemptAt: ev.Time}})
}

// testRoundTripMinimal writes records with only their keys and required
// fields: empty maps and slices, nil pointers and zero times come back as
// such (nil and empty are the same here, nil and non-nil pointers not).
func testRoundTripMinimal(t *testing.T, s registry.Store) {
	c := ctx(t)
	m := registry.Model{Name: "m", Tags: map[string]string{}, CreatedAt: at(0), UpdatedAt: at(0), Revision: 1}
	v := registry.Version{Model: "m", Number: 1, Status: registry.StatusReady, Stage: registry.StageNone,
		Metrics: map[string]registry.Metric{}, Artifacts: []registry.Artifact{}, Revision: 1}
	ap := registry.Approval{ID: "ap", Model: "m", Version: 1, Status: registry.ApprovalPending, Revision: 1}
	ex := registry.Execution{ID: "ex", Workflow: "promotion", Status: registry.ExecutionRunning, Input: []byte{}, Revision: 1}
	up := registry.UploadSession{ID: "up", Model: "m", Version: 1, Status: registry.UploadOpen, Revision: 1}
	commit(t, s, &registry.Change{Models: []registry.Model{m}, Versions: []registry.Version{v},
		Approvals: []registry.Approval{ap}, Executions: []registry.Execution{ex}, Uploads: []registry.UploadSession{up}})

	gm, err := s.GetModel(c, "m")
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "minimal model", gm, m)
	gv, err := s.GetVersion(c, "m", 1)
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "minimal version", gv, v)
	if !gv.CreatedAt.IsZero() || gv.Lineage.Run.StartedAt != nil {
		t.Errorf("minimal version: zero time or nil pointer came back set: %v %v", gv.CreatedAt, gv.Lineage.Run.StartedAt)
	}
	gp, err := s.GetApproval(c, "ap")
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "minimal approval", gp, ap)
	ge, err := s.GetExecution(c, "ex")
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "minimal execution", ge, ex)
	gu, err := s.GetUpload(c, "up")
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "minimal upload", gu, up)
}
