package httpapi

import (
	"context"
	"strings"

	"github.com/modelreg/modelreg/shared/registry"
)

func (a *api) history(ctx context.Context, in *input) (any, error) {
	token, size, err := in.page()
	if err != nil {
		return nil, err
	}
	version := 0
	if s := in.query("version"); s != "" {
		if version, err = positiveInt(s); err != nil {
			return nil, registry.Errorf(registry.Invalid, "invalid version %q: versions are positive integers", s)
		}
	}
	return a.svc.History(ctx, in.name(), version, token, size)
}

func (a *api) compare(ctx context.Context, in *input) (any, error) {
	s := in.query("versions")
	if s == "" {
		return nil, registry.Errorf(registry.Invalid, "versions is required: give 2 to %d version numbers, e.g. versions=1,2", registry.MaxCompare)
	}
	parts := strings.Split(s, ",")
	if len(parts) > registry.MaxCompare {
		return nil, registry.Errorf(registry.Invalid, "compare takes 2 to %d versions, got %d", registry.MaxCompare, len(parts))
	}
	numbers := make([]int, 0, len(parts))
	for _, p := range parts {
		n, err := positiveInt(strings.TrimSpace(p))
		if err != nil {
			return nil, registry.Errorf(registry.Invalid, "invalid version %q in versions: versions are positive integers", p)
		}
		numbers = append(numbers, n)
	}
	return a.svc.Compare(ctx, in.name(), numbers, in.query("by"))
}

func (a *api) listApprovals(ctx context.Context, in *input) (any, error) {
	token, size, err := in.page()
	if err != nil {
		return nil, err
	}
	status := registry.ApprovalStatus(strings.ToUpper(in.query("status")))
	return a.svc.ListApprovals(ctx, status, in.query("model"), token, size)
}

func (a *api) getApproval(ctx context.Context, in *input) (any, error) {
	return a.svc.GetApproval(ctx, in.r.PathValue("id"))
}

// DecisionRequest is the body of POST /v1/approvals/{id}/approve, /reject
// and /cancel.
type DecisionRequest struct {
	Comment string `json:"comment"`
}

// RollbackRequest is the body of POST /v1/models/{name}/rollback: to is
// the version to return to (absent or 0: the previous Production version).
type RollbackRequest struct {
	To     int    `json:"to"`
	Reason string `json:"reason"`
}

func (a *api) decideApproval(ctx context.Context, in *input, approve bool) (any, error) {
	var req DecisionRequest
	if err := in.decode(&req); err != nil {
		return nil, err
	}
	return a.svc.DecideApproval(ctx, in.r.PathValue("id"), approve, req.Comment)
}

func (a *api) approveApproval(ctx context.Context, in *input) (any, error) {
	return a.decideApproval(ctx, in, true)
}

func (a *api) rejectApproval(ctx context.Context, in *input) (any, error) {
	return a.decideApproval(ctx, in, false)
}

func (a *api) cancelApproval(ctx context.Context, in *input) (any, error) {
	var req DecisionRequest
	if err := in.decode(&req); err != nil {
		return nil, err
	}
	return a.svc.CancelApproval(ctx, in.r.PathValue("id"), req.Comment)
}

func (a *api) rollback(ctx context.Context, in *input) (any, error) {
	var req RollbackRequest
	if err := in.decode(&req); err != nil {
		return nil, err
	}
	return a.svc.Rollback(ctx, in.name(), req.To, req.Reason)
}
