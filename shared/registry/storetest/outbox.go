package storetest

import (
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

var outboxTests = []test{
	{"PendingAckDefer", withStore(testOutbox)},
}

func testOutbox(t *testing.T, s registry.Store) {
	c := ctx(t)
	T := func(minutes int) time.Time { return at(time.Duration(minutes) * time.Minute) }
	e1, e2, e3, e4 := event("ev-b", T(1)), event("ev-c", T(2)), event("ev-a", T(2)), event("ev-d", T(10))
	e3.Type, e3.Detail.Alias = registry.EventAliasChanged, "champion"
	commit(t, s, &registry.Change{Events: []registry.Event{e4, e2}})
	commit(t, s, &registry.Change{Events: []registry.Event{e3, e1}})
	rec := func(e registry.Event, attempts int, next time.Time, lastErr string) registry.OutboxRecord {
		return registry.OutboxRecord{Event: e, Attempts: attempts, NextAttemptAt: next, LastError: lastErr}
	}
	pending := func(what string, now time.Time, limit int, want ...registry.OutboxRecord) {
		t.Helper()
		got, err := s.PendingEvents(c, now, limit)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if want == nil {
			want = []registry.OutboxRecord{}
		}
		assertEqual(t, what, got, want)
	}

	pending("nothing due before the first event", T(1).Add(-time.Microsecond), 10)
	pending("due at its time", T(1), 10, rec(e1, 0, T(1), ""))
	// Oldest first; equal times by ID (ev-a before ev-c).
	pending("due by minute 5", T(5), 10, rec(e1, 0, T(1), ""), rec(e3, 0, T(2), ""), rec(e2, 0, T(2), ""))
	pending("limit 2", T(60), 2, rec(e1, 0, T(1), ""), rec(e3, 0, T(2), ""))

	// A failed delivery waits for its next attempt.
	if err := s.DeferEvent(c, e1.ID, T(30), "connection refused"); err != nil {
		t.Fatalf("DeferEvent: %v", err)
	}
	pending("deferred event not due yet", T(29), 10, rec(e3, 0, T(2), ""), rec(e2, 0, T(2), ""), rec(e4, 0, T(10), ""))
	pending("deferred event due again", T(30), 10,
		rec(e1, 1, T(30), "connection refused"), rec(e3, 0, T(2), ""), rec(e2, 0, T(2), ""), rec(e4, 0, T(10), ""))
	if err := s.DeferEvent(c, e1.ID, T(40), "timeout"); err != nil {
		t.Fatalf("DeferEvent again: %v", err)
	}
	pending("deferred twice", T(40), 1, rec(e1, 2, T(40), "timeout"))

	// Ack removes; acking again, or acking what never was, is fine.
	for _, id := range []string{e3.ID, e3.ID, "never-there"} {
		if err := s.AckEvent(c, id); err != nil {
			t.Fatalf("AckEvent(%s): %v", id, err)
		}
	}
	pending("after ack", T(60), 10, rec(e1, 2, T(40), "timeout"), rec(e2, 0, T(2), ""), rec(e4, 0, T(10), ""))

	err := s.DeferEvent(c, "never-there", T(50), "x")
	wantCode(t, "DeferEvent of an absent event", err, registry.NotFound)
	err = s.DeferEvent(c, e3.ID, T(50), "x")
	wantCode(t, "DeferEvent of an acked event", err, registry.NotFound)

	for _, e := range []registry.Event{e1, e2, e4} {
		if err := s.AckEvent(c, e.ID); err != nil {
			t.Fatal(err)
		}
	}
	pending("all acked", T(1000), 10)
}
