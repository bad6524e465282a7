package sqlite

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// GetModel returns the model named name. NotFound.
func (s *Store) GetModel(ctx context.Context, name string) (registry.Model, error) {
	r, err := getBody[modelRecord](ctx, s.r, func() error { return registry.Errorf(registry.NotFound, "model %q not found", name) },
		"model "+name, `SELECT body FROM models WHERE name = ?`, name)
	return fromModelRecord(r), err
}

type nameCursor struct {
	Name string `json:"name"`
}

// ListModels returns models ordered by name (byte order). Invalid for a
// bad cursor or limit.
func (s *Store) ListModels(ctx context.Context, q registry.ModelQuery) (registry.Page[registry.Model], error) {
	if err := registry.CheckPageSize(q.Limit); err != nil {
		return registry.Page[registry.Model]{}, err
	}
	where, args := []string{"1"}, []any{}
	if q.Prefix != "" {
		where, args = append(where, "name >= ?"), append(args, q.Prefix)
		if end, ok := prefixEnd(q.Prefix); ok {
			where, args = append(where, "name < ?"), append(args, end)
		}
	}
	if q.Cursor != "" {
		var c nameCursor
		if err := decodeCursor(q.Cursor, &c, func() bool { return c.Name != "" }); err != nil {
			return registry.Page[registry.Model]{}, err
		}
		where, args = append(where, "name > ?"), append(args, c.Name)
	}
	items, err := scanBodies(ctx, s.r, fromModelRecord, "models",
		`SELECT body FROM models WHERE `+strings.Join(where, " AND ")+` ORDER BY name LIMIT ?`,
		append(args, q.Limit+1)...)
	return page(items, err, q.Limit, func(m registry.Model) any { return nameCursor{m.Name} })
}

// GetVersion returns version number of model. NotFound.
func (s *Store) GetVersion(ctx context.Context, model string, number int) (registry.Version, error) {
	r, err := getBody[versionRecord](ctx, s.r, func() error {
		return registry.Errorf(registry.NotFound, "version %d of model %q not found", number, model)
	},
		"version "+model+"/"+strconv.Itoa(number), `SELECT body FROM versions WHERE model = ? AND number = ?`, model, number)
	return fromVersionRecord(r), err
}

type numberCursor struct {
	Number int `json:"n"`
}

// ListVersions returns versions of q.Model, highest number first. Each
// filter is an index column (tags: the version_tags table), and the page
// is read backwards along (filter, number) from the cursor, so a page
// costs its size. Invalid for a bad cursor or limit.
func (s *Store) ListVersions(ctx context.Context, q registry.VersionQuery) (registry.Page[registry.Version], error) {
	query, args, err := versionsSQL(q)
	if err != nil {
		return registry.Page[registry.Version]{}, err
	}
	items, err := scanBodies(ctx, s.r, fromVersionRecord, "versions of "+q.Model, query, args...)
	return page(items, err, q.Limit, func(v registry.Version) any { return numberCursor{v.Number} })
}

// versionsSQL returns the statement that reads one page (plus one row) of
// q.
func versionsSQL(q registry.VersionQuery) (string, []any, error) {
	if err := registry.CheckPageSize(q.Limit); err != nil {
		return "", nil, err
	}
	from, num := "versions v", "v.number"
	where, args := []string{"v.model = ?"}, []any{q.Model}
	if q.TagKey != "" {
		// Drive from the tag index: (model, key, value, number) or
		// (model, key, number) give the numbers in order.
		from, num = "version_tags t JOIN versions v ON v.model = t.model AND v.number = t.number", "t.number"
		where, args = append(where, "t.model = ?", "t.key = ?"), append(args, q.Model, q.TagKey)
		if q.TagValue != "" {
			where, args = append(where, "t.value = ?"), append(args, q.TagValue)
		}
	}
	for _, f := range []struct{ col, val string }{
		{"v.stage", string(q.Stage)}, {"v.status", string(q.Status)},
		{"v.dataset_id", q.DatasetID}, {"v.run_id", q.RunID},
	} {
		if f.val != "" {
			where, args = append(where, f.col+" = ?"), append(args, f.val)
		}
	}
	if !q.IncludeDeleted && q.Status == "" {
		where, args = append(where, "v.status <> ?"), append(args, string(registry.StatusDeleted))
	}
	if q.GitCommit != "" {
		if len(q.GitCommit) >= registry.CommitPrefixLen { // registry.MatchCommit's rule, in SQL
			where, args = append(where, "v.git_commit >= ?"), append(args, q.GitCommit)
			if end, ok := prefixEnd(q.GitCommit); ok {
				where, args = append(where, "v.git_commit < ?"), append(args, end)
			}
		} else {
			where, args = append(where, "v.git_commit = ?"), append(args, q.GitCommit)
		}
	}
	if q.Cursor != "" {
		var c numberCursor
		if err := decodeCursor(q.Cursor, &c, func() bool { return c.Number > 0 }); err != nil {
			return "", nil, err
		}
		where, args = append(where, num+" < ?"), append(args, c.Number)
	}
	return `SELECT v.body FROM ` + from + ` WHERE ` + strings.Join(where, " AND ") + ` ORDER BY ` + num + ` DESC LIMIT ?`,
		append(args, q.Limit+1), nil
}

