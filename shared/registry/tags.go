package registry

import (
	"context"
	"maps"
)

// SetModelTag sets one tag of a model, leaving the others as they are (a
// concurrent change of another tag is kept: the write retries on a stale
// revision). NotFound, Invalid.
func (s *Service) SetModelTag(ctx context.Context, name, key, value string) (Model, error) {
	return s.editModelTags(ctx, name, key, func(tags map[string]string) error {
		tags[key] = value
		return nil
	}, map[string]string{"tag": key, "value": value})
}

// DeleteModelTag removes one tag of a model. NotFound (also for a tag the
// model does not have).
func (s *Service) DeleteModelTag(ctx context.Context, name, key string) (Model, error) {
	return s.editModelTags(ctx, name, key, func(tags map[string]string) error {
		if _, ok := tags[key]; !ok {
			return Errorf(NotFound, "model %s has no tag %q", name, key)
		}
		delete(tags, key)
		return nil
	}, map[string]string{"tag_deleted": key})
}

func (s *Service) editModelTags(ctx context.Context, name, key string, edit func(map[string]string) error, details map[string]string) (Model, error) {
	if err := validateKey("tag", key); err != nil {
		return Model{}, err
	}
	return update(ctx, s, func() (*Change, Model, error) {
		m, err := s.GetModel(ctx, name)
		if err != nil {
			return nil, Model{}, err
		}
		tags := maps.Clone(m.Tags)
		if tags == nil {
			tags = map[string]string{}
		}
		if err := edit(tags); err != nil {
			return nil, Model{}, err
		}
		if err := ValidateTags(tags); err != nil {
			return nil, Model{}, err
		}
		now := s.Now()
		a := s.audit(ctx, now, name, 0, ActionModelUpdated)
		a.Details = details
		m.Tags, m.UpdatedAt = tags, now
		m.Revision++
		return &Change{Models: []Model{m}, Audit: []AuditEntry{a}}, m, nil
	})
}

// SetVersionTag sets one tag of a version, leaving the others as they
// are. NotFound, Invalid.
func (s *Service) SetVersionTag(ctx context.Context, model string, number int, key, value string) (Version, error) {
	if err := validateKey("tag", key); err != nil {
		return Version{}, err
	}
	return s.changeVersion(ctx, model, number, func(v *Version, a *AuditEntry) error {
		tags := maps.Clone(v.Tags)
		if tags == nil {
			tags = map[string]string{}
		}
		tags[key] = value
		a.Action = ActionVersionUpdated
		a.Details = map[string]string{"tag": key, "value": value}
		v.Tags = tags
		return ValidateTags(tags)
	})
}

// DeleteVersionTag removes one tag of a version. NotFound (also for a tag
// the version does not have).
func (s *Service) DeleteVersionTag(ctx context.Context, model string, number int, key string) (Version, error) {
	return s.changeVersion(ctx, model, number, func(v *Version, a *AuditEntry) error {
		if _, ok := v.Tags[key]; !ok {
			return Errorf(NotFound, "version %d of %s has no tag %q", number, model, key)
		}
		tags := maps.Clone(v.Tags)
		delete(tags, key)
		a.Action = ActionVersionUpdated
		a.Details = map[string]string{"tag_deleted": key}
		v.Tags = tags
		return nil
	})
}
