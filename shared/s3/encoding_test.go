package s3

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/modelreg/modelreg/shared/awsapi"
)

// TestGzipObjectReadAsStored: an object stored with Content-Encoding: gzip
// (MLflow's S3 client sets it for a .gz artifact) reads back as its stored
// bytes, as S3 sends them whatever the request's Accept-Encoding: Go's
// transport, asked nothing, would add Accept-Encoding: gzip and hand back
// the bytes decompressed (the SDK sent Accept-Encoding: identity for that).
func TestGzipObjectReadAsStored(t *testing.T) {
	var stored bytes.Buffer
	zw := gzip.NewWriter(&stored)
	_, _ = zw.Write(bytes.Repeat([]byte("a,b,c\n"), 1000))
	_ = zw.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Type", "text/csv")
		_, _ = w.Write(stored.Bytes())
	}))
	t.Cleanup(srv.Close)
	api, err := awsapi.New(awsapi.Config{Region: "us-east-1", Credentials: awsapi.StaticCredentials("AKID", "SECRET", "")}, Service, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := New(api, "b").OpenBlob(t.Context(), "runs/0/r1/artifacts/data.csv.gz", 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, stored.Bytes()) {
		t.Fatalf("read %d bytes (%v), want the %d stored bytes", len(got), err, stored.Len())
	}
}
