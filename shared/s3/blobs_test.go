package s3

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/modelreg/modelreg/shared/registry"

	"github.com/modelreg/modelreg/shared/tracking"
	"github.com/modelreg/modelreg/shared/tracking/trackingtest"
)

func TestBlobs(t *testing.T) {
	c := testClient(t)
	trackingtest.RunBlobs(t, func(t *testing.T) tracking.Blobs {
		return New(apiOf(c), newBucket(t, c), WithPrefix("models/"))
	})
}

// TestObjectsKeyLayout checks, without a server, that run artifact
// locations are the keys Blobs uses and that BlobKey takes nothing outside
// the prefix's runs/ of this bucket.
func TestObjectsKeyLayout(t *testing.T) {
	a := offline()
	if got, want := a.BlobURI("runs/0/r1/artifacts"), "s3://bucket/models/runs/0/r1/artifacts"; got != want {
		t.Fatalf("BlobURI = %q, want %q", got, want)
	}
	for uri, want := range map[string]string{
		"s3://bucket/models/runs/0/r1/artifacts":         "runs/0/r1/artifacts",
		"s3://bucket/models/runs/0/r1/artifacts/model/":  "runs/0/r1/artifacts/model",
		"s3://bucket/models/runs/0/models/m-1/artifacts": "runs/0/models/m-1/artifacts",
		"s3://other/models/runs/0/r1/artifacts":          "", // another bucket
		"s3://bucketx/models/runs/0/r1/artifacts":        "",
		"s3://bucket/runs/0/r1/artifacts":                "", // outside the prefix
		"s3://bucket/models/m/1/model.bin":               "", // a version's files
		"s3://bucket/models/runsx/0":                     "",
		"s3://bucket/models/runs/0/../../m/1":            "",
		"s3://bucket/models/runs/":                       "",
		"mlflow-artifacts:/0/r1/artifacts":               "",
	} {
		got, ok := a.BlobKey(uri)
		if ok != (want != "") || got != want {
			t.Errorf("BlobKey(%q) = %q, %v; want %q", uri, got, ok, want)
		}
	}
}

// TestObjects lists (across pages), hashes and copies into an upload
// session run artifact objects written straight to MinIO, as an MLflow
// client with MODELREG_MLFLOW_ARTIFACTS=s3 does, and refuses objects that
// changed after they were listed.
func TestObjects(t *testing.T) {
	c := testClient(t)
	bucket := newBucket(t, c)
	a := New(apiOf(c), bucket, WithPrefix("models/"))
	a.listPage = 2 // five objects: three pages
	ctx := context.Background()
	dir := "runs/0/r1/artifacts/model"
	files := map[string][]byte{
		"MLmodel":       []byte("flavors: {}\n"),
		"empty":         {},
		"model.pkl":     data(1<<20, 1),
		"sub/a.txt":     []byte("a"),
		"sub/large.bin": data(registry.SinglePartMax+3<<20, 2), // multipart: UploadPartCopy
	}
	put := func(key string, b []byte) {
		t.Helper()
		if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: &bucket, Key: aws.String("models/" + key), Body: bytes.NewReader(b)}); err != nil {
			t.Fatal(err)
		}
	}
	for p, b := range files {
		put(dir+"/"+p, b)
	}
	put(dir+"/sub/", nil)                            // a folder marker
	put("runs/0/r1/artifacts/modelx/y", []byte("y")) // a sibling prefix
	put("runs/0/r2/artifacts/model/z", []byte("z"))

	objs, err := a.ListObjects(ctx, dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, strings.TrimPrefix(o.Key, dir+"/"))
		if b := files[strings.TrimPrefix(o.Key, dir+"/")]; o.Size != int64(len(b)) || o.ETag == "" {
			t.Errorf("%s: size %d etag %q, want %d", o.Key, o.Size, o.ETag, len(b))
		}
	}
	if want := []string{"MLmodel", "empty", "model.pkl", "sub/a.txt", "sub/large.bin"}; !slices.Equal(keys, want) {
		t.Fatalf("listed %q, want %q", keys, want)
	}
	if _, err := a.ListObjects(ctx, dir, 4); !registry.IsCode(err, registry.Invalid) {
		t.Fatalf("ListObjects over the limit: %v, want Invalid", err)
	}
	if _, err := a.ListObjects(ctx, "models/x", 4); !registry.IsCode(err, registry.Invalid) {
		t.Fatalf("ListObjects outside runs/: %v, want Invalid", err)
	}

	s := session("m")
	for _, o := range objs {
		p := strings.TrimPrefix(o.Key, dir+"/")
		sum, err := a.HashObject(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		if sum != hexSum(files[p]) {
			t.Fatalf("%s: sha256 %s, want %s", p, sum, hexSum(files[p]))
		}
		f, err := a.Begin(ctx, s, plan(p, o.Size, sum))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.CopyObject(ctx, o, s, f); err != nil {
			t.Fatalf("copy %s: %v", p, err)
		}
		if err := a.Complete(ctx, s, f); err != nil {
			t.Fatalf("complete %s: %v", p, err)
		}
		out, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: &bucket, Key: aws.String(a.finalKey("m", 1, p))})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if !bytes.Equal(got, files[p]) {
			t.Fatalf("%s: the version's file differs from the run's object", p)
		}
	}

	// The client overwrites objects after they were listed: hashing and
	// copying pinned to the listed ETag refuse, as Unavailable.
	for _, o := range objs {
		if o.Size == 0 {
			continue
		}
		p := strings.TrimPrefix(o.Key, dir+"/")
		put(o.Key, append([]byte("changed"), files[p]...))
		if _, err := a.HashObject(ctx, o); !registry.IsCode(err, registry.Unavailable) {
			t.Errorf("HashObject of replaced %s: %v, want Unavailable", p, err)
		}
		s2 := session("m")
		s2.Version = 2
		f, err := a.Begin(ctx, s2, plan(p, o.Size, hexSum(files[p])))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.CopyObject(ctx, o, s2, f); !registry.IsCode(err, registry.Unavailable) {
			t.Errorf("CopyObject of replaced %s: %v, want Unavailable", p, err)
		}
		if err := a.Abort(ctx, s2, f); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBlobUploads(t *testing.T) {
	c := testClient(t)
	trackingtest.RunBlobUploads(t, func(t *testing.T) tracking.Blobs {
		return New(apiOf(c), newBucket(t, c), WithPrefix("models/"))
	})
}
