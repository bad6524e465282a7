package httpapi

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

type checkInner struct {
	Value int `json:"value"`
}

type checkEmbedded struct {
	Owner string `json:"owner"`
}

type checkDoc struct {
	checkEmbedded
	Name    string                `json:"name"`
	Inner   *checkInner           `json:"inner"`
	List    []checkInner          `json:"list"`
	Tags    map[string]string     `json:"tags"`
	When    time.Time             `json:"when"`
	Any     any                   `json:"any"`
	Metrics map[string]checkInner `json:"metrics"`
	Skipped string                `json:"-"`
	Plain   string
}

func TestCheckJSON(t *testing.T) {
	typ := reflect.TypeFor[*checkDoc]()
	for _, c := range []struct {
		doc  string
		want string // "" for no error; else part of the message
	}{
		{`{}`, ""},
		{`{"name":"a","owner":"o","inner":{"value":1},"list":[{"value":1},{"value":2}],"tags":{"A":"x","a":"y"},"Plain":"p"}`, ""},
		{`{"when":"2026-01-01T00:00:00Z","any":{"Name":1,"NAME":2},"name":"caf\u00e9 \"q\" \\"}`, ""},
		{` { "name" : "a" , "list" : [ ] , "tags" : { } } `, ""},
		{`{"name":"a","name":"b"}`, `key "name" appears twice`},
		{`{"name":"a","n\u0061me":"b"}`, `key "name" appears twice`},
		{`{"any":{"k":1,"k":2}}`, `key "k" appears twice in any`},
		{`{"list":[{"value":1},{"value":1,"value":2}]}`, `appears twice in list[1]`},
		{`{"metrics":{"m":{"value":1}},"metrics":{}}`, `key "metrics" appears twice`},
		{`{"Name":"a"}`, `unknown field "Name" (field names are case-sensitive: did you mean "name"?)`},
		{`{"OWNER":"a"}`, `did you mean "owner"?`},
		{`{"inner":{"Value":1}}`, `unknown field "Value" in inner`},
		{`{"metrics":{"m":{"VALUE":1}}}`, `unknown field "VALUE" in metrics.m`},
		{`{"plain":"p"}`, `did you mean "Plain"?`},
		{`{"skipped":"x"}`, ""}, // unknown: the decoder refuses it by name
		{"{\"name\":\"\xff\"}", "not valid UTF-8 (at byte 9, in name)"},
		{"{\"list\":[{\"value\":1},\"\xe2\x82\"]}", "in list[1]"},
		{"\"\xff\"", "not valid UTF-8 (at byte 1)"},
		// Syntax errors are the decoder's to report.
		{`{"name":`, ""},
		{`{"name" 1}`, ""},
		{`{"a":1,}`, ""},
		{`{"a":"\`, ""},
		{strings.Repeat("[", 200000), ""},
		{`{"any":` + strings.Repeat(`{"a":`, 20000) + `1` + strings.Repeat(`}`, 20000) + `}`, ""},
	} {
		err := checkJSON([]byte(c.doc), typ, "doc")
		short := c.doc
		if len(short) > 60 {
			short = short[:60] + "…"
		}
		switch {
		case c.want == "" && err != nil:
			t.Errorf("checkJSON(%s) = %v, want no error", short, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("checkJSON(%s) = %v, want an error with %q", short, err, c.want)
		}
	}
}
