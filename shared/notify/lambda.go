package notify

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-lambda-go/events"

	"github.com/modelreg/modelreg/shared/eventbridge"
	"github.com/modelreg/modelreg/shared/registry"
)

// Scheduled events: what an EventBridge schedule rule sends the notify
// function to run the reminder sweep.
const (
	ScheduleSource     = "aws.events"
	ScheduleDetailType = "Scheduled Event"
)

// IsSchedule reports whether ev is a schedule rule's tick.
func IsSchedule(ev events.EventBridgeEvent) bool {
	return ev.Source == ScheduleSource && ev.DetailType == ScheduleDetailType
}

// FromEventBridge returns the registry event that the notify rule
// delivered as ev: its ID is the registry event's (detail.event_id), not
// EventBridge's. Invalid if ev is not a modelreg event or has no event id.
func FromEventBridge(ev events.EventBridgeEvent) (registry.Event, error) {
	if ev.Source != registry.EventSource {
		return registry.Event{}, registry.Errorf(registry.Invalid, "event %s from %q, not %q", ev.ID, ev.Source, registry.EventSource)
	}
	var d eventbridge.Detail
	if err := json.Unmarshal(ev.Detail, &d); err != nil {
		return registry.Event{}, registry.Errorf(registry.Invalid, "event %s: detail: %v", ev.ID, err)
	}
	if d.EventID == "" || ev.DetailType == "" {
		return registry.Event{}, registry.Errorf(registry.Invalid, "event %s has no detail.event_id or detail-type", ev.ID)
	}
	return registry.Event{ID: d.EventID, Type: ev.DetailType, Source: ev.Source, Time: ev.Time, Detail: d.EventDetail}, nil
}

// HandleEventBridge is the notify function's handler: a schedule tick
// runs Remind; a modelreg event from the notify rule is handled by
// Handle. An event that is neither is logged and dropped (retrying cannot
// help); a failed delivery returns an error, so that Lambda's and
// EventBridge's retries deliver it again.
func (c *Consumer) HandleEventBridge(ctx context.Context, ev events.EventBridgeEvent) error {
	if IsSchedule(ev) {
		if err := c.Remind(ctx); err != nil {
			return fmt.Errorf("reminders: %w", err)
		}
		return nil
	}
	e, err := FromEventBridge(ev)
	if err != nil {
		c.cfg.Logger.Error("notify: dropped an event it cannot read", "eventbridge_id", ev.ID, "detail_type", ev.DetailType, "err", err)
		return nil
	}
	return c.Handle(ctx, e)
}
