package s3

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/registry"
)

// oddKey has every kind of byte a key may hold that a path would mangle.
const oddKey = "models/m/1/a b/c+d%e/é~!'()*&$@:,;=?#[]^`{}|\"<>.bin"

// doerFunc is an HTTP client that is a function (a fake S3).
type doerFunc func(*http.Request) (*http.Response, error)

func (f doerFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

// fakeAPI returns a client of S3 at endpoint ("" for AWS's) whose requests
// go to do instead of the network.
func fakeAPI(t *testing.T, region, endpoint string, do doerFunc) *awsapi.Client {
	t.Helper()
	c, err := awsapi.New(awsapi.Config{Region: region, Credentials: awsapi.StaticCredentials("AKID", "SECRET", ""), HTTP: do}, Service, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func answer(status int, h http.Header, body string) *http.Response {
	if h == nil {
		h = http.Header{}
	}
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}
}

// TestEscapeKey: every byte but SigV4's unreserved ones and '/' is %XX.
func TestEscapeKey(t *testing.T) {
	for key, want := range map[string]string{
		"a/b.c-d_e~f":   "a/b.c-d_e~f",
		"a b+c%d":       "a%20b%2Bc%25d",
		"é/x=y&z":       "%C3%A9/x%3Dy%26z",
		"q?#[]!*'()":    "q%3F%23%5B%5D%21%2A%27%28%29",
		"runs/0/r1/a:b": "runs/0/r1/a%3Ab",
	} {
		if got := escapeKey(key); got != want {
			t.Errorf("escapeKey(%q) = %q, want %q", key, got, want)
		}
		if back, err := url.PathUnescape(escapeKey(key)); err != nil || back != key {
			t.Errorf("escapeKey(%q) unescapes to %q, %v", key, back, err)
		}
	}
}

// TestAddressing: on AWS's regional endpoint requests name the bucket in
// the host (unless it has dots, which TLS certificates do not cover); on
// any other endpoint, in the path. Checked on the request a HEAD sends and
// on the presigned download URL.
func TestAddressing(t *testing.T) {
	for _, tc := range []struct {
		endpoint, bucket string
		host, path       string
	}{
		{"", "my-bucket", "my-bucket.s3.eu-west-1.amazonaws.com", "/" + escapeKey(oddKey)},
		{"", "my.bucket", "s3.eu-west-1.amazonaws.com", "/my.bucket/" + escapeKey(oddKey)},
		{"http://127.0.0.1:9000", "my-bucket", "127.0.0.1:9000", "/my-bucket/" + escapeKey(oddKey)},
		{"https://minio.example.com/base", "my-bucket", "minio.example.com", "/base/my-bucket/" + escapeKey(oddKey)},
		{"https://s3.eu-west-1.amazonaws.com", "my-bucket", "my-bucket.s3.eu-west-1.amazonaws.com", "/" + escapeKey(oddKey)},
	} {
		var sent *http.Request
		api := fakeAPI(t, "eu-west-1", tc.endpoint, func(r *http.Request) (*http.Response, error) {
			sent = r
			return answer(http.StatusOK, http.Header{"Content-Length": {"3"}, "Etag": {`"e"`}}, ""), nil
		})
		a := New(api, tc.bucket, WithPrefix("models/"))
		link, err := a.PresignDownload(t.Context(), "m", 1, strings.TrimPrefix(oddKey, "models/m/1/"), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatalf("%s %s: %v", tc.endpoint, tc.bucket, err)
		}
		if sent.Method != http.MethodHead || sent.URL.Host != tc.host || sent.URL.EscapedPath() != tc.path {
			t.Errorf("%s %s: sent %s %s%s, want HEAD %s%s", tc.endpoint, tc.bucket, sent.Method, sent.URL.Host, sent.URL.EscapedPath(), tc.host, tc.path)
		}
		if !strings.Contains(sent.Header.Get("Authorization"), "Credential=AKID/") || sent.Header.Get("X-Amz-Content-Sha256") == "" {
			t.Errorf("%s %s: request not signed for S3: %v", tc.endpoint, tc.bucket, sent.Header)
		}
		u, err := url.Parse(link)
		if err != nil || u.Host != tc.host || u.EscapedPath() != tc.path || u.Query().Get("X-Amz-Signature") == "" {
			t.Errorf("%s %s: presigned %s, want a signed URL at %s%s", tc.endpoint, tc.bucket, link, tc.host, tc.path)
		}
	}
}

// fixedTime is the SDK's presigner signing at one time.
type fixedTime struct {
	signer *v4.Signer
	at     time.Time
}

func (p fixedTime) PresignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, service, region string, _ time.Time, optFns ...func(*v4.SignerOptions)) (string, http.Header, error) {
	return p.signer.PresignHTTP(ctx, creds, r, payloadHash, service, region, p.at, optFns...)
}

// TestPresignLikeSDK: the presigned URLs and headers are, byte for byte,
// those aws-sdk-go-v2's S3 presigner made before (same signing time), on
// MinIO's path style and AWS's virtual-hosted style.
func TestPresignLikeSDK(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	expires := now.Add(90 * time.Minute)
	life := 90 * time.Minute
	checksum := hexToBase64(strings.Repeat("ab", 32))
	for _, tc := range []struct{ endpoint, bucket string }{
		{"http://127.0.0.1:9000", "my-bucket"}, {"", "my-bucket"}, {"", "my.bucket"},
	} {
		o := awss3.Options{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "TOKEN")}
		if tc.endpoint != "" {
			o.BaseEndpoint, o.UsePathStyle = aws.String(tc.endpoint), true
		}
		sdk := awss3.NewPresignClient(awss3.New(o), func(po *awss3.PresignOptions) {
			po.Presigner = fixedTime{signer: v4.NewSigner(func(so *v4.SignerOptions) { so.DisableURIPathEscaping = true }), at: now}
		})
		withContentType := func(po *awss3.PresignOptions) {
			po.ClientOptions = append(po.ClientOptions, func(o *awss3.Options) {
				o.APIOptions = append(o.APIOptions, smithyhttp.SetHeaderValue("Content-Type", contentType))
			})
		}
		api, err := awsapi.New(awsapi.Config{Region: "eu-west-1", Credentials: awsapi.StaticCredentials("AKID", "SECRET", "TOKEN")}, Service, tc.endpoint)
		if err != nil {
			t.Fatal(err)
		}
		a := New(api, tc.bucket)
		a.now = func() time.Time { return now }
		ctx := t.Context()
		check := func(what string, got *presigned, err error, want *v4.PresignedHTTPRequest, werr error) {
			t.Helper()
			if err != nil || werr != nil {
				t.Fatalf("%s %s %s: %v; SDK: %v", tc.endpoint, tc.bucket, what, err, werr)
			}
			w := toPresigned(want.Method, want.URL, want.SignedHeader)
			if got.method != w.method || got.url != w.url || len(got.headers) != len(w.headers) {
				t.Errorf("%s %s %s:\n got %s %s %v\nwant %s %s %v", tc.endpoint, tc.bucket, what, got.method, got.url, got.headers, w.method, w.url, w.headers)
			}
			for k, v := range w.headers {
				if got.headers[k] != v {
					t.Errorf("%s %s %s: header %s = %q, want %q", tc.endpoint, tc.bucket, what, k, got.headers[k], v)
				}
			}
		}
		got, err := a.presignPut(ctx, oddKey, 10, checksum, expires)
		want, werr := sdk.PresignPutObject(ctx, &awss3.PutObjectInput{Bucket: &tc.bucket, Key: aws.String(oddKey), ContentType: aws.String(contentType),
			ContentLength: aws.Int64(10), ChecksumSHA256: &checksum}, awss3.WithPresignExpires(life))
		check("PutObject", got, err, want, werr)
		got, err = a.presignUploadPart(ctx, oddKey, "up/id+1", 7, 5<<20, checksum, expires)
		want, werr = sdk.PresignUploadPart(ctx, &awss3.UploadPartInput{Bucket: &tc.bucket, Key: aws.String(oddKey), UploadId: aws.String("up/id+1"),
			PartNumber: aws.Int32(7), ContentLength: aws.Int64(5 << 20), ChecksumSHA256: &checksum}, awss3.WithPresignExpires(life), withContentType)
		check("UploadPart", got, err, want, werr)
		got, err = a.presignUploadPart(ctx, oddKey, "up-id", 2, 0, "", expires)
		want, werr = sdk.PresignUploadPart(ctx, &awss3.UploadPartInput{Bucket: &tc.bucket, Key: aws.String(oddKey), UploadId: aws.String("up-id"),
			PartNumber: aws.Int32(2)}, awss3.WithPresignExpires(life), withContentType)
		check("UploadPart without size", got, err, want, werr)
		got, err = a.presignGet(ctx, oddKey, expires)
		want, werr = sdk.PresignGetObject(ctx, &awss3.GetObjectInput{Bucket: &tc.bucket, Key: aws.String(oddKey)}, awss3.WithPresignExpires(life))
		check("GetObject", got, err, want, werr)
	}
}

