package dynamodb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/testenv"

	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/dynamodb/wire"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/registry/storetest"
)

// endpointEnv names DynamoDB Local's URL; scripts/test starts it (through
// scripts/test.d/dynamodb-local.sh) and sets it.
const endpointEnv = "MODELREG_DYNAMODB_ENDPOINT"

// localClient returns a client of the DynamoDB Local the environment
// names. Without one the test is skipped, except in CI, where it fails.
func localClient(t testing.TB) *wire.Client {
	t.Helper()
	return newClient(t, localEndpoint(t), 0)
}

// localEndpoint returns DynamoDB Local's URL, or skips (fails in CI).
func localEndpoint(t testing.TB) string {
	t.Helper()
	ep := os.Getenv(endpointEnv)
	if ep == "" {
		msg := endpointEnv + " is not set: run scripts/test, or start DynamoDB Local with `scripts/test.d/dynamodb-local.sh start DIR` and export the line it prints"
		testenv.Missing(t, msg, "the DynamoDB tests")
	}
	return ep
}

// newClient returns a client of the DynamoDB at endpoint that tries each
// request up to attempts times (0: awsapi's default).
func newClient(t testing.TB, endpoint string, attempts int, opts ...wire.Option) *wire.Client {
	t.Helper()
	cfg := awsapi.Config{Region: "us-east-1", Credentials: awsapi.StaticCredentials("local", "local", ""), MaxAttempts: attempts}
	api, err := awsapi.New(cfg, wire.Service, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return wire.New(api, opts...)
}

var tableSeq atomic.Int64

// newTable creates a fresh table, deleted when t ends.
func newTable(t testing.TB, c *wire.Client) string {
	t.Helper()
	name := fmt.Sprintf("modelreg-test-%d-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6, tableSeq.Add(1))
	if err := CreateTable(context.Background(), c, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := DeleteTable(context.Background(), c, name); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return name
}

// newStore returns a Store on a fresh table of DynamoDB Local.
func newStore(t testing.TB, opts ...Option) (*Store, *wire.Client) {
	c := localClient(t)
	return New(c, newTable(t, c), opts...), c
}

func TestStore(t *testing.T) {
	c := localClient(t)
	storetest.Run(t, func(t *testing.T) registry.Store {
		s := New(c, newTable(t, c))
		t.Cleanup(func() { s.Close() })
		return s
	})
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func testVersion(model string, n int) registry.Version {
	return registry.Version{Model: model, Number: n, Status: registry.StatusReady, Stage: registry.StageNone,
		CreatedAt: t0, UpdatedAt: t0, StageChangedAt: t0, Revision: 1}
}

func commit(t *testing.T, s registry.Store, ch *registry.Change) {
	t.Helper()
	if err := s.Commit(t.Context(), ch); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func wantCode(t *testing.T, what string, err error, code registry.Code) {
	t.Helper()
	if !registry.IsCode(err, code) {
		t.Fatalf("%s: got %v (code %q), want %q", what, err, registry.ErrorCode(err), code)
	}
}

// partition lists the sort keys of the items of partition pk.
func partition(t *testing.T, c *wire.Client, table, pk string) []string {
	t.Helper()
	in := &wire.QueryInput{TableName: table, ConsistentRead: true,
		KeyConditionExpression: "pk = :p", ExpressionAttributeValues: item{":p": strAV(pk)}}
	var sks []string
	for {
		out, err := c.Query(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Items {
			sks = append(sks, str(m, AttrSK))
		}
		if out.LastEvaluatedKey == nil {
			return sks
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// TestLimitsRefusedBeforeSending: a Change beyond DynamoDB's transaction
// limits is Invalid, names the limit, and writes nothing.
func TestLimitsRefusedBeforeSending(t *testing.T) {
	s, _ := newStore(t)
	audit := func(n int) []registry.AuditEntry {
		var out []registry.AuditEntry
		for i := range n {
			out = append(out, registry.AuditEntry{ID: fmt.Sprintf("A%03d", i), Model: "m", Action: registry.ActionModelUpdated, At: t0})
		}
		return out
	}
	m := registry.Model{Name: "m", CreatedAt: t0, UpdatedAt: t0, Revision: 1}
	big := registry.Execution{ID: "ex", Workflow: "promotion", Status: registry.ExecutionRunning, Input: make([]byte, 420<<10), StartedAt: t0, UpdatedAt: t0, Revision: 1}
	versions := func(n int) []registry.Version {
		var out []registry.Version
		for i := 1; i <= n; i++ {
			v := testVersion("m", i)
			v.Description = strings.Repeat("x", 100<<10)
			out = append(out, v)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		ch   *registry.Change
		want string
	}{
		{"101 actions", &registry.Change{Models: []registry.Model{m}, Audit: audit(100)}, "at most 100"},
		{"one item twice", &registry.Change{Models: []registry.Model{m}, DeletedModels: []registry.Model{m}}, "twice"},
		{"item over 400 KB", &registry.Change{Models: []registry.Model{m}, Executions: []registry.Execution{big}}, "400 KB"},
		{"over 4 MB", &registry.Change{Models: []registry.Model{m}, Versions: versions(41)}, "4 MB"},
		{"revision 0", &registry.Change{Models: []registry.Model{{Name: "m"}}}, "revision 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Commit(t.Context(), tc.ch)
			wantCode(t, "Commit", err, registry.Invalid)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Commit: %v; want a message saying %q", err, tc.want)
			}
			_, err = s.GetModel(t.Context(), "m")
			wantCode(t, "GetModel after a refused Change", err, registry.NotFound)
		})
	}
	// 100 actions is fine.
	commit(t, s, &registry.Change{Models: []registry.Model{m}, Audit: audit(99)})
}

// TestLargeUpload: 10,000 part digests per file are more than one item
// holds; they round-trip, updates keep them, and replacing them leaves no
// stale parts items behind.
func TestLargeUpload(t *testing.T) {
	s, c := newStore(t)
	digests := func(n int, salt string) []string {
		out := make([]string, n)
		for i := range out {
			sum := sha256.Sum256([]byte(fmt.Sprint(salt, i)))
			out[i] = hex.EncodeToString(sum[:])
		}
		return out
	}
	u := registry.UploadSession{ID: "up", Model: "m", Version: 1, Status: registry.UploadOpen,
		CreatedAt: t0, UpdatedAt: t0, ExpiresAt: t0.Add(time.Hour), Revision: 1}
	for i, salt := range []string{"a", "bb", "ccc"} {
		u.Files = append(u.Files, registry.UploadFile{Path: fmt.Sprintf("f%d", i), Size: 10000 * registry.MinPartSize,
			SHA256: strings.Repeat("a", 64), PartSize: registry.MinPartSize, Parts: 10000, PartSHA256: digests(10000, salt), BackendID: "b"})
	}
	u.Files = append(u.Files, registry.UploadFile{Path: "small", Size: 1, SHA256: strings.Repeat("b", 64), PartSize: 1, Parts: 1})
	check := func(what string, want registry.UploadSession, items int) {
		t.Helper()
		got, err := s.GetUpload(t.Context(), "up")
		if err != nil {
			t.Fatalf("%s: GetUpload: %v", what, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: read back a different session", what)
		}
		if sks := partition(t, c, s.table, uploadPK("up")); len(sks) != items+1 {
			t.Errorf("%s: partition holds %v; want the session and %d parts items", what, sks, items)
		}
	}
	commit(t, s, &registry.Change{Uploads: []registry.UploadSession{u}})
	check("created", u, 4)

	u.Revision, u.Files[0].Completed = 2, true // same digests: only the session item changes
	commit(t, s, &registry.Change{Uploads: []registry.UploadSession{u}})
	check("updated", u, 4)

	u.Revision, u.Files = 3, u.Files[:1] // fewer digests: stale parts items go
	commit(t, s, &registry.Change{Uploads: []registry.UploadSession{u}})
	check("shrunk", u, 2)

	u.Revision, u.Files = 4, []registry.UploadFile{{Path: "tiny", Size: 1, SHA256: strings.Repeat("c", 64), PartSize: 1, Parts: 1, PartSHA256: digests(1, "x")}}
	commit(t, s, &registry.Change{Uploads: []registry.UploadSession{u}})
	check("inline", u, 0)

	stale := u
	stale.Revision = 4
	err := s.Commit(t.Context(), &registry.Change{Uploads: []registry.UploadSession{stale}})
	if !errors.Is(err, registry.ErrStale) {
		t.Fatalf("stale update of a session: got %v, want ErrStale", err)
	}
}

// TestTagItems: tags beyond the version item's slots live in tag items;
// every tag stays listable through updates that move tags between the
// version item and tag items, and removed ones are gone.
func TestTagItems(t *testing.T) {
	s, c := newStore(t)
	tags := func(keys ...string) map[string]string {
		m := map[string]string{}
		for _, k := range keys {
			m[k] = "v-" + k
		}
		return m
	}
	many := strings.Fields("a b c d e f g h i j k l")
	v := testVersion("m", 1)
	v.Tags = tags(many...)
	other := testVersion("m", 2)
	other.Tags = tags("c")
	commit(t, s, &registry.Change{Versions: []registry.Version{v, other}})
	list := func(q registry.VersionQuery) []int {
		t.Helper()
		q.Model, q.Limit = "m", 10
		p, err := s.ListVersions(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		var n []int
		for _, v := range p.Items {
			n = append(n, v.Number)
		}
		return n
	}
	check := func(what string, present []string) {
		t.Helper()
		in := map[string]bool{}
		for _, k := range present {
			in[k] = true
		}
		for _, k := range many {
			want := "[]"
			if in[k] {
				want = "[1]"
			}
			if k == "c" {
				want = strings.Replace(want, "[]", "[2]", 1)
				want = strings.Replace(want, "[1]", "[2 1]", 1)
			}
			if got := fmt.Sprint(list(registry.VersionQuery{TagKey: k})); got != want {
				t.Errorf("%s: tag %s: listed %s, want %s", what, k, got, want)
			}
			if got := fmt.Sprint(list(registry.VersionQuery{TagKey: k, TagValue: "v-" + k})); got != want {
				t.Errorf("%s: tag %s=v-%s: listed %s, want %s", what, k, k, got, want)
			}
		}
		n := 0
		for _, sk := range partition(t, c, s.table, modelPK("m")) {
			if strings.HasPrefix(sk, prefixTags) {
				n++
			}
		}
		if want := max(len(present)-1, 0) / TagSlots; n != want {
			t.Errorf("%s: %d tag items, want %d", what, n, want)
		}
	}
	check("created with 12 tags", many)

	v.Revision, v.Tags = 2, tags("a", "k")
	commit(t, s, &registry.Change{Versions: []registry.Version{v}})
	check("down to 2 tags", []string{"a", "k"})

	v.Revision, v.Tags = 3, tags(many[3:]...)
	commit(t, s, &registry.Change{Versions: []registry.Version{v}})
	check("up to 9 tags", many[3:])

	v.Revision, v.Description = 4, "tags unchanged"
	commit(t, s, &registry.Change{Versions: []registry.Version{v}})
	check("same 9 tags", many[3:])
}

// TestCursors: a listing refuses cursors it did not make, including valid
// cursors of another model's or another filter's listing.
func TestCursors(t *testing.T) {
	s, _ := newStore(t)
	var ch registry.Change
	for _, m := range []string{"a", "b"} {
		for i := 1; i <= 3; i++ {
			ch.Versions = append(ch.Versions, testVersion(m, i))
		}
	}
	commit(t, s, &ch)
	p, err := s.ListVersions(t.Context(), registry.VersionQuery{Model: "a", Limit: 1})
	if err != nil || p.Next == "" {
		t.Fatalf("first page: %v, next %q", err, p.Next)
	}
	next, err := s.ListVersions(t.Context(), registry.VersionQuery{Model: "a", Limit: 1, Cursor: p.Next})
	if err != nil || len(next.Items) != 1 || next.Items[0].Number != 2 {
		t.Fatalf("second page: %v, %v", next.Items, err)
	}
	for _, q := range []registry.VersionQuery{
		{Model: "b"}, {Model: "a", Stage: registry.StageNone}, {Model: "a", TagKey: "x"},
	} {
		q.Limit, q.Cursor = 1, p.Next
		_, err := s.ListVersions(t.Context(), q)
		wantCode(t, fmt.Sprintf("ListVersions(%+v) with model a's cursor", q), err, registry.Invalid)
	}
	for _, c := range []string{"garbage", encodeCursor(scopeOf("versions", "a", "", "", "", "", "", "", ""), "not-a-number"), "eyJxIjoiIiwiayI6IjEifQ"} {
		_, err := s.ListVersions(t.Context(), registry.VersionQuery{Model: "a", Limit: 1, Cursor: c})
		wantCode(t, "ListVersions with cursor "+c, err, registry.Invalid)
	}
	_, err = s.ListAudit(t.Context(), registry.AuditQuery{Model: "a", Limit: 1, Cursor: p.Next})
	wantCode(t, "ListAudit with a ListVersions cursor", err, registry.Invalid)
}

func strAV(s string) wire.AttributeValue { return wire.S(s) }

// TestCommitPrefixUTF8: a commit filed under its first 7 bytes, which cut
// through a character, is stored (DynamoDB keys must be valid UTF-8) and
// found by prefix and exactly.
func TestCommitPrefixUTF8(t *testing.T) {
	s, _ := newStore(t)
	v1, v2 := testVersion("m", 1), testVersion("m", 2)
	v1.Lineage.Code.Commit, v2.Lineage.Code.Commit = "éééééééé", "éééx"
	commit(t, s, &registry.Change{Versions: []registry.Version{v1, v2}})
	for q, want := range map[string]string{"éééé": "[1]", "éééééééé": "[1]", "ééé": "[]", "éééx": "[2]", "éé": "[]"} {
		p, err := s.ListVersions(t.Context(), registry.VersionQuery{Model: "m", GitCommit: q, Limit: 10})
		if err != nil {
			t.Fatalf("GitCommit %q: %v", q, err)
		}
		var got []int
		for _, v := range p.Items {
			got = append(got, v.Number)
		}
		if fmt.Sprint(got) != want {
			t.Errorf("GitCommit %q: listed %v, want %s", q, got, want)
		}
	}
}

// An item written before responses became opaque (status and body apart)
// is still replayed after an upgrade, as the status line and the body.
func TestLegacyIdempotencyItemIsReadable(t *testing.T) {
	s, c := newStore(t)
	exp := time.Now().Add(time.Hour).UTC()
	item := wire.Item{
		"pk": wire.S(idempotencyPK("k1")), "sk": wire.S(skIdempotency),
		"kind": wire.S(kindIdempotency), "key": wire.S("k1"),
		"request_hash": wire.S("h"), "status_code": wire.N("201"),
		"body": wire.B([]byte(`{"version":1}`)), "created_at": wire.S(timeKey(t0)),
		"expires": wire.S(timeKey(exp)), "expires_at": wire.N(fmt.Sprint(exp.Unix() + 1)),
	}
	if _, err := c.PutItem(t.Context(), &wire.PutItemInput{TableName: s.table, Item: item}); err != nil {
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
