package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/registry/artifacttest"
)

// testClient returns a client of the MinIO that scripts/test starts. It
// skips the test when there is none, except in CI, where it fails.
func testClient(t testing.TB) *awss3.Client {
	t.Helper()
	endpoint := os.Getenv("MODELREG_S3_ENDPOINT")
	if endpoint == "" {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal("MODELREG_S3_ENDPOINT is not set: in CI the S3 tests must run; use scripts/test, which starts MinIO (scripts/test.d/minio.sh)")
		}
		t.Skip("MODELREG_S3_ENDPOINT is not set: run scripts/test (it starts MinIO with scripts/test.d/minio.sh) to run the S3 tests")
	}
	return newClient(endpoint, os.Getenv("MODELREG_S3_ACCESS_KEY"), os.Getenv("MODELREG_S3_SECRET_KEY"))
}

func newClient(endpoint, accessKey, secretKey string) *awss3.Client {
	return awss3.New(awss3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
	})
}

// apiOf returns the client New takes for the S3 (endpoint, region and
// credentials) of c.
func apiOf(c *awss3.Client) *awsapi.Client {
	o := c.Options()
	api, err := awsapi.New(awsapi.Config{Region: o.Region, Credentials: o.Credentials}, Service, aws.ToString(o.BaseEndpoint))
	if err != nil {
		panic(err)
	}
	return api
}

// newBucket creates an empty bucket that is emptied and removed when the
// test ends.
func newBucket(t testing.TB, c *awss3.Client) string {
	t.Helper()
	bucket := "modelreg-test-" + registry.RandomToken(8)
	if _, err := c.CreateBucket(context.Background(), &awss3.CreateBucketInput{Bucket: &bucket}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	t.Cleanup(func() {
		ctx := context.Background() // t.Context() is done by now
		for _, u := range inProgress(t, c, bucket) {
			_, _ = c.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: &bucket, Key: u.Key, UploadId: u.UploadId})
		}
		p := awss3.NewListObjectsV2Paginator(c, &awss3.ListObjectsV2Input{Bucket: &bucket})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Errorf("clean up bucket %s: %v", bucket, err)
				return
			}
			for _, o := range page.Contents {
				if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &bucket, Key: o.Key}); err != nil {
					t.Errorf("clean up %s: %v", aws.ToString(o.Key), err)
				}
			}
		}
		if _, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: &bucket}); err != nil {
			t.Errorf("delete bucket %s: %v", bucket, err)
		}
	})
	return bucket
}

