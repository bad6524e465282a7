package console

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/modelreg/modelreg/shared/registry"
)

// Page sizes of the console's listings.
const (
	modelsPageSize   = 50
	versionsPageSize = 50
	historyPageSize  = 50
	approvalPageSize = 50
	// recentHistory is how much history the model page shows.
	recentHistory = 10
	// keyMetrics is how many metrics the versions table shows.
	keyMetrics = 3
)

// modelRow is one line of the models list.
type modelRow struct {
	registry.Model
	Staging int
	Pending int
}

// modelsPage lists models, by name prefix, paginated.
func (c *Console) modelsPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	prefix := q.Get("prefix")
	list, err := c.svc.ListModels(ctx, prefix, q.Get("page"), modelsPageSize)
	if err != nil {
		return err
	}
	pending, err := c.pendingByModel(r, "")
	if err != nil {
		return err
	}
	rows := make([]modelRow, 0, len(list.Items))
	for _, m := range list.Items {
		row := modelRow{Model: m, Pending: len(pending[m.Name])}
		st, err := c.svc.ListVersions(ctx, m.Name, registry.VersionFilter{Stage: registry.StageStaging}, "", 1)
		if err != nil {
			return err
		}
		if len(st.Items) > 0 {
			row.Staging = st.Items[0].Number
		}
		rows = append(rows, row)
	}
	next := ""
	if list.NextPageToken != "" {
		next = "/models?" + url.Values{"prefix": {prefix}, "page": {list.NextPageToken}}.Encode()
	}
	c.render(w, r, http.StatusOK, "models", map[string]any{"Title": "Models", "Prefix": prefix, "Models": rows, "Next": next})
	return nil
}

// pendingByModel returns the pending approvals (of model, or of every
// model), newest first, grouped by model.
func (c *Console) pendingByModel(r *http.Request, model string) (map[string][]registry.Approval, error) {
	out := map[string][]registry.Approval{}
	list, err := c.svc.ListApprovals(r.Context(), registry.ApprovalPending, model, "", registry.MaxPageSize)
	if err != nil {
		return nil, err
	}
	for _, a := range list.Items {
		out[a.Model] = append(out[a.Model], a)
	}
	return out, nil
}

// versionRow is one line of a model's versions table.
type versionRow struct {
	registry.Version
	Aliases []string
}

// modelPage shows a model: Production and Staging, pending approvals,
// its versions (filterable by stage), recent history, and the rollback
// form for those allowed.
func (c *Console) modelPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.PathValue("name")
	m, err := c.svc.GetModel(ctx, name)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	var stage registry.Stage
	if s := q.Get("stage"); s != "" {
		if stage, err = registry.ParseStage(s); err != nil {
			return err
		}
	}
	list, err := c.svc.ListVersions(ctx, name, registry.VersionFilter{Stage: stage}, q.Get("page"), versionsPageSize)
	if err != nil {
		return err
	}
	aliases, err := c.svc.ListAliases(ctx, name)
	if err != nil {
		return err
	}
	byVersion := map[int][]string{}
	for _, a := range aliases {
		byVersion[a.Version] = append(byVersion[a.Version], a.Name)
	}
	rows := make([]versionRow, 0, len(list.Items))
	for _, v := range list.Items {
		rows = append(rows, versionRow{Version: v, Aliases: byVersion[v.Number]})
	}
	var staging *registry.Version
	if st, err := c.svc.ListVersions(ctx, name, registry.VersionFilter{Stage: registry.StageStaging}, "", 1); err != nil {
		return err
	} else if len(st.Items) > 0 {
		staging = &st.Items[0]
	}
	var production *registry.Version
	if m.ProductionVersion > 0 {
		p, err := c.svc.GetVersion(ctx, name, m.ProductionVersion)
		if err != nil {
			return err
		}
		production = &p
	}
	pending, err := c.pendingByModel(r, name)
	if err != nil {
		return err
	}
	hist, err := c.svc.History(ctx, name, 0, "", recentHistory)
	if err != nil {
		return err
	}
	next := ""
	if list.NextPageToken != "" {
		next = "/models/" + url.PathEscape(name) + "?" + url.Values{"stage": {string(stage)}, "page": {list.NextPageToken}}.Encode()
	}
	v := viewerFrom(ctx)
	c.render(w, r, http.StatusOK, "model", map[string]any{
		"Title": m.Name, "Model": m, "Versions": rows, "Stage": string(stage), "Next": next,
		"Stages":     []registry.Stage{registry.StageNone, registry.StageStaging, registry.StageProduction, registry.StageArchived},
		"Production": production, "Staging": staging, "Pending": pending[name],
		"KeyMetrics": keyMetricNames(m.Policy, list.Items), "History": hist.Items,
		"MayRollBack": production != nil && (v.Role == registry.RoleAdmin || (v.Can(registry.PermRollback) && m.Policy.MayRollBack(v.Role))),
	})
	return nil
}

