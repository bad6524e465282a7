package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"

	"github.com/modelreg/modelreg/shared/registry"
)

// RegisterRequest is the body of POST /v1/models/{name}/versions: a
// registry.NewVersion whose metrics may each be a plain number (source
// training) or an object {"value":0.9,"source":"validation"}. Empty
// fields are left out when a client encodes it.
type RegisterRequest struct {
	Description string                 `json:"description,omitempty"`
	Metrics     map[string]MetricInput `json:"metrics,omitempty"`
	Params      map[string]string      `json:"params,omitempty"`
	Tags        map[string]string      `json:"tags,omitempty"`
	Lineage     Lineage                `json:"lineage"`
	Source      string                 `json:"source,omitempty"`
}

// MetricInput is one metric of a RegisterRequest.
type MetricInput struct {
	Value  float64
	Source registry.MetricSource
}

// MarshalJSON encodes m as {"value":N,"source":"…"}, without the source
// when it is empty (the server then takes training).
func (m MetricInput) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Value  float64               `json:"value"`
		Source registry.MetricSource `json:"source,omitempty"`
	}{m.Value, m.Source})
}

// UnmarshalJSON accepts a number or {"value":N,"source":"…"} (value
// required, nothing else).
func (m *MetricInput) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var obj struct {
			Value  *float64              `json:"value"`
			Source registry.MetricSource `json:"source"`
		}
		if err := decodeStrict(b, &obj, "metric"); err != nil {
			return err
		}
		if obj.Value == nil {
			return registry.Errorf(registry.Invalid, "metric: give {\"value\": number, \"source\": …} or a plain number")
		}
		*m = MetricInput{Value: *obj.Value, Source: obj.Source}
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil || string(b) == "null" {
		return registry.Errorf(registry.Invalid, "metric value %s is not a number: give a number or {\"value\": number, \"source\": …}", b)
	}
	*m = MetricInput{Value: v, Source: registry.SourceTraining}
	return nil
}

// NewVersion converts the request into the service's input.
func (req RegisterRequest) NewVersion() registry.NewVersion {
	nv := registry.NewVersion{
		Description: req.Description, Params: req.Params, Tags: req.Tags,
		Lineage: req.Lineage.domain(), Source: req.Source,
	}
	if req.Metrics != nil {
		nv.Metrics = make(map[string]registry.Metric, len(req.Metrics))
		for k, m := range req.Metrics {
			nv.Metrics[k] = registry.Metric{Value: m.Value, Source: m.Source}
		}
	}
	return nv
}

func (a *api) registerVersion(ctx context.Context, in *input) (any, error) {
	var req RegisterRequest
	if err := in.decode(&req); err != nil {
		return nil, err
	}
	return a.svc.RegisterVersion(ctx, in.name(), req.NewVersion())
}

func (a *api) listVersions(ctx context.Context, in *input) (any, error) {
	token, size, err := in.page()
	if err != nil {
		return nil, err
	}
	f := registry.VersionFilter{
		Tag: in.query("tag"), GitCommit: in.query("git_commit"),
		DatasetID: in.query("dataset"), RunID: in.query("run_id"),
	}
	if s := in.query("stage"); s != "" {
		if f.Stage, err = registry.ParseStage(s); err != nil {
			return nil, err
		}
	}
	if s := in.query("status"); s != "" {
		if f.Status, err = parseStatus(s); err != nil {
			return nil, err
		}
	}
	if f.IncludeDeleted, err = in.includeDeleted(); err != nil {
		return nil, err
	}
	return a.svc.ListVersions(ctx, in.name(), f, token, size)
}

// parseStatus returns the version Status named s (case-insensitive).
func parseStatus(s string) (registry.Status, error) {
	switch st := registry.Status(strings.ToUpper(s)); st {
	case registry.StatusPendingUpload, registry.StatusReady, registry.StatusFailed, registry.StatusDeleted:
		return st, nil
	}
	return "", registry.Errorf(registry.Invalid, "unknown status %q: use PENDING_UPLOAD, READY, FAILED or DELETED", s)
}

func (a *api) getVersion(ctx context.Context, in *input) (any, error) {
	n, err := in.version()
	if err != nil {
		return nil, err
	}
	return a.svc.GetVersion(ctx, in.name(), n)
}

func (a *api) updateVersion(ctx context.Context, in *input) (any, error) {
	n, err := in.version()
	if err != nil {
		return nil, err
	}
	var patch VersionPatch
	if err := in.decode(&patch); err != nil {
		return nil, err
	}
	return a.svc.UpdateVersion(ctx, in.name(), n, patch.domain())
}

// PushMetricsRequest is the body of POST …/versions/{version}/metrics.
type PushMetricsRequest struct {
	Metrics map[string]float64 `json:"metrics"`
	// Source is production unless given.
	Source registry.MetricSource `json:"source,omitempty"`
}

func (a *api) pushMetrics(ctx context.Context, in *input) (any, error) {
	n, err := in.version()
	if err != nil {
		return nil, err
	}
	var req PushMetricsRequest
	if err := in.decode(&req); err != nil {
		return nil, err
	}
	return a.svc.PushMetrics(ctx, in.name(), n, req.Metrics, req.Source)
}
