package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/failpoint"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/registry/storetest"
	"github.com/modelreg/modelreg/shared/tracking"
	"github.com/modelreg/modelreg/shared/tracking/trackingtest"
)

func openTest(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) registry.Store {
		return openTest(t, filepath.Join(t.TempDir(), "db.sqlite"))
	})
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func testChange(name string) *registry.Change {
	return &registry.Change{
		Models:   []registry.Model{{Name: name, CreatedAt: t0, UpdatedAt: t0, Revision: 1}},
		Versions: []registry.Version{{Model: name, Number: 1, Status: registry.StatusReady, Stage: registry.StageNone, Tags: map[string]string{"k": "v"}, Revision: 1}},
		Audit:    []registry.AuditEntry{{ID: registry.NewID(t0), Model: name, Action: registry.ActionModelCreated, At: t0}},
		Events:   []registry.Event{{ID: registry.NewID(t0), Type: registry.EventVersionRegistered, Time: t0}},
	}
}

func TestReopenKeepsDataAndMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(t.Context(), testChange("m")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		s = openTest(t, path)
		if _, err := s.GetVersion(t.Context(), "m", 1); err != nil {
			t.Fatalf("after reopening: %v", err)
		}
		var n, max int
		if err := s.r.QueryRow(`SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &max); err != nil {
			t.Fatal(err)
		}
		if n != len(migrations) || max != len(migrations) {
			t.Fatalf("schema_migrations has %d rows up to %d, want each of the %d migrations once", n, max, len(migrations))
		}
	}
}

// TestPragmas checks the settings a committed Change's durability rests
// on, on the writer and on a reader.
func TestPragmas(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "db.sqlite"))
	for _, db := range []*sql.DB{s.w, s.r} {
		var mode string
		var sync, fk, busy int
		if err := db.QueryRow(`SELECT journal_mode, synchronous, foreign_keys, timeout FROM
			pragma_journal_mode, pragma_synchronous, pragma_foreign_keys, pragma_busy_timeout`).Scan(&mode, &sync, &fk, &busy); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" || sync != 2 || fk != 1 || busy != int(defaultBusyTimeout.Milliseconds()) {
			t.Errorf("journal_mode=%s synchronous=%d foreign_keys=%d busy_timeout=%d; want wal, 2 (FULL), 1, %d",
				mode, sync, fk, busy, defaultBusyTimeout.Milliseconds())
		}
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	s := openTest(t, path)
	if _, err := s.w.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 'future')`, len(migrations)+1); err != nil {
		t.Fatal(err)
	}
	if s2, err := Open(path); err == nil {
		s2.Close()
		t.Fatal("Open of a database from a newer program succeeded")
	}
}

// TestFailedCommitLeavesNothing looks at the tables themselves: a Change
// that fails its last condition leaves no row anywhere, tags included.
func TestFailedCommitLeavesNothing(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "db.sqlite"))
	ch := testChange("m")
	now := time.Now().UTC()
	ch.Idempotency = &registry.IdempotencyRecord{Key: "k", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	ch.DeletedAliases = []registry.Alias{{Model: "m", Name: "gone", Revision: 1}}
	err := s.Commit(t.Context(), ch)
	if !errors.Is(err, registry.ErrStale) {
		t.Fatalf("Commit: got %v, want ErrStale", err)
	}
	for _, table := range []string{"models", "versions", "version_tags", "aliases", "audit", "approvals", "executions", "uploads", "outbox", "idempotency"} {
		var n int
		if err := s.r.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("table %s has %d rows after a failed Commit", table, n)
		}
	}
}

// TestTagsFollowUpdates checks the version_tags rows directly: an update
// replaces them.
func TestTagsFollowUpdates(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "db.sqlite"))
	ch := testChange("m")
	if err := s.Commit(t.Context(), ch); err != nil {
		t.Fatal(err)
	}
	v := ch.Versions[0]
	v.Revision, v.Tags = 2, map[string]string{"a": "1", "b": "2"}
	if err := s.Commit(t.Context(), &registry.Change{Versions: []registry.Version{v}}); err != nil {
		t.Fatal(err)
	}
	rows, err := s.r.Query(`SELECT key || '=' || value FROM version_tags WHERE model = 'm' AND number = 1 ORDER BY key`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var kv string
		if err := rows.Scan(&kv); err != nil {
			t.Fatal(err)
		}
		got = append(got, kv)
	}
	if strings.Join(got, ",") != "a=1,b=2" {
		t.Errorf("version_tags = %v, want [a=1 b=2]", got)
	}
}

