package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/modelreg/modelreg/shared/registry"
)

// TestUploadSessionOfAShardedCheckpoint: per-part digests of a checkpoint
// sharded into 30 files of 5.5 GB (33,000 parts) make a body of about
// 2 MB: the uploads route takes it although other routes stop at 1 MiB.
func TestUploadSessionOfAShardedCheckpoint(t *testing.T) {
	e := newEnv(t, withFreeSpace(1<<40)) // the session declares 161 GiB, more than a test disk may have
	e.seedModel("big", 0)
	if _, err := e.svc.RegisterVersion(as("paul"), "big", registry.NewVersion{}); err != nil {
		t.Fatal(err)
	}
	spec := func(files, parts int) string {
		digest := strings.Repeat("ab", 32)
		var fs []FileSpec
		for i := range files {
			f := FileSpec{Path: fmt.Sprintf("shard-%02d.safetensors", i), Size: int64(parts) * registry.MinPartSize,
				SHA256: digest, PartSize: registry.MinPartSize}
			for range parts {
				f.PartSHA256 = append(f.PartSHA256, digest)
			}
			fs = append(fs, f)
		}
		b, _ := json.Marshal(map[string]any{"files": fs})
		return string(b)
	}
	body := spec(30, 1100)
	if len(body) <= int(DefaultMaxBodyBytes) {
		t.Fatalf("the body is only %d bytes: not a test of the larger limit", len(body))
	}
	r := req{method: "POST", path: "/v1/models/big/versions/1/uploads", token: tok("paul"), body: body}
	if res := e.do(r); res.status != http.StatusCreated {
		t.Fatalf("a %d-byte upload session: %d %s", len(body), res.status, res.body[:min(len(res.body), 300)])
	}
	r.body = spec(100, 1300) // about 8.7 MB
	if res := e.do(r); res.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a body over %d bytes: %d, want 413", UploadMaxBodyBytes, res.status)
	}
}