// s3Error is an error body as S3 documents it (with the whitespace S3
// sends while it works on a CompleteMultipartUpload).
func s3Error(code, msg string) string {
	return "  \n  \n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>" + code + "</Code>\n  <Message>" + msg +
		"</Message>\n  <RequestId>656c76696e6727732072657175657374</RequestId>\n  <HostId>Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAtRPfTaOFg==</HostId>\n</Error>"
}

const completed = `<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Location>http://b.s3.amazonaws.com/k</Location><Bucket>b</Bucket><Key>k</Key><ETag>"3858f62230ac3c915f300c664312c11f-9"</ETag></CompleteMultipartUploadResult>`

// TestErrorIn200: an <Error> in a 200 answer to CompleteMultipartUpload
// (and to the copies) is that error: retried when S3 says so
// (InternalError), translated like any other, and never taken for
// success.
func TestErrorIn200(t *testing.T) {
	serve := func(t *testing.T, answers ...string) (*Artifacts, *atomic.Int32) {
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			i := int(n.Add(1)) - 1
			if r.Method != http.MethodPost || r.URL.Query().Get("uploadId") != "up-id" || r.Header.Get("If-None-Match") != "*" ||
				r.Header.Get("X-Amz-Mp-Object-Size") != "10" {
				http.Error(w, "unexpected request", http.StatusTeapot)
				return
			}
			body, _ := io.ReadAll(r.Body)
			if !strings.Contains(string(body), `<Part><ETag>&#34;p1&#34;</ETag><PartNumber>1</PartNumber></Part>`) {
				http.Error(w, "unexpected body "+string(body), http.StatusTeapot)
				return
			}
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, answers[min(i, len(answers)-1)])
		}))
		t.Cleanup(srv.Close)
		return New(fakeAPIHTTP(t, srv.URL), "b"), &n
	}
	complete := func(a *Artifacts) (string, error) {
		return a.client.CompleteMultipartUpload(t.Context(), "k", "up-id", []part{{number: 1, etag: `"p1"`}}, completeOptions{ifNoneMatch: "*", size: 10})
	}

	t.Run("InternalErrorRetried", func(t *testing.T) {
		a, n := serve(t, s3Error("InternalError", "We encountered an internal error. Please try again."), completed)
		etag, err := complete(a)
		if err != nil || etag != `"3858f62230ac3c915f300c664312c11f-9"` || n.Load() != 2 {
			t.Fatalf("after one InternalError in a 200: %q, %v after %d tries; want the ETag after 2", etag, err, n.Load())
		}
	})
	t.Run("InternalErrorEveryTime", func(t *testing.T) {
		a, n := serve(t, s3Error("InternalError", "We encountered an internal error. Please try again."))
		_, err := complete(a)
		if awsapi.Code(err) != "InternalError" || n.Load() != 3 || !strings.Contains(err.Error(), "Please try again") {
			t.Fatalf("InternalError in every 200: %v after %d tries, want InternalError after 3", err, n.Load())
		}
		if got := registry.ErrorCode(translate(err, "complete x")); got != registry.Internal {
			t.Errorf("translated to %s, want Internal", got)
		}
	})
	t.Run("NotRetried", func(t *testing.T) {
		for code, want := range map[string]registry.Code{"NoSuchUpload": registry.Invalid, "PreconditionFailed": registry.Conflict, "InvalidPart": registry.Internal} {
			a, n := serve(t, s3Error(code, "no"))
			_, err := complete(a)
			if !isCode(err, code) || n.Load() != 1 {
				t.Errorf("%s in a 200: %v after %d tries, want %s after 1", code, err, n.Load(), code)
			}
			if got := registry.ErrorCode(translate(err, "complete x")); got != want {
				t.Errorf("%s translated to %s, want %s", code, got, want)
			}
		}
	})
	t.Run("Garbage", func(t *testing.T) {
		a, _ := serve(t, "<Other/>")
		if _, err := complete(a); err == nil || !strings.Contains(err.Error(), "<Other>") {
			t.Errorf("an unknown answer: %v, want an error naming it", err)
		}
		a, _ = serve(t, "not xml")
		if _, err := complete(a); err == nil {
			t.Error("an answer that is not XML: no error")
		}
	})
}

