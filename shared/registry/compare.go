package registry

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/modelreg/modelreg/shared/internal/lazyre"
)

// MaxCompare is the most versions one comparison takes.
const MaxCompare = 20

// Comparison sets versions of one model side by side.
type Comparison struct {
	Model    string
	Versions []Version
	Metrics  []MetricRow
	Params   []ParamRow
	// By is the metric the versions are ranked on ("" if none was asked).
	By string
	// Ranking lists version numbers best first by the By metric; versions
	// without it come last.
	Ranking []int
}

// MetricRow is one metric across the compared versions.
type MetricRow struct {
	Name string
	// Values maps version number to value; a version without the metric is absent.
	Values map[int]float64
	// HigherIsBetter says which way Best was chosen.
	HigherIsBetter bool
	// Best lists the versions with the best value (several on a tie).
	Best []int
}

// ParamRow is one parameter across the compared versions.
type ParamRow struct {
	Name    string
	Values  map[int]string
	Differs bool
}

var lowerBetterRE = lazyre.New(`(?i)(loss|error|(^|[^a-z])err([^a-z]|$)|mse|mae|mape|latency|perplexity|(^|[^a-z])(wer|cer)([^a-z]|$)|_time|duration)`)

// HigherIsBetter guesses a metric's direction from its name: losses,
// errors, latencies and durations are better lower, everything else higher.
func HigherIsBetter(metric string) bool { return !lowerBetterRE.MatchString(metric) }

// ParseBy reads a ranking spec "metric", "metric:max" or "metric:min".
func ParseBy(by string) (name string, higher bool, err error) {
	name, dir, hasDir := strings.Cut(by, ":")
	if err := validateKey("metric", name); err != nil {
		return "", false, err
	}
	switch {
	case !hasDir:
		return name, HigherIsBetter(name), nil
	case dir == "max":
		return name, true, nil
	case dir == "min":
		return name, false, nil
	}
	return "", false, Errorf(Invalid, "invalid ranking %q: use METRIC, METRIC:max or METRIC:min", by)
}

// Compare sets the given versions side by side, marks the best value of
// each metric and, if by is set, ranks the versions on that metric.
// Invalid for fewer than 2 or more than MaxCompare versions; NotFound.
func (s *Service) Compare(ctx context.Context, model string, numbers []int, by string) (Comparison, error) {
	if len(numbers) < 2 || len(numbers) > MaxCompare {
		return Comparison{}, Errorf(Invalid, "compare takes 2 to %d versions, got %d", MaxCompare, len(numbers))
	}
	for i, n := range numbers {
		if slices.Contains(numbers[:i], n) {
			return Comparison{}, Errorf(Invalid, "version %d is listed twice", n)
		}
	}
	c := Comparison{Model: model, By: by}
	var byName string
	var byHigher bool
	if by != "" {
		var err error
		if byName, byHigher, err = ParseBy(by); err != nil {
			return Comparison{}, err
		}
	}
	metricNames, paramNames := map[string]bool{}, map[string]bool{}
	for _, n := range numbers {
		v, err := s.GetVersion(ctx, model, n)
		if err != nil {
			return Comparison{}, err
		}
		c.Versions = append(c.Versions, v)
		for k := range v.Metrics {
			metricNames[k] = true
		}
		for k := range v.Params {
			paramNames[k] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(metricNames)) {
		row := MetricRow{Name: name, Values: map[int]float64{}, HigherIsBetter: HigherIsBetter(name)}
		if name == byName {
			row.HigherIsBetter = byHigher
		}
		for _, v := range c.Versions {
			if m, ok := v.Metrics[name]; ok {
				row.Values[v.Number] = m.Value
			}
		}
		row.Best = bestOf(row.Values, row.HigherIsBetter, c.Versions)
		c.Metrics = append(c.Metrics, row)
	}
	for _, name := range slices.Sorted(maps.Keys(paramNames)) {
		row := ParamRow{Name: name, Values: map[int]string{}}
		for i, v := range c.Versions {
			val, ok := v.Params[name]
			if ok {
				row.Values[v.Number] = val
			}
			if i > 0 && (c.Versions[0].Params[name] != val || !ok) {
				row.Differs = true
			}
		}
		if len(row.Values) != len(c.Versions) {
			row.Differs = true
		}
		c.Params = append(c.Params, row)
	}
	if byName != "" {
		c.Ranking = make([]int, 0, len(c.Versions))
		for _, v := range c.Versions {
			c.Ranking = append(c.Ranking, v.Number)
		}
		better := func(a, b float64) bool { return (byHigher && a > b) || (!byHigher && a < b) }
		slices.SortStableFunc(c.Ranking, func(a, b int) int {
			va, oka := valueOf(c.Versions, a, byName)
			vb, okb := valueOf(c.Versions, b, byName)
			switch {
			case oka && !okb:
				return -1
			case !oka && okb:
				return 1
			case !oka && !okb:
				return 0
			case better(va, vb):
				return -1
			case better(vb, va):
				return 1
			}
			return 0
		})
	}
	return c, nil
}

func valueOf(vs []Version, number int, metric string) (float64, bool) {
	for _, v := range vs {
		if v.Number == number {
			m, ok := v.Metrics[metric]
			return m.Value, ok
		}
	}
	return 0, false
}

func bestOf(values map[int]float64, higher bool, order []Version) []int {
	var best []int
	var bv float64
	for _, v := range order {
		val, ok := values[v.Number]
		if !ok {
			continue
		}
		switch {
		case best == nil || (higher && val > bv) || (!higher && val < bv):
			best, bv = []int{v.Number}, val
		case val == bv && !slices.Contains(best, v.Number):
			best = append(best, v.Number)
		}
	}
	return best
}