// inProgress lists the bucket's multipart uploads that are not finished.
func inProgress(t testing.TB, c *awss3.Client, bucket string) []types.MultipartUpload {
	t.Helper()
	var all []types.MultipartUpload
	in := &awss3.ListMultipartUploadsInput{Bucket: &bucket}
	for {
		out, err := c.ListMultipartUploads(context.Background(), in)
		if err != nil {
			t.Fatalf("list multipart uploads: %v", err)
		}
		all = append(all, out.Uploads...)
		if !aws.ToBool(out.IsTruncated) {
			return all
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

func TestContract(t *testing.T) {
	c := testClient(t)
	artifacttest.Run(t, func(t *testing.T) registry.Artifacts {
		return New(apiOf(c), newBucket(t, c), WithPrefix("models/"))
	})
}

// offline returns Artifacts whose client never reaches a server: enough
// to presign and validate.
func offline() *Artifacts {
	return New(apiOf(newClient("http://127.0.0.1:9", "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")), "bucket", WithPrefix("models/"))
}

// plan returns the file the service plans for data (registry.PartSize).
func plan(path string, size int64, sum string) registry.UploadFile {
	ps := registry.PartSize(size)
	return registry.UploadFile{Path: path, Size: size, SHA256: sum, PartSize: ps, Parts: registry.PartCount(size, ps)}
}

func session(model string) registry.UploadSession {
	now := time.Now().UTC()
	return registry.UploadSession{ID: registry.NewID(now), Model: model, Version: 1, Status: registry.UploadOpen,
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour), Revision: 1}
}

// TestPlan100GiB checks, without a server, that the service's part plan
// for a 100 GiB file (and for the largest file) stays within S3's limits
// and that the adapter presigns its parts with the right numbers and sizes.
func TestPlan100GiB(t *testing.T) {
	a := offline()
	for _, size := range []int64{100 << 30, 100<<30 + 1, registry.MaxFileSize} {
		f := plan("big.bin", size, strings.Repeat("ab", 32))
		if f.Parts > registry.MaxParts || f.PartSize < registry.MinPartSize || f.PartSize > registry.MaxPartSize {
			t.Fatalf("size %d: %d parts of %d bytes: outside S3's limits", size, f.Parts, f.PartSize)
		}
		var total int64
		for n := 1; n <= f.Parts; n++ {
			off, l := registry.PartRange(f.Size, f.PartSize, n)
			if off != total || l <= 0 || l > f.PartSize || (n < f.Parts && l < registry.MinPartSize) {
				t.Fatalf("size %d: part %d at %d, %d bytes: not contiguous or out of range", size, n, off, l)
			}
			total += l
		}
		if total != size {
			t.Fatalf("size %d: parts cover %d bytes", size, total)
		}
		s := session("big")
		f.BackendID = "upload-id"
		if err := a.validateFile(s, f); err != nil {
			t.Fatalf("size %d: validateFile: %v", size, err)
		}
		pr, err := a.PresignPart(t.Context(), s, f, f.Parts, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatalf("size %d: PresignPart(%d): %v", size, f.Parts, err)
		}
		_, last := registry.PartRange(f.Size, f.PartSize, f.Parts)
		u, _ := url.Parse(pr.URL)
		if got := u.Query().Get("partNumber"); got != strconv.Itoa(f.Parts) || pr.Size != last {
			t.Fatalf("size %d: last part presigned as partNumber=%s, %d bytes; want %d, %d", size, got, pr.Size, f.Parts, last)
		}
	}
	if f := plan("big.bin", 100<<30, ""); f.Parts != 6400 || f.PartSize != 16<<20 {
		t.Errorf("100 GiB: %d parts of %d bytes, want 6400 of 16 MiB", f.Parts, f.PartSize)
	}
	// 10,001 parts of 5 MiB is a plan S3 would refuse.
	f := registry.UploadFile{Path: "x", Size: 10001 * registry.MinPartSize, SHA256: strings.Repeat("ab", 32), PartSize: registry.MinPartSize, Parts: 10001}
	if err := a.validateFile(session("big"), f); !registry.IsCode(err, registry.Invalid) {
		t.Errorf("validateFile of 10,001 parts: %v, want Invalid", err)
	}
}

// TestPresignedHeaders checks, without a server, what a part request
// carries: the checksum as a signed header and not in the query
// (aws/aws-sdk-go-v2#2610), a signed Content-Type, a signed but unlisted
// Content-Length.
func TestPresignedHeaders(t *testing.T) {
	a := offline()
	data := []byte("some bytes")
	sum := sha256.Sum256(data)
	single := plan("a/b.bin", int64(len(data)), hex.EncodeToString(sum[:]))
	multi := registry.UploadFile{Path: "m.bin", Size: 11 << 20, SHA256: single.SHA256, PartSize: 5 << 20, Parts: 3,
		PartSHA256: []string{single.SHA256, single.SHA256, single.SHA256}, BackendID: "upload-id"}
	noDigest := multi
	noDigest.PartSHA256 = nil
	for _, tc := range []struct {
		name     string
		f        registry.UploadFile
		checksum bool
	}{{"single", single, true}, {"multipart", multi, true}, {"multipart without digests", noDigest, false}} {
		pr, err := a.PresignPart(t.Context(), session("m"), tc.f, 1, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		u, _ := url.Parse(pr.URL)
		q := u.Query()
		signed := ";" + q.Get("X-Amz-SignedHeaders") + ";"
		for k := range q {
			if strings.HasPrefix(strings.ToLower(k), "x-amz-checksum") {
				t.Errorf("%s: checksum hoisted into the query: %s", tc.name, pr.URL)
			}
		}
		if pr.Method != http.MethodPut || pr.Headers["Content-Type"] != contentType || !strings.Contains(signed, ";content-type;") {
			t.Errorf("%s: %s with headers %v, signed %s: want PUT with a signed Content-Type", tc.name, pr.Method, pr.Headers, signed)
		}
		if _, ok := pr.Headers["Content-Length"]; ok || !strings.Contains(signed, ";content-length;") {
			t.Errorf("%s: headers %v, signed %s: want Content-Length signed and not listed", tc.name, pr.Headers, signed)
		}
		_, has := pr.Headers["X-Amz-Checksum-Sha256"]
		if has != tc.checksum || strings.Contains(signed, ";x-amz-checksum-sha256;") != tc.checksum {
			t.Errorf("%s: headers %v, signed %s: checksum header present %v, want %v", tc.name, pr.Headers, signed, has, tc.checksum)
		}
	}
	pr, _ := a.PresignPart(t.Context(), session("m"), single, 1, time.Now().Add(time.Hour))
	if want := base64.StdEncoding.EncodeToString(sum[:]); pr.Headers["X-Amz-Checksum-Sha256"] != want {
		t.Errorf("checksum header %q, want %q, the file's digest", pr.Headers["X-Amz-Checksum-Sha256"], want)
	}
}

// TestExpiry checks the lifetime of presigned URLs, without a server.
func TestExpiry(t *testing.T) {
	a := offline()
	now := time.Date(2026, 3, 1, 12, 0, 0, 500e6, time.UTC)
	a.now = func() time.Time { return now }
	for _, tc := range []struct {
		expires time.Time
		date    string
		life    string
	}{
		{now.Add(time.Hour), "20260301T120000Z", "3600"},
		{now.Add(-time.Minute), "20260301T115859Z", "1"}, // ended a minute ago
		{now.Add(7 * 24 * time.Hour), "20260301T120000Z", "604800"},
	} {
		p, err := a.presignGet(t.Context(), "k", tc.expires)
		if err != nil {
			t.Fatalf("expires %v: %v", tc.expires, err)
		}
		q, _ := url.ParseQuery(p.url[strings.Index(p.url, "?")+1:])
		if q.Get("X-Amz-Date") != tc.date || q.Get("X-Amz-Expires") != tc.life {
			t.Errorf("expires %v: signed at %s for %s s, want %s for %s s", tc.expires, q.Get("X-Amz-Date"), q.Get("X-Amz-Expires"), tc.date, tc.life)
		}
	}
	if _, err := a.presignGet(t.Context(), "k", now.Add(8*24*time.Hour)); !registry.IsCode(err, registry.Internal) {
		t.Errorf("8 days: %v, want Internal", err)
	}
}

// TestTranslate checks the error table at the boundary.
func TestTranslate(t *testing.T) {
	for code, want := range map[string]registry.Code{
		"NoSuchKey": registry.NotFound, "NotFound": registry.NotFound, "NoSuchUpload": registry.Invalid,
		"PreconditionFailed": registry.Conflict, "SlowDown": registry.Unavailable, "ServiceUnavailable": registry.Unavailable,
		"NoSuchBucket": registry.Internal, "AccessDenied": registry.Internal, "InternalError": registry.Internal,
	} {
		err := translate(&awsapi.Error{Service: "s3", Code: code, Message: "m", StatusCode: http.StatusBadRequest}, "do %s", "x")
		if got := registry.ErrorCode(err); got != want {
			t.Errorf("%s: %s, want %s", code, got, want)
		}
		if !strings.Contains(err.Error(), "do x") || !errors.Is(err, errors.Unwrap(err)) {
			t.Errorf("%s: %v lacks its context", code, err)
		}
	}
	if err := translate(registry.Errorf(registry.Conflict, "c"), "x"); !registry.IsCode(err, registry.Conflict) {
		t.Errorf("a registry error changed: %v", err)
	}
}

// data returns n reproducible pseudo-random bytes.
func data(n int64, seed uint64) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 7}).Read(b)
	return b
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// send sends body as pr says and reports whether S3 accepted it.
func send(t testing.TB, pr registry.PartRequest, body []byte) (bool, string) {
	t.Helper()
	req, err := http.NewRequest(pr.Method, pr.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range pr.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	return resp.StatusCode/100 == 2, resp.Status + " " + string(msg)
}