// TestBusyIsUnavailable holds the write lock from another connection (as
// another process would): a Commit that cannot get it in time is
// Unavailable, and goes through once the lock is released.
func TestBusyIsUnavailable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	s, err := open(path, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	err = s.Commit(t.Context(), testChange("m"))
	if !registry.IsCode(err, registry.Unavailable) {
		t.Fatalf("Commit while another connection writes: got %v (code %q), want Unavailable", err, registry.ErrorCode(err))
	}
	if _, err := conn.ExecContext(t.Context(), `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(t.Context(), testChange("m")); err != nil {
		t.Fatalf("Commit after the lock was released: %v", err)
	}
}

func TestOpenRejectsURIs(t *testing.T) {
	for _, p := range []string{"", "file:x.db", filepath.Join(t.TempDir(), "x.db?mode=ro")} {
		if s, err := Open(p); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

// crashEnv names the database a crash child writes to.
const crashEnv = "SQLITE_TEST_CRASH_DB"

// TestCrash kills a process (SIGKILL, via the failpoints) right before and
// right after its Commit: the first Change is absent on reopening, the
// second is there.
func TestCrash(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(path) // does not return: the failpoint kills it
		return
	}
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	for _, tc := range []struct {
		point string
		want  bool // the Change survives
	}{
		{failpoint.StoreBeforeCommit, false},
		{failpoint.StoreAfterCommit, true},
	} {
		t.Run(tc.point, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db.sqlite")
			// The schema exists before the child runs, so its one Commit
			// is the one the failpoint stops at.
			s0, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			s0.Close()
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$", "-test.count=1")
			cmd.Env = append(os.Environ(), crashEnv+"="+path, failpoint.Env+"="+tc.point)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child: got %v, want death by SIGKILL; output:\n%s", err, out)
			}
			s := openTest(t, path)
			_, err = s.GetModel(context.Background(), "crash")
			if got := err == nil; got != tc.want {
				t.Fatalf("after a crash at %s: GetModel: %v; want the Change there: %v", tc.point, err, tc.want)
			}
			if _, err := s.GetVersion(context.Background(), "crash", 1); (err == nil) != tc.want {
				t.Fatalf("after a crash at %s: the version disagrees with the model: %v", tc.point, err)
			}
		})
	}
}

func crashChild(path string) {
	s, err := Open(path)
	if err != nil {
		os.Exit(3)
	}
	_ = s.Commit(context.Background(), testChange("crash"))
	os.Exit(4) // the failpoint should have killed us
}

// A record written before responses became opaque (status and body apart)
// is still replayed after an upgrade, as the status line and the body.
func TestLegacyIdempotencyRecordIsReadable(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "r.db"))
	exp := time.Now().Add(time.Hour).UTC()
	body := `{"key":"k1","request_hash":"h","status_code":201,"body":"eyJ2ZXJzaW9uIjoxfQ==","created_at":"2026-11-30T10:00:00Z","expires_at":"` + exp.Format(time.RFC3339Nano) + `"}`
	if _, err := s.w.Exec(`INSERT INTO idempotency (key, expires_at, body) VALUES (?, ?, ?)`, "k1", timeKey(exp), body); err != nil {
		t.Fatal(err)
	}
	rec, err := s.GetIdempotency(t.Context(), "k1", time.Now())
	if err != nil {
		t.Fatalf("GetIdempotency: %v", err)
	}
	if got, want := string(rec.Response), "201\n{\"version\":1}"; got != want {
		t.Fatalf("Response = %q, want %q", got, want)
	}
}

// TestSweepIndexBackfilled: a database made before the sweep index
// (migration 3; this one stops at 1, so 2 and 3 apply) gets the
// expiry of its open upload sessions into the sweep index (to the
// millisecond), and none for the others.
func TestSweepIndexBackfilled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db.sqlite")
	db, err := sql.Open("sqlite", dsn(path, defaultBusyTimeout, false))
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.UTC)
	open := registry.UploadSession{ID: "up-open", Model: "m", Version: 1, Status: registry.UploadOpen,
		CreatedAt: exp.Add(-time.Hour), UpdatedAt: exp.Add(-time.Hour), ExpiresAt: exp, Revision: 1}
	done := open
	done.ID, done.Status = "up-done", registry.UploadCompleted
	for _, stmt := range []string{migrations[0], `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`,
		`INSERT INTO schema_migrations VALUES (1, 'then')`} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []registry.UploadSession{open, done} {
		body, err := encode(toUploadRecord(u))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO uploads (id, revision, body) VALUES (?, 1, ?)`, u.ID, body); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s := openTest(t, path)
	var key string
	if err := s.r.QueryRow(`SELECT sweep_at FROM uploads WHERE id = 'up-open'`).Scan(&key); err != nil || key != "2026-03-01T10:00:00.123000000Z" {
		t.Fatalf("backfilled sweep_at %q, %v; want the expiry to the millisecond", key, err)
	}
	got, err := s.UploadsToSweep(t.Context(), exp.Add(time.Second), 10)
	if err != nil || len(got) != 1 || got[0].ID != "up-open" {
		t.Fatalf("UploadsToSweep after the migration = %+v, %v; want only the open session", got, err)
	}
	if got, _ := s.UploadsToSweep(t.Context(), exp.Add(-time.Second), 10); len(got) != 0 {
		t.Errorf("a session not yet expired is due: %+v", got)
	}
}

func TestTrackingStore(t *testing.T) {
	trackingtest.Run(t, func(t *testing.T) tracking.Store {
		return openTest(t, filepath.Join(t.TempDir(), "db.sqlite"))
	})
}
