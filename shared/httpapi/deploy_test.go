package httpapi

import (
	"context"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/secretbox"
)

func withSecretBox(t *testing.T) envOption {
	box, err := secretbox.OpenLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return func(c *registry.Config, _ *Options) { c.Secrets = box }
}

// TestDeployTargetRoutes: an admin adds, rotates and removes targets; a
// reader lists them and sees the fingerprint, never the secret; bad input
// is a 400 that changes nothing; deployments list and show.
func TestDeployTargetRoutes(t *testing.T) {
	e := newEnv(t, withSecretBox(t))
	e.seedModel("team_model", 1)
	const secret = "whsec_http_secret_0123456789"
	var wh DeployTarget
	res := e.must(201, req{method: "POST", path: "/v1/models/team_model/deploy-targets", token: tok("adam"),
		body: DeployTargetRequest{Kind: "webhook", URL: "https://hooks.example.com/x", Secret: secret}}, &wh)
	if strings.Contains(string(res.body), secret) || strings.Contains(string(res.body), "local:v1") {
		t.Fatalf("the add answer shows the secret: %s", res.body)
	}
	if wh.SecretFingerprint != registry.SecretFingerprint([]byte(secret)) || wh.Kind != "webhook" {
		t.Fatalf("added: %+v", wh)
	}
	var sm DeployTarget
	e.must(201, req{method: "POST", path: "/v1/models/team_model/deploy-targets", token: tok("adam"),
		body: DeployTargetRequest{Kind: "sagemaker", Endpoint: "team-model-prod", ImageURI: "123456789012.dkr.ecr.us-east-1.amazonaws.com/serve:1",
			RoleARN: "arn:aws:iam::123456789012:role/SageMaker", ArtifactPath: "model.tar.gz"}}, &sm)
	if sm.InstanceType != "ml.m5.large" || sm.Endpoint != "team-model-prod" {
		t.Errorf("sagemaker target: %+v", sm)
	}
	before := e.snapshot()
	for _, bad := range []any{
		`{"kind":"webhook","url":"https://h.example.com/y","secret":"short"}`,
		`{"kind":"sagemaker","endpoint":"bad_name","image_uri":"r/x","role_arn":"arn:aws:iam::123456789012:role/R"}`,
		`{"kind":"webhook","url":"https://h.example.com/y","secret":"` + secret + `","extra":1}`,
	} {
		r := e.do(req{method: "POST", path: "/v1/models/team_model/deploy-targets", token: tok("adam"), body: bad})
		if r.status != 400 {
			t.Errorf("%s: %d %s, want 400", bad, r.status, r.body)
		}
	}
	if after := e.snapshot(); after != before {
		t.Errorf("refused adds changed the registry:\n%s\n%s", before, after)
	}

	var list List[DeployTarget]
	res = e.must(200, req{method: "GET", path: "/v1/models/team_model/deploy-targets", token: tok("rita")}, &list)
	if len(list.Items) != 2 || list.Items[0].ID != wh.ID || strings.Contains(string(res.body), "local:v1") || strings.Contains(string(res.body), secret) {
		t.Fatalf("reader's list: %s", res.body)
	}
	var rot DeployTarget
	e.must(200, req{method: "POST", path: "/v1/models/team_model/deploy-targets/" + wh.ID + "/rotate-secret", token: tok("adam"),
		body: RotateSecretRequest{Secret: "whsec_rotated_secret_00000000"}}, &rot)
	if rot.SecretFingerprint == wh.SecretFingerprint || rot.SecretFingerprint != registry.SecretFingerprint([]byte("whsec_rotated_secret_00000000")) {
		t.Errorf("rotated fingerprint %q (was %q)", rot.SecretFingerprint, wh.SecretFingerprint)
	}
	e.must(204, req{method: "DELETE", path: "/v1/models/team_model/deploy-targets/" + sm.ID, token: tok("adam")}, nil)
	if r := e.do(req{method: "DELETE", path: "/v1/models/team_model/deploy-targets/" + sm.ID, token: tok("adam")}); r.status != 404 {
		t.Errorf("remove twice: %d %s", r.status, r.body)
	}

	// Deployments: recorded by the consumer, listed and shown to readers.
	d, err := e.svc.RecordDeployment(context.Background(), registry.Deployment{Model: "team_model", Version: 1, TargetID: wh.ID,
		TargetKind: registry.TargetWebhook, EventID: "ev-1", Status: registry.DeploymentFailed, Reason: "HTTP 500", Attempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	var dl List[Deployment]
	e.must(200, req{method: "GET", path: "/v1/models/team_model/deployments?page_size=10", token: tok("rita")}, &dl)
	if len(dl.Items) != 1 || dl.Items[0].ID != d.ID || dl.Items[0].Status != "FAILED" || dl.Items[0].Attempts != 3 {
		t.Fatalf("deployments: %+v", dl)
	}
	var one Deployment
	e.must(200, req{method: "GET", path: "/v1/models/team_model/deployments/" + d.ID, token: tok("rita")}, &one)
	if one.Reason != "HTTP 500" || one.TargetID != wh.ID {
		t.Errorf("deployment: %+v", one)
	}
	if r := e.do(req{method: "GET", path: "/v1/models/team_model/deployments/dp-none", token: tok("rita")}); r.status != 404 {
		t.Errorf("missing deployment: %d", r.status)
	}
	// Version 1 is not in Production: nothing to redeliver.
	if r := e.do(req{method: "POST", path: "/v1/models/team_model/deployments/" + d.ID + "/redeliver", token: tok("paul")}); r.status != 409 {
		t.Errorf("redeliver a version not in Production: %d %s, want 409", r.status, r.body)
	}
}

// TestRedeliverWithIdempotencyKey: a redelivery request carrying an
// Idempotency-Key (as the CLI's do) is accepted with the requested event's
// id, and its retry replays that answer instead of requesting another.
func TestRedeliverWithIdempotencyKey(t *testing.T) {
	e := newEnv(t, withSecretBox(t))
	e.seedModel("team_model", 1)
	var wh DeployTarget
	e.must(201, req{method: "POST", path: "/v1/models/team_model/deploy-targets", token: tok("adam"),
		body: DeployTargetRequest{Kind: "webhook", URL: "https://hooks.example.com/x", Secret: "whsec_http_secret_0123456789"}}, &wh)
	e.seedProduction("team_model", 1)
	d, err := e.svc.RecordDeployment(context.Background(), registry.Deployment{Model: "team_model", Version: 1, TargetID: wh.ID,
		TargetKind: registry.TargetWebhook, EventID: "ev-1", Status: registry.DeploymentSucceeded, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	path := "/v1/models/team_model/deployments/" + d.ID + "/redeliver"
	var first, second RedeliveryAccepted
	e.must(202, req{method: "POST", path: path, token: tok("paul"), header: withKey("redeliver-1")}, &first)
	res := e.must(202, req{method: "POST", path: path, token: tok("paul"), header: withKey("redeliver-1")}, &second)
	if first.EventID == "" || second != first || res.header.Get(HeaderReplayed) != "true" {
		t.Fatalf("redeliver answered %+v, its retry %+v (replayed %q)", first, second, res.header.Get(HeaderReplayed))
	}
	var hist List[AuditEntry]
	e.must(200, req{method: "GET", path: "/v1/models/team_model/history", token: tok("rita")}, &hist)
	n := 0
	for _, a := range hist.Items {
		if a.Action == registry.ActionDeploymentRequested {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d redelivery requests in the history, want 1", n)
	}
}

// TestDeployTargetsWithoutSecretBox: a server with no secret box says so.
func TestDeployTargetsWithoutSecretBox(t *testing.T) {
	e := newEnv(t)
	e.seedModel("m", 0)
	r := e.do(req{method: "POST", path: "/v1/models/m/deploy-targets", token: tok("adam"),
		body: DeployTargetRequest{Kind: "webhook", URL: "https://hooks.example.com/x", Secret: "whsec_0123456789abcdef"}})
	if r.status != 501 || !strings.Contains(r.errMessage(), "no secret box") {
		t.Errorf("%d %s, want 501 naming the missing secret box", r.status, r.body)
	}
}
