// Package streampub is the stream publisher: the handler of the DynamoDB
// Stream of the registry's table (functions/stream-publisher). It publishes
// the outbox events the stream carries and acknowledges them in the outbox.
//
// Of each batch it takes the INSERT records whose new image is an outbox
// item (attribute kind "event"; the event's JSON, exactly as published, in
// attribute event — see shared/dynamodb's doc). MODIFY and REMOVE records
// (a deferred attempt, an ack) and other items are ignored.
//
// Idempotent by event id: the stream delivers a record at least once, and
// after a partial failure Lambda sends the batch again from the first
// failed record. An event whose outbox item is gone was delivered and
// acked, so before publishing, the handler reads which of the batch's
// events are still in the outbox (one consistent read) and skips the
// others; an event twice in one batch is published once. An event that
// was published but whose ack failed is reported failed and published
// again: consumers deduplicate by event id.
//
// Failures are reported per record (events.DynamoDBEventResponse,
// BatchItemFailures with the record's SequenceNumber): an event the
// publisher did not accept, an ack that failed, and a corrupt outbox
// record (logged). Lambda then retries from the first failed record; when
// the stream gives up, the event stays in the outbox and the outbox relay
// (PendingEvents) delivers it. Only a failure to read the outbox at all is
// returned as an error (the whole batch is retried).
package streampub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/modelreg/modelreg/shared/dynamodb"
	"github.com/modelreg/modelreg/shared/registry"
)

// Outbox is the part of the store the handler uses (*dynamodb.Store
// implements it).
type Outbox interface {
	// EventsInOutbox reports which of ids are still in the outbox (not
	// acked), reading consistently. Unavailable if the store is busy.
	EventsInOutbox(ctx context.Context, ids []string) (map[string]bool, error)
	// AckEvent removes a delivered event from the outbox; an absent one
	// is not an error.
	AckEvent(ctx context.Context, id string) error
}

// Handler publishes the outbox events of DynamoDB Stream batches.
type Handler struct {
	events registry.Events
	outbox Outbox
	log    *slog.Logger
}

// New returns a Handler publishing through ev and acking in outbox,
// logging to log (slog.Default() if nil).
func New(ev registry.Events, outbox Outbox, log *slog.Logger) (*Handler, error) {
	if ev == nil || outbox == nil {
		return nil, errors.New("streampub: a publisher and an outbox are required")
	}
	if log == nil {
		log = slog.Default()
	}
	return &Handler{events: ev, outbox: outbox, log: log}, nil
}

// failedIDs is implemented by publish errors that name the events not
// published (eventbridge.PublishError); any other error fails them all.
type failedIDs interface{ FailedIDs() []string }

// Handle publishes the outbox events of batch and acks them. It returns
// the records that failed in BatchItemFailures, and an error only when the
// outbox cannot be read (the whole batch is then retried).
func (h *Handler) Handle(ctx context.Context, batch events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	resp := events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{}}
	fail := func(seq string) {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: seq})
	}
	var order []registry.Event    // first record of each event, in stream order
	seqs := map[string][]string{} // event id → its records' sequence numbers
	for i, r := range batch.Records {
		e, ok, err := outboxEvent(r)
		if err != nil {
			h.log.ErrorContext(ctx, "stream publisher: corrupt outbox record",
				"record", i, "event_id", r.EventID, "sequence_number", r.Change.SequenceNumber, "error", err)
			fail(r.Change.SequenceNumber)
			continue
		}
		if !ok {
			continue
		}
		if _, dup := seqs[e.ID]; !dup {
			order = append(order, e)
		}
		seqs[e.ID] = append(seqs[e.ID], r.Change.SequenceNumber)
	}
	if len(order) == 0 {
		return resp, nil
	}
	ids := make([]string, len(order))
	for i, e := range order {
		ids[i] = e.ID
	}
	pending, err := h.outbox.EventsInOutbox(ctx, ids)
	if err != nil {
		return events.DynamoDBEventResponse{}, fmt.Errorf("stream publisher: read outbox: %w", err)
	}
	var todo []registry.Event
	for _, e := range order {
		if pending[e.ID] {
			todo = append(todo, e)
		} else {
			h.log.InfoContext(ctx, "stream publisher: already delivered", "event_id", e.ID, "type", e.Type)
		}
	}
	if len(todo) == 0 {
		return resp, nil
	}
	failed := map[string]bool{}
	if err := h.events.Publish(ctx, todo); err != nil {
		var f failedIDs
		if errors.As(err, &f) {
			for _, id := range f.FailedIDs() {
				failed[id] = true
			}
		} else {
			for _, e := range todo {
				failed[e.ID] = true
			}
		}
		h.log.WarnContext(ctx, "stream publisher: publish failed", "events", len(todo), "failed", len(failed), "error", err)
	}
	for _, e := range todo {
		if !failed[e.ID] {
			if err := h.outbox.AckEvent(ctx, e.ID); err != nil {
				h.log.WarnContext(ctx, "stream publisher: ack failed", "event_id", e.ID, "error", err)
				failed[e.ID] = true
			}
		}
		if failed[e.ID] {
			for _, s := range seqs[e.ID] {
				fail(s)
			}
		}
	}
	return resp, nil
}

// outboxEvent returns the event of an INSERT of an outbox item; ok false
// for any other record; an error if the record is an outbox item that
// cannot be decoded.
func outboxEvent(r events.DynamoDBEventRecord) (registry.Event, bool, error) {
	if r.EventName != string(events.DynamoDBOperationTypeInsert) {
		return registry.Event{}, false, nil
	}
	img := r.Change.NewImage
	kind, ok := img[dynamodb.AttrKind]
	if !ok || kind.DataType() != events.DataTypeString || kind.String() != dynamodb.KindEvent {
		return registry.Event{}, false, nil
	}
	if r.Change.SequenceNumber == "" {
		return registry.Event{}, false, errors.New("no sequence number")
	}
	attr, ok := img[dynamodb.AttrEvent]
	if !ok || attr.DataType() != events.DataTypeString {
		return registry.Event{}, false, fmt.Errorf("no string attribute %q in the new image (is the stream view NEW_IMAGE?)", dynamodb.AttrEvent)
	}
	var e registry.Event
	if err := json.Unmarshal([]byte(attr.String()), &e); err != nil {
		return registry.Event{}, false, fmt.Errorf("attribute %q: %w", dynamodb.AttrEvent, err)
	}
	if e.ID == "" || e.Type == "" {
		return registry.Event{}, false, fmt.Errorf("attribute %q: event without id or detail-type", dynamodb.AttrEvent)
	}
	if pk, ok := img[dynamodb.AttrPK]; ok && pk.DataType() == events.DataTypeString && !strings.HasSuffix(pk.String(), "#"+e.ID) {
		return registry.Event{}, false, fmt.Errorf("event %q is stored under key %q", e.ID, pk.String())
	}
	e.Time = e.Time.UTC()
	return e, true, nil
}
