package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/modelreg/modelreg/shared/registry"
)

// benchSize is the file the upload benchmark sends; benchWorkers parts
// go up at a time.
const (
	benchSize    = 1 << 30
	benchWorkers = 4
)

// BenchmarkUpload uploads the same 1 GiB to MinIO three ways and reports
// how the adapter compares with MinIO's raw speed (the presigned/raw metric
// on each raw line, and a log line):
//
//   - Presigned: through this adapter as a client of the registry would,
//     parts from registry.PartSize (16 MiB) with part digests, 4 at a time
//     over presigned URLs, then Complete (which reads the file back to
//     verify its SHA-256): the time until the file could be READY.
//   - RawMultipart: the SDK's plain multipart calls, same parts, 4 at a
//     time, no checksums.
//   - RawPutObject: one SDK PutObject.
//
// The raw calls send an unsigned payload without checksums, so that they
// measure MinIO rather than client-side hashing. Run it with
//
//	MODELREG_S3_ENDPOINT=… go test -run '^$' -bench Upload ./shared/s3/
func BenchmarkUpload(b *testing.B) {
	c := testClient(b)
	bucket := newBucket(b, c)
	a := New(apiOf(c), bucket, WithPrefix("models/"))
	body := data(benchSize, 42)
	f := plan("model.bin", benchSize, hexSum(body))
	for n := 1; n <= f.Parts; n++ {
		off, l := registry.PartRange(f.Size, f.PartSize, n)
		f.PartSHA256 = append(f.PartSHA256, hexSum(body[off:off+l]))
	}
	raw := awss3.New(c.Options(), func(o *awss3.Options) {
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
	})
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchWorkers * 2}}

	rates := map[string]float64{}
	var transfer float64
	run := func(name string, upload func(b *testing.B, key string)) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(benchSize)
			for i := 0; i < b.N; i++ {
				key := fmt.Sprintf("%s-%d", name, i)
				upload(b, key)
				b.StopTimer()
				removeAll(b, c, bucket)
				b.StartTimer()
			}
			rate := float64(benchSize) * float64(b.N) / b.Elapsed().Seconds() / 1e6
			rates[name] = rate
			if name == "Presigned" {
				b.ReportMetric(transfer, "send-MB/s")
				b.Logf("presigned: %.0f MB/s until Complete returned, %.0f MB/s for the parts alone", rate, transfer)
			} else if p := rates["Presigned"]; p > 0 {
				b.ReportMetric(p/rate, "presigned/raw")
				b.Logf("raw %s: %.0f MB/s; presigned+Complete: %.0f MB/s; ratio %.2f", name, rate, p, p/rate)
			}
		})
	}
	run("Presigned", func(b *testing.B, key string) {
		s := session("bench-" + key)
		s.Files = []registry.UploadFile{f}
		g, err := a.Begin(b.Context(), s, f)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		parallel(b, g.Parts, func(n int) {
			pr, err := a.PresignPart(b.Context(), s, g, n, time.Now().Add(time.Hour))
			if err != nil {
				b.Error(err)
				return
			}
			if err := sendWith(hc, pr, body[pr.Offset:pr.Offset+pr.Size]); err != nil {
				b.Error(err)
			}
		})
		transfer = float64(benchSize) / time.Since(start).Seconds() / 1e6
		if err := a.Complete(b.Context(), s, g); err != nil {
			b.Fatal(err)
		}
	})
	run("RawMultipart", func(b *testing.B, key string) {
		ctx := b.Context()
		mpu, err := raw.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
		if err != nil {
			b.Fatal(err)
		}
		parts := make([]types.CompletedPart, f.Parts)
		parallel(b, f.Parts, func(n int) {
			off, l := registry.PartRange(f.Size, f.PartSize, n)
			out, err := raw.UploadPart(ctx, &awss3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: mpu.UploadId,
				PartNumber: aws.Int32(int32(n)), ContentLength: aws.Int64(l), Body: bytes.NewReader(body[off : off+l])})
			if err != nil {
				b.Error(err)
				return
			}
			parts[n-1] = types.CompletedPart{PartNumber: aws.Int32(int32(n)), ETag: out.ETag}
		})
		_, err = raw.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key,
			UploadId: mpu.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		if err != nil {
			b.Fatal(err)
		}
	})
	run("RawPutObject", func(b *testing.B, key string) {
		_, err := raw.PutObject(b.Context(), &awss3.PutObjectInput{Bucket: &bucket, Key: &key,
			ContentLength: aws.Int64(benchSize), Body: bytes.NewReader(body)})
		if err != nil {
			b.Fatal(err)
		}
	})
}

// parallel calls fn for 1..n, benchWorkers at a time.
func parallel(b *testing.B, n int, fn func(int)) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range benchWorkers {
		wg.Go(func() {
			for j := range jobs {
				fn(j)
			}
		})
	}
	for j := 1; j <= n; j++ {
		jobs <- j
	}
	close(jobs)
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// sendWith sends body as pr says.
func sendWith(hc *http.Client, pr registry.PartRequest, body []byte) error {
	req, err := http.NewRequest(pr.Method, pr.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range pr.Headers {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("part %d: %s %s", pr.Number, resp.Status, msg)
	}
	return nil
}

// removeAll deletes every object of the bucket, so that runs do not fill
// the disk.
func removeAll(b *testing.B, c *awss3.Client, bucket string) {
	ctx := context.Background()
	p := awss3.NewListObjectsV2Paginator(c, &awss3.ListObjectsV2Input{Bucket: &bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range page.Contents {
			if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &bucket, Key: o.Key}); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkReadBack measures the rate at which Complete reads a completed
// 1 GiB file back from MinIO to hash it (parallel ranged GETs pinned to
// its ETag, hashed in order): the rate the service's VerifyAsyncBytes
// default is derived from (registry.DefaultVerifyAsyncBytes). Run it with
//
//	MODELREG_S3_ENDPOINT=… go test -run '^$' -bench ReadBack ./shared/s3/
func BenchmarkReadBack(b *testing.B) {
	c := testClient(b)
	bucket := newBucket(b, c)
	a := New(apiOf(c), bucket, WithPrefix("models/"))
	body := data(benchSize, 43)
	key := "readback.bin"
	out, err := c.PutObject(b.Context(), &awss3.PutObjectInput{Bucket: &bucket, Key: &key,
		ContentLength: aws.Int64(benchSize), Body: bytes.NewReader(body)})
	if err != nil {
		b.Fatal(err)
	}
	want := hexSum(body)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for range b.N {
		got, err := a.hashObject(b.Context(), key, aws.ToString(out.ETag), benchSize)
		if err != nil {
			b.Fatal(err)
		}
		if got != want {
			b.Fatalf("sha256 %s, want %s", got, want)
		}
	}
	rate := float64(benchSize) * float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate/1e6, "readback-MB/s")
	b.ReportMetric(rate*10/(1<<20), "MiB-in-10s")
	b.ReportMetric(rate*14*60/(1<<30), "GiB-in-14min")
}
