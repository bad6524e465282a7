package registry

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// ApprovalMode says whether a promotion to Production waits for people.
type ApprovalMode string

// Approval modes.
const (
	// ApprovalManual waits for Policy.ApprovalsRequired distinct approvals
	// (the default: the zero ApprovalMode means manual).
	ApprovalManual ApprovalMode = "manual"
	// ApprovalAuto promotes as soon as every policy check passes; the
	// promotion is still recorded as an approval.
	ApprovalAuto ApprovalMode = "auto"
)

// ParseApprovalMode returns the mode named s ("" is manual). Invalid.
func ParseApprovalMode(s string) (ApprovalMode, error) {
	switch m := ApprovalMode(s); m {
	case "", ApprovalManual:
		return ApprovalManual, nil
	case ApprovalAuto:
		return m, nil
	}
	return "", Errorf(Invalid, "unknown approval mode %q: use manual or auto", s)
}

// Limits of a policy.
const (
	MaxApprovalsRequired = 5
	MaxPolicyApprovers   = 50
	MaxPolicyRules       = 50 // metric rules, and must-beat metrics
	// GroupPrefix marks an approver entry that names a group
	// ("group:ml-leads") rather than a principal.
	GroupPrefix = "group:"
)

// Policy is a model's promotion policy. The zero value: manual approval,
// one approval, no checks, rollback by approvers. It is stored on the model
// record (Model.Policy), so it changes in the same Change as the model.
type Policy struct {
	// Approval is ApprovalManual (default, also for "") or ApprovalAuto.
	Approval ApprovalMode
	// ApprovalsRequired is how many distinct approvals a manual request
	// needs: 1..MaxApprovalsRequired; 0 means the default, 1.
	ApprovalsRequired int
	// Approvers lists the principals, or groups as "group:NAME", allowed to
	// decide this model's requests (they still need the approver or admin
	// role). Empty: any approver or admin.
	Approvers []string
	// Metrics are thresholds the candidate's metrics must meet.
	Metrics []MetricRule
	// MustBeatProduction lists metrics on which the candidate must be
	// strictly better than the current Production version: a name, whose
	// direction is guessed as in compare (HigherIsBetter), or
	// "NAME:max" / "NAME:min" to say it (as ParseBy reads it).
	MustBeatProduction []string
	// RequireCommit requires lineage.code.commit to be recorded.
	RequireCommit bool
	// RequireCleanTree requires a recorded commit built from a clean tree
	// (lineage.code.dirty false).
	RequireCleanTree bool
	// RollbackRole is who may roll back besides admins: RoleApprover
	// (default, also for "") or RolePublisher (publishers and approvers).
	RollbackRole Role
}

// Metric rule operators.
const (
	OpGE = ">="
	OpGT = ">"
	OpLE = "<="
	OpLT = "<"
	OpEQ = "=="
)

// MetricRule is a threshold on one metric: Metric Op Value.
type MetricRule struct {
	Metric string
	Op     string // OpGE, OpGT, OpLE, OpLT or OpEQ
	Value  float64
}

// String writes r as ParseMetricRule reads it: "accuracy>=0.9".
func (r MetricRule) String() string { return r.Metric + r.Op + formatFloat(r.Value) }

// holds reports whether x satisfies the rule.
func (r MetricRule) holds(x float64) bool {
	switch r.Op {
	case OpGE:
		return x >= r.Value
	case OpGT:
		return x > r.Value
	case OpLE:
		return x <= r.Value
	case OpLT:
		return x < r.Value
	case OpEQ:
		return x == r.Value
	}
	return false
}

// validate checks the rule's parts. Invalid.
func (r MetricRule) validate() error {
	if r.Metric == "" {
		return Errorf(Invalid, "metric rule %q names no metric: write it as METRIC>=VALUE, e.g. accuracy>=0.9", r.String())
	}
	if err := validateKey("metric", r.Metric); err != nil {
		return err
	}
	switch r.Op {
	case OpGE, OpGT, OpLE, OpLT, OpEQ:
	default:
		return Errorf(Invalid, "metric rule on %s has unknown operator %q: use >=, >, <=, < or ==", r.Metric, r.Op)
	}
	if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
		return Errorf(Invalid, "metric rule on %s: the threshold must be a finite number", r.Metric)
	}
	return nil
}

