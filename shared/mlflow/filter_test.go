package mlflow

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseFilter(t *testing.T) {
	fields := []string{"name", "run_id", "source_path", "version_number"}
	cases := []struct {
		in   string
		want []clause
	}{
		{"", nil},
		{"  ", nil},
		{"name = 'x'", []clause{{field: "name", op: "=", value: "x"}}},
		{`name="x"`, []clause{{field: "name", op: "=", value: "x"}}},
		{"name LIKE 'x%'", []clause{{field: "name", op: "LIKE", value: "x%"}}},
		{"name like 'x%'", []clause{{field: "name", op: "LIKE", value: "x%"}}},
		{"name ILIKE '%x%'", []clause{{field: "name", op: "ILIKE", value: "%x%"}}},
		{"tags.k = 'v'", []clause{{field: "tags.k", op: "=", value: "v"}}},
		{"tag.k != 'v'", []clause{{field: "tags.k", op: "!=", value: "v"}}},
		{"tags.`mlflow.prompt.is_prompt` != 'true'", []clause{{field: "tags.mlflow.prompt.is_prompt", op: "!=", value: "true"}}},
		{"run_id = 'r' AND name = 'm'", []clause{{field: "run_id", op: "=", value: "r"}, {field: "name", op: "=", value: "m"}}},
		{"run_id IN ('a', 'b')", []clause{{field: "run_id", op: "IN", set: []string{"a", "b"}}}},
		{"version_number = 3", []clause{{field: "version_number", op: "=", value: "3"}}},
		{"name = 'it''s'", []clause{{field: "name", op: "=", value: "it's"}}},
	}
	for _, c := range cases {
		got, err := parseFilter(c.in, fields...)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseFilter(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"name", "name =", "name == 'x'", "nme = 'x'", "name = 'x' OR name = 'y'",
		"name = 'x", "name = x", "tags. = 'v'", "run_id IN 'a'", "run_id IN ('a'", "name IN ('a')", "version_number LIKE '1'",
		"name = 'x' AND", "foo.bar = 'x'", "tags.`k = 'v'"} {
		if got, err := parseFilter(bad, fields...); err == nil {
			t.Errorf("parseFilter(%q) = %+v, want an error", bad, got)
		} else if !strings.Contains(err.Error(), "invalid filter") {
			t.Errorf("parseFilter(%q): %v does not say invalid filter", bad, err)
		}
	}
}

func TestClauseMatch(t *testing.T) {
	cases := []struct {
		c    clause
		s    string
		want bool
	}{
		{clause{op: "LIKE", value: "fr%"}, "fraud", true},
		{clause{op: "LIKE", value: "fr%"}, "Fraud", false},
		{clause{op: "ILIKE", value: "fr%"}, "Fraud", true},
		{clause{op: "LIKE", value: "%au%"}, "fraud", true},
		{clause{op: "LIKE", value: "fr_ud"}, "fraud", true},
		{clause{op: "LIKE", value: "fr_ud"}, "frraud", false},
		{clause{op: "LIKE", value: "a.c"}, "abc", false}, // '.' is literal
		{clause{op: "=", value: "x"}, "x", true},
		{clause{op: "!=", value: "x"}, "x", false},
		{clause{op: "IN", set: []string{"a", "b"}}, "b", true},
	}
	for _, c := range cases {
		if got := c.c.match(c.s); got != c.want {
			t.Errorf("%+v.match(%q) = %v, want %v", c.c, c.s, got, c.want)
		}
	}
	neq := clause{field: "tags.p", op: "!=", value: "true"}
	if !neq.matchTag(map[string]string{}, "p") || neq.matchTag(map[string]string{"p": "true"}, "p") {
		t.Error("!= on a tag: a missing tag passes, an equal one does not")
	}
	eq := clause{field: "tags.p", op: "=", value: ""}
	if eq.matchTag(map[string]string{}, "p") {
		t.Error("= on a missing tag passed")
	}
	if p, only := likePrefix("ab%"); p != "ab" || !only {
		t.Errorf("likePrefix(ab%%) = %q, %v", p, only)
	}
	if p, only := likePrefix("a_b%"); p != "a" || only {
		t.Errorf("likePrefix(a_b%%) = %q, %v", p, only)
	}
}
