package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/tracking"
)

var (
	_ tracking.Blobs   = (*Artifacts)(nil)
	_ tracking.Objects = (*Artifacts)(nil)
)

// blobPartSize is the part size PutBlob streams a run artifact file in:
// the most memory one upload holds (S3's minimum part is 5 MiB; 10,000
// parts of 8 MiB reach 78 GiB).
const blobPartSize = 8 << 20

func (a *Artifacts) blobKey(key string) (string, error) {
	rest, ok := strings.CutPrefix(key, "runs/")
	if !ok {
		return "", registry.Errorf(registry.Invalid, "blob key %q is not under runs/", key)
	}
	if err := registry.ValidatePath(rest); err != nil {
		return "", err
	}
	k := a.prefix + key
	if len(k) > maxKeyLen {
		return "", registry.Errorf(registry.Invalid, "blob key %q is too long for S3", key)
	}
	return k, nil
}

// PutBlob streams r to the object under the prefix's runs/ keys in parts
// of 8 MiB (one PutObject when it fits in one), hashing it on the way; the
// object appears once the whole body arrived (tracking.Blobs).
func (a *Artifacts) PutBlob(ctx context.Context, key string, r io.Reader, size int64) (tracking.Blob, error) {
	k, err := a.blobKey(key)
	if err != nil {
		return tracking.Blob{}, err
	}
	h := sha256.New()
	buf := make([]byte, blobPartSize)
	var total int64
	var uploadID string
	var parts []part
	abort := func() {
		if uploadID != "" {
			_ = a.abortUpload(context.WithoutCancel(ctx), k, uploadID, key)
		}
	}
	for {
		n, rerr := io.ReadFull(r, buf)
		if rerr != nil && rerr != io.EOF && rerr != io.ErrUnexpectedEOF {
			abort()
			return tracking.Blob{}, registry.Wrap(registry.Invalid, rerr, "upload of %s was cut after %d bytes", key, total+int64(n))
		}
		h.Write(buf[:n])
		total += int64(n)
		last := rerr != nil
		if last && uploadID == "" {
			if size >= 0 && total != size {
				return tracking.Blob{}, registry.Errorf(registry.Invalid, "upload of %s: got %d bytes, announced %d", key, total, size)
			}
			sum := hex.EncodeToString(h.Sum(nil)) // of the whole body: this one part
			err := a.client.PutObject(ctx, k, buf[:n], sum, objectHeaders{contentType: contentType, metadata: map[string]string{metaSHA256: sum}})
			if err != nil {
				return tracking.Blob{}, translate(err, "store run artifact %s", key)
			}
			break
		}
		if uploadID == "" {
			id, err := a.client.CreateMultipartUpload(ctx, k, objectHeaders{contentType: contentType})
			if err != nil {
				return tracking.Blob{}, translate(err, "store run artifact %s", key)
			}
			uploadID = id
		}
		if n > 0 || len(parts) == 0 {
			num := len(parts) + 1
			etag, err := a.client.UploadPart(ctx, k, uploadID, num, bytes.NewReader(buf[:n]), int64(n))
			if err != nil {
				abort()
				return tracking.Blob{}, translate(err, "store run artifact %s: part %d", key, num)
			}
			parts = append(parts, part{number: num, etag: etag})
		}
		if last {
			if size >= 0 && total != size {
				abort()
				return tracking.Blob{}, registry.Errorf(registry.Invalid, "upload of %s: got %d bytes, announced %d", key, total, size)
			}
			_, err := a.client.CompleteMultipartUpload(ctx, k, uploadID, parts, completeOptions{})
			if err != nil {
				abort()
				return tracking.Blob{}, translate(err, "store run artifact %s: complete", key)
			}
			break
		}
	}
	return tracking.Blob{Size: total, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// OpenBlob reads a run artifact object from offset (tracking.Blobs).
// NotFound.
func (a *Artifacts) OpenBlob(ctx context.Context, key string, offset int64) (io.ReadCloser, error) {
	k, err := a.blobKey(key)
	if err != nil {
		return nil, err
	}
	rng := ""
	if offset > 0 {
		rng = "bytes=" + strconv.FormatInt(offset, 10) + "-"
	}
	body, err := a.client.GetObject(ctx, k, rng, "")
	if err != nil {
		if isNotFound(err) || isCode(err, "NoSuchKey") {
			return nil, registry.Errorf(registry.NotFound, "no run artifact %s", key)
		}
		return nil, translate(err, "read run artifact %s", key)
	}
	return body, nil
}

// BlobURI is the s3:// URI of a run artifact key ("runs/…";
// tracking.Objects): where MLflow clients write with their own
// credentials.
func (a *Artifacts) BlobURI(key string) string {
	return "s3://" + a.bucket + "/" + a.prefix + key
}

// BlobKey is the run artifact key ("runs/…") an s3:// URI names, if it is
// in this bucket under the prefix's runs/ (tracking.Objects).
func (a *Artifacts) BlobKey(uri string) (string, bool) {
	k, ok := strings.CutPrefix(uri, "s3://"+a.bucket+"/"+a.prefix)
	if !ok || !strings.HasPrefix(k, "runs/") {
		return "", false
	}
	if _, err := a.blobKey(strings.TrimSuffix(k, "/")); err != nil {
		return "", false
	}
	return strings.TrimSuffix(k, "/"), true
}

// ListObjects lists the objects under dir+"/" with ListObjectsV2, every
// page (tracking.Objects).
func (a *Artifacts) ListObjects(ctx context.Context, dir string, limit int) ([]tracking.Object, error) {
	k, err := a.blobKey(dir)
	if err != nil {
		return nil, err
	}
	prefix := k + "/"
	var out []tracking.Object
	token := ""
	for {
		page, err := a.client.ListObjectsV2(ctx, prefix, token, a.listPage)
		if err != nil {
			return nil, translate(err, "list run artifacts under %s", dir)
		}
		for _, o := range page.objects {
			if strings.HasSuffix(o.key, "/") {
				continue // a folder marker some clients write
			}
			if len(out) == limit {
				return nil, registry.Errorf(registry.Invalid, "more than %d files under %s", limit, dir)
			}
			out = append(out, tracking.Object{Key: strings.TrimPrefix(o.key, a.prefix), Size: o.size, ETag: o.etag})
		}
		if page.next == "" {
			return out, nil
		}
		token = page.next
	}
}

// HashObject reads a run artifact object back (the ranged, ETag-pinned
// GETs Complete verifies with) and returns its SHA-256
// (tracking.Objects).
func (a *Artifacts) HashObject(ctx context.Context, o tracking.Object) (string, error) {
	k, err := a.blobKey(o.Key)
	if err != nil {
		return "", err
	}
	sum, err := a.hashObject(ctx, k, o.ETag, o.Size)
	if isPreconditionFailed(err) || isNotFound(err) || isCode(err, "NoSuchKey") || isCode(err, "InvalidRange") {
		return "", registry.Wrap(registry.Unavailable, err, "run artifact %s changed while it was read; try again", o.Key)
	}
	if err != nil {
		return "", translate(err, "read run artifact %s", o.Key)
	}
	return sum, nil
}

// CopyObject copies a run artifact object server-side into file f of
// upload session s, pinned to its ETag (tracking.Objects): a single-part
// file with CopyObject to its staging key (with S3 computing its SHA-256,
// which Complete then compares), a multipart one with an UploadPartCopy of
// each part into its multipart upload (a part is at most 5 GiB, so objects
// over CopyObject's 5 GiB go this way).
func (a *Artifacts) CopyObject(ctx context.Context, o tracking.Object, s registry.UploadSession, f registry.UploadFile) error {
	k, err := a.blobKey(o.Key)
	if err != nil {
		return err
	}
	if err := a.validateFile(s, f); err != nil {
		return err
	}
	if o.Size != f.Size {
		return registry.Errorf(registry.Invalid, "run artifact %s has %d bytes, file %s %d", o.Key, o.Size, f.Path, f.Size)
	}
	changed := func(err error) error {
		if isPreconditionFailed(err) || isNotFound(err) || isCode(err, "NoSuchKey") {
			return registry.Wrap(registry.Unavailable, err, "run artifact %s changed while it was registered; try again", o.Key)
		}
		return translate(err, "copy run artifact %s into %s", o.Key, f.Path)
	}
	if !f.Multipart() {
		err := a.client.CopyObject(ctx, a.stagingKey(s.ID, f.Path), copySource{key: k, ifMatch: o.ETag},
			objectHeaders{contentType: contentType, sha256: true})
		if err != nil {
			return changed(err)
		}
		return nil
	}
	if f.BackendID == "" {
		return registry.Errorf(registry.Invalid, "file %s: its upload was not begun", f.Path)
	}
	for n := 1; n <= f.Parts; n++ {
		off, size := registry.PartRange(f.Size, f.PartSize, n)
		_, err := a.client.UploadPartCopy(ctx, a.finalKey(s.Model, s.Version, f.Path), f.BackendID, n,
			copySource{key: k, ifMatch: o.ETag, rng: fmt.Sprintf("bytes=%d-%d", off, off+size-1)})
		if err != nil {
			return changed(err)
		}
	}
	return nil
}
