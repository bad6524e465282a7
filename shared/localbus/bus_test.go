package localbus_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/localbus"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/sqlite"
)

// recorder is a handler that remembers what it got and fails on demand.
type recorder struct {
	mu     sync.Mutex
	got    []string
	failOn map[string]int // event id → failures left
}

func (r *recorder) handle(_ context.Context, e registry.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failOn[e.ID] > 0 {
		r.failOn[e.ID]--
		return errors.New("downstream unavailable")
	}
	r.got = append(r.got, e.ID)
	return nil
}

func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func event(id string, at time.Time) registry.Event {
	return registry.Event{ID: id, Type: registry.EventStageChanged, Source: registry.EventSource, Time: at,
		Detail: registry.EventDetail{Model: "m", Version: 1, From: registry.StageNone, To: registry.StageStaging, Actor: "ann"}}
}

func openStore(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRelayDeliversAtLeastOnce: every event reaches every subscriber; a
// failing subscriber gets the event again after a backoff while the one
// that already took it is not called twice; nothing is acked before all
// took it; events left in the outbox are delivered after a restart.
func TestRelayDeliversAtLeastOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db.sqlite")
	store := openStore(t, path)
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	if err := store.Commit(ctx, &registry.Change{Events: []registry.Event{event("e1", t0), event("e2", t0.Add(time.Millisecond)), event("e3", t0.Add(2*time.Millisecond))}}); err != nil {
		t.Fatal(err)
	}

	deploy := &recorder{}
	notify := &recorder{failOn: map[string]int{"e2": 1}}
	bus := localbus.New()
	bus.Subscribe("deploy", registry.EventStageChanged, deploy.handle)
	bus.Subscribe("notify", "", notify.handle)
	bus.Subscribe("aliases-only", registry.EventAliasChanged, func(context.Context, registry.Event) error {
		t.Error("a subscriber got an event of a type it did not subscribe to")
		return nil
	})
	now := t0.Add(time.Second)
	relay := registry.NewRelay(store, bus, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))
	relay.Now = func() time.Time { return now }

	if n, err := relay.DeliverOnce(ctx); err != nil || n != 3 {
		t.Fatalf("first delivery handled %d, %v", n, err)
	}
	if got := deploy.ids(); !slices.Equal(got, []string{"e1", "e2", "e3"}) {
		t.Fatalf("deploy got %v", got)
	}
	if got := notify.ids(); !slices.Equal(got, []string{"e1", "e3"}) {
		t.Fatalf("notify got %v", got)
	}
	pending, err := store.PendingEvents(ctx, now.Add(time.Hour), 10)
	if err != nil || len(pending) != 1 || pending[0].Event.ID != "e2" || pending[0].Attempts != 1 || !strings.Contains(pending[0].LastError, "downstream unavailable") {
		t.Fatalf("outbox after a failed delivery: %+v, %v", pending, err)
	}
	// Not due yet: the backoff holds it.
	if n, _ := relay.DeliverOnce(ctx); n != 0 {
		t.Fatalf("delivered %d events before their backoff ended", n)
	}
	now = now.Add(registry.Backoff(1) + time.Millisecond)
	if n, err := relay.DeliverOnce(ctx); err != nil || n != 1 {
		t.Fatalf("redelivery handled %d, %v", n, err)
	}
	if got := notify.ids(); !slices.Equal(got, []string{"e1", "e3", "e2"}) {
		t.Fatalf("notify after redelivery got %v", got)
	}
	if got := deploy.ids(); len(got) != 3 {
		t.Fatalf("deploy was called again for an event it had taken: %v", got)
	}
	if pending, _ := store.PendingEvents(ctx, now.Add(time.Hour), 10); len(pending) != 0 {
		t.Fatalf("outbox not empty after delivery: %+v", pending)
	}

	// An event committed before a restart is delivered after it.
	if err := store.Commit(ctx, &registry.Change{Events: []registry.Event{event("e4", now)}}); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	store = openStore(t, path)
	defer store.Close()
	after := &recorder{}
	bus2 := localbus.New()
	bus2.Subscribe("deploy", "", after.handle)
	relay2 := registry.NewRelay(store, bus2, nil)
	relay2.Now = func() time.Time { return now.Add(time.Second) }
	if n, err := relay2.DeliverOnce(ctx); err != nil || n != 1 || !slices.Equal(after.ids(), []string{"e4"}) {
		t.Fatalf("after restart: handled %d, %v, got %v", n, err, after.ids())
	}
}

// TestRelayRunKick: a running relay delivers as soon as it is kicked. The
// event is committed only after the relay's first poll has come back empty,
// and the poll interval is an hour: only Kick can deliver it in time.
func TestRelayRunKick(t *testing.T) {
	store := openStore(t, filepath.Join(t.TempDir(), "db.sqlite"))
	defer store.Close()
	got := make(chan string, 1)
	bus := localbus.New()
	bus.Subscribe("x", "", func(_ context.Context, e registry.Event) error { got <- e.ID; return nil })
	polled := make(chan int, 100)
	relay := registry.NewRelay(pollSignal{Store: store, polled: polled}, bus, nil)
	relay.Interval = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { relay.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	select {
	case n := <-polled:
		if n != 0 {
			t.Fatalf("the first poll found %d events in an empty outbox", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the relay did not poll on start")
	}
	if err := store.Commit(context.Background(), &registry.Change{Events: []registry.Event{event("k1", time.Now().UTC())}}); err != nil {
		t.Fatal(err)
	}
	relay.Kick()
	select {
	case id := <-got:
		if id != "k1" {
			t.Fatalf("got %s", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a kicked relay did not deliver")
	}
}

// pollSignal is a Store that reports, after each PendingEvents, how many
// events it returned.
type pollSignal struct {
	registry.Store
	polled chan<- int
}

func (p pollSignal) PendingEvents(ctx context.Context, now time.Time, limit int) ([]registry.OutboxRecord, error) {
	recs, err := p.Store.PendingEvents(ctx, now, limit)
	select {
	case p.polled <- len(recs):
	default:
	}
	return recs, err
}

func TestDescribeAndNotify(t *testing.T) {
	var buf bytes.Buffer
	n := localbus.LogNotifier{Logger: slog.New(slog.NewJSONHandler(&buf, nil))}
	e := event("d1", time.Now())
	if err := localbus.NotifyHandler(n)(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"subject":"m v1 moved None → Staging by ann"`, `"event_id":"d1"`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log line %s lacks %s", buf.String(), want)
		}
	}
}
