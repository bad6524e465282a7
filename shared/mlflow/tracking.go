package mlflow

import (
	"context"
	"encoding/json"
	"maps"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/tracking"
)

// trackingRoutes are MLflow's tracking endpoints this package serves (with
// Options.Tracking): what mlflow.set_experiment, start_run, log_param,
// log_metric, log_batch, set_tag, end_run, sklearn.log_model (MLflow 3
// logged models) and register_model call.
var trackingRoutes = []route{
	{"POST", "experiments/create", registry.PermPublish, []string{"name", "artifact_location", "tags"}, (*handler).createExperiment},
	{"GET", "experiments/get", registry.PermRead, []string{"experiment_id"}, (*handler).getExperiment},
	{"GET", "experiments/get-by-name", registry.PermRead, []string{"experiment_name"}, (*handler).getExperimentByName},
	{"POST", "experiments/search", registry.PermRead, []string{"max_results", "filter", "order_by", "view_type", "page_token"}, (*handler).searchExperiments},
	{"GET", "experiments/search", registry.PermRead, []string{"max_results", "filter", "order_by", "view_type", "page_token"}, (*handler).searchExperiments},
	{"POST", "experiments/set-experiment-tag", registry.PermPublish, []string{"experiment_id", "key", "value"}, (*handler).setExperimentTag},
	{"POST", "experiments/delete", registry.PermPublish, []string{"experiment_id"}, (*handler).deleteExperiment},
	{"POST", "experiments/restore", registry.PermPublish, []string{"experiment_id"}, (*handler).restoreExperiment},

	{"POST", "runs/create", registry.PermPublish, []string{"experiment_id", "user_id", "start_time", "tags", "run_name"}, (*handler).createRun},
	{"GET", "runs/get", registry.PermRead, []string{"run_id", "run_uuid"}, (*handler).getRun},
	{"POST", "runs/update", registry.PermPublish, []string{"run_id", "run_uuid", "status", "end_time", "run_name"}, (*handler).updateRun},
	{"POST", "runs/log-parameter", registry.PermPublish, []string{"run_id", "run_uuid", "key", "value"}, (*handler).logParam},
	{"POST", "runs/log-metric", registry.PermPublish, []string{"run_id", "run_uuid", "key", "value", "timestamp", "step", "model_id", "dataset_name", "dataset_digest"}, (*handler).logMetric},
	{"POST", "runs/log-batch", registry.PermPublish, []string{"run_id", "metrics", "params", "tags"}, (*handler).logBatch},
	{"POST", "runs/set-tag", registry.PermPublish, []string{"run_id", "run_uuid", "key", "value"}, (*handler).setRunTag},
	{"POST", "runs/delete-tag", registry.PermPublish, []string{"run_id", "key"}, (*handler).deleteRunTag},
	{"POST", "runs/delete", registry.PermPublish, []string{"run_id"}, (*handler).deleteRun},
	{"POST", "runs/restore", registry.PermPublish, []string{"run_id"}, (*handler).restoreRun},
	{"POST", "runs/outputs", registry.PermPublish, []string{"run_id", "models"}, (*handler).logOutputs},
	{"POST", "runs/log-inputs", registry.PermPublish, []string{"run_id", "datasets", "models"}, (*handler).logInputs},
	{"GET", "metrics/get-history", registry.PermRead, []string{"run_id", "run_uuid", "metric_key", "page_token", "max_results"}, (*handler).metricHistory},
	{"POST", "runs/search", registry.PermRead, []string{"experiment_ids", "filter", "run_view_type", "max_results", "order_by", "page_token"}, (*handler).searchRuns},

	{"POST", "logged-models", registry.PermPublish, []string{"experiment_id", "name", "model_type", "source_run_id", "params", "tags"}, (*handler).createLoggedModel},
	{"GET", "logged-models/{model_id}", registry.PermRead, []string{"allow_deleted"}, (*handler).getLoggedModel},
	{"PATCH", "logged-models/{model_id}", registry.PermPublish, []string{"model_id", "status"}, (*handler).finalizeLoggedModel},
	{"PATCH", "logged-models/{model_id}/tags", registry.PermPublish, []string{"model_id", "tags"}, (*handler).setLoggedModelTags},
	{"DELETE", "logged-models/{model_id}/tags/{tag_key}", registry.PermPublish, []string{"model_id", "tag_key"}, (*handler).deleteLoggedModelTag},
	{"POST", "logged-models/{model_id}/params", registry.PermPublish, []string{"model_id", "params"}, (*handler).logLoggedModelParams},
	{"POST", "logged-models/search", registry.PermRead, []string{"experiment_ids", "filter", "datasets", "max_results", "order_by", "page_token"}, (*handler).searchLoggedModels},
}

