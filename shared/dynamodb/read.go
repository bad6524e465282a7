package dynamodb

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/modelreg/modelreg/shared/dynamodb/wire"
	"github.com/modelreg/modelreg/shared/registry"
)

// GetModel returns the model named name (GetItem, consistent). NotFound.
func (s *Store) GetModel(ctx context.Context, name string) (registry.Model, error) {
	return getRecord[modelItem, registry.Model](ctx, s, itemKey{modelPK(name), skModel}, "model "+name,
		func() error { return registry.Errorf(registry.NotFound, "model %q not found", name) })
}

// ListModels returns models ordered by name (byte order), from index gsi1.
// Invalid for a bad cursor or limit.
func (s *Store) ListModels(ctx context.Context, q registry.ModelQuery) (registry.Page[registry.Model], error) {
	if err := registry.CheckPageSize(q.Limit); err != nil {
		return registry.Page[registry.Model]{}, err
	}
	scope := scopeOf("models", q.Prefix)
	after, err := decodeCursor(q.Cursor, scope)
	if err != nil {
		return registry.Page[registry.Model]{}, err
	}
	src := s.index(1, modelsPartition, after, false)
	src.prefix, src.stopUnlessPrefix = q.Prefix, after != "" && q.Prefix != ""
	l := &listing[registry.Model]{
		sources: &merged{srcs: []*source{src}}, indexed: true, scope: scope, limit: q.Limit,
		decode: decodeRecord[modelItem, registry.Model],
		keep:   func(m registry.Model) bool { return strings.HasPrefix(m.Name, q.Prefix) },
	}
	return l.page(ctx, s)
}

// GetVersion returns version number of model (GetItem, consistent). NotFound.
func (s *Store) GetVersion(ctx context.Context, model string, number int) (registry.Version, error) {
	missing := func() error {
		return registry.Errorf(registry.NotFound, "version %d of model %q not found", number, model)
	}
	if number < 1 || number > maxVersionNumber {
		return registry.Version{}, missing()
	}
	return getRecord[versionItem, registry.Version](ctx, s, itemKey{modelPK(model), versionSK(number)}, versionLabel(model, number), missing)
}

// ListVersions returns versions of q.Model, highest number first. Without
// filters it queries the model's partition; with filters, the index of
// the most selective one (run id, git commit, dataset, tag=value, stage,
// tag, status), checking every filter on the versions it reads. Invalid
// for a bad cursor or limit.
func (s *Store) ListVersions(ctx context.Context, q registry.VersionQuery) (registry.Page[registry.Version], error) {
	if err := registry.CheckPageSize(q.Limit); err != nil {
		return registry.Page[registry.Version]{}, err
	}
	if q.TagKey == "" {
		q.TagValue = ""
	}
	scope := scopeOf("versions", q.Model, string(q.Stage), string(q.Status), q.TagKey, q.TagValue, q.GitCommit, q.DatasetID, q.RunID, strconv.FormatBool(q.IncludeDeleted))
	after, err := decodeCursor(q.Cursor, scope)
	if err != nil {
		return registry.Page[registry.Version]{}, err
	}
	if after != "" {
		if _, ok := parseNumber(after); !ok {
			return registry.Page[registry.Version]{}, registry.Errorf(registry.Invalid, "invalid page cursor")
		}
	}
	filters := 0
	for _, f := range []string{string(q.Stage), string(q.Status), q.TagKey, q.GitCommit, q.DatasetID, q.RunID} {
		if f != "" {
			filters++
		}
	}
	l := &listing[registry.Version]{
		indexed: filters > 0, scope: scope, limit: q.Limit, filtered: filters > 1 || len(q.GitCommit) > registry.CommitPrefixLen,
		decode: decodeRecord[versionItem, registry.Version],
		keep:   func(v registry.Version) bool { return v.Model == q.Model && matches(v, q) },
	}
	one := func(i int, pk string) *merged {
		return &merged{srcs: []*source{s.index(i, pk, after, true)}, desc: true}
	}
	tags := func(index func(int) string, attr func(int) string, pk string) *merged {
		m := &merged{desc: true}
		for i := 1; i <= TagSlots; i++ {
			m.srcs = append(m.srcs, &source{s: s, index: index(i), pkAttr: attr(i), skAttr: AttrTagNumber, pk: pk, after: after, desc: true})
		}
		// Entries of tag items stand for their version.
		l.target = func(e item) itemKey { return itemKey{str(e, AttrPK), prefixVersion + str(e, AttrTagNumber)} }
		return m
	}
	switch {
	case q.RunID != "":
		l.sources = one(5, runPK(q.Model, q.RunID))
	case q.GitCommit != "":
		l.sources = one(3, commitPK(q.Model, q.GitCommit))
	case q.DatasetID != "":
		l.sources = one(4, datasetPK(q.Model, q.DatasetID))
	case q.TagKey != "" && q.TagValue != "":
		l.sources = tags(tagValueIndex, tagValueAttr, tagValuePK(q.Model, q.TagKey, q.TagValue))
	case q.Stage != "":
		l.sources = one(1, stagePK(q.Model, q.Stage))
	case q.TagKey != "":
		l.sources = tags(tagKeyIndex, tagKeyAttr, tagKeyPK(q.Model, q.TagKey))
	case q.Status != "":
		l.sources = one(2, statusPK(q.Model, q.Status))
	default:
		l.sources = &merged{srcs: []*source{s.partition(modelPK(q.Model), prefixVersion, after, true)}, desc: true}
	}
	return l.page(ctx, s)
}

