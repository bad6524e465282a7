package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
)

func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(out io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func ts(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func formatMetrics(m map[string]httpapi.Metric) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%g", k, m[k].Value)
	}
	return strings.Join(parts, " ")
}

func printVersions(out io.Writer, vs []httpapi.Version) error {
	w := table(out)
	fmt.Fprintln(w, "VERSION\tSTAGE\tSTATUS\tCREATED\tBY\tCOMMIT\tMETRICS")
	for _, v := range vs {
		commit := v.Lineage.Code.Commit
		if len(commit) > 10 {
			commit = commit[:10]
		}
		if v.Lineage.Code.Dirty {
			commit += "+dirty"
		}
		if commit == "" {
			commit = "-"
		}
		outf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Number, v.Stage, v.Status, ts(v.CreatedAt), v.CreatedBy, commit, formatMetrics(v.Metrics))
	}
	return w.Flush()
}

func printVersion(out io.Writer, v httpapi.Version) error {
	w := table(out)
	outf(w, "Model:\t%s\n", v.Model)
	outf(w, "Version:\t%d\n", v.Number)
	outf(w, "Stage:\t%s\n", v.Stage)
	outf(w, "Status:\t%s\n", v.Status)
	if v.Deleted {
		outf(w, "Deleted:\t%s\n", deletedLine(v))
	}
	if v.Description != "" {
		outf(w, "Description:\t%s\n", v.Description)
	}
	outf(w, "Created:\t%s by %s\n", ts(v.CreatedAt), v.CreatedBy)
	l := v.Lineage
	if l.Code.Commit != "" || l.Code.Repo != "" {
		dirty := ""
		if l.Code.Dirty {
			dirty = " (dirty)"
		}
		outf(w, "Code:\t%s %s%s %s\n", l.Code.Repo, l.Code.Commit, dirty, l.Code.EntryPoint)
	}
	if l.Data.DatasetID != "" {
		outf(w, "Dataset:\t%s %s %s\n", l.Data.DatasetID, l.Data.DatasetVersion, l.Data.FeatureSetVersion)
	}
	if l.Run.RunID != "" || l.Run.StartedAt != nil || l.Run.EndedAt != nil {
		run := l.Run.RunID
		if l.Run.StartedAt != nil {
			run += " started " + ts(*l.Run.StartedAt)
		}
		if l.Run.EndedAt != nil {
			run += " ended " + ts(*l.Run.EndedAt)
		}
		outf(w, "Run:\t%s\n", strings.TrimSpace(run))
	}
	if l.Environment.ImageURI != "" || l.Environment.RequirementsHash != "" {
		outf(w, "Environment:\t%s %s\n", l.Environment.ImageURI, l.Environment.RequirementsHash)
	}
	if l.SourceURI != "" {
		outf(w, "Source:\t%s\n", l.SourceURI)
	}
	for _, k := range slices.Sorted(maps.Keys(v.Metrics)) {
		m := v.Metrics[k]
		outf(w, "Metric:\t%s = %g (%s)\n", k, m.Value, m.Source)
	}
	for _, k := range slices.Sorted(maps.Keys(v.Params)) {
		outf(w, "Param:\t%s = %s\n", k, v.Params[k])
	}
	for _, k := range slices.Sorted(maps.Keys(v.Tags)) {
		outf(w, "Tag:\t%s = %s\n", k, v.Tags[k])
	}
	for _, a := range v.Artifacts {
		outf(w, "Artifact:\t%s %s sha256:%s\n", a.Path, humanBytes(a.Size), a.SHA256)
	}
	return w.Flush()
}

// progressBar draws transfer progress on stderr when it is a terminal and
// stays silent otherwise (CI logs get one summary line instead).
type progressBar struct {
	label string
	total int64
	done  atomic.Int64
	start time.Time
	tty   bool
	stop  chan struct{}
	wg    sync.WaitGroup
}

func newProgress(label string, total int64) *progressBar {
	p := &progressBar{label: label, total: total, start: time.Now(), stop: make(chan struct{})}
	if st, err := os.Stderr.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		p.tty = true
		p.wg.Add(1)
		go p.loop()
	}
	return p
}

func (p *progressBar) add(n int64) { p.done.Add(n) }

func (p *progressBar) loop() {
	defer p.wg.Done()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.draw()
		}
	}
}

