package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

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
	if l := loaded.List(); len(l) != 2 || !reflect.DeepEqual(l[0], TokenInfo{Name: "admin", Role: registry.RoleAdmin}) || !reflect.DeepEqual(l[1], TokenInfo{Name: "alice", Role: registry.RolePublisher}) {
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
		case c.ok && (err != nil || !reflect.DeepEqual(p, c.want)):
			t.Errorf("Authorization %q = %+v, %v; want %+v", c.header, p, err, c.want)
		case !c.ok && !registry.IsCode(err, registry.Unauthenticated):
			t.Errorf("Authorization %q = %+v, %v; want unauthenticated", c.header, p, err)
		}
	}
	if loaded.Revoke("alice") != nil || loaded.Revoke("alice") == nil || loaded.Len() != 1 {
		t.Error("Revoke does not remove exactly once")
	}
}

// authAs authenticates a request carrying token.
func authAs(toks *Tokens, token string) (registry.Principal, error) {
	r := httptest.NewRequest("GET", "/v1/whoami", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return toks.Authenticate(r)
}

func TestTokensRevokeRotateExpire(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	toks := NewTokens()
	admin, err := toks.Add("admin", registry.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	bot, err := toks.Add("bot", registry.RolePublisher)
	if err != nil {
		t.Fatal(err)
	}

	// Rotate: a new token, same role; the old one is refused.
	bot2, err := toks.Rotate("bot")
	if err != nil {
		t.Fatal(err)
	}
	if bot2 == bot || !strings.HasPrefix(bot2, TokenPrefix) {
		t.Fatalf("rotated token %q (old %q)", bot2, bot)
	}
	if _, err := authAs(toks, bot); !registry.IsCode(err, registry.Unauthenticated) {
		t.Errorf("the token before rotation: %v, want unauthenticated", err)
	}
	if p, err := authAs(toks, bot2); err != nil || !reflect.DeepEqual(p, registry.Principal{Name: "bot", Role: registry.RolePublisher}) {
		t.Errorf("the rotated token: %+v, %v", p, err)
	}
	if _, err := toks.Rotate("nobody"); err == nil {
		t.Error("Rotate of an unknown name succeeded")
	}

	// Expiry survives a save and a load; an expired token says it expired.
	past := time.Now().Add(-time.Minute).Truncate(time.Second)
	if err := toks.SetExpiry("bot", past); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour).Truncate(time.Second)
	if err := toks.SetExpiry("admin", future); err != nil {
		t.Fatal(err)
	}
	if err := toks.Save(path); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	l := loaded.List()
	if len(l) != 2 || !l[0].ExpiresAt.Equal(future) || !l[1].ExpiresAt.Equal(past) {
		t.Fatalf("List after load = %+v", l)
	}
	_, err = authAs(loaded, bot2)
	if !registry.IsCode(err, registry.Unauthenticated) || !strings.Contains(registry.ErrorMessage(err), "expired") {
		t.Errorf("expired token: %v, want unauthenticated saying it expired", err)
	}
	if _, err := authAs(loaded, admin); err != nil {
		t.Errorf("unexpired admin token: %v", err)
	}
	// Rotating clears the expiry.
	bot3, err := loaded.Rotate("bot")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := authAs(loaded, bot3); err != nil {
		t.Errorf("token rotated after expiry: %v", err)
	}

	// Revoke: the last unexpired admin token stays.
	if err := loaded.Revoke("admin"); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("revoking the only admin: %v, want ErrLastAdmin", err)
	}
	if _, err := authAs(loaded, admin); err != nil {
		t.Errorf("a refused revoke changed something: %v", err)
	}
	// An expired second admin does not count.
	if _, err := loaded.Add("old-admin", registry.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if err := loaded.SetExpiry("old-admin", past); err != nil {
		t.Fatal(err)
	}
	if err := loaded.Revoke("admin"); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("revoking the only unexpired admin: %v, want ErrLastAdmin", err)
	}
	if err := loaded.Revoke("old-admin"); err != nil {
		t.Fatalf("revoking an expired admin while another works: %v", err)
	}
	if _, err := loaded.Add("admin2", registry.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if err := loaded.Revoke("admin"); err != nil {
		t.Fatalf("revoking an admin while another exists: %v", err)
	}
	if _, err := authAs(loaded, admin); !registry.IsCode(err, registry.Unauthenticated) {
		t.Errorf("revoked token: %v, want unauthenticated", err)
	}
	if err := loaded.Revoke("bot"); err != nil {
		t.Fatal(err)
	}
	if err := loaded.Revoke("bot"); err == nil {
		t.Error("revoking twice succeeded")
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

// A token's name is the actor in the audit trail: control characters that
// could forge a history line on screen are refused.
func TestTokenNamesRefuseControls(t *testing.T) {
	toks := NewTokens()
	for _, name := range []string{"ci\nbot", "ci\x1b[31mbot", "ci\tbot", "ci\rbot", "ci\x00bot"} {
		if _, err := toks.Add(name, registry.RolePublisher); err == nil {
			t.Errorf("Add(%q) accepted", name)
		}
	}
	if _, err := toks.Add("ci-bot@team", registry.RolePublisher); err != nil {
		t.Errorf("Add(ci-bot@team): %v", err)
	}
}
