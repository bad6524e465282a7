package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// uploadBody is an upload-session request of nearly UploadMaxBodyBytes:
// files with a SHA-256 per part, the largest body the API accepts.
func uploadBody(tb testing.TB) []byte {
	tb.Helper()
	var req UploadRequest
	size := 0
	for i := 0; size < int(UploadMaxBodyBytes)-200_000; i++ {
		f := FileSpec{Path: fmt.Sprintf("shard-%05d.safetensors", i), Size: 1000 << 24, SHA256: strings.Repeat("a", 64), PartSize: 16 << 20}
		for range 1000 {
			f.PartSHA256 = append(f.PartSHA256, strings.Repeat("b", 64))
		}
		req.Files = append(req.Files, f)
		size += 1000 * 67
	}
	data, err := json.Marshal(req)
	if err != nil {
		tb.Fatal(err)
	}
	if int64(len(data)) > UploadMaxBodyBytes {
		tb.Fatalf("body is %d bytes, over the limit", len(data))
	}
	return data
}

// BenchmarkDecodeUploadBody compares decoding the largest upload-session
// body with encoding/json alone (what the API did before) against the
// strict decode (checkJSON, then the same decode), and checkJSON alone.
// Run: go test -run - -bench DecodeUploadBody ./shared/httpapi/
func BenchmarkDecodeUploadBody(b *testing.B) {
	data := uploadBody(b)
	b.Logf("body: %d bytes", len(data))
	b.Run("encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var req UploadRequest
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("strict", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			var req UploadRequest
			if err := decodeStrict(data, &req, "request body"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("check-only", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		t := reflect.TypeFor[*UploadRequest]()
		for b.Loop() {
			if err := checkJSON(data, t, "request body"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
