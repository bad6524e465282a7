package registry_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/filesystem"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/secretbox"
)

// deployEnv is the promotion env plus a service on the same store with a
// real local secret box and the deploy-target settings under test.
type deployEnv struct {
	*promoEnv
	dsvc *registry.Service
	box  *secretbox.Local
	// checked are the URLs CheckWebhookURL saw; refuse makes it fail.
	checked []string
	refuse  string
}

func newDeployEnv(t *testing.T, mod func(*registry.Config)) *deployEnv {
	t.Helper()
	e := &deployEnv{promoEnv: newPromoEnv(t)}
	box, err := secretbox.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.box = box
	fs, err := filesystem.New(t.TempDir(), "http://127.0.0.1:1", []byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close() })
	cfg := registry.Config{Store: e.store, Artifacts: fs, Secret: []byte(strings.Repeat("k", 32)), Now: e.clock.Now,
		Secrets: box, CheckWebhookURL: func(_ context.Context, u string) error {
			e.checked = append(e.checked, u)
			if e.refuse != "" && strings.Contains(u, e.refuse) {
				return registry.Errorf(registry.Invalid, "url %s resolves to a private address (10.0.0.1); run with --allow-private-webhooks to allow it", u)
			}
			return nil
		}}
	if mod != nil {
		mod(&cfg)
	}
	if e.dsvc, err = registry.NewService(cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

const secret1 = "whsec_first_secret_0123456789"

func webhookSpec(url, secret string) registry.DeployTargetSpec {
	return registry.DeployTargetSpec{Kind: registry.TargetWebhook, URL: url, Secret: []byte(secret)}
}

func sagemakerSpec(endpoint string) registry.DeployTargetSpec {
	return registry.DeployTargetSpec{Kind: registry.TargetSageMaker, Endpoint: endpoint,
		ImageURI: "123456789012.dkr.ecr.us-east-1.amazonaws.com/serve:1.2", RoleARN: "arn:aws:iam::123456789012:role/team/SageMakerExec"}
}

func TestDeployTargetsLifecycle(t *testing.T) {
	e := newDeployEnv(t, nil)
	e.model("fraud")
	ctx := adam
	wh, err := e.dsvc.AddDeployTarget(ctx, "fraud", webhookSpec("https://hooks.example.com/deploy?team=ml", secret1))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(wh.ID, "dt-") || wh.Model != "fraud" || wh.CreatedBy != "adam" || wh.Revision != 1 {
		t.Errorf("webhook target: %+v", wh)
	}
	if wh.SecretFingerprint != registry.SecretFingerprint([]byte(secret1)) || strings.Contains(wh.SealedSecret, secret1) || wh.SealedSecret == "" {
		t.Errorf("secret: fingerprint %q sealed %q", wh.SecretFingerprint, wh.SealedSecret)
	}
	if got, err := e.dsvc.OpenTargetSecret(context.Background(), wh); err != nil || string(got) != secret1 {
		t.Errorf("OpenTargetSecret = %q, %v", got, err)
	}
	// The sealed secret is bound to its target: copied onto another, it
	// does not open.
	moved := wh
	moved.ID = "dt-other"
	if _, err := e.dsvc.OpenTargetSecret(context.Background(), moved); !registry.IsCode(err, registry.Invalid) {
		t.Errorf("a sealed secret moved to another target opened: %v", err)
	}
	if len(e.checked) != 1 || e.checked[0] != wh.URL {
		t.Errorf("CheckWebhookURL saw %v", e.checked)
	}
	sm, err := e.dsvc.AddDeployTarget(ctx, "fraud", sagemakerSpec("fraud-prod"))
	if err != nil {
		t.Fatal(err)
	}
	if sm.InstanceType != registry.DefaultInstanceType || sm.SealedSecret != "" || sm.SecretFingerprint != "" {
		t.Errorf("sagemaker target: %+v", sm)
	}
	all, err := e.dsvc.ListDeployTargets(context.Background(), "fraud")
	if err != nil || len(all) != 2 || all[0].ID != wh.ID || all[1].ID != sm.ID {
		t.Fatalf("ListDeployTargets = %+v, %v", all, err)
	}
	_, err = e.dsvc.AddDeployTarget(ctx, "fraud", webhookSpec(wh.URL, secret1))
	wantCode(t, "same URL twice", err, registry.Conflict, wh.ID)
	_, err = e.dsvc.AddDeployTarget(ctx, "fraud", sagemakerSpec("fraud-prod"))
	wantCode(t, "same endpoint twice", err, registry.Conflict, sm.ID)
	_, err = e.dsvc.AddDeployTarget(ctx, "nope", sagemakerSpec("x"))
	wantCode(t, "unknown model", err, registry.NotFound, "")
	_, err = e.dsvc.ListDeployTargets(context.Background(), "nope")
	wantCode(t, "list of an unknown model", err, registry.NotFound, "")

	// Rotate: a new fingerprint, the new secret opens, the URL is checked again.
	checks := len(e.checked)
	rot, err := e.dsvc.RotateTargetSecret(ctx, "fraud", wh.ID, []byte("whsec_second_secret_987654321"))
	if err != nil {
		t.Fatal(err)
	}
	if rot.SecretFingerprint == wh.SecretFingerprint || rot.Revision != 2 || rot.URL != wh.URL {
		t.Errorf("rotated: %+v", rot)
	}
	if got, _ := e.dsvc.OpenTargetSecret(context.Background(), rot); string(got) != "whsec_second_secret_987654321" {
		t.Errorf("rotated secret opens to %q", got)
	}
	if len(e.checked) != checks+1 {
		t.Errorf("rotate did not check the URL again: %v", e.checked)
	}
	e.refuse = "hooks.example.com"
	_, err = e.dsvc.RotateTargetSecret(ctx, "fraud", wh.ID, []byte("whsec_third_secret_0000000000"))
	wantCode(t, "rotate to a URL now refused", err, registry.Invalid, "--allow-private-webhooks")
	e.refuse = ""
	_, err = e.dsvc.RotateTargetSecret(ctx, "fraud", sm.ID, []byte("whsec_third_secret_0000000000"))
	wantCode(t, "rotate a sagemaker target", err, registry.Invalid, "only webhook targets")
	_, err = e.dsvc.RotateTargetSecret(ctx, "fraud", "dt-none", []byte("whsec_third_secret_0000000000"))
	wantCode(t, "rotate a missing target", err, registry.NotFound, "")

	if err := e.dsvc.RemoveDeployTarget(ctx, "fraud", wh.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.dsvc.DeployTarget(context.Background(), "fraud", wh.ID)
	wantCode(t, "removed target", err, registry.NotFound, "")
	wantCode(t, "remove again", e.dsvc.RemoveDeployTarget(ctx, "fraud", wh.ID), registry.NotFound, "")

	// Every change is in the history, the secret never.
	h, err := e.dsvc.History(context.Background(), "fraud", 0, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	actions := map[registry.Action]int{}
	for _, a := range h.Items {
		actions[a.Action]++
		if s := fmt.Sprint(a.Details); strings.Contains(s, "whsec_") || strings.Contains(s, "local:v1") {
			t.Errorf("audit entry %s shows the secret: %v", a.Action, a.Details)
		}
	}
	if actions[registry.ActionDeployTargetAdded] != 2 || actions[registry.ActionDeployTargetRotated] != 1 || actions[registry.ActionDeployTargetRemoved] != 1 {
		t.Errorf("history actions: %v", actions)
	}
}

func TestDeployTargetValidation(t *testing.T) {
	e := newDeployEnv(t, func(c *registry.Config) {
		c.SageMakerPrefix = "modelreg-"
		c.AllowedRoleARNs = []string{"arn:aws:iam::123456789012:role/SageMakerExec", "arn:aws:iam::123456789012:role/ml/*"}
	})
	e.model("m")
	good := func() registry.DeployTargetSpec {
		s := sagemakerSpec("modelreg-fraud")
		s.RoleARN = "arn:aws:iam::123456789012:role/ml/exec"
		return s
	}
	if _, err := e.dsvc.AddDeployTarget(adam, "m", good()); err != nil {
		t.Fatalf("a target inside the limits: %v", err)
	}
	cases := []struct {
		name string
		mod  func(*registry.DeployTargetSpec)
		msg  string
	}{
		{"no kind", func(s *registry.DeployTargetSpec) { s.Kind = "" }, "kind is required"},
		{"unknown kind", func(s *registry.DeployTargetSpec) { s.Kind = "lambda" }, "unknown deploy target kind"},
		{"endpoint too long", func(s *registry.DeployTargetSpec) { s.Endpoint = "modelreg-" + strings.Repeat("a", 55) }, "endpoint name"},
		{"endpoint underscore", func(s *registry.DeployTargetSpec) { s.Endpoint = "modelreg_fraud" }, "endpoint name"},
		{"endpoint trailing hyphen", func(s *registry.DeployTargetSpec) { s.Endpoint = "modelreg-" }, "endpoint name"},
		{"endpoint outside prefix", func(s *registry.DeployTargetSpec) { s.Endpoint = "prod-fraud" }, `must start with "modelreg-"`},
		{"no image", func(s *registry.DeployTargetSpec) { s.ImageURI = "" }, "image_uri is required"},
		{"image with space", func(s *registry.DeployTargetSpec) { s.ImageURI = "repo/a b" }, "image reference"},
		{"no role", func(s *registry.DeployTargetSpec) { s.RoleARN = "" }, "role_arn is required"},
		{"role not an ARN", func(s *registry.DeployTargetSpec) { s.RoleARN = "SageMakerExec" }, "IAM role ARN"},
		{"user ARN", func(s *registry.DeployTargetSpec) { s.RoleARN = "arn:aws:iam::123456789012:user/bob" }, "IAM role ARN"},
		{"role outside the list", func(s *registry.DeployTargetSpec) { s.RoleARN = "arn:aws:iam::123456789012:role/Admin" }, "not one this registry may pass"},
		{"instance type", func(s *registry.DeployTargetSpec) { s.InstanceType = "m5.large" }, "instance type"},
		{"artifact path", func(s *registry.DeployTargetSpec) { s.ArtifactPath = "../etc/passwd" }, "artifact_path"},
		{"sagemaker with secret", func(s *registry.DeployTargetSpec) { s.Secret = []byte(secret1) }, "no url or secret"},
	}
	webhook := []struct {
		name, url, secret, msg string
	}{
		{"no url", "", secret1, "url is required"},
		{"ftp", "ftp://h/x", secret1, "https://"},
		{"relative", "/hook", secret1, "https://"},
		{"no host", "https:///x", secret1, "no host"},
		{"credentials", "https://u:p@h.example.com/x", secret1, "credentials"},
		{"fragment", "https://h.example.com/x#frag", secret1, "fragment"},
		{"newline", "https://h.example.com/x\nHost: evil", secret1, "control character"},
		{"no secret", "https://h.example.com/x", "", "secret is required"},
		{"short secret", "https://h.example.com/x", "short", "at least 16"},
		{"huge secret", "https://h.example.com/x", strings.Repeat("s", 5000), "at most 4096"},
		{"private", "https://10.0.0.1/x", secret1, "--allow-private-webhooks"},
	}
	e.refuse = "10.0.0.1"
	for _, c := range cases {
		s := good()
		c.mod(&s)
		_, err := e.dsvc.AddDeployTarget(adam, "m", s)
		wantCode(t, c.name, err, registry.Invalid, c.msg)
	}
	for _, c := range webhook {
		_, err := e.dsvc.AddDeployTarget(adam, "m", webhookSpec(c.url, c.secret))
		wantCode(t, c.name, err, registry.Invalid, c.msg)
	}
	s := webhookSpec("https://h.example.com/x", secret1)
	s.Endpoint = "x"
	_, err := e.dsvc.AddDeployTarget(adam, "m", s)
	wantCode(t, "webhook with sagemaker fields", err, registry.Invalid, "url and secret only")
	if all, _ := e.dsvc.ListDeployTargets(context.Background(), "m"); len(all) != 1 {
		t.Errorf("refused targets were stored: %d targets", len(all))
	}

	// Without a secret box, webhook targets are refused clearly.
	nobox := newDeployEnv(t, func(c *registry.Config) { c.Secrets = nil })
	nobox.model("m")
	_, err = nobox.dsvc.AddDeployTarget(adam, "m", webhookSpec("https://h.example.com/x", secret1))
	wantCode(t, "no secret box", err, registry.NotImplemented, "no secret box")
}

func TestDeployTargetLimit(t *testing.T) {
	e := newDeployEnv(t, nil)
	e.model("m")
	for i := range registry.MaxDeployTargets {
		if _, err := e.dsvc.AddDeployTarget(adam, "m", sagemakerSpec(fmt.Sprintf("ep-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.dsvc.AddDeployTarget(adam, "m", sagemakerSpec("ep-extra"))
	wantCode(t, "one target too many", err, registry.Conflict, "the most it may have")
	// The model goes with its targets.
	if err := e.dsvc.DeleteModel(adam, "m", "retired"); err != nil {
		t.Fatal(err)
	}
	if all, err := e.dsvc.DeployTargetsOf(context.Background(), "m"); err != nil || len(all) != 0 {
		t.Fatalf("targets after the model was deleted: %d, %v", len(all), err)
	}
	e.model("m")
	if _, err := e.dsvc.AddDeployTarget(adam, "m", sagemakerSpec("ep-0")); err != nil {
		t.Fatalf("the re-created model takes targets again: %v", err)
	}
}

// pendingOf returns the outbox events of type typ.
func (e *deployEnv) pendingOf(typ string) []registry.Event {
	e.t.Helper()
	recs, err := e.store.PendingEvents(context.Background(), e.clock.Now().Add(time.Hour), 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []registry.Event
	for _, r := range recs {
		if r.Event.Type == typ {
			out = append(out, r.Event)
		}
	}
	return out
}

func TestRecordDeployment(t *testing.T) {
	e := newDeployEnv(t, nil)
	e.model("fraud")
	ctx := context.Background() // consumers run without a principal
	d := registry.Deployment{Model: "fraud", Version: 2, PreviousVersion: 1, TargetID: "dt-1", TargetKind: registry.TargetWebhook,
		EventID: "ev-1", Status: registry.DeploymentStarted, Attempts: 1, Actor: "anna"}
	got, err := e.dsvc.RecordDeployment(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != registry.DeploymentID("ev-1", "dt-1") || got.Revision != 1 || got.StartedAt.IsZero() {
		t.Fatalf("created: %+v", got)
	}
	// The same status again (a redelivered event): nothing new.
	again, err := e.dsvc.RecordDeployment(ctx, d)
	if err != nil || again != got {
		t.Fatalf("recorded twice: %+v, %v", again, err)
	}
	if n := len(e.pendingOf(registry.EventDeploymentStarted)); n != 1 {
		t.Fatalf("%d started events, want 1", n)
	}

	fail := d
	fail.Status, fail.Attempts, fail.Reason = registry.DeploymentFailed, 4, "HTTP 503 from receiver\x00\x1b[31m"+strings.Repeat("é", 600)
	failed, err := e.dsvc.RecordDeployment(ctx, fail)
	if err != nil {
		t.Fatal(err)
	}
	if failed.Status != registry.DeploymentFailed || failed.Attempts != 4 || failed.Revision != 2 || failed.StartedAt != got.StartedAt {
		t.Errorf("failed: %+v", failed)
	}
	if err := registry.ValidateText("reason", failed.Reason, registry.MaxReasonLen); err != nil {
		t.Errorf("the stored reason breaks the text rules: %v", err)
	}
	// STARTED after FAILED is old news.
	if back, err := e.dsvc.RecordDeployment(ctx, d); err != nil || back.Status != registry.DeploymentFailed {
		t.Errorf("STARTED after FAILED: %+v, %v", back, err)
	}
	ok := d
	ok.Status, ok.Attempts, ok.External = registry.DeploymentSucceeded, 5, "cfg-fraud-2"
	done, err := e.dsvc.RecordDeployment(ctx, ok)
	if err != nil || done.Status != registry.DeploymentSucceeded || done.Reason != "" || done.External != "cfg-fraud-2" {
		t.Fatalf("FAILED -> SUCCEEDED: %+v, %v", done, err)
	}
	_, err = e.dsvc.RecordDeployment(ctx, fail)
	wantCode(t, "SUCCEEDED -> FAILED", err, registry.Conflict, "already SUCCEEDED")
	_, err = e.dsvc.RecordDeployment(ctx, registry.Deployment{Model: "fraud", Version: 1, TargetID: "t", EventID: "e", Status: "DONE"})
	wantCode(t, "unknown status", err, registry.Invalid, "unknown deployment status")
	_, err = e.dsvc.RecordDeployment(ctx, registry.Deployment{Model: "fraud", Status: registry.DeploymentStarted})
	wantCode(t, "missing fields", err, registry.Invalid, "")

	evs := e.pendingOf(registry.EventDeploymentFailed)
	if len(evs) != 1 {
		t.Fatalf("%d failed events", len(evs))
	}
	det := evs[0].Detail
	if det.Model != "fraud" || det.Version != 2 || det.PreviousVersion != 1 || det.TargetID != "dt-1" || det.TargetKind != "webhook" ||
		det.DeploymentID != got.ID || det.Actor != "anna" || !strings.HasPrefix(det.Reason, "HTTP 503") || det.AuditID == "" {
		t.Errorf("failed event detail: %+v", det)
	}
	if n := len(e.pendingOf(registry.EventDeploymentSucceeded)); n != 1 {
		t.Errorf("%d succeeded events, want 1", n)
	}
	h, err := e.dsvc.History(ctx, "fraud", 2, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var trail []string
	for _, a := range h.Items {
		trail = append(trail, string(a.Action)+":"+a.Details["target"]+":"+a.Details["attempts"])
	}
	want := []string{"deployment.succeeded:dt-1:5", "deployment.failed:dt-1:4", "deployment.started:dt-1:1"}
	if strings.Join(trail, " ") != strings.Join(want, " ") {
		t.Errorf("history of version 2: %v, want %v", trail, want)
	}
	if g, err := e.dsvc.GetDeployment(ctx, "fraud", got.ID); err != nil || g != done {
		t.Errorf("GetDeployment = %+v, %v", g, err)
	}
	_, err = e.dsvc.GetDeployment(ctx, "fraud", "dp-none")
	wantCode(t, "missing deployment", err, registry.NotFound, "")
}

func TestListDeploymentsPages(t *testing.T) {
	e := newDeployEnv(t, nil)
	e.model("m")
	e.model("other")
	ctx := context.Background()
	var ids []string
	for i := range 5 {
		e.clock.Add(time.Second)
		d, err := e.dsvc.RecordDeployment(ctx, registry.Deployment{Model: "m", Version: 1, TargetID: "dt-1",
			TargetKind: registry.TargetWebhook, EventID: fmt.Sprint("ev-", i), Status: registry.DeploymentStarted})
		if err != nil {
			t.Fatal(err)
		}
		ids = append([]string{d.ID}, ids...)
	}
	var got []string
	token := ""
	for {
		l, err := e.dsvc.ListDeployments(ctx, "m", token, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range l.Items {
			got = append(got, d.ID)
		}
		if l.NextPageToken == "" {
			break
		}
		token = l.NextPageToken
		_, err = e.dsvc.ListDeployments(ctx, "other", token, 2)
		wantCode(t, "a page token of another model", err, registry.Invalid, "page_token")
	}
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Errorf("deployments newest first: %v, want %v", got, ids)
	}
	if l, err := e.dsvc.ListDeployments(ctx, "other", "", 0); err != nil || len(l.Items) != 0 || l.Items == nil {
		t.Errorf("no deployments: %+v, %v", l, err)
	}
	_, err := e.dsvc.ListDeployments(ctx, "nope", "", 0)
	wantCode(t, "unknown model", err, registry.NotFound, "")
}

func TestProcessedEvents(t *testing.T) {
	e := newDeployEnv(t, nil)
	ctx := context.Background()
	if done, err := e.dsvc.EventProcessed(ctx, "redeploy", "ev-1"); err != nil || done {
		t.Fatalf("before: %v, %v", done, err)
	}
	for range 2 { // marking twice is fine
		if err := e.dsvc.MarkEventProcessed(ctx, "redeploy", "ev-1", time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if done, err := e.dsvc.EventProcessed(ctx, "redeploy", "ev-1"); err != nil || !done {
		t.Fatalf("after: %v, %v", done, err)
	}
	if done, _ := e.dsvc.EventProcessed(ctx, "notify", "ev-1"); done {
		t.Error("another consumer sees the record")
	}
	e.clock.Add(time.Hour + time.Second)
	if done, _ := e.dsvc.EventProcessed(ctx, "redeploy", "ev-1"); done {
		t.Error("the record outlived its ttl")
	}
	if err := e.dsvc.MarkEventProcessed(ctx, "redeploy", "ev-1", 0); err != nil {
		t.Fatalf("mark after expiry: %v", err)
	}
	e.clock.Add(6 * 24 * time.Hour)
	if done, _ := e.dsvc.EventProcessed(ctx, "redeploy", "ev-1"); !done {
		t.Error("the default ttl is shorter than a week")
	}
	wantCode(t, "no consumer", e.dsvc.MarkEventProcessed(ctx, "", "ev", 0), registry.Invalid, "")
}

func TestRedeliverDeployment(t *testing.T) {
	e := newDeployEnv(t, nil)
	v1 := e.staged("fraud", 0.9)
	a := e.request(paul, "fraud", v1)
	if _, err := e.decide(anna, a.ID, true, "ok"); err != nil {
		t.Fatal(err)
	}
	tgt, err := e.dsvc.AddDeployTarget(adam, "fraud", webhookSpec("https://hooks.example.com/x", secret1))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := e.dsvc.RecordDeployment(ctx, registry.Deployment{Model: "fraud", Version: v1, TargetID: tgt.ID,
		TargetKind: tgt.Kind, EventID: "ev-stage", Status: registry.DeploymentFailed, Reason: "timeout", Attempts: 5, Actor: "anna"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.dsvc.RedeliverDeployment(paul, "fraud", d.ID)
	if err != nil {
		t.Fatal(err)
	}
	evs := e.pendingOf(registry.EventDeploymentRequested)
	if len(evs) != 1 || evs[0].ID != id {
		t.Fatalf("requested events: %+v (id %s)", evs, id)
	}
	det := evs[0].Detail
	if det.Model != "fraud" || det.Version != v1 || det.TargetID != tgt.ID || det.DeploymentID != d.ID || det.Actor != "paul" || det.TargetKind != "webhook" {
		t.Errorf("requested detail: %+v", det)
	}
	_, err = e.dsvc.RedeliverDeployment(paul, "fraud", "dp-none")
	wantCode(t, "missing deployment", err, registry.NotFound, "")

	// Production moved on: redelivering the old version is refused.
	v2 := e.staged("fraud", 0.95)
	a2 := e.request(paul, "fraud", v2)
	if _, err := e.decide(anna, a2.ID, true, "ok"); err != nil {
		t.Fatal(err)
	}
	_, err = e.dsvc.RedeliverDeployment(paul, "fraud", d.ID)
	wantCode(t, "redeliver an old version", err, registry.Conflict, "in Production now")

	d2, err := e.dsvc.RecordDeployment(ctx, registry.Deployment{Model: "fraud", Version: v2, PreviousVersion: v1, TargetID: tgt.ID,
		TargetKind: tgt.Kind, EventID: "ev-stage-2", Status: registry.DeploymentFailed})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.dsvc.RemoveDeployTarget(adam, "fraud", tgt.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.dsvc.RedeliverDeployment(paul, "fraud", d2.ID)
	wantCode(t, "target removed", err, registry.NotFound, "was removed")
	if n := len(e.pendingOf(registry.EventDeploymentRequested)); n != 1 {
		t.Errorf("refused redeliveries wrote events: %d", n)
	}
}

// TestDeployTargetLimitUnderRace: concurrent adds never take a model past
// MaxDeployTargets (each add commits with the model's next revision).
func TestDeployTargetLimitUnderRace(t *testing.T) {
	e := newDeployEnv(t, nil)
	e.model("m")
	const n = registry.MaxDeployTargets + 6
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := e.dsvc.AddDeployTarget(adam, "m", sagemakerSpec(fmt.Sprintf("ep-%d", i)))
			errs <- err
		}()
	}
	ok, full := 0, 0
	for range n {
		switch err := <-errs; {
		case err == nil:
			ok++
		case registry.IsCode(err, registry.Conflict):
			full++
		default:
			t.Errorf("add: %v", err)
		}
	}
	all, err := e.dsvc.DeployTargetsOf(context.Background(), "m")
	if err != nil {
		t.Fatal(err)
	}
	if ok != registry.MaxDeployTargets || full != n-ok || len(all) != registry.MaxDeployTargets {
		t.Errorf("%d added, %d refused, %d stored; want %d added", ok, full, len(all), registry.MaxDeployTargets)
	}
}
