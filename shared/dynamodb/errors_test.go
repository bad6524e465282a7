package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// fakeDynamoDB answers every request with the next canned response (the
// last one repeats) and records the operations called. It speaks just
// enough of DynamoDB's JSON protocol for the client to parse its errors, so
// the translation of each error is tested without a database.
type fakeDynamoDB struct {
	mu        sync.Mutex
	responses []fakeResponse
	calls     []string
	bodies    [][]byte // of every request, in order
}

type fakeResponse struct {
	status int
	body   string
}

func (f *fakeDynamoDB) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	f.calls = append(f.calls, op)
	f.bodies = append(f.bodies, body)
	resp := f.responses[0]
	if len(f.responses) > 1 {
		f.responses = f.responses[1:]
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(resp.status)
	fmt.Fprint(w, resp.body)
}

// apiError is a DynamoDB error response.
func apiError(typ, msg string) fakeResponse {
	b, _ := json.Marshal(map[string]string{"__type": "com.amazonaws.dynamodb.v20120810#" + typ, "message": msg})
	return fakeResponse{http.StatusBadRequest, string(b)}
}

// cancelled is a TransactionCanceledException with one reason per action.
func cancelled(codes ...string) fakeResponse {
	var reasons []map[string]string
	for _, c := range codes {
		reasons = append(reasons, map[string]string{"Code": c, "Message": "reason " + c})
	}
	b, _ := json.Marshal(map[string]any{
		"__type":              "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
		"Message":             "Transaction cancelled, please refer cancellation reasons for specific reasons " + fmt.Sprint(codes),
		"CancellationReasons": reasons,
	})
	return fakeResponse{http.StatusBadRequest, string(b)}
}

var ok = fakeResponse{http.StatusOK, "{}"}

// fakeStore returns a Store whose DynamoDB is f: no client retries, and
// three quick tries of its own.
func fakeStore(t *testing.T, f *fakeDynamoDB) *Store {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, 1)
	return New(c, "t", WithRetries(3, time.Millisecond, 2*time.Millisecond))
}

// TestErrorTranslation: every DynamoDB error reaches the caller as the
// registry error the port promises.
func TestErrorTranslation(t *testing.T) {
	// The Change: [idempotency record, model update]: reasons line up.
	change := func() *registry.Change {
		return &registry.Change{
			Models:      []registry.Model{{Name: "m", CreatedAt: t0, UpdatedAt: t0, Revision: 2}},
			Idempotency: &registry.IdempotencyRecord{Key: "k", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)},
		}
	}
	for _, tc := range []struct {
		name      string
		responses []fakeResponse
		code      registry.Code
		cause     error  // errors.Is, when set
		not       error  // must not be in the chain
		message   string // in the error
		calls     int
	}{
		{"idempotency failed alone", []fakeResponse{cancelled("ConditionalCheckFailed", "None")},
			registry.Conflict, registry.ErrDuplicateRequest, registry.ErrStale, "", 1},
		{"idempotency takes precedence", []fakeResponse{cancelled("ConditionalCheckFailed", "ConditionalCheckFailed")},
			registry.Conflict, registry.ErrDuplicateRequest, registry.ErrStale, "", 1},
		{"revision failed", []fakeResponse{cancelled("None", "ConditionalCheckFailed")},
			registry.Conflict, registry.ErrStale, registry.ErrDuplicateRequest, "model m is not at revision 1", 1},
		{"failed condition beats a conflict", []fakeResponse{cancelled("TransactionConflict", "ConditionalCheckFailed")},
			registry.Conflict, registry.ErrStale, registry.ErrDuplicateRequest, "", 1},
		{"conflict retried, then written", []fakeResponse{cancelled("None", "TransactionConflict"), ok}, "", nil, nil, "", 2},
		{"conflict retried until Unavailable", []fakeResponse{cancelled("None", "TransactionConflict")},
			registry.Unavailable, nil, registry.ErrStale, "retry", 3},
		{"throttled transaction", []fakeResponse{cancelled("ThrottlingError", "None")}, registry.Unavailable, nil, nil, "", 3},
		{"throughput retried, then written", []fakeResponse{cancelled("None", "ProvisionedThroughputExceeded"), cancelled("ThrottlingError", "None"), ok},
			"", nil, nil, "", 3},
		{"throttling exception", []fakeResponse{apiError("ThrottlingException", "Rate exceeded")}, registry.Unavailable, nil, nil, "", 3},
		{"throughput exception", []fakeResponse{apiError("ProvisionedThroughputExceededException", "slow down")},
			registry.Unavailable, nil, nil, "", 3},
		{"item too large", []fakeResponse{apiError("ValidationException", "Item size has exceeded the maximum allowed size")},
			registry.Invalid, nil, nil, "Item size has exceeded the maximum allowed size", 1},
		{"validation reason", []fakeResponse{cancelled("None", "ValidationError")}, registry.Invalid, nil, nil, "model m", 1},
		{"missing table", []fakeResponse{apiError("ResourceNotFoundException", "Requested resource not found")},
			registry.Internal, nil, nil, "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeDynamoDB{responses: tc.responses}
			err := fakeStore(t, f).Commit(t.Context(), change())
			if got := registry.ErrorCode(err); got != tc.code {
				t.Fatalf("Commit: got %v (code %q), want code %q", err, got, tc.code)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Errorf("Commit: %v does not wrap %v", err, tc.cause)
			}
			if tc.not != nil && errors.Is(err, tc.not) {
				t.Errorf("Commit: %v wraps %v", err, tc.not)
			}
			if tc.message != "" && !strings.Contains(err.Error(), tc.message) {
				t.Errorf("Commit: %v; want it to say %q", err, tc.message)
			}
			if len(f.calls) != tc.calls {
				t.Errorf("%d requests %v, want %d", len(f.calls), f.calls, tc.calls)
			}
		})
	}
}

