package dynamodb

import (
	"context"
	"errors"
	"strings"

	"github.com/modelreg/modelreg/shared/dynamodb/wire"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/tracking"
)

var _ tracking.Store = (*Store)(nil)

// Tracking records (package tracking) are two items each, written in one
// transaction: the record, TR#<kind>#<id> / TRACK, read by Get, and its
// listing entry, TL#<kind>#<parent> / <sort>\x01<id>, a copy that List
// reads with one strongly consistent Query of the parent's partition.
const (
	kindTracking      = "tracking"
	kindTrackingEntry = "tracking_entry"
	skTracking        = "TRACK"
)

func trackingKey(kind, id string) itemKey { return itemKey{"TR#" + kind + "#" + id, skTracking} }
func trackingEntryKey(kind, parent, sort, id string) itemKey {
	return itemKey{"TL#" + kind + "#" + parent, sort + "\x01" + id}
}

// Write writes tracking records atomically (tracking.Store).
func (s *Store) Write(ctx context.Context, recs ...tracking.Record) error {
	if err := tracking.CheckWrite(recs); err != nil {
		return err
	}
	for _, r := range recs {
		if len(r.ID)+len(r.Sort) > 1000 || strings.ContainsRune(r.Sort, '\x01') {
			return registry.Errorf(registry.Invalid, "tracking record %s: id and sort too long together, or sort holds \\x01", r.Kind)
		}
	}
	var acts []wire.TransactWriteItem
	for _, r := range recs {
		body := r.Body
		if body == nil {
			body = []byte{}
		}
		attrs := func(k itemKey, kind string) item {
			m := k.av()
			m[AttrKind] = wire.S(kind)
			m["tkind"] = wire.S(r.Kind)
			m["tid"] = wire.S(r.ID)
			m["parent"] = wire.S(r.Parent)
			m["sort"] = wire.S(r.Sort)
			m["revision"] = numAV(r.Revision)
			m["body"] = wire.B(body)
			return m
		}
		put := &wire.Put{TableName: s.table, Item: attrs(trackingKey(r.Kind, r.ID), kindTracking),
			ExpressionAttributeNames: map[string]string{"#p": "parent", "#s": "sort"},
			ExpressionAttributeValues: item{
				":p": wire.S(r.Parent), ":s": wire.S(r.Sort)}}
		switch {
		case r.Revision == 1:
			put.ConditionExpression = "attribute_not_exists(pk)"
			put.ExpressionAttributeNames, put.ExpressionAttributeValues = nil, nil
		case r.Revision > 1:
			put.ConditionExpression = "#r = :r AND #p = :p AND #s = :s"
			put.ExpressionAttributeNames["#r"] = "revision"
			put.ExpressionAttributeValues[":r"] = numAV(r.Revision - 1)
		default:
			put.ConditionExpression = "attribute_not_exists(pk) OR (#p = :p AND #s = :s)"
		}
		put.ReturnValuesOnConditionCheckFailure = wire.ReturnValuesAllOld
		acts = append(acts, wire.TransactWriteItem{Put: put},
			wire.TransactWriteItem{Put: &wire.Put{TableName: s.table, Item: attrs(trackingEntryKey(r.Kind, r.Parent, r.Sort, r.ID), kindTrackingEntry)}})
	}
	token := registry.RandomToken(16)
	for attempt := 1; ; attempt++ {
		_, err := s.client.TransactWriteItems(ctx, &wire.TransactWriteItemsInput{TransactItems: acts, ClientRequestToken: token})
		if err == nil {
			return nil
		}
		var tce *wire.TransactionCanceledError
		retry := retryable(err)
		if errors.As(err, &tce) {
			retry = false
			for i, reason := range tce.Reasons {
				code := reason.Code
				switch {
				case code == "ConditionalCheckFailed" && i%2 == 0:
					r := recs[i/2]
					if old := reason.Item; old != nil && (str(old, "parent") != r.Parent || str(old, "sort") != r.Sort) {
						return registry.Errorf(registry.Invalid, "%s %s: parent and sort never change", r.Kind, r.ID)
					}
					return registry.Wrap(registry.Conflict, registry.ErrStale, "%s %s exists or changed", r.Kind, r.ID)
				case retryableCodes[code]:
					retry = true
				}
			}
		}
		if !retry {
			return translate(err, "tracking write")
		}
		if attempt >= s.attempts {
			return registry.Wrap(registry.Unavailable, err, "too many concurrent writes; retry")
		}
		if err := s.backoff(ctx, attempt); err != nil {
			return err
		}
	}
}

func trackingRecord(m item) tracking.Record {
	r := tracking.Record{Kind: str(m, "tkind"), ID: str(m, "tid"), Parent: str(m, "parent"), Sort: str(m, "sort"), Revision: num(m, "revision")}
	if b, ok := m["body"].AsB(); ok {
		r.Body = b
	}
	return r
}

// Get returns one tracking record (tracking.Store): a strongly consistent
// GetItem. NotFound.
func (s *Store) Get(ctx context.Context, kind, id string) (tracking.Record, error) {
	if kind == "" || id == "" {
		return tracking.Record{}, registry.Errorf(registry.NotFound, "%s %q not found", kind, id)
	}
	m, err := s.getItem(ctx, trackingKey(kind, id), kind+" "+id)
	if err != nil {
		return tracking.Record{}, err
	}
	if m == nil {
		return tracking.Record{}, registry.Errorf(registry.NotFound, "%s %q not found", kind, id)
	}
	return trackingRecord(m), nil
}

// List returns tracking records of kind under parent (tracking.Store): one
// strongly consistent Query of the parent's listing partition, the page
// plus one.
func (s *Store) List(ctx context.Context, kind, parent, cursor string, limit int) (registry.Page[tracking.Record], error) {
	if limit < 1 || limit > 1000 {
		return registry.Page[tracking.Record]{}, registry.Errorf(registry.Invalid, "limit %d is out of range 1..1000", limit)
	}
	pk := "TL#" + kind + "#" + parent
	scope := scopeOf("tracking", kind, parent)
	in := &wire.QueryInput{
		TableName:                 s.table,
		KeyConditionExpression:    "pk = :pk",
		ExpressionAttributeValues: item{":pk": wire.S(pk)},
		ConsistentRead:            true,
		Limit:                     int32(limit + 1),
	}
	if cursor != "" {
		after, err := decodeCursor(cursor, scope)
		if err != nil {
			return registry.Page[tracking.Record]{}, err
		}
		in.ExclusiveStartKey = itemKey{pk, after}.av()
	}
	var out registry.Page[tracking.Record]
	for {
		res, err := s.client.Query(ctx, in)
		if err != nil {
			return registry.Page[tracking.Record]{}, translate(err, "tracking list %s", kind)
		}
		for _, m := range res.Items {
			out.Items = append(out.Items, trackingRecord(m))
		}
		if len(out.Items) > limit || res.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
		in.Limit = int32(limit + 1 - len(out.Items))
	}
	if len(out.Items) > limit {
		out.Items = out.Items[:limit]
		last := out.Items[limit-1]
		out.Next = encodeCursor(scope, last.Sort+"\x01"+last.ID)
	}
	return out, nil
}
