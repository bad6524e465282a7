package mlflow

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/tracking"
)

// sourceTag keeps the MLflow source a version was registered from (runs:/…,
// models:/m-…, mlflow-artifacts:/…) when its files were copied from run
// artifacts; it is answered as source, not as a tag.
const sourceTag = "mlflow.source"

// filesTag keeps, on such a version, the artifact directory its files came
// from, so that get-download-uri points at the same bytes through the
// proxy.
const filesTag = "mlflow.artifact_dir"

// runSource is what a tracking source resolves to: the artifact directory
// holding the model's files, the run (if any) and the logged model (if
// any).
type runSource struct {
	dir   string
	run   *runRec
	model *loggedModelRec
}

// resolveSource resolves runs:/RUN/PATH, models:/m-ID and
// mlflow-artifacts:/… sources (with Options.RunObjects also s3:// URIs of
// the run artifact keys) against the tracking records; ok is false for
// any other source (recorded as an external URI, as before). A source
// naming artifacts outside the location of its run or logged model, or
// (with RunObjects) another bucket's objects for a run, is Invalid.
func (h *handler) resolveSource(ctx context.Context, source, runID, modelID string) (src runSource, ok bool, err error) {
	if h.track.st == nil {
		return src, false, nil
	}
	switch {
	case strings.HasPrefix(source, "runs:/"):
		rest := strings.TrimPrefix(source, "runs:/")
		id, p, _ := strings.Cut(rest, "/")
		r, err := h.track.run(ctx, id)
		if err != nil {
			return src, true, err
		}
		src.run, src.dir = &r, strings.TrimSuffix(runArtifactRoot(r.ExperimentID, r.ID)+"/"+strings.Trim(p, "/"), "/")
		if err := registry.ValidatePath(src.dir); err != nil {
			return src, true, invalid("source %q: %s", source, registry.ErrorMessage(err))
		}
	case strings.HasPrefix(source, "models:/m-"):
		id := strings.TrimSuffix(strings.TrimPrefix(source, "models:/"), "/")
		m, err := h.track.loggedModel(ctx, id)
		if err != nil {
			return src, true, err
		}
		src.model, src.dir = &m, modelArtifactRoot(m.ExperimentID, m.ID)
	case strings.HasPrefix(source, artifactScheme):
		if src, err = h.artifactDirSource(ctx, source, strings.Trim(strings.TrimPrefix(source, artifactScheme), "/")); err != nil {
			return src, true, err
		}
	case h.objects != nil && strings.HasPrefix(source, "s3://"):
		key, inRuns := h.objects.BlobKey(source)
		if !inRuns {
			bucket, _, _ := strings.Cut(strings.TrimPrefix(h.objects.BlobURI(""), "s3://"), "/")
			if runID != "" || modelID != "" || strings.HasPrefix(source, "s3://"+bucket+"/") {
				return src, true, invalid("source %q is outside this registry's run artifacts (%s…): a version registered from a run is made of that run's own artifacts", source, h.objects.BlobURI("runs/"))
			}
			return src, false, nil // an external URI, recorded as it is
		}
		if src, err = h.artifactDirSource(ctx, source, strings.TrimPrefix(key, "runs/")); err != nil {
			return src, true, err
		}
	default:
		return src, false, nil
	}
	if modelID != "" && src.model == nil {
		m, err := h.track.loggedModel(ctx, modelID)
		if err != nil {
			return src, true, err
		}
		src.model = &m
	}
	if src.run == nil {
		id := runID
		if id == "" && src.model != nil {
			id = src.model.SourceRunID
		}
		if id != "" {
			r, err := h.track.run(ctx, id)
			if err != nil {
				return src, true, err
			}
			src.run = &r
		}
	}
	if runID != "" && src.run != nil && src.run.ID != runID {
		return src, true, invalid("run_id %s is not the run of source %s (%s)", runID, source, src.run.ID)
	}
	if modelID != "" && src.model != nil && src.model.ID != modelID {
		return src, true, invalid("model_id %s is not the logged model of source %s (%s)", modelID, source, src.model.ID)
	}
	return src, true, nil
}

