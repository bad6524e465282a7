package s3

import (
	"context"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/tracking"
)

// Multipart uploads of run files (tracking.Blobs): an S3 multipart upload
// at the run file's own key, its parts presigned UploadPart requests. S3
// joins the parts in CompleteMultipartUpload, which replaces the object at
// once; the whole-file SHA-256 is then read back with hashObject, the
// registry's verification read-back (parallel ranged GETs pinned to the
// new object's ETag).

// CreateBlobUpload starts an S3 multipart upload at the run file's key
// (tracking.Blobs). Invalid. S3 keeps no count of parts: parts says how
// many the caller will list.
func (a *Artifacts) CreateBlobUpload(ctx context.Context, key string, parts int) (string, error) {
	k, err := a.blobKey(key)
	if err != nil {
		return "", err
	}
	if parts < 1 || parts > registry.MaxParts {
		return "", registry.Errorf(registry.Invalid, "an upload has 1 to %d parts, not %d", registry.MaxParts, parts)
	}
	id, err := a.client.CreateMultipartUpload(ctx, k, objectHeaders{contentType: contentType})
	if err != nil {
		return "", translate(err, "begin the upload of %s", key)
	}
	return id, nil
}

// PresignBlobPart presigns UploadPart n of upload id (tracking.Blobs).
// Invalid. The part's size is not signed (the caller chooses it); an
// unknown upload is refused by S3 when the part is sent.
func (a *Artifacts) PresignBlobPart(ctx context.Context, key, id string, n int, expires time.Time) (registry.PartRequest, error) {
	k, err := a.blobKey(key)
	if err != nil {
		return registry.PartRequest{}, err
	}
	if id == "" || n < 1 || n > registry.MaxParts {
		return registry.PartRequest{}, registry.Errorf(registry.Invalid, "part %d of upload %q: out of range or no upload", n, id)
	}
	req, err := a.presignUploadPart(ctx, k, id, n, 0, "", expires)
	if err != nil {
		return registry.PartRequest{}, err
	}
	return registry.PartRequest{Number: n, Method: req.method, URL: req.url, Headers: req.headers, Size: -1}, nil
}

// CompleteBlobUpload checks the listed parts against those S3 holds,
// completes the upload and reads the object back for its SHA-256
// (tracking.Blobs). Invalid (the upload stays), NotFound.
func (a *Artifacts) CompleteBlobUpload(ctx context.Context, key, id string, parts []tracking.BlobPart) (tracking.Blob, error) {
	k, err := a.blobKey(key)
	if err != nil {
		return tracking.Blob{}, err
	}
	if err := tracking.CheckBlobParts(parts, len(parts)); err != nil || len(parts) == 0 {
		if err == nil {
			err = registry.Errorf(registry.Invalid, "upload %s: no parts listed", id)
		}
		return tracking.Blob{}, err
	}
	list, err := a.listPartsOf(ctx, k, id)
	if isCode(err, "NoSuchUpload") || isNotFound(err) {
		return tracking.Blob{}, registry.Errorf(registry.NotFound, "upload %s not found: it was completed, aborted or never begun", id)
	}
	if err != nil {
		return tracking.Blob{}, translate(err, "list the parts of %s", key)
	}
	held := make(map[int]part, len(list))
	have := make([]int, 0, len(list))
	for _, p := range list {
		n := p.number
		held[n] = p
		if n > len(parts) {
			return tracking.Blob{}, registry.Errorf(registry.Invalid, "upload %s: part %d was sent but not listed (%d parts listed)", id, n, len(parts))
		}
		have = append(have, n)
	}
	if err := registry.MissingParts(key, sorted(have), len(parts)); err != nil {
		return tracking.Blob{}, err
	}
	done := make([]part, 0, len(parts))
	for _, p := range parts {
		h := held[p.Number]
		if p.ETag != "" && !sameETag(p.ETag, h.etag) {
			return tracking.Blob{}, registry.Errorf(registry.Invalid, "upload %s: part %d is listed with ETag %s, but the part received has %s", id, p.Number, p.ETag, h.etag)
		}
		done = append(done, part{number: h.number, etag: h.etag})
	}
	etag, err := a.client.CompleteMultipartUpload(ctx, k, id, done, completeOptions{})
	switch {
	case isCode(err, "NoSuchUpload"):
		return tracking.Blob{}, registry.Errorf(registry.NotFound, "upload %s not found: it was completed or aborted meanwhile", id)
	case isCode(err, "InvalidPart", "InvalidPartOrder", "EntityTooSmall"):
		return tracking.Blob{}, registry.Wrap(registry.Invalid, err, "%s: storage refused its parts (every part but the last needs 5 MiB on S3)", key)
	case err != nil:
		return tracking.Blob{}, translate(err, "complete %s", key)
	}
	ho, err := a.client.HeadObject(ctx, k, false, etag)
	if err != nil {
		return tracking.Blob{}, translate(err, "check %s", key)
	}
	size := ho.size
	sum, err := a.hashObject(ctx, k, etag, size)
	if isPreconditionFailed(err) || isNotFound(err) {
		return tracking.Blob{}, registry.Wrap(registry.Unavailable, err, "%s was replaced while it was read back; try again", key)
	}
	if err != nil {
		return tracking.Blob{}, translate(err, "read back %s", key)
	}
	return tracking.Blob{Size: size, SHA256: sum}, nil
}

// sameETag compares ETags with or without their quotes.
func sameETag(a, b string) bool {
	return trimQuotes(a) == trimQuotes(b)
}

func trimQuotes(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// AbortBlobUpload aborts upload id (tracking.Blobs); one that does not
// exist is not an error. Invalid.
func (a *Artifacts) AbortBlobUpload(ctx context.Context, key, id string) error {
	k, err := a.blobKey(key)
	if err != nil {
		return err
	}
	if id == "" {
		return registry.Errorf(registry.Invalid, "no upload id")
	}
	return a.abortUpload(ctx, k, id, key)
}
