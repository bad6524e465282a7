package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/modelreg/modelreg/shared/client"
	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
)

func runModels(ctx context.Context, args []string, out io.Writer) error {
	fs, g := newFlags("models", "[create|get|update|delete NAME | rename NAME NEW_NAME]")
	description := fs.String("description", "", "description (create, update)")
	owner := fs.String("owner", "", "owner (create, update)")
	var tags listFlag
	fs.Var(&tags, "tag", "tag KEY=VALUE (create, update: replaces all tags; repeatable)")
	prefix := fs.String("prefix", "", "list only models whose name starts with this")
	reason := fs.String("reason", "", "why (rename; kept in the audit trail)")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	c := g.client()
	if len(pos) == 0 {
		var all []httpapi.Model
		token := ""
		for {
			page, err := c.ListModels(ctx, *prefix, token, registry.MaxPageSize)
			if err != nil {
				return err
			}
			all = append(all, page.Items...)
			if token = page.NextPageToken; token == "" {
				break
			}
		}
		if g.json() {
			return printJSON(out, all)
		}
		w := table(out)
		fmt.Fprintln(w, "NAME\tLATEST\tPRODUCTION\tOWNER\tUPDATED\tDESCRIPTION")
		for _, m := range all {
			outf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, versionOr(m.LatestVersion, "-"), versionOr(m.ProductionVersion, "-"), m.Owner, ts(m.UpdatedAt), m.Description)
		}
		return w.Flush()
	}
	if len(pos) == 3 && pos[0] == "rename" {
		m, err := c.RenameModel(ctx, pos[1], pos[2], *reason)
		if err != nil {
			return err
		}
		if g.json() {
			return printJSON(out, m)
		}
		outf(out, "Renamed model %s to %s.\n", pos[1], m.Name)
		return nil
	}
	if len(pos) != 2 {
		return usagef("models takes no argument (list), an action and a NAME, or rename NAME NEW_NAME")
	}
	tagMap, err := keyValues("tag", tags)
	if err != nil {
		return err
	}
	var m httpapi.Model
	switch action, name := pos[0], pos[1]; action {
	case "create":
		m, err = c.CreateModel(ctx, httpapi.NewModel{Name: name, Description: *description, Owner: *owner, Tags: tagMap})
	case "get":
		m, err = c.GetModel(ctx, name)
	case "update":
		var p httpapi.ModelPatch
		if flagSet(fs, "description") {
			p.Description = description
		}
		if flagSet(fs, "owner") {
			p.Owner = owner
		}
		if flagSet(fs, "tag") {
			p.Tags = &tagMap
		}
		m, err = c.UpdateModel(ctx, name, p)
	case "delete":
		return deleteModel(ctx, c, name, "", out)
	default:
		return usagef("unknown models action %q: use create, get, update, delete or rename", action)
	}
	if err != nil {
		return err
	}
	if g.json() {
		return printJSON(out, m)
	}
	w := table(out)
	outf(w, "Name:\t%s\nDescription:\t%s\nOwner:\t%s\nLatest version:\t%s\nProduction version:\t%s\nCreated:\t%s by %s\n",
		m.Name, m.Description, m.Owner, versionOr(m.LatestVersion, "none"), versionOr(m.ProductionVersion, "none"), ts(m.CreatedAt), m.CreatedBy)
	for _, k := range slices.Sorted(maps.Keys(m.Tags)) {
		outf(w, "Tag:\t%s = %s\n", k, m.Tags[k])
	}
	return w.Flush()
}

