package registry_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/filesystem"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/sqlite"
)

// TestStageVersionAt answers "which version was in Production at T" from
// the audit trail: v1 promoted at 10:00, replaced by v2 at 12:00, v2
// archived at 14:00 (the history a promotion workflow writes).
func TestStageVersionAt(t *testing.T) {
	ctx := registry.WithPrincipal(context.Background(), registry.Principal{Name: "ann", Role: registry.RoleAdmin})
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	arts, err := filesystem.New(t.TempDir(), "http://127.0.0.1:1", []byte(strings.Repeat("s", 32)))
	if err != nil {
		t.Fatal(err)
	}
	defer arts.Close()
	svc, err := registry.NewService(registry.Config{Store: store, Artifacts: arts, Secret: []byte(strings.Repeat("k", 32))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateModel(ctx, registry.NewModel{Name: "m"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := svc.RegisterVersion(ctx, "m", registry.NewVersion{Source: "s3://b/k"}); err != nil {
			t.Fatal(err)
		}
	}
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	move := func(id string, v int, from, to registry.Stage, hour int) registry.AuditEntry {
		return registry.AuditEntry{ID: id, Model: "m", Version: v, Action: registry.ActionStageChanged,
			Actor: "ann", From: from, To: to, At: day.Add(time.Duration(hour) * time.Hour)}
	}
	if err := store.Commit(ctx, &registry.Change{Audit: []registry.AuditEntry{
		move("01A", 1, registry.StageStaging, registry.StageProduction, 10),
		move("01B", 1, registry.StageProduction, registry.StageArchived, 12),
		move("01C", 2, registry.StageStaging, registry.StageProduction, 12),
		move("01D", 2, registry.StageProduction, registry.StageArchived, 14),
	}}); err != nil {
		t.Fatal(err)
	}
	for hour, want := range map[int]int{9: 0, 10: 1, 11: 1, 12: 2, 13: 2, 14: 0, 20: 0} {
		at := day.Add(time.Duration(hour) * time.Hour)
		v, err := svc.StageVersion(ctx, "m", registry.StageProduction, &at)
		switch {
		case want == 0 && !registry.IsCode(err, registry.NotFound):
			t.Errorf("%02d:00: got version %d, %v; want NotFound", hour, v.Number, err)
		case want != 0 && (err != nil || v.Number != want):
			t.Errorf("%02d:00: got version %d, %v; want %d", hour, v.Number, err, want)
		}
	}
	at := day.Add(11 * time.Hour)
	if _, err := svc.StageVersion(ctx, "m", registry.StageStaging, &at); !registry.IsCode(err, registry.Invalid) {
		t.Errorf("at= for Staging: %v, want Invalid", err)
	}
}
