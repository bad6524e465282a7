package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/modelreg/modelreg/shared/registry"
)

// sendPart makes the request a ticket describes, with exactly its headers.
func (e *env) sendPart(p PartRequest, body []byte) {
	e.t.Helper()
	r, err := http.NewRequest(p.Method, p.URL, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range p.Headers {
		r.Header.Set(k, v)
	}
	res, err := e.srv.Client().Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(res.Body)
		e.t.Fatalf("part %d: %s %s = %d %s", p.Number, p.Method, p.URL, res.StatusCode, msg)
	}
}

func TestFlow(t *testing.T) {
	e := newEnv(t)
	paul, rita := tok("paul"), tok("rita")

	var health Health
	e.must(200, req{method: "GET", path: "/v1/health"}, &health)
	if health.Status != "ok" || health.Version != "test-1.2.3" {
		t.Errorf("health = %+v", health)
	}
	var me WhoAmI
	e.must(200, req{method: "GET", path: "/v1/whoami", token: paul}, &me)
	if me != (WhoAmI{Name: "paul", Role: registry.RolePublisher}) {
		t.Errorf("whoami = %+v", me)
	}

	// A model and two versions with metrics.
	var m Model
	e.must(201, req{method: "POST", path: "/v1/models", token: paul, body: `{"name":"fraud","description":"card fraud","tags":{"team":"risk"}}`}, &m)
	if m.Name != "fraud" || m.Owner != "paul" || m.Tags["team"] != "risk" {
		t.Errorf("created model = %+v", m)
	}
	var v1, v2 Version
	e.must(201, req{method: "POST", path: "/v1/models/fraud/versions", token: paul, body: `{
		"metrics": {"auc": 0.91, "loss": {"value": 0.30, "source": "validation"}},
		"params": {"lr": "0.1"},
		"lineage": {"code": {"repo": "git@example:fraud.git", "commit": "abcdef1234567"}, "data": {"dataset_id": "tx-2026"}}}`}, &v1)
	e.must(201, req{method: "POST", path: "/v1/models/fraud/versions", token: paul, body: `{
		"metrics": {"auc": 0.95, "loss": 0.20}, "params": {"lr": "0.01"}}`}, &v2)
	if v1.Number != 1 || v2.Number != 2 || v2.Status != registry.StatusPendingUpload {
		t.Fatalf("registered v%d, v%d (%s)", v1.Number, v2.Number, v2.Status)
	}
	if v1.Metrics["auc"].Source != registry.SourceTraining || v1.Metrics["loss"].Source != registry.SourceValidation || v1.Metrics["loss"].Value != 0.30 {
		t.Errorf("v1 metrics = %+v", v1.Metrics)
	}

	// Upload an artifact through the ticket's URLs, then complete.
	content := []byte("weights of a very small model\n")
	sum := sha256.Sum256(content)
	var ticket UploadTicket
	e.must(201, req{method: "POST", path: "/v1/models/fraud/versions/2/uploads", token: paul,
		body: fmt.Sprintf(`{"files":[{"path":"model/weights.bin","size":%d,"sha256":"%x"}]}`, len(content), sum)}, &ticket)
	if len(ticket.Files) != 1 || len(ticket.Files[0].Parts) == 0 {
		t.Fatalf("ticket = %+v", ticket)
	}
	for _, p := range ticket.Files[0].Parts {
		e.sendPart(p, content[p.Offset:p.Offset+p.Size])
	}
	var refreshed UploadTicket
	e.must(200, req{method: "POST", path: "/v1/models/fraud/versions/2/uploads/" + ticket.UploadID + "/refresh", token: paul}, &refreshed)
	if refreshed.UploadID != ticket.UploadID || len(refreshed.Files[0].Parts) != 0 {
		t.Errorf("refresh after the upload = %+v, want no parts left", refreshed)
	}
	complete := "/v1/models/fraud/versions/2/uploads/" + ticket.UploadID + "/complete"
	e.must(200, req{method: "POST", path: complete, token: paul, body: `{}`}, &v2)
	if v2.Status != registry.StatusReady || len(v2.Artifacts) != 1 || v2.Artifacts[0].SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("completed version = %+v", v2)
	}
	e.must(200, req{method: "POST", path: complete, token: paul}, nil) // completing again is fine

	// Download through the link.
	var set DownloadSet
	e.must(200, req{method: "GET", path: "/v1/models/fraud/versions/2/download?path=model/weights.bin", token: rita}, &set)
	if len(set.Files) != 1 {
		t.Fatalf("download set = %+v", set)
	}
	res, err := e.srv.Client().Get(set.Files[0].URL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Equal(got, content) {
		t.Fatalf("download = %d %q, want %q", res.StatusCode, got, content)
	}

	// Staging, and the stage lookup.
	e.must(200, req{method: "POST", path: "/v1/models/fraud/versions/2/transitions", token: paul, body: `{"to":"staging","reason":"beats v1"}`}, &v2)
	if v2.Stage != registry.StageStaging {
		t.Fatalf("stage after transition = %s", v2.Stage)
	}
	var staged Version
	e.must(200, req{method: "GET", path: "/v1/models/fraud/stages/Staging", token: rita}, &staged)
	if staged.Number != 2 {
		t.Errorf("Staging holds v%d, want v2", staged.Number)
	}
	if res := e.do(req{method: "GET", path: "/v1/models/fraud/stages/Production", token: rita}); res.status != 404 {
		t.Errorf("Production lookup = %d, want 404", res.status)
	}

	// Metrics pushed after deployment.
	e.must(200, req{method: "POST", path: "/v1/models/fraud/versions/2/metrics", token: paul, body: `{"metrics":{"p99_ms":12.5}}`}, &v2)
	if v2.Metrics["p99_ms"].Source != registry.SourceProduction {
		t.Errorf("pushed metric = %+v", v2.Metrics["p99_ms"])
	}

	// Aliases: set, get, list, delete.
	var al Alias
	e.must(200, req{method: "PUT", path: "/v1/models/fraud/aliases/champion", token: paul, body: `{"version":2}`}, &al)
	if al.Name != "champion" || al.Version != 2 {
		t.Errorf("alias = %+v", al)
	}
	var target AliasTarget
	e.must(200, req{method: "GET", path: "/v1/models/fraud/aliases/champion", token: rita}, &target)
	if target.Alias.Version != 2 || target.Version.Number != 2 || target.Version.Status != registry.StatusReady {
		t.Errorf("alias target = %+v", target)
	}
	var aliases List[Alias]
	e.must(200, req{method: "GET", path: "/v1/models/fraud/aliases", token: rita}, &aliases)
	if len(aliases.Items) != 1 {
		t.Errorf("aliases = %+v", aliases)
	}
	e.must(204, req{method: "DELETE", path: "/v1/models/fraud/aliases/champion", token: paul}, nil)
	e.must(404, req{method: "GET", path: "/v1/models/fraud/aliases/champion", token: rita}, nil)

	// History lists the events, newest first.
	var hist List[AuditEntry]
	e.must(200, req{method: "GET", path: "/v1/models/fraud/history", token: rita}, &hist)
	var actions []registry.Action
	for _, a := range hist.Items {
		actions = append(actions, a.Action)
	}
	want := []registry.Action{registry.ActionAliasDeleted, registry.ActionAliasSet, registry.ActionMetricsPushed,
		registry.ActionStageChanged, registry.ActionVersionReady, registry.ActionUploadStarted,
		registry.ActionVersionRegistered, registry.ActionVersionRegistered, registry.ActionModelCreated}
	if !slices.Equal(actions, want) {
		t.Errorf("history = %v, want %v", actions, want)
	}
	if hist.Items[3].From != registry.StageNone || hist.Items[3].To != registry.StageStaging || hist.Items[3].Reason != "beats v1" || hist.Items[3].Actor != "paul" {
		t.Errorf("transition entry = %+v", hist.Items[3])
	}
	e.must(200, req{method: "GET", path: "/v1/models/fraud/history?version=1", token: rita}, &hist)
	if len(hist.Items) != 1 || hist.Items[0].Version != 1 {
		t.Errorf("history of v1 = %+v", hist.Items)
	}

	// Compare marks the best.
	var cmp Comparison
	e.must(200, req{method: "GET", path: "/v1/models/fraud/compare?versions=1,2&by=auc", token: rita}, &cmp)
	if !slices.Equal(cmp.Ranking, []int{2, 1}) {
		t.Errorf("ranking = %v, want [2 1]", cmp.Ranking)
	}
	for _, row := range cmp.Metrics {
		if (row.Name == "auc" || row.Name == "loss") && !slices.Equal(row.Best, []int{2}) {
			t.Errorf("best %s = %v, want [2]", row.Name, row.Best)
		}
	}
	if len(cmp.Params) != 1 || !cmp.Params[0].Differs {
		t.Errorf("params = %+v, want lr differing", cmp.Params)
	}

	// Pagination: five versions, two a page, each exactly once.
	for range 3 {
		e.must(201, req{method: "POST", path: "/v1/models/fraud/versions", token: paul, body: `{"source":"s3://bucket/fraud"}`}, nil)
	}
	var seen []int
	token := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		var page List[Version]
		e.must(200, req{method: "GET", path: "/v1/models/fraud/versions?page_size=2&page_token=" + url.QueryEscape(token), token: rita}, &page)
		if len(page.Items) > 2 {
			t.Fatalf("page of %d items, want at most 2", len(page.Items))
		}
		for _, v := range page.Items {
			seen = append(seen, v.Number)
		}
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	if !slices.Equal(seen, []int{5, 4, 3, 2, 1}) {
		t.Errorf("paged versions = %v, want [5 4 3 2 1]", seen)
	}

	// Filters.
	for q, want := range map[string][]int{
		"stage=Staging": {2}, "git_commit=abcdef1": {1}, "dataset=tx-2026": {1},
		"status=pending_upload": {1}, "status=READY": {5, 4, 3, 2},
	} {
		var page List[Version]
		e.must(200, req{method: "GET", path: "/v1/models/fraud/versions?" + q, token: rita}, &page)
		var nums []int
		for _, v := range page.Items {
			nums = append(nums, v.Number)
		}
		if !slices.Equal(nums, want) {
			t.Errorf("versions?%s = %v, want %v", q, nums, want)
		}
	}

	// Models: list with a prefix, patch, and approvals (none yet).
	e.must(201, req{method: "POST", path: "/v1/models", token: paul, body: `{"name":"churn"}`}, nil)
	var models List[Model]
	e.must(200, req{method: "GET", path: "/v1/models?prefix=fr", token: rita}, &models)
	if len(models.Items) != 1 || models.Items[0].Name != "fraud" {
		t.Errorf("models?prefix=fr = %+v", models.Items)
	}
	e.must(200, req{method: "PATCH", path: "/v1/models/churn", token: paul, body: `{"description":"who leaves"}`}, &m)
	if m.Description != "who leaves" {
		t.Errorf("patched model = %+v", m)
	}
	e.must(204, req{method: "DELETE", path: "/v1/models/churn", token: tok("adam")}, nil)
	e.must(404, req{method: "GET", path: "/v1/models/churn", token: rita}, nil)
	var approvals List[Approval]
	e.must(200, req{method: "GET", path: "/v1/approvals?status=pending", token: rita}, &approvals)
	if approvals.Items == nil || len(approvals.Items) != 0 {
		t.Errorf("approvals = %+v, want an empty list", approvals)
	}
	e.must(404, req{method: "GET", path: "/v1/approvals/NOPE", token: rita}, nil)

	// The OpenAPI document is served as it is embedded.
	doc := e.must(200, req{method: "GET", path: "/v1/openapi.json"}, nil)
	if !bytes.Equal(doc.body, OpenAPI) || doc.header.Get("Content-Type") != "application/json" {
		t.Error("GET /v1/openapi.json does not serve the embedded document as JSON")
	}
}
