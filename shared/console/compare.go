package console

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/modelreg/modelreg/shared/registry"
)

// paramView is one param across the compared versions, with the cells
// that differ from the current Production version marked.
type paramView struct {
	registry.ParamRow
	Production    string
	HasProduction bool
	// FromProd holds the versions whose value differs from Production's.
	FromProd map[int]bool
}

// comparePage sets versions side by side: every metric with the best
// marked (registry's Compare, the rules `modelreg compare` uses), params
// against the current Production version, and an SVG chart of one metric
// with Production highlighted.
func (c *Console) comparePage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.PathValue("name")
	q := r.URL.Query()
	var numbers []int
	for _, raw := range q["v"] {
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return registry.Errorf(registry.Invalid, "version %q: want a positive number", s)
			}
			numbers = append(numbers, n)
		}
	}
	m, err := c.svc.GetModel(ctx, name)
	if err != nil {
		return err
	}
	metric := q.Get("metric")
	cmp, err := c.svc.Compare(ctx, name, numbers, metric)
	if err != nil {
		return err
	}
	if metric == "" && len(cmp.Metrics) > 0 {
		metric = cmp.Metrics[0].Name
		if ms := keyMetricNames(m.Policy, cmp.Versions); len(ms) > 0 {
			metric = ms[0]
		}
	}
	var prod *registry.Version
	if m.ProductionVersion > 0 {
		p, err := c.svc.GetVersion(ctx, name, m.ProductionVersion)
		if err != nil {
			return err
		}
		prod = &p
	}
	params := make([]paramView, 0, len(cmp.Params))
	for _, row := range cmp.Params {
		pv := paramView{ParamRow: row, FromProd: map[int]bool{}}
		if prod != nil {
			pv.Production, pv.HasProduction = prod.Params[row.Name]
			for _, v := range cmp.Versions {
				val, ok := row.Values[v.Number]
				if v.Number != prod.Number && (ok != pv.HasProduction || val != pv.Production) {
					pv.FromProd[v.Number] = true
				}
			}
		}
		params = append(params, pv)
	}
	var chartRow *registry.MetricRow
	for i := range cmp.Metrics {
		if cmp.Metrics[i].Name == metricName(metric) {
			chartRow = &cmp.Metrics[i]
		}
	}
	data := map[string]any{
		"Title": name + " compare", "Model": m, "C": cmp, "Params": params, "Production": prod,
		"Metric": metricName(metric), "MetricNames": metricNames(cmp.Metrics), "Numbers": numbers,
	}
	if chartRow != nil {
		data["Chart"] = barChart(*chartRow, cmp.Versions, m.ProductionVersion)
	}
	c.render(w, r, http.StatusOK, "compare", data)
	return nil
}

func metricName(by string) string { n, _, _ := strings.Cut(by, ":"); return n }

func metricNames(rows []registry.MetricRow) []string {
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.Name)
	}
	return out
}

// Chart geometry, in SVG user units (the chart scales to its box).
const (
	chartBarW   = 48
	chartGap    = 24
	chartHeight = 200
	chartTop    = 24
	chartBottom = 40
	chartLeft   = 56
)

// barChart draws row's values across versions as an SVG bar chart: one bar
// per version in the compared order, the best marked, the Production
// version filled differently and labelled. Every label is escaped.
func barChart(row registry.MetricRow, versions []registry.Version, production int) template.HTML {
	lo, hi := 0.0, 0.0
	first := true
	for _, v := range versions {
		val, ok := row.Values[v.Number]
		if !ok {
			continue
		}
		if first {
			lo, hi, first = math.Min(0, val), math.Max(0, val), false
		}
		lo, hi = math.Min(lo, val), math.Max(hi, val)
	}
	if hi == lo {
		hi = lo + 1
	}
	width := chartLeft + len(versions)*(chartBarW+chartGap) + chartGap
	total := chartTop + chartHeight + chartBottom
	y := func(val float64) float64 { return chartTop + (hi-val)/(hi-lo)*chartHeight }
	var b strings.Builder
	dir := "higher is better"
	if !row.HigherIsBetter {
		dir = "lower is better"
	}
	title := html.EscapeString(row.Name + " by version (" + dir + ")")
	fmt.Fprintf(&b, `<svg class="chart" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-labelledby="chart-title" xmlns="http://www.w3.org/2000/svg"><title id="chart-title">%s</title>`, width, total, width, total, title)
	zero := y(0)
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`, chartLeft-4, zero, width, zero)
	fmt.Fprintf(&b, `<text class="tick" x="%d" y="%.1f" text-anchor="end">%s</text>`, chartLeft-8, y(hi)+4, html.EscapeString(fmtNum(hi)))
	fmt.Fprintf(&b, `<text class="tick" x="%d" y="%.1f" text-anchor="end">%s</text>`, chartLeft-8, y(lo)+4, html.EscapeString(fmtNum(lo)))
	for i, v := range versions {
		x := chartLeft + chartGap + i*(chartBarW+chartGap)
		cls := "bar"
		if v.Number == production {
			cls += " prod"
		}
		if slices.Contains(row.Best, v.Number) {
			cls += " best"
		}
		label := "v" + strconv.Itoa(v.Number)
		if val, ok := row.Values[v.Number]; ok {
			top, bottom := math.Min(y(val), zero), math.Max(y(val), zero)
			h := math.Max(bottom-top, 1)
			desc := fmt.Sprintf("version %d: %s", v.Number, fmtNum(val))
			if v.Number == production {
				desc += " (Production)"
			}
			if slices.Contains(row.Best, v.Number) {
				desc += " (best)"
			}
			fmt.Fprintf(&b, `<rect class="%s" data-version="%d" x="%d" y="%.1f" width="%d" height="%.1f"><title>%s</title></rect>`, cls, v.Number, x, top, chartBarW, h, html.EscapeString(desc))
			fmt.Fprintf(&b, `<text class="value" x="%d" y="%.1f" text-anchor="middle">%s</text>`, x+chartBarW/2, top-6, html.EscapeString(fmtNum(val)))
		} else {
			fmt.Fprintf(&b, `<text class="value" x="%d" y="%.1f" text-anchor="middle">none</text>`, x+chartBarW/2, zero-6)
		}
		fmt.Fprintf(&b, `<text class="label" x="%d" y="%d" text-anchor="middle">%s</text>`, x+chartBarW/2, chartTop+chartHeight+18, label)
		if v.Number == production {
			fmt.Fprintf(&b, `<text class="label prod" x="%d" y="%d" text-anchor="middle">Production</text>`, x+chartBarW/2, chartTop+chartHeight+34)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// fmtNum formats a metric value briefly (at most 6 significant digits).
func fmtNum(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }
