package httpapi

import (
	"testing"
)

// TestStageETag: GET …/stages/{stage} answers an ETag; If-None-Match with
// it (also weak, in a list, or "*") is 304 with no body; any change to
// what the stage holds (its version's metrics, another version) changes
// the ETag, so the old one gets the new document.
func TestStageETag(t *testing.T) {
	e := newEnv(t)
	paul, rita := tok("paul"), tok("rita")
	e.must(201, req{method: "POST", path: "/v1/models", token: paul, body: `{"name":"etag"}`}, nil)
	for _, src := range []string{"s3://b/etag/1", "s3://b/etag/2"} {
		e.must(201, req{method: "POST", path: "/v1/models/etag/versions", token: paul, body: `{"source":"` + src + `"}`}, nil)
	}
	const path = "/v1/models/etag/stages/Staging"
	if res := e.do(req{method: "GET", path: path, token: rita}); res.status != 404 || res.header.Get("ETag") != "" {
		t.Fatalf("empty stage = %d with ETag %q, want 404 without", res.status, res.header.Get("ETag"))
	}
	e.must(200, req{method: "POST", path: "/v1/models/etag/versions/1/transitions", token: paul, body: `{"to":"Staging","reason":"r"}`}, nil)
	first := e.do(req{method: "GET", path: path, token: rita})
	tag := first.header.Get("ETag")
	if first.status != 200 || len(tag) < 3 || tag[0] != '"' {
		t.Fatalf("GET = %d, ETag %q", first.status, tag)
	}
	for _, inm := range []string{tag, "W/" + tag, `"other", ` + tag, "*"} {
		res := e.do(req{method: "GET", path: path, token: rita, header: map[string]string{"If-None-Match": inm}})
		if res.status != 304 || len(res.body) != 0 || res.header.Get("ETag") != tag {
			t.Errorf("If-None-Match %s = %d (%d bytes, ETag %q), want 304, empty, %s", inm, res.status, len(res.body), res.header.Get("ETag"), tag)
		}
	}
	if res := e.do(req{method: "GET", path: path, token: rita, header: map[string]string{"If-None-Match": `"stale"`}}); res.status != 200 || string(res.body) != string(first.body) {
		t.Errorf("stale If-None-Match = %d, want 200 with the document", res.status)
	}
	// The ETag check comes after authorization: no token, no 304.
	if res := e.do(req{method: "GET", path: path, header: map[string]string{"If-None-Match": tag}}); res.status != 401 {
		t.Errorf("unauthenticated If-None-Match = %d, want 401", res.status)
	}

	e.must(200, req{method: "POST", path: "/v1/models/etag/versions/1/metrics", token: paul, body: `{"metrics":{"latency_ms":3},"source":"production"}`}, nil)
	second := e.do(req{method: "GET", path: path, token: rita, header: map[string]string{"If-None-Match": tag}})
	if second.status != 200 || second.header.Get("ETag") == tag {
		t.Fatalf("after new metrics: %d, ETag %q (was %q), want 200 and a new ETag", second.status, second.header.Get("ETag"), tag)
	}
	e.must(200, req{method: "POST", path: "/v1/models/etag/versions/2/transitions", token: paul, body: `{"to":"Staging","reason":"r"}`}, nil)
	var v Version
	third := e.must(200, req{method: "GET", path: path, token: rita, header: map[string]string{"If-None-Match": second.header.Get("ETag")}}, &v)
	if v.Number != 2 || third.header.Get("ETag") == second.header.Get("ETag") {
		t.Errorf("after v2 moved to Staging: v%d, ETag %q", v.Number, third.header.Get("ETag"))
	}
}
