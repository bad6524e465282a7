package filesystem

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/url"
	"strconv"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// Operations a signed URL can authorize. They are part of the signed
// string, so a download URL can never be used to upload and vice versa.
const (
	opPutPart    = "put-part"
	opGetFile    = "get-file"
	opPutRunPart = "put-run-part" // a part of a run file's multipart upload (Path: the blob key)
)

// partContentType is the Content-Type every part upload must carry; it is
// signed, as S3 signs the headers of a presigned request.
const partContentType = "application/octet-stream"

// signVersion starts every signed string; bump it to invalidate all URLs
// if the scheme changes.
const signVersion = "modelreg-blob-v1"

// Query parameters of the signed URLs.
const (
	qUpload  = "upload"
	qModel   = "model"
	qVersion = "version"
	qPath    = "path"
	qPart    = "part"
	qOffset  = "offset"
	qSize    = "size"
	qSHA256  = "sha256"
	qExpires = "expires"
	qSig     = "sig"
)

// claims are what a signed URL authorizes. Every field is covered by the
// signature; fields an operation does not use are zero and signed as such.
type claims struct {
	Op          string
	Upload      string
	Model       string
	Version     int
	Path        string
	Part        int
	Offset      int64
	Size        int64
	PartSHA256  string // "" when the part's digest is not fixed
	ContentType string
	Expires     int64 // Unix seconds; the URL works up to and including this second
}

// signature returns HMAC-SHA256(secret, canonical(c)). The canonical form
// is the version tag followed by every field, each prefixed with its length
// as a uvarint, so no two different claims share a canonical form.
func (a *Artifacts) signature(c claims) []byte {
	m := hmac.New(sha256.New, a.secret)
	var n [binary.MaxVarintLen64]byte
	for _, f := range []string{
		signVersion, c.Op, c.Upload, c.Model, strconv.Itoa(c.Version), c.Path,
		strconv.Itoa(c.Part), strconv.FormatInt(c.Offset, 10), strconv.FormatInt(c.Size, 10),
		c.PartSHA256, c.ContentType, strconv.FormatInt(c.Expires, 10),
	} {
		m.Write(n[:binary.PutUvarint(n[:], uint64(len(f)))])
		m.Write([]byte(f))
	}
	return m.Sum(nil)
}

// signedURL returns the URL that carries c and its signature.
func (a *Artifacts) signedURL(c claims) string {
	q := url.Values{}
	q.Set(qModel, c.Model)
	q.Set(qVersion, strconv.Itoa(c.Version))
	q.Set(qPath, c.Path)
	q.Set(qExpires, strconv.FormatInt(c.Expires, 10))
	route := "/blobs/file"
	if c.Op == opPutRunPart {
		route = "/blobs/run-part"
		q.Set(qUpload, c.Upload)
		q.Set(qPart, strconv.Itoa(c.Part))
	}
	if c.Op == opPutPart {
		route = "/blobs/part"
		q.Set(qUpload, c.Upload)
		q.Set(qPart, strconv.Itoa(c.Part))
		q.Set(qOffset, strconv.FormatInt(c.Offset, 10))
		q.Set(qSize, strconv.FormatInt(c.Size, 10))
		if c.PartSHA256 != "" {
			q.Set(qSHA256, c.PartSHA256)
		}
	}
	q.Set(qSig, hex.EncodeToString(a.signature(c)))
	return a.baseURL + route + "?" + q.Encode()
}

// authorize parses the query of a request for operation op and checks its
// signature, then its expiry. Forbidden for a malformed, tampered or
// expired URL.
func (a *Artifacts) authorize(q url.Values, op string) (claims, error) {
	allowed := map[string]bool{qModel: true, qVersion: true, qPath: true, qExpires: true, qSig: true}
	optional := map[string]bool{}
	if op == opPutPart {
		for _, k := range []string{qUpload, qPart, qOffset, qSize, qSHA256} {
			allowed[k] = true
		}
		optional[qSHA256] = true
	}
	if op == opPutRunPart {
		allowed[qUpload], allowed[qPart] = true, true
	}
	for k, vs := range q {
		if !allowed[k] {
			return claims{}, registry.Errorf(registry.Forbidden, "signed URL has an unexpected parameter %q", k)
		}
		if len(vs) != 1 {
			return claims{}, registry.Errorf(registry.Forbidden, "signed URL repeats parameter %q", k)
		}
	}
	for k := range allowed {
		if !optional[k] && !q.Has(k) {
			return claims{}, registry.Errorf(registry.Forbidden, "signed URL lacks parameter %q", k)
		}
	}
	bad := func(k string) error {
		return registry.Errorf(registry.Forbidden, "signed URL has a malformed %q", k)
	}
	c := claims{Op: op, Model: q.Get(qModel), Path: q.Get(qPath)}
	var err error
	if c.Version, err = strconv.Atoi(q.Get(qVersion)); err != nil {
		return claims{}, bad(qVersion)
	}
	if c.Expires, err = strconv.ParseInt(q.Get(qExpires), 10, 64); err != nil {
		return claims{}, bad(qExpires)
	}
	if op == opPutRunPart {
		c.Upload, c.ContentType = q.Get(qUpload), partContentType
		if c.Part, err = strconv.Atoi(q.Get(qPart)); err != nil {
			return claims{}, bad(qPart)
		}
	}
	if op == opPutPart {
		c.Upload, c.PartSHA256, c.ContentType = q.Get(qUpload), q.Get(qSHA256), partContentType
		if c.Part, err = strconv.Atoi(q.Get(qPart)); err != nil {
			return claims{}, bad(qPart)
		}
		if c.Offset, err = strconv.ParseInt(q.Get(qOffset), 10, 64); err != nil {
			return claims{}, bad(qOffset)
		}
		if c.Size, err = strconv.ParseInt(q.Get(qSize), 10, 64); err != nil {
			return claims{}, bad(qSize)
		}
	}
	sig, err := hex.DecodeString(q.Get(qSig))
	if err != nil || !hmac.Equal(sig, a.signature(c)) {
		return claims{}, registry.Errorf(registry.Forbidden, "signature does not match: the URL was altered or signed by another server")
	}
	if exp := time.Unix(c.Expires, 0); a.now().After(exp.Add(time.Second - 1)) {
		return claims{}, registry.Errorf(registry.Forbidden, "signed URL expired at %s", exp.UTC().Format(time.RFC3339))
	}
	return c, nil
}
