package registry

import (
	"context"
	"errors"
	"fmt"
	"maps"
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

// CreateModel creates a model. Invalid for a bad name or fields, Conflict
// if it exists.
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
	a := s.audit(ctx, now, m.Name, 0, ActionModelCreated)
	err := s.commit(ctx, &Change{Models: []Model{m}, Audit: []AuditEntry{a}}, m)
	if errors.Is(err, ErrStale) {
		return Model{}, Errorf(Conflict, "model %q already exists", in.Name)
	}
	if err != nil {
		return Model{}, fmt.Errorf("create model %s: %w", in.Name, err)
	}
	return m, nil
}

// GetModel returns a model. NotFound.
func (s *Service) GetModel(ctx context.Context, name string) (Model, error) {
	m, err := s.cfg.Store.GetModel(ctx, name)
	if IsCode(err, NotFound) {
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

// DeleteModel deletes a model that has no versions. Versions are never
// deleted (their numbers, artifacts and audit trail stay on record), so a
// model with versions answers Conflict: archive its versions instead.
// The model's audit trail is kept.
func (s *Service) DeleteModel(ctx context.Context, name string) error {
	_, err := update(ctx, s, func() (*Change, Model, error) {
		m, err := s.GetModel(ctx, name)
		if err != nil {
			return nil, Model{}, err
		}
		if m.LatestVersion > 0 {
			return nil, Model{}, Errorf(Conflict, "model %q has %d versions; models with versions cannot be deleted: archive the versions instead", name, m.LatestVersion)
		}
		a := s.audit(ctx, s.Now(), name, 0, ActionModelDeleted)
		return &Change{DeletedModels: []Model{m}, Audit: []AuditEntry{a}}, m, nil
	})
	return err
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
