package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/failpoint"
	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/redeploy"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/webhook"
)

// The webhook end-to-end tests run a real `modelreg serve
// --allow-private-webhooks` with a webhook deploy target added through the
// CLI, pointing at a receiver in the test that verifies every delivery's
// signature with shared/webhook.Verify.

// hookDelivery is one delivery the receiver accepted.
type hookDelivery struct {
	eventID string // the Modelreg-Event-Id header
	payload redeploy.Payload
}

// hookReceiver accepts deliveries signed with secret and records the
// rest as bad.
type hookReceiver struct {
	secret []byte
	srv    *httptest.Server
	mu     sync.Mutex
	got    []hookDelivery
	bad    []string
}

func newHookReceiver(t *testing.T, secret string) *hookReceiver {
	h := &hookReceiver{secret: []byte(secret)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		fail := func(why string) {
			h.mu.Lock()
			h.bad = append(h.bad, why)
			h.mu.Unlock()
			http.Error(w, why, http.StatusBadRequest)
		}
		switch {
		case err != nil:
			fail("read: " + err.Error())
			return
		case r.Method != http.MethodPost || r.URL.Path != "/deploy":
			fail("request " + r.Method + " " + r.URL.Path)
			return
		case r.Header.Get("Content-Type") != "application/json":
			fail("content type " + r.Header.Get("Content-Type"))
			return
		}
		if err := webhook.Verify(h.secret, r.Header.Get(webhook.HeaderSignature), body, time.Now(), 0); err != nil {
			fail("signature: " + err.Error())
			return
		}
		var p redeploy.Payload
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			fail("payload " + string(body) + ": " + err.Error())
			return
		}
		h.mu.Lock()
		h.got = append(h.got, hookDelivery{eventID: r.Header.Get(webhook.HeaderEventID), payload: p})
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) deliveries() []hookDelivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookDelivery(nil), h.got...)
}

// waitN waits until n deliveries arrived and returns them; it fails on
// any badly signed or malformed request.
func (h *hookReceiver) waitN(t *testing.T, n int) []hookDelivery {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		h.mu.Lock()
		got, bad := append([]hookDelivery(nil), h.got...), append([]string(nil), h.bad...)
		h.mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("the receiver refused requests: %q", bad)
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries after 30s, want %d: %+v", len(got), n, got)
		}
	}
}

// settle lets a late duplicate (the outbox relay's next rounds) arrive,
// then checks the receiver holds exactly n good deliveries.
func (h *hookReceiver) settle(t *testing.T, n int) []hookDelivery {
	t.Helper()
	time.Sleep(1500 * time.Millisecond)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.bad) > 0 {
		t.Fatalf("the receiver refused requests: %q", h.bad)
	}
	if len(h.got) != n {
		var lines []string
		for _, d := range h.got[:min(len(h.got), 8)] {
			lines = append(lines, d.eventID+" "+d.payload.Model+" v"+strconv.Itoa(d.payload.Version))
		}
		t.Fatalf("%d deliveries, want exactly %d; the first: %s", len(h.got), n, strings.Join(lines, ", "))
	}
	return append([]hookDelivery(nil), h.got...)
}

const webhookSecret = "whsec_e2e_cli_0123456789abcdef"

// addWebhookTarget adds a webhook target of model pointing at h, the
// secret passed in an environment variable, and returns it.
func addWebhookTarget(t *testing.T, s *server, model string, h *hookReceiver) httpapi.DeployTarget {
	t.Helper()
	env := append(os.Environ(), "MODELREG_URL="+s.url, "MODELREG_TOKEN="+adminToken, "E2E_HOOK_SECRET="+webhookSecret)
	var tg httpapi.DeployTarget
	decode(t, runBinary(t, env, "deploy-targets", model, "add", "webhook", h.srv.URL+"/deploy",
		"--secret-env", "E2E_HOOK_SECRET", "--output", "json").must(t).stdout, &tg)
	if tg.Kind != string(registry.TargetWebhook) || tg.SecretFingerprint != registry.SecretFingerprint([]byte(webhookSecret)) {
		t.Fatalf("added target %+v", tg)
	}
	return tg
}

