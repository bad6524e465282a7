package redeploy

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/sagemaker"
	"github.com/modelreg/modelreg/shared/webhook"
)

const model = "fraud_model"

var (
	hookA = registry.DeployTarget{ID: "dt-a", Model: model, Kind: registry.TargetWebhook, URL: "https://a.example/hook", SealedSecret: "sa"}
	hookB = registry.DeployTarget{ID: "dt-b", Model: model, Kind: registry.TargetWebhook, URL: "https://b.example/hook", SealedSecret: "sb"}
	smT   = registry.DeployTarget{ID: "dt-s", Model: model, Kind: registry.TargetSageMaker, Endpoint: "fraud-ep",
		ImageURI: "img:1", RoleARN: "arn:aws:iam::1:role/r", InstanceType: "ml.c5.large"}
)

type rig struct {
	reg   *fakeRegistry
	hooks *fakeWebhooks
	sm    *fakeSageMaker
	h     *Handler
}

func newRig(targets ...registry.DeployTarget) *rig {
	r := &rig{reg: newFakeRegistry(), hooks: &fakeWebhooks{}, sm: &fakeSageMaker{endpoints: map[string]sagemaker.Status{}}}
	r.reg.targets[model] = targets
	r.reg.addVersion(registry.Version{Model: model, Number: 1, Status: registry.StatusReady, Stage: registry.StageArchived,
		Artifacts: []registry.Artifact{{Path: "model.tar.gz", Size: 10, SHA256: strings.Repeat("1", 64)}}})
	r.reg.addVersion(registry.Version{Model: model, Number: 2, Status: registry.StatusReady, Stage: registry.StageProduction,
		Artifacts: []registry.Artifact{{Path: "model.tar.gz", Size: 20, SHA256: strings.Repeat("2", 64)}}})
	r.h = &Handler{Registry: r.reg, Webhooks: r.hooks, SageMaker: r.sm, Objects: fakeObjects{}}
	return r
}

func promoted(id string, version, prev int) registry.Event {
	return registry.Event{ID: id, Type: registry.EventStageChanged, Source: registry.EventSource, Time: time.Unix(1700000000, 0).UTC(),
		Detail: registry.EventDetail{Model: model, Version: version, From: registry.StageStaging, To: registry.StageProduction,
			Actor: "anna", Reason: "ready", PreviousVersion: prev}}
}