// matches is VersionQuery's filter semantics.
func matches(v registry.Version, q registry.VersionQuery) bool {
	if !q.IncludeDeleted && q.Status == "" && v.Status == registry.StatusDeleted {
		return false // tombstones are listed only when asked for
	}
	if q.Stage != "" && v.Stage != q.Stage || q.Status != "" && v.Status != q.Status {
		return false
	}
	if q.TagKey != "" {
		val, ok := v.Tags[q.TagKey]
		if !ok || q.TagValue != "" && val != q.TagValue {
			return false
		}
	}
	if q.GitCommit != "" && !registry.MatchCommit(v.Lineage.Code.Commit, q.GitCommit) {
		return false
	}
	return (q.DatasetID == "" || v.Lineage.Data.DatasetID == q.DatasetID) && (q.RunID == "" || v.Lineage.Run.RunID == q.RunID)
}

// GetAlias returns the alias name of model (GetItem, consistent). NotFound.
func (s *Store) GetAlias(ctx context.Context, model, name string) (registry.Alias, error) {
	return getRecord[aliasItem, registry.Alias](ctx, s, itemKey{modelPK(model), aliasSK(name)}, "alias "+model+"/"+name,
		func() error { return registry.Errorf(registry.NotFound, "model %q has no alias %q", model, name) })
}