func runVersions(ctx context.Context, args []string, out io.Writer) error {
	fs, g := newFlags("versions", "NAME [VERSION|STAGE|@ALIAS] [filters]")
	var f client.VersionFilter
	fs.StringVar(&f.Stage, "stage", "", "only versions in this stage")
	fs.StringVar(&f.Status, "status", "", "only versions with this status (PENDING_UPLOAD, VERIFYING, READY, FAILED, DELETED)")
	fs.StringVar(&f.Tag, "tag", "", "only versions with this tag (KEY or KEY=VALUE)")
	fs.StringVar(&f.GitCommit, "commit", "", "only versions trained at this git commit (7+ characters)")
	fs.StringVar(&f.Dataset, "dataset", "", "only versions trained on this dataset id")
	fs.StringVar(&f.RunID, "run-id", "", "only versions from this run")
	fs.BoolVar(&f.IncludeDeleted, "include-deleted", false, "list deleted versions (tombstones) too")
	limit := fs.Int("limit", 50, "show at most this many versions (0: all)")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	c := g.client()
	switch len(pos) {
	case 1:
	case 2:
		v, err := resolveVersion(ctx, c, pos[0], pos[1])
		if err != nil {
			return err
		}
		if g.json() {
			return printJSON(out, v)
		}
		return printVersion(out, v)
	default:
		return usagef("versions takes NAME and optionally a VERSION")
	}
	var all []httpapi.Version
	token := ""
	for {
		size := registry.MaxPageSize
		if *limit > 0 {
			size = min(size, *limit-len(all))
		}
		page, err := c.ListVersions(ctx, pos[0], f, token, size)
		if err != nil {
			return err
		}
		all = append(all, page.Items...)
		token = page.NextPageToken
		if token == "" || (*limit > 0 && len(all) >= *limit) {
			break
		}
	}
	if g.json() {
		return printJSON(out, all)
	}
	return printVersions(out, all)
}

// resolveVersion reads a version reference: a number, a stage name, or an
// alias (with or without a leading @).
func resolveVersion(ctx context.Context, c *client.Client, model, ref string) (httpapi.Version, error) {
	if n, err := strconv.Atoi(ref); err == nil {
		return c.GetVersion(ctx, model, n)
	}
	if st, err := registry.ParseStage(ref); err == nil {
		return c.StageVersion(ctx, model, string(st), nil)
	}
	t, err := c.GetAlias(ctx, model, strings.TrimPrefix(ref, "@"))
	return t.Version, err
}

func runDownload(ctx context.Context, args []string, out io.Writer) error {
	fs, g := newFlags("download", "NAME VERSION|STAGE|@ALIAS [--dest DIR] [--path FILE]")
	dest := fs.String("dest", ".", "directory to write the files into")
	path := fs.String("path", "", "download only this file")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("download takes NAME and VERSION")
	}
	c := g.client()
	v, err := resolveVersion(ctx, c, pos[0], pos[1])
	if err != nil {
		return err
	}
	set, err := c.Downloads(ctx, v.Model, v.Number, *path)
	if err != nil {
		return err
	}
	if len(set.Files) == 0 && set.SourceURI != "" {
		return fmt.Errorf("%s version %d has no uploaded files: its artifacts live at %s", v.Model, v.Number, set.SourceURI)
	}
	var total int64
	for _, f := range set.Files {
		total += f.Size
	}
	bar := newProgress("download", total)
	var written []string
	for _, f := range set.Files {
		target := filepath.Join(*dest, filepath.FromSlash(f.Path))
		if err := c.DownloadFile(ctx, f, target, bar.add); err != nil {
			bar.finish(false)
			return err
		}
		written = append(written, target)
	}
	bar.finish(true)
	if g.json() {
		return printJSON(out, map[string]any{"model": v.Model, "version": v.Number, "files": written})
	}
	for i, f := range set.Files {
		outf(out, "%s  %s  sha256:%s verified\n", written[i], humanBytes(f.Size), f.SHA256)
	}
	return nil
}

