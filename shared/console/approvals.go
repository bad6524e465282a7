package console

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/modelreg/modelreg/shared/registry"
)

// approvalView is an approval with what the page shows beside it: the
// metrics it was requested on against the current Production version's,
// and whether the viewer is offered the decision buttons.
type approvalView struct {
	registry.Approval
	Production int
	Against    []criterionRow
	MayDecide  bool
	// Why says why the viewer is not offered the buttons ("" if offered).
	Why string
}

// criterionRow is one metric of a request against Production.
type criterionRow struct {
	Name       string
	Value      float64
	Production float64
	HasProd    bool
	// Better is +1 when Value beats Production (by the metric's
	// direction, as compare ranks it), -1 when worse, 0 on a tie.
	Better int
}

// view builds the approval page's data for a.
func (c *Console) view(r *http.Request, a registry.Approval) (approvalView, error) {
	av := approvalView{Approval: a}
	m, err := c.svc.GetModel(r.Context(), a.Model)
	if err != nil && !registry.IsCode(err, registry.NotFound) {
		return av, err
	}
	var prod map[string]registry.Metric
	if err == nil && m.ProductionVersion > 0 {
		av.Production = m.ProductionVersion
		pv, err := c.svc.GetVersion(r.Context(), a.Model, m.ProductionVersion)
		if err != nil {
			return av, err
		}
		prod = pv.Metrics
	}
	for _, name := range sortedKeys(a.Criteria) {
		row := criterionRow{Name: name, Value: a.Criteria[name]}
		if pm, ok := prod[name]; ok {
			row.Production, row.HasProd = pm.Value, true
			higher := registry.HigherIsBetter(name)
			switch {
			case row.Value == row.Production:
			case (row.Value > row.Production) == higher:
				row.Better = 1
			default:
				row.Better = -1
			}
		}
		av.Against = append(av.Against, row)
	}
	v := viewerFrom(r.Context())
	switch {
	case a.Status != registry.ApprovalPending:
		av.Why = "This request is " + string(a.Status) + "."
	case a.RequestedBy == v.Name:
		av.Why = "You made this request: someone else must decide it."
	case !v.Can(registry.PermApprove):
		av.Why = "Only approvers decide requests; you are " + string(v.Role) + "."
	case slices.ContainsFunc(a.Decisions, func(d registry.ApprovalDecision) bool { return d.By == v.Name }):
		av.Why = "You approved it already; it needs more approvers."
	case err == nil && !m.Policy.NamesApprover(v.Name, v.Groups):
		av.Why = "The model's policy names other approvers."
	default:
		av.MayDecide = true
	}
	return av, nil
}

// approvalsPage shows the pending queue and, below it, decided approvals
// (all of them, or those of ?status=).
func (c *Console) approvalsPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	pending, err := c.svc.ListApprovals(ctx, registry.ApprovalPending, "", "", registry.MaxPageSize)
	if err != nil {
		return err
	}
	queue := make([]approvalView, 0, len(pending.Items))
	for _, a := range pending.Items {
		av, err := c.view(r, a)
		if err != nil {
			return err
		}
		queue = append(queue, av)
	}
	status := registry.ApprovalStatus(q.Get("status"))
	if status == registry.ApprovalPending {
		return registry.Errorf(registry.Invalid, "the pending queue is at the top; filter decided approvals by APPROVED, REJECTED, EXPIRED, CANCELLED or FAILED")
	}
	decided, err := c.svc.ListApprovals(ctx, status, "", q.Get("page"), approvalPageSize)
	if err != nil {
		return err
	}
	done := make([]registry.Approval, 0, len(decided.Items))
	for _, a := range decided.Items {
		if a.Status != registry.ApprovalPending {
			done = append(done, a)
		}
	}
	next := ""
	if decided.NextPageToken != "" {
		next = "/approvals?" + url.Values{"status": {string(status)}, "page": {decided.NextPageToken}}.Encode()
	}
	c.render(w, r, http.StatusOK, "approvals", map[string]any{
		"Title": "Approvals", "Queue": queue, "Decided": done, "Status": string(status), "Next": next,
		"Statuses": []registry.ApprovalStatus{registry.ApprovalApproved, registry.ApprovalRejected, registry.ApprovalExpired, registry.ApprovalCancelled, registry.ApprovalFailed},
	})
	return nil
}

// approvalPage is one approval at its stable URL, /approvals/ID (Slack
// notifications link here).
func (c *Console) approvalPage(w http.ResponseWriter, r *http.Request) error {
	a, err := c.svc.GetApproval(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	av, err := c.view(r, a)
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "approval", map[string]any{"Title": "Approval " + a.ID, "A": av})
	return nil
}

// decide approves or rejects an approval with a comment. The service
// refuses what the viewer may not do (their own request, a reader); the
// refusal is shown as the page.
func (c *Console) decide(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	var approve bool
	switch r.PostForm.Get("decision") {
	case "approve":
		approve = true
	case "reject":
	default:
		return registry.Errorf(registry.Invalid, "decision must be approve or reject")
	}
	if _, err := c.svc.DecideApproval(r.Context(), id, approve, r.PostForm.Get("comment")); err != nil {
		return err
	}
	http.Redirect(w, r, "/approvals/"+url.PathEscape(id), http.StatusSeeOther)
	return nil
}
