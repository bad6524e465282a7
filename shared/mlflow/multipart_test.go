package mlflow

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// mpu posts body to …/mpu/<op>/<dir> as who.
func (e *env) mpu(who, op, dir string, body any) (int, map[string]any) {
	e.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", e.srv.URL+ArtifactsPrefix+"mpu/"+op+"/"+dir, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+who)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		e.t.Fatalf("mpu %s: body is not JSON: %v", op, err)
	}
	return resp.StatusCode, doc
}

// sendParts sends data in parts of size to the credentials of a create
// response, as the MLflow client does, and returns the parts to complete.
func (e *env) sendParts(doc map[string]any, data []byte, size int) []map[string]any {
	e.t.Helper()
	var parts []map[string]any
	for i, c := range doc["credentials"].([]any) {
		cred := c.(map[string]any)
		chunk := data[min(len(data), i*size):min(len(data), (i+1)*size)]
		req, _ := http.NewRequest("PUT", cred["url"].(string), bytes.NewReader(chunk))
		for k, v := range cred["headers"].(map[string]any) {
			req.Header.Set(k, v.(string))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			e.t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			e.t.Fatalf("part %d: %d", i+1, resp.StatusCode)
		}
		parts = append(parts, map[string]any{"part_number": cred["part_number"], "etag": resp.Header.Get("ETag"), "url": cred["url"]})
	}
	return parts
}

func TestMultipartUpload(t *testing.T) {
	e := newTrackingEnv(t)
	run := e.must("paul", "POST", "runs/create", map[string]any{"experiment_id": "0"})["run"].(map[string]any)
	rid := run["info"].(map[string]any)["run_id"].(string)
	dir := "0/" + rid + "/artifacts/big"
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16+3) // 1 MiB + 48 bytes: parts of 400,000 bytes
	const size = 400000

	st, doc := e.mpu("paul", "create", dir, map[string]any{"path": "/home/me/w.bin", "num_parts": 3})
	if st != 200 || doc["upload_id"] == "" || len(doc["credentials"].([]any)) != 3 {
		t.Fatalf("create: %d %v", st, doc)
	}
	id := doc["upload_id"].(string)
	parts := e.sendParts(doc, data, size)
	// Unknown upload, parts out of order: refused, nothing stored.
	if st, doc := e.mpu("paul", "complete", dir, map[string]any{"path": "/home/me/w.bin", "upload_id": "0123456789abcdef", "parts": parts}); st != 404 || doc["error_code"] != "RESOURCE_DOES_NOT_EXIST" {
		t.Fatalf("complete unknown: %d %v", st, doc)
	}
	swapped := []map[string]any{parts[1], parts[0], parts[2]}
	if st, doc := e.mpu("paul", "complete", dir, map[string]any{"path": "/home/me/w.bin", "upload_id": id, "parts": swapped}); st != 400 || doc["error_code"] != "INVALID_PARAMETER_VALUE" {
		t.Fatalf("complete out of order: %d %v", st, doc)
	}
	if st, _ := e.get("rita", "artifacts/"+dir+"/w.bin"); st != 404 {
		t.Fatalf("file visible before completion: %d", st)
	}
	if st, doc := e.mpu("rita", "complete", dir, map[string]any{"path": "/home/me/w.bin", "upload_id": id, "parts": parts}); st != 403 {
		t.Fatalf("reader completes: %d %v", st, doc)
	}
	if st, doc := e.mpu("paul", "complete", dir, map[string]any{"path": "/home/me/w.bin", "upload_id": id, "parts": parts}); st != 200 {
		t.Fatalf("complete: %d %v", st, doc)
	}
	req, _ := http.NewRequest("GET", e.srv.URL+ArtifactsPrefix+"artifacts/"+dir+"/w.bin", nil)
	req.Header.Set("Authorization", "Bearer rita")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	back, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	sum := sha256.Sum256(data)
	if !bytes.Equal(back, data) || resp.Header.Get("X-Modelreg-SHA256") != hex.EncodeToString(sum[:]) {
		t.Fatalf("download: %d bytes, sha header %s", len(back), resp.Header.Get("X-Modelreg-SHA256"))
	}
	if st, list := e.get("rita", "artifacts?path="+dir); st != 200 || !bytes.Contains(list, []byte(`{"path":"w.bin","is_dir":false,"file_size":1048624}`)) {
		t.Fatalf("list: %d %s", st, list)
	}

	// Abort: the parts go, completing is refused, nothing is stored.
	st, doc = e.mpu("paul", "create", dir, map[string]any{"path": "other.bin", "num_parts": 1})
	if st != 200 {
		t.Fatalf("create: %d %v", st, doc)
	}
	parts = e.sendParts(doc, []byte("tiny"), size)
	id = doc["upload_id"].(string)
	for range 2 {
		if st, doc := e.mpu("paul", "abort", dir, map[string]any{"path": "other.bin", "upload_id": id}); st != 200 {
			t.Fatalf("abort: %d %v", st, doc)
		}
	}
	if st, doc := e.mpu("paul", "complete", dir, map[string]any{"path": "other.bin", "upload_id": id, "parts": parts}); st != 404 {
		t.Fatalf("complete after abort: %d %v", st, doc)
	}
	if st, _ := e.get("rita", "artifacts/"+dir+"/other.bin"); st != 404 {
		t.Fatalf("aborted file stored: %d", st)
	}

	// Bad requests.
	for _, c := range []struct {
		who, op, dir string
		body         map[string]any
		status       int
		code         string
	}{
		{"rita", "create", dir, map[string]any{"path": "x.bin", "num_parts": 1}, 403, "PERMISSION_DENIED"},
		{"paul", "create", dir, map[string]any{"path": "x.bin", "num_parts": 0}, 400, "INVALID_PARAMETER_VALUE"},
		{"paul", "create", dir, map[string]any{"path": "x.bin", "num_parts": 10001}, 400, "INVALID_PARAMETER_VALUE"},
		{"paul", "create", dir, map[string]any{"num_parts": 1}, 400, "INVALID_PARAMETER_VALUE"},
		{"paul", "create", dir, map[string]any{"path": "/", "num_parts": 1}, 400, "INVALID_PARAMETER_VALUE"},
		{"paul", "create", dir, map[string]any{"path": "x.bin", "num_parts": 1, "extra": 1}, 400, "INVALID_PARAMETER_VALUE"},
		{"paul", "create", "0/" + rid + "/artifacts", map[string]any{"path": "big", "num_parts": 1}, 400, "INVALID_PARAMETER_VALUE"}, // a directory
		{"paul", "create", "0/nosuchrun/artifacts", map[string]any{"path": "x.bin", "num_parts": 1}, 404, "RESOURCE_DOES_NOT_EXIST"},
		{"paul", "complete", dir, map[string]any{"path": "x.bin", "parts": []any{}}, 400, "INVALID_PARAMETER_VALUE"},
		{"paul", "complete", dir, map[string]any{"path": "x.bin", "upload_id": "../../x", "parts": []any{}}, 400, "INVALID_PARAMETER_VALUE"},
		{"paul", "abort", dir, map[string]any{"path": "x.bin"}, 400, "INVALID_PARAMETER_VALUE"},
	} {
		if st, doc := e.mpu(c.who, c.op, c.dir, c.body); st != c.status || doc["error_code"] != c.code {
			t.Errorf("%s %s %v: %d %v, want %d %s", c.op, c.dir, c.body, st, doc, c.status, c.code)
		}
	}
}

