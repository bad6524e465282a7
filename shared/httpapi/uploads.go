package httpapi

import (
	"context"
	"net/http"

	"github.com/modelreg/modelreg/shared/registry"
)

// Like every write, the upload routes store their response with the
// change they make, so a retry with the same Idempotency-Key gets the same
// ticket (the same session, the same URLs) or the same READY version.

// UploadRequest is the body of POST …/versions/{version}/uploads.
type UploadRequest struct {
	Files []FileSpec `json:"files"`
}

func (a *api) createUpload(ctx context.Context, in *input) (any, error) {
	n, err := in.version()
	if err != nil {
		return nil, err
	}
	var req UploadRequest
	if err := in.decode(&req); err != nil {
		return nil, err
	}
	return a.svc.CreateUpload(ctx, in.name(), n, fileSpecsIn(req.Files))
}

func (a *api) completeUpload(ctx context.Context, in *input) (any, error) {
	n, err := in.version()
	if err != nil {
		return nil, err
	}
	if err := in.decodeEmpty(); err != nil {
		return nil, err
	}
	return a.svc.CompleteUpload(ctx, in.name(), n, in.r.PathValue("upload_id"))
}

// VersionAccepted is the 202 body of a completion whose files are
// verified in the background: the version, VERIFYING. Poll it until it is
// READY or FAILED.
type VersionAccepted struct {
	Version
}

func (VersionAccepted) statusCode() int { return http.StatusAccepted }

// completeBody is the body of the complete route: the READY version
// (200), or VersionAccepted (202) for a VERIFYING one.
func completeBody(result any) (any, error) {
	if v, ok := result.(registry.Version); ok && v.Status == registry.StatusVerifying {
		return VersionAccepted{versionOut(v)}, nil
	}
	return wireBody(result)
}

func (a *api) refreshUpload(ctx context.Context, in *input) (any, error) {
	n, err := in.version()
	if err != nil {
		return nil, err
	}
	if err := in.decodeEmpty(); err != nil {
		return nil, err
	}
	return a.svc.RefreshUpload(ctx, in.name(), n, in.r.PathValue("upload_id"))
}

func (a *api) download(ctx context.Context, in *input) (any, error) {
	n, err := in.version()
	if err != nil {
		return nil, err
	}
	return a.svc.Downloads(ctx, in.name(), n, in.query("path"))
}
