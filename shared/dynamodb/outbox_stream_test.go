package dynamodb

import (
	"testing"

	"github.com/modelreg/modelreg/shared/registry"
)

// TestEventsInOutbox: events committed and not acked are reported, acked
// and unknown ones are not.
func TestEventsInOutbox(t *testing.T) {
	s, _ := newStore(t)
	ev := func(id string) registry.Event {
		return registry.Event{ID: id, Type: registry.EventStageChanged, Source: registry.EventSource, Time: t0,
			Detail: registry.EventDetail{Model: "m"}}
	}
	commit(t, s, &registry.Change{Events: []registry.Event{ev("e1"), ev("e2")}})
	if err := s.AckEvent(t.Context(), "e1"); err != nil {
		t.Fatal(err)
	}
	got, err := s.EventsInOutbox(t.Context(), []string{"e1", "e2", "e3"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got["e2"] {
		t.Errorf("EventsInOutbox = %v, want only e2", got)
	}
}
