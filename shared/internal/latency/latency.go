// Package latency summarises the latencies benchmarks measure.
package latency

import (
	"slices"
	"time"
)

// Pct returns the p-th percentile (nearest rank) of ds; 0 for none.
func Pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (p*len(s)+99)/100 - 1
	return s[max(0, min(i, len(s)-1))]
}

// MS is d in milliseconds, for testing.B.ReportMetric.
func MS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
