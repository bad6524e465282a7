package s3

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/internal/lazyre"
	"github.com/modelreg/modelreg/shared/registry"
)

var _ registry.Artifacts = (*Artifacts)(nil)

// contentType is the type every part is uploaded with (a signed header).
const contentType = "application/octet-stream"

// Metadata keys of completed objects (S3 lowercases them).
const (
	// metaSHA256 holds the declared SHA-256 of the file, as lowercase hex.
	metaSHA256 = "modelreg-sha256"
	// metaVerified is set on objects whose bytes were verified before the
	// object was created; others are verified by reading them back.
	metaVerified = "modelreg-verified"
	// metaUpload names the upload session that wrote the object.
	metaUpload = "modelreg-upload"
)

// maxKeyLen is S3's limit on key length in bytes.
const maxKeyLen = 1024

var uploadIDRE = lazyre.New(`^[0-9A-Za-z][0-9A-Za-z_-]{0,127}$`)

// Artifacts stores artifacts in one bucket under a key prefix. It is safe
// for concurrent use and keeps no state of its own: any number of
// processes may share a bucket.
type Artifacts struct {
	client    *client
	bucket    string
	prefix    string
	hashLimit int64
	now       func() time.Time
	// listPage, if set, is the MaxKeys of ListObjects' pages (tests).
	listPage int
}

// Option configures Artifacts.
type Option func(*Artifacts)

// WithPrefix puts every key under prefix, such as "models/" (default: the
// bucket's root).
func WithPrefix(prefix string) Option {
	return func(a *Artifacts) { a.prefix = prefix }
}

// WithHashLimit sets the size of the largest multipart file that Complete
// reads back to verify its SHA-256 (default registry.MaxFileSize: all).
// Larger files must come with part digests, or Begin refuses them; their
// whole-file SHA-256 is then verified only by the clients that download
// them. Reading back costs one GET of every byte, so a service with a
// short request deadline wants a limit.
func WithHashLimit(n int64) Option {
	return func(a *Artifacts) { a.hashLimit = max(n, 0) }
}

// New returns Artifacts that keep files in bucket through c, a client of
// Service (awsapi.New(cfg, s3.Service, endpoint)), which also signs the
// presigned URLs with its credentials. On AWS's regional endpoint
// (endpoint "") requests and URLs name the bucket in the host
// (virtual-hosted: bucket.s3.REGION.amazonaws.com/key), as the SDK does,
// unless the bucket's name has dots; on any other endpoint (MinIO) they
// name it in the path (/bucket/key).
func New(c *awsapi.Client, bucket string, opts ...Option) *Artifacts {
	a := &Artifacts{
		client:    &client{api: c, bucket: bucket, virtualHost: virtualHosted(c.Endpoint(), bucket)},
		bucket:    bucket,
		hashLimit: registry.MaxFileSize,
		now:       time.Now,
	}
	for _, o := range opts {
		o(a)
	}
	return a
}

// Begin starts an S3 multipart upload for a multipart file and returns f
// with its UploadId as BackendID; a single-part file needs nothing. Calling
// it again with the BackendID it returned keeps that upload if it still
// exists. Invalid, Unavailable, Internal.
func (a *Artifacts) Begin(ctx context.Context, s registry.UploadSession, f registry.UploadFile) (registry.UploadFile, error) {
	if err := a.validateFile(s, f); err != nil {
		return f, err
	}
	if !f.Multipart() {
		return f, nil
	}
	if f.Size > a.hashLimit && len(f.PartSHA256) == 0 {
		return f, registry.Errorf(registry.Invalid, "file %s: files over %d bytes need part digests (part_sha256)", f.Path, a.hashLimit)
	}
	key := a.finalKey(s.Model, s.Version, f.Path)
	if f.BackendID != "" {
		_, err := a.client.ListParts(ctx, key, f.BackendID, "", 1)
		if err == nil {
			return f, nil // begun already
		}
		if !isCode(err, "NoSuchUpload") {
			return f, translate(err, "begin upload of %s", f.Path)
		}
		// Aborted or expired: start a new one.
	}
	id, err := a.client.CreateMultipartUpload(ctx, key, objectHeaders{
		contentType: contentType,
		metadata:    map[string]string{metaSHA256: strings.ToLower(f.SHA256), metaUpload: s.ID},
		sha256:      len(f.PartSHA256) > 0,
	})
	if err != nil {
		return f, translate(err, "begin upload of %s", f.Path)
	}
	f.BackendID = id
	return f, nil
}

