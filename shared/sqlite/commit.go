package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/modelreg/modelreg/shared/failpoint"
	"github.com/modelreg/modelreg/shared/registry"
)

// Commit writes ch in one transaction (see registry.Change). It checks the
// idempotency key first, then makes each write conditional on the
// revision it expects; the first failed condition rolls everything back
// and returns a Conflict wrapping registry.ErrDuplicateRequest or
// registry.ErrStale.
func (s *Store) Commit(ctx context.Context, ch *registry.Change) error {
	if ch == nil {
		return registry.Errorf(registry.Invalid, "commit: nil change")
	}
	if err := registry.ValidateModelChecks(ch); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see dsn)
	if err != nil {
		return dbError(err, "commit: begin")
	}
	defer tx.Rollback() // after Commit: sql.ErrTxDone, ignored

	c := &committer{ctx: ctx, tx: tx, stmts: map[string]*sql.Stmt{}}
	if err := c.apply(ch); err != nil {
		return err
	}
	failpoint.Hit(failpoint.StoreBeforeCommit)
	if err := tx.Commit(); err != nil {
		return dbError(err, "commit")
	}
	failpoint.Hit(failpoint.StoreAfterCommit)
	return nil
}

// committer writes one Change inside its transaction. Statements are
// prepared once per Change, so a Change of a thousand versions parses
// each statement once.
type committer struct {
	ctx   context.Context
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

func (c *committer) apply(ch *registry.Change) error {
	idem := idempotencyRecords(ch)
	keys := map[string]bool{}
	for _, rec := range idem {
		if keys[rec.Key] {
			return registry.Errorf(registry.Invalid, "commit: two idempotency records with key %q", rec.Key)
		}
		keys[rec.Key] = true
		if err := c.checkIdempotency(rec); err != nil {
			return err
		}
	}
	for _, mc := range ch.CheckedModels {
		if err := c.checkModel(mc); err != nil {
			return err
		}
	}
	for _, m := range ch.Models {
		body, err := encode(toModelRecord(m))
		if err != nil {
			return err
		}
		if err := c.put("model "+m.Name, m.Revision,
			`INSERT INTO models (name, revision, body) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			[]any{m.Name, m.Revision, body},
			`UPDATE models SET revision = ?, body = ? WHERE name = ? AND revision = ?`,
			[]any{m.Revision, body, m.Name, m.Revision - 1}); err != nil {
			return err
		}
	}
	for _, m := range ch.DeletedModels {
		if err := c.delete("model "+m.Name, m.Revision,
			`DELETE FROM models WHERE name = ? AND revision = ?`, m.Name, m.Revision); err != nil {
			return err
		}
	}
	for _, v := range ch.DeletedVersions {
		key := fmt.Sprintf("version %s/%d", v.Model, v.Number)
		if err := c.delete(key, v.Revision,
			`DELETE FROM versions WHERE model = ? AND number = ? AND revision = ?`, v.Model, v.Number, v.Revision); err != nil {
			return err
		}
		if _, err := c.exec(`DELETE FROM version_tags WHERE model = ? AND number = ?`, v.Model, v.Number); err != nil {
			return dbError(err, "commit: delete %s tags", key)
		}
	}
	for _, v := range ch.Versions {
		if err := c.putVersion(v); err != nil {
			return err
		}
	}
	for _, a := range ch.Aliases {
		body, err := encode(toAliasRecord(a))
		if err != nil {
			return err
		}
		if err := c.put("alias "+a.Model+"/"+a.Name, a.Revision,
			`INSERT INTO aliases (model, name, revision, body) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			[]any{a.Model, a.Name, a.Revision, body},
			`UPDATE aliases SET revision = ?, body = ? WHERE model = ? AND name = ? AND revision = ?`,
			[]any{a.Revision, body, a.Model, a.Name, a.Revision - 1}); err != nil {
			return err
		}
	}
	for _, a := range ch.DeletedAliases {
		if err := c.delete("alias "+a.Model+"/"+a.Name, a.Revision,
			`DELETE FROM aliases WHERE model = ? AND name = ? AND revision = ?`, a.Model, a.Name, a.Revision); err != nil {
			return err
		}
	}
	for _, a := range ch.Approvals {
		body, err := encode(toApprovalRecord(a))
		if err != nil {
			return err
		}
		created := timeKey(a.CreatedAt)
		if err := c.put("approval "+a.ID, a.Revision,
			`INSERT INTO approvals (id, revision, model, status, created_at, body) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			[]any{a.ID, a.Revision, a.Model, string(a.Status), created, body},
			`UPDATE approvals SET revision = ?, model = ?, status = ?, created_at = ?, body = ? WHERE id = ? AND revision = ?`,
			[]any{a.Revision, a.Model, string(a.Status), created, body, a.ID, a.Revision - 1}); err != nil {
			return err
		}
	}
	for _, e := range ch.Executions {
		body, err := encode(toExecutionRecord(e))
		if err != nil {
			return err
		}
		started := timeKey(e.StartedAt)
		if err := c.put("execution "+e.ID, e.Revision,
			`INSERT INTO executions (id, revision, status, started_at, body) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			[]any{e.ID, e.Revision, string(e.Status), started, body},
			`UPDATE executions SET revision = ?, status = ?, started_at = ?, body = ? WHERE id = ? AND revision = ?`,
			[]any{e.Revision, string(e.Status), started, body, e.ID, e.Revision - 1}); err != nil {
			return err
		}
	}
	for _, u := range ch.Uploads {
		body, err := encode(toUploadRecord(u))
		if err != nil {
			return err
		}
		sweepAt := uploadSweepKey(u)
		if err := c.put("upload "+u.ID, u.Revision,
			`INSERT INTO uploads (id, revision, body, sweep_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			[]any{u.ID, u.Revision, body, sweepAt},
			`UPDATE uploads SET revision = ?, body = ?, sweep_at = ? WHERE id = ? AND revision = ?`,
			[]any{u.Revision, body, sweepAt, u.ID, u.Revision - 1}); err != nil {
			return err
		}
	}
	if err := c.applyDeploy(ch); err != nil {
		return err
	}
	for _, a := range ch.DeletedAudit {
		n, err := c.exec(`DELETE FROM audit WHERE id = ? AND model = ?`, a.ID, a.Model)
		if err != nil {
			return dbError(err, "commit: delete audit entry %s", a.ID)
		}
		if n == 0 {
			return stale("audit entry %s of %s does not exist", a.ID, a.Model)
		}
	}
	for _, a := range ch.Audit {
		body, err := encode(toAuditRecord(a))
		if err != nil {
			return err
		}
		n, err := c.exec(`INSERT INTO audit (id, model, version, action, stage_from, stage_to, at, body)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			a.ID, a.Model, a.Version, string(a.Action), string(a.From), string(a.To), timeKey(a.At), body)
		if err != nil {
			return dbError(err, "commit: append audit entry %s", a.ID)
		}
		if n == 0 {
			return stale("audit entry %s already exists", a.ID)
		}
	}
	for _, e := range ch.Events {
		body, err := encode(toEventRecord(e))
		if err != nil {
			return err
		}
		at := timeKey(e.Time)
		n, err := c.exec(`INSERT INTO outbox (id, event_time, next_attempt_at, attempts, last_error, body)
			VALUES (?, ?, ?, 0, '', ?) ON CONFLICT DO NOTHING`, e.ID, at, at, body)
		if err != nil {
			return dbError(err, "commit: add event %s to the outbox", e.ID)
		}
		if n == 0 {
			return stale("event %s is already in the outbox", e.ID)
		}
	}
	for _, rec := range idem {
		if err := c.putIdempotency(rec); err != nil {
			return err
		}
	}
	return nil
}

// idempotencyRecords returns the Change's idempotency records.
func idempotencyRecords(ch *registry.Change) []registry.IdempotencyRecord {
	if ch.Idempotency == nil {
		return ch.MoreIdempotency
	}
	return append([]registry.IdempotencyRecord{*ch.Idempotency}, ch.MoreIdempotency...)
}

// putVersion writes a version with its filter columns and its tags.
func (c *committer) putVersion(v registry.Version) error {
	body, err := encode(toVersionRecord(v))
	if err != nil {
		return err
	}
	key := fmt.Sprintf("version %s/%d", v.Model, v.Number)
	l := v.Lineage
	if err := c.put(key, v.Revision,
		`INSERT INTO versions (model, number, revision, stage, status, git_commit, dataset_id, run_id, body)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		[]any{v.Model, v.Number, v.Revision, string(v.Stage), string(v.Status), l.Code.Commit, l.Data.DatasetID, l.Run.RunID, body},
		`UPDATE versions SET revision = ?, stage = ?, status = ?, git_commit = ?, dataset_id = ?, run_id = ?, body = ?
			WHERE model = ? AND number = ? AND revision = ?`,
		[]any{v.Revision, string(v.Stage), string(v.Status), l.Code.Commit, l.Data.DatasetID, l.Run.RunID, body,
			v.Model, v.Number, v.Revision - 1}); err != nil {
		return err
	}
	if v.Revision > 1 {
		if _, err := c.exec(`DELETE FROM version_tags WHERE model = ? AND number = ?`, v.Model, v.Number); err != nil {
			return dbError(err, "commit: write %s tags", key)
		}
	}
	// Sorted, so the same version always writes its rows in the same order.
	keys := make([]string, 0, len(v.Tags))
	for k := range v.Tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if _, err := c.exec(`INSERT INTO version_tags (model, number, key, value) VALUES (?, ?, ?, ?)`,
			v.Model, v.Number, k, v.Tags[k]); err != nil {
			return dbError(err, "commit: write %s tags", key)
		}
	}
	return nil
}

// put creates a record (rev 1: insert unless it exists) or updates it
// (rev n: only if the stored revision is n-1). A row not written means a
// failed condition: Conflict wrapping ErrStale.
func (c *committer) put(key string, rev int64, insert string, insertArgs []any, update string, updateArgs []any) error {
	var n int64
	var err error
	switch {
	case rev < 1:
		return registry.Errorf(registry.Invalid, "commit: %s has revision %d; revisions start at 1", key, rev)
	case rev == 1:
		n, err = c.exec(insert, insertArgs...)
	default:
		n, err = c.exec(update, updateArgs...)
	}
	if err != nil {
		return dbError(err, "commit: write %s", key)
	}
	if n == 0 {
		if rev == 1 {
			return stale("%s already exists", key)
		}
		return stale("%s is not at revision %d", key, rev-1)
	}
	return nil
}

// checkModel fails stale unless model mc.Name is stored at mc.Revision.
// Inside the write transaction (BEGIN IMMEDIATE), the row cannot change
// before the commit.
func (c *committer) checkModel(mc registry.ModelCheck) error {
	var rev int64
	err := c.tx.QueryRowContext(c.ctx, `SELECT revision FROM models WHERE name = ?`, mc.Name).Scan(&rev)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return stale("model %s is not at revision %d (deleted by someone else)", mc.Name, mc.Revision)
	case err != nil:
		return dbError(err, "commit: check model %s", mc.Name)
	case rev != mc.Revision:
		return stale("model %s is not at revision %d (changed by someone else)", mc.Name, mc.Revision)
	}
	return nil
}

// delete deletes a record stored at revision rev.
func (c *committer) delete(key string, rev int64, query string, args ...any) error {
	n, err := c.exec(query, args...)
	if err != nil {
		return dbError(err, "commit: delete %s", key)
	}
	if n == 0 {
		return stale("%s is not at revision %d", key, rev)
	}
	return nil
}

// checkIdempotency refuses the Change when an unexpired record has its
// key. "Unexpired" is judged at the new record's CreatedAt, the service's
// clock (the Change carries no other notion of now).
func (c *committer) checkIdempotency(rec registry.IdempotencyRecord) error {
	if rec.Key == "" {
		return registry.Errorf(registry.Invalid, "commit: idempotency record without a key")
	}
	now := rec.CreatedAt
	if now.IsZero() {
		now = time.Now()
	}
	var one int
	err := c.tx.QueryRowContext(c.ctx, `SELECT 1 FROM idempotency WHERE key = ? AND expires_at >= ?`,
		rec.Key, timeKey(now)).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return dbError(err, "commit: check idempotency key")
	}
	return registry.Wrap(registry.Conflict, registry.ErrDuplicateRequest, "a request with this idempotency key was already made")
}

// putIdempotency stores rec (replacing an expired record of the same key)
// and drops a few other expired records, so the table does not grow
// without bound.
func (c *committer) putIdempotency(rec registry.IdempotencyRecord) error {
	body, err := encode(toIdempotencyRecord(rec))
	if err != nil {
		return err
	}
	if _, err := c.exec(`INSERT INTO idempotency (key, expires_at, body) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at, body = excluded.body`,
		rec.Key, timeKey(rec.ExpiresAt), body); err != nil {
		return dbError(err, "commit: store idempotency record")
	}
	now := rec.CreatedAt
	if now.IsZero() {
		now = time.Now()
	}
	if _, err := c.exec(`DELETE FROM idempotency WHERE key IN
		(SELECT key FROM idempotency WHERE expires_at < ? AND key <> ? LIMIT 16)`, timeKey(now), rec.Key); err != nil {
		return dbError(err, "commit: drop expired idempotency records")
	}
	return nil
}

// exec runs query (prepared once per Change) and returns the number of
// rows it changed.
func (c *committer) exec(query string, args ...any) (int64, error) {
	st, ok := c.stmts[query]
	if !ok {
		var err error
		if st, err = c.tx.PrepareContext(c.ctx, query); err != nil {
			return 0, err
		}
		c.stmts[query] = st
	}
	res, err := st.ExecContext(c.ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func stale(format string, args ...any) error {
	return registry.Wrap(registry.Conflict, registry.ErrStale, format, args...)
}

func encode(rec any) ([]byte, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("commit: encode %T: %w", rec, err)
	}
	return b, nil
}
