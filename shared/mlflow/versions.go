package mlflow

import (
	"context"
	"maps"
	"strconv"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

func (h *handler) createVersion(ctx context.Context, in *input) (any, error) {
	name, err := in.required("name")
	if err != nil {
		return nil, err
	}
	source, err := in.required("source")
	if err != nil {
		return nil, err
	}
	runID, err1 := in.str("run_id")
	runLink, err2 := in.str("run_link")
	desc, err3 := in.str("description")
	tags, err4 := in.tags("tags")
	if err := firstErr(err1, err2, err3, err4); err != nil {
		return nil, err
	}
	if _, ok := tags[sourceTag]; ok {
		return nil, invalid("tag %s is set by the server", sourceTag)
	}
	if _, ok := tags[filesTag]; ok {
		return nil, invalid("tag %s is set by the server", filesTag)
	}
	if runLink != "" {
		tags = maps.Clone(tags)
		if tags == nil {
			tags = map[string]string{}
		}
		tags[runLinkTag] = runLink
	}
	modelID, err := in.str("model_id")
	if err != nil {
		return nil, err
	}
	if _, err := h.svc.GetModel(ctx, name); err != nil {
		return nil, err
	}
	src, fromRun, err := h.resolveSource(ctx, source, runID, modelID)
	if err != nil {
		return nil, err
	}
	if fromRun {
		v, err := h.registerFromRun(ctx, name, src, newVersionFrom(src, source, desc, tags))
		if err != nil {
			return nil, err
		}
		return versionResponse{toVersion(v, nil, "")}, nil
	}
	nv := registry.NewVersion{Description: desc, Tags: tags, Source: source}
	nv.Lineage.Run.RunID = runID
	v, err := h.svc.RegisterVersion(ctx, name, nv)
	if err != nil {
		return nil, err
	}
	return versionResponse{toVersion(v, nil, "")}, nil
}

func (h *handler) getVersion(ctx context.Context, in *input) (any, error) {
	name, n, err := in.nameVersion()
	if err != nil {
		return nil, err
	}
	v, err := h.svc.GetVersion(ctx, name, n)
	if err != nil {
		return nil, err
	}
	return h.versionReply(ctx, v)
}

func (h *handler) updateVersion(ctx context.Context, in *input) (any, error) {
	name, n, err := in.nameVersion()
	if err != nil {
		return nil, err
	}
	var patch registry.VersionPatch
	if in.has("description") {
		d, err := in.str("description")
		if err != nil {
			return nil, err
		}
		patch.Description = &d
	}
	v, err := h.svc.UpdateVersion(ctx, name, n, patch)
	if err != nil {
		return nil, err
	}
	return versionResponse{toVersion(v, nil, "")}, nil
}

func (h *handler) deleteVersion(ctx context.Context, in *input) (any, error) {
	name, n, err := in.nameVersion()
	if err != nil {
		return nil, err
	}
	_, err = h.svc.DeleteVersion(ctx, name, n, "deleted through the MLflow API")
	return empty{}, err
}

func (h *handler) downloadURI(ctx context.Context, in *input) (any, error) {
	name, n, err := in.nameVersion()
	if err != nil {
		return nil, err
	}
	v, err := h.svc.GetVersion(ctx, name, n)
	if err != nil {
		return nil, err
	}
	uri := toVersion(v, nil, "").Source
	if dir := v.Tags[filesTag]; dir != "" {
		uri = h.artifactURI(dir)
	}
	return struct {
		ArtifactURI string `json:"artifact_uri"`
	}{uri}, nil
}

func (h *handler) setVersionTag(ctx context.Context, in *input) (any, error) {
	name, n, err := in.nameVersion()
	if err != nil {
		return nil, err
	}
	key, err := in.required("key")
	if err != nil {
		return nil, err
	}
	if key == PendingApprovalTag {
		return nil, invalid("tag %s is generated from the approval workflow and cannot be set", key)
	}
	if key == sourceTag || key == filesTag {
		return nil, invalid("tag %s records where the version's files came from and cannot be set", key)
	}
	value, err := in.str("value")
	if err != nil {
		return nil, err
	}
	_, err = h.svc.SetVersionTag(ctx, name, n, key, value)
	return empty{}, err
}

func (h *handler) deleteVersionTag(ctx context.Context, in *input) (any, error) {
	name, n, err := in.nameVersion()
	if err != nil {
		return nil, err
	}
	key, err := in.required("key")
	if err != nil {
		return nil, err
	}
	_, err = h.svc.DeleteVersionTag(ctx, name, n, key)
	return empty{}, err
}

// transition moves a version to another stage. Production goes through the
// approval workflow: the answer shows the version still in its old stage
// with the generated tag modelreg.pending_approval, unless the model's
// policy approves automatically (then it waits, up to AutoPromotionWait,
// for Production). Production to any other stage is refused: a Production
// version leaves only when another is promoted or rolled back to.
// archive_existing_versions with Staging archives the other Staging
// versions; with Production the previous Production version is always
// archived (modelreg keeps one Production version).
func (h *handler) transition(ctx context.Context, in *input) (any, error) {
	name, n, err := in.nameVersion()
	if err != nil {
		return nil, err
	}
	stageName, err := in.required("stage")
	if err != nil {
		return nil, err
	}
	archive, err := in.boolean("archive_existing_versions")
	if err != nil {
		return nil, err
	}
	comment, err := in.str("comment")
	if err != nil {
		return nil, err
	}
	stage, err := registry.ParseStage(stageName)
	if err != nil {
		return nil, invalid("invalid model version stage %q: use None, Staging, Production or Archived", stageName)
	}
	v, err := h.svc.GetVersion(ctx, name, n)
	if err != nil {
		return nil, err
	}
	if v.Stage == registry.StageProduction && stage != registry.StageProduction {
		return nil, invalid("version %d of %s is in Production: modelreg does not move a Production version out directly; promote another version to Production (it archives this one) or roll back (modelreg rollback %s)", n, name, name)
	}
	reason := comment
	if reason == "" {
		reason = "transition to " + string(stage) + " requested through the MLflow API"
	}
	res, err := h.svc.Transition(ctx, name, n, stage, reason)
	if err != nil {
		return nil, err
	}
	if res.Approval != nil {
		if v, err = h.awaitAuto(ctx, name, n, *res.Approval); err != nil {
			return nil, err
		}
	} else {
		v = *res.Version
		if archive && stage == registry.StageStaging {
			if err := h.archiveOthers(ctx, name, n, stage); err != nil {
				return nil, err
			}
		}
	}
	return h.versionReply(ctx, v)
}

// awaitAuto returns the version after a request for Production: at once
// for a model whose policy needs a person, after the workflow decided for
// one whose policy approves automatically.
func (h *handler) awaitAuto(ctx context.Context, name string, n int, ap registry.Approval) (registry.Version, error) {
	pol, err := h.svc.GetPolicy(ctx, name)
	if err != nil {
		return registry.Version{}, err
	}
	if pol.Approval == registry.ApprovalAuto {
		deadline := time.Now().Add(h.autoWait)
		for time.Now().Before(deadline) {
			a, err := h.svc.GetApproval(ctx, ap.ID)
			if err != nil {
				return registry.Version{}, err
			}
			if a.Status != registry.ApprovalPending {
				break
			}
			select {
			case <-ctx.Done():
				return registry.Version{}, registry.Wrap(registry.Unavailable, ctx.Err(), "request cancelled")
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return h.svc.GetVersion(ctx, name, n)
}

// archiveOthers archives every version of name in stage except number.
func (h *handler) archiveOthers(ctx context.Context, name string, number int, stage registry.Stage) error {
	token := ""
	for {
		l, err := h.svc.ListVersions(ctx, name, registry.VersionFilter{Stage: stage}, token, registry.MaxPageSize)
		if err != nil {
			return err
		}
		for _, v := range l.Items {
			if v.Number == number {
				continue
			}
			_, err := h.svc.Transition(ctx, name, v.Number, registry.StageArchived, "archived by archive_existing_versions (MLflow API) when version "+strconv.Itoa(number)+" moved to "+string(stage))
			if err != nil && !registry.IsCode(err, registry.Conflict) {
				return err
			}
		}
		if l.NextPageToken == "" {
			return nil
		}
		token = l.NextPageToken
	}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
