package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
)

// TestDeployTargetsCLI runs the deploy-targets and deployments verbs
// against a local server: the secret comes from the named environment
// variable, is sent once and never printed (by the CLI or the server's
// log); rotating changes the fingerprint; a missing or empty variable is a
// usage error that sends nothing.
func TestDeployTargetsCLI(t *testing.T) {
	s := startServer(t, t.TempDir(), "MODELREG_ALLOW_PRIVATE_WEBHOOKS=true")
	reader := addToken(t, s, "rita", registry.RoleReader)
	s.cli(adminToken, "models", "create", "fraud_model").must(t)
	const secret, rotated = "whsec_cli_first_secret_0123456789", "whsec_cli_second_secret_9876543210"
	cliEnv := func(token string, env []string, args ...string) result {
		t.Helper()
		return runBinary(t, append(append(os.Environ(), "MODELREG_URL="+s.url, "MODELREG_TOKEN="+token), env...), args...)
	}
	var printed []string
	keep := func(r result) result { printed = append(printed, r.stdout, r.stderr); return r }

	// Missing and empty variables: usage errors, nothing added.
	r := keep(cliEnv(adminToken, nil, "deploy-targets", "fraud_model", "add", "webhook", "http://127.0.0.1:9/hook", "--secret-env", "NO_SUCH_VAR_XYZ").wantCode(t, exitUsage))
	if !strings.Contains(r.stderr, "is not set") || strings.Contains(r.stderr, "NO_SUCH_VAR_XYZ") {
		t.Errorf("missing variable: %s", r.stderr)
	}
	r = keep(cliEnv(adminToken, []string{"EMPTY_SECRET="}, "deploy-targets", "fraud_model", "add", "webhook", "http://127.0.0.1:9/hook", "--secret-env", "EMPTY_SECRET").wantCode(t, exitUsage))
	if !strings.Contains(r.stderr, "is empty") {
		t.Errorf("empty variable: %s", r.stderr)
	}
	r = keep(cliEnv(adminToken, nil, "deploy-targets", "fraud_model", "add", "webhook", "http://127.0.0.1:9/hook").wantCode(t, exitUsage))
	if !strings.Contains(r.stderr, "--secret-env") {
		t.Errorf("no --secret-env: %s", r.stderr)
	}
	// The secret pasted in place of the name: refused, and not echoed
	// (checked with everything printed, below).
	keep(cliEnv(adminToken, nil, "deploy-targets", "fraud_model", "add", "webhook", "http://127.0.0.1:9/hook", "--secret-env", secret).wantCode(t, exitUsage))
	keep(cliEnv(adminToken, nil, "deploy-targets", "fraud_model", "add", "webhook", "http://127.0.0.1:9/hook", "--secret-env", "s3cr3t=value!").wantCode(t, exitUsage))
	var none []httpapi.DeployTarget
	decode(t, s.cli(reader, "deploy-targets", "fraud_model", "--output", "json").must(t).stdout, &none)
	if len(none) != 0 {
		t.Fatalf("refused adds left targets: %+v", none)
	}

	// Add: the answer shows the fingerprint.
	env := []string{"HOOK_SECRET=" + secret}
	var wh httpapi.DeployTarget
	decode(t, keep(cliEnv(adminToken, env, "deploy-targets", "fraud_model", "add", "webhook", "http://127.0.0.1:9/hook",
		"--secret-env", "HOOK_SECRET", "--output", "json").must(t)).stdout, &wh)
	if wh.SecretFingerprint != registry.SecretFingerprint([]byte(secret)) || !strings.HasPrefix(wh.ID, "dt-") {
		t.Fatalf("added: %+v", wh)
	}
	keep(cliEnv(adminToken, nil, "deploy-targets", "fraud_model", "add", "sagemaker", "fraud-prod",
		"--image", "123456789012.dkr.ecr.us-east-1.amazonaws.com/serve:1", "--role", "arn:aws:iam::123456789012:role/SageMaker",
		"--instance-type", "ml.c5.xlarge").must(t))
	r = keep(cliEnv(adminToken, nil, "deploy-targets", "fraud_model", "add", "sagemaker", "bad_name",
		"--image", "123456789012.dkr.ecr.us-east-1.amazonaws.com/serve:1", "--role", "arn:aws:iam::123456789012:role/SageMaker").wantCode(t, exitUsage))
	if !strings.Contains(r.stderr, "endpoint name") {
		t.Errorf("bad endpoint: %s", r.stderr)
	}
	// A reader lists; a reader may not add.
	list := keep(s.cli(reader, "deploy-targets", "fraud_model").must(t)).stdout
	if !strings.Contains(list, wh.ID) || !strings.Contains(list, wh.SecretFingerprint) || !strings.Contains(list, "endpoint fraud-prod") ||
		!strings.Contains(list, "ml.c5.xlarge") {
		t.Errorf("list:\n%s", list)
	}
	keep(cliEnv(reader, env, "deploy-targets", "fraud_model", "add", "webhook", "http://127.0.0.1:9/other", "--secret-env", "HOOK_SECRET").wantCode(t, exitAuth))

	// Rotate: a new fingerprint.
	var rot httpapi.DeployTarget
	decode(t, keep(cliEnv(adminToken, []string{"NEW_SECRET=" + rotated}, "deploy-targets", "fraud_model", "rotate-secret", wh.ID,
		"--secret-env", "NEW_SECRET", "--output", "json").must(t)).stdout, &rot)
	if rot.SecretFingerprint == wh.SecretFingerprint || rot.SecretFingerprint != registry.SecretFingerprint([]byte(rotated)) {
		t.Errorf("rotated fingerprint %q (was %q)", rot.SecretFingerprint, wh.SecretFingerprint)
	}
	text := keep(cliEnv(adminToken, []string{"NEW_SECRET=" + secret}, "deploy-targets", "fraud_model", "rotate-secret", wh.ID, "--secret-env", "NEW_SECRET").must(t)).stdout
	if !strings.Contains(text, registry.SecretFingerprint([]byte(secret))) {
		t.Errorf("rotate text: %s", text)
	}
	keep(cliEnv(adminToken, nil, "deploy-targets", "fraud_model", "rotate-secret", wh.ID, "--secret-env", "NO_SUCH_VAR_XYZ").wantCode(t, exitUsage))

	// Remove; removing again is not found.
	keep(s.cli(adminToken, "deploy-targets", "fraud_model", "remove", wh.ID).must(t))
	keep(s.cli(adminToken, "deploy-targets", "fraud_model", "remove", wh.ID).wantCode(t, exitNotFound))
	var left []httpapi.DeployTarget
	decode(t, s.cli(reader, "deploy-targets", "fraud_model", "--output", "json").must(t).stdout, &left)
	if len(left) != 1 || left[0].Kind != "sagemaker" {
		t.Errorf("after remove: %+v", left)
	}

	// Deployments: none yet; a missing one is not found.
	dl := keep(s.cli(reader, "deployments", "fraud_model").must(t)).stdout
	if !strings.HasPrefix(dl, "ID") || strings.Count(dl, "\n") != 1 {
		t.Errorf("deployments of a model with none:\n%s", dl)
	}
	keep(s.cli(reader, "deployments", "fraud_model", "show", "dp-none").wantCode(t, exitNotFound))
	keep(s.cli(reader, "deployments", "nope").wantCode(t, exitNotFound))

	// The history tells who changed the targets; no secret anywhere.
	hist := keep(s.cli(reader, "history", "fraud_model").must(t)).stdout
	for _, want := range []string{"deploy_target.added", "deploy_target.secret_rotated", "deploy_target.removed", "target " + wh.ID + " (webhook)"} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %q:\n%s", want, hist)
		}
	}
	time.Sleep(100 * time.Millisecond) // let the server's log catch up
	printed = append(printed, s.logs.String())
	for _, p := range printed {
		for _, sec := range []string{secret, rotated} {
			if strings.Contains(p, sec) {
				t.Fatalf("a secret was printed:\n%s", p)
			}
		}
	}
}

