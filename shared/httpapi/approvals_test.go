package httpapi

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/workflow"
	"github.com/modelreg/modelreg/shared/workflow/local"
)

// engineRef lets the service hold its workflow before the engine (which
// needs the service's handlers) exists.
type engineRef struct {
	mu sync.Mutex
	e  *local.Engine
}

func (r *engineRef) get() *local.Engine { r.mu.Lock(); defer r.mu.Unlock(); return r.e }
func (r *engineRef) StartPromotion(ctx context.Context, a registry.Approval) (string, error) {
	return r.get().StartPromotion(ctx, a)
}
func (r *engineRef) SendTaskSuccess(ctx context.Context, token string, out []byte) error {
	return r.get().SendTaskSuccess(ctx, token, out)
}
func (r *engineRef) SendTaskFailure(ctx context.Context, token, code, cause string) error {
	return r.get().SendTaskFailure(ctx, token, code, cause)
}

// newPromotionEnv is an API whose service runs promotions on the local
// engine with the service's own task handlers.
func newPromotionEnv(t *testing.T) (*env, *engineRef) {
	t.Helper()
	ref := &engineRef{}
	e := newEnv(t, func(c *registry.Config, _ *Options) { c.Workflow = ref })
	eng, err := local.New(local.Config{Store: e.store, Handlers: workflow.ServiceHandlers(e.svc), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	ref.mu.Lock()
	ref.e = eng
	ref.mu.Unlock()
	return e, ref
}

func (e *env) settle(ref *engineRef, id string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := ref.get().Wait(ctx, id); err != nil {
		e.t.Fatal(err)
	}
}

func TestApprovalRoutes(t *testing.T) {
	e, ref := newPromotionEnv(t)
	e.seedModel("team_model", 2)
	for _, n := range []string{"1", "2"} {
		e.must(http.StatusOK, req{method: "POST", path: "/v1/models/team_model/versions/" + n + "/transitions", token: tok("paul"),
			body: TransitionRequest{To: "Staging", Reason: "candidate"}}, nil)
	}
	promote := func(n string) string {
		var acc TransitionAccepted
		e.must(http.StatusAccepted, req{method: "POST", path: "/v1/models/team_model/versions/" + n + "/transitions", token: tok("paul"),
			body: TransitionRequest{To: "Production", Reason: "better"}}, &acc)
		if acc.ApprovalID == "" || acc.Status != registry.ApprovalPending {
			t.Fatalf("202 body %+v", acc)
		}
		e.settle(ref, acc.ApprovalID)
		return acc.ApprovalID
	}
	id := promote("1")

	// A second request while one is pending names the first.
	res := e.do(req{method: "POST", path: "/v1/models/team_model/versions/2/transitions", token: tok("paul"),
		body: TransitionRequest{To: "Production", Reason: "better"}})
	if res.status != http.StatusConflict || !contains(res.errMessage(), id) {
		t.Fatalf("second request: %d %s", res.status, res.body)
	}
	// The requester's own approval is refused, admin or not.
	res = e.do(req{method: "POST", path: "/v1/approvals/" + id + "/cancel", token: tok("pia"), body: DecisionRequest{}})
	if res.status != http.StatusForbidden {
		t.Fatalf("another publisher cancels: %d %s", res.status, res.body)
	}
	res = e.do(req{method: "POST", path: "/v1/approvals/nope/approve", token: tok("anna"), body: DecisionRequest{}})
	if res.status != http.StatusNotFound {
		t.Fatalf("approve unknown: %d %s", res.status, res.body)
	}
	var ap Approval
	e.must(http.StatusOK, req{method: "POST", path: "/v1/approvals/" + id + "/approve", token: tok("anna"),
		body: DecisionRequest{Comment: "looks good"}}, &ap)
	if len(ap.Decisions) != 1 || ap.Decisions[0].By != "anna" || ap.Decisions[0].Comment != "looks good" {
		t.Fatalf("approve answered %+v", ap)
	}
	e.settle(ref, id)
	e.must(http.StatusOK, req{method: "GET", path: "/v1/approvals/" + id, token: tok("rita")}, &ap)
	if ap.Status != registry.ApprovalApproved || len(ap.Checks) < 2 {
		t.Fatalf("approval after approve: %+v", ap)
	}
	var v Version
	e.must(http.StatusOK, req{method: "GET", path: "/v1/models/team_model/stages/Production", token: tok("rita")}, &v)
	if v.Number != 1 {
		t.Fatalf("Production is %d", v.Number)
	}
	res = e.do(req{method: "POST", path: "/v1/approvals/" + id + "/reject", token: tok("adam"), body: DecisionRequest{}})
	if res.status != http.StatusConflict {
		t.Fatalf("reject a decided approval: %d %s", res.status, res.body)
	}

	// Rollback with nothing before: 409, nothing changed.
	before := e.snapshot()
	res = e.do(req{method: "POST", path: "/v1/models/team_model/rollback", token: tok("anna"), body: RollbackRequest{Reason: "x"}})
	if res.status != http.StatusConflict || e.snapshot() != before {
		t.Fatalf("rollback with nothing before: %d %s", res.status, res.body)
	}

	id2 := promote("2")
	res = e.do(req{method: "POST", path: "/v1/approvals/" + id2 + "/approve", token: tok("paul"), body: DecisionRequest{}})
	if res.status != http.StatusForbidden {
		t.Fatalf("publisher approves: %d %s", res.status, res.body)
	}
	e.must(http.StatusOK, req{method: "POST", path: "/v1/approvals/" + id2 + "/approve", token: tok("adam"), body: DecisionRequest{}}, nil)
	e.settle(ref, id2)
	e.must(http.StatusOK, req{method: "GET", path: "/v1/models/team_model/stages/Production", token: tok("rita")}, &v)
	if v.Number != 2 {
		t.Fatalf("Production is %d after the second approval", v.Number)
	}
	res = e.do(req{method: "POST", path: "/v1/models/team_model/rollback", token: tok("paul"), body: RollbackRequest{Reason: "x"}})
	if res.status != http.StatusForbidden {
		t.Fatalf("publisher rolls back under the default policy: %d %s", res.status, res.body)
	}
	e.must(http.StatusOK, req{method: "POST", path: "/v1/models/team_model/rollback", token: tok("anna"),
		body: RollbackRequest{Reason: "regression"}}, &v)
	if v.Number != 1 || v.Stage != registry.StageProduction {
		t.Fatalf("rollback answered %+v", v)
	}
	var list List[Approval]
	e.must(http.StatusOK, req{method: "GET", path: "/v1/approvals?status=APPROVED&model=team_model", token: tok("rita")}, &list)
	if len(list.Items) != 2 {
		t.Fatalf("APPROVED approvals: %+v", list.Items)
	}

	// Cancel by the requester.
	e.must(http.StatusOK, req{method: "POST", path: "/v1/models/team_model/versions/2/transitions", token: tok("paul"),
		body: TransitionRequest{To: "Staging", Reason: "again"}}, nil)
	id3 := promote("2")
	e.must(http.StatusOK, req{method: "POST", path: "/v1/approvals/" + id3 + "/cancel", token: tok("paul"),
		body: DecisionRequest{Comment: "wrong build"}}, &ap)
	if ap.Status != registry.ApprovalCancelled {
		t.Fatalf("cancel answered %+v", ap)
	}
}

func contains(s, sub string) bool { return sub != "" && strings.Contains(s, sub) }
