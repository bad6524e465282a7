package registry

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
)

// NewVersion is the input of RegisterVersion.
type NewVersion struct {
	Description string
	Metrics     map[string]Metric
	Params      map[string]string
	Tags        map[string]string
	Lineage     Lineage
	// Source, if set, is an external location of the artifacts (recorded as
	// Lineage.SourceURI): the version is READY at once and nothing is
	// uploaded.
	Source string
}

// VersionPatch changes a version's description or tags; nil fields are
// left alone. Metrics, params and lineage are the record of how the version
// was made and do not change (production metrics are pushed with
// PushMetrics).
type VersionPatch struct {
	Description *string
	Tags        *map[string]string
}

// VersionFilter selects versions in ListVersions; empty fields do not filter.
type VersionFilter struct {
	Stage     Stage
	Status    Status
	Tag       string // "key" or "key=value"
	GitCommit string
	DatasetID string
	RunID     string
	// IncludeDeleted lists tombstones too.
	IncludeDeleted bool
}

// CommitPrefixLen is the length of git's short hash: a git commit filter
// of at least this many characters matches as a prefix; a shorter one (a
// tag such as v1.2) only exactly.
const CommitPrefixLen = 7

// MatchCommit reports whether a version whose lineage names git commit
// passes the filter: equal, or, for a filter of CommitPrefixLen characters
// or more, starting with it (case-sensitive). Stores index by this rule.
func MatchCommit(commit, filter string) bool {
	if len(filter) >= CommitPrefixLen {
		return strings.HasPrefix(commit, filter)
	}
	return commit == filter
}

// RegisterVersion assigns the model's next version number and records the
// version. Concurrent registrations get consecutive numbers with no gaps
// and no duplicates; within a process they queue per model and are
// committed in groups (see numbering.go). NotFound if the model does not
// exist; Invalid.
func (s *Service) RegisterVersion(ctx context.Context, model string, in NewVersion) (Version, error) {
	now := s.Now()
	metrics := maps.Clone(in.Metrics)
	for k, m := range metrics {
		if m.Source == "" {
			m.Source = SourceTraining
		}
		if m.RecordedAt.IsZero() {
			m.RecordedAt = now
		}
		metrics[k] = m
	}
	lin := in.Lineage
	if in.Source != "" {
		if lin.SourceURI != "" && lin.SourceURI != in.Source {
			return Version{}, Errorf(Invalid, "source and lineage.source_uri differ; give one")
		}
		lin.SourceURI = in.Source
	}
	if err := firstErr(
		ValidateText("description", in.Description, MaxDescriptionLen),
		ValidateMetrics(metrics), ValidateParams(in.Params), ValidateTags(in.Tags), ValidateLineage(lin, s.cfg.AllowFileSources),
	); err != nil {
		return Version{}, err
	}
	r := &registration{ctx: ctx, in: NewVersion{Description: in.Description, Metrics: metrics, Params: in.Params, Tags: in.Tags, Lineage: lin}}
	if idem := idempotencyFrom(ctx); idem != nil {
		r.key = idem.Key
	}
	v, err := s.register(model, r)
	if err != nil {
		return Version{}, fmt.Errorf("register version of %s: %w", model, err)
	}
	return v, nil
}

// GetVersion returns a version. NotFound, also for a deleted version (the
// message says who deleted it and when, as MLflow clients expect).
func (s *Service) GetVersion(ctx context.Context, model string, number int) (Version, error) {
	v, err := s.cfg.Store.GetVersion(ctx, model, number)
	if IsCode(err, NotFound) {
		if _, merr := s.GetModel(ctx, model); merr != nil {
			return Version{}, merr
		}
		return Version{}, Errorf(NotFound, "version %d of model %q not found", number, model)
	}
	if err == nil && v.MovedTo != "" {
		// The old name's copy left by a rename: it answers while the
		// rename runs, not once the model went.
		if _, merr := s.GetModel(ctx, model); merr != nil {
			if IsCode(merr, NotFound) {
				_ = s.finishRenameAway(withoutIdempotency(ctx), model) // a crash left it: heal
			}
			return Version{}, merr
		}
	}
	if err == nil && v.Status == StatusDeleted {
		return Version{}, Errorf(NotFound, "%s", deletedMessage(v))
	}
	return v, err
}

