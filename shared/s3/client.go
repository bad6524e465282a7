package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/modelreg/modelreg/shared/awsapi"
)

// Service is S3 as awsapi signs it: pass it to awsapi.New for the client
// of New.
var Service = awsapi.Service{SigningName: "s3", EndpointPrefix: "s3", EnvName: "S3", S3: true}

// client is the part of S3's REST API the adapter calls, on one bucket.
// Its methods are named after the S3 operations they send (the stack's
// grant test reads them: infra/grants_test.go).
type client struct {
	api    *awsapi.Client
	bucket string
	// virtualHost addresses the bucket as a host (bucket.s3.REGION.amazonaws.com)
	// rather than as the path's first segment.
	virtualHost bool
}

// virtualHosted reports whether requests to bucket at endpoint name the
// bucket in the host, as the SDK does by default: on AWS's own regional
// endpoint (https://s3.REGION.amazonaws.com) for a bucket whose name is a
// DNS label that TLS certificates cover (no dots). Any other endpoint (MinIO,
// another S3 clone) gets path-style requests (/bucket/key).
func virtualHosted(endpoint *url.URL, bucket string) bool {
	host := endpoint.Host
	aws := endpoint.Scheme == "https" && endpoint.Port() == "" && strings.HasPrefix(host, "s3.") &&
		(strings.HasSuffix(host, ".amazonaws.com") || strings.HasSuffix(host, ".amazonaws.com.cn"))
	return aws && dnsLabel(bucket)
}

