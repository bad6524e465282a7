package s3

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/modelreg/modelreg/shared/registry"
)

// Complete verifies f's upload (every part there with its size and, when
// declared, its SHA-256; the whole file's size and SHA-256) and writes it
// to its final key with If-None-Match: *, so that it never replaces a
// file. If the final key already holds this file (a repeat) it returns
// nil. Invalid (naming what is wrong; the final key then holds nothing of
// this upload), Conflict (another file is stored there), Unavailable,
// Internal. See the package doc for how each kind of file is checked.
func (a *Artifacts) Complete(ctx context.Context, s registry.UploadSession, f registry.UploadFile) error {
	if err := a.validateFile(s, f); err != nil {
		return err
	}
	f.SHA256 = strings.ToLower(f.SHA256)
	if f.Multipart() {
		return a.completeMultipart(ctx, s, f)
	}
	return a.completeSingle(ctx, s, f)
}

// completeSingle checks the staging object, which S3 only accepted with
// the file's SHA-256, and copies it to the final key.
func (a *Artifacts) completeSingle(ctx context.Context, s registry.UploadSession, f registry.UploadFile) error {
	staging := a.stagingKey(s.ID, f.Path)
	st, err := a.client.HeadObject(ctx, staging, true, "")
	if isNotFound(err) {
		// Nothing waiting: completed already, or never sent.
		return a.existing(ctx, s, f, registry.Errorf(registry.Invalid, "file %s: part 1 missing", f.Path))
	}
	if err != nil {
		return translate(err, "complete %s", f.Path)
	}
	if got := st.size; got != f.Size {
		return registry.Errorf(registry.Invalid, "file %s: size mismatch: declared %d bytes, received %d", f.Path, f.Size, got)
	}
	etag := st.etag
	got := st.sha256
	if got == "" || st.checksumType == checksumComposite {
		// No full-object SHA-256 from this server: hash the object.
		sum, err := a.hashObject(ctx, staging, etag, f.Size)
		if err != nil {
			return translate(err, "verify %s", f.Path)
		}
		got = hexToBase64(sum)
	}
	if want := hexToBase64(f.SHA256); got != want {
		return registry.Errorf(registry.Invalid, "file %s: sha256 mismatch: declared %s, received %s", f.Path, f.SHA256, base64ToHex(got))
	}
	err = a.existing(ctx, s, f, errNoObject)
	if errors.Is(err, errNoObject) {
		err = a.copyToFinal(ctx, s, f, staging, etag)
	}
	if err != nil {
		return err
	}
	return a.deleteObject(ctx, staging, f.Path)
}

// copyToFinal copies the verified staging object (pinned to its ETag) to
// f's final key unless something is there. CopyObject cannot do it on
// MinIO, which ignores If-None-Match there: a one-part multipart upload
// filled by UploadPartCopy and completed with If-None-Match: * can.
func (a *Artifacts) copyToFinal(ctx context.Context, s registry.UploadSession, f registry.UploadFile, staging, etag string) error {
	final := a.finalKey(s.Model, s.Version, f.Path)
	meta := map[string]string{metaSHA256: f.SHA256, metaVerified: "sha256", metaUpload: s.ID}
	gone := registry.Errorf(registry.Unavailable, "file %s: the stored file changed while completing; try again", f.Path)
	if f.Size == 0 { // nothing to copy
		err := a.client.PutObject(ctx, final, nil, "", objectHeaders{contentType: contentType, metadata: meta, ifNoneMatch: "*"})
		if isPreconditionFailed(err) {
			return a.existing(ctx, s, f, gone)
		}
		return translate(err, "complete %s", f.Path)
	}
	id, err := a.client.CreateMultipartUpload(ctx, final, objectHeaders{contentType: contentType, metadata: meta})
	if err != nil {
		return translate(err, "complete %s", f.Path)
	}
	abort := func() { _ = a.abortUpload(context.WithoutCancel(ctx), final, id, f.Path) }
	cp, err := a.client.UploadPartCopy(ctx, final, id, 1, copySource{key: staging, ifMatch: etag})
	if err != nil {
		abort()
		if isPreconditionFailed(err) || isNotFound(err) {
			return gone // the staging object was replaced or removed meanwhile
		}
		return translate(err, "complete %s", f.Path)
	}
	_, err = a.client.CompleteMultipartUpload(ctx, final, id, []part{{number: 1, etag: cp}}, completeOptions{ifNoneMatch: "*", size: f.Size})
	if err != nil {
		abort()
		if isPreconditionFailed(err) { // another Complete wrote it first
			return a.existing(ctx, s, f, gone)
		}
		return translate(err, "complete %s", f.Path)
	}
	ho, err := a.client.HeadObject(ctx, final, false, "")
	if err != nil {
		return translate(err, "check %s", f.Path)
	}
	if got := ho.size; got != f.Size {
		return a.reject(ctx, final, f, fmt.Sprintf("size mismatch: declared %d bytes, stored %d", f.Size, got))
	}
	return nil
}

