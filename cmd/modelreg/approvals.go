package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/modelreg/modelreg/shared/client"
	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
)

// runDecide runs `approvals approve|reject|cancel ID [--comment TEXT]`.
func runDecide(ctx context.Context, verb string, args []string, out io.Writer) error {
	fs, g := newFlags("approvals "+verb, "ID [--comment TEXT]")
	comment := fs.String("comment", "", "why (kept on the approval and in the audit trail)")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("approvals %s takes one approval ID", verb)
	}
	c := g.client()
	var a httpapi.Approval
	if verb == "cancel" {
		a, err = c.CancelApproval(ctx, pos[0], *comment)
	} else {
		a, err = c.DecideApproval(ctx, pos[0], verb == "approve", *comment)
	}
	if err != nil {
		return err
	}
	if g.json() {
		return printJSON(out, a)
	}
	approvals := 0
	for _, d := range a.Decisions {
		if d.Approve {
			approvals++
		}
	}
	need := max(a.ApprovalsRequired, 1)
	switch {
	case verb == "approve" && a.Status == registry.ApprovalPending && approvals < need:
		outf(out, "approval %s: %d of %d approvals; it waits for %d more\n", a.ID, approvals, need, need-approvals)
	case verb == "approve" && a.Status == registry.ApprovalPending:
		outf(out, "approval %s: approved (%d of %d); %s version %d goes to %s now\n", a.ID, approvals, need, a.Model, a.Version, a.TargetStage)
	default:
		outf(out, "approval %s %s\n", a.ID, a.Status)
	}
	return nil
}

// runRollback runs `rollback NAME [--to VERSION] --reason TEXT`.
func runRollback(ctx context.Context, args []string, out io.Writer) error {
	fs, g := newFlags("rollback", "NAME [--to VERSION] --reason TEXT")
	to := fs.Int("to", 0, "the version to return to (default: the last one in Production before the current one)")
	reason := fs.String("reason", "", "why (required; kept in the audit trail)")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("rollback takes one model NAME")
	}
	if strings.TrimSpace(*reason) == "" {
		return usagef("rollback needs --reason: say why Production goes back")
	}
	if *to < 0 {
		return usagef("--to takes a version number")
	}
	v, err := g.client().Rollback(ctx, pos[0], *to, *reason)
	if err != nil {
		return err
	}
	if g.json() {
		return printJSON(out, v)
	}
	outf(out, "%s is back on version %s in Production\n", pos[0], strconv.Itoa(v.Number))
	return nil
}

