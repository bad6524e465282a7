package httpapi

import "github.com/modelreg/modelreg/shared/registry"

// Policy is a model's promotion policy as GET and PUT
// /v1/models/{name}/policy answer it: every field, defaults filled in.
type Policy struct {
	// Approval is "manual" (people decide) or "auto" (promoted once every
	// check passes, still recorded as an approval).
	Approval registry.ApprovalMode `json:"approval"`
	// ApprovalsRequired is how many distinct approvals a manual request needs (1..5).
	ApprovalsRequired int `json:"approvals_required"`
	// Approvers lists principals, or groups as "group:NAME", allowed to
	// decide (empty: any approver or admin).
	Approvers []string `json:"approvers"`
	// Metrics are thresholds the candidate must meet.
	Metrics []MetricRule `json:"metrics"`
	// MustBeatProduction lists metrics ("NAME", "NAME:max" or "NAME:min") on
	// which the candidate must be strictly better than Production.
	MustBeatProduction []string `json:"must_beat_production"`
	// RequireCommit requires lineage.code.commit.
	RequireCommit bool `json:"require_commit"`
	// RequireCleanTree requires a commit with lineage.code.dirty false.
	RequireCleanTree bool `json:"require_clean_tree"`
	// RollbackRole is "approver" or "publisher": who may roll back besides admins.
	RollbackRole registry.Role `json:"rollback_role"`
}

// MetricRule is a threshold: metric op value, e.g. accuracy >= 0.9.
type MetricRule struct {
	Metric string  `json:"metric"`
	Op     string  `json:"op"` // >=, >, <=, < or ==
	Value  float64 `json:"value"`
}

func policyOut(p registry.Policy) Policy {
	p = p.Normalized()
	out := Policy{
		Approval: p.Approval, ApprovalsRequired: p.ApprovalsRequired, Approvers: p.Approvers,
		Metrics: make([]MetricRule, len(p.Metrics)), MustBeatProduction: p.MustBeatProduction,
		RequireCommit: p.RequireCommit, RequireCleanTree: p.RequireCleanTree, RollbackRole: p.RollbackRole,
	}
	for i, r := range p.Metrics {
		out.Metrics[i] = MetricRule(r)
	}
	return out
}

// PolicyRequest is the body of PUT /v1/models/{name}/policy. It replaces
// the whole policy: an absent field takes its default (manual approval, one
// approval, no approvers, no checks, rollback by approvers).
type PolicyRequest struct {
	Approval          registry.ApprovalMode `json:"approval"`
	ApprovalsRequired *int                  `json:"approvals_required"`
	Approvers         []string              `json:"approvers"`
	Metrics           []MetricRule          `json:"metrics"`
	// MustBeatProduction: "NAME", "NAME:max" or "NAME:min".
	MustBeatProduction []string      `json:"must_beat_production"`
	RequireCommit      bool          `json:"require_commit"`
	RequireCleanTree   bool          `json:"require_clean_tree"`
	RollbackRole       registry.Role `json:"rollback_role"`
}

// domain returns the policy the request asks for. Invalid when
// approvals_required is given but out of range (an explicit 0 is refused,
// not taken as the default).
func (r PolicyRequest) domain() (registry.Policy, error) {
	p := registry.Policy{
		Approval: r.Approval, Approvers: r.Approvers, MustBeatProduction: r.MustBeatProduction,
		RequireCommit: r.RequireCommit, RequireCleanTree: r.RequireCleanTree, RollbackRole: r.RollbackRole,
	}
	if r.ApprovalsRequired != nil {
		if err := registry.CheckApprovalsRequired(*r.ApprovalsRequired); err != nil {
			return registry.Policy{}, err
		}
		p.ApprovalsRequired = *r.ApprovalsRequired
	}
	for _, m := range r.Metrics {
		p.Metrics = append(p.Metrics, registry.MetricRule(m))
	}
	return p, nil
}

// PolicyRequestOf returns the request that sets p (for clients).
func PolicyRequestOf(p registry.Policy) PolicyRequest {
	out := PolicyRequest{
		Approval: p.Approval, Approvers: p.Approvers, MustBeatProduction: p.MustBeatProduction,
		RequireCommit: p.RequireCommit, RequireCleanTree: p.RequireCleanTree, RollbackRole: p.RollbackRole,
	}
	if p.ApprovalsRequired != 0 {
		n := p.ApprovalsRequired
		out.ApprovalsRequired = &n
	}
	for _, m := range p.Metrics {
		out.Metrics = append(out.Metrics, MetricRule(m))
	}
	return out
}

// Domain returns p as the domain's policy (for clients).
func (p Policy) Domain() registry.Policy {
	out := registry.Policy{
		Approval: p.Approval, ApprovalsRequired: p.ApprovalsRequired, Approvers: p.Approvers,
		MustBeatProduction: p.MustBeatProduction, RequireCommit: p.RequireCommit,
		RequireCleanTree: p.RequireCleanTree, RollbackRole: p.RollbackRole,
	}
	for _, m := range p.Metrics {
		out.Metrics = append(out.Metrics, registry.MetricRule(m))
	}
	return out
}
