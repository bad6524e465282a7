package main

import (
	"os"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
)

// TestPolicyCLI sets and shows a policy through the binary: text and JSON,
// set replacing the whole policy, bad input refused with exit 2 and
// nothing changed, a non-admin refused.
func TestPolicyCLI(t *testing.T) {
	s := startServer(t, t.TempDir())
	s.cli(adminToken, "models", "create", "fraud").must(t)

	out := s.cli(adminToken, "policy", "fraud", "show").must(t).stdout
	for _, want := range []string{"manual, 1 approval(s) required", "any approver or admin", "Required metrics:      none", "Rollback by:           approvers and admins"} {
		if !strings.Contains(out, want) {
			t.Errorf("default policy text lacks %q:\n%s", want, out)
		}
	}

	out = s.cli(adminToken, "policy", "fraud", "set", "--approvals-required", "2", "--approver", "anna", "--approver", "group:leads",
		"--metric", "accuracy>=0.9", "--metric", "latency_ms <= 50", "--must-beat", "accuracy", "--must-beat", "latency_ms",
		"--require-commit", "--require-clean", "--rollback-role", "publisher").must(t).stdout
	for _, want := range []string{"manual, 2 approval(s) required", "anna, group:leads", "accuracy>=0.9, latency_ms<=50",
		"accuracy (higher is better), latency_ms (lower is better)", "Require commit:        yes", "Require clean tree:    yes",
		"publishers, approvers and admins"} {
		if !strings.Contains(out, want) {
			t.Errorf("set policy text lacks %q:\n%s", want, out)
		}
	}
	var p httpapi.Policy
	decode(t, s.cli(adminToken, "policy", "fraud", "--output", "json").must(t).stdout, &p)
	if p.ApprovalsRequired != 2 || len(p.Metrics) != 2 || p.Metrics[1] != (httpapi.MetricRule{Metric: "latency_ms", Op: "<=", Value: 50}) ||
		!p.RequireCleanTree || p.RollbackRole != registry.RolePublisher {
		t.Fatalf("policy as JSON: %+v", p)
	}

	// Refused: bad input (exit 2), a non-admin (exit 5); nothing changes.
	before := s.cli(adminToken, "policy", "fraud", "--output", "json").must(t).stdout
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--metric", "accuracy=0.9"}, exitUsage, "unknown operator"},
		{[]string{"--approvals-required", "0"}, exitUsage, "between 1 and 5"},
		{[]string{"--approvals-required", "9"}, exitUsage, "between 1 and 5"},
		{[]string{"--approval", "sometimes"}, exitUsage, "use manual or auto"},
		{[]string{"--rollback-role", "admin"}, exitUsage, "use approver or publisher"},
		{[]string{"--must-beat", "acc:up"}, exitUsage, "METRIC:max or METRIC:min"},
	} {
		r := s.cli(adminToken, append([]string{"policy", "fraud", "set"}, tc.args...)...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("policy set %v: exit %d, stderr %q; want %d containing %q", tc.args, r.code, r.stderr, tc.code, tc.msg)
		}
	}
	s.cli(adminToken, "policy", "fraud", "show", "--metric", "a>1").wantCode(t, exitUsage)
	s.cli(adminToken, "policy", "fraud", "apply").wantCode(t, exitUsage)
	s.cli(adminToken, "policy", "nope", "show").wantCode(t, exitNotFound)
	tok := runBinary(t, os.Environ(), "tokens", "add", "paul", "--role", "publisher", "--data-dir", s.dataDir).must(t)
	pub := strings.TrimSpace(tok.stdout)
	waitFor(t, func() bool { return s.cli(pub, "whoami").code == 0 })
	s.cli(pub, "policy", "fraud", "set").wantCode(t, exitAuth)
	s.cli(pub, "policy", "fraud", "show").must(t)
	if after := s.cli(adminToken, "policy", "fraud", "--output", "json").must(t).stdout; after != before {
		t.Fatalf("a refused set changed the policy:\n%s\nto\n%s", before, after)
	}

	// set replaces the whole policy: 'set' alone restores the defaults.
	decode(t, s.cli(adminToken, "policy", "fraud", "set", "--output", "json").must(t).stdout, &p)
	if p.ApprovalsRequired != 1 || len(p.Metrics) != 0 || len(p.Approvers) != 0 || p.RequireCommit || p.RollbackRole != registry.RoleApprover {
		t.Fatalf("policy after a bare set: %+v", p)
	}
	hist := s.cli(adminToken, "history", "fraud", "--output", "json").must(t).stdout
	if strings.Count(hist, string(registry.ActionPolicyChanged)) != 2 {
		t.Fatalf("history does not hold the two policy changes:\n%s", hist)
	}
}