// TestDeploymentOutput: deployment entries in the history name the target
// and the reason; the deployments table shows status, attempts and reason.
func TestDeploymentOutput(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	entries := []httpapi.AuditEntry{
		{ID: "a2", Model: "m", Version: 2, Action: registry.ActionDeploymentFailed, Actor: "anna", Reason: "HTTP 503 from receiver",
			Details: map[string]string{"target": "dt-1", "kind": "webhook", "attempts": "5", "reason": "HTTP 503 from receiver", "deployment": "dp-9"}, At: at},
		{ID: "a1", Model: "m", Version: 2, Action: registry.ActionDeploymentStarted, Actor: "anna",
			Details: map[string]string{"target": "dt-1", "kind": "webhook", "attempts": "1", "deployment": "dp-9"}, At: at},
	}
	var b bytes.Buffer
	if err := printHistory(&b, entries); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if !strings.Contains(lines[1], "deployment.failed") || !strings.Contains(lines[1], "target dt-1 (webhook)") || !strings.Contains(lines[1], "HTTP 503 from receiver") {
		t.Errorf("failed row: %q", lines[1])
	}
	if !strings.Contains(lines[2], "attempts=5") || strings.Contains(lines[2], "reason=") || strings.Contains(lines[2], "kind=") {
		t.Errorf("failed details: %q", lines[2])
	}
	if !strings.Contains(b.String(), "deployment.started") {
		t.Errorf("history:\n%s", b.String())
	}
	b.Reset()
	if err := printDeployments(&b, []httpapi.Deployment{{ID: "dp-9", Model: "m", Version: 2, TargetID: "dt-1", TargetKind: "webhook",
		Status: "FAILED", Reason: "HTTP 503\nfrom receiver", Attempts: 5, StartedAt: at}}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, "dt-1 (webhook)") || !strings.Contains(out, "FAILED") || !strings.Contains(out, "HTTP 503") {
		t.Errorf("deployments table (a reason's newline must not add a row):\n%s", out)
	}
}