// TestCopyErrorIn200: the copies read their 200 answers the same way;
// Complete of a single-part file (an UploadPartCopy) then reports the
// change it means.
func TestCopyErrorIn200(t *testing.T) {
	var calls atomic.Int32
	api := fakeAPI(t, "us-east-1", "http://s3.test", func(r *http.Request) (*http.Response, error) {
		calls.Add(1)
		if r.Header.Get("X-Amz-Copy-Source") != "b/"+escapeKey("src key+1") || r.Header.Get("X-Amz-Copy-Source-If-Match") != `"e"` {
			return answer(http.StatusTeapot, nil, "unexpected request"), nil
		}
		return answer(http.StatusOK, nil, s3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold")), nil
	})
	c := New(api, "b").client
	if _, err := c.UploadPartCopy(t.Context(), "k", "up-id", 1, copySource{key: "src key+1", ifMatch: `"e"`}); !isPreconditionFailed(err) {
		t.Errorf("UploadPartCopy: %v, want PreconditionFailed", err)
	}
	if err := c.CopyObject(t.Context(), "k", copySource{key: "src key+1", ifMatch: `"e"`}, objectHeaders{}); !isPreconditionFailed(err) {
		t.Errorf("CopyObject: %v, want PreconditionFailed", err)
	}
	if calls.Load() != 2 {
		t.Errorf("%d requests, want 2 (a precondition is not retried)", calls.Load())
	}
}

// fakeAPIHTTP is a client of the S3 at endpoint, over the network.
func fakeAPIHTTP(t *testing.T, endpoint string) *awsapi.Client {
	t.Helper()
	c, err := awsapi.New(awsapi.Config{Region: "us-east-1", Credentials: awsapi.StaticCredentials("AKID", "SECRET", "")}, Service, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestUploadPartStreams: UploadPart sends its body unsigned and unbuffered;
// a failed try is sent again with the same bytes when the body can be
// read afresh (a bytes.Reader), and not at all when it cannot.
func TestUploadPartStreams(t *testing.T) {
	var bodies []string
	api := fakeAPI(t, "us-east-1", "http://s3.test", func(r *http.Request) (*http.Response, error) {
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, string(b))
		if r.Header.Get("X-Amz-Content-Sha256") != awsapi.UnsignedPayload || r.ContentLength != int64(len(b)) {
			return answer(http.StatusTeapot, nil, "unexpected request"), nil
		}
		if len(bodies) == 1 {
			return answer(http.StatusInternalServerError, nil, s3Error("InternalError", "try again")), nil
		}
		return answer(http.StatusOK, http.Header{"Etag": {`"p"`}}, ""), nil
	})
	c := New(api, "b").client
	r := strings.NewReader("xxpart body")
	_, _ = r.Seek(2, io.SeekStart)
	etag, err := c.UploadPart(t.Context(), "k", "id", 1, r, 9)
	if err != nil || etag != `"p"` || !slices.Equal(bodies, []string{"part body", "part body"}) {
		t.Fatalf("rewindable body: %q, %v; sent %q, want the same 9 bytes twice", etag, err, bodies)
	}
	bodies = nil
	_, err = c.UploadPart(t.Context(), "k", "id", 1, io.MultiReader(strings.NewReader("part body")), 9)
	if awsapi.Code(err) != "InternalError" || len(bodies) != 1 {
		t.Fatalf("stream: %v after %d tries, want InternalError after 1", err, len(bodies))
	}
}

// TestErrorStatusNotRetriedTwice: an error status that awsapi already
// retried (its 3 tries) is not tried again by the XML operations.
func TestErrorStatusNotRetriedTwice(t *testing.T) {
	var calls atomic.Int32
	api := fakeAPI(t, "us-east-1", "http://s3.test", func(r *http.Request) (*http.Response, error) {
		calls.Add(1)
		return answer(http.StatusServiceUnavailable, nil, s3Error("SlowDown", "Please reduce your request rate.")), nil
	})
	_, err := New(api, "b").client.CompleteMultipartUpload(t.Context(), "k", "id", []part{{number: 1, etag: `"e"`}}, completeOptions{})
	if !isCode(err, "SlowDown") || calls.Load() != 3 {
		t.Fatalf("%v after %d tries, want SlowDown after awsapi's 3", err, calls.Load())
	}
	if got := registry.ErrorCode(translate(err, "x")); got != registry.Unavailable {
		t.Errorf("translated to %s, want Unavailable", got)
	}
}
