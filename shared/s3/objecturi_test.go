package s3

import (
	"bytes"
	"io"
	"strings"
	"testing"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestObjectURI: the s3:// URI of a completed file names the object that
// holds its bytes (what SageMaker's ModelDataUrl reads), on MinIO.
func TestObjectURI(t *testing.T) {
	x := newFixture(t)
	data := []byte("model weights, for SageMaker")
	u := x.begin("fraud_model", "dir/model.tar.gz", data, 0, false)
	x.sendAll(u)
	if err := x.a.Complete(t.Context(), u.s, u.f); err != nil {
		t.Fatal(err)
	}
	uri := x.a.ObjectURI("fraud_model", 1, "dir/model.tar.gz")
	if want := "s3://" + x.bucket + "/models/fraud_model/1/dir/model.tar.gz"; uri != want {
		t.Fatalf("ObjectURI = %s, want %s", uri, want)
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(uri, "s3://"), "/")
	out, err := x.c.GetObject(t.Context(), &awss3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	got, _ := io.ReadAll(out.Body)
	if !bytes.Equal(got, data) {
		t.Fatalf("object at %s holds %q", uri, got)
	}
}