// artifactDirSource resolves an artifact directory below the artifact root
// ("<experiment>/<run>/artifacts/…" or
// "<experiment>/models/<model id>/artifacts/…") to its run or logged
// model, which must be of that experiment.
func (h *handler) artifactDirSource(ctx context.Context, source, dir string) (runSource, error) {
	src := runSource{dir: dir}
	if err := registry.ValidatePath(dir); err != nil {
		return src, invalid("source %q: %s", source, registry.ErrorMessage(err))
	}
	parts := strings.Split(dir, "/")
	switch {
	case len(parts) >= 4 && parts[1] == "models" && parts[3] == "artifacts":
		m, err := h.track.loggedModel(ctx, parts[2])
		if err != nil {
			return src, err
		}
		if m.ExperimentID != parts[0] {
			return src, invalid("source %q is not the location of logged model %s (experiment %s)", source, m.ID, m.ExperimentID)
		}
		src.model = &m
	case len(parts) >= 3 && parts[2] == "artifacts":
		r, err := h.track.run(ctx, parts[1])
		if err != nil {
			return src, err
		}
		if r.ExperimentID != parts[0] {
			return src, invalid("source %q is not the location of run %s (experiment %s)", source, r.ID, r.ExperimentID)
		}
		src.run = &r
	default:
		return src, invalid("source %q names no run or logged model artifacts", source)
	}
	return src, nil
}

// newVersionFrom is the version a tracking source makes: the run's
// metrics (training) and params (and the logged model's), and lineage
// from the run's tags.
func newVersionFrom(src runSource, source, desc string, tags map[string]string) registry.NewVersion {
	nv := registry.NewVersion{Description: desc, Tags: map[string]string{}, Params: map[string]string{}, Metrics: map[string]registry.Metric{}}
	for k, v := range tags {
		nv.Tags[k] = v
	}
	nv.Tags[sourceTag] = source
	nv.Tags[filesTag] = src.dir
	add := func(metrics map[string]metricRec, params map[string]string) {
		for k, m := range metrics {
			if math.IsNaN(m.Value) || math.IsInf(m.Value, 0) {
				continue
			}
			nv.Metrics[k] = registry.Metric{Value: m.Value, Source: registry.SourceTraining, RecordedAt: time.UnixMilli(m.Timestamp).UTC().Truncate(time.Microsecond)}
		}
		for k, v := range params {
			nv.Params[k] = v
		}
	}
	if r := src.run; r != nil {
		add(r.Metrics, r.Params)
		nv.Lineage.Run.RunID = r.ID
		start := time.UnixMilli(r.StartMS).UTC()
		nv.Lineage.Run.StartedAt = &start
		if r.EndMS > 0 {
			end := time.UnixMilli(r.EndMS).UTC()
			nv.Lineage.Run.EndedAt = &end
		}
		nv.Lineage.Code.Commit = r.Tags["mlflow.source.git.commit"]
		nv.Lineage.Code.Repo = r.Tags["mlflow.source.git.repoURL"]
		nv.Lineage.Code.EntryPoint = r.Tags["mlflow.source.name"]
	}
	if m := src.model; m != nil {
		add(m.Metrics, m.Params)
	}
	return nv
}

// registerFromRun registers a version of name whose files are those under
// src.dir: the version is PENDING until every file was sent to the
// artifact store through an upload session (streamed from the run files,
// part by part) and verified against the SHA-256 recorded when it was
// logged; then READY. A failure leaves the version PENDING_REGISTRATION
// with its upload session open (it expires as any other).
func (h *handler) registerFromRun(ctx context.Context, name string, src runSource, nv registry.NewVersion) (registry.Version, error) {
	if h.objects != nil {
		return h.registerFromObjects(ctx, name, src, nv)
	}
	files, err := h.track.walkFiles(ctx, src.dir, registry.MaxArtifacts)
	if err != nil {
		return registry.Version{}, err
	}
	if len(files) == 0 {
		return registry.Version{}, invalid("no artifacts under %s%s: log the model first", artifactScheme, src.dir)
	}
	specs := make([]registry.FileSpec, 0, len(files))
	for _, f := range files {
		specs = append(specs, registry.FileSpec{Path: strings.TrimPrefix(f.Path, src.dir+"/"), Size: f.Size, SHA256: f.SHA256})
	}
	v, err := h.svc.RegisterVersion(ctx, name, nv)
	if err != nil {
		return registry.Version{}, err
	}
	ticket, err := h.svc.CreateUpload(ctx, name, v.Number, specs)
	if err != nil {
		return v, err
	}
	for i, ft := range ticket.Files {
		if err := h.sendFile(ctx, "runs/"+files[i].Path, ft); err != nil {
			return v, fmt.Errorf("copy %s into version %d of %s: %w", files[i].Path, v.Number, name, err)
		}
	}
	return h.svc.CompleteUpload(ctx, name, v.Number, ticket.UploadID)
}