// ListVersions lists a model's versions, newest first. NotFound if the
// model does not exist.
func (s *Service) ListVersions(ctx context.Context, model string, f VersionFilter, pageToken string, pageSize int) (List[Version], error) {
	limit, err := pageLimit(pageSize)
	if err != nil {
		return List[Version]{}, err
	}
	if _, err := s.GetModel(ctx, model); err != nil {
		return List[Version]{}, err
	}
	q := VersionQuery{Model: model, Stage: f.Stage, Status: f.Status, GitCommit: f.GitCommit,
		DatasetID: f.DatasetID, RunID: f.RunID, IncludeDeleted: f.IncludeDeleted, Limit: limit}
	if f.Tag != "" {
		q.TagKey, q.TagValue, _ = strings.Cut(f.Tag, "=")
	}
	scope := strings.Join([]string{"versions", model, string(f.Stage), string(f.Status), f.Tag, f.GitCommit, f.DatasetID, f.RunID, strconv.FormatBool(f.IncludeDeleted)}, "\x00")
	if q.Cursor, err = s.decodeToken(scope, pageToken); err != nil {
		return List[Version]{}, err
	}
	p, err := s.cfg.Store.ListVersions(ctx, q)
	if err != nil {
		return List[Version]{}, err
	}
	return List[Version]{Items: nonNil(p.Items), NextPageToken: s.encodeToken(scope, p.Next)}, nil
}

// UpdateVersion applies patch to a version. NotFound, Invalid.
func (s *Service) UpdateVersion(ctx context.Context, model string, number int, patch VersionPatch) (Version, error) {
	return s.changeVersion(ctx, model, number, func(v *Version, a *AuditEntry) error {
		a.Action = ActionVersionUpdated
		a.Details = map[string]string{}
		if patch.Description != nil {
			v.Description = *patch.Description
			a.Details["description"] = *patch.Description
		}
		if patch.Tags != nil {
			v.Tags = maps.Clone(*patch.Tags)
			a.Details["tags"] = fmt.Sprint(v.Tags)
		}
		return firstErr(ValidateText("description", v.Description, MaxDescriptionLen), ValidateTags(v.Tags))
	})
}

// PushMetrics records metrics measured after deployment (source
// production, the only source a push may have: training and validation
// metrics are part of how the version was made and never change). A pushed
// value replaces an earlier pushed value of the same name (the audit entry
// keeps both); a name already recorded from training or validation is a
// Conflict. Invalid.
func (s *Service) PushMetrics(ctx context.Context, model string, number int, values map[string]float64, source MetricSource) (Version, error) {
	if source == "" {
		source = SourceProduction
	}
	if source != SourceProduction {
		return Version{}, Errorf(Invalid, "pushed metrics are production metrics; training and validation metrics are recorded at registration and never change")
	}
	if len(values) == 0 {
		return Version{}, Errorf(Invalid, "no metrics given")
	}
	return s.changeVersion(ctx, model, number, func(v *Version, a *AuditEntry) error {
		a.Action = ActionMetricsPushed
		a.Criteria = values
		a.Details = map[string]string{"source": string(source)}
		next := maps.Clone(v.Metrics)
		if next == nil {
			next = map[string]Metric{}
		}
		for k, val := range values {
			if old, ok := next[k]; ok {
				if old.Source != source {
					return Errorf(Conflict, "metric %s of version %d was recorded from %s; push the %s value under another name", k, number, old.Source, source)
				}
				a.Details["previous."+k] = fmt.Sprint(old.Value)
			}
			next[k] = Metric{Value: val, Source: source, RecordedAt: a.At}
		}
		if err := ValidateMetrics(next); err != nil {
			return err
		}
		v.Metrics = next
		return nil
	})
}

// changeVersion re-reads a version, lets edit change it and fill in the
// audit entry, and commits both (with an event of each given type),
// retrying on concurrent writes.
func (s *Service) changeVersion(ctx context.Context, model string, number int, edit func(v *Version, a *AuditEntry) error, eventTypes ...string) (Version, error) {
	res, err := update(ctx, s, func() (*Change, Version, error) {
		v, err := s.GetVersion(ctx, model, number)
		if err != nil {
			return nil, Version{}, err
		}
		now := s.Now()
		a := s.audit(ctx, now, model, number, "")
		if err := edit(&v, &a); err != nil {
			return nil, Version{}, err
		}
		v.UpdatedAt = now
		v.Revision++
		ch := &Change{Versions: []Version{v}, Audit: []AuditEntry{a}}
		for _, t := range eventTypes {
			ch.Events = append(ch.Events, s.event(t, a))
		}
		return ch, v, nil
	})
	if err != nil {
		return Version{}, err
	}
	return res, nil
}

func metricValues(m map[string]Metric) map[string]float64 {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = v.Value
	}
	return out
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
