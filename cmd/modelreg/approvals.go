package main

import (
	"context"
	"io"
	"strconv"
	"strings"

	"github.com/modelreg/modelreg/shared/httpapi"
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
	switch {
	case verb == "approve" && a.Status == "PENDING":
		outf(out, "approval %s: %d of %d approvals; the promotion follows the last one\n", a.ID, approvals, max(a.ApprovalsRequired, 1))
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