// Wire shapes of MLflow's tracking entities.
type wireExperiment struct {
	ExperimentID     string    `json:"experiment_id"`
	Name             string    `json:"name"`
	ArtifactLocation string    `json:"artifact_location"`
	LifecycleStage   string    `json:"lifecycle_stage"`
	LastUpdateTime   int64     `json:"last_update_time"`
	CreationTime     int64     `json:"creation_time"`
	Tags             []wireTag `json:"tags,omitempty"`
}

type wireMetric struct {
	Key       string  `json:"key"`
	Value     any     `json:"value"`
	Timestamp int64   `json:"timestamp"`
	Step      int64   `json:"step"`
	ModelID   string  `json:"model_id,omitempty"`
	RunID     string  `json:"run_id,omitempty"`
	_         float64 // keeps the struct distinct
}

type wireRunInfo struct {
	RunID          string `json:"run_id"`
	RunUUID        string `json:"run_uuid"`
	RunName        string `json:"run_name"`
	ExperimentID   string `json:"experiment_id"`
	UserID         string `json:"user_id"`
	Status         string `json:"status"`
	StartTime      int64  `json:"start_time"`
	EndTime        int64  `json:"end_time,omitempty"`
	ArtifactURI    string `json:"artifact_uri"`
	LifecycleStage string `json:"lifecycle_stage"`
}

type wireRun struct {
	Info wireRunInfo `json:"info"`
	Data struct {
		Metrics []wireMetric `json:"metrics,omitempty"`
		Params  []wireTag    `json:"params,omitempty"`
		Tags    []wireTag    `json:"tags,omitempty"`
	} `json:"data"`
	Inputs  struct{} `json:"inputs"`
	Outputs struct {
		ModelOutputs []modelOutput `json:"model_outputs,omitempty"`
	} `json:"outputs"`
}

type wireLoggedModel struct {
	Info struct {
		ModelID       string    `json:"model_id"`
		ExperimentID  string    `json:"experiment_id"`
		Name          string    `json:"name"`
		CreationMS    int64     `json:"creation_timestamp_ms"`
		LastUpdatedMS int64     `json:"last_updated_timestamp_ms"`
		ArtifactURI   string    `json:"artifact_uri"`
		Status        string    `json:"status"`
		ModelType     string    `json:"model_type,omitempty"`
		SourceRunID   string    `json:"source_run_id,omitempty"`
		Tags          []wireTag `json:"tags,omitempty"`
		StatusMessage string    `json:"status_message,omitempty"`
	} `json:"info"`
	Data struct {
		Params  []wireTag    `json:"params,omitempty"`
		Metrics []wireMetric `json:"metrics,omitempty"`
	} `json:"data"`
}

func floatOut(v float64) any {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "Infinity"
	case math.IsInf(v, -1):
		return "-Infinity"
	}
	return v
}

func (h *handler) toExperiment(e experimentRec) wireExperiment {
	return wireExperiment{ExperimentID: e.ID, Name: e.Name, ArtifactLocation: h.artifactURI(e.ID), LifecycleStage: e.LifecycleStage,
		LastUpdateTime: e.UpdatedMS, CreationTime: e.CreatedMS, Tags: wireTags(e.Tags, "")}
}

func metricsOut(m map[string]metricRec) []wireMetric {
	out := make([]wireMetric, 0, len(m))
	for _, t := range wireTags(mapKeys(m), "") {
		v := m[t.Key]
		out = append(out, wireMetric{Key: t.Key, Value: floatOut(v.Value), Timestamp: v.Timestamp, Step: v.Step})
	}
	return out
}

func mapKeys[V any](m map[string]V) map[string]string {
	out := make(map[string]string, len(m))
	for k := range m {
		out[k] = ""
	}
	return out
}

func (h *handler) toRun(r runRec) wireRun {
	var w wireRun
	w.Info = wireRunInfo{RunID: r.ID, RunUUID: r.ID, RunName: r.Name, ExperimentID: r.ExperimentID, UserID: r.UserID, Status: r.Status,
		StartTime: r.StartMS, EndTime: r.EndMS, ArtifactURI: h.artifactURI(runArtifactRoot(r.ExperimentID, r.ID)), LifecycleStage: r.LifecycleStage}
	w.Data.Metrics = metricsOut(r.Metrics)
	w.Data.Params = wireTags(r.Params, "")
	w.Data.Tags = wireTags(r.Tags, "")
	w.Outputs.ModelOutputs = r.Outputs
	return w
}

