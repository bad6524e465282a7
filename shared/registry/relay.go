package registry

import (
	"context"
	"log/slog"
	"time"
)

// Relay delivers the outbox: it reads pending events from the Store,
// publishes each through Events and acks it, or defers it with backoff when
// publishing fails. Delivery is at least once (a crash between publish and
// ack publishes again), so consumers are idempotent by event id. On AWS a
// DynamoDB Streams consumer does this job instead.
type Relay struct {
	Store  Store
	Events Events
	// Interval is how often the outbox is polled when not kicked (default 1s).
	Interval time.Duration
	Now      func() time.Time
	Logger   *slog.Logger
	kick     chan struct{}
}

// NewRelay returns a Relay delivering store's outbox to events.
func NewRelay(store Store, events Events, logger *slog.Logger) *Relay {
	if logger == nil {
		logger = slog.Default()
	}
	return &Relay{Store: store, Events: events, Interval: time.Second, Now: time.Now, Logger: logger, kick: make(chan struct{}, 1)}
}

// Kick asks the relay to look at the outbox now. It never blocks.
func (r *Relay) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run delivers events until ctx is done.
func (r *Relay) Run(ctx context.Context) {
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		for {
			n, err := r.DeliverOnce(ctx)
			if err != nil {
				r.Logger.Error("outbox relay", "err", err)
				break
			}
			if n == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.kick:
		}
	}
}

// relayBatch is how many events one DeliverOnce handles.
const relayBatch = 100

// DeliverOnce delivers one batch of due events and returns how many it
// handled (delivered or deferred).
func (r *Relay) DeliverOnce(ctx context.Context) (int, error) {
	now := r.Now().UTC()
	recs, err := r.Store.PendingEvents(ctx, now, relayBatch)
	if err != nil {
		return 0, err
	}
	for _, rec := range recs {
		if perr := r.Events.Publish(ctx, []Event{rec.Event}); perr != nil {
			next := now.Add(Backoff(rec.Attempts + 1))
			r.Logger.Warn("event delivery failed", "event_id", rec.Event.ID, "type", rec.Event.Type,
				"attempt", rec.Attempts+1, "next", next, "err", perr)
			if err := r.Store.DeferEvent(ctx, rec.Event.ID, next, perr.Error()); err != nil {
				return 0, err
			}
			continue
		}
		if err := r.Store.AckEvent(ctx, rec.Event.ID); err != nil {
			return 0, err
		}
	}
	return len(recs), nil
}

// Sleep waits d, or until ctx is done (then ctx's error): the wait
// between retries of every adapter, with a timer that is stopped either way.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Backoff is the wait before delivery attempt n+1 after n failures:
// 1s, 2s, 4s … capped at 5 minutes.
func Backoff(n int) time.Duration {
	d := time.Second << min(max(n-1, 0), 9)
	return min(d, 5*time.Minute)
}