// completeMultipart checks the parts S3 lists, completes the upload at
// the final key and verifies the object.
func (a *Artifacts) completeMultipart(ctx context.Context, s registry.UploadSession, f registry.UploadFile) error {
	if f.BackendID == "" {
		return a.existing(ctx, s, f, registry.MissingParts(f.Path, nil, f.Parts))
	}
	gone := registry.Errorf(registry.Invalid, "file %s: its upload no longer exists (aborted or expired); send it again", f.Path)
	parts, err := a.listParts(ctx, s, f)
	if isCode(err, "NoSuchUpload") {
		return a.existing(ctx, s, f, gone)
	}
	if err != nil {
		return translate(err, "list parts of %s", f.Path)
	}
	byNumber := map[int]part{}
	var have []int
	for _, p := range parts {
		if n := p.number; n >= 1 && n <= f.Parts {
			byNumber[n] = p
			have = append(have, n)
		}
	}
	if err := registry.MissingParts(f.Path, sorted(have), f.Parts); err != nil {
		return err
	}
	done := make([]part, 0, f.Parts)
	for n := 1; n <= f.Parts; n++ {
		p := byNumber[n]
		if _, size := registry.PartRange(f.Size, f.PartSize, n); p.size != size {
			return registry.Errorf(registry.Invalid, "file %s: part %d has %d bytes, want %d", f.Path, n, p.size, size)
		}
		cp := part{number: p.number, etag: p.etag}
		if len(f.PartSHA256) > 0 {
			want := hexToBase64(strings.ToLower(f.PartSHA256[n-1]))
			if got := p.sha256; got != want {
				return registry.Errorf(registry.Invalid, "file %s: part %d has sha256 %s, want %s", f.Path, n, base64ToHex(got), base64ToHex(want))
			}
			cp.sha256 = p.sha256
		}
		done = append(done, cp)
	}
	final := a.finalKey(s.Model, s.Version, f.Path)
	_, err = a.client.CompleteMultipartUpload(ctx, final, f.BackendID, done, completeOptions{ifNoneMatch: "*", size: f.Size})
	switch {
	case isPreconditionFailed(err):
		// Something is stored there: this very file (our upload is then
		// useless) or another one (the upload stays for Abort).
		err := a.existing(ctx, s, f, registry.Errorf(registry.Unavailable, "file %s: the stored file changed while completing; try again", f.Path))
		if err == nil {
			return a.abortUpload(ctx, final, f.BackendID, f.Path)
		}
		return err
	case isCode(err, "NoSuchUpload"): // completed or aborted meanwhile
		return a.existing(ctx, s, f, gone)
	case isCode(err, "InvalidPart", "InvalidPartOrder", "EntityTooSmall", "BadDigest"):
		return registry.Wrap(registry.Invalid, err, "file %s: storage refused its parts", f.Path)
	case err != nil:
		return translate(err, "complete %s", f.Path)
	}
	ho, err := a.client.HeadObject(ctx, final, true, "")
	if err != nil {
		return translate(err, "check %s", f.Path)
	}
	return a.verify(ctx, final, f, ho, true)
}