func (h *handler) toLoggedModel(m loggedModelRec) wireLoggedModel {
	var w wireLoggedModel
	w.Info.ModelID, w.Info.ExperimentID, w.Info.Name = m.ID, m.ExperimentID, m.Name
	w.Info.CreationMS, w.Info.LastUpdatedMS = m.CreatedMS, m.UpdatedMS
	w.Info.ArtifactURI = h.artifactURI(modelArtifactRoot(m.ExperimentID, m.ID))
	w.Info.Status, w.Info.ModelType, w.Info.SourceRunID = m.Status, m.ModelType, m.SourceRunID
	w.Info.Tags = wireTags(m.Tags, "")
	w.Data.Params = wireTags(m.Params, "")
	w.Data.Metrics = metricsOut(m.Metrics)
	return w
}

// raw decodes a JSON body parameter into v (absent: v unchanged).
func (in *input) raw(name string, v any) error {
	if in.body == nil {
		if in.q.Has(name) {
			return invalid("parameter %s is sent in a JSON body", name)
		}
		return nil
	}
	b, ok := in.body[name]
	if !ok || string(b) == "null" {
		return nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return invalid("parameter %s is malformed: %v", name, err)
	}
	return nil
}

// runID returns run_id (or the older run_uuid).
func (in *input) runID() (string, error) {
	id, err := in.str("run_id")
	if err == nil && id == "" && in.has("run_uuid") {
		id, err = in.str("run_uuid")
	}
	if err == nil && id == "" {
		err = invalid("missing value for required parameter 'run_id'")
	}
	return id, err
}

// parseFloat reads a metric value: a JSON number or MLflow's "NaN",
// "Infinity", "-Infinity".
func parseFloat(raw json.RawMessage) (float64, error) {
	var f float64
	if err := json.Unmarshal(raw, &f); err == nil {
		return f, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		switch s {
		case "NaN":
			return math.NaN(), nil
		case "Infinity", "inf":
			return math.Inf(1), nil
		case "-Infinity", "-inf":
			return math.Inf(-1), nil
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f, nil
		}
	}
	return 0, invalid("metric value %s is not a number", raw)
}

// checkKey validates a param, metric or tag key and value the way MLflow
// limits them (keys 250 characters, param values 6000, tag values 8000).
func checkKV(what, key, value string, maxValue int) error {
	if key == "" || len(key) > 250 {
		return invalid("%s key %q must have 1 to 250 characters", what, key)
	}
	if err := registry.ValidateLine(what+" key", key, 250); err != nil {
		return err
	}
	if len(value) > maxValue {
		return invalid("%s %q: value of %d characters is over %d", what, key, len(value), maxValue)
	}
	return registry.ValidateText(what+" value", value, maxValue)
}

func who(ctx context.Context) string {
	return registry.PrincipalFrom(ctx).Name
}

func (h *handler) createExperiment(ctx context.Context, in *input) (any, error) {
	name, err := in.required("name")
	if err != nil {
		return nil, err
	}
	if err := registry.ValidateLine("experiment name", name, 500); err != nil {
		return nil, err
	}
	if loc, _ := in.str("artifact_location"); loc != "" {
		return nil, invalid("artifact_location is chosen by the server (run artifacts go through the mlflow-artifacts proxy, or to the registry's bucket); leave it out")
	}
	tags, err := in.tags("tags")
	if err != nil {
		return nil, err
	}
	e, err := h.track.createExperiment(ctx, name, tags, "")
	if err != nil {
		return nil, err
	}
	return map[string]string{"experiment_id": e.ID}, nil
}

func (h *handler) getExperiment(ctx context.Context, in *input) (any, error) {
	id, err := in.required("experiment_id")
	if err != nil {
		return nil, err
	}
	e, err := h.track.experiment(ctx, id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"experiment": h.toExperiment(e)}, nil
}

func (h *handler) getExperimentByName(ctx context.Context, in *input) (any, error) {
	name, err := in.required("experiment_name")
	if err != nil {
		return nil, err
	}
	e, err := h.track.experimentByName(ctx, name)
	if err != nil {
		return nil, err
	}
	return map[string]any{"experiment": h.toExperiment(e)}, nil
}

