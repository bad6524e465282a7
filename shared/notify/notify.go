// Package notify is the notification consumer: it turns the registry's
// events into messages for people — approval requested (to the
// approvers), approval decided (to the requester, with the comment),
// promoted, rolled back, deployment failed — and hands each to every
// channel (a log line; Slack and email when configured). It also sweeps
// PENDING approvals for reminders 24 hours and 1 hour before they expire.
//
// Delivery is at least once and the consumer is idempotent: it records,
// per event, each channel that delivered (consumer "notify:CHANNEL") and
// the event as a whole once all did (consumer "notify"). A channel that
// fails makes Handle return an error, so the outbox (or EventBridge)
// delivers the event again; the channels that already delivered are not
// sent it twice.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// Processed-event consumers (registry.ProcessedEvent.Consumer). Each
// channel's record is the consumer's name, ":" and the channel's name
// ("notify:slack", "reminder-1h:email").
const (
	ConsumerEvents     = "notify"       // keyed by event id
	ConsumerReminder24 = "reminder-24h" // keyed by approval id
	ConsumerReminder1  = "reminder-1h"  // keyed by approval id
)

// DefaultTTL is how long a processed-event record is kept: longer than
// any redelivery (EventBridge retries for 24 hours; the outbox keeps an
// event until it is delivered) and than an approval's life.
const DefaultTTL = 30 * 24 * time.Hour

// Processed remembers which events a consumer handled
// (registry.Service implements it on both stores).
type Processed interface {
	// EventProcessed reports whether consumer recorded eventID as handled
	// (and the record has not expired).
	EventProcessed(ctx context.Context, consumer, eventID string) (bool, error)
	// MarkEventProcessed records that consumer handled eventID, for ttl.
	// Marking twice is not an error.
	MarkEventProcessed(ctx context.Context, consumer, eventID string, ttl time.Duration) error
}

// Registry is what the consumer reads to write its messages
// (registry.Service). The methods return NotFound for what does not
// exist.
type Registry interface {
	GetModel(ctx context.Context, name string) (registry.Model, error)
	GetVersion(ctx context.Context, model string, number int) (registry.Version, error)
	GetApproval(ctx context.Context, id string) (registry.Approval, error)
	ListApprovals(ctx context.Context, status registry.ApprovalStatus, model, pageToken string, pageSize int) (registry.List[registry.Approval], error)
	Compare(ctx context.Context, model string, numbers []int, by string) (registry.Comparison, error)
	History(ctx context.Context, model string, version int, pageToken string, pageSize int) (registry.List[registry.AuditEntry], error)
}

// Channel is one way of telling people.
type Channel struct {
	// Name is short and stable ("log", "slack", "email"): it names the
	// channel's processed-event records.
	Name     string
	Notifier registry.Notifier
}

// Config configures a Consumer.
type Config struct {
	Registry  Registry
	Processed Processed
	// Channels receive every message, in order; at least one.
	Channels []Channel
	// ConsoleURL is the web console's base URL; when set, approval
	// messages link to ConsoleURL/approvals/ID.
	ConsoleURL string
	// TTL is how long processed-event records are kept (default DefaultTTL).
	TTL    time.Duration
	Now    func() time.Time
	Logger *slog.Logger
}

// Consumer turns events into notifications.
type Consumer struct {
	cfg Config

	mu   sync.Mutex
	down map[string]*outage // channel name → its current outage
}

// outage is a channel that failed: until is when it is tried again,
// failures how many times in a row it failed.
type outage struct {
	until    time.Time
	failures int
}

// maxCooldown is the longest a failing channel is left alone.
const maxCooldown = time.Minute

// ErrChannelDown is returned (wrapped) for a channel that failed moments
// ago and is left alone until its cooldown ends: the event is retried
// later without holding the caller for another timeout.
var ErrChannelDown = errors.New("channel failed recently; not tried until its cooldown ends")