// existing checks the object at f's final key: nil if it is f, Conflict
// if it is another file, absent if there is none.
func (a *Artifacts) existing(ctx context.Context, s registry.UploadSession, f registry.UploadFile, absent error) error {
	final := a.finalKey(s.Model, s.Version, f.Path)
	ho, err := a.client.HeadObject(ctx, final, true, "")
	if isNotFound(err) {
		return absent
	}
	if err != nil {
		return translate(err, "look up %s", f.Path)
	}
	conflict := func(why string) error {
		return registry.Errorf(registry.Conflict, "file %s: a different file is stored at that path (%s)", f.Path, why)
	}
	if got := ho.size; got != f.Size {
		return conflict(fmt.Sprintf("%d bytes, not %d", got, f.Size))
	}
	if got := metadata(ho.metadata, metaSHA256); got != f.SHA256 {
		if got == "" {
			return conflict("not stored by the registry")
		}
		return conflict("sha256 " + got)
	}
	if metadata(ho.metadata, metaVerified) != "" {
		return nil // verified before it was written
	}
	// Written by a multipart Complete that may have died before it had
	// verified the object: verify it now.
	return a.verify(ctx, final, f, ho, false)
}

// verify checks the object at key (described by ho), written by a
// multipart Complete of f, and deletes it if it is not f. fresh says that
// this upload, with f's parts, wrote it just now: its composite SHA-256
// can then be compared with f's part digests.
func (a *Artifacts) verify(ctx context.Context, key string, f registry.UploadFile, ho object, fresh bool) error {
	if got := ho.size; got != f.Size {
		return a.reject(ctx, key, f, fmt.Sprintf("size mismatch: declared %d bytes, stored %d", f.Size, got))
	}
	if got := ho.sha256; fresh && got != "" && len(f.PartSHA256) > 0 {
		if want := composite(f.PartSHA256); !sameComposite(got, want, f.Parts) {
			return a.reject(ctx, key, f, fmt.Sprintf("composite sha256 of its parts is %s, want %s-%d", got, want, f.Parts))
		}
	}
	if f.Size > a.hashLimit {
		return nil // Begin required part digests, which S3 enforced part by part
	}
	sum, err := a.hashObject(ctx, key, ho.etag, f.Size)
	if isPreconditionFailed(err) || isNotFound(err) {
		return registry.Wrap(registry.Unavailable, err, "file %s: the stored file changed while it was verified; try again", f.Path)
	}
	if err != nil {
		return translate(err, "verify %s", f.Path)
	}
	if sum != f.SHA256 {
		return a.reject(ctx, key, f, fmt.Sprintf("sha256 mismatch: declared %s, received %s", f.SHA256, sum))
	}
	return nil
}

// reject deletes the object at key, which failed verification, and
// returns Invalid saying why.
func (a *Artifacts) reject(ctx context.Context, key string, f registry.UploadFile, why string) error {
	if err := a.deleteObject(context.WithoutCancel(ctx), key, f.Path); err != nil {
		return err
	}
	return registry.Errorf(registry.Invalid, "file %s: %s", f.Path, why)
}

// composite is S3's composite SHA-256 of parts with these hex digests:
// the base64 SHA-256 of their concatenated raw digests.
func composite(parts []string) string {
	h := sha256.New()
	for _, p := range parts {
		b, _ := hex.DecodeString(strings.ToLower(p))
		h.Write(b)
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// sameComposite compares a composite checksum as S3 reports it ("digest"
// or "digest-N") with the expected digest of n parts.
func sameComposite(got, want string, n int) bool {
	digest, count, ok := strings.Cut(got, "-")
	if ok && count != strconv.Itoa(n) {
		return false
	}
	return digest == want
}

// metadata looks a user metadata key up regardless of case.
func metadata(m map[string]string, key string) string {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// base64ToHex shows a base64 digest as hex, for messages.
func base64ToHex(s string) string {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || s == "" {
		return "(none)"
	}
	return hex.EncodeToString(b)
}