// ParseMetricRule parses "accuracy>=0.9" (spaces around the operator are
// allowed; operators >=, >, <=, < and ==). Invalid.
func ParseMetricRule(s string) (MetricRule, error) {
	i := strings.IndexAny(s, "<>=!")
	if i < 0 {
		return MetricRule{}, Errorf(Invalid, "invalid metric rule %q: write it as METRIC OP VALUE with OP one of >=, >, <=, <, ==, e.g. accuracy>=0.9", s)
	}
	name, rest := strings.TrimSpace(s[:i]), s[i:]
	var op string
	for _, o := range []string{OpGE, OpLE, OpEQ, OpGT, OpLT} {
		if strings.HasPrefix(rest, o) {
			op = o
			break
		}
	}
	if op == "" {
		return MetricRule{}, Errorf(Invalid, "invalid metric rule %q: unknown operator; use >=, >, <=, < or == (== for equality)", s)
	}
	num := strings.TrimSpace(rest[len(op):])
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return MetricRule{}, Errorf(Invalid, "invalid metric rule %q: %q is not a number", s, num)
	}
	r := MetricRule{Metric: name, Op: op, Value: v}
	if err := r.validate(); err != nil {
		return MetricRule{}, err
	}
	return r, nil
}

// Normalized returns p with its defaults filled in (manual approval, one
// approval, rollback by approvers) and nil lists made empty. It does not
// validate.
func (p Policy) Normalized() Policy {
	if p.Approval == "" {
		p.Approval = ApprovalManual
	}
	if p.ApprovalsRequired == 0 {
		p.ApprovalsRequired = 1
	}
	if p.RollbackRole == "" {
		p.RollbackRole = RoleApprover
	}
	p.Approvers = nonNil(slices.Clone(p.Approvers))
	p.Metrics = nonNil(slices.Clone(p.Metrics))
	p.MustBeatProduction = nonNil(slices.Clone(p.MustBeatProduction))
	return p
}

// IsDefault reports whether p is, once normalized, the default policy.
func (p Policy) IsDefault() bool {
	n := p.Normalized()
	return n.Approval == ApprovalManual && n.ApprovalsRequired == 1 && len(n.Approvers) == 0 &&
		len(n.Metrics) == 0 && len(n.MustBeatProduction) == 0 && !n.RequireCommit &&
		!n.RequireCleanTree && n.RollbackRole == RoleApprover
}

// CheckApprovalsRequired checks an explicitly given number of required
// approvals: 1..MaxApprovalsRequired. Invalid.
func CheckApprovalsRequired(n int) error {
	if n < 1 || n > MaxApprovalsRequired {
		return Errorf(Invalid, "approvals_required is %d: it must be between 1 and %d", n, MaxApprovalsRequired)
	}
	return nil
}

