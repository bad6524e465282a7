package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

func withKey(key string) map[string]string { return map[string]string{HeaderIdempotencyKey: key} }

// latest returns the model's latest version number, read from the service.
func (e *env) latest(model string) int {
	e.t.Helper()
	m, err := e.svc.GetModel(as("adam"), model)
	if err != nil {
		e.t.Fatal(err)
	}
	return m.LatestVersion
}

func TestIdempotentRetryReplaysTheFirstResponse(t *testing.T) {
	e := newEnv(t)
	e.seedModel("m", 0)
	r := req{method: "POST", path: "/v1/models/m/versions", token: tok("paul"),
		body: `{"metrics":{"auc":0.9}}`, header: withKey("retry-1")}
	first := e.must(201, r, nil)
	if first.header.Get(HeaderReplayed) != "" {
		t.Error("a fresh response is marked as replayed")
	}
	second := e.must(201, r, nil)
	if !bytes.Equal(first.body, second.body) {
		t.Errorf("replayed body differs:\n%s\n%s", first.body, second.body)
	}
	if second.header.Get(HeaderReplayed) != "true" {
		t.Errorf("%s = %q on the retry, want true", HeaderReplayed, second.header.Get(HeaderReplayed))
	}
	if second.header.Get("Content-Type") != "application/json" {
		t.Errorf("replay Content-Type = %q", second.header.Get("Content-Type"))
	}
	if n := e.latest("m"); n != 1 {
		t.Fatalf("%d versions registered, want 1", n)
	}

	// The same key with another body is refused and changes nothing.
	before := e.snapshot()
	other := r
	other.body = `{"metrics":{"auc":0.8}}`
	res := e.do(other)
	if res.status != http.StatusUnprocessableEntity || res.errCode() != registry.KeyReused {
		t.Fatalf("same key, other body = %d %s, want 422 idempotency_key_reused", res.status, res.body)
	}
	if !strings.Contains(res.errMessage(), "retry-1") {
		t.Errorf("message %q does not name the key", res.errMessage())
	}
	// ...and so is the same key with another query.
	other = r
	other.path += "?dry=1"
	if res := e.do(other); res.status != http.StatusUnprocessableEntity {
		t.Errorf("same key, other query = %d, want 422", res.status)
	}
	if after := e.snapshot(); after != before {
		t.Errorf("a reused key changed the registry:\n%s\n%s", before, after)
	}

	// The same key on another path is another key.
	e.must(201, req{method: "POST", path: "/v1/models", token: tok("paul"), body: `{"name":"n"}`, header: withKey("retry-1")}, nil)
}

func TestIdempotencyKeysAreScopedToTheCaller(t *testing.T) {
	e := newEnv(t)
	e.seedModel("m", 0)
	body := `{"description":"same"}`
	a := e.must(201, req{method: "POST", path: "/v1/models/m/versions", token: tok("paul"), body: body, header: withKey("shared")}, nil)
	b := e.must(201, req{method: "POST", path: "/v1/models/m/versions", token: tok("pia"), body: body, header: withKey("shared")}, nil)
	if b.header.Get(HeaderReplayed) != "" || bytes.Equal(a.body, b.body) {
		t.Errorf("pia's request was answered with paul's response: %s", b.body)
	}
	if n := e.latest("m"); n != 2 {
		t.Fatalf("%d versions, want 2 (one per caller)", n)
	}
}

func TestConcurrentRequestsWithOneKeyCreateOneVersion(t *testing.T) {
	e := newEnv(t)
	e.seedModel("m", 0)
	r := req{method: "POST", path: "/v1/models/m/versions", token: tok("paul"),
		body: `{"metrics":{"auc":0.9},"params":{"lr":"0.1"}}`, header: withKey("race")}
	const n = 10
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		results [n]resp
		errs    [n]error
	)
	for i := range n {
		wg.Go(func() {
			<-start
			results[i], errs[i] = e.send(r)
		})
	}
	close(start)
	wg.Wait()
	fresh := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if results[i].status != http.StatusCreated {
			t.Fatalf("request %d = %d %s, want 201", i, results[i].status, results[i].body)
		}
		if !bytes.Equal(results[i].body, results[0].body) {
			t.Errorf("request %d got another body:\n%s\n%s", i, results[i].body, results[0].body)
		}
		if results[i].header.Get(HeaderReplayed) == "" {
			fresh++
		}
	}
	if fresh != 1 {
		t.Errorf("%d fresh responses, want exactly 1 (the rest replayed)", fresh)
	}
	if got := e.latest("m"); got != 1 {
		t.Fatalf("%d versions registered, want 1", got)
	}
}

func TestFailedRequestsAreNotStored(t *testing.T) {
	e := newEnv(t)
	r := req{method: "POST", path: "/v1/models/later/versions", token: tok("paul"), body: `{}`, header: withKey("early")}
	if res := e.do(r); res.status != http.StatusNotFound {
		t.Fatalf("register on a missing model = %d, want 404", res.status)
	}
	e.seedModel("later", 0)
	res := e.must(201, r, nil)
	if res.header.Get(HeaderReplayed) != "" {
		t.Error("the retry replayed a failure instead of running")
	}
}