// PresignPart returns the presigned PutObject (single-part file, to its
// staging key) or UploadPart (part n of a multipart file). Content-Type,
// Content-Length and, when the part's digest is known, x-amz-checksum-sha256
// are signed headers. Invalid, Internal.
func (a *Artifacts) PresignPart(ctx context.Context, s registry.UploadSession, f registry.UploadFile, n int, expires time.Time) (registry.PartRequest, error) {
	if err := a.validateFile(s, f); err != nil {
		return registry.PartRequest{}, err
	}
	if n < 1 || n > f.Parts {
		return registry.PartRequest{}, registry.Errorf(registry.Invalid, "file %s has parts 1 to %d, not %d", f.Path, f.Parts, n)
	}
	digest, err := partDigest(f, n)
	if err != nil {
		return registry.PartRequest{}, err
	}
	off, size := registry.PartRange(f.Size, f.PartSize, n)
	var req *presigned
	if !f.Multipart() {
		req, err = a.presignPut(ctx, a.stagingKey(s.ID, f.Path), size, digest, expires)
	} else {
		if f.BackendID == "" {
			return registry.PartRequest{}, registry.Errorf(registry.Invalid, "file %s: its upload was not begun", f.Path)
		}
		req, err = a.presignUploadPart(ctx, a.finalKey(s.Model, s.Version, f.Path), f.BackendID, n, size, digest, expires)
	}
	if err != nil {
		return registry.PartRequest{}, err
	}
	return registry.PartRequest{Number: n, Method: req.method, URL: req.url, Headers: req.headers, Offset: off, Size: size}, nil
}

// partDigest returns the base64 SHA-256 that part n of f must have, "" if
// unknown. A single part is the whole file, so its digest is f.SHA256.
func partDigest(f registry.UploadFile, n int) (string, error) {
	if !f.Multipart() {
		sum, err := registry.NormalizeSHA256(f.SHA256)
		if err != nil {
			return "", registry.Errorf(registry.Invalid, "file %s: %s", f.Path, registry.ErrorMessage(err))
		}
		if len(f.PartSHA256) == 1 && !strings.EqualFold(f.PartSHA256[0], sum) {
			return "", registry.Errorf(registry.Invalid, "file %s: the digest of its only part differs from the file's", f.Path)
		}
		return hexToBase64(sum), nil
	}
	if len(f.PartSHA256) == 0 {
		return "", nil
	}
	d, err := registry.NormalizeSHA256(f.PartSHA256[n-1])
	if err != nil {
		return "", registry.Errorf(registry.Invalid, "file %s: part %d: %s", f.Path, n, registry.ErrorMessage(err))
	}
	return hexToBase64(d), nil
}

// UploadedParts lists the parts S3 holds for f (ListParts, every page),
// keeping those of the expected size; for a single-part file, part 1 if
// its staging object is there. An upload that no longer exists has none.
// Invalid, Unavailable, Internal.
func (a *Artifacts) UploadedParts(ctx context.Context, s registry.UploadSession, f registry.UploadFile) ([]int, error) {
	if err := a.validateFile(s, f); err != nil {
		return nil, err
	}
	got := []int{}
	if !f.Multipart() {
		ho, err := a.client.HeadObject(ctx, a.stagingKey(s.ID, f.Path), false, "")
		if isNotFound(err) {
			return got, nil
		}
		if err != nil {
			return nil, translate(err, "list parts of %s", f.Path)
		}
		if ho.size == f.Size {
			got = append(got, 1)
		}
		return got, nil
	}
	if f.BackendID == "" {
		return got, nil
	}
	parts, err := a.listParts(ctx, s, f)
	if isCode(err, "NoSuchUpload") {
		return got, nil
	}
	if err != nil {
		return nil, translate(err, "list parts of %s", f.Path)
	}
	for _, p := range parts {
		n := p.number
		if n < 1 || n > f.Parts {
			continue
		}
		if _, size := registry.PartRange(f.Size, f.PartSize, n); p.size == size {
			got = append(got, n)
		}
	}
	slices.Sort(got)
	return got, nil
}

