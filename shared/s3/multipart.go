package s3

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/modelreg/modelreg/shared/awsapi"
)

// The multipart upload operations of client.

// part is one part of a multipart upload, as ListParts lists it or as
// CompleteMultipartUpload takes it.
type part struct {
	number int
	etag   string
	size   int64
	sha256 string // base64, if the upload has SHA-256 checksums
}

// CreateMultipartUpload starts a multipart upload at key and returns its
// UploadId.
func (c *client) CreateMultipartUpload(ctx context.Context, key string, h objectHeaders) (string, error) {
	r := c.request(http.MethodPost, key, url.Values{"uploads": {""}})
	h.set(r.Header)
	var out struct {
		UploadID string `xml:"UploadId"`
	}
	if err := c.xmlResult(ctx, r, "InitiateMultipartUploadResult", &out); err != nil {
		return "", err
	}
	if out.UploadID == "" {
		return "", fmt.Errorf("s3: CreateMultipartUpload %s: no UploadId in the answer", key)
	}
	return out.UploadID, nil
}

// UploadPart sends part n of upload id of key: size bytes of body,
// streamed with an unsigned payload. A body that is an io.ReaderAt and
// io.Seeker (a bytes.Reader, a file) is read afresh from where it started
// if a try fails; any other is sent once. It returns the part's ETag.
func (c *client) UploadPart(ctx context.Context, key, id string, n int, body io.Reader, size int64) (string, error) {
	r := c.request(http.MethodPut, key, partQuery(id, n))
	r.Body, r.ContentLength, r.PayloadHash = body, size, awsapi.UnsignedPayload
	ra, okAt := body.(io.ReaderAt)
	s, okSeek := body.(io.Seeker)
	if okAt && okSeek {
		if start, err := s.Seek(0, io.SeekCurrent); err == nil {
			// A new reader for each try: a failed try's transport may
			// still be reading the one before.
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(io.NewSectionReader(ra, start, size)), nil }
		}
	}
	h, err := c.do(ctx, r)
	if err != nil {
		return "", err
	}
	return h.Get("ETag"), nil
}

// UploadPartCopy fills part n of upload id of key from src server-side
// and returns the part's ETag; S3 can answer 200 with an error.
func (c *client) UploadPartCopy(ctx context.Context, key, id string, n int, src copySource) (string, error) {
	r := c.request(http.MethodPut, key, partQuery(id, n))
	c.setCopySource(r.Header, src)
	var out struct {
		ETag string `xml:"ETag"`
	}
	if err := c.xmlResult(ctx, r, "CopyPartResult", &out); err != nil {
		return "", err
	}
	if out.ETag == "" {
		return "", fmt.Errorf("s3: UploadPartCopy %s part %d: no ETag in the answer", key, n)
	}
	return out.ETag, nil
}

func partQuery(id string, n int) url.Values {
	return url.Values{"partNumber": {strconv.Itoa(n)}, "uploadId": {id}}
}

// completeOptions are the conditions of CompleteMultipartUpload.
type completeOptions struct {
	ifNoneMatch string // "*": only where no object is
	size        int64  // if > 0, the object's size S3 must find (x-amz-mp-object-size)
}

// completeRequest is CompleteMultipartUpload's body.
type completeRequest struct {
	XMLName xml.Name        `xml:"http://s3.amazonaws.com/doc/2006-03-01/ CompleteMultipartUpload"`
	Parts   []completedPart `xml:"Part"`
}

type completedPart struct {
	ETag           string `xml:"ETag"`
	PartNumber     int    `xml:"PartNumber"`
	ChecksumSHA256 string `xml:"ChecksumSHA256,omitempty"`
}

// CompleteMultipartUpload joins parts of upload id into the object at key
// and returns its ETag. S3 can answer 200 and then an error (the answer
// starts before the work ends): that is an error like any other.
func (c *client) CompleteMultipartUpload(ctx context.Context, key, id string, parts []part, o completeOptions) (string, error) {
	in := completeRequest{Parts: make([]completedPart, len(parts))}
	for i, p := range parts {
		in.Parts[i] = completedPart{ETag: p.etag, PartNumber: p.number, ChecksumSHA256: p.sha256}
	}
	body, err := xml.Marshal(in)
	if err != nil {
		return "", fmt.Errorf("s3: encode CompleteMultipartUpload: %w", err)
	}
	r := withBody(c.request(http.MethodPost, key, url.Values{"uploadId": {id}}), body, sha256Hex(body))
	r.Header.Set("Content-Type", "application/xml")
	if o.ifNoneMatch != "" {
		r.Header.Set("If-None-Match", o.ifNoneMatch)
	}
	if o.size > 0 {
		r.Header.Set("X-Amz-Mp-Object-Size", strconv.FormatInt(o.size, 10))
	}
	var out struct {
		ETag string `xml:"ETag"`
	}
	if err := c.xmlResult(ctx, r, "CompleteMultipartUploadResult", &out); err != nil {
		return "", err
	}
	return out.ETag, nil
}

// AbortMultipartUpload aborts upload id of key.
func (c *client) AbortMultipartUpload(ctx context.Context, key, id string) error {
	_, err := c.do(ctx, c.request(http.MethodDelete, key, url.Values{"uploadId": {id}}))
	return err
}

// partsPage is one page of ListParts.
type partsPage struct {
	parts []part
	// next is the PartNumberMarker of the next page, "" after the last.
	next string
}

// ListParts lists the parts of upload id of key after part number marker
// ("" from the first), at most max (0: S3's 1,000).
func (c *client) ListParts(ctx context.Context, key, id, marker string, max int) (partsPage, error) {
	q := url.Values{"uploadId": {id}}
	if marker != "" {
		q.Set("part-number-marker", marker)
	}
	if max > 0 {
		q.Set("max-parts", strconv.Itoa(max))
	}
	var out struct {
		IsTruncated          bool   `xml:"IsTruncated"`
		NextPartNumberMarker string `xml:"NextPartNumberMarker"`
		Parts                []struct {
			PartNumber     int    `xml:"PartNumber"`
			ETag           string `xml:"ETag"`
			Size           int64  `xml:"Size"`
			ChecksumSHA256 string `xml:"ChecksumSHA256"`
		} `xml:"Part"`
	}
	if err := c.xmlResult(ctx, c.request(http.MethodGet, key, q), "ListPartsResult", &out); err != nil {
		return partsPage{}, err
	}
	p := partsPage{parts: make([]part, len(out.Parts))}
	for i, x := range out.Parts {
		p.parts[i] = part{number: x.PartNumber, etag: x.ETag, size: x.Size, sha256: x.ChecksumSHA256}
	}
	if out.IsTruncated && out.NextPartNumberMarker != marker {
		p.next = out.NextPartNumberMarker
	}
	return p, nil
}