// searchExperiments lists experiments by id (no filter) or finds one by
// name (filter "name = 'x'"), those view_type asks for (ACTIVE_ONLY by
// default); other filters are INVALID_PARAMETER_VALUE.
func (h *handler) searchExperiments(ctx context.Context, in *input) (any, error) {
	filter, err := in.str("filter")
	if err != nil {
		return nil, err
	}
	view, err := in.viewType("view_type")
	if err != nil {
		return nil, err
	}
	filter = strings.TrimSpace(filter)
	if filter != "" {
		name, ok := parseNameEquals(filter)
		if !ok {
			return nil, invalid("experiment search supports no filter or name = '...' only, got %q", filter)
		}
		e, err := h.track.experimentByName(ctx, name)
		if registry.IsCode(err, registry.NotFound) || (err == nil && !shows(view, e.LifecycleStage)) {
			return map[string]any{"experiments": []wireExperiment{}}, nil
		}
		if err != nil {
			return nil, err
		}
		return map[string]any{"experiments": []wireExperiment{h.toExperiment(e)}}, nil
	}
	if _, err := h.track.experiment(ctx, DefaultExperimentID); err != nil {
		return nil, err
	}
	limit, err := in.integer("max_results", 1000)
	if err != nil {
		return nil, err
	}
	token, err := in.str("page_token")
	if err != nil {
		return nil, err
	}
	exps, next, err := listKept(ctx, h.track.st, tracking.KindExperiment, "", token, int(min(max(limit, 1), 1000)),
		func(e experimentRec) bool { return shows(view, e.LifecycleStage) })
	if err != nil {
		return nil, err
	}
	out := make([]wireExperiment, 0, len(exps))
	for _, e := range exps {
		out = append(out, h.toExperiment(e))
	}
	return map[string]any{"experiments": out, "next_page_token": next}, nil
}

