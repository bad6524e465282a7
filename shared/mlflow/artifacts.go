package mlflow

import (
	"encoding/json"
	"io"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/modelreg/modelreg/shared/registry"
)

// The mlflow-artifacts proxy (ArtifactsPrefix): what an MLflow client
// uses for mlflow-artifacts:/ URIs. Uploads stream into tracking.Blobs
// (never buffered) and are indexed with their size and SHA-256; downloads
// stream back; listings read the index. Paths start with an experiment id
// and a run ("<exp>/<run>/artifacts/…") or a logged model
// ("<exp>/models/<model id>/artifacts/…"), which must exist; writes to a
// finished run or a READY logged model are still accepted, as MLflow does
// (log_artifact after end_run).

// artifactPath checks a proxy path and that its run or logged model
// exists.
func (h *handler) artifactPath(r *http.Request, p string) (string, error) {
	p = strings.Trim(p, "/")
	if err := registry.ValidatePath(p); err != nil {
		return "", invalid("invalid artifact path %q: %s", p, registry.ErrorMessage(err))
	}
	parts := strings.Split(p, "/")
	switch {
	case len(parts) >= 3 && parts[1] == "models" && parts[3-1] != "":
		if len(parts) < 4 || parts[3] != "artifacts" {
			return "", invalid("artifact path %q: logged model artifacts are under <experiment>/models/<model id>/artifacts/", p)
		}
		m, err := h.track.loggedModel(r.Context(), parts[2])
		if err != nil {
			return "", err
		}
		if m.ExperimentID != parts[0] {
			return "", notFound("logged model %s is not in experiment %s", parts[2], parts[0])
		}
	case len(parts) >= 3 && parts[2] == "artifacts":
		run, err := h.track.run(r.Context(), parts[1])
		if err != nil {
			return "", err
		}
		if run.ExperimentID != parts[0] {
			return "", notFound("run %s is not in experiment %s", parts[1], parts[0])
		}
	default:
		return "", invalid("artifact path %q: run artifacts are under <experiment>/<run id>/artifacts/, logged models under <experiment>/models/<model id>/artifacts/", p)
	}
	return p, nil
}

func (h *handler) proxyAuth(w http.ResponseWriter, r *http.Request, perm registry.Permission) bool {
	p, err := h.authorize(r, perm)
	if err != nil {
		h.fail(w, r, err)
		return false
	}
	*r = *r.WithContext(registry.WithPrincipal(r.Context(), p))
	return true
}

// uploadArtifactHTTP is PUT …/artifacts/<path>: the body streams into the
// run files, then the index records it.
func (h *handler) uploadArtifactHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.proxyAuth(w, r, registry.PermPublish) {
		return
	}
	p, err := h.artifactPath(r, r.PathValue("path"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if len(p) > 900 {
		h.fail(w, r, invalid("artifact path is over 900 bytes"))
		return
	}
	if a, err := h.track.artifact(r.Context(), p); err == nil && a.IsDir {
		h.fail(w, r, invalid("%s is a directory of artifacts", p))
		return
	}
	if r.ContentLength > registry.MaxFileSize {
		h.fail(w, r, invalid("artifact of %d bytes is over %d", r.ContentLength, registry.MaxFileSize))
		return
	}
	body := http.MaxBytesReader(w, r.Body, registry.MaxFileSize)
	b, err := h.files.PutBlob(r.Context(), "runs/"+p, body, r.ContentLength)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.track.putArtifact(r.Context(), p, b.Size, b.SHA256); err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, "{}\n")
}

// downloadArtifactHTTP is GET …/artifacts/<path>: the file streamed back.
func (h *handler) downloadArtifactHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.proxyAuth(w, r, registry.PermRead) {
		return
	}
	p, err := h.artifactPath(r, r.PathValue("path"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	a, err := h.track.artifact(r.Context(), p)
	if err == nil && a.IsDir {
		err = notFound("%s is a directory", p)
	}
	unindexed := registry.IsCode(err, registry.NotFound) && h.objects != nil
	if err != nil && !unindexed {
		h.fail(w, r, err)
		return
	}
	// With Options.RunObjects a client may have written the file straight
	// to S3: not in the index, so streamed without a recorded size or hash.
	rc, err := h.files.OpenBlob(r.Context(), "runs/"+p, 0)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	if !unindexed {
		w.Header().Set("Content-Length", strconv.FormatInt(a.Size, 10))
		w.Header().Set("X-Modelreg-SHA256", a.SHA256)
	}
	_, _ = io.Copy(w, rc)
}

type wireFileInfo struct {
	Path     string `json:"path"`
	IsDir    bool   `json:"is_dir"`
	FileSize int64  `json:"file_size,omitempty"`
}

// listArtifactsHTTP is GET …/artifacts?path=<dir>: the entries of one
// directory by base name (MLflow's shape).
func (h *handler) listArtifactsHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.proxyAuth(w, r, registry.PermRead) {
		return
	}
	for k := range r.URL.Query() {
		if k != "path" {
			h.fail(w, r, invalid("unknown parameter %q: this endpoint takes path", k))
			return
		}
	}
	files := []wireFileInfo{}
	p := strings.Trim(r.URL.Query().Get("path"), "/")
	if p != "" {
		var err error
		if p, err = h.artifactPath(r, p); err != nil {
			if !registry.IsCode(err, registry.Invalid) {
				h.fail(w, r, err)
				return
			}
			p = "" // an experiment or run directory itself: nothing listed
		}
	}
	if p != "" {
		// A file lists as nothing, as MLflow's server answers (clients
		// then download the path itself).
		if a, err := h.track.artifact(r.Context(), p); err != nil || a.IsDir {
			entries, err := h.track.listArtifacts(r.Context(), p)
			if err != nil {
				h.fail(w, r, err)
				return
			}
			for _, e := range entries {
				files = append(files, wireFileInfo{Path: path.Base(e.Path), IsDir: e.IsDir, FileSize: e.Size})
			}
			if h.objects != nil {
				if files, err = h.listObjects(r, p, files); err != nil {
					h.fail(w, r, err)
					return
				}
			}
		}
	}
	body, _ := json.Marshal(map[string]any{"files": files})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(body, '\n'))
}

// maxProxyListing bounds the objects one proxy listing reads from S3.
const maxProxyListing = 10000

// listObjects adds to files (the index's entries of directory p) the
// entries of p that clients wrote straight to S3 (Options.RunObjects):
// files directly in p, and the first path segment of deeper ones as
// directories, by name.
func (h *handler) listObjects(r *http.Request, p string, files []wireFileInfo) ([]wireFileInfo, error) {
	objs, err := h.objects.ListObjects(r.Context(), "runs/"+p, maxProxyListing)
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(files))
	for _, f := range files {
		seen[f.Path] = true
	}
	for _, o := range objs {
		rest := strings.TrimPrefix(o.Key, "runs/"+p+"/")
		name, _, deeper := strings.Cut(rest, "/")
		if seen[name] {
			continue
		}
		seen[name] = true
		if deeper {
			files = append(files, wireFileInfo{Path: name, IsDir: true})
		} else {
			files = append(files, wireFileInfo{Path: name, FileSize: o.Size})
		}
	}
	slices.SortFunc(files, func(a, b wireFileInfo) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}
