package mlflow

import (
	"context"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// PendingApprovalTag is the version tag, generated from the approval (never
// stored), that carries the id of a PENDING request to promote the version
// to Production.
const PendingApprovalTag = "modelreg.pending_approval"

// runLinkTag keeps MLflow's run_link of a version among its tags; it is
// answered as run_link, not as a tag.
const runLinkTag = "mlflow.run_link"

// wireTag is MLflow's {key, value}.
type wireTag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// wireAlias is MLflow's {alias, version}.
type wireAlias struct {
	Alias   string `json:"alias"`
	Version string `json:"version"`
}

// wireModel is MLflow's RegisteredModel.
type wireModel struct {
	Name                 string        `json:"name"`
	CreationTimestamp    int64         `json:"creation_timestamp"`
	LastUpdatedTimestamp int64         `json:"last_updated_timestamp"`
	UserID               string        `json:"user_id,omitempty"`
	Description          string        `json:"description,omitempty"`
	LatestVersions       []wireVersion `json:"latest_versions,omitempty"`
	Tags                 []wireTag     `json:"tags,omitempty"`
	Aliases              []wireAlias   `json:"aliases,omitempty"`
}

// wireVersion is MLflow's ModelVersion.
type wireVersion struct {
	Name                 string    `json:"name"`
	Version              string    `json:"version"`
	CreationTimestamp    int64     `json:"creation_timestamp"`
	LastUpdatedTimestamp int64     `json:"last_updated_timestamp"`
	UserID               string    `json:"user_id,omitempty"`
	CurrentStage         string    `json:"current_stage"`
	Description          string    `json:"description,omitempty"`
	Source               string    `json:"source,omitempty"`
	RunID                string    `json:"run_id,omitempty"`
	Status               string    `json:"status"`
	StatusMessage        string    `json:"status_message,omitempty"`
	Tags                 []wireTag `json:"tags,omitempty"`
	RunLink              string    `json:"run_link,omitempty"`
	Aliases              []string  `json:"aliases,omitempty"`
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func wireTags(m map[string]string, skip string) []wireTag {
	out := make([]wireTag, 0, len(m))
	for k, v := range m {
		if k != skip {
			out = append(out, wireTag{k, v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// statusOf maps a version's status onto MLflow's ModelVersionStatus.
func statusOf(s registry.Status) string {
	switch s {
	case registry.StatusReady:
		return "READY"
	case registry.StatusFailed, registry.StatusDeleted:
		return "FAILED_REGISTRATION"
	}
	return "PENDING_REGISTRATION"
}

// toModel converts a model; latest and aliases may be nil.
func toModel(m registry.Model, latest []registry.Version, aliases []registry.Alias) wireModel {
	w := wireModel{
		Name: m.Name, CreationTimestamp: millis(m.CreatedAt), LastUpdatedTimestamp: millis(m.UpdatedAt),
		UserID: m.CreatedBy, Description: m.Description, Tags: wireTags(m.Tags, ""),
	}
	for _, v := range latest {
		w.LatestVersions = append(w.LatestVersions, toVersion(v, nil, ""))
	}
	for _, a := range aliases {
		w.Aliases = append(w.Aliases, wireAlias{a.Name, strconv.Itoa(a.Version)})
	}
	return w
}

// toVersion converts a version with the names of its aliases and the id of
// its PENDING approval to Production ("" if none).
func toVersion(v registry.Version, aliases []string, pending string) wireVersion {
	w := wireVersion{
		Name: v.Model, Version: strconv.Itoa(v.Number),
		CreationTimestamp: millis(v.CreatedAt), LastUpdatedTimestamp: millis(v.UpdatedAt),
		UserID: v.CreatedBy, CurrentStage: string(v.Stage), Description: v.Description,
		Source: v.Lineage.SourceURI, RunID: v.Lineage.Run.RunID, Status: statusOf(v.Status),
		Tags: wireTags(v.Tags, runLinkTag), RunLink: v.Tags[runLinkTag], Aliases: aliases,
	}
	if s := v.Tags[sourceTag]; s != "" {
		w.Source = s
		w.Tags = slices.DeleteFunc(w.Tags, func(t wireTag) bool { return t.Key == sourceTag || t.Key == filesTag })
	}
	if w.Source == "" {
		w.Source = "models:/" + v.Model + "/" + strconv.Itoa(v.Number)
	}
	if v.Status == registry.StatusPendingUpload {
		w.StatusMessage = "waiting for its artifacts to be uploaded"
	}
	if pending != "" {
		w.Tags = append(w.Tags, wireTag{PendingApprovalTag, pending})
	}
	return w
}

// versionReply answers one version, converted by versionOut.
func (h *handler) versionReply(ctx context.Context, v registry.Version) (any, error) {
	w, err := h.versionOut(ctx, v)
	if err != nil {
		return nil, err
	}
	return versionResponse{w}, nil
}

// versionOut converts a version with its aliases and pending approval,
// read from the service.
func (h *handler) versionOut(ctx context.Context, v registry.Version) (wireVersion, error) {
	als, err := h.svc.ListAliases(ctx, v.Model)
	if err != nil {
		return wireVersion{}, err
	}
	var names []string
	for _, a := range als {
		if a.Version == v.Number {
			names = append(names, a.Name)
		}
	}
	pending, err := h.pendingApproval(ctx, v.Model, v.Number)
	if err != nil {
		return wireVersion{}, err
	}
	return toVersion(v, names, pending), nil
}

// pendingApproval returns the id of the PENDING approval to promote version
// number of model, or "". A model has at most one PENDING approval.
func (h *handler) pendingApproval(ctx context.Context, model string, number int) (string, error) {
	l, err := h.svc.ListApprovals(ctx, registry.ApprovalPending, model, "", 10)
	if err != nil {
		return "", err
	}
	for _, a := range l.Items {
		if a.Version == number && a.Status == registry.ApprovalPending {
			return a.ID, nil
		}
	}
	return "", nil
}