func TestPromotionDeploysEveryTargetOnce(t *testing.T) {
	r := newRig(hookA, hookB, smT)
	e := promoted("ev-1", 2, 1)
	for i := 0; i < 2; i++ { // the second is a redelivery of the same event
		if err := r.h.Handle(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	for _, tg := range []registry.DeployTarget{hookA, hookB} {
		got := r.hooks.to(tg.URL)
		if len(got) != 1 {
			t.Fatalf("%s got %d deliveries, want 1", tg.ID, len(got))
		}
		if got[0].EventID != "ev-1" || string(got[0].Secret) != "plain:"+tg.SealedSecret {
			t.Errorf("%s: delivery %+v", tg.ID, got[0])
		}
		var p Payload
		if err := json.Unmarshal(got[0].Body, &p); err != nil {
			t.Fatal(err)
		}
		want := Payload{EventID: "ev-1", DeploymentID: registry.DeploymentID("ev-1", tg.ID), TargetID: tg.ID, Model: model,
			Version: 2, PreviousVersion: 1, Stage: registry.StageProduction,
			Artifacts:    []PayloadArtifact{{Path: "model.tar.gz", URI: "https://dl.example/fraud_model/model.tar.gz?sig=x", Size: 20, SHA256: strings.Repeat("2", 64)}},
			URLsExpireAt: time.Unix(1700003600, 0).UTC(), Actor: "anna", Reason: "ready", Time: time.Unix(1700000000, 0).UTC()}
		if !reflect.DeepEqual(p, want) {
			t.Errorf("%s payload\n got %+v\nwant %+v", tg.ID, p, want)
		}
		id := registry.DeploymentID("ev-1", tg.ID)
		if st := r.reg.statuses(id); !reflect.DeepEqual(st, []registry.DeploymentStatus{"STARTED", "SUCCEEDED"}) {
			t.Errorf("%s statuses %v", tg.ID, st)
		}
		if d := r.reg.deployments[id]; d.Attempts != 1 || d.Version != 2 || d.PreviousVersion != 1 || d.Actor != "anna" || d.EventID != "ev-1" || d.TargetKind != registry.TargetWebhook {
			t.Errorf("%s deployment %+v", tg.ID, d)
		}
	}
	if len(r.sm.updates) != 1 {
		t.Fatalf("%d SageMaker updates, want 1", len(r.sm.updates))
	}
	u := r.sm.updates[0]
	if u.ModelDataURL != "s3://bucket/fraud_model/2/model.tar.gz" || u.Endpoint != "fraud-ep" || u.InstanceType != "ml.c5.large" || u.DeploymentID != registry.DeploymentID("ev-1", "dt-s") {
		t.Errorf("update %+v", u)
	}
	smID := registry.DeploymentID("ev-1", "dt-s")
	if st := r.reg.statuses(smID); !reflect.DeepEqual(st, []registry.DeploymentStatus{"STARTED"}) || r.reg.deployments[smID].External != u.ConfigName() {
		t.Errorf("SageMaker deployment %v %+v", st, r.reg.deployments[smID])
	}
	for _, tg := range []string{"dt-a", "dt-b", "dt-s"} {
		if !r.reg.processed[Consumer+"|ev-1/"+tg] {
			t.Errorf("ev-1/%s not marked processed", tg)
		}
	}
}

func TestIgnoredEvents(t *testing.T) {
	r := newRig(hookA)
	out := promoted("ev-out", 1, 0)
	out.Detail.From, out.Detail.To = registry.StageProduction, registry.StageArchived
	staging := promoted("ev-st", 2, 0)
	staging.Detail.To = registry.StageStaging
	other := registry.Event{ID: "ev-x", Type: registry.EventApprovalDecided, Detail: registry.EventDetail{Model: model, Version: 2}}
	gone := promoted("ev-gone", 2, 0)
	gone.Detail.Model = "no_such_model"
	for _, e := range []registry.Event{out, staging, other, gone} {
		if err := r.h.Handle(context.Background(), e); err != nil {
			t.Fatalf("%s: %v", e.ID, err)
		}
	}
	if len(r.hooks.got) != 0 {
		t.Fatalf("deliveries %v", r.hooks.got)
	}
}

func TestRollbackPayload(t *testing.T) {
	r := newRig(hookA)
	r.reg.addVersion(registry.Version{Model: model, Number: 1, Status: registry.StatusReady, Stage: registry.StageProduction,
		Artifacts: []registry.Artifact{{Path: "model.tar.gz", Size: 10, SHA256: strings.Repeat("1", 64)}}})
	e := promoted("ev-rb", 1, 2)
	e.Detail.Rollback = true
	if err := r.h.Handle(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	var p Payload
	_ = json.Unmarshal(r.hooks.got[0].Body, &p)
	if !p.Rollback || p.Version != 1 || p.PreviousVersion != 2 {
		t.Fatalf("payload %+v", p)
	}
}

func TestRedeliveryRequestDeploysOneTarget(t *testing.T) {
	r := newRig(hookA, hookB)
	e := registry.Event{ID: "ev-rq", Type: registry.EventDeploymentRequested, Time: time.Unix(1700000100, 0),
		Detail: registry.EventDetail{Model: model, Version: 2, PreviousVersion: 1, TargetID: "dt-b", Actor: "pat", DeploymentID: "dp-old"}}
	if err := r.h.Handle(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if len(r.hooks.to(hookA.URL)) != 0 || len(r.hooks.to(hookB.URL)) != 1 {
		t.Fatalf("deliveries %v", r.hooks.got)
	}
	var p Payload
	_ = json.Unmarshal(r.hooks.got[0].Body, &p)
	if !p.Redelivery || p.EventID != "ev-rq" || p.Actor != "pat" {
		t.Fatalf("payload %+v", p)
	}
	noTarget := e
	noTarget.ID, noTarget.Detail.TargetID = "ev-rq2", ""
	removed := e
	removed.ID, removed.Detail.TargetID = "ev-rq3", "dt-removed"
	for _, e := range []registry.Event{noTarget, removed} {
		if err := r.h.Handle(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if len(r.hooks.got) != 1 {
		t.Fatalf("deliveries %d", len(r.hooks.got))
	}
}

func TestPermanentFailureRecordedNotRetried(t *testing.T) {
	r := newRig(hookA)
	r.hooks.errs = []error{&webhook.Error{Attempts: 1, Status: 404, Err: errors.New("receiver did not accept: 404 Not Found\n<html>")}}
	e := promoted("ev-4xx", 2, 1)
	if err := r.h.Handle(context.Background(), e); err != nil {
		t.Fatalf("a 4xx is recorded, not retried: %v", err)
	}
	if err := r.h.Handle(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if n := len(r.hooks.got); n != 1 {
		t.Fatalf("%d deliveries, want 1", n)
	}
	d := r.reg.deployments[registry.DeploymentID("ev-4xx", "dt-a")]
	if d.Status != registry.DeploymentFailed || !strings.Contains(d.Reason, "404") || strings.ContainsAny(d.Reason, "\n") {
		t.Fatalf("deployment %+v", d)
	}
}

func TestRetryableFailureReturnsErrorThenSucceeds(t *testing.T) {
	r := newRig(hookA, hookB)
	r.hooks.errs = []error{&webhook.Error{Attempts: 5, Status: 503, Retryable: true, Err: errors.New("503")}, nil}
	e := promoted("ev-5xx", 2, 1)
	err := r.h.Handle(context.Background(), e)
	if err == nil || !strings.Contains(err.Error(), "dt-a") {
		t.Fatalf("Handle = %v, want an error naming dt-a so the outbox retries", err)
	}
	idA := registry.DeploymentID("ev-5xx", "dt-a")
	if d := r.reg.deployments[idA]; d.Status != registry.DeploymentFailed || !strings.Contains(d.Reason, "will be retried") || d.Attempts != 5 {
		t.Fatalf("after the failure: %+v", d)
	}
	for i := 0; i < 3; i++ {
		if err := r.h.Handle(context.Background(), e); err != nil {
			t.Fatalf("retry %d: %v", i, err)
		}
	}
	if len(r.hooks.to(hookA.URL)) != 2 || len(r.hooks.to(hookB.URL)) != 1 {
		t.Fatalf("deliveries: a %d (want 2), b %d (want 1)", len(r.hooks.to(hookA.URL)), len(r.hooks.to(hookB.URL)))
	}
	if st := r.reg.statuses(idA); !reflect.DeepEqual(st, []registry.DeploymentStatus{"STARTED", "FAILED", "SUCCEEDED"}) {
		t.Fatalf("statuses %v", st)
	}
	if d := r.reg.deployments[idA]; d.Attempts != 6 {
		t.Fatalf("attempts %d, want 6", d.Attempts)
	}
}

// A crash after the delivery but before the outcome was recorded delivers
// again once the lease ran out (at least once, same event id); one after
// the outcome was recorded but before the mark does not.
func TestCrashWindows(t *testing.T) {
	r := newRig(hookA)
	r.reg.failRecord = registry.DeploymentSucceeded
	e := promoted("ev-crash", 2, 1)
	if err := r.h.Handle(context.Background(), e); err == nil {
		t.Fatal("a failed record passed")
	}
	// Within the lease the deployment counts as someone else's, in flight.
	if err := r.h.Handle(context.Background(), e); !errors.Is(err, ErrInProgress) {
		t.Fatalf("redelivery within the lease: %v, want ErrInProgress", err)
	}
	if n := len(r.hooks.got); n != 1 {
		t.Fatalf("%d deliveries within the lease, want 1", n)
	}
	r.h.Now = func() time.Time { return time.Now().Add(DefaultLease + time.Second) }
	if err := r.h.Handle(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	got := r.hooks.to(hookA.URL)
	if len(got) != 2 || got[0].EventID != got[1].EventID {
		t.Fatalf("deliveries %v, want the same event twice", got)
	}

	r2 := newRig(hookA)
	r2.reg.failMark = 1
	if err := r2.h.Handle(context.Background(), e); err == nil {
		t.Fatal("a failed mark passed")
	}
	if err := r2.h.Handle(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if n := len(r2.hooks.got); n != 1 {
		t.Fatalf("%d deliveries after a crash between the recorded outcome and the mark, want 1", n)
	}
}

func TestSupersededVersionNotDeployed(t *testing.T) {
	r := newRig(hookA)
	// v1 is Archived now: its stage-change event arrives late.
	if err := r.h.Handle(context.Background(), promoted("ev-late", 1, 0)); err != nil {
		t.Fatal(err)
	}
	if len(r.hooks.got) != 0 || !r.reg.processed[Consumer+"|ev-late/dt-a"] {
		t.Fatalf("deliveries %d, processed %v", len(r.hooks.got), r.reg.processed)
	}
}

func TestCorruptSecretFails(t *testing.T) {
	bad := hookA
	bad.SealedSecret = "corrupt"
	r := newRig(bad)
	if err := r.h.Handle(context.Background(), promoted("ev-sec", 2, 1)); err != nil {
		t.Fatal(err)
	}
	d := r.reg.deployments[registry.DeploymentID("ev-sec", "dt-a")]
	if len(r.hooks.got) != 0 || d.Status != registry.DeploymentFailed || !strings.Contains(d.Reason, "secret") {
		t.Fatalf("deliveries %d, deployment %+v", len(r.hooks.got), d)
	}
}

func TestSageMakerFailures(t *testing.T) {
	cases := []struct {
		name   string
		target registry.DeployTarget
		files  int
		h      func(*Handler)
		smErr  error
		retry  bool
		reason string
	}{
		{"two files, no artifact path", smT, 2, nil, nil, false, "must name one"},
		{"artifact path missing", func() registry.DeployTarget { t := smT; t.ArtifactPath = "nope.tar.gz"; return t }(), 1, nil, nil, false, "no file"},
		{"artifacts not in S3", smT, 1, func(h *Handler) { h.Objects = nil }, nil, false, "need artifacts in S3"},
		{"no SageMaker client", smT, 1, func(h *Handler) { h.SageMaker = nil }, nil, false, "no SageMaker client"},
		{"validation exception", smT, 1, nil, &sagemaker.Error{Op: "update endpoint fraud-ep", Code: "ValidationException", Message: "Cannot update in-progress endpoint"}, false, "in-progress"},
		{"throttled", smT, 1, nil, &sagemaker.Error{Op: "update endpoint fraud-ep", Code: "ThrottlingException", Message: "Rate exceeded", Retryable: true}, true, "Rate exceeded"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(c.target)
			v, _ := r.reg.GetVersion(context.Background(), model, 2)
			if c.files == 2 {
				v.Artifacts = append(v.Artifacts, registry.Artifact{Path: "extra.bin", Size: 1, SHA256: strings.Repeat("3", 64)})
				r.reg.addVersion(v)
			}
			if c.h != nil {
				c.h(r.h)
			}
			r.sm.err = c.smErr
			err := r.h.Handle(context.Background(), promoted("ev-sm", 2, 1))
			if (err != nil) != c.retry {
				t.Fatalf("Handle = %v, retry %v", err, c.retry)
			}
			d := r.reg.deployments[registry.DeploymentID("ev-sm", "dt-s")]
			if d.Status != registry.DeploymentFailed || !strings.Contains(d.Reason, c.reason) {
				t.Fatalf("deployment %+v", d)
			}
			if r.reg.processed[Consumer+"|ev-sm/dt-s"] == c.retry {
				t.Fatalf("processed = %v", !c.retry)
			}
		})
	}
}

func TestSageMakerSourceURI(t *testing.T) {
	r := newRig(smT)
	r.reg.addVersion(registry.Version{Model: model, Number: 2, Status: registry.StatusReady, Stage: registry.StageProduction,
		Lineage: registry.Lineage{SourceURI: "s3://training/out/model.tar.gz"}})
	if err := r.h.Handle(context.Background(), promoted("ev-src", 2, 1)); err != nil {
		t.Fatal(err)
	}
	if r.sm.updates[0].ModelDataURL != "s3://training/out/model.tar.gz" {
		t.Fatalf("update %+v", r.sm.updates[0])
	}
}

func TestReason(t *testing.T) {
	got := Reason(errors.New("line one\nline\ttwo \x00 \u202e end"))
	if got != "line one line two end" {
		t.Fatalf("Reason = %q", got)
	}
	long := Reason(errors.New(strings.Repeat("é", 800)))
	if len(long) > 1000 || !strings.HasSuffix(long, "...") || !utf8Valid(long) {
		t.Fatalf("long reason: %d bytes", len(long))
	}
	if err := registry.ValidateLine("reason", long, 1000); err != nil {
		t.Fatal(err)
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "?") == s }
