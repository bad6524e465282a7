package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/registry"
)

func TestTokensRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	toks := NewTokens()
	alice, err := toks.Add("alice", registry.RolePublisher)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^mr_[0-9a-f]{64}$`).MatchString(alice) {
		t.Errorf("generated token %q is not mr_ and 64 hex digits", alice)
	}
	if _, err := toks.Add("alice", registry.RoleAdmin); err == nil {
		t.Error("Add for an existing name succeeded")
	}
	if err := toks.Set("admin", registry.RoleAdmin, "chosen-admin-token-1"); err != nil {
		t.Fatal(err)
	}
	if err := toks.Set("admin", registry.RoleAdmin, "short"); err == nil {
		t.Error("Set accepted a 5-character token")
	}
	if err := toks.Set("bob", "boss", "a-long-enough-token"); err == nil {
		t.Error("Set accepted an unknown role")
	}
	if err := toks.Save(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), alice) || strings.Contains(string(data), "chosen-admin-token-1") {
		t.Fatal("the file holds a token in plain text")
	}
	sum := sha256.Sum256([]byte(alice))
	if !strings.Contains(string(data), hex.EncodeToString(sum[:])) {
		t.Errorf("the file lacks the hash of alice's token:\n%s", data)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("Save left %d files behind, want only the tokens file", len(entries))
	}

	loaded, err := LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Len() != 2 {
		t.Fatalf("Len = %d, want 2", loaded.Len())
	}
	if l := loaded.List(); len(l) != 2 || l[0] != (TokenInfo{"admin", registry.RoleAdmin}) || l[1] != (TokenInfo{"alice", registry.RolePublisher}) {
		t.Errorf("List = %+v", l)
	}
	// Replacing a token retires the old one.
	if err := loaded.Set("admin", registry.RoleAdmin, "rotated-admin-token-2"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		header string
		want   registry.Principal
		ok     bool
	}{
		{"Bearer " + alice, registry.Principal{Name: "alice", Role: registry.RolePublisher}, true},
		{"bearer " + alice, registry.Principal{Name: "alice", Role: registry.RolePublisher}, true},
		{"Bearer rotated-admin-token-2", registry.Principal{Name: "admin", Role: registry.RoleAdmin}, true},
		{"Bearer chosen-admin-token-1", registry.Principal{}, false},
		{"", registry.Principal{}, false},
		{"Bearer", registry.Principal{}, false},
		{"Bearer ", registry.Principal{}, false},
		{"Basic " + alice, registry.Principal{}, false},
		{alice, registry.Principal{}, false},
		{"Bearer " + alice + " extra", registry.Principal{}, false},
		{"Bearer " + alice[:len(alice)-1], registry.Principal{}, false},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/v1/whoami", nil)
		if c.header != "" {
			r.Header.Set("Authorization", c.header)
		}
		p, err := loaded.Authenticate(r)
		switch {
		case c.ok && (err != nil || p != c.want):
			t.Errorf("Authorization %q = %+v, %v; want %+v", c.header, p, err, c.want)
		case !c.ok && !registry.IsCode(err, registry.Unauthenticated):
			t.Errorf("Authorization %q = %+v, %v; want unauthenticated", c.header, p, err)
		}
	}
	if !loaded.Remove("alice") || loaded.Remove("alice") || loaded.Len() != 1 {
		t.Error("Remove does not remove exactly once")
	}
}

func TestLoadTokensRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadTokens(filepath.Join(dir, "missing.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	hash := strings.Repeat("ab", 32)
	for name, content := range map[string]string{
		"not json":      `tokens`,
		"unknown field": `{"tokens":[],"extra":1}`,
		"bad role":      `{"tokens":[{"name":"a","role":"boss","sha256":"` + hash + `"}]}`,
		"short hash":    `{"tokens":[{"name":"a","role":"reader","sha256":"abcd"}]}`,
		"not hex":       `{"tokens":[{"name":"a","role":"reader","sha256":"` + strings.Repeat("zz", 32) + `"}]}`,
		"no name":       `{"tokens":[{"name":"","role":"reader","sha256":"` + hash + `"}]}`,
		"twice":         `{"tokens":[{"name":"a","role":"reader","sha256":"` + hash + `"},{"name":"a","role":"admin","sha256":"` + hash + `"}]}`,
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadTokens(path); err == nil {
			t.Errorf("%s: loaded without error", name)
		}
	}
}