// TestReadErrors: reads translate the same way, and a cancelled context
// is Unavailable.
func TestReadErrors(t *testing.T) {
	for _, tc := range []struct {
		resp fakeResponse
		code registry.Code
	}{
		{apiError("ThrottlingException", "Rate exceeded"), registry.Unavailable},
		{apiError("RequestLimitExceeded", "account limit"), registry.Unavailable},
		{apiError("ValidationException", "bad key"), registry.Invalid},
		{apiError("AccessDeniedException", "no"), registry.Internal},
		{ok, registry.NotFound},
	} {
		s := fakeStore(t, &fakeDynamoDB{responses: []fakeResponse{tc.resp}})
		_, err := s.GetModel(t.Context(), "m")
		wantCode(t, "GetModel after "+tc.resp.body, err, tc.code)
		_, err = s.ListVersions(t.Context(), registry.VersionQuery{Model: "m", Limit: 10, Stage: registry.StageStaging})
		if tc.code != registry.NotFound {
			wantCode(t, "ListVersions after "+tc.resp.body, err, tc.code)
		}
	}
	s := fakeStore(t, &fakeDynamoDB{responses: []fakeResponse{ok}})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.GetVersion(ctx, "m", 1)
	wantCode(t, "GetVersion with a cancelled context", err, registry.Unavailable)
	err = s.Commit(ctx, &registry.Change{Models: []registry.Model{{Name: "m", Revision: 1}}})
	wantCode(t, "Commit with a cancelled context", err, registry.Unavailable)
}

// TestNewTokenWhenSideItemsExpand: when a cancellation says both "write
// the side items this time" (the record's digest condition failed at the
// right revision) and "try again" (a conflict on another action), the
// next try is another transaction (it has more actions), so it is sent
// with another ClientRequestToken: DynamoDB refuses a token reused for
// different actions (IdempotentParameterMismatchException).
func TestNewTokenWhenSideItemsExpand(t *testing.T) {
	b, _ := json.Marshal(map[string]any{
		"__type":  "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
		"Message": "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict, ConditionalCheckFailed]",
		"CancellationReasons": []any{
			map[string]any{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"},
			map[string]any{"Code": "ConditionalCheckFailed", "Message": "The conditional request failed",
				"Item": map[string]any{"revision": map[string]string{"N": "1"}, "tag_items": map[string]string{"N": "2"}}},
		},
	})
	f := &fakeDynamoDB{responses: []fakeResponse{{http.StatusBadRequest, string(b)}, ok}}
	s := fakeStore(t, f)
	v := testVersion("m", 1)
	v.Tags, v.Revision = map[string]string{"team": "risk"}, 2
	ch := &registry.Change{Models: []registry.Model{{Name: "m", CreatedAt: t0, UpdatedAt: t0, Revision: 2}}, Versions: []registry.Version{v}}
	if err := s.Commit(t.Context(), ch); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if len(f.bodies) != 2 {
		t.Fatalf("%d requests, want 2", len(f.bodies))
	}
	var reqs [2]struct {
		ClientRequestToken string
		TransactItems      []json.RawMessage
	}
	for i := range reqs {
		if err := json.Unmarshal(f.bodies[i], &reqs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if len(reqs[0].TransactItems) != 2 || len(reqs[1].TransactItems) != 4 {
		t.Fatalf("actions %d then %d, want 2 then 4 (the two old tag items deleted)", len(reqs[0].TransactItems), len(reqs[1].TransactItems))
	}
	if reqs[0].ClientRequestToken == "" || reqs[1].ClientRequestToken == reqs[0].ClientRequestToken {
		t.Errorf("tokens %q then %q: a transaction with other actions needs another token", reqs[0].ClientRequestToken, reqs[1].ClientRequestToken)
	}
}
