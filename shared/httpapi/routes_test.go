package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/registry"
)

// samplePath fills a path template with values that exist once the test
// seeds model team_model with versions.
func samplePath(path string) string {
	return strings.NewReplacer("{name}", "team_model", "{version}", "1", "{upload_id}", "UPLOAD1",
		"{alias}", "champion", "{stage}", "Staging", "{id}", "APPROVAL1").Replace(path)
}

// openAPIDoc is the part of an OpenAPI document the tests read.
type openAPIDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]openAPIOp       `json:"paths"`
	Components map[string]map[string]json.RawMessage `json:"components"`
}

type openAPIOp struct {
	OperationID string            `json:"operationId"`
	Permission  string            `json:"x-permission"`
	Security    *[]map[string]any `json:"security"`
	Parameters  []struct {
		Ref  string `json:"$ref"`
		Name string `json:"name"`
		In   string `json:"in"`
	} `json:"parameters"`
	Responses map[string]json.RawMessage `json:"responses"`
}

func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return doc
}

func TestRouteTableMuxAndOpenAPIAgree(t *testing.T) {
	seen := map[string]bool{}
	for _, rt := range routes {
		if seen[rt.pattern()] {
			t.Errorf("route %s appears twice", rt.pattern())
		}
		seen[rt.pattern()] = true
		if rt.handle == nil || rt.status == 0 {
			t.Errorf("route %s has no handler or status", rt.pattern())
		}
		if !strings.HasPrefix(rt.path, "/v1/") {
			t.Errorf("route %s is not under /v1/", rt.pattern())
		}
	}

	// The mux sends a request for each route to that route and no other.
	mux := (&api{}).mux()
	for _, rt := range routes {
		r := httptest.NewRequest(rt.method, samplePath(rt.path), nil)
		if _, pattern := mux.Handler(r); pattern != rt.pattern() {
			t.Errorf("%s %s is routed to %q, want %q", rt.method, samplePath(rt.path), pattern, rt.pattern())
		}
	}

	doc := loadOpenAPI(t)
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
	documented := map[string]openAPIOp{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			documented[strings.ToUpper(method)+" "+path] = op
		}
	}
	params := doc.Components["parameters"]
	for _, rt := range routes {
		op, ok := documented[rt.pattern()]
		if !ok {
			t.Errorf("route %s is not in openapi.json", rt.pattern())
			continue
		}
		want := string(rt.perm)
		if rt.perm == permNone {
			want = "none"
			if op.Security == nil || len(*op.Security) != 0 {
				t.Errorf("%s needs no authentication but openapi.json does not say security: []", rt.pattern())
			}
		} else if op.Security != nil {
			t.Errorf("%s needs authentication but openapi.json overrides security", rt.pattern())
		}
		if op.Permission != want {
			t.Errorf("%s: openapi.json x-permission = %q, the route table says %q", rt.pattern(), op.Permission, want)
		}
		if _, ok := op.Responses[strconv.Itoa(rt.status)]; !ok {
			t.Errorf("%s: openapi.json does not document the success status %d", rt.pattern(), rt.status)
		}
		// Every path parameter of the template is declared, and only those.
		var declared []string
		for _, p := range op.Parameters {
			name, in := p.Name, p.In
			if p.Ref != "" {
				var def struct{ Name, In string }
				raw, ok := params[strings.TrimPrefix(p.Ref, "#/components/parameters/")]
				if !ok || json.Unmarshal(raw, &def) != nil {
					t.Errorf("%s: parameter %s does not resolve", rt.pattern(), p.Ref)
					continue
				}
				name, in = def.Name, def.In
			}
			if in == "path" {
				declared = append(declared, name)
			}
		}
		var inTemplate []string
		for _, m := range regexp.MustCompile(`\{([a-z_]+)\}`).FindAllStringSubmatch(rt.path, -1) {
			inTemplate = append(inTemplate, m[1])
		}
		slices.Sort(declared)
		slices.Sort(inTemplate)
		if !slices.Equal(declared, inTemplate) {
			t.Errorf("%s: openapi.json declares path parameters %v, the template has %v", rt.pattern(), declared, inTemplate)
		}
	}
	for p := range documented {
		if !seen[p] {
			t.Errorf("openapi.json documents %s, which is not routed", p)
		}
	}

	// Every $ref points at something, and the components the API promises exist.
	var all any
	if err := json.Unmarshal(OpenAPI, &all); err != nil {
		t.Fatal(err)
	}
	walkRefs(all, func(ref string) {
		parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
		if len(parts) != 2 || doc.Components[parts[0]][parts[1]] == nil {
			t.Errorf("openapi.json: $ref %s does not resolve", ref)
		}
	})
	for _, name := range []string{"Model", "Version", "Metric", "Lineage", "Artifact", "UploadTicket", "FileSpec",
		"PartRequest", "DownloadSet", "Alias", "AuditEntry", "Approval", "Comparison", "Error"} {
		if doc.Components["schemas"][name] == nil {
			t.Errorf("openapi.json has no schema %s", name)
		}
	}
	if doc.Components["securitySchemes"]["bearerAuth"] == nil {
		t.Error("openapi.json has no bearerAuth security scheme")
	}
}

