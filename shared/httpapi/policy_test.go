package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/registry"
)

func TestPolicyRoutes(t *testing.T) {
	e := newEnv(t)
	e.seedModel("fraud", 1)
	path := "/v1/models/fraud/policy"

	var got Policy
	e.must(http.StatusOK, req{method: "GET", path: path, token: tok("rita")}, &got)
	if got.Approval != registry.ApprovalManual || got.ApprovalsRequired != 1 || got.RollbackRole != registry.RoleApprover ||
		got.Approvers == nil || got.Metrics == nil || got.MustBeatProduction == nil {
		t.Fatalf("default policy = %+v", got)
	}

	body := `{"approval":"auto","approvals_required":2,"approvers":["anna","group:leads"],
		"metrics":[{"metric":"accuracy","op":">=","value":0.9}],"must_beat_production":["accuracy"],
		"require_commit":true,"require_clean_tree":true,"rollback_role":"publisher"}`
	e.must(http.StatusOK, req{method: "PUT", path: path, token: tok("adam"), body: body}, &got)
	want := Policy{Approval: registry.ApprovalAuto, ApprovalsRequired: 2, Approvers: []string{"anna", "group:leads"},
		Metrics: []MetricRule{{"accuracy", ">=", 0.9}}, MustBeatProduction: []string{"accuracy"},
		RequireCommit: true, RequireCleanTree: true, RollbackRole: registry.RolePublisher}
	if got.Domain().String() != want.Domain().String() {
		t.Fatalf("PUT answered %+v; want %+v", got, want)
	}
	var read Policy
	e.must(http.StatusOK, req{method: "GET", path: path, token: tok("paul")}, &read)
	if read.Domain().String() != want.Domain().String() {
		t.Fatalf("GET after PUT = %+v", read)
	}

	// The change is in the model's history with who and old → new.
	var h List[AuditEntry]
	e.must(http.StatusOK, req{method: "GET", path: "/v1/models/fraud/history", token: tok("rita")}, &h)
	if len(h.Items) == 0 || h.Items[0].Action != registry.ActionPolicyChanged || h.Items[0].Actor != "adam" ||
		!strings.Contains(h.Items[0].Details["new"], "approval=auto") || !strings.Contains(h.Items[0].Details["old"], "approval=manual") {
		t.Fatalf("history = %+v", h.Items)
	}

	// PUT replaces the whole policy: absent fields return to their defaults.
	e.must(http.StatusOK, req{method: "PUT", path: path, token: tok("adam"), body: `{"require_commit":true}`}, &got)
	if got.Approval != registry.ApprovalManual || got.ApprovalsRequired != 1 || len(got.Metrics) != 0 || !got.RequireCommit {
		t.Fatalf("PUT of a partial policy = %+v", got)
	}
}

func TestPolicyPutRefusesBadInput(t *testing.T) {
	e := newEnv(t)
	e.seedModel("fraud", 1)
	path := "/v1/models/fraud/policy"
	for _, tc := range []struct{ body, msg string }{
		{`{"approval":"sometimes"}`, "unknown approval mode"},
		{`{"approvals_required":0}`, "approvals_required is 0"},
		{`{"approvals_required":6}`, "between 1 and 5"},
		{`{"metrics":[{"metric":"accuracy","op":"=>","value":1}]}`, "unknown operator"},
		{`{"metrics":[{"metric":"","op":">=","value":1}]}`, "names no metric"},
		{`{"must_beat_production":[""]}`, "empty metric name"},
		{`{"rollback_role":"admin"}`, "use approver or publisher"},
		{`{"rollback_role":"reader"}`, "use approver or publisher"},
		{`{"approvers":["anna\u001b[2J"]}`, "U+001B"},
		{`{"approval":"auto","unknown":1}`, "unknown"},
		{`{"approval":"auto","approval":"manual"}`, "appears twice"},
		{``, "empty"},
	} {
		before := e.snapshot()
		res := e.do(req{method: "PUT", path: path, token: tok("adam"), body: tc.body})
		if res.status != http.StatusBadRequest || res.errCode() != registry.Invalid || !strings.Contains(res.errMessage(), tc.msg) {
			t.Errorf("PUT %s = %d %s; want 400 invalid containing %q", tc.body, res.status, res.body, tc.msg)
		}
		if after := e.snapshot(); after != before {
			t.Errorf("PUT %s changed state:\n%s\nto\n%s", tc.body, before, after)
		}
	}
	res := e.do(req{method: "PUT", path: "/v1/models/nope/policy", token: tok("adam"), body: `{}`})
	if res.status != http.StatusNotFound {
		t.Errorf("PUT on an unknown model = %d %s; want 404", res.status, res.body)
	}
	res = e.do(req{method: "GET", path: "/v1/models/nope/policy", token: tok("rita")})
	if res.status != http.StatusNotFound {
		t.Errorf("GET on an unknown model = %d %s; want 404", res.status, res.body)
	}
}
