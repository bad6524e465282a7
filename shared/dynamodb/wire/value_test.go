package wire

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestJSONShapes: each value encodes as DynamoDB's JSON, empty lists and
// maps included, and decodes back to the same value.
func TestJSONShapes(t *testing.T) {
	for _, tc := range []struct {
		v    AttributeValue
		want string
	}{
		{S("a\"b"), `{"S":"a\"b"}`},
		{S(""), `{"S":""}`},
		{N("-12.5"), `{"N":"-12.5"}`},
		{Int(42), `{"N":"42"}`},
		{B([]byte{0, 1, 0xff}), `{"B":"AAH/"}`},
		{B(nil), `{"B":""}`},
		{Bool(false), `{"BOOL":false}`},
		{Null(), `{"NULL":true}`},
		{M(nil), `{"M":{}}`},
		{L(), `{"L":[]}`},
		{M(Item{"b": L(S("x"), Null()), "a": M(Item{})}), `{"M":{"a":{"M":{}},"b":{"L":[{"S":"x"},{"NULL":true}]}}}`},
		{SS("a", "b"), `{"SS":["a","b"]}`},
		{NS("1", "2"), `{"NS":["1","2"]}`},
		{BS([]byte("a"), []byte{}), `{"BS":["YQ==",""]}`},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil || string(b) != tc.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tc.v, b, err, tc.want)
			continue
		}
		var back AttributeValue
		if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, tc.v) {
			t.Errorf("Unmarshal(%s) = %#v, %v; want %#v", b, back, err, tc.v)
		}
	}
	if _, err := json.Marshal(Item{"x": {}}); err == nil {
		t.Error("an item with a value without a type encoded")
	}
	for _, bad := range []string{`{}`, `{"S":"a","N":"1"}`, `{"L":null}`, `{"X":1}`, `"S"`, `{"B":"not base64!"}`} {
		var v AttributeValue
		if err := json.Unmarshal([]byte(bad), &v); err == nil {
			t.Errorf("Unmarshal(%s) = %v, want an error", bad, v)
		}
	}
}

// TestStringEscaping: strings are written as encoding/json writes them
// (without HTML escaping), so DynamoDB reads what was meant.
func TestStringEscaping(t *testing.T) {
	for _, s := range []string{
		"plain", "quote\" backslash\\ slash/", "\x00\x01\x1f\n\r\t", "ü€😀", "bad \xff utf-8 \xe2\x82",
		"line\u2028para\u2029", "<tag>&amp;", strings.Repeat("é", 100),
	} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got := string(appendString(nil, s)); got != strings.TrimSuffix(want.String(), "\n") {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want.String())
		}
	}
}

// TestAccessors: each As method answers for its own type only, and an
// absent attribute has none.
func TestAccessors(t *testing.T) {
	m := Item{"s": S("x"), "n": N("1")}
	if s, ok := m["s"].AsS(); !ok || s != "x" {
		t.Errorf("AsS = %q, %v", s, ok)
	}
	if _, ok := m["n"].AsS(); ok {
		t.Error("an N value is an S")
	}
	if n, ok := m["n"].AsN(); !ok || n != "1" {
		t.Errorf("AsN = %q, %v", n, ok)
	}
	if v := m["absent"]; v.Type() != TypeNone || v.IsNULL() {
		t.Errorf("absent attribute: %v", v.Type())
	}
	if _, ok := Null().AsM(); ok || !Null().IsNULL() {
		t.Error("NULL is a map, or not NULL")
	}
}
