package latency

import (
	"testing"
	"time"
)

func TestPct(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[int]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 1: time.Millisecond} {
		if got := Pct(ds, p); got != want {
			t.Errorf("Pct(%d) = %v, want %v", p, got, want)
		}
	}
	if ds[0] != 100*time.Millisecond {
		t.Error("Pct sorted its input")
	}
	if Pct(nil, 50) != 0 || MS(1500*time.Microsecond) != 1.5 {
		t.Error("empty input or MS")
	}
}