// showApproval prints an approval in full: what was asked and by whom,
// its status and expiry, every decision (who, when, comment), the policy
// checks, and the metric values it was judged on against the model's
// current Production version (or, once it was promoted, the version it
// replaced).
func showApproval(ctx context.Context, c *client.Client, a httpapi.Approval, out io.Writer) error {
	base, against, err := approvalBaseline(ctx, c, a)
	if err != nil {
		return err
	}
	w := table(out)
	outf(w, "Approval:\t%s\n", a.ID)
	outf(w, "Request:\t%s version %d → %s\n", a.Model, a.Version, a.TargetStage)
	status := string(a.Status)
	if a.AutoApproved {
		status += " (auto-approved by the model's policy)"
	}
	outf(w, "Status:\t%s\n", status)
	outf(w, "Requested:\t%s by %s\n", ts(a.CreatedAt), a.RequestedBy)
	reason := a.Reason
	if reason == "" {
		reason = "-"
	}
	outf(w, "Reason:\t%s\n", reason)
	if a.Status == registry.ApprovalPending {
		outf(w, "Expires:\t%s\n", ts(a.ExpiresAt))
	}
	approvals := 0
	for _, d := range a.Decisions {
		if d.Approve {
			approvals++
		}
	}
	outf(w, "Approvals:\t%d of %d required\n", approvals, max(a.ApprovalsRequired, 1))
	if a.DecidedAt != nil {
		decided := ts(*a.DecidedAt) + " by " + clean(a.DecidedBy)
		if a.Comment != "" {
			decided += ": " + clean(a.Comment)
		}
		// Escaped piece by piece above.
		fmt.Fprintf(w, "Decided:\t%s\n", decided)
	}
	if a.ArchivedVersion != 0 {
		outf(w, "Archived:\tversion %d left Production for Archived\n", a.ArchivedVersion)
	}
	if a.Rollback {
		outf(w, "Rollback:\tyes\n")
	}
	if a.ExecutionID != "" {
		outf(w, "Execution:\t%s\n", a.ExecutionID)
	}
	if err := w.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(out, "\nDecisions:")
	if len(a.Decisions) == 0 {
		fmt.Fprintln(out, "  none yet")
	} else {
		w = table(out)
		fmt.Fprintln(w, "  WHEN\tBY\tDECISION\tCOMMENT")
		for _, d := range a.Decisions {
			verdict, comment := "reject", d.Comment
			if d.Approve {
				verdict = "approve"
			}
			if comment == "" {
				comment = "-"
			}
			outf(w, "  %s\t%s\t%s\t%s\n", ts(d.At), d.By, verdict, comment)
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintln(out, "\nPolicy checks:")
	if len(a.Checks) == 0 {
		fmt.Fprintln(out, "  not run yet")
	} else {
		w = table(out)
		fmt.Fprintln(w, "  CHECK\tRESULT\tDETAIL")
		for _, ch := range a.Checks {
			result := "failed"
			if ch.Passed {
				result = "passed"
			}
			outf(w, "  %s\t%s\t%s\n", ch.Name, result, ch.Detail)
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintln(out, "\nCriteria (the metric values it was judged on):")
	names := slices.Sorted(maps.Keys(a.Criteria))
	if base != nil {
		for k := range base.Metrics {
			if _, ok := a.Criteria[k]; !ok {
				names = append(names, k)
			}
		}
		slices.Sort(names)
	}
	if len(names) == 0 {
		fmt.Fprintln(out, "  none recorded")
		return nil
	}
	w = table(out)
	header := fmt.Sprintf("  METRIC\tv%d (this request)", a.Version)
	if base != nil {
		header += fmt.Sprintf("\tv%d (%s)\tDIFF", base.Number, against)
	}
	fmt.Fprintln(w, header)
	for _, k := range names {
		val, ok := a.Criteria[k]
		cell := "-"
		if ok {
			cell = fmt.Sprintf("%g", val)
		}
		outf(w, "  %s\t%s", k, cell)
		if base != nil {
			pm, pok := base.Metrics[k]
			switch {
			case !pok:
				fmt.Fprint(w, "\t-\t-")
			case !ok:
				fmt.Fprintf(w, "\t%g\t-", pm.Value)
			default:
				fmt.Fprintf(w, "\t%g\t%s", pm.Value, metricDiff(k, val, pm.Value))
			}
		}
		fmt.Fprintln(w)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if base == nil {
		outf(out, "  (%s has no other version in Production to compare with)\n", a.Model)
	}
	return nil
}

// approvalBaseline returns the version an approval's criteria are set
// against and what it is: the model's current Production version, or,
// when the request's own version is in Production now, the one it
// replaced. nil when there is none (or it has been deleted since).
func approvalBaseline(ctx context.Context, c *client.Client, a httpapi.Approval) (*httpapi.Version, string, error) {
	m, err := c.GetModel(ctx, a.Model)
	if client.IsStatus(err, http.StatusNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	n, against := m.ProductionVersion, "Production now"
	if n == a.Version {
		n, against = a.ArchivedVersion, "replaced"
	}
	if n == 0 {
		return nil, "", nil
	}
	v, err := c.GetVersion(ctx, a.Model, n)
	if client.IsStatus(err, http.StatusNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	return &v, against, nil
}

// metricDiff is the request's value minus the baseline's, marked better
// or worse in the metric's direction (as compare guesses it: losses,
// errors and latencies are better lower).
func metricDiff(name string, req, base float64) string {
	d := req - base
	// 12 significant digits: 0.95-0.91 shows as +0.04, not +0.0399999….
	s := strconv.FormatFloat(d, 'g', 12, 64)
	if d > 0 {
		s = "+" + s
	}
	switch {
	case d == 0:
		return "same"
	case (d > 0) == registry.HigherIsBetter(name):
		return s + " better"
	default:
		return s + " worse"
	}
}
