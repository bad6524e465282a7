package httpapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// TestClientRequestBodies pins what the Go client sends: the request types
// it shares with the server encode as its own structs did before.
func TestClientRequestBodies(t *testing.T) {
	st := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		name string
		v    any
		want string
	}{
		{"empty registration", RegisterRequest{}, `{"lineage":{"code":{},"data":{},"run":{},"environment":{}}}`},
		{"registration", RegisterRequest{Description: "d",
			Metrics: map[string]MetricInput{"acc": {Value: 0.9}, "loss": {Value: 0.1, Source: registry.SourceValidation}},
			Params:  map[string]string{"lr": "0.1"}, Tags: map[string]string{"t": "1"},
			Lineage: Lineage{Code: CodeLineage{Repo: "r", Commit: "c", Dirty: true}, Run: RunLineage{RunID: "x", StartedAt: &st}},
			Source:  "s3://b/p"},
			`{"description":"d","metrics":{"acc":{"value":0.9},"loss":{"value":0.1,"source":"validation"}},"params":{"lr":"0.1"},"tags":{"t":"1"},"lineage":{"code":{"repo":"r","commit":"c","dirty":true},"data":{},"run":{"run_id":"x","started_at":"2026-01-02T03:04:05Z"},"environment":{}},"source":"s3://b/p"}`},
		{"model", NewModel{Name: "m"}, `{"name":"m","description":"","owner":"","tags":null}`},
		{"metrics", PushMetricsRequest{Metrics: map[string]float64{"a": 1}, Source: registry.SourceProduction}, `{"metrics":{"a":1},"source":"production"}`},
		{"metrics, default source", PushMetricsRequest{Metrics: map[string]float64{"a": 1}}, `{"metrics":{"a":1}}`},
		{"upload", UploadRequest{Files: []FileSpec{{Path: "a", Size: 3, SHA256: "ab"}}}, `{"files":[{"path":"a","size":3,"sha256":"ab"}]}`},
	} {
		got, err := json.Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}

// TestRequestBodiesToDomain decodes request bodies as the handlers do and
// checks the service input they become.
func TestRequestBodiesToDomain(t *testing.T) {
	decode := func(body string, dst any) {
		t.Helper()
		if err := decodeStrict([]byte(body), dst, "request body"); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
	}
	var nm NewModel
	decode(`{"name":"m","description":"d","owner":"o","tags":{"a":"b"}}`, &nm)
	if got, want := nm.domain(), (registry.NewModel{Name: "m", Description: "d", Owner: "o", Tags: map[string]string{"a": "b"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("new model %+v, want %+v", got, want)
	}
	var mp ModelPatch
	decode(`{"owner":"o","tags":{}}`, &mp)
	if p := mp.domain(); p.Description != nil || p.Owner == nil || *p.Owner != "o" || p.Tags == nil || len(*p.Tags) != 0 {
		t.Errorf("model patch %+v: want owner o, empty tags, description untouched", p)
	}
	var vp VersionPatch
	decode(`{"description":"x"}`, &vp)
	if p := vp.domain(); p.Description == nil || *p.Description != "x" || p.Tags != nil {
		t.Errorf("version patch %+v", p)
	}
	var rr RegisterRequest
	decode(`{"metrics":{"acc":0.9,"loss":{"value":0.1,"source":"validation"}},"lineage":{"code":{"commit":"abc"},"run":{"started_at":"2026-01-02T03:04:05Z"},"source_uri":"s3://b"},"source":"s3://b"}`, &rr)
	nv := rr.NewVersion()
	st := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	want := registry.NewVersion{
		Metrics: map[string]registry.Metric{"acc": {Value: 0.9, Source: registry.SourceTraining}, "loss": {Value: 0.1, Source: registry.SourceValidation}},
		Lineage: registry.Lineage{Code: registry.CodeLineage{Commit: "abc"}, Run: registry.RunLineage{StartedAt: &st}, SourceURI: "s3://b"},
		Source:  "s3://b",
	}
	if !reflect.DeepEqual(nv, want) {
		t.Errorf("registration %+v, want %+v", nv, want)
	}
	var ur UploadRequest
	decode(`{"files":[{"path":"a","size":3,"sha256":"ab","part_size":5242880,"part_sha256":["cd"]}]}`, &ur)
	if got := fileSpecsIn(ur.Files); !reflect.DeepEqual(got, []registry.FileSpec{{Path: "a", Size: 3, SHA256: "ab", PartSize: 5 << 20, PartSHA256: []string{"cd"}}}) {
		t.Errorf("upload files %+v", got)
	}
	// Field names are the wire's, not the Go ones.
	if err := decodeStrict([]byte(`{"Files":[{"Path":"a","Size":1,"SHA256":"ab","PartSize":1}]}`), &UploadRequest{}, "request body"); err == nil || !strings.Contains(err.Error(), `unknown field "Files"`) {
		t.Errorf("a body with Go field names: %v, want unknown field Files (names are case-sensitive)", err)
	}
}

// TestWireBodyRefusesDomainTypes: a domain type without a wire type is an
// error, not a document with Go field names.
func TestWireBodyRefusesDomainTypes(t *testing.T) {
	for _, v := range []any{registry.UploadSession{ID: "u"}, registry.Execution{}, []registry.Alias{{Name: "a"}}, registry.TransitionResult{}} {
		if b, err := wireBody(v); err == nil {
			t.Errorf("wireBody(%T) = %#v, want an error", v, b)
		}
	}
}

// TestStoredResponse: the API's stored response carries the status its
// body chooses (202 for a transition that waits for approval, from the
// service's Approval result) and reads back; what an older server stored
// (a bare body) is refused, never replayed with a guessed status.
func TestStoredResponse(t *testing.T) {
	tr := route{status: 200, body: transitionBody}
	b, err := tr.render(registry.Approval{ID: "ap-1", Status: registry.ApprovalPending, TaskToken: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "202\n{\"approval_id\":\"ap-1\",\"status\":\"PENDING\"}\n" {
		t.Errorf("stored transition response %q", b)
	}
	b, err = route{status: 204}.render(nil)
	if err != nil || string(b) != "204\n" {
		t.Errorf("stored 204: %q, %v", b, err)
	}
	status, body, err := parseStoredResponse([]byte("201\n{\"a\":1}\n"))
	if err != nil || status != 201 || string(body) != "{\"a\":1}\n" {
		t.Errorf("parse: %d %q %v", status, body, err)
	}
	for _, old := range []string{"", "{\"name\":\"m\"}\n", "abc\n{}", "500\n{}"} {
		if _, _, err := parseStoredResponse([]byte(old)); err == nil {
			t.Errorf("parseStoredResponse(%q): want an error", old)
		}
	}
}