// Validate checks p; zero fields stand for their defaults. Invalid, with a
// message naming the field.
func (p Policy) Validate() error {
	if _, err := ParseApprovalMode(string(p.Approval)); err != nil {
		return err
	}
	if p.ApprovalsRequired != 0 {
		if err := CheckApprovalsRequired(p.ApprovalsRequired); err != nil {
			return err
		}
	}
	switch p.RollbackRole {
	case "", RoleApprover, RolePublisher:
	default:
		return Errorf(Invalid, "rollback_role %q: use approver or publisher (admins may always roll back)", p.RollbackRole)
	}
	if len(p.Approvers) > MaxPolicyApprovers {
		return Errorf(Invalid, "%d approvers; at most %d", len(p.Approvers), MaxPolicyApprovers)
	}
	for i, a := range p.Approvers {
		if err := validateApprover(a); err != nil {
			return err
		}
		if slices.Contains(p.Approvers[:i], a) {
			return Errorf(Invalid, "approver %q is listed twice", a)
		}
	}
	if len(p.Metrics) > MaxPolicyRules {
		return Errorf(Invalid, "%d metric rules; at most %d", len(p.Metrics), MaxPolicyRules)
	}
	for i, r := range p.Metrics {
		if err := r.validate(); err != nil {
			return err
		}
		for _, q := range p.Metrics[:i] {
			if q.Metric == r.Metric && q.Op == r.Op {
				return Errorf(Invalid, "metric rules %s and %s put the same operator on %s: keep one", q, r, r.Metric)
			}
		}
	}
	if len(p.MustBeatProduction) > MaxPolicyRules {
		return Errorf(Invalid, "%d must-beat metrics; at most %d", len(p.MustBeatProduction), MaxPolicyRules)
	}
	seen := map[string]bool{}
	for _, spec := range p.MustBeatProduction {
		if spec == "" {
			return Errorf(Invalid, "must_beat_production has an empty metric name")
		}
		name, _, err := ParseBy(spec)
		if err != nil {
			return Errorf(Invalid, "must_beat_production %q: use METRIC, METRIC:max or METRIC:min with a valid metric name", spec)
		}
		if seen[name] {
			return Errorf(Invalid, "must_beat_production names %s twice", name)
		}
		seen[name] = true
	}
	return nil
}

func validateApprover(a string) error {
	name, isGroup := strings.CutPrefix(a, GroupPrefix)
	what := "approver"
	if isGroup {
		what = "approver group"
	}
	if name == "" || strings.TrimSpace(name) != name || len(a) > MaxKeyLen {
		return Errorf(Invalid, "invalid %s %q: give a principal name or group:NAME, 1-%d characters without surrounding spaces", what, a, MaxKeyLen)
	}
	return ValidateLine(what, a, MaxKeyLen)
}

// PolicyCheck is the result of one check of a policy against a version.
type PolicyCheck struct {
	// Name identifies the check: "metric:accuracy>=0.9",
	// "must_beat_production:accuracy", "require_commit",
	// "require_clean_tree".
	Name   string
	Passed bool
	// Detail says what was found: "accuracy 0.93 >= 0.9".
	Detail string
}

// Check names that carry no argument.
const (
	CheckRequireCommit    = "require_commit"
	CheckRequireCleanTree = "require_clean_tree"
)

// Evaluate runs every check of p against v, with prod the current
// Production version (nil: none), in a stable order: metric thresholds,
// must-beat metrics, then lineage. A metric v lacks fails its check; a
// must-beat check passes when there is no Production version or it lacks
// the metric, and fails on a tie (the candidate must be strictly better).
// The approval settings (mode, count, approvers) are no checks.
func (p Policy) Evaluate(v Version, prod *Version) []PolicyCheck {
	checks := []PolicyCheck{}
	for _, r := range p.Metrics {
		c := PolicyCheck{Name: "metric:" + r.String()}
		m, ok := v.Metrics[r.Metric]
		switch {
		case !ok:
			c.Detail = fmt.Sprintf("%s is missing on version %d (needs %s %s)", r.Metric, v.Number, r.Op, formatFloat(r.Value))
		case r.holds(m.Value):
			c.Passed = true
			c.Detail = fmt.Sprintf("%s %s %s %s", r.Metric, formatFloat(m.Value), r.Op, formatFloat(r.Value))
		default:
			c.Detail = fmt.Sprintf("%s %s is not %s %s", r.Metric, formatFloat(m.Value), r.Op, formatFloat(r.Value))
		}
		checks = append(checks, c)
	}
	for _, spec := range p.MustBeatProduction {
		checks = append(checks, mustBeat(spec, v, prod))
	}
	if p.RequireCommit {
		c := PolicyCheck{Name: CheckRequireCommit}
		if commit := v.Lineage.Code.Commit; commit != "" {
			c.Passed = true
			c.Detail = "lineage.code.commit is " + commit
		} else {
			c.Detail = "lineage.code.commit is missing"
		}
		checks = append(checks, c)
	}
	if p.RequireCleanTree {
		c := PolicyCheck{Name: CheckRequireCleanTree}
		switch {
		case v.Lineage.Code.Commit == "":
			c.Detail = "lineage.code.commit is missing, so a clean tree is not shown"
		case v.Lineage.Code.Dirty:
			c.Detail = "lineage.code.dirty is true: built from uncommitted changes"
		default:
			c.Passed = true
			c.Detail = "lineage.code.dirty is false"
		}
		checks = append(checks, c)
	}
	return checks
}

