package httpapi

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/registry"
)

// TestRenameRoute: admins only; bad bodies and taken names change nothing;
// the rename answers the model under its new name, and a retry with the
// same Idempotency-Key replays that answer.
func TestRenameRoute(t *testing.T) {
	e := newEnv(t)
	e.seedModel("m", 2)
	e.seedModel("taken", 0)
	before := e.snapshot()
	for _, tc := range []struct {
		token, body string
		status      int
		code        registry.Code
	}{
		{tok("paul"), `{"new_name":"n"}`, http.StatusForbidden, registry.Forbidden},
		{tok("adam"), `{}`, http.StatusBadRequest, registry.Invalid},
		{tok("adam"), `{"new_name":"n","extra":1}`, http.StatusBadRequest, registry.Invalid},
		{tok("adam"), `{"new_name":"bad name"}`, http.StatusBadRequest, registry.Invalid},
		{tok("adam"), `{"new_name":"taken"}`, http.StatusConflict, registry.Conflict},
	} {
		res := e.do(req{method: "POST", path: "/v1/models/m/rename", token: tc.token, body: tc.body})
		if res.status != tc.status || res.errCode() != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.body, res.status, res.body, tc.status, tc.code)
		}
	}
	if after := e.snapshot(); after != before {
		t.Fatalf("refused renames changed the registry:\n%s\n%s", before, after)
	}
	r := req{method: "POST", path: "/v1/models/m/rename", token: tok("adam"), body: `{"new_name":"n","reason":"typo"}`, header: withKey("rename-1")}
	var m Model
	first := e.must(http.StatusOK, r, &m)
	if m.Name != "n" || m.LatestVersion != 2 {
		t.Fatalf("rename answered %+v", m)
	}
	second := e.must(http.StatusOK, r, nil)
	if !bytes.Equal(first.body, second.body) || second.header.Get(HeaderReplayed) != "true" {
		t.Fatalf("retry: %s (replayed %q)", second.body, second.header.Get(HeaderReplayed))
	}
	res := e.do(req{method: "GET", path: "/v1/models/m", token: tok("rita")})
	if res.status != http.StatusNotFound || !strings.Contains(res.errMessage(), `renamed to "n"`) {
		t.Fatalf("old name: %d %s", res.status, res.body)
	}
	e.must(http.StatusOK, req{method: "GET", path: "/v1/models/n/versions/2", token: tok("rita")}, nil)
}