// keyMetricNames picks the metrics the versions table shows: those the
// policy checks first, then the most common ones, up to keyMetrics.
func keyMetricNames(p registry.Policy, vs []registry.Version) []string {
	var names []string
	for _, n := range policyMetrics(p) {
		if !slices.Contains(names, n) && len(names) < keyMetrics {
			names = append(names, n)
		}
	}
	count := map[string]int{}
	for _, v := range vs {
		for k := range v.Metrics {
			count[k]++
		}
	}
	rest := slices.Sorted(maps.Keys(count))
	slices.SortStableFunc(rest, func(a, b string) int { return count[b] - count[a] })
	for _, n := range rest {
		if len(names) >= keyMetrics {
			break
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// versionPage shows one version: metrics with their source, params, tags,
// lineage, artifacts, aliases, its history, and the stage forms.
func (c *Console) versionPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.PathValue("name")
	number, err := versionNumber(r)
	if err != nil {
		return err
	}
	v, err := c.svc.GetVersion(ctx, name, number)
	if err != nil {
		return err
	}
	m, err := c.svc.GetModel(ctx, name)
	if err != nil {
		return err
	}
	aliases, err := c.svc.ListAliases(ctx, name)
	if err != nil {
		return err
	}
	var mine []string
	for _, a := range aliases {
		if a.Version == number {
			mine = append(mine, a.Name)
		}
	}
	hist, err := c.svc.History(ctx, name, number, r.URL.Query().Get("page"), historyPageSize)
	if err != nil {
		return err
	}
	next := ""
	if hist.NextPageToken != "" {
		next = r.URL.Path + "?" + url.Values{"page": {hist.NextPageToken}}.Encode()
	}
	c.render(w, r, http.StatusOK, "version", map[string]any{
		"Title": name + " v" + strconv.Itoa(number), "Model": m, "Version": v, "Aliases": mine,
		"Metrics": sortedKeys(v.Metrics), "Params": sortedKeys(v.Params), "Tags": sortedKeys(v.Tags),
		"History": hist.Items, "Next": next,
	})
	return nil
}

// download redirects to a fresh download URL of one artifact.
func (c *Console) download(w http.ResponseWriter, r *http.Request) error {
	number, err := versionNumber(r)
	if err != nil {
		return err
	}
	path := r.URL.Query().Get("path")
	if path == "" {
		return registry.Errorf(registry.Invalid, "say which file: ?path=FILE")
	}
	set, err := c.svc.Downloads(r.Context(), r.PathValue("name"), number, path)
	if err != nil {
		return err
	}
	if len(set.Files) != 1 {
		return registry.Errorf(registry.NotFound, "version %d has no file %q", number, path)
	}
	http.Redirect(w, r, set.Files[0].URL, http.StatusSeeOther)
	return nil
}

// historyPage is a model's whole timeline, paginated.
func (c *Console) historyPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.PathValue("name")
	hist, err := c.svc.History(ctx, name, 0, r.URL.Query().Get("page"), historyPageSize)
	if err != nil {
		return err
	}
	next := ""
	if hist.NextPageToken != "" {
		next = r.URL.Path + "?" + url.Values{"page": {hist.NextPageToken}}.Encode()
	}
	c.render(w, r, http.StatusOK, "history", map[string]any{"Title": name + " history", "Name": name, "History": hist.Items, "Next": next})
	return nil
}

// transition moves a version (to Staging, Archived, None) or requests
// Production for it, then returns to the version (or the approval).
func (c *Console) transition(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	number, err := versionNumber(r)
	if err != nil {
		return err
	}
	v := viewerFrom(r.Context())
	if !v.Can(registry.PermPublish) {
		return registry.Errorf(registry.Forbidden, "%s has role %q, which lacks the publish permission a stage change needs", v.Name, v.Role)
	}
	to, err := registry.ParseStage(r.PostForm.Get("to"))
	if err != nil {
		return err
	}
	res, err := c.svc.Transition(r.Context(), name, number, to, r.PostForm.Get("reason"))
	if err != nil {
		return err
	}
	if res.Approval != nil {
		http.Redirect(w, r, "/approvals/"+url.PathEscape(res.Approval.ID), http.StatusSeeOther)
		return nil
	}
	http.Redirect(w, r, "/models/"+url.PathEscape(name)+"/versions/"+strconv.Itoa(number), http.StatusSeeOther)
	return nil
}

// rollback returns Production to an earlier version.
func (c *Console) rollback(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	v := viewerFrom(r.Context())
	if !v.Can(registry.PermRollback) {
		return registry.Errorf(registry.Forbidden, "%s has role %q, which may not roll back", v.Name, v.Role)
	}
	to := 0
	if s := strings.TrimSpace(r.PostForm.Get("to")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return registry.Errorf(registry.Invalid, "to %q: give a version number, or leave it empty for the previous Production version", s)
		}
		to = n
	}
	if _, err := c.svc.Rollback(r.Context(), name, to, r.PostForm.Get("reason")); err != nil {
		return err
	}
	http.Redirect(w, r, "/models/"+url.PathEscape(name), http.StatusSeeOther)
	return nil
}

func versionNumber(r *http.Request) (int, error) {
	s := r.PathValue("version")
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || strconv.Itoa(n) != s {
		return 0, registry.Errorf(registry.Invalid, "version %q: want a positive number", s)
	}
	return n, nil
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// policyMetrics names the metrics p checks: its rules, then the ones a
// version must beat Production on.
func policyMetrics(p registry.Policy) []string {
	var out []string
	for _, r := range p.Metrics {
		out = append(out, r.Metric)
	}
	return append(out, p.MustBeatProduction...)
}