// checkPayload checks one delivery of model's version (replacing prev) to
// target tg, with file (size, sha) as the version's only artifact, whose
// download URL must serve those bytes.
func checkPayload(t *testing.T, d hookDelivery, tg httpapi.DeployTarget, model string, version, prev int, rollback bool, size int64, sha string) {
	t.Helper()
	p := d.payload
	if d.eventID == "" || p.EventID != d.eventID || p.TargetID != tg.ID || p.Model != model || p.Version != version ||
		p.PreviousVersion != prev || p.Stage != registry.StageProduction || p.Rollback != rollback ||
		p.DeploymentID != registry.DeploymentID(p.EventID, tg.ID) || p.Time.IsZero() {
		t.Fatalf("delivery (header event id %q): %+v\nwant %s v%d replacing v%d (rollback %v) to %s", d.eventID, p, model, version, prev, rollback, tg.ID)
	}
	if len(p.Artifacts) != 1 || p.Artifacts[0].SHA256 != sha || p.Artifacts[0].Size != size || !p.URLsExpireAt.After(time.Now()) {
		t.Fatalf("artifacts of v%d: %+v (expire %s), want one of %d bytes, sha256 %s", version, p.Artifacts, p.URLsExpireAt, size, sha)
	}
	resp, err := http.Get(p.Artifacts[0].URI)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	hash := sha256.New()
	n, err := io.Copy(hash, resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || n != size || hex.EncodeToString(hash.Sum(nil)) != sha {
		t.Fatalf("download of %s: HTTP %d, %d bytes, err %v: not the artifact", p.Artifacts[0].URI, resp.StatusCode, n, err)
	}
}

// TestWebhookDeliveryStory: two promotions (a publisher requests, an
// approver approves) and a rollback give the receiver exactly one
// correctly signed payload each, naming the version and the one it
// replaced; `modelreg deployments` lists them SUCCEEDED, the history has
// their entries, and `deployments redeliver` sends the Production version
// once more as a new event (a redelivery) — a deployment of a version no
// longer in Production is not redelivered.
func TestWebhookDeliveryStory(t *testing.T) {
	for _, b := range testBackends(t) {
		t.Run(b.name, func(t *testing.T) { webhookStory(t, b) })
	}
}

func webhookStory(t *testing.T, b backend) {
	h := newHookReceiver(t, webhookSecret)
	s := startServerArgs(t, t.TempDir(), []string{"--allow-private-webhooks"}, b.env...)
	pat := addToken(t, s, "pat", registry.RolePublisher)
	anna := addToken(t, s, "anna", registry.RoleApprover)
	s.cli(adminToken, "models", "create", "fraud").must(t)
	tg := addWebhookTarget(t, s, "fraud", h)

	work := t.TempDir()
	f1, sum1 := randomFile(t, work, "v1.bin", 1000)
	f2, sum2 := randomFile(t, work, "v2.bin", 3000)
	s.cli(pat, "register", "fraud", "--artifact", f1, "--metric", "accuracy=0.91", "--no-git").must(t)
	s.cli(pat, "register", "fraud", "--artifact", f2, "--metric", "accuracy=0.95", "--no-git").must(t)
	if n := len(h.deliveries()); n != 0 {
		t.Fatalf("%d deliveries before any Production change", n)
	}

	promoteProduction := func(version int) {
		t.Helper()
		s.cli(pat, "promote", "fraud", strconv.Itoa(version), "--to", "Staging", "--reason", "candidate").must(t)
		id := requestProduction(t, s, pat, "fraud", version, "ready for prod")
		s.cli(anna, "approvals", "approve", id, "--comment", "ok").must(t)
		waitStage(t, s, adminToken, "fraud", registry.StageProduction, version)
	}
	promoteProduction(1)
	got := h.waitN(t, 1)
	checkPayload(t, got[0], tg, "fraud", 1, 0, false, 1000, sum1)
	if got[0].payload.Actor != "anna" || got[0].payload.Redelivery {
		t.Errorf("first promotion's payload: %+v", got[0].payload)
	}
	promoteProduction(2)
	got = h.waitN(t, 2)
	checkPayload(t, got[1], tg, "fraud", 2, 1, false, 3000, sum2)
	s.cli(anna, "rollback", "fraud", "--reason", "latency regression").must(t)
	waitStage(t, s, adminToken, "fraud", registry.StageProduction, 1)
	got = h.waitN(t, 3)
	checkPayload(t, got[2], tg, "fraud", 1, 2, true, 1000, sum1)
	if got[2].payload.Reason != "latency regression" || got[2].payload.Actor != "anna" {
		t.Errorf("rollback payload: %+v", got[2].payload)
	}
	got = h.settle(t, 3) // one per Production change: the archival of the old version sends nothing
	events := map[string]bool{}
	for _, d := range got {
		events[d.eventID] = true
	}
	if len(events) != 3 {
		t.Fatalf("event ids %v, want 3 distinct", events)
	}

	// The deployments: 3 SUCCEEDED, newest first, one delivery attempt each.
	deployments := func() []httpapi.Deployment {
		var ds []httpapi.Deployment
		decode(t, s.cli(pat, "deployments", "fraud", "--output", "json").must(t).stdout, &ds)
		return ds
	}
	ds := deployments()
	if len(ds) != 3 {
		t.Fatalf("deployments: %+v, want 3", ds)
	}
	for i, d := range ds {
		want := got[2-i].payload
		if d.ID != want.DeploymentID || d.EventID != want.EventID || d.Version != want.Version || d.PreviousVersion != want.PreviousVersion ||
			d.Status != string(registry.DeploymentSucceeded) || d.Attempts != 1 || d.TargetID != tg.ID || d.TargetKind != "webhook" || d.Reason != "" {
			t.Errorf("deployment %d: %+v, want the one of delivery %+v", i, d, want)
		}
	}
	table := s.cli(pat, "deployments", "fraud").must(t).stdout
	if strings.Count(table, "SUCCEEDED") != 3 || !strings.Contains(table, ds[0].ID) {
		t.Errorf("deployments table:\n%s", table)
	}

	// The history has a started and a succeeded entry per deployment.
	var entries []httpapi.AuditEntry
	decode(t, s.cli(pat, "history", "fraud", "--output", "json").must(t).stdout, &entries)
	counts := map[string]int{}
	for _, e := range entries {
		if e.Action == registry.ActionDeploymentStarted || e.Action == registry.ActionDeploymentSucceeded {
			counts[e.Details["deployment"]+" "+string(e.Action)]++
			if e.Details["target"] != tg.ID {
				t.Errorf("deployment entry names target %q: %+v", e.Details["target"], e)
			}
		}
	}
	for _, d := range ds {
		for _, a := range []registry.Action{registry.ActionDeploymentStarted, registry.ActionDeploymentSucceeded} {
			if n := counts[d.ID+" "+string(a)]; n != 1 {
				t.Errorf("history has %d × %s of %s, want 1 (all: %v)", n, a, d.ID, counts)
			}
		}
	}
	if len(counts) != 6 {
		t.Errorf("history's deployment entries: %v, want 6", counts)
	}
	text := s.cli(pat, "history", "fraud").must(t).stdout
	for _, want := range []string{"deployment.started", "deployment.succeeded", "target " + tg.ID + " (webhook)"} {
		if !strings.Contains(text, want) {
			t.Errorf("history text lacks %q:\n%s", want, text)
		}
	}

	// Redeliver the rollback's deployment (v1, in Production): one more
	// delivery, as a new event (its id is what the CLI prints) and a new
	// deployment of the same version, flagged as a redelivery.
	var acc httpapi.RedeliveryAccepted
	rd := s.cli(pat, "deployments", "fraud", "redeliver", ds[0].ID, "--output", "json")
	if rd.code != 0 {
		t.Fatalf("redeliver: exit %d %s\n%s", rd.code, rd.stderr, s.logs)
	}
	decode(t, rd.stdout, &acc)
	if acc.EventID == "" || events[acc.EventID] {
		t.Fatalf("redeliver answered event %q (earlier events %v)", acc.EventID, events)
	}
	got = h.waitN(t, 4)
	re := got[3]
	checkPayload(t, re, tg, "fraud", 1, 2, false, 1000, sum1)
	if re.eventID != acc.EventID || !re.payload.Redelivery || re.payload.Actor != "pat" || re.payload.DeploymentID == ds[0].ID {
		t.Fatalf("redelivery: header event %q payload %+v, want event %s flagged redelivery by pat", re.eventID, re.payload, acc.EventID)
	}
	h.settle(t, 4)
	ds = deployments()
	if len(ds) != 4 || ds[0].ID != re.payload.DeploymentID || ds[0].Status != string(registry.DeploymentSucceeded) || ds[0].Version != 1 {
		t.Fatalf("deployments after the redelivery: %+v", ds)
	}
	// v2's deployment delivered a version no longer in Production: refused,
	// nothing sent.
	if r := s.cli(pat, "deployments", "fraud", "redeliver", ds[2].ID).wantCode(t, exitConflict); !strings.Contains(r.stderr, "Production") {
		t.Errorf("redeliver of v2's deployment: %s", r.stderr)
	}
	s.cli(pat, "deployments", "fraud", "redeliver", "dp-nope").wantCode(t, exitNotFound)
	h.settle(t, 4)
}

// TestWebhookSurvivesSIGKILL: the server is killed (failpoint
// redeploy.before-deliver) after the promotion to Production committed and
// before its webhook was sent; restarted on the same data it delivers the
// payload once, and a further restart sends nothing more.
func TestWebhookSurvivesSIGKILL(t *testing.T) {
	for _, b := range testBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			h := newHookReceiver(t, webhookSecret)
			dir := t.TempDir()
			flags := []string{"--allow-private-webhooks"}
			s := startServerArgs(t, dir, flags, append(b.env, failpoint.Env+"="+failpoint.RedeployBeforeDeliver)...)
			anna := addToken(t, s, "anna", registry.RoleApprover)
			s.cli(adminToken, "models", "create", "crashy").must(t)
			tg := addWebhookTarget(t, s, "crashy", h)
			f1, sum1 := randomFile(t, t.TempDir(), "v1.bin", 2000)
			s.cli(adminToken, "register", "crashy", "--artifact", f1, "--no-git").must(t)
			s.cli(adminToken, "promote", "crashy", "1", "--to", "Staging", "--reason", "candidate").must(t)
			id := requestProduction(t, s, adminToken, "crashy", 1, "first release")
			// The decision commits, the promotion commits, and the
			// redeploy consumer dies before delivering: the CLI may or may
			// not hear back first.
			s.cli(anna, "approvals", "approve", id)
			s.waitKilled()
			if n := len(h.deliveries()); n != 0 {
				t.Fatalf("%d deliveries before the restart, want 0", n)
			}

			s = startServerArgs(t, dir, flags, b.env...)
			waitStage(t, s, adminToken, "crashy", registry.StageProduction, 1)
			got := h.waitN(t, 1)
			checkPayload(t, got[0], tg, "crashy", 1, 0, false, 2000, sum1)
			h.settle(t, 1)
			s.stop()

			s = startServerArgs(t, dir, flags, b.env...)
			h.settle(t, 1)
			var ds []httpapi.Deployment
			decode(t, s.cli(adminToken, "deployments", "crashy", "--output", "json").must(t).stdout, &ds)
			if len(ds) != 1 || ds[0].Status != string(registry.DeploymentSucceeded) || ds[0].EventID != got[0].eventID || ds[0].Attempts != 1 {
				t.Fatalf("deployments after the restarts: %+v", ds)
			}
		})
	}
}
