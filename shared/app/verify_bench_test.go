package app_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/registry"
)

// benchUploadSize is the file BenchmarkUploadS3 sends, benchWorkers
// parts at a time.
const (
	benchUploadSize = 1 << 30
	benchWorkers    = 4
)

// BenchmarkUploadS3 sends 1 GiB to MinIO through the registry as a client
// does (16 MiB parts with their digests, 4 at a time over presigned URLs,
// then complete; digests computed before the clock starts) with the
// default threshold, so complete answers VERIFYING and the in-process
// queue verifies it; and the same parts with the SDK's plain multipart
// calls. It reports:
//
//   - return/raw: MinIO's raw multipart time over the time until the
//     client's complete returned (a throughput ratio; goal >= 0.9);
//   - return-s, ready-s, raw-s: the time until complete returned, until
//     the version was READY, and of the raw upload.
//
// Run it with scripts/bench upload-s3 (it starts MinIO).
func BenchmarkUploadS3(b *testing.B) {
	cfg := s3Config(b, b.TempDir(), 0) // 0: the default threshold for S3
	a, err := app.New(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	if err := a.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	ctx := admin(b.Context())
	body := randomBody(benchUploadSize, 11)
	ps := registry.PartSize(benchUploadSize)
	spec := registry.FileSpec{Path: "model.bin", Size: benchUploadSize, SHA256: hexOf(body), PartSize: ps}
	for off := int64(0); off < benchUploadSize; off += ps {
		spec.PartSHA256 = append(spec.PartSHA256, hexOf(body[off:min(off+ps, benchUploadSize)]))
	}
	if _, err := a.Service.CreateModel(ctx, registry.NewModel{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchWorkers * 2}}
	raw := rawS3(b, cfg)

	var ret, ready, rawT time.Duration
	for i := 0; i < b.N; i++ {
		v, err := a.Service.RegisterVersion(ctx, "bench", registry.NewVersion{})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		ticket, err := a.Service.CreateUpload(ctx, "bench", v.Number, []registry.FileSpec{spec})
		if err != nil {
			b.Fatal(err)
		}
		parts := ticket.Files[0].Parts
		inParallel(b, len(parts), func(j int) error {
			p := parts[j]
			req, _ := http.NewRequest(p.Method, p.URL, bytes.NewReader(body[p.Offset:p.Offset+p.Size]))
			for k, v := range p.Headers {
				req.Header.Set(k, v)
			}
			resp, err := hc.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				return fmt.Errorf("part %d: %s", p.Number, resp.Status)
			}
			return nil
		})
		got, err := a.Service.CompleteUpload(ctx, "bench", v.Number, ticket.UploadID)
		if err != nil {
			b.Fatal(err)
		}
		ret += time.Since(start)
		for got.Status == registry.StatusVerifying {
			time.Sleep(20 * time.Millisecond)
			if got, err = a.Service.GetVersion(ctx, "bench", v.Number); err != nil {
				b.Fatal(err)
			}
		}
		if got.Status != registry.StatusReady {
			b.Fatalf("version %d ended %s: %s", v.Number, got.Status, got.StatusReason)
		}
		ready += time.Since(start)

		key := fmt.Sprintf("raw-%d", i)
		start = time.Now()
		mpu, err := raw.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: &cfg.AWS.S3Bucket, Key: &key})
		if err != nil {
			b.Fatal(err)
		}
		done := make([]types.CompletedPart, len(parts))
		inParallel(b, len(parts), func(j int) error {
			off, l := registry.PartRange(benchUploadSize, ps, j+1)
			out, err := raw.UploadPart(ctx, &awss3.UploadPartInput{Bucket: &cfg.AWS.S3Bucket, Key: &key, UploadId: mpu.UploadId,
				PartNumber: aws.Int32(int32(j + 1)), ContentLength: aws.Int64(l), Body: bytes.NewReader(body[off : off+l])})
			if err != nil {
				return err
			}
			done[j] = types.CompletedPart{PartNumber: aws.Int32(int32(j + 1)), ETag: out.ETag}
			return nil
		})
		if _, err := raw.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: &cfg.AWS.S3Bucket, Key: &key,
			UploadId: mpu.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}); err != nil {
			b.Fatal(err)
		}
		rawT += time.Since(start)
		if _, err := raw.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &cfg.AWS.S3Bucket, Key: &key}); err != nil {
			b.Fatal(err)
		}
	}
	n := float64(b.N)
	b.ReportMetric(rawT.Seconds()/ret.Seconds(), "return/raw")
	b.ReportMetric(ret.Seconds()/n, "return-s")
	b.ReportMetric(ready.Seconds()/n, "ready-s")
	b.ReportMetric(rawT.Seconds()/n, "raw-s")
	b.ReportMetric(rawT.Seconds()/ready.Seconds(), "ready/raw")
}

// rawS3 is a plain S3 client on the bench's MinIO: unsigned payloads, no
// checksums, so that it measures MinIO.
func rawS3(b *testing.B, cfg app.Config) *awss3.Client {
	return awss3.NewFromConfig(*cfg.AWS.Config, func(o *awss3.Options) {
		o.BaseEndpoint = aws.String(cfg.AWS.S3Endpoint)
		o.UsePathStyle = true
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
	})
}

// inParallel calls fn for 0..n-1, benchWorkers at a time.
func hexOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func inParallel(b *testing.B, n int, fn func(int) error) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range benchWorkers {
		wg.Go(func() {
			for j := range jobs {
				if err := fn(j); err != nil {
					errs <- err
				}
			}
		})
	}
	for j := range n {
		jobs <- j
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}
