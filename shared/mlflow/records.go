package mlflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/tracking"
)

// The tracking records this package keeps in a tracking.Store (JSON
// bodies). Ids in the store are query-escaped, so names and paths may hold
// any character but NUL.

// DefaultExperimentID is MLflow's default experiment, created on first use.
const DefaultExperimentID = "0"

type experimentRec struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	ArtifactLocation string            `json:"artifact_location"`
	LifecycleStage   string            `json:"lifecycle_stage"`
	CreatedMS        int64             `json:"created_ms"`
	UpdatedMS        int64             `json:"updated_ms"`
	Tags             map[string]string `json:"tags,omitempty"`
	rev              int64
}

type metricRec struct {
	Value     float64
	Timestamp int64
	Step      int64
}

// metricJSON stores a value as a number, or NaN and ±Infinity as MLflow's
// strings (JSON has no such numbers).
type metricJSON struct {
	Value     json.RawMessage `json:"value"`
	Timestamp int64           `json:"timestamp"`
	Step      int64           `json:"step"`
}

// MarshalJSON encodes m with non-finite values as strings.
func (m metricRec) MarshalJSON() ([]byte, error) {
	v, err := json.Marshal(floatOut(m.Value))
	if err != nil {
		return nil, err
	}
	return json.Marshal(metricJSON{v, m.Timestamp, m.Step})
}

// UnmarshalJSON decodes what MarshalJSON wrote.
func (m *metricRec) UnmarshalJSON(b []byte) error {
	var j metricJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	v, err := parseFloat(j.Value)
	if err != nil {
		return err
	}
	*m = metricRec{v, j.Timestamp, j.Step}
	return nil
}

type modelOutput struct {
	ModelID string `json:"model_id"`
	Step    int64  `json:"step"`
}

type runRec struct {
	ID             string               `json:"id"`
	ExperimentID   string               `json:"experiment_id"`
	Name           string               `json:"name"`
	UserID         string               `json:"user_id"`
	Status         string               `json:"status"`
	StartMS        int64                `json:"start_ms"`
	EndMS          int64                `json:"end_ms,omitempty"`
	LifecycleStage string               `json:"lifecycle_stage"`
	Params         map[string]string    `json:"params,omitempty"`
	Metrics        map[string]metricRec `json:"metrics,omitempty"`
	Tags           map[string]string    `json:"tags,omitempty"`
	Outputs        []modelOutput        `json:"outputs,omitempty"`
	rev            int64
}

type loggedModelRec struct {
	ID           string               `json:"id"`
	ExperimentID string               `json:"experiment_id"`
	Name         string               `json:"name"`
	ModelType    string               `json:"model_type,omitempty"`
	SourceRunID  string               `json:"source_run_id,omitempty"`
	Status       string               `json:"status"`
	CreatedMS    int64                `json:"created_ms"`
	UpdatedMS    int64                `json:"updated_ms"`
	CreatorID    string               `json:"creator_id,omitempty"`
	Params       map[string]string    `json:"params,omitempty"`
	Tags         map[string]string    `json:"tags,omitempty"`
	Metrics      map[string]metricRec `json:"metrics,omitempty"`
	Deleted      bool                 `json:"deleted,omitempty"`
	rev          int64
}

// artifactRec is one entry of the run artifact index: a file (with its
// size and SHA-256) or a directory, by its full path below the artifact
// root ("<experiment>/<run>/artifacts/…").
type artifactRec struct {
	Path   string `json:"path"`
	IsDir  bool   `json:"is_dir,omitempty"`
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
}

func runArtifactRoot(expID, runID string) string { return expID + "/" + runID + "/artifacts" }
func modelArtifactRoot(expID, modelID string) string {
	return expID + "/models/" + modelID + "/artifacts"
}

const artifactScheme = "mlflow-artifacts:/"

// artifactURI is the URI clients read and write the artifacts below dir
// ("<experiment>/…") at: the mlflow-artifacts proxy, or with
// Options.RunObjects the s3:// location of the same keys.
func (h *handler) artifactURI(dir string) string {
	if h.objects != nil {
		return h.objects.BlobURI("runs/" + dir)
	}
	return artifactScheme + dir
}

// trackDB is the typed layer over tracking.Store.
type trackDB struct{ st tracking.Store }

func esc(s string) string { return url.QueryEscape(s) }

func (d trackDB) get(ctx context.Context, kind, id string, v any) (int64, error) {
	r, err := d.st.Get(ctx, kind, esc(id))
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		return 0, fmt.Errorf("decode %s %s: %w", kind, id, err)
	}
	return r.Revision, nil
}

