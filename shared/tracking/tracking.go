// Package tracking holds the ports of MLflow's tracking records, which the
// MLflow compatibility layer (shared/mlflow) keeps apart from the
// registry's core records: experiments, runs, MLflow 3 logged models and the
// index of run artifact files, and the bytes of those files.
//
// Store is a small document store: each record is a JSON body under a kind
// and an id, listed by a parent (the experiment of a run, the directory of
// an artifact file) in a fixed sort order. Both registry stores implement
// it (SQLite: one table; DynamoDB: two items per record in the registry's
// table, the record and its listing entry, written in one transaction, so
// a listing is a strongly consistent Query of one partition and nothing
// needs a Scan). The contract suite is package trackingtest.
package tracking

import (
	"context"
	"io"
	"strings"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// Record kinds the MLflow layer uses. Kinds and ids never contain '#' or
// NUL (Write refuses them).
const (
	KindExperiment     = "experiment"
	KindExperimentName = "experiment_name" // id: the name; body: the experiment id
	KindRun            = "run"
	KindLoggedModel    = "logged_model"
	KindArtifact       = "artifact" // id: the full path; parent: its directory
	KindCounter        = "counter"  // id: what it counts; body: the last number
)

// MaxBodyBytes is the largest record body a Store takes (DynamoDB's item
// limit is 400 KB and a record is written twice).
const MaxBodyBytes = 300 << 10

// Record is one tracking record.
type Record struct {
	Kind string
	ID   string
	// Parent groups records for List ("" is a group too); Sort orders them
	// within it (then ID). Neither changes once the record is created: an
	// update giving others is Invalid.
	Parent string
	Sort   string
	// Revision is the revision the record will have once written: 1
	// creates it (Conflict wrapping registry.ErrStale if it exists), n>1
	// updates it (Conflict wrapping registry.ErrStale unless the stored
	// revision is n-1). 0 writes it unconditionally (creating or
	// replacing, keeping revision 0): for records that are replaced whole,
	// such as artifact index entries.
	Revision int64
	Body     []byte
}

// Store keeps tracking records. Reads are strongly consistent.
type Store interface {
	// Write writes recs atomically: all or nothing (at most 25 records).
	// Conflict wrapping registry.ErrStale when a revision condition fails;
	// Invalid for a malformed record (empty kind or id, '#' or NUL in them,
	// a body over MaxBodyBytes, a changed Parent or Sort, a negative
	// revision, two writes of one record, more than 25 records).
	Write(ctx context.Context, recs ...Record) error
	// Get returns the record kind/id. NotFound.
	Get(ctx context.Context, kind, id string) (Record, error)
	// List returns the records of kind under parent ordered by (Sort, ID),
	// from the cursor of a previous page ("" for the first). Limit 1..1000,
	// else Invalid; Invalid for a malformed cursor.
	List(ctx context.Context, kind, parent, cursor string, limit int) (registry.Page[Record], error)
}

// MaxWrite is the most records one Write takes.
const MaxWrite = 25

// Blob is a stored run artifact file.
type Blob struct {
	Size   int64
	SHA256 string // lowercase hex
}

// Blobs stores the bytes of run artifact files (the mlflow-artifacts
// proxy) under keys of the form "runs/<path>". Both artifact backends
// implement it beside registry.Artifacts (filesystem: files under the
// root's runs/ directory; S3: objects under the prefix's runs/ keys), so
// the registry's version files and the run files live in one store but
// never share keys.
type Blobs interface {
	// PutBlob streams r to key, replacing any file there once the whole
	// body arrived (a failed or cut upload leaves the old one), and returns
	// its size and SHA-256. size is the length the caller announced (-1 if
	// unknown); a body of another length is Invalid and nothing is stored.
	// Invalid for a bad key.
	PutBlob(ctx context.Context, key string, r io.Reader, size int64) (Blob, error)
	// OpenBlob opens key for reading from offset. NotFound.
	OpenBlob(ctx context.Context, key string, offset int64) (io.ReadCloser, error)

	// Multipart uploads (MLflow's proxied multipart upload): the client
	// sends the parts straight to storage through presigned requests, and
	// neither the file's size nor its digest is known before it is
	// complete.
	//
	// CreateBlobUpload starts an upload of a file of parts parts
	// (1..registry.MaxParts) to key and returns its id. Invalid.
	CreateBlobUpload(ctx context.Context, key string, parts int) (string, error)
	// PresignBlobPart returns the request that uploads part n of upload id
	// of key, valid until expires. A part may have any size up to
	// registry.MaxPartSize (on S3 every part but the last needs 5 MiB or
	// more); the response to it carries the part's ETag. Invalid; NotFound
	// for an unknown, completed or aborted upload.
	PresignBlobPart(ctx context.Context, key, id string, n int, expires time.Time) (registry.PartRequest, error)
	// CompleteBlobUpload joins parts 1..parts of upload id into the file
	// at key, replacing any file there once the whole file is in place,
	// and returns its size and SHA-256 (hashed as the parts are joined, or
	// read back). parts lists every part in order with the ETag its upload
	// answered ("" accepts any). Invalid naming the parts missing or
	// mismatched (the upload stays, so they can be sent again); NotFound
	// for an unknown, completed or aborted upload.
	CompleteBlobUpload(ctx context.Context, key, id string, parts []BlobPart) (Blob, error)
	// AbortBlobUpload discards upload id of key and its parts; an unknown,
	// completed or aborted upload is not an error. Invalid.
	AbortBlobUpload(ctx context.Context, key, id string) error
}

// BlobPart is one uploaded part of a multipart blob upload.
type BlobPart struct {
	Number int
	ETag   string // as the part's upload answered it, quotes and all
}

// CheckBlobParts checks that parts are numbered 1..len(parts) in order
// and that there are want of them; Invalid otherwise.
func CheckBlobParts(parts []BlobPart, want int) error {
	if len(parts) != want {
		return registry.Errorf(registry.Invalid, "the upload has %d parts; %d were listed", want, len(parts))
	}
	for i, p := range parts {
		if p.Number != i+1 {
			return registry.Errorf(registry.Invalid, "parts must be listed in order from 1: part %d is listed %d", p.Number, i+1)
		}
	}
	return nil
}

// Object is a run artifact object that an MLflow client wrote straight to
// the artifact store (see Objects).
type Object struct {
	Key  string // "runs/<path>", as Blobs keys are
	Size int64
	ETag string // the object's ETag when listed
}

// Objects is the S3 artifact backend's side for MLflow clients that write
// run artifacts themselves (MODELREG_MLFLOW_ARTIFACTS=s3): a run's
// artifact location is BlobURI("runs/<experiment>/<run>/artifacts"), the
// keys Blobs uses, so both kinds of files share one layout. Such objects
// are not hashed on the way in: registering a version from them reads
// each one back (HashObject) and copies it server-side (CopyObject) into
// the version's upload, pinned to the ETag that was hashed.
type Objects interface {
	// BlobURI is the s3:// URI of key ("runs/…"; not checked).
	BlobURI(key string) string
	// BlobKey is the key ("runs/…") that an s3:// URI names; ok is false
	// for another bucket, or a key outside the prefix's runs/.
	BlobKey(uri string) (key string, ok bool)
	// ListObjects returns every object under dir+"/" (dir is a key,
	// "runs/…"), following every page, in key order; keys ending in "/"
	// (folder markers) are left out. Invalid for a bad dir or when there
	// are more than limit.
	ListObjects(ctx context.Context, dir string, limit int) ([]Object, error)
	// HashObject reads o back and returns its SHA-256 (lowercase hex).
	// Unavailable when o changed (another ETag) or went meanwhile.
	HashObject(ctx context.Context, o Object) (string, error)
	// CopyObject copies o, pinned to o.ETag, server-side into file f of
	// upload session s, as a client would send f's parts (one CopyObject
	// for a single-part file, an UploadPartCopy per part otherwise), so
	// that the registry's Complete verifies it as any upload. Unavailable
	// when o changed or went meanwhile.
	CopyObject(ctx context.Context, o Object, s registry.UploadSession, f registry.UploadFile) error
}

// CheckWrite refuses what Write refuses as Invalid; stores call it first.
func CheckWrite(recs []Record) error {
	if len(recs) == 0 || len(recs) > MaxWrite {
		return registry.Errorf(registry.Invalid, "a write takes 1 to %d records, got %d", MaxWrite, len(recs))
	}
	seen := make(map[[2]string]bool, len(recs))
	for _, r := range recs {
		if r.Kind == "" || r.ID == "" || strings.ContainsAny(r.Kind+r.ID+r.Parent, "#\x00") || strings.Contains(r.Sort, "\x00") {
			return registry.Errorf(registry.Invalid, "tracking record %q/%q: kind and id must be non-empty, without '#' or NUL", r.Kind, r.ID)
		}
		if len(r.ID) > 1024 || len(r.Parent) > 1024 || len(r.Sort) > 256 {
			return registry.Errorf(registry.Invalid, "tracking record %s: id or parent over 1024 bytes, or sort over 256", r.Kind)
		}
		if len(r.Body) > MaxBodyBytes {
			return registry.Errorf(registry.Invalid, "tracking record %s %s: body of %d bytes is over %d", r.Kind, r.ID, len(r.Body), MaxBodyBytes)
		}
		if r.Revision < 0 {
			return registry.Errorf(registry.Invalid, "tracking record %s %s: negative revision", r.Kind, r.ID)
		}
		k := [2]string{r.Kind, r.ID}
		if seen[k] {
			return registry.Errorf(registry.Invalid, "tracking record %s %s written twice in one write", r.Kind, r.ID)
		}
		seen[k] = true
	}
	return nil
}