func (p *progressBar) draw() {
	done := p.done.Load()
	frac := 1.0
	if p.total > 0 {
		// Retried parts can be read further than sent: keep it in 0..1.
		frac = min(max(float64(done)/float64(p.total), 0), 1)
	}
	const width = 30
	filled := int(frac * width)
	rate := float64(done) / max(time.Since(p.start).Seconds(), 1e-3)
	fmt.Fprintf(os.Stderr, "\r%s [%s%s] %3.0f%% %s/%s %s/s ", p.label,
		strings.Repeat("=", filled), strings.Repeat(" ", width-filled), frac*100,
		humanBytes(done), humanBytes(p.total), humanBytes(int64(rate)))
}

// finish stops drawing and prints a summary line.
func (p *progressBar) finish(ok bool) {
	close(p.stop)
	p.wg.Wait()
	if p.tty {
		p.draw()
		fmt.Fprintln(os.Stderr)
	}
	if ok {
		secs := time.Since(p.start).Seconds()
		fmt.Fprintf(os.Stderr, "%s: %s in %.1fs (%s/s)\n", p.label, humanBytes(p.total), secs, humanBytes(int64(float64(p.total)/max(secs, 1e-3))))
	}
}

// printHistory writes the audit trail: one row per entry (time, version,
// action, actor, the move, the reason) and, under a row, indented lines
// with what the entry was decided on — the approval, its approvers and
// their comments, each policy check, the metric values (criteria) and any
// other detail — so a promotion tells its whole story. Every field is
// escaped (clean), so no value can add a row or a detail line.
func printHistory(out io.Writer, entries []httpapi.AuditEntry) error {
	var rows bytes.Buffer
	w := table(&rows)
	fmt.Fprintln(w, "TIME\tVERSION\tACTION\tBY\tCHANGE\tREASON")
	for _, e := range entries {
		var change []string
		if a := e.Details["alias"]; a != "" {
			change = append(change, "alias "+clean(a))
		}
		if e.From != "" || e.To != "" {
			change = append(change, clean(string(e.From))+" → "+clean(string(e.To)))
		}
		if t := e.Details["target"]; t != "" && isDeployAction(e.Action) {
			change = append(change, "target "+clean(t)+" ("+clean(e.Details["kind"])+")")
		}
		reason, moved := e.Reason, strings.Join(change, " ")
		if reason == "" {
			reason = "-"
		}
		if moved == "" {
			moved = "-"
		}
		// The change is escaped piece by piece (the arrow is the CLI's).
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", ts(e.At), versionOr(e.Version, "-"), clean(string(e.Action)),
			clean(e.Actor), moved, clean(reason))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	// The table aligns the rows across all entries; the detail lines go
	// between them. Escaped fields hold no newline, so line i+1 is entry i.
	lines := strings.Split(rows.String(), "\n")
	var b strings.Builder
	b.WriteString(lines[0] + "\n")
	for i, e := range entries {
		row, details := lines[i+1], historyDetails(e)
		// A reason too long for the row is cut there and given whole as
		// the first detail line (the reason is the last column, so the
		// cut moves no other column).
		if reason := clean(e.Reason); e.Reason != "" && utf8.RuneCountInString(row) > historyWidth {
			keep := historyWidth - (utf8.RuneCountInString(row) - utf8.RuneCountInString(reason)) - 1
			if r := []rune(reason); keep > 0 && keep < len(r) {
				row = strings.TrimSuffix(row, reason) + string(r[:keep]) + "…"
				details = append([]string{kv("reason", e.Reason)}, details...)
			}
		}
		b.WriteString(row + "\n")
		for _, d := range details {
			for _, l := range wrap(d, historyWidth-len(detailIndent)) {
				b.WriteString(detailIndent + l + "\n")
			}
		}
	}
	_, err := io.WriteString(out, b.String())
	return err
}

// historyWidth is the width history's text fits in (where a row's reason
// and detail lines allow: the other columns are never cut).
const historyWidth = 120

// detailIndent starts every detail line under a history row; a wrapped
// detail continues two columns further in.
const detailIndent = "    "

// wrap splits an escaped, one-line text into lines of at most width
// runes, at a space where it can (else inside the word), the lines after
// the first indented by two spaces.
func wrap(s string, width int) []string {
	var lines []string
	prefix := ""
	for s != "" || lines == nil {
		r := []rune(s)
		avail := width - len(prefix)
		if len(r) <= avail {
			return append(lines, prefix+s)
		}
		head := string(r[:avail+1])
		if cut := strings.LastIndex(head, " "); cut > 0 {
			lines = append(lines, prefix+s[:cut])
			s = s[cut+1:]
		} else {
			cut = len(string(r[:avail]))
			lines = append(lines, prefix+s[:cut])
			s = s[cut:]
		}
		prefix = "  "
	}
	return lines
}