// New returns a consumer. Invalid without a registry, a processed-event
// store, or a channel, or with two channels of one name.
func New(cfg Config) (*Consumer, error) {
	if cfg.Registry == nil || cfg.Processed == nil {
		return nil, registry.Errorf(registry.Invalid, "notify: a Registry and a Processed store are required")
	}
	if len(cfg.Channels) == 0 {
		return nil, registry.Errorf(registry.Invalid, "notify: no channel")
	}
	seen := map[string]bool{}
	for _, ch := range cfg.Channels {
		if ch.Name == "" || ch.Notifier == nil || seen[ch.Name] {
			return nil, registry.Errorf(registry.Invalid, "notify: channel %q: each channel needs a unique name and a notifier", ch.Name)
		}
		seen[ch.Name] = true
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.ConsoleURL = strings.TrimRight(cfg.ConsoleURL, "/")
	return &Consumer{cfg: cfg, down: map[string]*outage{}}, nil
}

// Wanted reports whether e is an event the consumer tells people about:
// approval requested or decided, a stage change to Production (a
// promotion or a rollback; the archiving of the previous version that
// goes with it is not news of its own), a failed deployment.
func Wanted(e registry.Event) bool {
	switch e.Type {
	case registry.EventApprovalRequested, registry.EventApprovalDecided, registry.EventDeploymentFailed:
		return true
	case registry.EventStageChanged:
		return e.Detail.To == registry.StageProduction
	}
	return false
}

// Handle notifies every channel of e, once: an event it does not tell
// about, or has handled already, is skipped. It returns an error when a
// channel failed (after the others were tried), so that the event is
// delivered again; a channel that refuses the message for good
// (registry.IsPermanent, e.g. a revoked Slack webhook) is logged and not
// retried. It has the signature of a localbus.Handler.
func (c *Consumer) Handle(ctx context.Context, e registry.Event) error {
	if !Wanted(e) {
		return nil
	}
	done, err := c.cfg.Processed.EventProcessed(ctx, ConsumerEvents, e.ID)
	if err != nil {
		return fmt.Errorf("notify: event %s processed? %w", e.ID, err)
	}
	if done {
		return nil
	}
	n, err := c.Message(ctx, e)
	switch {
	case errors.Is(err, ErrNothingToSay):
	case err != nil:
		return fmt.Errorf("notify: event %s: %w", e.ID, err)
	default:
		if err := c.deliver(ctx, ConsumerEvents, e.ID, n); err != nil {
			return err
		}
	}
	if err := c.cfg.Processed.MarkEventProcessed(ctx, ConsumerEvents, e.ID, c.cfg.TTL); err != nil {
		return fmt.Errorf("notify: record event %s: %w", e.ID, err)
	}
	return nil
}

// deliver hands n to each channel that has not delivered it for
// (consumer, key) yet, and records each success.
func (c *Consumer) deliver(ctx context.Context, consumer, key string, n registry.Notification) error {
	var errs []error
	for _, ch := range c.cfg.Channels {
		name := consumer + ":" + ch.Name
		done, err := c.cfg.Processed.EventProcessed(ctx, name, key)
		if err != nil {
			errs = append(errs, fmt.Errorf("notify %s %s processed? %w", name, key, err))
			continue
		}
		if done {
			continue
		}
		if until, isDown := c.isDown(ch.Name); isDown {
			errs = append(errs, fmt.Errorf("notify %s %s: %w (until %s)", name, key, ErrChannelDown, until.Format(time.RFC3339)))
			continue
		}
		err = ch.Notifier.Notify(ctx, n)
		c.record(ch.Name, err)
		if err != nil {
			if !registry.IsPermanent(err) {
				c.cfg.Logger.Warn("notification not delivered; it is retried", "channel", ch.Name, "key", key,
					"kind", n.Kind, "model", n.Model, "err", err)
				errs = append(errs, fmt.Errorf("notify %s %s: %w", name, key, err))
				continue
			}
			c.cfg.Logger.Error("notification refused for good; not retried", "channel", ch.Name, "key", key,
				"kind", n.Kind, "model", n.Model, "err", err)
		}
		if err := c.cfg.Processed.MarkEventProcessed(ctx, name, key, c.cfg.TTL); err != nil {
			errs = append(errs, fmt.Errorf("notify: record %s %s: %w", name, key, err))
		}
	}
	return errors.Join(errs...)
}

// isDown reports whether channel is in its cooldown after a failure.
func (c *Consumer) isDown(channel string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.down[channel]
	if o == nil || !c.cfg.Now().Before(o.until) {
		return time.Time{}, false
	}
	return o.until, true
}

// record notes the outcome of a delivery on channel: a retryable failure
// starts (or lengthens) a cooldown of 1 s, 2 s, 4 s… up to maxCooldown, so
// that a channel that hangs costs one timeout per cooldown, not one per
// event; a success ends it.
func (c *Consumer) record(channel string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil || registry.IsPermanent(err) {
		delete(c.down, channel)
		return
	}
	o := c.down[channel]
	if o == nil {
		o = &outage{}
		c.down[channel] = o
	}
	o.failures++
	o.until = c.cfg.Now().Add(min(registry.Backoff(o.failures), maxCooldown))
}

// reminder is one mark before an approval expires.
type reminder struct {
	before   time.Duration
	consumer string
}

// reminders are the marks, latest first.
var reminders = []reminder{{time.Hour, ConsumerReminder1}, {24 * time.Hour, ConsumerReminder24}}

// Remind sends the reminders that are due: for each PENDING approval, the
// 24-hour one once fewer than 24 hours are left, and the 1-hour one once
// fewer than 1 hour is left, each once (records ConsumerReminder24 and
// ConsumerReminder1, keyed by the approval's id). Only the latest mark
// passed is sent (a sweep that comes late does not send both), and none
// for a mark the approval was requested after (an approval that lives 12
// hours gets no 24-hour reminder: its request said when it expires). It
// goes on past an approval that fails and returns the errors joined.
func (c *Consumer) Remind(ctx context.Context) error {
	now := c.cfg.Now()
	var errs []error
	token := ""
	for {
		page, err := c.cfg.Registry.ListApprovals(ctx, registry.ApprovalPending, "", token, 100)
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("notify: list pending approvals: %w", err))...)
		}
		for _, ap := range page.Items {
			if err := c.remind(ctx, ap, now); err != nil {
				errs = append(errs, err)
			}
		}
		if token = page.NextPageToken; token == "" {
			return errors.Join(errs...)
		}
	}
}