func walkRefs(v any, f func(string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "$ref" {
				f(s)
			}
			walkRefs(x, f)
		}
	case []any:
		for _, x := range v {
			walkRefs(x, f)
		}
	}
}

// allowedRoles is written out here, not derived from registry.Role.Allows,
// so that a mistake there shows up as a failure here.
var allowedRoles = map[registry.Permission][]registry.Role{
	registry.PermRead:     {registry.RoleReader, registry.RolePublisher, registry.RoleApprover, registry.RoleAdmin},
	registry.PermPublish:  {registry.RolePublisher, registry.RoleAdmin},
	registry.PermApprove:  {registry.RoleApprover, registry.RoleAdmin},
	registry.PermAdmin:    {registry.RoleAdmin},
	registry.PermRollback: {registry.RolePublisher, registry.RoleApprover, registry.RoleAdmin},
}

func TestEveryRouteChecksEveryRole(t *testing.T) {
	e := newEnv(t)
	e.seedModel("team_model", 2)
	callers := []struct {
		desc  string
		token string
		role  registry.Role // "" for no or a bad token
	}{
		{"no token", "", ""},
		{"bad token", "not-a-known-token-0000", ""},
		{"reader", tok("rita"), registry.RoleReader},
		{"publisher", tok("paul"), registry.RolePublisher},
		{"approver", tok("anna"), registry.RoleApprover},
		{"admin", tok("adam"), registry.RoleAdmin},
	}
	for _, rt := range routes {
		for _, c := range callers {
			t.Run(rt.pattern()+"/"+c.desc, func(t *testing.T) {
				r := req{method: rt.method, path: samplePath(rt.path), token: c.token}
				if isWrite(rt.method) {
					r.body = "{}"
				}
				res := e.do(r)
				switch {
				case rt.perm == permNone:
					if res.status != http.StatusOK {
						t.Errorf("status %d %s, want 200 without authentication", res.status, res.body)
					}
				case c.role == "":
					if res.status != http.StatusUnauthorized || res.errCode() != registry.Unauthenticated {
						t.Errorf("status %d %s, want 401 unauthenticated", res.status, res.body)
					}
					if !strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("WWW-Authenticate = %q, want Bearer", res.header.Get("WWW-Authenticate"))
					}
				case slices.Contains(allowedRoles[rt.perm], c.role):
					if res.status == http.StatusUnauthorized || res.status == http.StatusForbidden {
						t.Errorf("status %d %s: role %s should be allowed (%s)", res.status, res.body, c.role, rt.perm)
					}
				default:
					if res.status != http.StatusForbidden || res.errCode() != registry.Forbidden {
						t.Errorf("status %d %s, want 403 forbidden for role %s", res.status, res.body, c.role)
					}
					if !strings.Contains(res.errMessage(), string(rt.perm)) {
						t.Errorf("message %q does not name the %s permission", res.errMessage(), rt.perm)
					}
				}
			})
		}
	}
}
