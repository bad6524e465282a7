// Package localbus is the embedded twin of EventBridge: an in-process bus
// that hands each published event to the handlers subscribed to its type.
// With registry.Relay draining the Store's outbox into it, delivery is at
// least once and survives restarts (an event leaves the outbox only after
// every handler accepted it).
package localbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/modelreg/modelreg/shared/registry"
)

// Handler consumes one event. It must be idempotent by event ID: an event
// whose delivery failed for another handler is delivered again.
type Handler func(ctx context.Context, e registry.Event) error

type subscription struct {
	name    string
	typ     string // "" for every type
	handler Handler
}

// Bus delivers events to subscribers. It implements registry.Events.
type Bus struct {
	mu   sync.RWMutex
	subs []subscription
	// done remembers which subscriber already took which event, so a
	// redelivery caused by another subscriber's failure skips it (within
	// this process; after a restart handlers' own idempotency applies).
	done map[string]bool
}

var _ registry.Events = (*Bus)(nil)

// New returns an empty bus.
func New() *Bus { return &Bus{done: map[string]bool{}} }

// Subscribe registers h under name for events of type typ ("" for all).
func (b *Bus) Subscribe(name, typ string, h Handler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs = append(b.subs, subscription{name, typ, h})
}

// Publish hands each event to every matching subscriber, and returns the
// joined errors of those that failed.
func (b *Bus) Publish(ctx context.Context, events []registry.Event) error {
	b.mu.RLock()
	subs := b.subs
	b.mu.RUnlock()
	var errs []error
	for _, e := range events {
		delivered := true
		for _, s := range subs {
			if s.typ != "" && s.typ != e.Type {
				continue
			}
			key := s.name + "\x00" + e.ID
			b.mu.RLock()
			skip := b.done[key]
			b.mu.RUnlock()
			if skip {
				continue
			}
			if err := s.handler(ctx, e); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
				delivered = false
				continue
			}
			b.mu.Lock()
			b.done[key] = true
			b.mu.Unlock()
		}
		if delivered {
			b.forget(e.ID, subs)
		}
	}
	return errors.Join(errs...)
}

// forget drops the per-subscriber marks of a fully delivered event.
func (b *Bus) forget(id string, subs []subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range subs {
		delete(b.done, s.name+"\x00"+id)
	}
}

// LogNotifier is the embedded registry.Notifier: one structured log line
// per notification.
type LogNotifier struct{ Logger *slog.Logger }

var _ registry.Notifier = LogNotifier{}

// Notify logs n.
func (l LogNotifier) Notify(_ context.Context, n registry.Notification) error {
	d := n.Event.Detail
	l.Logger.Info("notification", "subject", n.Subject, "text", n.Text, "event_id", n.Event.ID,
		"type", n.Event.Type, "model", d.Model, "version", d.Version, "actor", d.Actor)
	return nil
}

// NotifyHandler turns events into notifications for a Notifier.
func NotifyHandler(n registry.Notifier) Handler {
	return func(ctx context.Context, e registry.Event) error {
		return n.Notify(ctx, registry.Notification{Subject: Describe(e), Text: e.Detail.Reason, Event: e})
	}
}

// Describe says in one line what an event reports.
func Describe(e registry.Event) string {
	d := e.Detail
	switch e.Type {
	case registry.EventStageChanged:
		return fmt.Sprintf("%s v%d moved %s → %s by %s", d.Model, d.Version, d.From, d.To, d.Actor)
	case registry.EventAliasChanged:
		return fmt.Sprintf("%s alias %s → v%d by %s", d.Model, d.Alias, d.Version, d.Actor)
	case registry.EventApprovalRequested, registry.EventApprovalDecided:
		return fmt.Sprintf("%s: %s v%d (approval %s, %s) by %s", e.Type, d.Model, d.Version, d.ApprovalID, d.Status, d.Actor)
	}
	return fmt.Sprintf("%s: %s v%d by %s", e.Type, d.Model, d.Version, d.Actor)
}
