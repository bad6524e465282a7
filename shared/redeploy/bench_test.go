package redeploy_test

import (
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/internal/latency"
)

const changesPerOp = 200

// BenchmarkCommitToWebhook measures, through shared/app on SQLite with the
// outbox relay and the local bus, the time from the commit of a Production
// change (a rollback, committed when Service.Rollback returns) to the
// webhook receiver holding its signed payload, over changesPerOp changes
// alternating between two versions. It reports p50 and p99 in
// milliseconds. Run with -benchtime 1x (scripts/bench redeploy).
func BenchmarkCommitToWebhook(b *testing.B) {
	cfg := stores(b)["sqlite"](b)
	rec, srv := newReceiver(b, "whsec-bench-0123456789")
	a := startApp(b, cfg)
	setup(b, a, "bench", 2, srv.URL, "whsec-bench-0123456789")
	promote(b, a, "bench", 1)
	rec.waitFor(1)
	promote(b, a, "bench", 2)
	rec.waitFor(2)
	var fromCommit, fromCall []time.Duration
	b.ResetTimer()
	for range b.N {
		fromCommit, fromCall = fromCommit[:0], fromCall[:0]
		for i := range changesPerOp {
			have := len(rec.deliveries())
			to := 1 + i%2
			called := time.Now()
			if _, err := a.Service.Rollback(as(admin), "bench", to, "bench"); err != nil {
				b.Fatal(err)
			}
			committed := time.Now()
			got := rec.waitFor(have + 1)
			d := got[have]
			if d.payload.Version != to {
				b.Fatalf("delivery for v%d, want v%d", d.payload.Version, to)
			}
			fromCommit = append(fromCommit, d.at.Sub(committed))
			fromCall = append(fromCall, d.at.Sub(called))
		}
	}
	b.StopTimer()
	if n := len(rec.deliveries()); n != 2+b.N*changesPerOp {
		b.Fatalf("%d deliveries, want %d", n, 2+b.N*changesPerOp)
	}
	b.ReportMetric(latency.MS(latency.Pct(fromCommit, 50)), "p50-ms")
	b.ReportMetric(latency.MS(latency.Pct(fromCommit, 99)), "p99-ms")
	b.ReportMetric(latency.MS(latency.Pct(fromCall, 50)), "call-p50-ms")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d Production changes: commit → webhook received p50 %s p99 %s max %s; from the Rollback call p50 %s p99 %s",
		len(fromCommit), latency.Pct(fromCommit, 50), latency.Pct(fromCommit, 99), latency.Pct(fromCommit, 100), latency.Pct(fromCall, 50), latency.Pct(fromCall, 99))
}
