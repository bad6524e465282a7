package main

import (
	"slices"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/eventbridge"
	"github.com/modelreg/modelreg/shared/eventbridge/ebtest"
	"github.com/modelreg/modelreg/shared/registry"
)

// TestServeEventBridgeEvents: `serve --events eventbridge --event-bus B`
// publishes each committed event to the bus once (moto's, read back
// through SQS targets of the notify rule and a catch-all rule).
func TestServeEventBridgeEvents(t *testing.T) {
	ep := ebtest.Endpoint(t)
	bus := ebtest.New(t, ep, map[string]string{"all": ebtest.AllPattern, "notify": eventbridge.NotifyPattern()})
	s := startServer(t, t.TempDir(), "MODELREG_EVENTS=eventbridge", "MODELREG_EVENT_BUS="+bus.Name,
		"MODELREG_EVENTBRIDGE_ENDPOINT="+ep, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1")
	s.cli(adminToken, "register", "fraud", "--source", "s3://b/fraud/1").must(t)
	s.cli(adminToken, "promote", "fraud", "1", "--to", "Staging", "--reason", "candidate").must(t)
	var got []registry.Event
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		got = append(got, bus.Drain(t, "all")...)
		if slices.ContainsFunc(got, func(e registry.Event) bool { return e.Type == registry.EventStageChanged }) {
			break
		}
	}
	time.Sleep(200 * time.Millisecond)
	got = append(got, bus.Drain(t, "all")...)
	types := map[string]int{}
	for _, e := range got {
		types[e.Type]++
		if e.Detail.Model != "fraud" {
			t.Errorf("event %s is about %q", e.ID, e.Detail.Model)
		}
	}
	if types[registry.EventVersionRegistered] != 1 || types[registry.EventStageChanged] != 1 {
		t.Fatalf("the bus delivered %v, want the registration and the stage change once each\n%s", types, s.logs)
	}
	notify := bus.Drain(t, "notify")
	if len(notify) != 1 || notify[0].Type != registry.EventStageChanged || notify[0].Detail.To != registry.StageStaging {
		t.Errorf("notify rule got %+v, want only the stage change to Staging", notify)
	}
}