// dnsLabel reports whether a bucket name can be the first label of a host:
// 3 to 63 lowercase letters, digits and hyphens, starting and ending with
// a letter or digit, and not an IP address.
func dnsLabel(b string) bool {
	if len(b) < 3 || len(b) > 63 || b[0] == '-' || b[len(b)-1] == '-' || net.ParseIP(b) != nil {
		return false
	}
	for i := 0; i < len(b); i++ {
		if c := b[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// escapeKey escapes an object key for a request path as SigV4 canonicalizes
// S3's: every byte but A-Z a-z 0-9 - _ . ~ and / as %XX.
func escapeKey(key string) string { return awsapi.Escape(key, "-_.~/") }

// request is one request for key ("" for the bucket itself).
func (c *client) request(method, key string, query url.Values) awsapi.Request {
	r := awsapi.Request{Method: method, Query: query, Header: http.Header{}}
	if c.virtualHost {
		r.Host = c.bucket + "." + c.api.Endpoint().Host
		r.Path = "/" + escapeKey(key)
	} else {
		r.Path = "/" + escapeKey(c.bucket)
		if key != "" {
			r.Path += "/" + escapeKey(key)
		}
	}
	return r
}

// do sends r and discards the answer's body.
func (c *client) do(ctx context.Context, r awsapi.Request) (http.Header, error) {
	resp, err := c.api.Do(ctx, r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return nil, fmt.Errorf("s3: read the answer: %w", err)
	}
	return resp.Header, nil
}

// withBody gives r a body of b (rewindable, so retried like any request)
// with hash as its payload hash.
func withBody(r awsapi.Request, b []byte, hash string) awsapi.Request {
	r.Body, r.ContentLength, r.PayloadHash = bytes.NewReader(b), int64(len(b)), hash
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return r
}

// objectHeaders are the headers of a new object (PutObject,
// CreateMultipartUpload, CopyObject with the REPLACE directive).
type objectHeaders struct {
	contentType string
	metadata    map[string]string
	// ifNoneMatch "*" writes only where no object is.
	ifNoneMatch string
	// sha256 asks S3 for SHA-256 checksums (x-amz-checksum-algorithm).
	sha256 bool
}

func (h objectHeaders) set(hd http.Header) {
	if h.contentType != "" {
		hd.Set("Content-Type", h.contentType)
	}
	for k, v := range h.metadata {
		hd.Set("X-Amz-Meta-"+k, v)
	}
	if h.ifNoneMatch != "" {
		hd.Set("If-None-Match", h.ifNoneMatch)
	}
	if h.sha256 {
		hd.Set("X-Amz-Checksum-Algorithm", "SHA256")
	}
}

// object is what HeadObject tells of an object.
type object struct {
	size   int64
	etag   string
	sha256 string // base64, when asked for and known
	// checksumType is COMPOSITE or FULL_OBJECT.
	checksumType string
	metadata     map[string]string
}

// checksumComposite is the checksum type of a multipart object's SHA-256.
const checksumComposite = "COMPOSITE"

// HeadObject describes the object at key; checksums asks for its
// checksum, ifMatch (if set) requires its ETag.
func (c *client) HeadObject(ctx context.Context, key string, checksums bool, ifMatch string) (object, error) {
	r := c.request(http.MethodHead, key, nil)
	if checksums {
		r.Header.Set("X-Amz-Checksum-Mode", "ENABLED")
	}
	if ifMatch != "" {
		r.Header.Set("If-Match", ifMatch)
	}
	h, err := c.do(ctx, r)
	if err != nil {
		return object{}, err
	}
	o := object{etag: h.Get("ETag"), sha256: h.Get("X-Amz-Checksum-Sha256"), checksumType: h.Get("X-Amz-Checksum-Type"), metadata: map[string]string{}}
	if o.size, err = strconv.ParseInt(h.Get("Content-Length"), 10, 64); err != nil {
		return object{}, fmt.Errorf("s3: HeadObject %s: Content-Length %q", key, h.Get("Content-Length"))
	}
	for k, vs := range h {
		if m, ok := strings.CutPrefix(k, "X-Amz-Meta-"); ok && len(vs) > 0 {
			o.metadata[strings.ToLower(m)] = vs[0]
		}
	}
	return o, nil
}

// GetObject opens the object at key (rng, if set, is a Range header such
// as "bytes=0-99"; ifMatch, if set, its required ETag). The body streams,
// byte for byte as stored.
func (c *client) GetObject(ctx context.Context, key, rng, ifMatch string) (io.ReadCloser, error) {
	r := c.request(http.MethodGet, key, nil)
	// The object's bytes as stored: without this, Go's transport asks for
	// gzip and decompresses an object stored with Content-Encoding: gzip
	// (the SDK sends identity too).
	r.Header.Set("Accept-Encoding", "identity")
	if rng != "" {
		r.Header.Set("Range", rng)
	}
	if ifMatch != "" {
		r.Header.Set("If-Match", ifMatch)
	}
	resp, err := c.api.Do(ctx, r)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// PutObject writes body, whose hex SHA-256 is sum ("" for no bytes), to
// key; the signature covers the digest, so S3 refuses other bytes.
func (c *client) PutObject(ctx context.Context, key string, body []byte, sum string, h objectHeaders) error {
	r := withBody(c.request(http.MethodPut, key, nil), body, sum)
	h.set(r.Header)
	_, err := c.do(ctx, r)
	return err
}

// CopyObject copies src to key, with h replacing the source's headers and
// metadata; S3 can answer 200 with an error.
func (c *client) CopyObject(ctx context.Context, key string, src copySource, h objectHeaders) error {
	r := c.request(http.MethodPut, key, nil)
	c.setCopySource(r.Header, src)
	h.set(r.Header)
	r.Header.Set("X-Amz-Metadata-Directive", "REPLACE")
	var out struct {
		ETag string `xml:"ETag"`
	}
	return c.xmlResult(ctx, r, "CopyObjectResult", &out)
}

// DeleteObject deletes key (no object there is no error on S3).
func (c *client) DeleteObject(ctx context.Context, key string) error {
	_, err := c.do(ctx, c.request(http.MethodDelete, key, nil))
	return err
}

// copySource is the source of a server-side copy.
type copySource struct {
	key     string
	ifMatch string // required ETag, if set
	rng     string // "bytes=FIRST-LAST", if set (UploadPartCopy only)
}

// setCopySource adds x-amz-copy-source (the bucket and key, URL-escaped
// like a path) and its conditions.
func (c *client) setCopySource(h http.Header, s copySource) {
	h.Set("X-Amz-Copy-Source", escapeKey(c.bucket+"/"+s.key))
	if s.ifMatch != "" {
		h.Set("X-Amz-Copy-Source-If-Match", s.ifMatch)
	}
	if s.rng != "" {
		h.Set("X-Amz-Copy-Source-Range", s.rng)
	}
}

// xmlResult sends r and decodes the XML answer, whose root must be root,
// into out. S3 answers some operations (CopyObject, UploadPartCopy,
// CompleteMultipartUpload) 200 and then an <Error> body: that is an error
// like any other, retried by awsapi when it says so.
func (c *client) xmlResult(ctx context.Context, r awsapi.Request, root string, out any) error {
	return c.api.DoRead(ctx, r, func(resp *http.Response) error {
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxXMLAnswer))
		if err != nil {
			return &awsapi.TransportError{Service: Service.SigningName, Err: fmt.Errorf("read the answer: %w", err)}
		}
		var start struct{ XMLName xml.Name }
		if err := xml.Unmarshal(body, &start); err != nil {
			return fmt.Errorf("s3: answer to %s %s: %w", r.Method, r.Path, err)
		}
		switch start.XMLName.Local {
		case root:
			if err := xml.Unmarshal(body, out); err != nil {
				return fmt.Errorf("s3: answer to %s %s: %w", r.Method, r.Path, err)
			}
			return nil
		case "Error":
			return errorIn200(resp, body)
		}
		return fmt.Errorf("s3: answer to %s %s: <%s>, want <%s>", r.Method, r.Path, start.XMLName.Local, root)
	})
}

// maxXMLAnswer bounds the XML answers read (a ListParts page of 1,000
// parts is about 300 KB).
const maxXMLAnswer = 16 << 20

// errorIn200 is the error of a 200 answer whose body is S3's <Error>.
func errorIn200(resp *http.Response, body []byte) error {
	var e struct {
		Code      string `xml:"Code"`
		Message   string `xml:"Message"`
		RequestID string `xml:"RequestId"`
	}
	_ = xml.Unmarshal(body, &e)
	if e.Code == "" {
		e.Code = "InternalError"
	}
	id := resp.Header.Get("X-Amz-Request-Id")
	if id == "" {
		id = e.RequestID
	}
	return &awsapi.Error{Service: Service.SigningName, Code: e.Code, Message: e.Message, StatusCode: resp.StatusCode, RequestID: id, Body: body}
}

// sha256Hex is the hex SHA-256 of b.
func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// listed is one object ListObjectsV2 lists.
type listed struct {
	key  string
	size int64
	etag string
}

// objectsPage is one page of ListObjectsV2.
type objectsPage struct {
	objects []listed
	// next is the ContinuationToken of the next page, "" after the last.
	next string
}

// ListObjectsV2 lists the objects under prefix after the page token ("" from
// the first), at most max a page (0: S3's 1,000). Keys come URL-encoded
// (encoding-type=url), so that any key survives XML.
func (c *client) ListObjectsV2(ctx context.Context, prefix, token string, max int) (objectsPage, error) {
	q := url.Values{"list-type": {"2"}, "prefix": {prefix}, "encoding-type": {"url"}}
	if token != "" {
		q.Set("continuation-token", token)
	}
	if max > 0 {
		q.Set("max-keys", strconv.Itoa(max))
	}
	var out struct {
		IsTruncated           bool   `xml:"IsTruncated"`
		NextContinuationToken string `xml:"NextContinuationToken"`
		EncodingType          string `xml:"EncodingType"`
		Contents              []struct {
			Key  string `xml:"Key"`
			Size int64  `xml:"Size"`
			ETag string `xml:"ETag"`
		} `xml:"Contents"`
	}
	if err := c.xmlResult(ctx, c.request(http.MethodGet, "", q), "ListBucketResult", &out); err != nil {
		return objectsPage{}, err
	}
	p := objectsPage{objects: make([]listed, len(out.Contents))}
	for i, o := range out.Contents {
		key := o.Key
		if out.EncodingType == "url" {
			k, err := url.QueryUnescape(key)
			if err != nil {
				return objectsPage{}, fmt.Errorf("s3: ListObjectsV2 %s: key %q: %w", prefix, key, err)
			}
			key = k
		}
		p.objects[i] = listed{key: key, size: o.Size, etag: o.ETag}
	}
	if out.IsTruncated && out.NextContinuationToken != token {
		p.next = out.NextContinuationToken
	}
	return p, nil
}

// HeadBucket checks that the bucket exists and may be used.
func (c *client) HeadBucket(ctx context.Context) error {
	_, err := c.do(ctx, c.request(http.MethodHead, "", nil))
	return err
}

// CreateBucket creates the bucket, with no CreateBucketConfiguration (as
// the adapter always did: what MinIO and us-east-1 take).
func (c *client) CreateBucket(ctx context.Context) error {
	_, err := c.do(ctx, c.request(http.MethodPut, "", nil))
	return err
}