// registerFromObjects registers a version of name whose files are the
// objects a client wrote under src.dir (Options.RunObjects): listed
// (ListObjectsV2, every page), each read back once for its SHA-256 (the
// objects were not hashed on the way in: the registration is where their
// hash is established), then copied server-side, pinned to the ETag that
// was hashed, into the version's upload session, which CompleteUpload
// verifies as any upload (in the background, VERIFYING, above the
// service's VerifyAsyncBytes). A failure leaves the version
// PENDING_REGISTRATION with its upload session open, as registerFromRun.
func (h *handler) registerFromObjects(ctx context.Context, name string, src runSource, nv registry.NewVersion) (registry.Version, error) {
	dir := "runs/" + src.dir
	objs, err := h.objects.ListObjects(ctx, dir, registry.MaxArtifacts)
	if err != nil {
		return registry.Version{}, err
	}
	if len(objs) == 0 {
		return registry.Version{}, invalid("no artifacts under %s: log the model first", h.objects.BlobURI(dir))
	}
	specs := make([]registry.FileSpec, 0, len(objs))
	byPath := make(map[string]tracking.Object, len(objs))
	for _, o := range objs {
		if o.Size > registry.MaxFileSize {
			return registry.Version{}, invalid("run artifact %s has %d bytes, over %d", o.Key, o.Size, registry.MaxFileSize)
		}
		sum, err := h.objects.HashObject(ctx, o)
		if err != nil {
			return registry.Version{}, err
		}
		p := strings.TrimPrefix(o.Key, dir+"/")
		specs = append(specs, registry.FileSpec{Path: p, Size: o.Size, SHA256: sum})
		byPath[p] = o
	}
	v, err := h.svc.RegisterVersion(ctx, name, nv)
	if err != nil {
		return registry.Version{}, err
	}
	ticket, err := h.svc.CreateUpload(ctx, name, v.Number, specs)
	if err != nil {
		return v, err
	}
	sess, err := h.svc.GetUpload(ctx, name, v.Number, ticket.UploadID)
	if err != nil {
		return v, err
	}
	for _, f := range sess.Files {
		if err := h.objects.CopyObject(ctx, byPath[f.Path], sess, f); err != nil {
			return v, fmt.Errorf("copy %s into version %d of %s: %w", f.Path, v.Number, name, err)
		}
	}
	return h.svc.CompleteUpload(ctx, name, v.Number, ticket.UploadID)
}

// sendFile streams blob key to the part URLs of ft, one part at a time.
func (h *handler) sendFile(ctx context.Context, key string, ft registry.FileTicket) error {
	for _, p := range ft.Parts {
		rc, err := h.files.OpenBlob(ctx, key, p.Offset)
		if err != nil {
			return err
		}
		err = h.sendPart(ctx, io.LimitReader(rc, p.Size), p)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func (h *handler) sendPart(ctx context.Context, body io.Reader, p registry.PartRequest) error {
	req, err := http.NewRequestWithContext(ctx, p.Method, p.URL, body)
	if err != nil {
		return err
	}
	req.ContentLength = p.Size
	if p.Size == 0 {
		req.Body = http.NoBody
	}
	for k, v := range p.Headers {
		if strings.EqualFold(k, "Content-Length") {
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return registry.Wrap(registry.Unavailable, err, "the artifact store did not take part %d", p.Number)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("part %d: artifact store answered %d: %s", p.Number, resp.StatusCode, strconv.Quote(string(msg)))
	}
	return nil
}
