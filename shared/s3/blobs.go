package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/tracking"
)

var _ tracking.Blobs = (*Artifacts)(nil)

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
	var uploadID *string
	var parts []types.CompletedPart
	abort := func() {
		if uploadID != nil {
			_ = a.abortUpload(context.WithoutCancel(ctx), k, *uploadID, key)
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
		if last && uploadID == nil {
			if size >= 0 && total != size {
				return tracking.Blob{}, registry.Errorf(registry.Invalid, "upload of %s: got %d bytes, announced %d", key, total, size)
			}
			_, err := a.client.PutObject(ctx, &awss3.PutObjectInput{Bucket: &a.bucket, Key: &k, Body: bytes.NewReader(buf[:n]),
				ContentLength: aws.Int64(int64(n)), ContentType: aws.String(contentType),
				Metadata: map[string]string{metaSHA256: hex.EncodeToString(h.Sum(nil))}})
			if err != nil {
				return tracking.Blob{}, translate(err, "store run artifact %s", key)
			}
			break
		}
		if uploadID == nil {
			out, err := a.client.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: &a.bucket, Key: &k, ContentType: aws.String(contentType)})
			if err != nil {
				return tracking.Blob{}, translate(err, "store run artifact %s", key)
			}
			uploadID = out.UploadId
		}
		if n > 0 || len(parts) == 0 {
			num := int32(len(parts) + 1)
			out, err := a.client.UploadPart(ctx, &awss3.UploadPartInput{Bucket: &a.bucket, Key: &k, UploadId: uploadID, PartNumber: aws.Int32(num),
				Body: bytes.NewReader(buf[:n]), ContentLength: aws.Int64(int64(n))})
			if err != nil {
				abort()
				return tracking.Blob{}, translate(err, "store run artifact %s: part %d", key, num)
			}
			parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num)})
		}
		if last {
			if size >= 0 && total != size {
				abort()
				return tracking.Blob{}, registry.Errorf(registry.Invalid, "upload of %s: got %d bytes, announced %d", key, total, size)
			}
			_, err := a.client.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: &a.bucket, Key: &k, UploadId: uploadID,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
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
	in := &awss3.GetObjectInput{Bucket: &a.bucket, Key: &k}
	if offset > 0 {
		in.Range = aws.String("bytes=" + strconv.FormatInt(offset, 10) + "-")
	}
	out, err := a.client.GetObject(ctx, in)
	if err != nil {
		if isNotFound(err) || isCode(err, "NoSuchKey") {
			return nil, registry.Errorf(registry.NotFound, "no run artifact %s", key)
		}
		return nil, translate(err, "read run artifact %s", key)
	}
	return out.Body, nil
}
