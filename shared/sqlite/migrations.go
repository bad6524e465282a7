package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// migrations are the schema changes, in order: migration i+1 is
// migrations[i]. Append new ones; never edit one that has shipped. Open
// applies, in one transaction, those a database has not seen yet and
// records each in schema_migrations.
var migrations = []string{
	// 1: the registry's tables.
	`
CREATE TABLE models (
	name     TEXT PRIMARY KEY,
	revision INTEGER NOT NULL,
	body     BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE versions (
	model      TEXT NOT NULL,
	number     INTEGER NOT NULL,
	revision   INTEGER NOT NULL,
	stage      TEXT NOT NULL,
	status     TEXT NOT NULL,
	git_commit TEXT NOT NULL,
	dataset_id TEXT NOT NULL,
	run_id     TEXT NOT NULL,
	body       BLOB NOT NULL,
	PRIMARY KEY (model, number)
);
CREATE INDEX versions_stage   ON versions (model, stage, number);
CREATE INDEX versions_status  ON versions (model, status, number);
CREATE INDEX versions_commit  ON versions (model, git_commit, number);
CREATE INDEX versions_dataset ON versions (model, dataset_id, number);
CREATE INDEX versions_run     ON versions (model, run_id, number);

CREATE TABLE version_tags (
	model  TEXT NOT NULL,
	number INTEGER NOT NULL,
	key    TEXT NOT NULL,
	value  TEXT NOT NULL,
	PRIMARY KEY (model, number, key),
	FOREIGN KEY (model, number) REFERENCES versions (model, number) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX version_tags_value ON version_tags (model, key, value, number);
CREATE INDEX version_tags_key   ON version_tags (model, key, number);

CREATE TABLE aliases (
	model    TEXT NOT NULL,
	name     TEXT NOT NULL,
	revision INTEGER NOT NULL,
	body     BLOB NOT NULL,
	PRIMARY KEY (model, name)
) WITHOUT ROWID;

CREATE TABLE audit (
	id         TEXT PRIMARY KEY,
	model      TEXT NOT NULL,
	version    INTEGER NOT NULL,
	action     TEXT NOT NULL,
	stage_from TEXT NOT NULL,
	stage_to   TEXT NOT NULL,
	at         TEXT NOT NULL,
	body       BLOB NOT NULL
);
CREATE INDEX audit_model   ON audit (model, id);
CREATE INDEX audit_version ON audit (model, version, id);
CREATE INDEX audit_action  ON audit (model, action, at, id);

CREATE TABLE approvals (
	id         TEXT PRIMARY KEY,
	revision   INTEGER NOT NULL,
	model      TEXT NOT NULL,
	status     TEXT NOT NULL,
	created_at TEXT NOT NULL,
	body       BLOB NOT NULL
);
CREATE INDEX approvals_created      ON approvals (created_at, id);
CREATE INDEX approvals_status       ON approvals (status, created_at, id);
CREATE INDEX approvals_model        ON approvals (model, created_at, id);
CREATE INDEX approvals_model_status ON approvals (model, status, created_at, id);

CREATE TABLE executions (
	id         TEXT PRIMARY KEY,
	revision   INTEGER NOT NULL,
	status     TEXT NOT NULL,
	started_at TEXT NOT NULL,
	body       BLOB NOT NULL
);
CREATE INDEX executions_started ON executions (started_at, id);
CREATE INDEX executions_status  ON executions (status, started_at, id);

CREATE TABLE uploads (
	id       TEXT PRIMARY KEY,
	revision INTEGER NOT NULL,
	body     BLOB NOT NULL
);

CREATE TABLE outbox (
	id              TEXT PRIMARY KEY,
	event_time      TEXT NOT NULL,
	next_attempt_at TEXT NOT NULL,
	attempts        INTEGER NOT NULL,
	last_error      TEXT NOT NULL,
	body            BLOB NOT NULL
);
CREATE INDEX outbox_time ON outbox (event_time, id);

CREATE TABLE idempotency (
	key        TEXT PRIMARY KEY,
	expires_at TEXT NOT NULL,
	body       BLOB NOT NULL
);
CREATE INDEX idempotency_expires ON idempotency (expires_at);
`,
	// 2: deploy targets, deployments and processed-event records (issue 8).
	`
CREATE TABLE deploy_targets (
	id         TEXT PRIMARY KEY,
	model      TEXT NOT NULL,
	revision   INTEGER NOT NULL,
	created_at TEXT NOT NULL,
	body       BLOB NOT NULL
);
CREATE INDEX deploy_targets_model ON deploy_targets (model, created_at, id);

CREATE TABLE deployments (
	id         TEXT PRIMARY KEY,
	model      TEXT NOT NULL,
	revision   INTEGER NOT NULL,
	started_at TEXT NOT NULL,
	body       BLOB NOT NULL
);
CREATE INDEX deployments_model ON deployments (model, started_at, id);

CREATE TABLE processed_events (
	consumer   TEXT NOT NULL,
	event_id   TEXT NOT NULL,
	expires_at TEXT NOT NULL,
	body       BLOB NOT NULL,
	PRIMARY KEY (consumer, event_id)
) WITHOUT ROWID;
CREATE INDEX processed_events_expires ON processed_events (expires_at);
`,
	// 3: the upload sweeper's index. sweep_at is set while a session is
	// OPEN (its expiry) or EXPIRING (the zero time, first), NULL otherwise.
	// Existing open sessions get their expiry from the record, to the
	// millisecond (SQLite's %f), which only matters to a sweep whose
	// cutoff falls within that millisecond.
	`
ALTER TABLE uploads ADD COLUMN sweep_at TEXT;
UPDATE uploads SET sweep_at = strftime('%Y-%m-%dT%H:%M:%f', json_extract(body, '$.expires_at')) || '000000Z'
	WHERE json_extract(body, '$.status') = 'OPEN';
CREATE INDEX uploads_sweep ON uploads (sweep_at, id) WHERE sweep_at IS NOT NULL;
`,
	// 4 (issue 10): MLflow tracking records (package tracking): one table of
	// JSON bodies by kind and id, listed by (kind, parent, sort, id).
	`
CREATE TABLE tracking (
	kind     TEXT NOT NULL,
	id       TEXT NOT NULL,
	parent   TEXT NOT NULL,
	sort     TEXT NOT NULL,
	revision INTEGER NOT NULL,
	body     BLOB NOT NULL,
	PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE INDEX tracking_list ON tracking (kind, parent, sort, id);
`,
}

// migrate applies the migrations db has not seen, in one IMMEDIATE
// transaction, so that two processes opening a new file do not both apply
// them.
func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return dbError(err, "migrate: begin")
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at TEXT NOT NULL
	)`); err != nil {
		return dbError(err, "migrate: create schema_migrations")
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return dbError(err, "migrate: read schema version")
	}
	if current > len(migrations) {
		return fmt.Errorf("migrate: the database has schema version %d, newer than this program's %d", current, len(migrations))
	}
	now := timeKey(time.Now())
	for i := current; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return dbError(err, "migrate: apply migration %d", i+1)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, i+1, now); err != nil {
			return dbError(err, "migrate: record migration %d", i+1)
		}
	}
	return dbError(tx.Commit(), "migrate: commit")
}
