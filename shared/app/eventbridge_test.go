package app_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/app/embedded"
	"github.com/modelreg/modelreg/shared/eventbridge/ebtest"
	"github.com/modelreg/modelreg/shared/registry"
)

// TestEventBridgeEvents: with EventsEventBridge the outbox relay publishes
// every committed event to the bus (moto's), once, and acks it; there is
// no in-process bus. An event the bus refuses stays in the outbox,
// deferred, and is published once the bus accepts it.
func TestEventBridgeEvents(t *testing.T) {
	ep := ebtest.Endpoint(t)
	eb := ebtest.New(t, ep, map[string]string{"all": ebtest.AllPattern})
	bus, drain := eb.Name, func() []string { return eb.DrainIDs(t, "all") }
	ctx := admin(context.Background())
	cfg := localConfig(t.TempDir())
	cfg.Events = app.EventsEventBridge
	cfg.AWS = app.AWS{Config: fakeAWS(), EventBus: bus, EventBridgeEndpoint: ep}
	a, err := embedded.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Bus != nil || a.Publisher == nil || a.Relay == nil {
		t.Fatalf("bus %v publisher %v relay %v: want no bus, a publisher and a relay", a.Bus, a.Publisher, a.Relay)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Service.CreateModel(ctx, registry.NewModel{Name: "fraud"}); err != nil {
		t.Fatal(err)
	}
	v, err := a.Service.RegisterVersion(ctx, "fraud", registry.NewVersion{Source: "s3://models/fraud/1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Service.Transition(ctx, "fraud", v.Number, registry.StageStaging, "candidate"); err != nil {
		t.Fatal(err)
	}
	audit, err := a.Store.ListAudit(ctx, registry.AuditQuery{Model: "fraud", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	eventually(t, "the outbox drained to EventBridge", func() bool {
		left, err := a.Store.PendingEvents(ctx, time.Now().Add(time.Hour), 10)
		return err == nil && len(left) == 0
	})
	got = drain()
	if len(got) < 2 || len(got) > len(audit.Items) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Fatalf("the bus delivered %v: want each of the registration's and the transition's events once", got)
	}

	// EventBridge unreachable: the publish fails, the event is deferred
	// and stays in the outbox; the next app on the same data publishes it.
	dir := t.TempDir()
	cfg2 := localConfig(dir)
	cfg2.Events = app.EventsEventBridge
	cfg2.AWS = app.AWS{Config: fakeAWS(), EventBus: bus, EventBridgeEndpoint: "http://127.0.0.1:1"}
	b, err := embedded.New(ctx, cfg2)
	if err != nil {
		t.Fatal(err)
	}
	m, err := b.Service.CreateModel(ctx, registry.NewModel{Name: "churn"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Service.RegisterVersion(ctx, "churn", registry.NewVersion{Source: "s3://models/churn/1"}); err != nil {
		t.Fatal(err)
	}
	n, err := b.Relay.DeliverOnce(ctx)
	if err != nil || n == 0 {
		t.Fatalf("DeliverOnce = %d, %v; want the registration's events handled", n, err)
	}
	left, err := b.Store.PendingEvents(ctx, time.Now().Add(time.Hour), 10)
	if err != nil || len(left) != n {
		t.Fatalf("outbox after a failed publish: %+v, %v; want the %d events deferred", left, err, n)
	}
	var deferred []string
	for _, r := range left {
		if r.Attempts != 1 || r.LastError == "" || r.Event.Detail.Model != m.Name {
			t.Errorf("outbox record %+v: want one failed attempt with its error", r)
		}
		deferred = append(deferred, r.Event.ID)
	}
	slices.Sort(deferred)
	b.Close()
	cfg2.AWS.EventBridgeEndpoint = ep
	cfg2.Now = func() time.Time { return time.Now().Add(time.Hour) } // past the backoff
	c, err := embedded.New(ctx, cfg2)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deferred event published", func() bool {
		left, err := c.Store.PendingEvents(ctx, time.Now().Add(2*time.Hour), 10)
		return err == nil && len(left) == 0
	})
	if got := drain(); !slices.Equal(got, deferred) {
		t.Errorf("after the retry the bus delivered %v, want the deferred %v once", got, deferred)
	}
}
