package main

import (
	"context"
	"io"
	"strconv"

	"github.com/modelreg/modelreg/shared/client"
	"github.com/modelreg/modelreg/shared/httpapi"
)

func init() {
	verbHelps["delete"] = verbHelp{
		about: `Deletes versions of model NAME (admin): each becomes a tombstone (its number is
never reused; the history keeps who deleted it, when and why) and its files are
removed. A version in Production or with a PENDING approval is refused. With
--model, deletes the model and all its versions; its history stays, and creating
the name again continues the numbering. Running it again finishes a deletion
that was interrupted.`,
		example: `modelreg delete fraud_model 3 --reason "trained on leaked data"`,
	}
}

// runDelete deletes versions of a model, or the model with all its
// versions (--model). Admin only; the server refuses a version in
// Production or with a PENDING approval.
func runDelete(ctx context.Context, args []string, out io.Writer) error {
	fs, g := newFlags("delete", "NAME VERSION... [--reason TEXT] | NAME --model [--reason TEXT]")
	reason := fs.String("reason", "", "why (kept in the audit trail)")
	whole := fs.Bool("model", false, "delete the model and all its versions")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	c := g.client()
	switch {
	case len(pos) == 1 && *whole:
		return deleteModel(ctx, c, pos[0], *reason, out)
	case len(pos) == 1:
		return usagef("delete %s: give the VERSION numbers to delete, or --model to delete the model and all its versions", pos[0])
	case len(pos) > 1 && *whole:
		return usagef("delete: --model deletes the whole model; give no VERSION with it")
	case len(pos) == 0:
		return usagef("delete needs a model NAME")
	}
	var numbers []int
	for _, s := range pos[1:] {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return usagef("invalid version %q: versions are positive integers", s)
		}
		numbers = append(numbers, n)
	}
	var tombs []httpapi.Version
	for _, n := range numbers {
		v, err := c.DeleteVersion(ctx, pos[0], n, *reason)
		if err != nil {
			return err
		}
		tombs = append(tombs, v)
		if !g.json() {
			outf(out, "deleted version %d of %s (%s)\n", v.Number, v.Model, deletedLine(v))
		}
	}
	if g.json() {
		return printJSON(out, tombs)
	}
	return nil
}

// deleteModel deletes a model with all its versions and says so.
func deleteModel(ctx context.Context, c *client.Client, name, reason string, out io.Writer) error {
	if err := c.DeleteModel(ctx, name, reason); err != nil {
		return err
	}
	outf(out, "deleted model %s and all its versions (its history stays: modelreg history %s)\n", name, name)
	return nil
}

// deletedLine says who deleted a tombstone, when and why.
func deletedLine(v httpapi.Version) string {
	s := "by " + v.DeletedBy
	if v.DeletedAt != nil {
		s += " at " + ts(*v.DeletedAt)
	}
	if v.DeleteReason != "" {
		s += ": " + strconv.Quote(v.DeleteReason)
	}
	return s
}