// listParts returns every part of f's multipart upload, following pages.
func (a *Artifacts) listParts(ctx context.Context, s registry.UploadSession, f registry.UploadFile) ([]part, error) {
	return a.listPartsOf(ctx, a.finalKey(s.Model, s.Version, f.Path), f.BackendID)
}

// listPartsOf returns every part of multipart upload id of key, following
// pages.
func (a *Artifacts) listPartsOf(ctx context.Context, key, id string) ([]part, error) {
	var parts []part
	marker := ""
	for {
		page, err := a.client.ListParts(ctx, key, id, marker, 0)
		if err != nil {
			return nil, err
		}
		parts = append(parts, page.parts...)
		if page.next == "" {
			return parts, nil
		}
		marker = page.next
	}
}

// Abort aborts f's multipart upload or deletes its staging object; a
// completed file stays. Nothing there is not an error. Invalid,
// Unavailable, Internal.
func (a *Artifacts) Abort(ctx context.Context, s registry.UploadSession, f registry.UploadFile) error {
	if err := a.validateFile(s, f); err != nil {
		return err
	}
	if !f.Multipart() {
		return a.deleteObject(ctx, a.stagingKey(s.ID, f.Path), f.Path)
	}
	if f.BackendID == "" {
		return nil
	}
	return a.abortUpload(ctx, a.finalKey(s.Model, s.Version, f.Path), f.BackendID, f.Path)
}

// abortUpload aborts a multipart upload; one that does not exist is not an
// error.
func (a *Artifacts) abortUpload(ctx context.Context, key, uploadID, path string) error {
	err := a.client.AbortMultipartUpload(ctx, key, uploadID)
	if err != nil && !isCode(err, "NoSuchUpload") && !isNotFound(err) {
		return translate(err, "abort upload of %s", path)
	}
	return nil
}

// deleteObject deletes key; a missing key is not an error.
func (a *Artifacts) deleteObject(ctx context.Context, key, path string) error {
	err := a.client.DeleteObject(ctx, key)
	if err != nil && !isNotFound(err) {
		return translate(err, "delete %s", path)
	}
	return nil
}

// Discard deletes the completed file path of a version (the service only
// asks for versions that are not READY). A missing file is not an error.
// Invalid, Unavailable, Internal.
func (a *Artifacts) Discard(ctx context.Context, model string, version int, path string) error {
	if err := a.validateObject(model, version, path); err != nil {
		return err
	}
	return a.deleteObject(ctx, a.finalKey(model, version, path), path)
}

// RemoveVersion deletes every object under the version's key prefix
// (ListObjectsV2, then DeleteObject for each key: a version holds few
// files, and single deletes need no Content-MD5 on any S3 clone). On a
// bucket with versioning, this removes the current objects; their older
// versions expire by the bucket's lifecycle rule (see doc.go). No objects
// is not an error. Invalid, Unavailable, Internal.
func (a *Artifacts) RemoveVersion(ctx context.Context, model string, version int) error {
	if err := a.validateObject(model, version, "x"); err != nil {
		return err
	}
	prefix := a.prefix + model + "/" + strconv.Itoa(version) + "/"
	token := ""
	for {
		page, err := a.client.ListObjectsV2(ctx, prefix, token, 0)
		if err != nil {
			return translate(err, "list the files of version %d of %s", version, model)
		}
		for _, o := range page.objects {
			if err := a.deleteObject(ctx, o.key, strings.TrimPrefix(o.key, prefix)); err != nil {
				return err
			}
		}
		if page.next == "" {
			return nil
		}
		token = page.next
	}
}

// PresignDownload returns a presigned GetObject URL for a completed file,
// valid until expires. Invalid, NotFound, Unavailable, Internal.
func (a *Artifacts) PresignDownload(ctx context.Context, model string, version int, path string, expires time.Time) (string, error) {
	if err := a.validateObject(model, version, path); err != nil {
		return "", err
	}
	key := a.finalKey(model, version, path)
	_, err := a.client.HeadObject(ctx, key, false, "")
	if isNotFound(err) {
		return "", registry.Errorf(registry.NotFound, "version %d of %s has no file %q", version, model, path)
	}
	if err != nil {
		return "", translate(err, "look up %s", path)
	}
	req, err := a.presignGet(ctx, key, expires)
	if err != nil {
		return "", err
	}
	return req.url, nil
}