// TestMultipart1GiBStreams sends 1 GiB in MLflow's default 10 MiB parts
// through the multipart endpoints (client and server in this process):
// parts, joining and hashing stay within 100 MB of RSS.
func TestMultipart1GiBStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB upload")
	}
	e := newTrackingEnv(t)
	rid := e.must("paul", "POST", "runs/create", map[string]any{"experiment_id": "0"})["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string)
	dir := "0/" + rid + "/artifacts"
	const size, part = 1 << 30, 10 << 20
	peakRSSGrowth(t, "a 1 GiB multipart upload", func() {
		st, doc := e.mpu("paul", "create", dir, map[string]any{"path": "big.bin", "num_parts": (size + part - 1) / part})
		if st != 200 {
			t.Fatalf("create: %d %v", st, doc)
		}
		src := &patterned{n: size}
		var parts []map[string]any
		for _, c := range doc["credentials"].([]any) {
			cred := c.(map[string]any)
			n := min(part, size-src.off)
			req, _ := http.NewRequest("PUT", cred["url"].(string), io.LimitReader(src, n))
			req.ContentLength = n
			for k, v := range cred["headers"].(map[string]any) {
				req.Header.Set(k, v.(string))
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("part %v: %d", cred["part_number"], resp.StatusCode)
			}
			parts = append(parts, map[string]any{"part_number": cred["part_number"], "etag": resp.Header.Get("ETag")})
		}
		if st, doc := e.mpu("paul", "complete", dir, map[string]any{"path": "big.bin", "upload_id": doc["upload_id"], "parts": parts}); st != 200 {
			t.Fatalf("complete: %d %v", st, doc)
		}
	})
	if st, list := e.get("rita", "artifacts?path="+dir); st != 200 || !bytes.Contains(list, []byte(`"file_size":1073741824`)) {
		t.Fatalf("list: %d %s", st, list)
	}
}
