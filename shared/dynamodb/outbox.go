package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/modelreg/modelreg/shared/dynamodb/wire"
	"github.com/modelreg/modelreg/shared/registry"
)

// PendingEvents returns up to limit outbox records whose NextAttemptAt is
// at or before now, oldest (event time, then ID) first. It reads the keys
// of every due event from index gsi1 (partition OUTBOX, sorted by next
// attempt; the event time and id are in the sort key), orders them, and
// reads the first limit with a consistent BatchGetItem. Keys are about
// 100 bytes: a backlog of N due events costs about N/80 read units.
func (s *Store) PendingEvents(ctx context.Context, now time.Time, limit int) ([]registry.OutboxRecord, error) {
	if limit < 1 {
		return nil, registry.Errorf(registry.Invalid, "pending events: limit %d: want at least 1", limit)
	}
	type due struct {
		order string // event time#id
		entry item
	}
	var all []due
	in := &wire.QueryInput{
		TableName: s.table, IndexName: gsiName(1),
		KeyConditionExpression:   "#p = :p AND #s < :b",
		ExpressionAttributeNames: map[string]string{"#p": gsiPK(1), "#s": gsiSK(1)},
		ExpressionAttributeValues: item{
			":p": wire.S(outboxPartition),
			":b": wire.S(afterTime(now)),
		},
	}
	for {
		out, err := s.client.Query(ctx, in)
		if err != nil {
			return nil, translate(err, "pending events")
		}
		for _, m := range out.Items {
			// next#time#id, each time fixed width
			sk := str(m, gsiSK(1))
			if len(sk) < 2*len(timeKeyLayout)+2 {
				continue
			}
			all = append(all, due{order: sk[len(timeKeyLayout)+1:], entry: m})
		}
		if out.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	slices.SortFunc(all, func(a, b due) int { return strings.Compare(a.order, b.order) })
	recs := []registry.OutboxRecord{}
	for len(all) > 0 && len(recs) < limit {
		n := min(len(all), limit-len(recs))
		entries := make([]item, n)
		for i := range n {
			entries[i] = all[i].entry
		}
		all = all[n:]
		items, err := s.fetch(ctx, entries, nil)
		if err != nil {
			return nil, err
		}
		for _, m := range items {
			if m == nil {
				continue // acked since the index saw it
			}
			r, err := decodeRecord[eventItem, registry.OutboxRecord](m)
			if err != nil {
				return nil, err
			}
			if !r.NextAttemptAt.After(now) {
				recs = append(recs, r)
			}
		}
	}
	return recs, nil
}

// AckEvent removes a delivered event from the outbox (DeleteItem); an
// absent one is not an error.
func (s *Store) AckEvent(ctx context.Context, id string) error {
	_, err := s.client.DeleteItem(ctx, &wire.DeleteItemInput{TableName: s.table, Key: itemKey{eventPK(id), skEvent}.av()})
	return translate(err, "ack event %s", id)
}

// EventsInOutbox reports which of ids are still in the outbox, that is
// not yet acknowledged, with one strongly consistent BatchGetItem per 100
// ids. A DynamoDB Streams consumer uses it to skip events it
// has already delivered and acked when the stream delivers them again.
// Unavailable if DynamoDB stays busy.
func (s *Store) EventsInOutbox(ctx context.Context, ids []string) (map[string]bool, error) {
	keys := make([]itemKey, len(ids))
	for i, id := range ids {
		keys[i] = itemKey{eventPK(id), skEvent}
	}
	found, err := s.batchGet(ctx, keys)
	if err != nil {
		return nil, err
	}
	in := make(map[string]bool, len(ids))
	for i, id := range ids {
		if found[keys[i]] != nil {
			in[id] = true
		}
	}
	return in, nil
}

// DeferEvent records a failed delivery of event id: one more attempt,
// lastErr, and the next attempt at next. It reads the record (for the
// event time in its index key), then updates it on condition that no one
// else did meanwhile. NotFound if it is not in the outbox.
func (s *Store) DeferEvent(ctx context.Context, id string, next time.Time, lastErr string) error {
	k := itemKey{eventPK(id), skEvent}
	for attempt := 1; ; attempt++ {
		m, err := s.getItem(ctx, k, "event "+id)
		if err != nil {
			return err
		}
		if m == nil {
			return registry.Errorf(registry.NotFound, "event %q is not in the outbox", id)
		}
		it, err := decode[eventItem](m)
		if err != nil {
			return err
		}
		n := timeKey(next)
		_, err = s.client.UpdateItem(ctx, &wire.UpdateItemInput{
			TableName: s.table, Key: k.av(),
			UpdateExpression:    "SET #att = :att, #err = :err, #next = :next, #sk = :sk",
			ConditionExpression: "attribute_exists(#pk) AND #att = :old",
			ExpressionAttributeNames: map[string]string{
				"#pk": AttrPK, "#att": "attempts", "#err": "last_error", "#next": "next_attempt_at", "#sk": gsiSK(1),
			},
			ExpressionAttributeValues: item{
				":att": numAV(int64(it.Attempts + 1)), ":old": numAV(int64(it.Attempts)),
				":err": wire.S(lastErr), ":next": wire.S(n),
				":sk": wire.S(outboxSortKey(n, it.EventTime, it.EventID)),
			},
		})
		var ccf *wire.ConditionalCheckFailedError
		if !errors.As(err, &ccf) || attempt >= s.attempts {
			return translate(err, "defer event %s", id)
		}
		// Acked or deferred by someone else meanwhile: look again.
	}
}

// GetIdempotency returns the record stored under key unless it expired
// before now (GetItem, consistent; TTL deletes expired records lazily, so
// the expiry is checked here). NotFound otherwise.
func (s *Store) GetIdempotency(ctx context.Context, key string, now time.Time) (registry.IdempotencyRecord, error) {
	r, err := getRecord[idempotencyItem, registry.IdempotencyRecord](ctx, s, itemKey{idempotencyPK(key), skIdempotency}, "idempotency record",
		func() error {
			return registry.Errorf(registry.NotFound, "no response stored under this idempotency key")
		})
	if err != nil {
		return registry.IdempotencyRecord{}, err
	}
	if r.Key != key || r.ExpiresAt.Before(now) {
		return registry.IdempotencyRecord{}, registry.Errorf(registry.NotFound, "no response stored under this idempotency key")
	}
	return r, nil
}

// eventItem is an outbox record. Event is the event's JSON exactly as it
// is published (registry.Event: id, detail-type, source, time, detail).
type eventItem struct {
	itemKeys
	EventID       string `dynamodbav:"event_id"`
	EventTime     string `dynamodbav:"event_time"`
	Event         string `dynamodbav:"event"`
	Attempts      int    `dynamodbav:"attempts"`
	NextAttemptAt string `dynamodbav:"next_attempt_at"`
	LastError     string `dynamodbav:"last_error,omitempty"`
}

func toEventItem(e registry.Event) (eventItem, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return eventItem{}, fmt.Errorf("encode event %s: %w", e.ID, err)
	}
	at := timeKey(e.Time)
	return eventItem{
		itemKeys: itemKeys{PK: eventPK(e.ID), SK: skEvent, Kind: kindEvent, GSI1PK: outboxPartition, GSI1SK: outboxSortKey(at, at, e.ID)},
		EventID:  e.ID, EventTime: at, Event: string(b), NextAttemptAt: at,
	}, nil
}

