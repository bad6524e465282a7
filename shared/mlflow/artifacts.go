package mlflow

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/tracking"
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

// writablePath checks the path of a file to upload: artifactPath, at most
// 900 bytes, and not a directory of artifacts.
func (h *handler) writablePath(r *http.Request, p string) (string, error) {
	p, err := h.artifactPath(r, p)
	if err != nil {
		return "", err
	}
	if len(p) > 900 {
		return "", invalid("artifact path is over 900 bytes")
	}
	if a, err := h.track.artifact(r.Context(), p); err == nil && a.IsDir {
		return "", invalid("%s is a directory of artifacts", p)
	}
	return p, nil
}

// uploadArtifactHTTP is PUT …/artifacts/<path>: the body streams into the
// run files, then the index records it.
func (h *handler) uploadArtifactHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.proxyAuth(w, r, registry.PermPublish) {
		return
	}
	p, err := h.writablePath(r, r.PathValue("path"))
	if err != nil {
		h.fail(w, r, err)
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
	writeJSON(w, empty{})
}

func writeJSON(w http.ResponseWriter, v any) {
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(body, '\n'))
}

// PartURLTTL is how long the part URLs of a multipart upload live (the
// registry's upload URLs' default).
const PartURLTTL = time.Hour

type wireCredential struct {
	URL        string            `json:"url"`
	PartNumber int               `json:"part_number"`
	Headers    map[string]string `json:"headers,omitempty"`
}

// multipartHTTP is MLflow's proxied multipart upload (the client sends
// files of MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE or more this way when
// MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD is true): POST
// …/mpu/{create,complete,abort}/<directory> with the client's local file
// name in "path", whose base name is the file's name in the directory (as
// MLflow's S3 artifact repository names it). create answers the upload id
// and one presigned request per part, which the client sends straight to
// storage (the /blobs/run-part routes locally, S3 itself on S3); complete
// joins the parts and records the file with its size and SHA-256; abort
// discards them.
func (h *handler) multipartHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.proxyAuth(w, r, registry.PermPublish) {
		return
	}
	op := strings.Split(strings.TrimPrefix(r.URL.Path, ArtifactsPrefix+"mpu/"), "/")[0]
	fields := map[string][]string{"create": {"path", "num_parts"}, "complete": {"path", "upload_id", "parts"}, "abort": {"path", "upload_id"}}[op]
	out, err := func() (any, error) {
		// complete lists every part with its URL: 10,000 parts of
		// presigned S3 URLs are about 7 MB.
		in, err := readInput(r, fields, max(h.maxBody, 16<<20))
		if err != nil {
			return nil, err
		}
		local, err := in.required("path")
		if err != nil {
			return nil, err
		}
		name := path.Base(strings.ReplaceAll(local, "\\", "/"))
		if name == "." || name == "/" || name == ".." {
			return nil, invalid("path %q names no file", local)
		}
		p, err := h.writablePath(r, strings.Trim(r.PathValue("path"), "/")+"/"+name)
		if err != nil {
			return nil, err
		}
		ctx, key := r.Context(), "runs/"+p
		if op == "create" {
			n, err := in.integer("num_parts", 1)
			if err != nil {
				return nil, err
			}
			if n < 1 || n > registry.MaxParts {
				return nil, invalid("num_parts must be 1 to %d, got %d", registry.MaxParts, n)
			}
			id, err := h.files.CreateBlobUpload(ctx, key, int(n))
			if err != nil {
				return nil, err
			}
			creds := make([]wireCredential, 0, n)
			expires := time.Now().Add(PartURLTTL)
			for i := 1; i <= int(n); i++ {
				pr, err := h.files.PresignBlobPart(ctx, key, id, i, expires)
				if err != nil {
					_ = h.files.AbortBlobUpload(context.WithoutCancel(ctx), key, id)
					return nil, err
				}
				creds = append(creds, wireCredential{URL: pr.URL, PartNumber: i, Headers: pr.Headers})
			}
			return map[string]any{"upload_id": id, "credentials": creds}, nil
		}
		id, err := in.required("upload_id")
		if err != nil {
			return nil, err
		}
		if op == "abort" {
			return empty{}, h.files.AbortBlobUpload(ctx, key, id)
		}
		var listed []struct {
			PartNumber json.Number `json:"part_number"`
			ETag       *string     `json:"etag"`
			URL        *string     `json:"url"`
		}
		if err := in.raw("parts", &listed); err != nil {
			return nil, err
		}
		parts := make([]tracking.BlobPart, 0, len(listed))
		for _, l := range listed {
			num, err := strconv.Atoi(l.PartNumber.String())
			if err != nil {
				return nil, invalid("part_number %q is not a part number", l.PartNumber)
			}
			bp := tracking.BlobPart{Number: num}
			if l.ETag != nil {
				bp.ETag = *l.ETag
			}
			parts = append(parts, bp)
		}
		b, err := h.files.CompleteBlobUpload(ctx, key, id, parts)
		if err != nil {
			return nil, err
		}
		return empty{}, h.track.putArtifact(ctx, p, b.Size, b.SHA256)
	}()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, out)
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
	writeJSON(w, map[string]any{"files": files})
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