// ListAliases returns all aliases of model ordered by name (a consistent
// Query of the model's partition).
func (s *Store) ListAliases(ctx context.Context, model string) ([]registry.Alias, error) {
	src := s.partition(modelPK(model), prefixAlias, "", false)
	out := []registry.Alias{}
	for {
		m, ok, err := src.peek(ctx, registry.MaxAliases+1)
		if err != nil || !ok {
			return out, err
		}
		src.pop()
		a, err := decodeRecord[aliasItem, registry.Alias](m)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
}

// ListAudit returns audit entries of q.Model, newest (highest ID) first:
// a consistent Query of the model's partition, or index gsi1 for one
// version. Invalid for a bad cursor or limit.
func (s *Store) ListAudit(ctx context.Context, q registry.AuditQuery) (registry.Page[registry.AuditEntry], error) {
	if err := registry.CheckPageSize(q.Limit); err != nil {
		return registry.Page[registry.AuditEntry]{}, err
	}
	scope := scopeOf("audit", q.Model, strconv.Itoa(q.Version))
	after, err := decodeCursor(q.Cursor, scope)
	if err != nil {
		return registry.Page[registry.AuditEntry]{}, err
	}
	l := &listing[registry.AuditEntry]{scope: scope, limit: q.Limit, decode: decodeRecord[auditItem, registry.AuditEntry]}
	if q.Version > 0 {
		l.indexed = true
		l.sources = &merged{srcs: []*source{s.index(1, auditVersionPK(q.Model, q.Version), after, true)}, desc: true}
		l.keep = func(e registry.AuditEntry) bool { return e.Model == q.Model && e.Version == q.Version }
	} else {
		l.sources = &merged{srcs: []*source{s.partition(modelPK(q.Model), prefixAudit, after, true)}, desc: true}
	}
	return l.page(ctx, s)
}

// StageAt returns the newest stage-change entry of model at or before at
// whose From or To is stage: the newest entry at or before at of index
// gsi2 (model+from) and gsi3 (model+to), whose sort keys are at#id.
// NotFound if there is none.
func (s *Store) StageAt(ctx context.Context, model string, stage registry.Stage, at time.Time) (registry.AuditEntry, error) {
	bound := afterTime(at)
	m := &merged{desc: true, srcs: []*source{s.index(2, stageFromPK(model, stage), bound, true), s.index(3, stageToPK(model, stage), bound, true)}}
	for {
		e, _, ok, err := m.next(ctx, 1)
		if err != nil {
			return registry.AuditEntry{}, err
		}
		if !ok {
			return registry.AuditEntry{}, registry.Errorf(registry.NotFound, "no %s change of model %q at or before %s", stage, model, at.UTC().Format(time.RFC3339Nano))
		}
		it, err := s.getItem(ctx, keyOf(e), "audit entry")
		if err != nil || it == nil {
			if err != nil {
				return registry.AuditEntry{}, err
			}
			continue
		}
		a, err := decodeRecord[auditItem, registry.AuditEntry](it)
		if err != nil {
			return registry.AuditEntry{}, err
		}
		if a.Model == model && a.Action == registry.ActionStageChanged && (a.From == stage || a.To == stage) && !a.At.After(at) {
			return a, nil
		}
	}
}

// GetApproval returns the approval with the given id (GetItem). NotFound.
func (s *Store) GetApproval(ctx context.Context, id string) (registry.Approval, error) {
	return getRecord[approvalItem, registry.Approval](ctx, s, itemKey{approvalPK(id), skApproval}, "approval "+id,
		func() error { return registry.Errorf(registry.NotFound, "approval %q not found", id) })
}

// ListApprovals returns approvals newest first (CreatedAt, then ID) from
// index gsi1 (all), gsi2 (status), gsi3 (model) or gsi4 (model and
// status). Invalid for a bad cursor or limit.
func (s *Store) ListApprovals(ctx context.Context, q registry.ApprovalQuery) (registry.Page[registry.Approval], error) {
	if err := registry.CheckPageSize(q.Limit); err != nil {
		return registry.Page[registry.Approval]{}, err
	}
	scope := scopeOf("approvals", string(q.Status), q.Model)
	after, err := decodeCursor(q.Cursor, scope)
	if err != nil {
		return registry.Page[registry.Approval]{}, err
	}
	var src *source
	switch {
	case q.Model != "" && q.Status != "":
		src = s.index(4, approvalModelStatusPK(q.Model, q.Status), after, true)
	case q.Status != "":
		src = s.index(2, approvalStatusPK(q.Status), after, true)
	case q.Model != "":
		src = s.index(3, approvalModelPK(q.Model), after, true)
	default:
		src = s.index(1, approvalsPartition, after, true)
	}
	l := &listing[registry.Approval]{
		sources: &merged{srcs: []*source{src}, desc: true}, indexed: true, scope: scope, limit: q.Limit,
		decode: decodeRecord[approvalItem, registry.Approval],
		keep: func(a registry.Approval) bool {
			return (q.Status == "" || a.Status == q.Status) && (q.Model == "" || a.Model == q.Model)
		},
	}
	return l.page(ctx, s)
}

// GetExecution returns the workflow execution with the given id. NotFound.
func (s *Store) GetExecution(ctx context.Context, id string) (registry.Execution, error) {
	return getRecord[executionItem, registry.Execution](ctx, s, itemKey{executionPK(id), skExecution}, "execution "+id,
		func() error { return registry.Errorf(registry.NotFound, "execution %q not found", id) })
}

// ListExecutions returns executions oldest first (StartedAt, then ID) from
// index gsi1 (all) or gsi2 (status). Invalid for a bad cursor or limit.
func (s *Store) ListExecutions(ctx context.Context, q registry.ExecutionQuery) (registry.Page[registry.Execution], error) {
	if err := registry.CheckPageSize(q.Limit); err != nil {
		return registry.Page[registry.Execution]{}, err
	}
	scope := scopeOf("executions", string(q.Status))
	after, err := decodeCursor(q.Cursor, scope)
	if err != nil {
		return registry.Page[registry.Execution]{}, err
	}
	src := s.index(1, executionPartition, after, false)
	if q.Status != "" {
		src = s.index(2, executionStatusPK(q.Status), after, false)
	}
	l := &listing[registry.Execution]{
		sources: &merged{srcs: []*source{src}}, indexed: true, scope: scope, limit: q.Limit,
		decode: decodeRecord[executionItem, registry.Execution],
		keep:   func(e registry.Execution) bool { return q.Status == "" || e.Status == q.Status },
	}
	return l.page(ctx, s)
}

// GetUpload returns the upload session with the given id: one consistent
// Query of its partition (the session item and its parts items). NotFound.
func (s *Store) GetUpload(ctx context.Context, id string) (registry.UploadSession, error) {
	for attempt := 1; ; attempt++ {
		u, err := s.getUpload(ctx, id)
		if !errors.Is(err, errTornUpload) {
			return u, err
		}
		if attempt >= 3 {
			return registry.UploadSession{}, registry.Wrap(registry.Unavailable, err, "upload session %s is being changed; retry", id)
		}
	}
}

// UploadsToSweep returns up to limit sessions the upload sweeper must
// handle: it queries index gsi1 UPSWEEP (EXPIRING sessions under the zero
// time, OPEN ones under their expiry) for keys before before, ascending,
// and reads each session (GetUpload), keeping those that still qualify.
// Invalid for a limit below 1.
func (s *Store) UploadsToSweep(ctx context.Context, before time.Time, limit int) ([]registry.UploadSession, error) {
	if limit < 1 {
		return nil, registry.Errorf(registry.Invalid, "uploads to sweep: limit %d: want at least 1", limit)
	}
	in := &wire.QueryInput{
		TableName: s.table, IndexName: gsiName(1),
		KeyConditionExpression:   "#p = :p AND #s < :b",
		ExpressionAttributeNames: map[string]string{"#p": gsiPK(1), "#s": gsiSK(1)},
		ExpressionAttributeValues: item{
			":p": wire.S(uploadSweepPartition),
			":b": wire.S(timeKey(before)),
		},
		Limit: int32(min(limit, 1000)),
	}
	out := []registry.UploadSession{}
	for {
		page, err := s.client.Query(ctx, in)
		if err != nil {
			return nil, translate(err, "uploads to sweep")
		}
		for _, m := range page.Items {
			id, ok := strings.CutPrefix(str(m, AttrPK), uploadPK(""))
			if !ok {
				continue
			}
			u, err := s.GetUpload(ctx, id)
			if registry.IsCode(err, registry.NotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if u.Status == registry.UploadExpiring || u.Status == registry.UploadOpen && u.ExpiresAt.Before(before) {
				out = append(out, u)
				if len(out) == limit {
					return out, nil
				}
			}
		}
		if page.LastEvaluatedKey == nil {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

func (s *Store) getUpload(ctx context.Context, id string) (registry.UploadSession, error) {
	in := &wire.QueryInput{
		TableName: s.table, ConsistentRead: true, KeyConditionExpression: "#p = :p",
		ExpressionAttributeNames:  map[string]string{"#p": AttrPK},
		ExpressionAttributeValues: item{":p": wire.S(uploadPK(id))},
	}
	var parent item
	var parts [][]byte
	for {
		out, err := s.client.Query(ctx, in)
		if err != nil {
			return registry.UploadSession{}, translate(err, "get upload %s", id)
		}
		for _, m := range out.Items {
			switch str(m, AttrKind) {
			case kindUpload:
				parent = m
			case kindUploadParts:
				p, err := decode[uploadPartsItem](m)
				if err != nil {
					return registry.UploadSession{}, err
				}
				parts = append(parts, p.Data)
			}
		}
		if out.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	if parent == nil {
		return registry.UploadSession{}, registry.Errorf(registry.NotFound, "upload %q not found", id)
	}
	it, err := decode[uploadItem](parent)
	if err != nil {
		return registry.UploadSession{}, err
	}
	if it.PartItems < len(parts) {
		parts = parts[:it.PartItems] // left over from a failed cleanup; never read
	}
	return it.record(parts)
}

// index returns a source over partition pk of generic index i.
func (s *Store) index(i int, pk, after string, desc bool) *source {
	return &source{s: s, index: gsiName(i), pkAttr: gsiPK(i), skAttr: gsiSK(i), pk: pk, after: after, desc: desc}
}

// partition returns a source over the items of partition pk whose sort keys
// start with prefix.
func (s *Store) partition(pk, prefix, after string, desc bool) *source {
	return &source{s: s, pkAttr: AttrPK, skAttr: AttrSK, pk: pk, prefix: prefix, after: after, desc: desc}
}

// decodeRecord decodes an item into its record.
func decodeRecord[I interface{ record() (R, error) }, R any](m item) (R, error) {
	it, err := decode[I](m)
	if err != nil {
		var zero R
		return zero, err
	}
	return it.record()
}
