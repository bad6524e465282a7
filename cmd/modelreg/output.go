package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/modelreg/modelreg/shared/httpapi"
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
