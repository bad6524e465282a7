package s3

import (
	"context"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	smithyhttp "github.com/aws/smithy-go/transport/http"

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

// signingTimeKey carries, in a context, the time a presigned URL is signed
// at (see timedPresigner).
type signingTimeKey struct{}

// timedPresigner signs at the time the context carries instead of now. A
// URL's expiry is its signing time plus X-Amz-Expires (whole seconds), so
// signing at a chosen time makes a URL expire exactly when asked, even
// when that is in the past (S3 then refuses it, as it should).
type timedPresigner struct{ signer *v4.Signer }

// PresignHTTP presigns r at the signing time found in ctx.
func (p timedPresigner) PresignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, service, region string, signingTime time.Time, optFns ...func(*v4.SignerOptions)) (string, http.Header, error) {
	if t, ok := ctx.Value(signingTimeKey{}).(time.Time); ok {
		signingTime = t
	}
	return p.signer.PresignHTTP(ctx, creds, r, payloadHash, service, region, signingTime, optFns...)
}

func newPresignClient(c *awss3.Client) *awss3.PresignClient {
	o := c.Options()
	signer := v4.NewSigner(func(so *v4.SignerOptions) {
		so.Logger = o.Logger
		so.LogSigning = o.ClientLogMode.IsSigning()
		so.DisableURIPathEscaping = true // as the S3 client's own signer
	})
	return awss3.NewPresignClient(c, func(po *awss3.PresignOptions) {
		po.Presigner = timedPresigner{signer: signer}
	})
}

// window returns the context to presign in and the lifetime that make a
// URL expire at expires (to the second, never later). Beyond 7 days it is
// Internal: the service chose the expiry (its TTL settings are wrong).
func (a *Artifacts) window(ctx context.Context, expires time.Time) (context.Context, time.Duration, error) {
	at := a.now().UTC().Truncate(time.Second)
	end := expires.UTC().Truncate(time.Second)
	life := end.Sub(at)
	if life < time.Second { // already expired: sign so that it ended at expires
		at, life = end.Add(-time.Second), time.Second
	}
	if life > maxExpiry {
		return nil, 0, registry.Errorf(registry.Internal, "presigned URLs last at most %s; %s asked", maxExpiry, life)
	}
	return context.WithValue(ctx, signingTimeKey{}, at), life, nil
}

// withContentType adds Content-Type to an operation without that field
// (UploadPart): set in the build step, after the serializer, it is signed
// like any header.
func withContentType(po *awss3.PresignOptions) {
	po.ClientOptions = append(po.ClientOptions, func(o *awss3.Options) {
		o.APIOptions = append(o.APIOptions, smithyhttp.SetHeaderValue("Content-Type", contentType))
	})
}

func (a *Artifacts) presignPut(ctx context.Context, in *awss3.PutObjectInput, expires time.Time) (*presigned, error) {
	ctx, life, err := a.window(ctx, expires)
	if err != nil {
		return nil, err
	}
	r, err := a.presigner.PresignPutObject(ctx, in, awss3.WithPresignExpires(life))
	if err != nil {
		return nil, registry.Wrap(registry.Internal, err, "presign upload of %s", aws.ToString(in.Key))
	}
	return toPresigned(r.Method, r.URL, r.SignedHeader), nil
}

func (a *Artifacts) presignUploadPart(ctx context.Context, in *awss3.UploadPartInput, expires time.Time) (*presigned, error) {
	ctx, life, err := a.window(ctx, expires)
	if err != nil {
		return nil, err
	}
	r, err := a.presigner.PresignUploadPart(ctx, in, awss3.WithPresignExpires(life), withContentType)
	if err != nil {
		return nil, registry.Wrap(registry.Internal, err, "presign part %d of %s", aws.ToInt32(in.PartNumber), aws.ToString(in.Key))
	}
	return toPresigned(r.Method, r.URL, r.SignedHeader), nil
}

func (a *Artifacts) presignGet(ctx context.Context, in *awss3.GetObjectInput, expires time.Time) (*presigned, error) {
	ctx, life, err := a.window(ctx, expires)
	if err != nil {
		return nil, err
	}
	r, err := a.presigner.PresignGetObject(ctx, in, awss3.WithPresignExpires(life))
	if err != nil {
		return nil, registry.Wrap(registry.Internal, err, "presign download of %s", aws.ToString(in.Key))
	}
	return toPresigned(r.Method, r.URL, r.SignedHeader), nil
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