func parseNameEquals(f string) (string, bool) {
	rest, ok := strings.CutPrefix(f, "name")
	if !ok {
		rest, ok = strings.CutPrefix(f, "attributes.name")
	}
	if !ok {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	rest, ok = strings.CutPrefix(rest, "=")
	rest = strings.TrimSpace(rest)
	if !ok || len(rest) < 2 || (rest[0] != '\'' && rest[0] != '"') || rest[len(rest)-1] != rest[0] {
		return "", false
	}
	return rest[1 : len(rest)-1], true
}

func (h *handler) setExperimentTag(ctx context.Context, in *input) (any, error) {
	id, key, err := in.required2("experiment_id", "key")
	if err != nil {
		return nil, err
	}
	value, err := in.str("value")
	if err != nil {
		return nil, err
	}
	if err := checkKV("tag", key, value, 8000); err != nil {
		return nil, err
	}
	for range 20 {
		e, err := h.track.experiment(ctx, id)
		if err != nil {
			return nil, err
		}
		if err := checkActiveExperiment(e); err != nil {
			return nil, err
		}
		e.Tags = maps.Clone(e.Tags)
		if e.Tags == nil {
			e.Tags = map[string]string{}
		}
		e.Tags[key] = value
		e.UpdatedMS = time.Now().UnixMilli()
		if err := h.track.putExperiment(ctx, e); err == nil || !registry.IsCode(err, registry.Conflict) {
			return empty{}, err
		}
	}
	return nil, registry.Errorf(registry.Unavailable, "experiment %s is being changed concurrently; retry", id)
}

func (h *handler) createRun(ctx context.Context, in *input) (any, error) {
	expID, err := in.str("experiment_id")
	if err != nil {
		return nil, err
	}
	if expID == "" {
		expID = DefaultExperimentID
	}
	e, err := h.track.experiment(ctx, expID)
	if err != nil {
		return nil, err
	}
	if err := checkActiveExperiment(e); err != nil {
		return nil, err
	}
	start, err := in.integer("start_time", time.Now().UnixMilli())
	if err != nil {
		return nil, err
	}
	name, err1 := in.str("run_name")
	user, err2 := in.str("user_id")
	tags, err3 := in.tags("tags")
	if err := firstErr(err1, err2, err3); err != nil {
		return nil, err
	}
	for k, v := range tags {
		if err := checkKV("tag", k, v, 8000); err != nil {
			return nil, err
		}
	}
	if name == "" {
		name = tags["mlflow.runName"]
	}
	id := strings.ToLower(registry.RandomToken(16))
	id = strings.Map(func(r rune) rune {
		if (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') {
			return r
		}
		return 'x'
	}, id)
	if name == "" {
		name = "run-" + id[:8]
	}
	if tags == nil {
		tags = map[string]string{}
	}
	tags["mlflow.runName"] = name
	if user == "" {
		user = who(ctx)
	}
	r := runRec{ID: id, ExperimentID: expID, Name: name, UserID: user, Status: "RUNNING", StartMS: start, LifecycleStage: stageActive, Tags: tags}
	x, err := rec(tracking.KindRun, r.ID, r.ExperimentID, sortDesc(r.StartMS), 1, r)
	if err != nil {
		return nil, err
	}
	if err := h.track.st.Write(ctx, x); err != nil {
		return nil, err
	}
	// The experiment may have been deleted since it was read, after its
	// deletion swept its runs: this run then goes with them.
	if e, err := h.track.experiment(ctx, expID); err != nil || e.LifecycleStage != stageActive {
		if err == nil {
			err = checkActiveExperiment(e)
			if derr := h.track.setRunStage(ctx, id, stageDeleted); derr != nil {
				err = derr
			}
		}
		return nil, err
	}
	return map[string]any{"run": h.toRun(r)}, nil
}

func (h *handler) getRun(ctx context.Context, in *input) (any, error) {
	id, err := in.runID()
	if err != nil {
		return nil, err
	}
	r, err := h.track.run(ctx, id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"run": h.toRun(r)}, nil
}

var runStatuses = []string{"RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"}

func (h *handler) updateRun(ctx context.Context, in *input) (any, error) {
	id, err := in.runID()
	if err != nil {
		return nil, err
	}
	status, err1 := in.str("status")
	name, err2 := in.str("run_name")
	end, err3 := in.integer("end_time", 0)
	if err := firstErr(err1, err2, err3); err != nil {
		return nil, err
	}
	if status != "" && !contains(runStatuses, status) {
		return nil, invalid("run status %q: use one of %s", status, strings.Join(runStatuses, ", "))
	}
	r, err := h.track.editActiveRun(ctx, id, func(r *runRec) error {
		if status != "" {
			r.Status = status
		}
		if end != 0 {
			r.EndMS = end
		}
		if name != "" {
			r.Name = name
			r.Tags = maps.Clone(r.Tags)
			r.Tags["mlflow.runName"] = name
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"run_info": h.toRun(r).Info}, nil
}

type batchMetric struct {
	Key       string          `json:"key"`
	Value     json.RawMessage `json:"value"`
	Timestamp json.RawMessage `json:"timestamp"`
	Step      json.RawMessage `json:"step"`
	// MLflow 3 clients may name the model and dataset a metric is about.
	ModelID       string `json:"model_id"`
	DatasetName   string `json:"dataset_name"`
	DatasetDigest string `json:"dataset_digest"`
	RunID         string `json:"run_id"`
}

func jsonInt(raw json.RawMessage, def int64) (int64, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return def, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return 0, invalid("%s is not an integer", raw)
		}
		n = json.Number(s)
	}
	v, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil {
		return 0, invalid("%s is not an integer", raw)
	}
	return v, nil
}

// applyBatch records params, metrics and tags on a run: a param, once
// logged, keeps its value (another is INVALID_PARAMETER_VALUE, as in
// MLflow); a metric keeps its latest value by (step, timestamp).
func applyBatch(r *runRec, params, tags map[string]string, metrics []batchMetric) error {
	r.Params, r.Tags, r.Metrics = maps.Clone(r.Params), maps.Clone(r.Tags), maps.Clone(r.Metrics)
	if r.Params == nil {
		r.Params = map[string]string{}
	}
	if r.Tags == nil {
		r.Tags = map[string]string{}
	}
	if r.Metrics == nil {
		r.Metrics = map[string]metricRec{}
	}
	for k, v := range params {
		if old, ok := r.Params[k]; ok && old != v {
			return invalid("Changing param values is not allowed. Param with key='%s' was already logged with value='%s' for run ID='%s'. Attempted logging new value '%s'.", k, old, r.ID, v)
		}
		r.Params[k] = v
	}
	maps.Copy(r.Tags, tags)
	for _, m := range metrics {
		v, err := parseFloat(m.Value)
		if err != nil {
			return err
		}
		ts, err := jsonInt(m.Timestamp, time.Now().UnixMilli())
		if err != nil {
			return err
		}
		step, err := jsonInt(m.Step, 0)
		if err != nil {
			return err
		}
		if err := checkKV("metric", m.Key, "", 0); err != nil {
			return err
		}
		old, ok := r.Metrics[m.Key]
		if !ok || step > old.Step || (step == old.Step && ts >= old.Timestamp) {
			r.Metrics[m.Key] = metricRec{Value: v, Timestamp: ts, Step: step}
		}
	}
	return nil
}

func (h *handler) logParam(ctx context.Context, in *input) (any, error) {
	id, err := in.runID()
	if err != nil {
		return nil, err
	}
	key, err := in.required("key")
	if err != nil {
		return nil, err
	}
	value, err := in.str("value")
	if err != nil {
		return nil, err
	}
	if err := checkKV("param", key, value, 6000); err != nil {
		return nil, err
	}
	_, err = h.track.editActiveRun(ctx, id, func(r *runRec) error { return applyBatch(r, map[string]string{key: value}, nil, nil) })
	return empty{}, err
}

func (h *handler) logMetric(ctx context.Context, in *input) (any, error) {
	id, err := in.runID()
	if err != nil {
		return nil, err
	}
	key, err := in.required("key")
	if err != nil {
		return nil, err
	}
	m := batchMetric{Key: key, Value: in.body["value"], Timestamp: in.body["timestamp"], Step: in.body["step"]}
	if m.Value == nil {
		return nil, invalid("missing value for required parameter 'value'")
	}
	_, err = h.track.editActiveRun(ctx, id, func(r *runRec) error { return applyBatch(r, nil, nil, []batchMetric{m}) })
	return empty{}, err
}

func (h *handler) logBatch(ctx context.Context, in *input) (any, error) {
	id, err := in.runID()
	if err != nil {
		return nil, err
	}
	var metrics []batchMetric
	var params, tags []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	if err := firstErr(in.raw("metrics", &metrics), in.raw("params", &params), in.raw("tags", &tags)); err != nil {
		return nil, err
	}
	if len(metrics) > 1000 || len(params) > 100 || len(tags) > 100 {
		return nil, invalid("a batch takes at most 1000 metrics, 100 params and 100 tags")
	}
	pm, tm := map[string]string{}, map[string]string{}
	for _, p := range params {
		if err := checkKV("param", p.Key, p.Value, 6000); err != nil {
			return nil, err
		}
		if old, ok := pm[p.Key]; ok && old != p.Value {
			return nil, invalid("param %q is given twice with different values", p.Key)
		}
		pm[p.Key] = p.Value
	}
	for _, t := range tags {
		if err := checkKV("tag", t.Key, t.Value, 8000); err != nil {
			return nil, err
		}
		tm[t.Key] = t.Value
	}
	_, err = h.track.editActiveRun(ctx, id, func(r *runRec) error { return applyBatch(r, pm, tm, metrics) })
	return empty{}, err
}

func (h *handler) setRunTag(ctx context.Context, in *input) (any, error) {
	id, err := in.runID()
	if err != nil {
		return nil, err
	}
	key, err := in.required("key")
	if err != nil {
		return nil, err
	}
	value, err := in.str("value")
	if err != nil {
		return nil, err
	}
	if err := checkKV("tag", key, value, 8000); err != nil {
		return nil, err
	}
	_, err = h.track.editActiveRun(ctx, id, func(r *runRec) error {
		if key == "mlflow.runName" {
			r.Name = value
		}
		return applyBatch(r, nil, map[string]string{key: value}, nil)
	})
	return empty{}, err
}

func (h *handler) deleteRunTag(ctx context.Context, in *input) (any, error) {
	id, err := in.runID()
	if err != nil {
		return nil, err
	}
	key, err := in.required("key")
	if err != nil {
		return nil, err
	}
	_, err = h.track.editActiveRun(ctx, id, func(r *runRec) error {
		if _, ok := r.Tags[key]; !ok {
			return notFound("No tag with name: %s in run with id %s", key, id)
		}
		r.Tags = maps.Clone(r.Tags)
		delete(r.Tags, key)
		return nil
	})
	return empty{}, err
}

func (h *handler) logOutputs(ctx context.Context, in *input) (any, error) {
	id, err := in.runID()
	if err != nil {
		return nil, err
	}
	var models []struct {
		ModelID string          `json:"model_id"`
		Step    json.RawMessage `json:"step"`
	}
	if err := in.raw("models", &models); err != nil {
		return nil, err
	}
	_, err = h.track.editActiveRun(ctx, id, func(r *runRec) error {
		for _, m := range models {
			step, err := jsonInt(m.Step, 0)
			if err != nil {
				return err
			}
			if m.ModelID == "" {
				return invalid("a model output has no model_id")
			}
			r.Outputs = append(r.Outputs, modelOutput{m.ModelID, step})
		}
		if len(r.Outputs) > 1000 {
			return invalid("a run has at most 1000 model outputs")
		}
		return nil
	})
	return empty{}, err
}

// logInputs accepts dataset and model inputs and keeps nothing of them
// (modelreg records a version's data lineage from its own fields).
func (h *handler) logInputs(ctx context.Context, in *input) (any, error) {
	id, err := in.runID()
	if err != nil {
		return nil, err
	}
	if _, err := h.track.run(ctx, id); err != nil {
		return nil, err
	}
	var ds []json.RawMessage
	if err := firstErr(in.raw("datasets", &ds), in.raw("models", &ds)); err != nil {
		return nil, err
	}
	return empty{}, nil
}

// searchRuns lists an experiment's runs, newest first, those
// run_view_type asks for (ACTIVE_ONLY by default); only the empty filter
// is supported.
func (h *handler) searchRuns(ctx context.Context, in *input) (any, error) {
	var ids []string
	if err := in.raw("experiment_ids", &ids); err != nil {
		return nil, err
	}
	filter, err := in.str("filter")
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(filter) != "" {
		return nil, invalid("run search filters are not supported by modelreg (got %q); search without a filter", filter)
	}
	if len(ids) != 1 {
		return nil, invalid("run search takes exactly one experiment id here, got %d", len(ids))
	}
	view, err := in.viewType("run_view_type")
	if err != nil {
		return nil, err
	}
	limit, err := in.integer("max_results", 1000)
	if err != nil {
		return nil, err
	}
	token, err := in.str("page_token")
	if err != nil {
		return nil, err
	}
	runs, next, err := listKept(ctx, h.track.st, tracking.KindRun, esc(ids[0]), token, int(min(max(limit, 1), 1000)),
		func(r runRec) bool { return shows(view, r.LifecycleStage) })
	if err != nil {
		return nil, err
	}
	out := make([]wireRun, 0, len(runs))
	for _, r := range runs {
		out = append(out, h.toRun(r))
	}
	return map[string]any{"runs": out, "next_page_token": next}, nil
}

var loggedModelStatuses = []string{"LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED"}

func (h *handler) createLoggedModel(ctx context.Context, in *input) (any, error) {
	expID, err := in.str("experiment_id")
	if err != nil {
		return nil, err
	}
	if expID == "" {
		expID = DefaultExperimentID
	}
	if _, err := h.track.experiment(ctx, expID); err != nil {
		return nil, err
	}
	name, err1 := in.str("name")
	typ, err2 := in.str("model_type")
	runID, err3 := in.str("source_run_id")
	tags, err4 := in.tags("tags")
	params, err5 := in.tags("params")
	if err := firstErr(err1, err2, err3, err4, err5); err != nil {
		return nil, err
	}
	if runID != "" {
		if _, err := h.track.run(ctx, runID); err != nil {
			return nil, err
		}
	}
	id := "m-" + strings.ToLower(strings.Map(func(r rune) rune {
		if (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') {
			return r
		}
		return 'x'
	}, registry.RandomToken(16)))
	if name == "" {
		name = "model-" + id[2:10]
	}
	now := time.Now().UnixMilli()
	m := loggedModelRec{ID: id, ExperimentID: expID, Name: name, ModelType: typ, SourceRunID: runID, Status: "LOGGED_MODEL_PENDING",
		CreatedMS: now, UpdatedMS: now, CreatorID: who(ctx), Params: params, Tags: tags}
	x, err := rec(tracking.KindLoggedModel, m.ID, m.ExperimentID, sortDesc(m.CreatedMS), 1, m)
	if err != nil {
		return nil, err
	}
	if err := h.track.st.Write(ctx, x); err != nil {
		return nil, err
	}
	return map[string]any{"model": h.toLoggedModel(m)}, nil
}

func (h *handler) getLoggedModel(ctx context.Context, in *input) (any, error) {
	id, err := in.required("model_id")
	if err != nil {
		return nil, err
	}
	m, err := h.track.loggedModel(ctx, id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"model": h.toLoggedModel(m)}, nil
}

func (h *handler) finalizeLoggedModel(ctx context.Context, in *input) (any, error) {
	id, err := in.required("model_id")
	if err != nil {
		return nil, err
	}
	status, err := in.required("status")
	if err != nil {
		return nil, err
	}
	if !contains(loggedModelStatuses, status) {
		return nil, invalid("logged model status %q: use %s", status, strings.Join(loggedModelStatuses, ", "))
	}
	m, err := h.track.editLoggedModel(ctx, id, func(m *loggedModelRec) error { m.Status = status; return nil })
	if err != nil {
		return nil, err
	}
	return map[string]any{"model": h.toLoggedModel(m)}, nil
}

func (h *handler) setLoggedModelTags(ctx context.Context, in *input) (any, error) {
	return h.mergeLoggedModelMap(ctx, in, "tags", "tag", 8000, func(m *loggedModelRec) *map[string]string { return &m.Tags })
}

// mergeLoggedModelMap reads the key-value list param of the request, checks
// each entry as kind (values up to limit long) and merges it into the map
// field picks of the logged model model_id.
func (h *handler) mergeLoggedModelMap(ctx context.Context, in *input, param, kind string, limit int, field func(*loggedModelRec) *map[string]string) (any, error) {
	id, err := in.required("model_id")
	if err != nil {
		return nil, err
	}
	kvs, err := in.tags(param)
	if err != nil {
		return nil, err
	}
	for k, v := range kvs {
		if err := checkKV(kind, k, v, limit); err != nil {
			return nil, err
		}
	}
	_, err = h.track.editLoggedModel(ctx, id, func(m *loggedModelRec) error {
		f := field(m)
		*f = maps.Clone(*f)
		if *f == nil {
			*f = map[string]string{}
		}
		maps.Copy(*f, kvs)
		return nil
	})
	return empty{}, err
}

func (h *handler) deleteLoggedModelTag(ctx context.Context, in *input) (any, error) {
	id, key, err := in.required2("model_id", "tag_key")
	if err != nil {
		return nil, err
	}
	_, err = h.track.editLoggedModel(ctx, id, func(m *loggedModelRec) error {
		if _, ok := m.Tags[key]; !ok {
			return notFound("No tag with key %q on logged model %s", key, id)
		}
		m.Tags = maps.Clone(m.Tags)
		delete(m.Tags, key)
		return nil
	})
	return empty{}, err
}

func (h *handler) logLoggedModelParams(ctx context.Context, in *input) (any, error) {
	return h.mergeLoggedModelMap(ctx, in, "params", "param", 6000, func(m *loggedModelRec) *map[string]string { return &m.Params })
}

// searchLoggedModels lists the logged models of one experiment, newest
// first, optionally those named name = '…' (what register_model sends).
func (h *handler) searchLoggedModels(ctx context.Context, in *input) (any, error) {
	var ids []string
	var datasets []json.RawMessage
	var orderBy []json.RawMessage
	if err := firstErr(in.raw("experiment_ids", &ids), in.raw("datasets", &datasets), in.raw("order_by", &orderBy)); err != nil {
		return nil, err
	}
	if len(ids) != 1 {
		return nil, invalid("logged model search takes exactly one experiment id here, got %d", len(ids))
	}
	filter, err := in.str("filter")
	if err != nil {
		return nil, err
	}
	name, byName := "", false
	if f := strings.TrimSpace(filter); f != "" {
		if name, byName = parseNameEquals(f); !byName {
			return nil, invalid("logged model search supports no filter or name = '...' only, got %q", filter)
		}
	}
	limit, err := in.integer("max_results", 100)
	if err != nil {
		return nil, err
	}
	token, err := in.str("page_token")
	if err != nil {
		return nil, err
	}
	models, next, err := listKept(ctx, h.track.st, tracking.KindLoggedModel, esc(ids[0]), token, int(min(max(limit, 1), 1000)),
		func(m loggedModelRec) bool { return !m.Deleted && (!byName || m.Name == name) })
	if err != nil {
		return nil, err
	}
	out := make([]wireLoggedModel, 0, len(models))
	for _, m := range models {
		out = append(out, h.toLoggedModel(m))
	}
	return map[string]any{"models": out, "next_page_token": next}, nil
}

// metricHistory answers a metric's history with its latest value only:
// modelreg keeps the latest value of each metric of a run (by step, then
// timestamp), not every point.
func (h *handler) metricHistory(ctx context.Context, in *input) (any, error) {
	id, err := in.runID()
	if err != nil {
		return nil, err
	}
	key, err := in.required("metric_key")
	if err != nil {
		return nil, err
	}
	r, err := h.track.run(ctx, id)
	if err != nil {
		return nil, err
	}
	out := []wireMetric{}
	if m, ok := r.Metrics[key]; ok {
		out = append(out, wireMetric{Key: key, Value: floatOut(m.Value), Timestamp: m.Timestamp, Step: m.Step})
	}
	return map[string]any{"metrics": out}, nil
}
