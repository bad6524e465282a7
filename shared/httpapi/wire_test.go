package httpapi

import (
	"bytes"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/wire/*.json from the current encoding")

// wireCases are representative results of the service, one per response
// shape of /v1, with every optional field both set and unset somewhere.
func wireCases() map[string]any {
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 891011000, time.UTC)
	t1 := t0.Add(90 * time.Second)
	started, ended := t0.Add(-2*time.Hour), t0.Add(-time.Hour)
	full := registry.Version{
		Model: "fraud_model", Number: 7, Status: registry.StatusReady, Stage: registry.StageStaging,
		Description: "beats v6 on recall\nsecond line",
		Metrics: map[string]registry.Metric{
			"accuracy": {Value: 0.931, Source: registry.SourceValidation, RecordedAt: t0},
			"loss":     {Value: 0.12, Source: registry.SourceTraining, RecordedAt: t0},
		},
		Params: map[string]string{"lr": "0.01", "depth": "8"},
		Tags:   map[string]string{"team": "risk"},
		Lineage: registry.Lineage{
			Code:        registry.CodeLineage{Repo: "git@example.com:risk/fraud.git", Commit: "0123456789abcdef0123456789abcdef01234567", Dirty: true, EntryPoint: "train.py"},
			Data:        registry.DataLineage{DatasetID: "tx-2026", DatasetVersion: "v3", FeatureSetVersion: "fs-9"},
			Run:         registry.RunLineage{RunID: "job-42", StartedAt: &started, EndedAt: &ended},
			Environment: registry.EnvLineage{ImageURI: "123.dkr.ecr/train:1", RequirementsHash: "sha256:abc"},
			SourceURI:   "s3://bucket/prefix",
		},
		Artifacts: []registry.Artifact{
			{Path: "model.bin", Size: 1234, SHA256: "aa00000000000000000000000000000000000000000000000000000000000000"},
			{Path: "conf/config.json", Size: 0, SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		},
		UploadID: "up-1", CreatedBy: "paul", CreatedAt: t0, UpdatedAt: t1, StageChangedAt: t1, Revision: 5,
	}
	bare := registry.Version{Model: "m", Number: 1, Status: registry.StatusPendingUpload, Stage: registry.StageNone,
		CreatedAt: t0, UpdatedAt: t0, StageChangedAt: t0, Revision: 1}
	decided := t1
	approval := registry.Approval{
		ID: "ap-1", Model: "fraud_model", Version: 7, TargetStage: registry.StageProduction, RequestedBy: "paul",
		Reason: "quarterly refresh", Status: registry.ApprovalApproved, DecidedBy: "anna", Comment: "ok",
		DecidedAt: &decided, ExpiresAt: t0.Add(72 * time.Hour), ArchiveExisting: true, Rollback: true,
		Criteria: map[string]float64{"accuracy": 0.931}, ExecutionID: "ex-1", TaskToken: "secret-task-token",
		CreatedAt: t0, UpdatedAt: t1, Revision: 3,
	}
	pending := registry.Approval{ID: "ap-2", Model: "m", Version: 1, TargetStage: registry.StageProduction,
		RequestedBy: "pia", Status: registry.ApprovalPending, ExpiresAt: t1, CreatedAt: t0, UpdatedAt: t0, Revision: 1}
	model := registry.Model{Name: "fraud_model", Description: "card fraud", Owner: "risk", Tags: map[string]string{"tier": "1"},
		LatestVersion: 7, ProductionVersion: 6, CreatedBy: "paul", CreatedAt: t0, UpdatedAt: t1, Revision: 9}
	alias := registry.Alias{Model: "fraud_model", Name: "champion", Version: 7, UpdatedBy: "paul", UpdatedAt: t1, Revision: 2}
	webhook := registry.DeployTarget{ID: "dt-01", Model: "fraud_model", Kind: registry.TargetWebhook, URL: "https://hooks.example.com/deploy",
		SealedSecret: "local:v1:SEALED-NEVER-SHOWN", SecretFingerprint: "sha256:0011223344556677", CreatedBy: "adam",
		CreatedAt: t0, UpdatedAt: t1, Revision: 2}
	sagemaker := registry.DeployTarget{ID: "dt-02", Model: "fraud_model", Kind: registry.TargetSageMaker, Endpoint: "fraud-prod",
		ImageURI: "123456789012.dkr.ecr.us-east-1.amazonaws.com/serve:1", RoleARN: "arn:aws:iam::123456789012:role/SageMaker",
		InstanceType: "ml.m5.large", ArtifactPath: "model.tar.gz", CreatedBy: "adam", CreatedAt: t0, UpdatedAt: t0, Revision: 1}
	deployment := registry.Deployment{ID: "dp-0a", Model: "fraud_model", Version: 7, PreviousVersion: 6, TargetID: "dt-01",
		TargetKind: registry.TargetWebhook, EventID: "ev-1", Status: registry.DeploymentFailed, Reason: "HTTP 503 from receiver",
		Attempts: 5, Actor: "anna", StartedAt: t0, UpdatedAt: t1, Revision: 3}
	begun := registry.Deployment{ID: "dp-0b", Model: "m", Version: 1, TargetID: "dt-02", TargetKind: registry.TargetSageMaker,
		EventID: "ev-2", Status: registry.DeploymentStarted, External: "m-1-cfg", StartedAt: t0, UpdatedAt: t0, Revision: 1}
	return map[string]any{
		"deploy_target":       webhook,
		"deploy_targets_page": registry.List[registry.DeployTarget]{Items: []registry.DeployTarget{webhook, sagemaker}},
		"deployment":          deployment,
		"deployments_page":    registry.List[registry.Deployment]{Items: []registry.Deployment{deployment, begun}, NextPageToken: "n"},
		"redelivery_202":      RedeliveryAccepted{EventID: "01JWNQ3JZ8T4EM2VQ1X0A6B7CE"},
		"version":             full,
		"version_bare":        bare,
		"model":               model,
		"model_bare":          registry.Model{Name: "m", CreatedAt: t0, UpdatedAt: t0, Revision: 1},
		"models_page":         registry.List[registry.Model]{Items: []registry.Model{model}, NextPageToken: "next.tok"},
		"versions_page":       registry.List[registry.Version]{Items: []registry.Version{full, bare}},
		"versions_empty":      registry.List[registry.Version]{Items: []registry.Version{}},
		"aliases_nil":         registry.List[registry.Alias]{},
		"alias":               alias,
		"alias_target":        AliasTarget{Alias: aliasOut(alias), Version: versionOut(bare)},
		"audit_page": registry.List[registry.AuditEntry]{Items: []registry.AuditEntry{
			{ID: "au-2", Model: "fraud_model", Version: 7, Action: registry.ActionStageChanged, Actor: "anna", Reason: "approved",
				From: registry.StageStaging, To: registry.StageProduction, Criteria: map[string]float64{"accuracy": 0.931},
				ApprovalID: "ap-1", Rollback: true, Details: map[string]string{"alias": "champion", "old": "6"}, At: t1},
			{ID: "au-1", Model: "fraud_model", Action: registry.ActionModelCreated, Actor: "paul", At: t0},
		}, NextPageToken: "n"},
		"approval":         approval,
		"approvals_page":   registry.List[registry.Approval]{Items: []registry.Approval{approval, pending}},
		"transition_moved": registry.TransitionResult{Version: &full},
		"transition_202":   registry.TransitionResult{Approval: &pending},
		"upload_ticket": registry.UploadTicket{UploadID: "up-1", Model: "fraud_model", Version: 7, ExpiresAt: t1,
			Files: []registry.FileTicket{
				{Path: "model.bin", Size: 40 << 20, PartSize: 16 << 20, Parts: []registry.PartRequest{
					{Number: 1, Method: "PUT", URL: "https://s3.example/b/k?partNumber=1&X-Amz-Signature=abc",
						Headers: map[string]string{"x-amz-checksum-sha256": "qqqq", "Content-Length": "16777216"}, Offset: 0, Size: 16 << 20},
					{Number: 3, Method: "PUT", URL: "https://s3.example/b/k?partNumber=3", Headers: map[string]string{}, Offset: 32 << 20, Size: 8 << 20},
				}},
				{Path: "empty.txt", Size: 0, PartSize: 1, Parts: []registry.PartRequest{}},
			}},
		"download_set": registry.DownloadSet{Model: "fraud_model", Version: 7, SourceURI: "s3://bucket/prefix", ExpiresAt: t1,
			Files: []registry.DownloadLink{{Artifact: full.Artifacts[0], URL: "http://127.0.0.1/blob/x?sig=1"}}},
		"download_empty": registry.DownloadSet{Model: "m", Version: 1, ExpiresAt: t1, Files: []registry.DownloadLink{}},
		"comparison": registry.Comparison{Model: "fraud_model", Versions: []registry.Version{full, bare},
			Metrics: []registry.MetricRow{{Name: "accuracy", Values: map[int]float64{7: 0.931, 1: 0.5}, HigherIsBetter: true, Best: []int{7}}},
			Params:  []registry.ParamRow{{Name: "lr", Values: map[int]string{7: "0.01"}, Differs: true}},
			By:      "accuracy", Ranking: []int{7, 1}},
		"comparison_plain": registry.Comparison{Model: "m", Versions: []registry.Version{bare, bare}},
		"error":            ErrorBody{Error: ErrorDetail{Code: registry.NotFound, Message: `model "x" not found`}},
		"health":           Health{Status: "ok", Version: "1.2.3"},
		"whoami":           WhoAmI{Name: "adam", Role: registry.RoleAdmin},
		"policy_default":   registry.Policy{},
		"policy": registry.Policy{Approval: registry.ApprovalAuto, ApprovalsRequired: 2, Approvers: []string{"anna", "group:risk-leads"},
			Metrics:            []registry.MetricRule{{Metric: "accuracy", Op: registry.OpGE, Value: 0.9}, {Metric: "latency_ms", Op: registry.OpLE, Value: 50}},
			MustBeatProduction: []string{"accuracy", "loss:min"}, RequireCommit: true, RequireCleanTree: true, RollbackRole: registry.RolePublisher},
	}
}

// TestWireBodies pins the JSON of every response shape byte for byte: the
// wire format is a contract that a refactoring of the domain must not move.
// The goldens were written by the encoding of registry types before the
// wire types existed.
func TestWireBodies(t *testing.T) {
	for name, result := range wireCases() {
		t.Run(name, func(t *testing.T) {
			got, err := renderBody(result)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "wire", name+".json")
			if *updateGolden {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("body changed:\n got %s\nwant %s", got, want)
			}
		})
	}
}

// renderBody is the body a route answers for a service result, through
// the stored (idempotent) response, which a fresh answer shares.
func renderBody(result any) ([]byte, error) {
	rt := route{status: http.StatusOK}
	if _, ok := result.(registry.TransitionResult); ok {
		rt.body = transitionBody
	}
	stored, err := rt.render(result)
	if err != nil {
		return nil, err
	}
	_, body, err := parseStoredResponse(stored)
	return body, err
}