func runPromote(ctx context.Context, args []string, out io.Writer) error {
	fs, g := newFlags("promote", "NAME VERSION --to STAGE --reason TEXT [--wait]")
	to := fs.String("to", "", "target stage: Staging, Production, Archived or None")
	reason := fs.String("reason", "", "why (kept in the audit trail)")
	wait := fs.Bool("wait", false, "when the move needs approval, wait for the decision")
	timeout := fs.Duration("timeout", time.Hour, "how long --wait waits")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || *to == "" {
		return usagef("promote takes NAME VERSION and --to STAGE")
	}
	model, number, err := modelVersionArgs(pos)
	if err != nil {
		return err
	}
	st, err := registry.ParseStage(*to)
	if err != nil {
		return usagef("%s", registry.ErrorMessage(err))
	}
	c := g.client()
	res, err := c.Transition(ctx, model, number, string(st), *reason)
	if err != nil {
		return err
	}
	if res.Version != nil {
		if g.json() {
			return printJSON(out, res.Version)
		}
		outf(out, "%s version %d is now in %s\n", model, number, res.Version.Stage)
		return nil
	}
	outf(os.Stderr, "%s version %d waits for approval %s\n", model, number, res.ApprovalID)
	if !*wait {
		if g.json() {
			return printJSON(out, map[string]string{"approval_id": res.ApprovalID, "status": res.Status})
		}
		outf(out, "approval %s %s\n", res.ApprovalID, res.Status)
		return nil
	}
	deadline := time.Now().Add(*timeout)
	for {
		a, err := c.GetApproval(ctx, res.ApprovalID)
		if err != nil {
			return err
		}
		if a.Status != registry.ApprovalPending {
			if g.json() {
				if err := printJSON(out, a); err != nil {
					return err
				}
			} else {
				outf(out, "approval %s %s by %s: %s\n", a.ID, a.Status, a.DecidedBy, a.Comment)
			}
			if a.Status != registry.ApprovalApproved {
				return &client.APIError{Status: http.StatusConflict, Code: "conflict", Message: fmt.Sprintf("promotion was %s", a.Status)}
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("approval %s still pending after %s", a.ID, *timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

func runArchive(ctx context.Context, args []string, out io.Writer) error {
	fs, g := newFlags("archive", "NAME VERSION... | NAME --keep-last N")
	keep := fs.Int("keep-last", -1, "archive every version but the newest N (Production versions are never archived)")
	reason := fs.String("reason", "", "why (kept in the audit trail)")
	dryRun := fs.Bool("dry-run", false, "only say what would be archived")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 || (*keep < 0) == (len(pos) == 1) {
		return usagef("archive takes NAME and either VERSION numbers or --keep-last N")
	}
	c := g.client()
	model := pos[0]
	var targets []int
	if *keep >= 0 {
		seen, token := 0, ""
		for {
			page, err := c.ListVersions(ctx, model, client.VersionFilter{}, token, registry.MaxPageSize)
			if err != nil {
				return err
			}
			for _, v := range page.Items { // newest first
				seen++
				if seen > *keep && v.Stage != registry.StageArchived && v.Stage != registry.StageProduction {
					targets = append(targets, v.Number)
				}
			}
			if token = page.NextPageToken; token == "" {
				break
			}
		}
		if *reason == "" {
			*reason = fmt.Sprintf("keep the newest %d versions", *keep)
		}
	} else {
		for _, p := range pos[1:] {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 {
				return usagef("VERSION %q must be a positive number", p)
			}
			targets = append(targets, n)
		}
	}
	archived := []int{}
	for _, n := range targets {
		if *dryRun {
			outf(out, "would archive %s version %d\n", model, n)
			continue
		}
		if _, err := c.Transition(ctx, model, n, string(registry.StageArchived), *reason); err != nil {
			return fmt.Errorf("archive version %d (archived so far: %v): %w", n, archived, err)
		}
		archived = append(archived, n)
	}
	if g.json() {
		return printJSON(out, map[string]any{"model": model, "archived": archived, "dry_run": *dryRun})
	}
	if !*dryRun {
		outf(out, "archived %d versions of %s: %v\n", len(archived), model, archived)
	}
	return nil
}

func runAlias(ctx context.Context, args []string, out io.Writer) error {
	fs, g := newFlags("alias", "NAME [ALIAS [VERSION]] [--delete]")
	del := fs.Bool("delete", false, "delete the alias")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	c := g.client()
	switch {
	case len(pos) == 1 && !*del:
		als, err := c.ListAliases(ctx, pos[0])
		if err != nil {
			return err
		}
		if g.json() {
			return printJSON(out, als)
		}
		w := table(out)
		fmt.Fprintln(w, "ALIAS\tVERSION\tUPDATED\tBY")
		for _, a := range als {
			outf(w, "%s\t%d\t%s\t%s\n", a.Name, a.Version, ts(a.UpdatedAt), a.UpdatedBy)
		}
		return w.Flush()
	case len(pos) == 2 && *del:
		if err := c.DeleteAlias(ctx, pos[0], pos[1]); err != nil {
			return err
		}
		outf(out, "deleted alias %s of %s\n", pos[1], pos[0])
		return nil
	case len(pos) == 2:
		t, err := c.GetAlias(ctx, pos[0], pos[1])
		if err != nil {
			return err
		}
		if g.json() {
			return printJSON(out, t)
		}
		outf(out, "%s@%s → version %d\n", pos[0], pos[1], t.Alias.Version)
		return printVersion(out, t.Version)
	case len(pos) == 3 && !*del:
		n, err := strconv.Atoi(pos[2])
		if err != nil || n < 1 {
			return usagef("VERSION %q must be a positive number", pos[2])
		}
		a, err := c.SetAlias(ctx, pos[0], pos[1], n)
		if err != nil {
			return err
		}
		if g.json() {
			return printJSON(out, a)
		}
		outf(out, "%s@%s → version %d\n", a.Model, a.Name, a.Version)
		return nil
	}
	return usagef("alias takes NAME (list), NAME ALIAS (show), NAME ALIAS VERSION (set) or NAME ALIAS --delete")
}

func runStage(ctx context.Context, args []string, out io.Writer) error {
	fs, g := newFlags("stage", "NAME STAGE [--at TIME]")
	at := fs.String("at", "", "the version that was in Production at this time (RFC 3339)")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("stage takes NAME and STAGE")
	}
	var when *time.Time
	if *at != "" {
		t, err := time.Parse(time.RFC3339Nano, *at)
		if err != nil {
			return usagef("--at %q: want RFC 3339, e.g. 2026-11-24T09:00:00Z", *at)
		}
		when = &t
	}
	v, err := g.client().StageVersion(ctx, pos[0], pos[1], when)
	if err != nil {
		return err
	}
	if g.json() {
		return printJSON(out, v)
	}
	return printVersion(out, v)
}

func runMetrics(ctx context.Context, args []string, out io.Writer) error {
	fs, g := newFlags("metrics", "NAME VERSION NAME=VALUE...  (production metrics, measured after deployment)")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) < 3 {
		return usagef("metrics takes NAME VERSION and at least one METRIC=VALUE")
	}
	model, number, err := modelVersionArgs(pos)
	if err != nil {
		return err
	}
	values := map[string]float64{}
	for _, kv := range pos[2:] {
		k, v, ok := strings.Cut(kv, "=")
		f, err := strconv.ParseFloat(v, 64)
		if !ok || k == "" || err != nil {
			return usagef("%q: want METRIC=NUMBER", kv)
		}
		values[k] = f
	}
	v, err := g.client().PushMetrics(ctx, model, number, values, "")
	if err != nil {
		return err
	}
	if g.json() {
		return printJSON(out, v)
	}
	return printVersion(out, v)
}

func runHistory(ctx context.Context, args []string, out io.Writer) error {
	fs, g := newFlags("history", "NAME [VERSION]")
	limit := fs.Int("limit", 100, "show at most this many entries (0: all)")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usagef("history takes NAME and optionally VERSION")
	}
	version := 0
	if len(pos) == 2 {
		if _, version, err = modelVersionArgs(pos); err != nil {
			return err
		}
	}
	c := g.client()
	var all []httpapi.AuditEntry
	token := ""
	for {
		page, err := c.History(ctx, pos[0], version, token, registry.MaxPageSize)
		if err != nil {
			return err
		}
		all = append(all, page.Items...)
		if token = page.NextPageToken; token == "" || (*limit > 0 && len(all) >= *limit) {
			break
		}
	}
	if *limit > 0 && len(all) > *limit {
		all = all[:*limit]
	}
	if g.json() {
		return printJSON(out, all)
	}
	return printHistory(out, all)
}

func runCompare(ctx context.Context, args []string, out io.Writer) error {
	fs, g := newFlags("compare", "NAME V1 V2... [--by METRIC[:min|:max]]")
	by := fs.String("by", "", "rank on this metric (higher is better, except losses, errors and latencies; :min or :max to say)")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	if len(pos) < 3 {
		return usagef("compare takes NAME and at least two versions")
	}
	var nums []int
	for _, p := range pos[1:] {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			return usagef("VERSION %q must be a positive number", p)
		}
		nums = append(nums, n)
	}
	cmp, err := g.client().Compare(ctx, pos[0], nums, *by)
	if err != nil {
		return err
	}
	if g.json() {
		return printJSON(out, cmp)
	}
	return printComparison(out, cmp)
}

// printComparison writes the comparison as a table, the best value of each
// metric marked with *.
func printComparison(out io.Writer, cmp httpapi.Comparison) error {
	w := table(out)
	header := "METRIC"
	for _, v := range cmp.Versions {
		header += fmt.Sprintf("\tv%d", v.Number)
	}
	fmt.Fprintln(w, header+"\tBEST")
	fmt.Fprint(w, "stage")
	for _, v := range cmp.Versions {
		outf(w, "\t%s", v.Stage)
	}
	fmt.Fprintln(w, "\t")
	for _, row := range cmp.Metrics {
		dir := "↑"
		if !row.HigherIsBetter {
			dir = "↓"
		}
		outf(w, "%s %s", row.Name, dir)
		for _, v := range cmp.Versions {
			val, ok := row.Values[v.Number]
			switch {
			case !ok:
				fmt.Fprint(w, "\t-")
			case slices.Contains(row.Best, v.Number):
				outf(w, "\t%g *", val)
			default:
				outf(w, "\t%g", val)
			}
		}
		outf(w, "\t%s\n", versionList(row.Best))
	}
	for _, row := range cmp.Params {
		if !row.Differs {
			continue
		}
		outf(w, "param %s", row.Name)
		for _, v := range cmp.Versions {
			val, ok := row.Values[v.Number]
			if !ok {
				val = "-"
			}
			outf(w, "\t%s", val)
		}
		fmt.Fprintln(w, "\t")
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if cmp.By != "" && len(cmp.Ranking) > 0 {
		outf(out, "\nRanked by %s: %s (best: v%d)\n", cmp.By, versionList(cmp.Ranking), cmp.Ranking[0])
	}
	return nil
}

// versionOr returns the version number n, or none when n is 0 (no such
// version yet).
func versionOr(n int, none string) string {
	if n <= 0 {
		return none
	}
	return strconv.Itoa(n)
}

func versionList(ns []int) string {
	parts := make([]string, len(ns))
	for i, n := range ns {
		parts[i] = "v" + strconv.Itoa(n)
	}
	return strings.Join(parts, " ")
}

func runApprovals(ctx context.Context, args []string, out io.Writer) error {
	if len(args) > 0 && (args[0] == "approve" || args[0] == "reject" || args[0] == "cancel") {
		return runDecide(ctx, args[0], args[1:], out)
	}
	fs, g := newFlags("approvals", "[show|approve|reject|cancel ID] [--status S] [--model NAME] [--comment TEXT]")
	status := fs.String("status", "PENDING", "only approvals with this status ('' for all)")
	model := fs.String("model", "", "only approvals of this model")
	pos, err := parse(fs, g, args)
	if err != nil {
		return err
	}
	c := g.client()
	if len(pos) == 2 && pos[0] == "show" {
		a, err := c.GetApproval(ctx, pos[1])
		if err != nil {
			return err
		}
		if g.json() {
			return printJSON(out, a)
		}
		return showApproval(ctx, c, a, out)
	}
	if len(pos) != 0 {
		return usagef("approvals takes no argument (list) or show ID")
	}
	page, err := c.ListApprovals(ctx, *status, *model, "", registry.MaxPageSize)
	if err != nil {
		return err
	}
	if g.json() {
		return printJSON(out, page.Items)
	}
	w := table(out)
	fmt.Fprintln(w, "ID\tMODEL\tVERSION\tTO\tSTATUS\tREQUESTED BY\tEXPIRES")
	for _, a := range page.Items {
		outf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", a.ID, a.Model, a.Version, a.TargetStage, a.Status, a.RequestedBy, ts(a.ExpiresAt))
	}
	return w.Flush()
}

func runWhoami(ctx context.Context, args []string, out io.Writer) error {
	fs, g := newFlags("whoami", "")
	if _, err := parse(fs, g, args); err != nil {
		return err
	}
	p, err := g.client().Whoami(ctx)
	if err != nil {
		return err
	}
	if g.json() {
		return printJSON(out, map[string]string{"name": p.Name, "role": string(p.Role)})
	}
	outf(out, "%s (%s)\n", p.Name, p.Role)
	return nil
}