func mustBeat(spec string, v Version, prod *Version) PolicyCheck {
	name, higher, err := ParseBy(spec)
	if err != nil { // Validate refuses such specs; a stored one still fails safe
		return PolicyCheck{Name: "must_beat_production:" + spec, Detail: ErrorMessage(err)}
	}
	c := PolicyCheck{Name: "must_beat_production:" + name}
	dir, cmp := "higher is better", ">"
	if !higher {
		dir, cmp = "lower is better", "<"
	}
	m, ok := v.Metrics[name]
	if !ok {
		c.Detail = fmt.Sprintf("%s is missing on version %d", name, v.Number)
		return c
	}
	if prod == nil {
		c.Passed = true
		c.Detail = fmt.Sprintf("no Production version to beat: passes (%s %s)", name, formatFloat(m.Value))
		return c
	}
	pm, ok := prod.Metrics[name]
	if !ok {
		c.Passed = true
		c.Detail = fmt.Sprintf("Production version %d has no %s to beat: passes (%s %s)", prod.Number, name, name, formatFloat(m.Value))
		return c
	}
	switch {
	case m.Value == pm.Value:
		c.Detail = fmt.Sprintf("%s %s ties Production version %d (%s): it must be strictly better", name, formatFloat(m.Value), prod.Number, formatFloat(pm.Value))
	case (higher && m.Value > pm.Value) || (!higher && m.Value < pm.Value):
		c.Passed = true
		c.Detail = fmt.Sprintf("%s %s %s %s of Production version %d (%s)", name, formatFloat(m.Value), cmp, formatFloat(pm.Value), prod.Number, dir)
	default:
		c.Detail = fmt.Sprintf("%s %s is worse than %s of Production version %d (%s)", name, formatFloat(m.Value), formatFloat(pm.Value), prod.Number, dir)
	}
	return c
}

// ChecksPassed reports whether every check passed (true for none).
func ChecksPassed(checks []PolicyCheck) bool {
	for _, c := range checks {
		if !c.Passed {
			return false
		}
	}
	return true
}

// FailedChecks returns the checks that did not pass.
func FailedChecks(checks []PolicyCheck) []PolicyCheck {
	var out []PolicyCheck
	for _, c := range checks {
		if !c.Passed {
			out = append(out, c)
		}
	}
	return out
}

// MayRollBack reports whether a caller with role r may roll back a model
// under p: admins always, approvers always, publishers when
// p.RollbackRole is RolePublisher.
func (p Policy) MayRollBack(r Role) bool {
	switch r {
	case RoleAdmin, RoleApprover:
		return true
	case RolePublisher:
		return p.Normalized().RollbackRole == RolePublisher
	}
	return false
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// NamesApprover reports whether p lets the principal called name, a member
// of groups, decide this model's requests: true when p names no approvers,
// or names the principal or one of its groups ("group:NAME"). The caller
// still checks the role (PermApprove).
func (p Policy) NamesApprover(name string, groups []string) bool {
	if len(p.Approvers) == 0 {
		return true
	}
	for _, a := range p.Approvers {
		if g, ok := strings.CutPrefix(a, GroupPrefix); ok {
			if slices.Contains(groups, g) {
				return true
			}
		} else if a == name {
			return true
		}
	}
	return false
}

// ActionPolicyChanged records a change of a model's promotion policy; its
// Details hold "old" and "new" (Policy.String) and "changed" (the names
// of the fields that changed, comma-separated).
const ActionPolicyChanged Action = "model.policy_changed"

// String writes p, normalized, on one line as the audit trail keeps it:
// "approval=manual approvals_required=1 approvers= metrics=accuracy>=0.9
// must_beat_production= require_commit=false require_clean_tree=false
// rollback_role=approver".
func (p Policy) String() string {
	var b strings.Builder
	for i, f := range p.fields() {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f[0] + "=" + f[1])
	}
	return b.String()
}

