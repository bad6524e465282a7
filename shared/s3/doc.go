// Package s3 keeps artifacts in an S3 bucket (or an S3-compatible store
// such as MinIO): the production registry.Artifacts. Clients upload and
// download straight to and from S3 with presigned SigV4 requests; nothing
// passes through the API.
//
// # Key layout
//
//	<prefix><model>/<version>/<path>                 a completed file, never overwritten
//	<prefix>.uploads/<upload id>/<file key>          a single-part file waiting for Complete
//	<prefix>runs/<path>                              a run artifact file (tracking.Blobs)
//
// where <file key> is the first 32 hex digits of SHA-256(path). Model names
// start with a letter or digit, so ".uploads/" never meets a model. A
// multipart file's parts live in its S3 multipart upload (whose UploadId is
// UploadFile.BackendID), aimed at the final key: S3 shows none of it
// before CompleteMultipartUpload. A run file's multipart upload (MLflow's
// proxied multipart upload, blobparts.go) is aimed at its runs/ key the
// same way; its parts are presigned UploadParts of a size the client
// chooses, and once S3 joined them the object is read back (hashObject)
// for the SHA-256 the run's artifact index records.
//
// # Deletion
//
// RemoveVersion lists <prefix><model>/<version>/ (ListObjectsV2) and
// deletes each object with DeleteObject. On a bucket without versioning the
// files are gone; on a versioned bucket DeleteObject removes the current
// object (a delete marker takes its place) and the older object versions
// stay until the bucket's lifecycle rule expires them: give the bucket a
// rule that expires noncurrent versions (NoncurrentVersionExpiration, e.g.
// after 30 days) and removes expired delete markers. The service calls
// RemoveVersion after the version's tombstone has committed and again on
// every repeated delete, so an interruption between the two is healed by a
// retry. An in-flight upload of a version being deleted is aborted by the
// service (its session is marked ABORTED in the tombstone's transaction).
//
// # Uploads
//
// A single-part file is a presigned PutObject to its staging key; a
// multipart file is one presigned UploadPart per part. Every part request
// signs Content-Type (application/octet-stream) and Content-Length, so a
// body of another size or type is refused by S3 at once (Content-Length is
// not listed in PartRequest.Headers: HTTP clients derive it from the body).
// A part with a digest carries it as the signed header
// x-amz-checksum-sha256 (aws-sdk-go-v2's v4 signer, which awsapi
// presigns with, keeps X-Amz-Checksum-* headers signed instead of
// hoisting them into the query, the bug of aws/aws-sdk-go-v2#2610), and
// S3 refuses a body of another digest. A single-part file's part digest is the file's SHA-256, known
// from the start, so every single-part PUT carries it.
//
// # Integrity
//
// S3 can only compute a whole-object SHA-256 for an object written in one
// PUT; for multipart uploads SHA-256 is composite (a digest of the part
// digests), and S3's full-object checksums are CRC32, CRC32C and CRC64NVME
// only. The registry records, and downloaders verify, the whole-file
// SHA-256, so a CRC full-object checksum would prove nothing about it.
// Complete therefore checks:
//
//   - single-part files: S3 verified the SHA-256 of the staging object
//     when it was PUT (the signed checksum is the file's digest), and
//     Complete checks size and checksum with HeadObject before copying it
//     server-side, pinned to its ETag, to the final key. No byte is read.
//   - multipart files with part digests: the upload is created with
//     ChecksumAlgorithm SHA256, S3 refuses every part whose body does not
//     match its signed digest, Complete checks each listed part's size and
//     SHA-256 and, after completion, the composite SHA-256 of the object.
//     This is the per-part SHA-256 composite: it catches a corrupted part
//     when it is sent rather than at the end, and ties the stored object to
//     the declared parts.
//   - every multipart file up to the hash limit (WithHashLimit; by default
//     all of them): Complete reads the object back with parallel ranged
//     GETs pinned to its ETag and compares its SHA-256 with the declared
//     one, because nothing else proves the whole-file digest. Above the
//     limit, Begin requires part digests and the whole-file SHA-256 is
//     checked by the clients that download the file.
//
// Multipart uploads without part digests are created without a checksum
// algorithm: their presigned parts carry no checksum, and MinIO refuses a
// part without the upload's checksum ("checksum missing, want SHA256";
// AWS S3 is reported to compute it instead).
//
// # No overwrite
//
// Every write of a final key is conditional (If-None-Match: *), so a
// completed file is never replaced. MinIO at the pinned version honours
// If-None-Match on PutObject and CompleteMultipartUpload but ignores it on
// CopyObject (checked by this package's tests), so a single-part file is
// not copied with CopyObject: Complete creates a one-part multipart upload
// at the final key, fills it with UploadPartCopy from the staging object
// and completes it with If-None-Match: *. This works the same on S3 and
// MinIO, with no window between a check and the write. A multipart file is
// written by its own CompleteMultipartUpload with If-None-Match: *.
//
// Complete writes a multipart file to its final key before it has read it
// back: while it hashes, the object exists but is not yet verified (the
// version is not READY, so the service hands out no download of it). On a
// mismatch Complete deletes it before returning Invalid; if the process
// dies meanwhile, the next Complete finds an object marked as unverified
// (metadata modelreg-verified is absent) and verifies it again. So does a
// repeated Complete of a multipart file: idempotent, at the cost of one
// more read (single-part files carry the mark and cost one HeadObject).
//
// # Requests
//
// The adapter speaks S3's REST API itself (client.go, multipart.go) over
// a shared/awsapi client, which signs, sends and retries; it links none of
// aws-sdk-go-v2's service packages. On AWS's regional endpoint it names
// the bucket in the host (bucket.s3.REGION.amazonaws.com), elsewhere in
// the path; keys are escaped byte by byte as SigV4 canonicalizes S3's
// paths. CopyObject, UploadPartCopy and CompleteMultipartUpload can
// answer 200 with an <Error> body: that is an error like any other.
//
// # Errors
//
// S3 errors are translated at the boundary: NoSuchKey, NotFound and other
// 404s become NotFound; NoSuchUpload becomes Invalid (the upload was
// aborted, completed or expired: the client must start the file again, and
// the service answers Invalid from Complete by discarding and restarting
// the file); PreconditionFailed (a conditional write lost) becomes
// Conflict; SlowDown, 503 and other throttling become Unavailable;
// everything else is Internal with context.
//
// S3 cannot tell whether a part is being written, so Complete and Abort
// never answer Unavailable for that reason: a part that finishes after
// CompleteMultipartUpload or AbortMultipartUpload is discarded by S3.
//
// # Operations
//
// Presigned URLs die with the credentials that signed them (a Lambda
// role's last hours at most, whatever X-Amz-Expires says); the service's
// RefreshUpload presigns again. URLs last at most 7 days (SigV4).
//
// The adapter's role needs s3:PutObject, s3:GetObject, s3:DeleteObject,
// s3:ListMultipartUploadParts and s3:AbortMultipartUpload on <prefix>*,
// and s3:ListBucket on the bucket (limited to the prefix): without it S3
// answers 403 instead of 404 for a missing key. The bucket should have a lifecycle rule that aborts
// incomplete multipart uploads and expires <prefix>.uploads/ objects after
// a few days: uploads that are abandoned and never aborted leave them.
package s3
