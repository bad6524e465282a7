package s3

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/modelreg/modelreg/shared/registry"
)

// oddPaths are artifact paths with the bytes a request path mangles:
// spaces, '+', '%', unicode, reserved and unsafe characters.
var oddPaths = []string{
	"a b/c+d%e/é.bin",
	"x=y&z?q#f[1]!*'()~$@:,;.txt",
	"日本/ü ß+%2F%20.bin",
	"quote\"<>^{}|`.bin",
	"plus+/+lead and trail +",
}

// TestOddKeys: objects with odd keys round-trip through MinIO. What the
// adapter writes is at exactly that key (read with the SDK), and it lists
// (encoding-type=url), reads, hashes, copies (both copy kinds, whose
// x-amz-copy-source is escaped too), completes, presigns and deletes them.
func TestOddKeys(t *testing.T) {
	x := newFixture(t)
	ctx := context.Background()
	a := x.a
	sdkGet := func(key string) []byte {
		t.Helper()
		out, err := x.c.GetObject(ctx, &awss3.GetObjectInput{Bucket: &x.bucket, Key: aws.String(key)})
		if err != nil {
			t.Fatalf("SDK GetObject %q: %v", key, err)
		}
		defer out.Body.Close()
		b, _ := io.ReadAll(out.Body)
		return b
	}
	dir := "runs/0/r1/artifacts"
	bodies := map[string][]byte{}
	for i, p := range oddPaths {
		b := data(int64(100+i), uint64(i))
		if i == 0 {
			b = data(registry.SinglePartMax+1<<20, 9) // copied in parts: UploadPartCopy, ListParts, Complete at an odd key
		}
		bodies[p] = b
		blob, err := a.PutBlob(ctx, dir+"/"+p, bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatalf("PutBlob %q: %v", p, err)
		}
		if blob.SHA256 != hexSum(b) || !bytes.Equal(sdkGet("models/"+dir+"/"+p), b) {
			t.Fatalf("PutBlob %q: %+v; the SDK does not read those bytes at that key", p, blob)
		}
		rc, err := a.OpenBlob(ctx, dir+"/"+p, 10)
		if err != nil {
			t.Fatalf("OpenBlob %q: %v", p, err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, b[10:]) {
			t.Fatalf("OpenBlob %q at 10: %d bytes, not the object's", p, len(got))
		}
	}
	objs, err := a.ListObjects(ctx, dir, 100)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, o := range objs {
		listed = append(listed, strings.TrimPrefix(o.Key, dir+"/"))
	}
	want := slices.Clone(oddPaths)
	slices.Sort(want)
	slices.Sort(listed)
	if !slices.Equal(listed, want) {
		t.Fatalf("listed %q, want %q", listed, want)
	}

	s := session("odd")
	for _, o := range objs {
		p := strings.TrimPrefix(o.Key, dir+"/")
		sum, err := a.HashObject(ctx, o)
		if err != nil || sum != hexSum(bodies[p]) {
			t.Fatalf("HashObject %q: %s, %v", p, sum, err)
		}
		f, err := a.Begin(ctx, s, plan(p, o.Size, sum))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.CopyObject(ctx, o, s, f); err != nil {
			t.Fatalf("CopyObject %q (%d parts): %v", p, f.Parts, err)
		}
		if err := a.Complete(ctx, s, f); err != nil {
			t.Fatalf("Complete %q: %v", p, err)
		}
		if !bytes.Equal(sdkGet(a.finalKey("odd", 1, p)), bodies[p]) {
			t.Fatalf("%q: the SDK does not read the file at its key", p)
		}
		link, err := a.PresignDownload(ctx, "odd", 1, p, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, bodies[p]) {
			t.Fatalf("download %q: %s, %d bytes", p, resp.Status, len(got))
		}
	}
	// A single-part file sent over its presigned PUT, at an odd path.
	u := x.begin("odd", "up load/+%é.bin", []byte("sent by a client"), 0, false)
	x.sendAll(u)
	if err := a.Complete(ctx, u.s, u.f); err != nil {
		t.Fatal(err)
	}
	x.wantFile(u, u.data)

	if err := a.RemoveVersion(ctx, "odd", 1); err != nil {
		t.Fatal(err)
	}
	for _, p := range append(slices.Clone(oddPaths), u.f.Path) {
		if _, err := x.c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: &x.bucket, Key: aws.String(a.finalKey("odd", 1, p))}); err == nil {
			t.Errorf("%q is still there after RemoveVersion", p)
		}
	}
}
