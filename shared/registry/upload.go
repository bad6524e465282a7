package registry

import (
	"strconv"
	"time"
)

// UploadStatus is the state of an upload session.
type UploadStatus string

// Upload session statuses.
const (
	UploadOpen      UploadStatus = "OPEN"
	UploadCompleted UploadStatus = "COMPLETED"
	UploadAborted   UploadStatus = "ABORTED"
	// UploadExpiring is a session SweepUploads expired whose partial
	// uploads are not yet all discarded; the next sweep finishes it.
	UploadExpiring UploadStatus = "EXPIRING"
	// UploadExpired is an abandoned session whose partial uploads are
	// discarded.
	UploadExpired UploadStatus = "EXPIRED"
	// UploadVerifying: completed by the client, its files being verified
	// in the background (the version is VERIFYING). Nothing more can be
	// sent; it ends COMPLETED or ABORTED.
	UploadVerifying UploadStatus = "VERIFYING"
)

// Part sizes. S3 needs 5 MiB..5 GiB per part (the last may be smaller) and at
// most 10,000 parts; files up to SinglePartMax go in one PUT, larger ones
// in parallel parts.
const (
	MinPartSize     int64 = 5 << 20
	MaxPartSize     int64 = 5 << 30
	DefaultPartSize int64 = 16 << 20
	MaxParts              = 10000
	SinglePartMax   int64 = 16 << 20
	// MaxFileSize is the largest artifact file (S3's object limit).
	MaxFileSize int64 = 5 << 40
)

// PartSize returns the part size used for a file of the given size when the
// client does not choose one: one part up to SinglePartMax, else
// DefaultPartSize grown (in whole MiB) until the file fits in MaxParts parts.
// A 100 GiB file gets 16 MiB parts (6,400 of them); a 5 TiB one 525 MiB parts.
func PartSize(size int64) int64 {
	if size <= SinglePartMax {
		if size == 0 {
			return 1
		}
		return size
	}
	ps := DefaultPartSize
	if min := (size + MaxParts - 1) / MaxParts; min > ps {
		const mib = 1 << 20
		ps = (min + mib - 1) / mib * mib
	}
	return ps
}

// PartCount is the number of parts of a file of size bytes cut in partSize pieces
// (1 for an empty file).
func PartCount(size, partSize int64) int {
	if size == 0 {
		return 1
	}
	return int((size + partSize - 1) / partSize)
}

// PartRange returns the offset and length of part n (1-based).
func PartRange(size, partSize int64, n int) (offset, length int64) {
	offset = int64(n-1) * partSize
	length = partSize
	if offset+length > size {
		length = size - offset
	}
	return offset, length
}

// UploadFile is one file of an upload session.
type UploadFile struct {
	Path     string
	Size     int64
	SHA256   string // lowercase hex of the whole file
	PartSize int64
	Parts    int
	// PartSHA256 optionally holds the lowercase hex SHA-256 of each part; when
	// given, each part's URL only accepts a body with that digest.
	PartSHA256 []string
	// BackendID is the adapter's handle for the file's upload (an S3
	// multipart UploadId); empty for the filesystem.
	BackendID string
	Completed bool
}

// Multipart reports whether the file goes up in more than one part.
func (f UploadFile) Multipart() bool { return f.Parts > 1 }

// UploadSession is an upload of a version's artifacts in progress.
type UploadSession struct {
	ID        string
	Model     string
	Version   int
	Status    UploadStatus
	Files     []UploadFile
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
	// ExpiresAt is when the session's URLs stop working; refresh extends it.
	ExpiresAt time.Time
	Revision  int64
}

// PartRequest is the HTTP request a client makes to upload one part: it
// sends exactly Method, URL and Headers (checksum headers are signed), with
// a body of Size bytes (Content-Length, which may be signed too).
type PartRequest struct {
	Number  int
	Method  string
	URL     string
	Headers map[string]string
	Offset  int64
	Size    int64
}

// IdempotencyRecord remembers the response to a write made with an
// Idempotency-Key so that a retry gets the same response.
type IdempotencyRecord struct {
	// Key is scoped by the caller: principal, method, path and the header value.
	Key string
	// RequestHash is the SHA-256 of the request (method, path, body).
	RequestHash string
	// Response is what Idempotency.Render made of the result: opaque bytes
	// the caller replays (stores keep them byte for byte).
	Response  []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// LegacyIdempotencyResponse is the Response of a record written before
// responses became opaque (stores kept the status and the body apart then):
// the status line and the body, as the API stores responses now. Stores
// call it when they read such a record, so a retry within the record's
// lifetime across an upgrade still replays the first answer.
func LegacyIdempotencyResponse(status int, body []byte) []byte {
	return append(strconv.AppendInt(nil, int64(status), 10), append([]byte("\n"), body...)...)
}
