package httpapi

import "context"

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
