// Package sqlite is the embedded registry.Store: one SQLite database file
// (WAL, synchronous=FULL), opened with the pure-Go modernc.org/sqlite driver
// so the binary needs no cgo.
//
// Writes go through one connection whose transactions begin IMMEDIATE, so
// concurrent writers queue instead of deadlocking on a lock upgrade; reads
// use a pool of query-only connections and run concurrently with a write
// (WAL readers see the last committed state).
//
// Each table keeps the record as a JSON body (this package's own record
// structs, see records.go) next to the key and filter columns its queries
// use, so a listing reads one index range: its cost is the page, not the
// table.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

var _ registry.Store = (*Store)(nil)

// defaultBusyTimeout is how long a statement waits for a lock another
// connection (or process) holds before it fails with Unavailable.
const defaultBusyTimeout = 10 * time.Second

// Store is a registry.Store in one SQLite database file. It is safe for
// concurrent use.
type Store struct {
	w *sql.DB // one connection; every transaction BEGIN IMMEDIATE
	r *sql.DB // query-only connections for reads
}

// Open opens (creating it if needed) the database file at path and brings
// its schema up to date. Close the Store when done.
func Open(path string) (*Store, error) {
	return open(path, defaultBusyTimeout)
}

func open(path string, busy time.Duration) (*Store, error) {
	// The driver cuts the name at '?' and treats "file:" names as URIs;
	// neither is meant for a plain path.
	if path == "" || strings.Contains(path, "?") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: invalid database path %q", path)
	}
	w, err := sql.Open("sqlite", dsn(path, busy, false))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrate(context.Background(), w); err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn(path, busy, true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.Ping(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &Store{w: w, r: r}, nil
}

// dsn returns the driver's data source name for path. Every connection
// waits busy for locks and enforces foreign keys; the writer also puts the
// file in WAL mode, fsyncs every commit (synchronous=FULL: a committed
// Change survives a crash or power loss) and begins transactions
// IMMEDIATE.
func dsn(path string, busy time.Duration, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busy.Milliseconds(), 10)+")")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(FULL)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Set("_txlock", "immediate")
	}
	return path + "?" + q.Encode()
}

// Close closes the database. The last connection to close checkpoints the
// write-ahead log into the database file.
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// dbError turns a driver error into a registry error: lock timeouts and
// cancelled contexts are Unavailable, everything else is wrapped with
// context and left without a code (Internal).
func dbError(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	var re *registry.Error
	if errors.As(err, &re) {
		return err
	}
	wrapped := fmt.Errorf(format+": %w", append(args, err)...)
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // extended codes keep the primary in the low byte
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return registry.Wrap(registry.Unavailable, wrapped, "the database is busy; retry")
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return registry.Wrap(registry.Unavailable, wrapped, "request cancelled")
	}
	return wrapped
}

// Cursors are the last key of a page as base64url(JSON): opaque to callers,
// and decoded strictly so that anything else is Invalid.

func encodeCursor(key any) string {
	b, err := json.Marshal(key)
	if err != nil {
		panic(err) // cursor keys are plain structs of strings and ints
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(cursor string, key any, valid func() bool) error {
	bad := registry.Errorf(registry.Invalid, "invalid page cursor")
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return bad
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.DisallowUnknownFields()
	if err := d.Decode(key); err != nil || d.More() || !valid() {
		return bad
	}
	return nil
}

// timeKey formats t as fixed-width UTC text with nanoseconds: exact, and
// sorting as text sorts by time (for years 0001..9999).
func timeKey(t time.Time) string {
	return t.UTC().Format(timeKeyLayout)
}

const timeKeyLayout = "2006-01-02T15:04:05.000000000Z"

func parseTimeKey(s string) (time.Time, error) {
	return time.Parse(timeKeyLayout, s)
}

// scanBodies runs query on db and decodes each row's single JSON column
// into R, then converts it with conv.
func scanBodies[R, T any](ctx context.Context, db queryer, conv func(R) T, what, query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, dbError(err, "list %s", what)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var body []byte
		if err := rows.Scan(&body); err != nil {
			return nil, dbError(err, "list %s", what)
		}
		var rec R
		if err := json.Unmarshal(body, &rec); err != nil {
			return nil, fmt.Errorf("list %s: decode: %w", what, err)
		}
		out = append(out, conv(rec))
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err, "list %s", what)
	}
	return out, nil
}

// getBody reads one row's JSON column into R; NotFound (from missing) when
// there is no row.
func getBody[R any](ctx context.Context, db queryer, missing func() error, what, query string, args ...any) (R, error) {
	var rec R
	var body []byte
	err := db.QueryRowContext(ctx, query, args...).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return rec, missing()
	}
	if err != nil {
		return rec, dbError(err, "get %s", what)
	}
	if err := json.Unmarshal(body, &rec); err != nil {
		return rec, fmt.Errorf("get %s: decode: %w", what, err)
	}
	return rec, nil
}

// queryer is what reads need from *sql.DB and *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}
