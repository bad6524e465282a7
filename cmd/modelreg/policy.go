package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
)

func init() {
	commands["policy"] = command{"show or set a model's promotion policy (set: admin)", runPolicy}
	verbHelps["policy"] = verbHelp{
		about: `Shows or sets the promotion policy of model NAME: what a request to move a
version to Production must pass, and who decides.
  show NAME (or just NAME)   the policy, defaults filled in
  set NAME [flags]           replace the WHOLE policy (admin): every flag left
                             out returns to its default, so give all you want
                             kept; 'set NAME' alone restores the defaults
Defaults: --approval manual, --approvals-required 1, any approver or admin
decides, no metric or lineage checks, --rollback-role approver.
--metric takes METRIC OP VALUE with OP one of >=, >, <=, <, == (quote it in
the shell); a version without the metric fails the check. --must-beat METRIC
needs a value strictly better than the current Production version's (a tie
fails; no Production version passes); the direction is guessed from the name
as in compare (loss, error, latency: lower is better), or say METRIC:max or
METRIC:min. --approver names a principal or group:NAME (repeatable); named
approvers must still hold the approver or admin role.`,
		example: `modelreg policy fraud_model set --metric 'accuracy>=0.9' --metric 'latency_ms<=50' --must-beat accuracy --require-commit`,
	}
}

// runPolicy shows or replaces a model's promotion policy.
func runPolicy(ctx context.Context, args []string, out io.Writer) error {
	fs, g := newFlags("policy", "NAME [show] | NAME set [flags]")
	approval := fs.String("approval", "manual", "set: manual (people decide) or auto (promote once every check passes)")
	required := fs.Int("approvals-required", 1, "set: distinct approvals a manual request needs (1-5)")
	var approvers, metrics, mustBeat listFlag
	fs.Var(&approvers, "approver", "set: principal or group:NAME allowed to decide (repeatable; none: any approver or admin)")
	fs.Var(&metrics, "metric", "set: required metric, e.g. 'accuracy>=0.9' (repeatable)")
	fs.Var(&mustBeat, "must-beat", "set: metric on which to beat the Production version: NAME, NAME:max or NAME:min (repeatable)")
	requireCommit := fs.Bool("require-commit", false, "set: require a recorded git commit (lineage.code.commit)")
	requireClean := fs.Bool("require-clean", false, "set: require a commit from a clean tree (lineage.code.dirty false)")
	rollbackRole := fs.String("rollback-role", "approver", "set: who may roll back besides admins: approver or publisher")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	var name, action string
	switch len(pos) {
	case 1:
		name, action = pos[0], "show"
	case 2:
		name, action = pos[0], pos[1]
	default:
		return usagef("policy takes a model NAME and an action: show or set")
	}
	c := g.client()
	var p httpapi.Policy
	switch action {
	case "show":
		for _, f := range []string{"approval", "approvals-required", "approver", "metric", "must-beat", "require-commit", "require-clean", "rollback-role"} {
			if flagSet(fs, f) {
				return usagef("policy show takes no --%s: did you mean 'policy %s set'?", f, name)
			}
		}
		p, err = c.GetPolicy(ctx, name)
	case "set":
		req := httpapi.PolicyRequest{
			Approval: registry.ApprovalMode(*approval), Approvers: approvers, MustBeatProduction: mustBeat,
			RequireCommit: *requireCommit, RequireCleanTree: *requireClean, RollbackRole: registry.Role(*rollbackRole),
		}
		if flagSet(fs, "approvals-required") {
			req.ApprovalsRequired = required
		}
		for _, s := range metrics {
			r, err := registry.ParseMetricRule(s)
			if err != nil {
				return usagef("--metric: %s", registry.ErrorMessage(err))
			}
			req.Metrics = append(req.Metrics, httpapi.MetricRule(r))
		}
		p, err = c.SetPolicy(ctx, name, req)
	default:
		return usagef("unknown policy action %q: use show or set", action)
	}
	if err != nil {
		return err
	}
	if g.json() {
		return printJSON(out, p)
	}
	return printPolicy(out, name, p)
}

func printPolicy(out io.Writer, model string, p httpapi.Policy) error {
	w := table(out)
	none := func(l []string, empty string) string {
		if len(l) == 0 {
			return empty
		}
		return strings.Join(l, ", ")
	}
	rules := make([]string, len(p.Metrics))
	for i, r := range p.Metrics {
		rules[i] = registry.MetricRule(r).String()
	}
	beat := make([]string, len(p.MustBeatProduction))
	for i, spec := range p.MustBeatProduction {
		name, higher, err := registry.ParseBy(spec)
		dir := "higher is better"
		if !higher {
			dir = "lower is better"
		}
		if err != nil {
			name, dir = spec, "?"
		}
		beat[i] = fmt.Sprintf("%s (%s)", name, dir)
	}
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	rollback := "approvers and admins"
	if p.RollbackRole == registry.RolePublisher {
		rollback = "publishers, approvers and admins"
	}
	approval := "auto: promoted once every check passes"
	if p.Approval != registry.ApprovalAuto {
		approval = fmt.Sprintf("manual, %d approval(s) required", p.ApprovalsRequired)
	}
	outf(w, "Model:\t%s\n", model)
	outf(w, "Approval:\t%s\n", approval)
	outf(w, "Approvers:\t%s\n", none(p.Approvers, "any approver or admin"))
	outf(w, "Required metrics:\t%s\n", none(rules, "none"))
	outf(w, "Must beat Production:\t%s\n", none(beat, "none"))
	outf(w, "Require commit:\t%s\n", yes(p.RequireCommit))
	outf(w, "Require clean tree:\t%s\n", yes(p.RequireCleanTree))
	outf(w, "Rollback by:\t%s\n", rollback)
	return w.Flush()
}
