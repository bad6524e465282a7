package s3

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/modelreg/modelreg/shared/tracking"
)

// objectBenchSize is the run artifact object the registration benchmark
// imports: a multipart file (16 MiB parts), so Complete reads it back.
const objectBenchSize = 128 << 20

// BenchmarkRegisterObject measures what registering a run artifact that a
// client wrote straight to MinIO costs the storage (MODELREG_MLFLOW_ARTIFACTS=s3),
// against a baseline run in the same benchmark: one read-back of the
// object (HashObject, the ranged parallel GETs every verification uses).
//
//   - Read: HashObject alone.
//   - Write: one SDK PutObject of the same bytes (MinIO's write speed:
//     the server-side copy writes every byte once).
//   - Register: HashObject, then Begin, CopyObject (an UploadPartCopy per
//     part) and Complete (which reads the copy back to verify it): the
//     work of one file of a registration.
//
// It logs register/(read+write): 1 would be the copy costing one write and
// the two read-backs (the hash, Complete's verification) one read. Run it
// with -v
//
//	MODELREG_S3_ENDPOINT=… go test -v -run '^$' -bench RegisterObject -benchtime 3x ./shared/s3/
func BenchmarkRegisterObject(b *testing.B) {
	c := testClient(b)
	bucket := newBucket(b, c)
	a := New(apiOf(c), bucket, WithPrefix("models/"))
	ctx := context.Background()
	body := data(objectBenchSize, 9)
	key := "runs/0/r1/artifacts/model/model.bin"
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: &bucket, Key: aws.String("models/" + key), Body: bytes.NewReader(body)}); err != nil {
		b.Fatal(err)
	}
	objs, err := a.ListObjects(ctx, "runs/0/r1/artifacts/model", 10)
	if err != nil || len(objs) != 1 {
		b.Fatal(objs, err)
	}
	o, want := objs[0], hexSum(body)
	secs := map[string]float64{}
	run := func(name string, f func(b *testing.B, o tracking.Object)) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(objectBenchSize)
			start := time.Now()
			for range b.N {
				f(b, o)
			}
			secs[name] = time.Since(start).Seconds() / float64(b.N)
		})
	}
	run("Read", func(b *testing.B, o tracking.Object) {
		if sum, err := a.HashObject(ctx, o); err != nil || sum != want {
			b.Fatal(sum, err)
		}
	})
	run("Write", func(b *testing.B, o tracking.Object) {
		if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: &bucket, Key: aws.String("models/runs/0/r2/artifacts/copy.bin"), Body: bytes.NewReader(body)}); err != nil {
			b.Fatal(err)
		}
	})
	run("Register", func(b *testing.B, o tracking.Object) {
		sum, err := a.HashObject(ctx, o)
		if err != nil || sum != want {
			b.Fatal(sum, err)
		}
		s := session("m")
		f, err := a.Begin(ctx, s, plan("model.bin", o.Size, sum))
		if err != nil {
			b.Fatal(err)
		}
		if err := a.CopyObject(ctx, o, s, f); err != nil {
			b.Fatal(err)
		}
		if err := a.Complete(ctx, s, f); err != nil {
			b.Fatal(err)
		}
	})
	if secs["Read"] > 0 && secs["Write"] > 0 && secs["Register"] > 0 {
		b.Logf("128 MiB object: read %.2fs, write %.2fs, register %.2fs, register/(read+write) %.2f",
			secs["Read"], secs["Write"], secs["Register"], secs["Register"]/(secs["Read"]+secs["Write"]))
	}
}