func rec(kind, id, parent, sort string, rev int64, v any) (tracking.Record, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return tracking.Record{}, err
	}
	if len(b) > tracking.MaxBodyBytes {
		return tracking.Record{}, invalid("the %s is too large (%d bytes of params, metrics and tags; at most %d)", strings.ReplaceAll(kind, "_", " "), len(b), tracking.MaxBodyBytes)
	}
	return tracking.Record{Kind: kind, ID: esc(id), Parent: esc(parent), Sort: sort, Revision: rev, Body: b}, nil
}

func notFound(format string, args ...any) error {
	return registry.Errorf(registry.NotFound, format, args...)
}

func (d trackDB) experiment(ctx context.Context, id string) (experimentRec, error) {
	var e experimentRec
	rev, err := d.get(ctx, tracking.KindExperiment, id, &e)
	if registry.IsCode(err, registry.NotFound) {
		if id == DefaultExperimentID {
			return d.createExperiment(ctx, "Default", nil, DefaultExperimentID)
		}
		return e, notFound("No Experiment with id=%s exists", id)
	}
	e.rev = rev
	return e, err
}

func (d trackDB) experimentByName(ctx context.Context, name string) (experimentRec, error) {
	var id string
	if _, err := d.get(ctx, tracking.KindExperimentName, name, &id); err != nil {
		if registry.IsCode(err, registry.NotFound) {
			if name == "Default" {
				return d.experiment(ctx, DefaultExperimentID)
			}
			return experimentRec{}, notFound("Could not find experiment with name '%s'", name)
		}
		return experimentRec{}, err
	}
	return d.experiment(ctx, id)
}

// nextNumber returns the next value of counter name (1, 2, …).
func (d trackDB) nextNumber(ctx context.Context, name string) (int64, error) {
	for range 50 {
		var n int64
		rev, err := d.get(ctx, tracking.KindCounter, name, &n)
		if err != nil && !registry.IsCode(err, registry.NotFound) {
			return 0, err
		}
		r, err := rec(tracking.KindCounter, name, "", "", rev+1, n+1)
		if err != nil {
			return 0, err
		}
		err = d.st.Write(ctx, r)
		if err == nil {
			return n + 1, nil
		}
		if !errors.Is(err, registry.ErrStale) {
			return 0, err
		}
	}
	return 0, registry.Errorf(registry.Unavailable, "too many concurrent experiment creations; retry")
}

// createExperiment creates an experiment (id "" allocates the next
// number). RESOURCE_ALREADY_EXISTS for a taken name.
func (d trackDB) createExperiment(ctx context.Context, name string, tags map[string]string, id string) (experimentRec, error) {
	if id == "" {
		if _, err := d.experimentByName(ctx, name); err == nil {
			return experimentRec{}, alreadyExists("Experiment '%s' already exists.", name)
		}
		n, err := d.nextNumber(ctx, "experiment")
		if err != nil {
			return experimentRec{}, err
		}
		id = strconv.FormatInt(n, 10)
	}
	now := time.Now().UnixMilli()
	e := experimentRec{ID: id, Name: name, ArtifactLocation: artifactScheme + id, LifecycleStage: "active", CreatedMS: now, UpdatedMS: now, Tags: tags, rev: 1}
	r1, err := rec(tracking.KindExperiment, id, "", fmt.Sprintf("%020d", len(id))+id, 1, e)
	if err != nil {
		return e, err
	}
	r2, err := rec(tracking.KindExperimentName, name, "", "", 1, id)
	if err != nil {
		return e, err
	}
	if err := d.st.Write(ctx, r1, r2); err != nil {
		if errors.Is(err, registry.ErrStale) {
			if id == DefaultExperimentID {
				return d.experiment(ctx, id) // created by a concurrent first use
			}
			return e, alreadyExists("Experiment '%s' already exists.", name)
		}
		return e, err
	}
	return e, nil
}

func (d trackDB) putExperiment(ctx context.Context, e experimentRec) error {
	r, err := rec(tracking.KindExperiment, e.ID, "", fmt.Sprintf("%020d", len(e.ID))+e.ID, e.rev+1, e)
	if err != nil {
		return err
	}
	return d.st.Write(ctx, r)
}

func (d trackDB) run(ctx context.Context, id string) (runRec, error) {
	var r runRec
	rev, err := d.get(ctx, tracking.KindRun, id, &r)
	if registry.IsCode(err, registry.NotFound) {
		return r, notFound("Run with id=%s not found", id)
	}
	r.rev = rev
	return r, err
}

// sortDesc orders newest first.
func sortDesc(ms int64) string { return fmt.Sprintf("%020d", max(0, 1<<62-ms)) }

func (d trackDB) putRun(ctx context.Context, r runRec) error {
	x, err := rec(tracking.KindRun, r.ID, r.ExperimentID, sortDesc(r.StartMS), r.rev+1, r)
	if err != nil {
		return err
	}
	return d.st.Write(ctx, x)
}

