package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// PendingEvents returns up to limit outbox records whose NextAttemptAt is
// at or before now, oldest (Event.Time, then ID) first.
func (s *Store) PendingEvents(ctx context.Context, now time.Time, limit int) ([]registry.OutboxRecord, error) {
	if limit < 1 {
		return nil, registry.Errorf(registry.Invalid, "pending events: limit %d: want at least 1", limit)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT attempts, next_attempt_at, last_error, body FROM outbox
		WHERE next_attempt_at <= ? ORDER BY event_time, id LIMIT ?`, timeKey(now), limit)
	if err != nil {
		return nil, dbError(err, "pending events")
	}
	defer rows.Close()
	var out []registry.OutboxRecord
	for rows.Next() {
		var (
			rec   registry.OutboxRecord
			next  string
			body  []byte
			event eventRecord
		)
		if err := rows.Scan(&rec.Attempts, &next, &rec.LastError, &body); err != nil {
			return nil, dbError(err, "pending events")
		}
		if rec.NextAttemptAt, err = parseTimeKey(next); err != nil {
			return nil, fmt.Errorf("pending events: next attempt time %q: %w", next, err)
		}
		if err := json.Unmarshal(body, &event); err != nil {
			return nil, fmt.Errorf("pending events: decode: %w", err)
		}
		rec.Event = fromEventRecord(event)
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err, "pending events")
	}
	return out, nil
}

// AckEvent removes a delivered event from the outbox; an absent one is not
// an error.
func (s *Store) AckEvent(ctx context.Context, id string) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM outbox WHERE id = ?`, id)
	return dbError(err, "ack event %s", id)
}

// DeferEvent records a failed delivery of event id: one more attempt,
// lastErr, and the next attempt at next. NotFound if it is not in the
// outbox.
func (s *Store) DeferEvent(ctx context.Context, id string, next time.Time, lastErr string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?
		WHERE id = ?`, lastErr, timeKey(next), id)
	if err != nil {
		return dbError(err, "defer event %s", id)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return dbError(err, "defer event %s", id)
	}
	if n == 0 {
		return registry.Errorf(registry.NotFound, "event %q is not in the outbox", id)
	}
	return nil
}

// GetIdempotency returns the record stored under key unless it expired
// before now. NotFound otherwise.
func (s *Store) GetIdempotency(ctx context.Context, key string, now time.Time) (registry.IdempotencyRecord, error) {
	var body []byte
	err := s.r.QueryRowContext(ctx, `SELECT body FROM idempotency WHERE key = ? AND expires_at >= ?`,
		key, timeKey(now)).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return registry.IdempotencyRecord{}, registry.Errorf(registry.NotFound, "no response stored under this idempotency key")
	}
	if err != nil {
		return registry.IdempotencyRecord{}, dbError(err, "get idempotency record")
	}
	var rec idempotencyRecord
	if err := json.Unmarshal(body, &rec); err != nil {
		return registry.IdempotencyRecord{}, fmt.Errorf("get idempotency record: decode: %w", err)
	}
	return fromIdempotencyRecord(rec), nil
}