// historyDetails returns an entry's detail lines, already escaped, in the
// keys of the JSON output (key=value, a value with spaces quoted) and a
// fixed order: the approval with who requested it, auto-approval and
// rollback; the approvers; one line per comment:NAME; one per
// check:NAME; the metric values it was judged on (criteria); a policy
// change field by field; then every other detail, sorted.
func historyDetails(e httpapi.AuditEntry) []string {
	d := maps.Clone(e.Details)
	if d == nil {
		d = map[string]string{}
	}
	delete(d, "alias") // shown in CHANGE
	if isDeployAction(e.Action) {
		delete(d, "target") // shown in CHANGE, with the kind
		delete(d, "kind")
		if d["reason"] == e.Reason {
			delete(d, "reason") // shown in REASON
		}
	}
	take := func(k string) (string, bool) {
		v, ok := d[k]
		delete(d, k)
		return v, ok
	}
	var lines, head []string
	if e.ApprovalID != "" {
		head = append(head, "approval="+clean(e.ApprovalID))
	}
	if e.Rollback {
		head = append(head, "rollback")
	}
	for _, k := range []string{"requested_by", "approval", "rolled_back_from", "rolled_back_to", "replaced_by"} {
		if v, ok := take(k); ok {
			head = append(head, kv(k, v))
		}
	}
	if len(head) > 0 {
		lines = append(lines, strings.Join(head, " "))
	}
	if v, ok := take("approvers"); ok {
		lines = append(lines, kv("approvers", v))
	}
	if e.Action == registry.ActionPolicyChanged {
		lines = append(lines, policyChanges(d)...)
	}
	var comments, checks, rest []string
	for _, k := range slices.Sorted(maps.Keys(d)) {
		switch {
		case strings.HasPrefix(k, "comment:"):
			comments = append(comments, kv(k, d[k]))
		case strings.HasPrefix(k, "check:"):
			checks = append(checks, kv(k, d[k]))
		default:
			rest = append(rest, kv(k, d[k]))
		}
	}
	lines = append(lines, comments...)
	lines = append(lines, checks...)
	if len(e.Criteria) > 0 {
		keys := slices.Sorted(maps.Keys(e.Criteria))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = clean(k) + "=" + strconv.FormatFloat(e.Criteria[k], 'g', -1, 64)
		}
		lines = append(lines, "criteria: "+strings.Join(parts, " "))
	}
	if len(rest) > 0 {
		lines = append(lines, strings.Join(rest, " "))
	}
	return lines
}

// kv is one detail as key=value, escaped; a value that is empty or holds
// a space, tab, quote or = is quoted.
func kv(k, v string) string {
	v = clean(v)
	if v == "" || strings.ContainsAny(v, " \t\"=") {
		v = `"` + strings.ReplaceAll(v, `"`, `\"`) + `"`
	}
	return clean(k) + "=" + v
}

// policyChanges turns a policy change's "old" and "new" details
// (Policy.String: space-separated key=value) into one line per changed
// field, "policy FIELD: OLD → NEW", and removes them from d. When they do
// not parse so, d keeps them and they print as they are.
func policyChanges(d map[string]string) []string {
	parse := func(s string) map[string]string {
		m := map[string]string{}
		for _, f := range strings.Fields(s) {
			k, v, ok := strings.Cut(f, "=")
			if !ok || k == "" {
				return nil
			}
			m[k] = v
		}
		return m
	}
	oldP, newP := parse(d["old"]), parse(d["new"])
	if oldP == nil || newP == nil {
		return nil
	}
	none := func(v string) string {
		if v == "" {
			return "(none)"
		}
		return clean(v)
	}
	var lines []string
	keys := maps.Clone(newP)
	maps.Copy(keys, oldP)
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if oldP[k] != newP[k] {
			lines = append(lines, "policy "+clean(k)+": "+none(oldP[k])+" → "+none(newP[k]))
		}
	}
	delete(d, "old")
	delete(d, "new")
	delete(d, "changed")
	return lines
}

// isDeployAction reports whether an audit action is about a deploy target
// or a deployment (their CHANGE names the target).
func isDeployAction(a registry.Action) bool {
	return strings.HasPrefix(string(a), "deployment.") || strings.HasPrefix(string(a), "deploy_target.")
}