// outboxSortKey orders the outbox index by next attempt; the event time
// and id in it let PendingEvents order due events without reading them.
func outboxSortKey(next, eventTime, id string) string { return next + "#" + eventTime + "#" + id }

func (it eventItem) record() (registry.OutboxRecord, error) {
	var p timeParser
	var e registry.Event
	if err := json.Unmarshal([]byte(it.Event), &e); err != nil {
		return registry.OutboxRecord{}, corrupt("event "+it.EventID, err)
	}
	e.Time = e.Time.UTC()
	r := registry.OutboxRecord{Event: e, Attempts: it.Attempts, NextAttemptAt: p.time(it.NextAttemptAt), LastError: it.LastError}
	return r, p.err("event " + it.EventID)
}

// idempotencyItem is a stored response. Expires is the exact expiry (the
// Commit condition compares it); ExpiresAt, the TTL attribute, is the
// same time in epoch seconds rounded up, so DynamoDB never deletes a
// record before it expires.
type idempotencyItem struct {
	itemKeys
	Key         string `dynamodbav:"key"`
	RequestHash string `dynamodbav:"request_hash"`
	Response    []byte `dynamodbav:"response,omitempty"`
	CreatedAt   string `dynamodbav:"created_at"`
	Expires     string `dynamodbav:"expires"`
	ExpiresAt   int64  `dynamodbav:"expires_at"`
	// LegacyStatus and LegacyBody are how items written before responses
	// became opaque held the response; read, never written.
	LegacyStatus int    `dynamodbav:"status_code,omitempty"`
	LegacyBody   []byte `dynamodbav:"body,omitempty"`
}

func toIdempotencyItem(r registry.IdempotencyRecord) idempotencyItem {
	ttl := r.ExpiresAt.Unix()
	if r.ExpiresAt.Nanosecond() > 0 {
		ttl++
	}
	return idempotencyItem{
		itemKeys: itemKeys{PK: idempotencyPK(r.Key), SK: skIdempotency, Kind: kindIdempotency},
		Key:      r.Key, RequestHash: r.RequestHash, Response: r.Response,
		CreatedAt: timeKey(r.CreatedAt), Expires: timeKey(r.ExpiresAt), ExpiresAt: ttl,
	}
}

func (it idempotencyItem) record() (registry.IdempotencyRecord, error) {
	var p timeParser
	if it.Response == nil && it.LegacyStatus != 0 {
		it.Response = registry.LegacyIdempotencyResponse(it.LegacyStatus, it.LegacyBody)
	}
	r := registry.IdempotencyRecord{Key: it.Key, RequestHash: it.RequestHash, Response: it.Response,
		CreatedAt: p.time(it.CreatedAt), ExpiresAt: p.time(it.Expires)}
	return r, p.err("idempotency record")
}
