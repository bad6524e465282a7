package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"time"

	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/dynamodb/wire"
	"github.com/modelreg/modelreg/shared/registry"
)

var _ registry.Store = (*Store)(nil)

// Store is a registry.Store in one DynamoDB table (see the package doc for
// the layout). It is safe for concurrent use.
type Store struct {
	client *wire.Client
	table  string
	// attempts bounds the tries of a request that DynamoDB refuses for a
	// transaction conflict or throttling; backoff grows from baseDelay to
	// maxDelay with full jitter.
	attempts  int
	baseDelay time.Duration
	maxDelay  time.Duration
}

// Option configures a Store.
type Option func(*Store)

// WithRetries sets how many times a request refused for a transaction
// conflict or throttling is tried (default 12) and the backoff between
// tries: random up to base·2ⁿ, capped at max (default 10ms and 400ms).
// The client's own retries (awsapi) still handle throttling of single-item
// requests.
func WithRetries(attempts int, base, maxDelay time.Duration) Option {
	return func(s *Store) {
		s.attempts, s.baseDelay, s.maxDelay = max(attempts, 1), base, maxDelay
	}
}

// New returns a Store keeping its records in table through client. The
// table must have the layout TableSchema describes (see CreateTable).
// The Store does not own the client: Close leaves it alone.
func New(client *wire.Client, table string, opts ...Option) *Store {
	s := &Store{client: client, table: table, attempts: 12, baseDelay: 10 * time.Millisecond, maxDelay: 400 * time.Millisecond}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Close releases nothing: the client belongs to the caller.
func (s *Store) Close() error { return nil }

// backoff waits before try n+1 (n >= 1). Unavailable if ctx ends first.
func (s *Store) backoff(ctx context.Context, n int) error {
	d := s.baseDelay << min(n-1, 20)
	if d <= 0 || d > s.maxDelay {
		d = s.maxDelay
	}
	d = time.Duration(rand.Int64N(int64(d)+1)) + time.Millisecond
	if err := registry.Sleep(ctx, d); err != nil {
		return registry.Wrap(registry.Unavailable, err, "request cancelled")
	}
	return nil
}

// retryableCodes are the API error codes (and transaction cancellation
// reasons) that mean "try again later".
var retryableCodes = map[string]bool{
	"TransactionConflict": true, "TransactionConflictException": true, "TransactionInProgressException": true,
	"ThrottlingError": true, "ThrottlingException": true, "Throttling": true, "RequestLimitExceeded": true,
	"ProvisionedThroughputExceeded": true, "ProvisionedThroughputExceededException": true,
	"InternalServerError": true, "ServiceUnavailable": true, "ReplicatedWriteConflictException": true,
}

// retryable reports whether err is a DynamoDB error worth another try.
func retryable(err error) bool {
	return retryableCodes[awsapi.Code(err)]
}

// translate turns a DynamoDB error into a registry error; this is the only
// place (with Commit's cancellation reasons) where DynamoDB's errors are
// read.
// Throttling, conflicts, timeouts and cancelled contexts are Unavailable;
// ValidationException is Invalid with DynamoDB's message; anything else
// is wrapped with context and left without a code (Internal).
func translate(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	var re *registry.Error
	if errors.As(err, &re) {
		return err
	}
	what := fmt.Sprintf(format, args...)
	wrapped := fmt.Errorf("%s: %w", what, err)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return registry.Wrap(registry.Unavailable, wrapped, "request cancelled")
	}
	var ae *awsapi.Error
	if errors.As(err, &ae) {
		switch code := ae.Code; {
		case retryableCodes[code]:
			return registry.Wrap(registry.Unavailable, wrapped, "the database is busy; retry")
		case code == "ValidationException":
			return registry.Wrap(registry.Invalid, wrapped, "%s: refused by DynamoDB: %s", what, ae.Message)
		case code == "ItemCollectionSizeLimitExceededException":
			return registry.Wrap(registry.Invalid, wrapped, "%s: too much data under one model", what)
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return registry.Wrap(registry.Unavailable, wrapped, "the database did not answer in time; retry")
	}
	return wrapped
}

// corrupt is the error for a stored item this package cannot read back.
func corrupt(what string, err error) error {
	return fmt.Errorf("decode %s: %w", what, err)
}

// errTornUpload: an upload session's parts items did not match the session
// item read with them (a concurrent update); GetUpload reads again.
var errTornUpload = errors.New("upload session changed while it was read")

// item is one DynamoDB item.
type item = wire.Item

// marshal encodes an item struct and adds extra string attributes (tag
// index slots).
func marshal(v any, extra map[string]string) (item, error) {
	m, err := wire.MarshalMap(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	for k, s := range extra {
		m[k] = wire.S(s)
	}
	return m, nil
}

// decode reads an item into an item struct.
func decode[T any](m item) (T, error) {
	var v T
	if err := wire.UnmarshalMap(m, &v); err != nil {
		return v, corrupt(fmt.Sprintf("%T", v), err)
	}
	return v, nil
}

// itemKey is the key of one item.
type itemKey struct{ pk, sk string }

func (k itemKey) av() item {
	return item{AttrPK: wire.S(k.pk), AttrSK: wire.S(k.sk)}
}

// keyOf returns the table key of an item (or index entry).
func keyOf(m item) itemKey { return itemKey{str(m, AttrPK), str(m, AttrSK)} }

// str returns the string attribute name of m ("" if absent).
func str(m item, name string) string {
	v, _ := m[name].AsS()
	return v
}

// num returns the number attribute name of m (0 if absent or not an int).
func num(m item, name string) int64 {
	v, _ := m[name].AsN()
	n, _ := strconv.ParseInt(v, 10, 64)
	return n
}

// getItem reads one item with a strongly consistent GetItem; nil if absent.
func (s *Store) getItem(ctx context.Context, k itemKey, what string) (item, error) {
	out, err := s.client.GetItem(ctx, &wire.GetItemInput{TableName: s.table, Key: k.av(), ConsistentRead: true})
	if err != nil {
		return nil, translate(err, "get %s", what)
	}
	return out.Item, nil
}

// getRecord reads and decodes one record; missing() is the NotFound.
func getRecord[I interface{ record() (R, error) }, R any](ctx context.Context, s *Store, k itemKey, what string, missing func() error) (R, error) {
	var zero R
	m, err := s.getItem(ctx, k, what)
	if err != nil {
		return zero, err
	}
	if m == nil {
		return zero, missing()
	}
	it, err := decode[I](m)
	if err != nil {
		return zero, err
	}
	return it.record()
}