// editRun applies edit to run id and writes it, retrying on a concurrent
// change.
func (d trackDB) editRun(ctx context.Context, id string, edit func(r *runRec) error) (runRec, error) {
	for range 20 {
		r, err := d.run(ctx, id)
		if err != nil {
			return r, err
		}
		if err := edit(&r); err != nil {
			return r, err
		}
		err = d.putRun(ctx, r)
		if err == nil {
			r.rev++
			return r, nil
		}
		if !errors.Is(err, registry.ErrStale) {
			return r, err
		}
	}
	return runRec{}, registry.Errorf(registry.Unavailable, "run %s is being changed concurrently; retry", id)
}

func (d trackDB) loggedModel(ctx context.Context, id string) (loggedModelRec, error) {
	var m loggedModelRec
	rev, err := d.get(ctx, tracking.KindLoggedModel, id, &m)
	if registry.IsCode(err, registry.NotFound) || (err == nil && m.Deleted) {
		return m, notFound("Logged model with ID '%s' not found.", id)
	}
	m.rev = rev
	return m, err
}

func (d trackDB) putLoggedModel(ctx context.Context, m loggedModelRec) error {
	x, err := rec(tracking.KindLoggedModel, m.ID, m.ExperimentID, sortDesc(m.CreatedMS), m.rev+1, m)
	if err != nil {
		return err
	}
	return d.st.Write(ctx, x)
}

func (d trackDB) editLoggedModel(ctx context.Context, id string, edit func(m *loggedModelRec) error) (loggedModelRec, error) {
	for range 20 {
		m, err := d.loggedModel(ctx, id)
		if err != nil {
			return m, err
		}
		if err := edit(&m); err != nil {
			return m, err
		}
		m.UpdatedMS = time.Now().UnixMilli()
		err = d.putLoggedModel(ctx, m)
		if err == nil {
			m.rev++
			return m, nil
		}
		if !errors.Is(err, registry.ErrStale) {
			return m, err
		}
	}
	return loggedModelRec{}, registry.Errorf(registry.Unavailable, "logged model %s is being changed concurrently; retry", id)
}

// putArtifact records file p (its directories too) in the artifact index.
func (d trackDB) putArtifact(ctx context.Context, p string, size int64, sum string) error {
	recs := []tracking.Record{}
	r, err := rec(tracking.KindArtifact, p, path.Dir(p), path.Base(p), 0, artifactRec{Path: p, Size: size, SHA256: sum})
	if err != nil {
		return err
	}
	recs = append(recs, r)
	for dir := path.Dir(p); dir != "." && dir != "/"; dir = path.Dir(dir) {
		if _, err := d.st.Get(ctx, tracking.KindArtifact, esc(dir)); err == nil {
			break
		}
		r, err := rec(tracking.KindArtifact, dir, path.Dir(dir), path.Base(dir), 0, artifactRec{Path: dir, IsDir: true})
		if err != nil {
			return err
		}
		recs = append(recs, r)
	}
	for len(recs) > 0 {
		n := min(len(recs), tracking.MaxWrite)
		if err := d.st.Write(ctx, recs[:n]...); err != nil {
			return err
		}
		recs = recs[n:]
	}
	return nil
}

// listArtifacts returns the entries of directory dir, by name.
func (d trackDB) listArtifacts(ctx context.Context, dir string) ([]artifactRec, error) {
	var out []artifactRec
	cursor := ""
	for {
		p, err := d.st.List(ctx, tracking.KindArtifact, esc(dir), cursor, 1000)
		if err != nil {
			return nil, err
		}
		for _, r := range p.Items {
			var a artifactRec
			if err := json.Unmarshal(r.Body, &a); err != nil {
				return nil, err
			}
			out = append(out, a)
		}
		if p.Next == "" {
			return out, nil
		}
		cursor = p.Next
	}
}

// walkFiles returns every file under dir, depth first, by path.
func (d trackDB) walkFiles(ctx context.Context, dir string, limit int) ([]artifactRec, error) {
	entries, err := d.listArtifacts(ctx, dir)
	if err != nil {
		return nil, err
	}
	var out []artifactRec
	for _, e := range entries {
		if e.IsDir {
			sub, err := d.walkFiles(ctx, e.Path, limit-len(out))
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		} else {
			out = append(out, e)
		}
		if len(out) > limit {
			return nil, invalid("more than %d files under %s", limit, dir)
		}
	}
	return out, nil
}

func (d trackDB) artifact(ctx context.Context, p string) (artifactRec, error) {
	var a artifactRec
	_, err := d.get(ctx, tracking.KindArtifact, p, &a)
	return a, err
}
