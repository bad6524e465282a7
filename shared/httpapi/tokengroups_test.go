package httpapi

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/registry"
)

func TestTokenGroupsSurviveSaveLoadAndRotate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	toks := NewTokens()
	if _, err := toks.Add("admin", registry.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	plain, err := toks.Add("carol", registry.RoleApprover)
	if err != nil {
		t.Fatal(err)
	}
	if err := toks.SetGroups("carol", []string{"ml-leads", "risk"}); err != nil {
		t.Fatal(err)
	}
	if err := toks.SetGroups("carol", []string{"bad group"}); err == nil || !strings.Contains(err.Error(), "invalid group") {
		t.Fatalf("a group with a space: %v", err)
	}
	if err := toks.SetGroups("nobody", nil); err == nil {
		t.Fatal("groups for an unknown token")
	}
	if err := toks.Save(path); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := authAs(loaded, plain)
	if err != nil || !slices.Equal(p.Groups, []string{"ml-leads", "risk"}) {
		t.Fatalf("principal %+v %v, want groups ml-leads, risk", p, err)
	}
	rotated, err := loaded.Rotate("carol")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := authAs(loaded, rotated); err != nil || len(p.Groups) != 2 {
		t.Fatalf("after rotate: %+v %v, want the groups kept", p, err)
	}
	// A file with a bad group is refused, naming the entry.
	data, _ := os.ReadFile(path)
	bad := strings.Replace(string(data), `"risk"`, `"r\nisk"`, 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTokens(path); err == nil || !strings.Contains(err.Error(), "carol") {
		t.Fatalf("load a bad group: %v", err)
	}
}