// prefixEnd returns the least string greater than every string with the
// given prefix (in byte order), and false if there is none.
func prefixEnd(prefix string) (string, bool) {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1]), true
		}
	}
	return "", false
}

// GetAlias returns the alias name of model. NotFound.
func (s *Store) GetAlias(ctx context.Context, model, name string) (registry.Alias, error) {
	r, err := getBody[aliasRecord](ctx, s.r, func() error { return registry.Errorf(registry.NotFound, "model %q has no alias %q", model, name) },
		"alias "+model+"/"+name, `SELECT body FROM aliases WHERE model = ? AND name = ?`, model, name)
	return fromAliasRecord(r), err
}

// ListAliases returns all aliases of model ordered by name.
func (s *Store) ListAliases(ctx context.Context, model string) ([]registry.Alias, error) {
	return scanBodies(ctx, s.r, fromAliasRecord, "aliases of "+model,
		`SELECT body FROM aliases WHERE model = ? ORDER BY name`, model)
}

type idCursor struct {
	ID string `json:"id"`
}

// ListAudit returns audit entries of q.Model, newest (highest ID) first.
// Invalid for a bad cursor or limit.
func (s *Store) ListAudit(ctx context.Context, q registry.AuditQuery) (registry.Page[registry.AuditEntry], error) {
	if err := registry.CheckPageSize(q.Limit); err != nil {
		return registry.Page[registry.AuditEntry]{}, err
	}
	where, args := []string{"model = ?"}, []any{q.Model}
	if q.Version > 0 {
		where, args = append(where, "version = ?"), append(args, q.Version)
	}
	if q.Cursor != "" {
		var c idCursor
		if err := decodeCursor(q.Cursor, &c, func() bool { return c.ID != "" }); err != nil {
			return registry.Page[registry.AuditEntry]{}, err
		}
		where, args = append(where, "id < ?"), append(args, c.ID)
	}
	items, err := scanBodies(ctx, s.r, fromAuditRecord, "audit of "+q.Model,
		`SELECT body FROM audit WHERE `+strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT ?`,
		append(args, q.Limit+1)...)
	return page(items, err, q.Limit, func(a registry.AuditEntry) any { return idCursor{a.ID} })
}

// StageAt returns the newest stage-change entry of model at or before at
// whose From or To is stage. NotFound if there is none.
func (s *Store) StageAt(ctx context.Context, model string, stage registry.Stage, at time.Time) (registry.AuditEntry, error) {
	r, err := getBody[auditRecord](ctx, s.r,
		func() error {
			return registry.Errorf(registry.NotFound, "no %s change of model %q at or before %s", stage, model, at.UTC().Format(time.RFC3339Nano))
		},
		"stage history of "+model,
		`SELECT body FROM audit
		WHERE model = ? AND action = ? AND at <= ? AND (stage_from = ? OR stage_to = ?)
		ORDER BY at DESC, id DESC LIMIT 1`,
		model, string(registry.ActionStageChanged), timeKey(at), string(stage), string(stage))
	return fromAuditRecord(r), err
}

// GetApproval returns the approval with the given id. NotFound.
func (s *Store) GetApproval(ctx context.Context, id string) (registry.Approval, error) {
	r, err := getBody[approvalRecord](ctx, s.r, func() error { return registry.Errorf(registry.NotFound, "approval %q not found", id) },
		"approval "+id, `SELECT body FROM approvals WHERE id = ?`, id)
	return fromApprovalRecord(r), err
}

type timeCursor struct {
	Time string `json:"t"`
	ID   string `json:"id"`
}

func (c *timeCursor) valid() bool {
	_, err := parseTimeKey(c.Time)
	return err == nil && c.ID != ""
}

// ListApprovals returns approvals newest first (CreatedAt, then ID).
// Invalid for a bad cursor or limit.
func (s *Store) ListApprovals(ctx context.Context, q registry.ApprovalQuery) (registry.Page[registry.Approval], error) {
	if err := registry.CheckPageSize(q.Limit); err != nil {
		return registry.Page[registry.Approval]{}, err
	}
	where, args := []string{"1"}, []any{}
	if q.Model != "" {
		where, args = append(where, "model = ?"), append(args, q.Model)
	}
	if q.Status != "" {
		where, args = append(where, "status = ?"), append(args, string(q.Status))
	}
	if q.Cursor != "" {
		var c timeCursor
		if err := decodeCursor(q.Cursor, &c, c.valid); err != nil {
			return registry.Page[registry.Approval]{}, err
		}
		where, args = append(where, "(created_at, id) < (?, ?)"), append(args, c.Time, c.ID)
	}
	items, err := scanBodies(ctx, s.r, fromApprovalRecord, "approvals",
		`SELECT body FROM approvals WHERE `+strings.Join(where, " AND ")+` ORDER BY created_at DESC, id DESC LIMIT ?`,
		append(args, q.Limit+1)...)
	return page(items, err, q.Limit, func(a registry.Approval) any { return timeCursor{timeKey(a.CreatedAt), a.ID} })
}

// GetExecution returns the workflow execution with the given id. NotFound.
func (s *Store) GetExecution(ctx context.Context, id string) (registry.Execution, error) {
	r, err := getBody[executionRecord](ctx, s.r, func() error { return registry.Errorf(registry.NotFound, "execution %q not found", id) },
		"execution "+id, `SELECT body FROM executions WHERE id = ?`, id)
	return fromExecutionRecord(r), err
}

// ListExecutions returns executions oldest first (StartedAt, then ID).
// Invalid for a bad cursor or limit.
func (s *Store) ListExecutions(ctx context.Context, q registry.ExecutionQuery) (registry.Page[registry.Execution], error) {
	if err := registry.CheckPageSize(q.Limit); err != nil {
		return registry.Page[registry.Execution]{}, err
	}
	where, args := []string{"1"}, []any{}
	if q.Status != "" {
		where, args = append(where, "status = ?"), append(args, string(q.Status))
	}
	if q.Cursor != "" {
		var c timeCursor
		if err := decodeCursor(q.Cursor, &c, c.valid); err != nil {
			return registry.Page[registry.Execution]{}, err
		}
		where, args = append(where, "(started_at, id) > (?, ?)"), append(args, c.Time, c.ID)
	}
	items, err := scanBodies(ctx, s.r, fromExecutionRecord, "executions",
		`SELECT body FROM executions WHERE `+strings.Join(where, " AND ")+` ORDER BY started_at, id LIMIT ?`,
		append(args, q.Limit+1)...)
	return page(items, err, q.Limit, func(e registry.Execution) any { return timeCursor{timeKey(e.StartedAt), e.ID} })
}

// GetUpload returns the upload session with the given id. NotFound.
func (s *Store) GetUpload(ctx context.Context, id string) (registry.UploadSession, error) {
	r, err := getBody[uploadRecord](ctx, s.r, func() error { return registry.Errorf(registry.NotFound, "upload %q not found", id) },
		"upload "+id, `SELECT body FROM uploads WHERE id = ?`, id)
	return fromUploadRecord(r), err
}

// UploadsToSweep returns up to limit sessions the upload sweeper must
// handle: EXPIRING ones first, then OPEN ones that expired before before
// (index uploads_sweep). Invalid for a limit below 1.
func (s *Store) UploadsToSweep(ctx context.Context, before time.Time, limit int) ([]registry.UploadSession, error) {
	if limit < 1 {
		return nil, registry.Errorf(registry.Invalid, "uploads to sweep: limit %d: want at least 1", limit)
	}
	return scanBodies(ctx, s.r, fromUploadRecord, "uploads to sweep",
		`SELECT body FROM uploads WHERE sweep_at IS NOT NULL AND sweep_at < ? ORDER BY sweep_at, id LIMIT ?`,
		timeKey(before), limit)
}

// uploadSweepKey is a session's sweep_at: its expiry while OPEN, the
// zero time while EXPIRING (so it sorts first and is always due), NULL
// otherwise.
func uploadSweepKey(u registry.UploadSession) any {
	switch u.Status {
	case registry.UploadOpen:
		return timeKey(u.ExpiresAt)
	case registry.UploadExpiring:
		return timeKey(time.Time{})
	}
	return nil
}

// page cuts the limit+1 rows a listing read into a page: the extra row
// only says that there is a next page, whose cursor is the key of the
// page's last item.
func page[T any](items []T, err error, limit int, key func(T) any) (registry.Page[T], error) {
	if err != nil {
		return registry.Page[T]{}, err
	}
	p := registry.Page[T]{Items: items}
	if len(items) > limit {
		p.Items = items[:limit]
		p.Next = encodeCursor(key(items[limit-1]))
	}
	return p, nil
}
