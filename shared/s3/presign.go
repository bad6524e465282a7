package s3

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// maxExpiry is the longest a SigV4 presigned URL may live.
const maxExpiry = 7 * 24 * time.Hour

// presigned is a presigned request: what the client must send.
type presigned struct {
	method  string
	url     string
	headers map[string]string
}

// window returns the time to sign at and the lifetime that make a URL
// expire at expires (to the second, never later). A URL's expiry is its
// signing time plus X-Amz-Expires (whole seconds), so signing at a chosen
// time makes it expire exactly when asked, even when that is in the past
// (S3 then refuses it, as it should). Beyond 7 days it is Internal: the
// service chose the expiry (its TTL settings are wrong).
func (a *Artifacts) window(expires time.Time) (time.Time, time.Duration, error) {
	at := a.now().UTC().Truncate(time.Second)
	end := expires.UTC().Truncate(time.Second)
	life := end.Sub(at)
	if life < time.Second { // already expired: sign so that it ended at expires
		at, life = end.Add(-time.Second), time.Second
	}
	if life > maxExpiry {
		return time.Time{}, 0, registry.Errorf(registry.Internal, "presigned URLs last at most %s; %s asked", maxExpiry, life)
	}
	return at, life, nil
}

// presignPut presigns the PutObject of length bytes (0: not signed) with
// SHA-256 checksum (base64) to key.
func (a *Artifacts) presignPut(ctx context.Context, key string, length int64, checksum string, expires time.Time) (*presigned, error) {
	at, life, err := a.window(expires)
	if err != nil {
		return nil, err
	}
	p, err := a.client.PresignPutObject(ctx, key, length, checksum, at, life)
	if err != nil {
		return nil, registry.Wrap(registry.Internal, err, "presign upload of %s", key)
	}
	return p, nil
}

// presignUploadPart presigns UploadPart n of upload id of key: length
// bytes (0: not signed), with SHA-256 checksum (base64) if not "".
func (a *Artifacts) presignUploadPart(ctx context.Context, key, id string, n int, length int64, checksum string, expires time.Time) (*presigned, error) {
	at, life, err := a.window(expires)
	if err != nil {
		return nil, err
	}
	p, err := a.client.PresignUploadPart(ctx, key, id, n, length, checksum, at, life)
	if err != nil {
		return nil, registry.Wrap(registry.Internal, err, "presign part %d of %s", n, key)
	}
	return p, nil
}

// presignGet presigns the GetObject of key.
func (a *Artifacts) presignGet(ctx context.Context, key string, expires time.Time) (*presigned, error) {
	at, life, err := a.window(expires)
	if err != nil {
		return nil, err
	}
	p, err := a.client.PresignGetObject(ctx, key, at, life)
	if err != nil {
		return nil, registry.Wrap(registry.Internal, err, "presign download of %s", key)
	}
	return p, nil
}

// PresignPutObject presigns a PutObject of key, signed at at for life:
// Content-Type, and Content-Length and x-amz-checksum-sha256 when given,
// are signed headers.
func (c *client) PresignPutObject(ctx context.Context, key string, length int64, checksum string, at time.Time, life time.Duration) (*presigned, error) {
	h := http.Header{"Content-Type": {contentType}}
	if checksum != "" {
		h.Set("X-Amz-Checksum-Sha256", checksum)
	}
	return c.presign(ctx, http.MethodPut, key, url.Values{"x-id": {"PutObject"}}, h, length, at, life)
}

// PresignUploadPart presigns UploadPart n of upload id of key, like
// PresignPutObject.
func (c *client) PresignUploadPart(ctx context.Context, key, id string, n int, length int64, checksum string, at time.Time, life time.Duration) (*presigned, error) {
	h := http.Header{"Content-Type": {contentType}}
	if checksum != "" {
		h.Set("X-Amz-Checksum-Sha256", checksum)
	}
	q := partQuery(id, n)
	q.Set("x-id", "UploadPart")
	return c.presign(ctx, http.MethodPut, key, q, h, length, at, life)
}

// PresignGetObject presigns a GetObject of key.
func (c *client) PresignGetObject(ctx context.Context, key string, at time.Time, life time.Duration) (*presigned, error) {
	return c.presign(ctx, http.MethodGet, key, url.Values{"x-id": {"GetObject"}}, http.Header{}, 0, at, life)
}

// presign presigns a request of key; query carries x-id=OPERATION as the
// SDK's presigned URLs do, so that the URLs stay what they were.
func (c *client) presign(ctx context.Context, method, key string, query url.Values, h http.Header, length int64, at time.Time, life time.Duration) (*presigned, error) {
	r := c.request(method, key, query)
	u, err := c.api.URL(r)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.URL = u
	req.Header = h
	req.ContentLength = length // signed when > 0
	link, signed, err := c.api.Presign(ctx, req, at, life)
	if err != nil {
		return nil, err
	}
	return toPresigned(method, link, signed), nil
}

// toPresigned keeps the signed headers a client sets itself: not Host
// (from the URL) nor Content-Length (from the body), which HTTP clients
// write on their own; both are signed all the same.
func toPresigned(method, rawURL string, signed http.Header) *presigned {
	p := &presigned{method: method, url: rawURL, headers: map[string]string{}}
	for k, v := range signed {
		switch http.CanonicalHeaderKey(k) {
		case "Host", "Content-Length":
			continue
		}
		if len(v) > 0 {
			p.headers[http.CanonicalHeaderKey(k)] = v[0]
		}
	}
	return p
}
