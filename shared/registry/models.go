package registry

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// NewModel is the input of CreateModel.
type NewModel struct {
	Name        string
	Description string
	Owner       string
	Tags        map[string]string
}

// ModelPatch changes a model; nil fields are left alone. Tags, when given,
// replace all tags.
type ModelPatch struct {
	Description *string
	Owner       *string
	Tags        *map[string]string
}

// CheckModelName checks name against the domain pattern and the naming
// policy.
func (s *Service) CheckModelName(name string) error {
	if err := ValidateModelName(name); err != nil {
		return err
	}
	if p := s.cfg.NamePolicy; p != nil && !p.MatchString(name) {
		hint := s.cfg.NamePolicyHint
		if hint == "" {
			hint = "names must match " + p.String()
		}
		return Errorf(Invalid, "model name %q breaks the naming policy: %s", name, hint)
	}
	return nil
}

func validateModelFields(description, owner string, tags map[string]string) error {
	if err := ValidateText("description", description, MaxDescriptionLen); err != nil {
		return err
	}
	if err := ValidateLine("owner", owner, MaxKeyLen); err != nil {
		return err
	}
	return ValidateTags(tags)
}

// CreateModel creates a model. A name whose model was deleted may be
// created again: the new model continues the numbering after the last
// version number ever assigned under that name (see DeleteModel). Invalid
// for a bad name or fields, Conflict if it exists.
func (s *Service) CreateModel(ctx context.Context, in NewModel) (Model, error) {
	if err := s.CheckModelName(in.Name); err != nil {
		return Model{}, err
	}
	if err := validateModelFields(in.Description, in.Owner, in.Tags); err != nil {
		return Model{}, err
	}
	now := s.Now()
	m := Model{
		Name: in.Name, Description: in.Description, Owner: in.Owner, Tags: in.Tags,
		CreatedBy: PrincipalFrom(ctx).Name, CreatedAt: now, UpdatedAt: now, Revision: 1,
	}
	if m.Owner == "" {
		m.Owner = m.CreatedBy
	}
	// Read the model first, then the highest number: a version registered
	// in between belongs to a model created in between, and then the
	// commit below finds that model and fails.
	if old, err := s.cfg.Store.GetModel(ctx, in.Name); err == nil {
		if old.Rename != nil && old.Rename.Phase == RenameReserved {
			return Model{}, Errorf(Conflict, "model name %q is being taken by the rename of %q", in.Name, old.Rename.From)
		}
		return Model{}, Errorf(Conflict, "model %q already exists", in.Name)
	} else if !IsCode(err, NotFound) {
		return Model{}, fmt.Errorf("create model %s: %w", in.Name, err)
	}
	// A model renamed away from this name may still have copies here.
	if err := s.finishRenameAway(withoutIdempotency(ctx), in.Name); err != nil {
		return Model{}, fmt.Errorf("create model %s: %w", in.Name, err)
	}
	floor, err := s.nextNumberFloor(ctx, in.Name)
	if err != nil {
		return Model{}, fmt.Errorf("create model %s: %w", in.Name, err)
	}
	m.LatestVersion = floor
	a := s.audit(ctx, now, m.Name, 0, ActionModelCreated)
	if floor > 0 {
		a.Details = map[string]string{"numbering_continues_after": strconv.Itoa(floor)}
	}
	err = s.commit(ctx, &Change{Models: []Model{m}, Audit: []AuditEntry{a}}, m)
	if errors.Is(err, ErrStale) {
		return Model{}, Errorf(Conflict, "model %q already exists", in.Name)
	}
	if err != nil {
		return Model{}, fmt.Errorf("create model %s: %w", in.Name, err)
	}
	return m, nil
}

// GetModel returns a model. NotFound (also for a name a rename is about
// to take).
func (s *Service) GetModel(ctx context.Context, name string) (Model, error) {
	m, err := s.cfg.Store.GetModel(ctx, name)
	if err == nil && m.Rename != nil && m.Rename.Phase == RenameReserved {
		return Model{}, Errorf(NotFound, "model %q not found (the name is being taken by the rename of %q)", name, m.Rename.From)
	}
	if IsCode(err, NotFound) {
		if msg := s.deletedModelMessage(ctx, name); msg != "" {
			return Model{}, Errorf(NotFound, "%s", msg)
		}
		return Model{}, Errorf(NotFound, "model %q not found", name)
	}
	return m, err
}

// ListModels lists models by name, optionally those whose name starts with
// prefix.
func (s *Service) ListModels(ctx context.Context, prefix, pageToken string, pageSize int) (List[Model], error) {
	limit, err := pageLimit(pageSize)
	if err != nil {
		return List[Model]{}, err
	}
	scope := "models\x00" + prefix
	cursor, err := s.decodeToken(scope, pageToken)
	if err != nil {
		return List[Model]{}, err
	}
	p, err := s.cfg.Store.ListModels(ctx, ModelQuery{Prefix: prefix, Cursor: cursor, Limit: limit})
	if err != nil {
		return List[Model]{}, err
	}
	// Names reserved by a rename in progress are not models yet (a page
	// may come out one short while a rename runs).
	p.Items = slices.DeleteFunc(p.Items, func(m Model) bool { return m.Rename != nil && m.Rename.Phase == RenameReserved })
	return List[Model]{Items: nonNil(p.Items), NextPageToken: s.encodeToken(scope, p.Next)}, nil
}

// UpdateModel applies patch to a model. NotFound, Invalid.
func (s *Service) UpdateModel(ctx context.Context, name string, patch ModelPatch) (Model, error) {
	res, err := update(ctx, s, func() (*Change, Model, error) {
		m, err := s.GetModel(ctx, name)
		if err != nil {
			return nil, Model{}, err
		}
		now := s.Now()
		a := s.audit(ctx, now, name, 0, ActionModelUpdated)
		a.Details = map[string]string{}
		if patch.Description != nil {
			m.Description = *patch.Description
			a.Details["description"] = *patch.Description
		}
		if patch.Owner != nil {
			m.Owner = *patch.Owner
			a.Details["owner"] = *patch.Owner
		}
		if patch.Tags != nil {
			m.Tags = maps.Clone(*patch.Tags)
			a.Details["tags"] = fmt.Sprint(m.Tags)
		}
		if err := validateModelFields(m.Description, m.Owner, m.Tags); err != nil {
			return nil, Model{}, err
		}
		m.UpdatedAt = now
		m.Revision++
		return &Change{Models: []Model{m}, Audit: []AuditEntry{a}}, m, nil
	})
	if err != nil {
		return Model{}, err
	}
	return res, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