// fields lists p's normalized fields as name, value pairs.
func (p Policy) fields() [][2]string {
	n := p.Normalized()
	rules := make([]string, len(n.Metrics))
	for i, r := range n.Metrics {
		rules[i] = r.String()
	}
	return [][2]string{
		{"approval", string(n.Approval)},
		{"approvals_required", strconv.Itoa(n.ApprovalsRequired)},
		{"approvers", strings.Join(n.Approvers, ",")},
		{"metrics", strings.Join(rules, ",")},
		{"must_beat_production", strings.Join(n.MustBeatProduction, ",")},
		{"require_commit", strconv.FormatBool(n.RequireCommit)},
		{"require_clean_tree", strconv.FormatBool(n.RequireCleanTree)},
		{"rollback_role", string(n.RollbackRole)},
	}
}

// compact returns p with defaults as zero values and empty lists nil: the
// form stored on the model, so that the default policy stores nothing.
func (p Policy) compact() Policy {
	p = p.Normalized()
	if p.Approval == ApprovalManual {
		p.Approval = ""
	}
	if p.ApprovalsRequired == 1 {
		p.ApprovalsRequired = 0
	}
	if p.RollbackRole == RoleApprover {
		p.RollbackRole = ""
	}
	if len(p.Approvers) == 0 {
		p.Approvers = nil
	}
	if len(p.Metrics) == 0 {
		p.Metrics = nil
	}
	if len(p.MustBeatProduction) == 0 {
		p.MustBeatProduction = nil
	}
	return p
}

// GetPolicy returns a model's promotion policy, normalized (defaults
// filled in, lists never nil). NotFound.
func (s *Service) GetPolicy(ctx context.Context, model string) (Policy, error) {
	m, err := s.GetModel(ctx, model)
	if err != nil {
		return Policy{}, err
	}
	return m.Policy.Normalized(), nil
}

// SetPolicy replaces a model's promotion policy with p (zero fields take
// their defaults) and records who changed it, old → new, in the audit
// trail; setting the policy it already has writes nothing. It returns the
// policy now in force, normalized. The caller must be an admin (the API
// checks it). Invalid, NotFound.
func (s *Service) SetPolicy(ctx context.Context, model string, p Policy) (Policy, error) {
	if err := p.Validate(); err != nil {
		return Policy{}, err
	}
	p = p.compact()
	return update(ctx, s, func() (*Change, Policy, error) {
		m, err := s.GetModel(ctx, model)
		if err != nil {
			return nil, Policy{}, err
		}
		oldFields, newFields := m.Policy.fields(), p.fields()
		var changed []string
		for i := range newFields {
			if oldFields[i] != newFields[i] {
				changed = append(changed, newFields[i][0])
			}
		}
		if len(changed) == 0 {
			// Nothing changes: no write, no audit entry. An idempotent
			// request still stores its response.
			return &Change{}, p.Normalized(), nil
		}
		now := s.Now()
		a := s.audit(ctx, now, model, 0, ActionPolicyChanged)
		a.Details = map[string]string{"old": m.Policy.String(), "new": p.String(), "changed": strings.Join(changed, ",")}
		m.Policy = p
		m.UpdatedAt = now
		m.Revision++
		return &Change{Models: []Model{m}, Audit: []AuditEntry{a}}, p.Normalized(), nil
	})
}
