package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/filesystem"
	"github.com/modelreg/modelreg/shared/registry"
)

func withFileSources() envOption {
	return func(c *registry.Config, _ *Options) { c.AllowFileSources = true }
}

// withFreeSpace makes the artifact disk report free bytes.
func withFreeSpace(free int64) envOption {
	return func(c *registry.Config, _ *Options) {
		c.Artifacts.(*filesystem.Artifacts).SetFreeSpace(func() (int64, error) { return free, nil })
	}
}

// TestInputRulesChangeNothing sends text with control characters, sources
// of the wrong scheme and artifact paths that hide or collide, and checks
// that each gets a 400 that names the problem and leaves the registry as
// it was.
func TestInputRulesChangeNothing(t *testing.T) {
	e := newEnv(t, withFreeSpace(75<<30))
	e.seedModel("m", 1)
	if _, err := e.svc.RegisterVersion(as("adam"), "m", registry.NewVersion{}); err != nil { // v2 waits for files
		t.Fatal(err)
	}
	paul := tok("paul")
	files := func(specs ...string) string {
		var parts []string
		for _, p := range specs {
			parts = append(parts, fmt.Sprintf(`{"path":%q,"size":1,"sha256":%q}`, p, sha0))
		}
		return `{"files":[` + strings.Join(parts, ",") + `]}`
	}
	const v = "/v1/models/m/versions"
	cases := []struct {
		name   string
		r      req
		status int
		code   registry.Code
		msg    string
	}{
		{"ESC in a model description", req{"POST", "/v1/models", paul, `{"name":"n","description":"ok \u001b[2J"}`, nil}, 400, registry.Invalid, "description contains the control character U+001B (ESC) at character 4"},
		{"NUL in an owner", req{"POST", "/v1/models", paul, `{"name":"n","owner":"a\u0000b"}`, nil}, 400, registry.Invalid, "owner contains the control character U+0000 (NUL)"},
		{"newline in an owner", req{"POST", "/v1/models", paul, `{"name":"n","owner":"alice\nciso"}`, nil}, 400, registry.Invalid, "owner contains the control character U+000A (LF)"},
		{"BEL in a model tag", req{"POST", "/v1/models", paul, `{"name":"n","tags":{"team":"risk\u0007"}}`, nil}, 400, registry.Invalid, "tag team contains the control character U+0007 (BEL)"},
		{"C1 CSI in a model patch", req{"PATCH", "/v1/models/m", paul, `{"description":"\u009b31m"}`, nil}, 400, registry.Invalid, "U+009B (CSI) at character 1"},
		{"ESC in a version description", req{"POST", v, paul, `{"source":"s3://b/k","description":"\u001b]52;c;ZXZpbA==\u0007"}`, nil}, 400, registry.Invalid, "description contains the control character U+001B (ESC)"},
		{"ESC in a param", req{"POST", v, paul, `{"source":"s3://b/k","params":{"lr":"0.1\u001b[A"}}`, nil}, 400, registry.Invalid, "param lr contains"},
		{"DEL in a version tag patch", req{"PATCH", v + "/1", paul, `{"tags":{"k":"\u007f"}}`, nil}, 400, registry.Invalid, "tag k contains the control character U+007F (DEL)"},
		{"newline in a lineage field", req{"POST", v, paul, `{"source":"s3://b/k","lineage":{"code":{"repo":"a\nb"}}}`, nil}, 400, registry.Invalid, "lineage.code.repo contains"},
		{"forged history row in a reason", req{"POST", v + "/1/transitions", paul, `{"to":"Staging","reason":"cleanup\r2026-12-01 21:09:00  1  version.stage_changed  ciso  Staging → Production approved"}`, nil}, 400, registry.Invalid, "reason contains the control character U+000D (CR) at character 8"},
		{"file source on a shared server", req{"POST", v, paul, `{"source":"file:///etc/passwd"}`, nil}, 400, registry.Invalid, "accepted only by a local server"},
		{"javascript source", req{"POST", v, paul, `{"source":"javascript:alert(1)"}`, nil}, 400, registry.Invalid, "use one of s3, gs, wasbs, abfss, https, http, hdfs, dbfs, models, runs, mlflow-artifacts"},
		{"javascript lineage source", req{"POST", v, paul, `{"lineage":{"source_uri":"javascript:alert(1)"}}`, nil}, 400, registry.Invalid, `scheme "javascript"`},
		{"credentials in a source", req{"POST", v, paul, `{"source":"https://user:pw@example.com/m"}`, nil}, 400, registry.Invalid, "carries credentials"},
		{"RLO in a path", req{"POST", v + "/2/uploads", paul, files("invoice\u202egpj.exe"), nil}, 400, registry.Invalid, "U+202E (RIGHT-TO-LEFT OVERRIDE)"},
		{"zero width space in a path", req{"POST", v + "/2/uploads", paul, files("model\u200b.bin"), nil}, 400, registry.Invalid, "U+200B (ZERO WIDTH SPACE)"},
		{"BOM in a path", req{"POST", v + "/2/uploads", paul, files("\ufeffmodel.bin"), nil}, 400, registry.Invalid, "U+FEFF"},
		{"decomposed path", req{"POST", v + "/2/uploads", paul, files("cafe\u0301.bin"), nil}, 400, registry.Invalid, "not in Unicode normal form NFC"},
		{"paths differing by case", req{"POST", v + "/2/uploads", paul, files("Model.bin", "model.bin"), nil}, 400, registry.Invalid, `files "Model.bin" and "model.bin" differ only by letter case`},
		{"file and directory by case", req{"POST", v + "/2/uploads", paul, files("Weights", "weights/a.bin"), nil}, 400, registry.Invalid, `file "Weights" and directory "weights"`},
		{"file and directory apart", req{"POST", v + "/2/uploads", paul, files("a", "a-x", "a/b"), nil}, 400, registry.Invalid, "file a cannot also be a directory of a/b"},
		{"5 TiB on a 75 GiB disk", req{"POST", v + "/2/uploads", paul, fmt.Sprintf(`{"files":[{"path":"huge.bin","size":%d,"sha256":%q}]}`, int64(5)<<40, sha0), nil}, 507, registry.InsufficientStorage, "needs 5.0 TiB (5.0 TiB for huge.bin), and the artifact disk has 75.0 GiB free"},
		{"a second file past the free space", req{"POST", v + "/2/uploads", paul, fmt.Sprintf(`{"files":[{"path":"a.bin","size":%d,"sha256":%q},{"path":"b.bin","size":%d,"sha256":%q}]}`, int64(40)<<30, sha0, int64(40)<<30, sha0), nil}, 507, registry.InsufficientStorage, "needs 80.0 GiB"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot()
			res := e.do(c.r)
			if res.status != c.status || res.errCode() != c.code {
				t.Fatalf("%s %s = %d %s, want %d %s", c.r.method, c.r.path, res.status, res.body, c.status, c.code)
			}
			if !strings.Contains(res.errMessage(), c.msg) {
				t.Errorf("message %q does not contain %q", res.errMessage(), c.msg)
			}
			if after := e.snapshot(); after != before {
				t.Errorf("the failed request changed the registry:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
	// What the rules leave allowed: line breaks and tabs in free text, a
	// path in NFC with non-ASCII letters, an upload that fits.
	e.must(201, req{method: "POST", path: "/v1/models", token: paul, body: `{"name":"notes","description":"line 1\n\tline 2"}`}, nil)
	e.must(201, req{method: "POST", path: v, token: paul, body: `{"source":"models:/other/3","tags":{"mlflow.note.content":"# Notes\n- a"}}`}, nil)
	e.must(201, req{method: "POST", path: v + "/2/uploads", token: paul, body: fmt.Sprintf(`{"files":[{"path":"caf\u00e9/Model.bin","size":%d,"sha256":%q},{"path":"café/tokenizer.json","size":1,"sha256":%q}]}`, int64(10)<<30, sha0, sha0)}, nil)
}

// TestFileSourcesOnALocalServer checks that a server that allows file
// sources (modelreg serve on its embedded backends) takes them.
func TestFileSourcesOnALocalServer(t *testing.T) {
	e := newEnv(t, withFileSources())
	e.seedModel("m", 0)
	var got struct {
		Lineage struct {
			SourceURI string `json:"source_uri"`
		} `json:"lineage"`
	}
	e.must(201, req{method: "POST", path: "/v1/models/m/versions", token: tok("paul"), body: `{"source":"file:///srv/models/m"}`}, &got)
	if got.Lineage.SourceURI != "file:///srv/models/m" {
		t.Errorf("source %q", got.Lineage.SourceURI)
	}
	res := e.do(req{method: "POST", path: "/v1/models/m/versions", token: tok("paul"), body: `{"source":"javascript:alert(1)"}`})
	if res.status != http.StatusBadRequest || !strings.Contains(res.errMessage(), "mlflow-artifacts, file") {
		t.Errorf("%d %s: want 400 listing file among the schemes", res.status, res.body)
	}
}

func TestInsufficientStorageIs507(t *testing.T) {
	if got := StatusCode(registry.Errorf(registry.InsufficientStorage, "full")); got != http.StatusInsufficientStorage {
		t.Errorf("status %d, want 507", got)
	}
}