// remind sends ap's reminder that is due at now, if any.
func (c *Consumer) remind(ctx context.Context, ap registry.Approval, now time.Time) error {
	left := ap.ExpiresAt.Sub(now)
	if left <= 0 || ap.Status != registry.ApprovalPending {
		return nil
	}
	for _, r := range reminders {
		if left > r.before {
			continue
		}
		// The latest mark passed; earlier (larger) marks are stale.
		if ap.CreatedAt.After(ap.ExpiresAt.Add(-r.before)) {
			return nil
		}
		done, err := c.cfg.Processed.EventProcessed(ctx, r.consumer, ap.ID)
		if err != nil {
			return fmt.Errorf("notify: %s %s processed? %w", r.consumer, ap.ID, err)
		}
		if done {
			return nil
		}
		n, err := c.reminder(ctx, ap, now)
		if err != nil {
			return fmt.Errorf("notify: %s %s: %w", r.consumer, ap.ID, err)
		}
		if err := c.deliver(ctx, r.consumer, ap.ID, n); err != nil {
			return err
		}
		if err := c.cfg.Processed.MarkEventProcessed(ctx, r.consumer, ap.ID, c.cfg.TTL); err != nil {
			return fmt.Errorf("notify: record %s %s: %w", r.consumer, ap.ID, err)
		}
		return nil
	}
	return nil
}