func TestIdempotentWritesOfEveryKind(t *testing.T) {
	e := newEnv(t)
	e.seedModel("m", 2)
	paul := tok("paul")
	// Each of these would fail or change something if run twice.
	steps := []struct {
		r      req
		status int
	}{
		{req{method: "POST", path: "/v1/models", token: paul, body: `{"name":"fresh"}`}, 201},
		{req{method: "PATCH", path: "/v1/models/m", token: paul, body: `{"description":"d2"}`}, 200},
		{req{method: "POST", path: "/v1/models/m/versions/1/transitions", token: paul, body: `{"to":"Staging","reason":"r"}`}, 200},
		{req{method: "POST", path: "/v1/models/m/versions/1/metrics", token: paul, body: `{"metrics":{"p99_ms":12}}`}, 200},
		{req{method: "PATCH", path: "/v1/models/m/versions/2", token: paul, body: `{"tags":{"k":"v"}}`}, 200},
		{req{method: "PUT", path: "/v1/models/m/aliases/champion", token: paul, body: `{"version":2}`}, 200},
		{req{method: "DELETE", path: "/v1/models/m/aliases/champion", token: paul}, 204},
		{req{method: "DELETE", path: "/v1/models/fresh", token: tok("adam")}, 204},
	}
	for i, s := range steps {
		s.r.header = withKey("kind-" + s.r.method + s.r.path)
		first := e.must(s.status, s.r, nil)
		before := e.snapshot()
		again := e.do(s.r)
		if again.status != s.status || !bytes.Equal(first.body, again.body) || again.header.Get(HeaderReplayed) != "true" {
			t.Errorf("step %d %s %s: retry = %d %q (replayed %q), want %d %q replayed",
				i, s.r.method, s.r.path, again.status, again.body, again.header.Get(HeaderReplayed), s.status, first.body)
		}
		if after := e.snapshot(); after != before {
			t.Errorf("step %d: the retry changed the registry", i)
		}
	}
}

// The upload routes replay too: a retried create gets the same session
// (not a second one that would abort the first), a retried complete the
// same version.
func TestUploadRoutesReplay(t *testing.T) {
	e := newEnv(t)
	e.seedModel("m", 0)
	if _, err := e.svc.RegisterVersion(as("paul"), "m", registry.NewVersion{}); err != nil {
		t.Fatal(err)
	}
	content := []byte("abc")
	body := `{"files":[{"path":"f.txt","size":3,"sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}]}`
	r := req{method: "POST", path: "/v1/models/m/versions/1/uploads", token: tok("paul"), body: body, header: withKey("up")}
	first := e.do(r)
	retry := e.do(r)
	if first.status != 201 || retry.status != 201 || string(first.body) != string(retry.body) {
		t.Fatalf("create then retry: %d %s / %d %s", first.status, first.body, retry.status, retry.body)
	}
	var ticket UploadTicket
	if err := json.Unmarshal(retry.body, &ticket); err != nil {
		t.Fatal(err)
	}
	if v, err := e.svc.GetVersion(as("paul"), "m", 1); err != nil || v.UploadID != ticket.UploadID {
		t.Fatalf("the retry replaced the session: version upload %q, ticket %q (%v)", v.UploadID, ticket.UploadID, err)
	}
	for _, p := range ticket.Files[0].Parts {
		e.sendPart(p, content[p.Offset:p.Offset+p.Size])
	}
	done := req{method: "POST", path: "/v1/models/m/versions/1/uploads/" + ticket.UploadID + "/complete", token: tok("paul"), header: withKey("done")}
	var v1, v2 Version
	e.must(200, done, &v1)
	e.must(200, done, &v2)
	if v1.Status != registry.StatusReady || v2.Status != registry.StatusReady || v1.Revision != v2.Revision {
		t.Errorf("complete twice = %s rev %d, %s rev %d; want READY, unchanged", v1.Status, v1.Revision, v2.Status, v2.Revision)
	}
	r.header = withKey(strings.Repeat("x", MaxIdempotencyKeyLen+1))
	if res := e.do(r); res.status != http.StatusBadRequest {
		t.Errorf("a %d-character key = %d, want 400", MaxIdempotencyKeyLen+1, res.status)
	}
}

// TestUnreadableStoredResponse: a stored response the API cannot read (as
// an older server's bare body would be) is a 500, and the write is not
// made a second time.
func TestUnreadableStoredResponse(t *testing.T) {
	e := newEnv(t)
	e.seedModel("m", 0)
	path, body := "/v1/models/m/versions", `{}`
	now := e.svc.Now()
	rec := &registry.IdempotencyRecord{
		Key:         scopedKey("paul", "POST", path, "old-1"),
		RequestHash: hashParts("POST", path, "", body),
		Response:    []byte(`{"model":"m","version":1}` + "\n"),
		CreatedAt:   now, ExpiresAt: now.Add(time.Hour),
	}
	if err := e.store.Commit(as("paul"), &registry.Change{Idempotency: rec}); err != nil {
		t.Fatal(err)
	}
	res := e.do(req{method: "POST", path: path, token: tok("paul"), body: body, header: withKey("old-1")})
	if res.status != http.StatusInternalServerError {
		t.Errorf("replay of an unreadable response: %d %s, want 500", res.status, res.body)
	}
	if n := e.latest("m"); n != 0 {
		t.Errorf("%d versions registered, want none", n)
	}
}
