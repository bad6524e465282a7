package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// slackHook is a Slack incoming webhook in the test: it keeps every body.
type slackHook struct {
	mu     sync.Mutex
	bodies []string
	srv    *httptest.Server
}

func newSlackHook(t *testing.T) *slackHook {
	h := &slackHook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if !json.Valid(b) {
			t.Errorf("slack got invalid JSON: %s", b)
		}
		h.mu.Lock()
		h.bodies = append(h.bodies, string(b))
		h.mu.Unlock()
		io.WriteString(w, "ok")
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// with returns the bodies that contain every one of subs.
func (h *slackHook) with(subs ...string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, b := range h.bodies {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(b, s)
		}
		if all {
			out = append(out, b)
		}
	}
	return out
}

func (h *slackHook) wait(t *testing.T, what string, subs ...string) string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got := h.with(subs...); len(got) > 0 {
			return got[0]
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	t.Fatalf("slack never got %s (%q); it got:\n%s", what, subs, strings.Join(h.bodies, "\n"))
	return ""
}

// TestServeNotifiesSlack: `serve --slack-webhook-env VAR --console-url URL`
// posts the approval request (with the exact approve/reject commands and
// the console link), the promotion and the decision to the webhook in VAR,
// each once.
func TestServeNotifiesSlack(t *testing.T) {
	hook := newSlackHook(t)
	s := startServer(t, t.TempDir(), "MODELREG_SLACK_WEBHOOK_ENV=MR_TEST_SLACK_URL", "MR_TEST_SLACK_URL="+hook.srv.URL,
		"MODELREG_CONSOLE_URL=http://console.test/")
	anna := addToken(t, s, "anna", registry.RoleApprover)
	s.cli(adminToken, "models", "create", "fraud").must(t)
	s.cli(adminToken, "register", "fraud", "--source", "s3://b/v1", "--metric", "accuracy=0.91", "--no-git").must(t)
	s.cli(adminToken, "promote", "fraud", "1", "--to", "Staging", "--reason", "candidate").must(t)
	id := requestProduction(t, s, adminToken, "fraud", 1, "first release")

	req := hook.wait(t, "the approval request", "Approval requested: fraud v1")
	for _, want := range []string{"modelreg approvals approve " + id, "modelreg approvals reject " + id,
		`"url":"http://console.test/approvals/` + id + `"`, "first release", "`accuracy` 0.91"} {
		if !strings.Contains(req, want) {
			t.Errorf("request message lacks %q:\n%s", want, req)
		}
	}
	s.cli(anna, "approvals", "approve", id, "--comment", "looks good").must(t)
	waitStage(t, s, adminToken, "fraud", registry.StageProduction, 1)
	hook.wait(t, "the promotion", "fraud v1 is in Production")
	hook.wait(t, "the decision", "approved", "looks good")
	time.Sleep(1500 * time.Millisecond) // a duplicate would come from the outbox's next round
	for _, k := range []string{"Approval requested: fraud v1", "fraud v1 is in Production", "looks good"} {
		if n := len(hook.with(k)); n != 1 {
			t.Errorf("%d messages with %q, want 1", n, k)
		}
	}
}

// TestServeRefusesSlackSettings: a --slack-webhook-env naming an unset or
// empty variable, or given the URL itself, and a --console-url that is not
// a URL are usage errors (exit 2), and the server does not start.
func TestServeRefusesSlackSettings(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"--slack-webhook-env", "MR_TEST_UNSET_VAR"}, nil, "MR_TEST_UNSET_VAR is empty or unset"},
		{[]string{"--slack-webhook-env", "MR_TEST_EMPTY_VAR"}, []string{"MR_TEST_EMPTY_VAR="}, "MR_TEST_EMPTY_VAR is empty or unset"},
		{[]string{"--slack-webhook-env", "https://hooks.slack.com/services/T/B/X"}, nil, "not the URL"},
		{[]string{"--slack-webhook-env", "MR_TEST_BAD_URL"}, []string{"MR_TEST_BAD_URL=hooks.slack.com/x"}, "--slack-webhook-env"},
		{[]string{"--console-url", "console.example"}, nil, "--console-url"},
	} {
		args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, tc.args...)
		env := append(append(os.Environ(), "MODELREG_ADMIN_TOKEN="+adminToken), tc.env...)
		r := runBinary(t, env, args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stdout, "listening") {
			t.Errorf("serve %v: exit %d\nstdout: %s\nstderr: %s\nwant exit %d saying %q", tc.args, r.code, r.stdout, r.stderr, exitUsage, tc.want)
		}
		if strings.Contains(r.stderr, "hooks.slack.com/x") {
			t.Errorf("serve %v printed the webhook URL (a secret): %s", tc.args, r.stderr)
		}
	}
}
