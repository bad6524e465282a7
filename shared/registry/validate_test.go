package registry

import (
	"strings"
	"testing"
)

func TestValidateText(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		line     bool   // ValidateLine instead of ValidateText
		max      int    // 1000 when 0
		want     string // "" when accepted, else a part of the message
	}{
		{name: "plain", in: "beats v1 on accuracy"},
		{name: "unicode", in: "café → 東京 ✓ 🚀"},
		{name: "newline and tab", in: "line 1\n\tline 2\n"},
		{name: "empty", in: ""},
		{name: "NUL", in: "a\x00b", want: "U+0000 (NUL) at character 2"},
		{name: "ESC", in: "ok \x1b[2J", want: "U+001B (ESC) at character 4"},
		{name: "OSC 52", in: "\x1b]52;c;ZXZpbA==\x07", want: "U+001B (ESC) at character 1"},
		{name: "BEL", in: "x\x07", want: "U+0007 (BEL)"},
		{name: "CR", in: "cleanup\r2026-12-01 approved", want: "U+000D (CR) at character 8"},
		{name: "CRLF", in: "a\r\nb", want: "U+000D (CR)"},
		{name: "vertical tab", in: "a\vb", want: "U+000B (VT)"},
		{name: "DEL", in: "a\x7f", want: "U+007F (DEL) at character 2"},
		{name: "C1 CSI", in: "é\u009b2J", want: "U+009B (CSI) at character 2"},
		{name: "C1 NEL", in: "a\u0085b", want: "U+0085 (C1 control)"},
		{name: "C1 last", in: "\u009f", want: "U+009F"},
		{name: "after C1", in: "\u00a0\u00ff"},
		{name: "invalid UTF-8", in: "ok\xffno", want: "not valid UTF-8: byte 0xff at character 3"},
		{name: "truncated rune", in: "caf\xc3", want: "not valid UTF-8"},
		{name: "encoded U+FFFD is fine", in: "\ufffd"},
		{name: "too long", in: strings.Repeat("x", 11), max: 10, want: "11 bytes; at most 10"},
		{name: "line plain", in: "alice@example.com", line: true},
		{name: "line newline", in: "alice\nbob", line: true, want: "U+000A (LF) at character 6: it is one line"},
		{name: "line tab", in: "a\tb", line: true, want: "U+0009 (TAB)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check := ValidateText
			if tc.line {
				check = ValidateLine
			}
			limit := tc.max
			if limit == 0 {
				limit = 1000
			}
			err := check("reason", tc.in, limit)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("%q refused: %v", tc.in, err)
				}
				return
			}
			if !IsCode(err, Invalid) || !strings.Contains(ErrorMessage(err), tc.want) || !strings.HasPrefix(ErrorMessage(err), "reason ") {
				t.Fatalf("%q: got %v, want Invalid naming the field and %q", tc.in, err, tc.want)
			}
		})
	}
}

// TestTextFieldsRefuseControls checks that every free-text field the
// service stores goes through the rule.
func TestTextFieldsRefuseControls(t *testing.T) {
	esc := "x\x1b[31m"
	for _, tc := range []struct {
		field string
		err   error
	}{
		{"description", validateModelFields(esc, "", nil)},
		{"owner", validateModelFields("", esc, nil)},
		{"owner", validateModelFields("", "a\nb", nil)},
		{"tag team", ValidateTags(map[string]string{"team": esc})},
		{"param lr", ValidateParams(map[string]string{"lr": esc})},
		{"lineage.code.repo", ValidateLineage(Lineage{Code: CodeLineage{Repo: esc}}, false)},
		{"lineage.run.run_id", ValidateLineage(Lineage{Run: RunLineage{RunID: "a\nb"}}, false)},
	} {
		if !IsCode(tc.err, Invalid) || !strings.HasPrefix(ErrorMessage(tc.err), tc.field+" contains") {
			t.Errorf("%s: got %v, want Invalid naming it", tc.field, tc.err)
		}
	}
	// Multi-line values stay allowed where MLflow allows them.
	if err := ValidateTags(map[string]string{"mlflow.note.content": "# Notes\n\n- a\tb"}); err != nil {
		t.Errorf("multi-line tag refused: %v", err)
	}
}

func TestValidateSourceURI(t *testing.T) {
	for _, tc := range []struct {
		uri       string
		allowFile bool
		want      string // "" when accepted
	}{
		{uri: "s3://bucket/prefix/run-1/"},
		{uri: "S3://bucket/k"},
		{uri: "gs://bucket/model"},
		{uri: "wasbs://container@account.blob.core.windows.net/path"},
		{uri: "abfss://fs@account.dfs.core.windows.net/path"},
		{uri: "https://example.com/model.tar.gz"},
		{uri: "http://10.0.0.5:8000/m"},
		{uri: "hdfs:///user/models/m"},
		{uri: "hdfs://namenode:8020/m"},
		{uri: "dbfs:/databricks/mlflow/m"},
		{uri: "models:/fraud/3"},
		{uri: "runs:/0a1b2c/model"},
		{uri: "mlflow-artifacts:/1/abc/artifacts/model"},
		{uri: "file:///srv/models/m", allowFile: true},
		{uri: "file://localhost/srv/models/m", allowFile: true},
		{uri: "file:///etc/passwd", want: "accepted only by a local server; use one of s3, gs"},
		{uri: "javascript:alert(1)", want: `scheme "javascript" is not an artifact store; use one of s3, gs, wasbs, abfss, https, http, hdfs, dbfs, models, runs, mlflow-artifacts`},
		{uri: "javascript:alert(1)", allowFile: true, want: "mlflow-artifacts, file"},
		{uri: "data:text/html,<script>", want: `scheme "data"`},
		{uri: "ftp://host/m", want: `scheme "ftp"`},
		{uri: "wasb://c@a.blob.core.windows.net/p", want: `scheme "wasb"`},
		{uri: "https://user:secret@example.com/m", want: "carries credentials"},
		{uri: "https://ghp_token@example.com/m", want: "carries credentials"},
		{uri: "wasbs://c:key@a.blob.core.windows.net/p", want: "carries credentials"},
		{uri: "s3:///key", want: "names no bucket"},
		{uri: "https:/path", want: "names no bucket or host"},
		{uri: "file://otherhost/etc/passwd", allowFile: true, want: "absolute path on this machine"},
		{uri: "file:relative", allowFile: true, want: "absolute path on this machine"},
		{uri: "bucket/key", want: "give an absolute URI"},
		{uri: "s3://b/k\x00", want: "give an absolute URI"},
	} {
		err := ValidateSourceURI(tc.uri, tc.allowFile)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q (file allowed: %v) refused: %v", tc.uri, tc.allowFile, err)
			}
			continue
		}
		if !IsCode(err, Invalid) || !strings.Contains(ErrorMessage(err), tc.want) {
			t.Errorf("%q (file allowed: %v): got %v, want Invalid with %q", tc.uri, tc.allowFile, err, tc.want)
		}
	}
}
