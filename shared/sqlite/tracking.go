package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/tracking"
)

var _ tracking.Store = (*Store)(nil)

// Write writes tracking records atomically (tracking.Store).
func (s *Store) Write(ctx context.Context, recs ...tracking.Record) error {
	if err := tracking.CheckWrite(recs); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return dbError(err, "tracking write: begin")
	}
	defer tx.Rollback()
	for _, r := range recs {
		var rev int64
		var parent, sort string
		err := tx.QueryRowContext(ctx, `SELECT revision, parent, sort FROM tracking WHERE kind = ? AND id = ?`, r.Kind, r.ID).Scan(&rev, &parent, &sort)
		exists := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return dbError(err, "tracking write: read %s %s", r.Kind, r.ID)
		}
		if exists && (parent != r.Parent || sort != r.Sort) {
			return registry.Errorf(registry.Invalid, "%s %s: parent and sort never change", r.Kind, r.ID)
		}
		switch {
		case r.Revision == 1 && exists:
			return registry.Wrap(registry.Conflict, registry.ErrStale, "%s %s exists", r.Kind, r.ID)
		case r.Revision > 1 && (!exists || rev != r.Revision-1):
			return registry.Wrap(registry.Conflict, registry.ErrStale, "%s %s changed or is missing", r.Kind, r.ID)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO tracking (kind, id, parent, sort, revision, body) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (kind, id) DO UPDATE SET revision = excluded.revision, body = excluded.body`,
			r.Kind, r.ID, r.Parent, r.Sort, r.Revision, append([]byte{}, r.Body...)); err != nil {
			return dbError(err, "tracking write: %s %s", r.Kind, r.ID)
		}
	}
	return dbError(tx.Commit(), "tracking write: commit")
}

// Get returns one tracking record (tracking.Store). NotFound.
func (s *Store) Get(ctx context.Context, kind, id string) (tracking.Record, error) {
	r := tracking.Record{Kind: kind, ID: id}
	err := s.r.QueryRowContext(ctx, `SELECT parent, sort, revision, body FROM tracking WHERE kind = ? AND id = ?`, kind, id).
		Scan(&r.Parent, &r.Sort, &r.Revision, &r.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return tracking.Record{}, registry.Errorf(registry.NotFound, "%s %q not found", kind, id)
	}
	if err != nil {
		return tracking.Record{}, dbError(err, "tracking get %s %s", kind, id)
	}
	return r, nil
}

type trackingCursor struct {
	Sort string `json:"s"`
	ID   string `json:"i"`
}

// List returns tracking records of kind under parent (tracking.Store).
func (s *Store) List(ctx context.Context, kind, parent, cursor string, limit int) (registry.Page[tracking.Record], error) {
	if limit < 1 || limit > 1000 {
		return registry.Page[tracking.Record]{}, registry.Errorf(registry.Invalid, "limit %d is out of range 1..1000", limit)
	}
	var after *trackingCursor
	if cursor != "" {
		after = &trackingCursor{}
		if err := decodeCursor(cursor, after, func() bool { return after.ID != "" }); err != nil {
			return registry.Page[tracking.Record]{}, err
		}
	}
	q := `SELECT id, sort, revision, body FROM tracking WHERE kind = ? AND parent = ?`
	args := []any{kind, parent}
	if after != nil {
		q += ` AND (sort > ? OR (sort = ? AND id > ?))`
		args = append(args, after.Sort, after.Sort, after.ID)
	}
	q += ` ORDER BY sort, id LIMIT ?`
	args = append(args, limit+1)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return registry.Page[tracking.Record]{}, dbError(err, "tracking list %s", kind)
	}
	defer rows.Close()
	var out registry.Page[tracking.Record]
	for rows.Next() {
		r := tracking.Record{Kind: kind, Parent: parent}
		if err := rows.Scan(&r.ID, &r.Sort, &r.Revision, &r.Body); err != nil {
			return registry.Page[tracking.Record]{}, dbError(err, "tracking list %s", kind)
		}
		out.Items = append(out.Items, r)
	}
	if err := rows.Err(); err != nil {
		return registry.Page[tracking.Record]{}, dbError(err, "tracking list %s", kind)
	}
	if len(out.Items) > limit {
		out.Items = out.Items[:limit]
		last := out.Items[limit-1]
		out.Next = encodeCursor(trackingCursor{last.Sort, last.ID})
	}
	return out, nil
}