// ObjectURI is the s3:// URI of the completed file path of a version (what
// SageMaker's ModelDataUrl and other AWS services read). It names where the
// file is or will be; it does not check that it exists.
func (a *Artifacts) ObjectURI(model string, version int, path string) string {
	return "s3://" + a.bucket + "/" + a.finalKey(model, version, path)
}

// finalKey is the key of a completed file.
func (a *Artifacts) finalKey(model string, version int, path string) string {
	return a.prefix + model + "/" + strconv.Itoa(version) + "/" + path
}

// stagingKey is where a single-part file waits for Complete.
func (a *Artifacts) stagingKey(uploadID, path string) string {
	sum := sha256.Sum256([]byte(path))
	return a.prefix + ".uploads/" + uploadID + "/" + hex.EncodeToString(sum[:16])
}

// validateObject checks the names that make up a final key: the
// registry's rule, and S3's key length.
func (a *Artifacts) validateObject(model string, version int, path string) error {
	if err := registry.ValidateArtifact(model, version, path); err != nil {
		return err
	}
	if n := len(a.finalKey(model, version, path)); n > maxKeyLen {
		return registry.Errorf(registry.Invalid, "artifact path %q is too long: its S3 key would have %d bytes, at most %d", path, n, maxKeyLen)
	}
	return nil
}

// validateFile checks a session and file against the registry's rules and
// S3's limits before anything reaches S3.
func (a *Artifacts) validateFile(s registry.UploadSession, f registry.UploadFile) error {
	if !uploadIDRE.MatchString(s.ID) {
		return registry.Errorf(registry.Invalid, "invalid upload id %q", s.ID)
	}
	if err := a.validateObject(s.Model, s.Version, f.Path); err != nil {
		return err
	}
	switch {
	case f.Size < 0 || f.Size > registry.MaxFileSize:
		return registry.Errorf(registry.Invalid, "file %s: size %d is out of range 0..%d", f.Path, f.Size, registry.MaxFileSize)
	case f.PartSize < 1 || f.Parts < 1 || f.Parts > registry.MaxParts || registry.PartCount(f.Size, f.PartSize) != f.Parts:
		return registry.Errorf(registry.Invalid, "file %s: %d parts of %d bytes do not cover %d bytes", f.Path, f.Parts, f.PartSize, f.Size)
	case f.Parts == 1 && f.Size > registry.MaxPartSize:
		return registry.Errorf(registry.Invalid, "file %s: %d bytes is more than one S3 PUT takes (%d); use parts", f.Path, f.Size, registry.MaxPartSize)
	case f.Parts > 1 && (f.PartSize < registry.MinPartSize || f.PartSize > registry.MaxPartSize):
		return registry.Errorf(registry.Invalid, "file %s: part size %d is out of S3's range %d..%d", f.Path, f.PartSize, registry.MinPartSize, registry.MaxPartSize)
	case len(f.PartSHA256) != 0 && len(f.PartSHA256) != f.Parts:
		return registry.Errorf(registry.Invalid, "file %s: %d part digests for %d parts", f.Path, len(f.PartSHA256), f.Parts)
	}
	if _, err := registry.NormalizeSHA256(f.SHA256); err != nil {
		return registry.Errorf(registry.Invalid, "file %s: %s", f.Path, registry.ErrorMessage(err))
	}
	if n := len(a.stagingKey(s.ID, f.Path)); n > maxKeyLen {
		return registry.Errorf(registry.Invalid, "upload %s: its S3 staging key would have %d bytes, at most %d", s.ID, n, maxKeyLen)
	}
	return nil
}

// hexToBase64 turns a hex digest into the base64 form S3 uses.
func hexToBase64(h string) string {
	b, err := hex.DecodeString(h)
	if err != nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(b)
}

// errNoObject says that no object is at a key.
var errNoObject = errors.New("no object")

// HeadBucket checks that the bucket exists and these credentials may use
// it (an error otherwise, as S3 gave it).
func (a *Artifacts) HeadBucket(ctx context.Context) error {
	if err := a.client.HeadBucket(ctx); err != nil {
		return fmt.Errorf("look up bucket %s: %w", a.bucket, err)
	}
	return nil
}

// CreateBucket creates the bucket (for tests and local setups: a
// deployment's bucket comes from its stack).
func (a *Artifacts) CreateBucket(ctx context.Context) error {
	if err := a.client.CreateBucket(ctx); err != nil {
		return fmt.Errorf("create bucket %s: %w", a.bucket, err)
	}
	return nil
}
