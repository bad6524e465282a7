// Package artifacttest is the contract suite of registry.Artifacts: every
// adapter (the filesystem one behind its own server, S3 behind MinIO) runs
// Run unchanged. It drives the protocol as a client would: each presigned
// request is sent with net/http exactly as given, and files come back
// through the presigned GET. Refusals are asserted only as "not 2xx" plus
// the resulting state, since adapters answer with different statuses.
package artifacttest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// partSize is S3's minimum part size; multipart files are a little over
// two parts so that the last part is short.
const (
	partSize      = registry.MinPartSize
	multipartSize = 2*partSize + 1<<20 // 11 MiB: parts of 5, 5 and 1 MiB
)

// Run runs the suite. newArtifacts returns the adapter under test; it is
// called once per subtest, from parallel subtests, and may share storage
// between calls (each subtest uses its own model name).
func Run(t *testing.T, newArtifacts func(t *testing.T) registry.Artifacts) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"SinglePartRoundTrip", testSinglePart},
		{"EmptyFile", testEmptyFile},
		{"NestedPaths", testNestedPaths},
		{"MultipartParallelOutOfOrder", testMultipartParallel},
		{"ResumeAfterSomeParts", testResume},
		{"ResendPart", testResendPart},
		{"PartDigest", testPartDigest},
		{"CompleteMissingPart", testCompleteMissingPart},
		{"CompleteWrongSHA256", testCompleteWrongSHA256},
		{"WrongSizeBody", testWrongSizeBody},
		{"TamperedSignature", testTamperedSignature},
		{"TamperedPartNumber", testTamperedPartNumber},
		{"ExpiredPartURL", testExpiredPartURL},
		{"ChangedHeaders", testChangedHeaders},
		{"CompleteTwice", testCompleteTwice},
		{"SecondSessionSamePath", testSecondSession},
		{"DiscardThenReplace", testDiscard},
		{"RemoveVersion", testRemoveVersion},
		{"Abort", testAbort},
		{"AbortAfterCompleteKeepsFile", testAbortAfterComplete},
		{"DownloadMissing", testDownloadMissing},
		{"DownloadTamperedOrExpired", testDownloadRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := &harness{
				t:       t,
				ctx:     t.Context(),
				a:       newArtifacts(t),
				model:   "artifacttest-" + registry.RandomToken(6),
				version: 1,
				client:  &http.Client{Timeout: 2 * time.Minute},
			}
			tc.fn(t, h)
		})
	}
}

// harness drives one adapter for one subtest.
type harness struct {
	t       *testing.T
	ctx     context.Context
	a       registry.Artifacts
	model   string
	version int
	client  *http.Client
}

// upload is one file of one session, with the bytes it should hold.
type upload struct {
	s    registry.UploadSession
	f    registry.UploadFile
	data []byte
}

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(n int64, seed uint64) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 1}).Read(b)
	return b
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// session returns a new open upload session of the harness's version.
func (h *harness) session() registry.UploadSession {
	now := time.Now().UTC()
	return registry.UploadSession{ID: registry.NewID(now), Model: h.model, Version: h.version,
		Status: registry.UploadOpen, CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour), Revision: 1}
}

// file describes data at path cut in parts of ps bytes (one part if ps
// is 0).
func file(path string, data []byte, ps int64) registry.UploadFile {
	size := int64(len(data))
	if ps == 0 {
		ps = max(size, 1)
	}
	return registry.UploadFile{Path: path, Size: size, SHA256: sha256Hex(data), PartSize: ps, Parts: registry.PartCount(size, ps)}
}

// begin starts an upload of data at path in a new session.
func (h *harness) begin(path string, data []byte, ps int64) *upload {
	h.t.Helper()
	u := &upload{s: h.session(), f: file(path, data, ps), data: data}
	h.beginUpload(u)
	return u
}

// beginUpload calls Begin and keeps the file it returns.
func (h *harness) beginUpload(u *upload) {
	h.t.Helper()
	u.s.Files = []registry.UploadFile{u.f}
	f, err := h.a.Begin(h.ctx, u.s, u.f)
	if err != nil {
		h.t.Fatalf("Begin(%s): %v", u.f.Path, err)
	}
	u.f, u.s.Files[0] = f, f
}

// body returns the bytes of part n.
func (u *upload) body(n int) []byte {
	off, size := registry.PartRange(u.f.Size, u.f.PartSize, n)
	return u.data[off : off+size]
}

func (h *harness) presign(u *upload, n int) registry.PartRequest {
	h.t.Helper()
	pr, err := h.a.PresignPart(h.ctx, u.s, u.f, n, time.Now().Add(time.Hour))
	if err != nil {
		h.t.Fatalf("PresignPart(%s, %d): %v", u.f.Path, n, err)
	}
	if pr.Number != n {
		h.t.Fatalf("PresignPart(%s, %d) returned part %d", u.f.Path, n, pr.Number)
	}
	return pr
}

// send sends body with pr's method, URL and headers and reports whether it
// was accepted (2xx). A transport error counts as a refusal: a server may
// answer and close before reading a body it refuses.
func (h *harness) send(pr registry.PartRequest, body []byte) (bool, string) {
	req, err := http.NewRequestWithContext(h.ctx, pr.Method, pr.URL, bytes.NewReader(body))
	if err != nil {
		h.t.Fatalf("part %d: build request: %v", pr.Number, err)
	}
	for k, v := range pr.Headers {
		req.Header.Set(k, v)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode/100 == 2, fmt.Sprintf("%s: %s", resp.Status, msg)
}

// sendPart presigns and sends part n of u with its right bytes; it must be
// accepted.
func (h *harness) sendPart(u *upload, n int) {
	h.t.Helper()
	h.mustSend(h.presign(u, n), u.body(n))
}

func (h *harness) mustSend(pr registry.PartRequest, body []byte) {
	h.t.Helper()
	if ok, msg := h.send(pr, body); !ok {
		h.t.Fatalf("part %d refused: %s", pr.Number, msg)
	}
}

// mustRefuse sends a request that must not be accepted.
func (h *harness) mustRefuse(what string, pr registry.PartRequest, body []byte) {
	h.t.Helper()
	if ok, msg := h.send(pr, body); ok {
		h.t.Fatalf("%s: accepted (%s), want a refusal", what, msg)
	}
}

func (h *harness) sendAll(u *upload) {
	h.t.Helper()
	for n := 1; n <= u.f.Parts; n++ {
		h.sendPart(u, n)
	}
}

func (h *harness) uploaded(u *upload) []int {
	h.t.Helper()
	got, err := h.a.UploadedParts(h.ctx, u.s, u.f)
	if err != nil {
		h.t.Fatalf("UploadedParts(%s): %v", u.f.Path, err)
	}
	return got
}

func (h *harness) wantUploaded(u *upload, want ...int) {
	h.t.Helper()
	if got := h.uploaded(u); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		h.t.Fatalf("UploadedParts(%s) = %v, want %v", u.f.Path, got, want)
	}
}

func (h *harness) complete(u *upload) {
	h.t.Helper()
	if err := h.a.Complete(h.ctx, u.s, u.f); err != nil {
		h.t.Fatalf("Complete(%s): %v", u.f.Path, err)
	}
}

// wantCode fails unless err carries code.
func wantCode(t *testing.T, what string, err error, code registry.Code) {
	t.Helper()
	if !registry.IsCode(err, code) {
		t.Fatalf("%s: got error %v, want code %s", what, err, code)
	}
}

// get GETs url with extra headers; ok is false on a transport error.
func (h *harness) get(rawURL string, hdr map[string]string) (status int, body []byte, ok bool) {
	h.t.Helper()
	req, err := http.NewRequestWithContext(h.ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		h.t.Fatalf("build GET: %v", err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, nil, false
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, false
	}
	return resp.StatusCode, body, true
}

func (h *harness) downloadURL(path string) string {
	h.t.Helper()
	u, err := h.a.PresignDownload(h.ctx, h.model, h.version, path, time.Now().Add(time.Hour))
	if err != nil {
		h.t.Fatalf("PresignDownload(%s): %v", path, err)
	}
	return u
}

// wantFile downloads path through a presigned URL and compares it to want.
func (h *harness) wantFile(path string, want []byte) {
	h.t.Helper()
	status, got, ok := h.get(h.downloadURL(path), nil)
	if !ok || status != http.StatusOK {
		h.t.Fatalf("download %s: status %d (transport ok: %v)", path, status, ok)
	}
	if !bytes.Equal(got, want) {
		h.t.Fatalf("download %s: got %d bytes (sha256 %s), want %d bytes (sha256 %s)",
			path, len(got), sha256Hex(got), len(want), sha256Hex(want))
	}
}

// wantInvisible checks that nothing can be downloaded at path.
func (h *harness) wantInvisible(path string) {
	h.t.Helper()
	_, err := h.a.PresignDownload(h.ctx, h.model, h.version, path, time.Now().Add(time.Hour))
	wantCode(h.t, "PresignDownload of "+path, err, registry.NotFound)
}

// tamperQuery returns rawURL with the value of the first query parameter
// that match accepts replaced by change(value). The rest of the URL is
// kept byte for byte.
func tamperQuery(t *testing.T, rawURL string, match func(key, value string) bool, change func(string) string) string {
	t.Helper()
	base, query, _ := strings.Cut(rawURL, "?")
	params := strings.Split(query, "&")
	for i, p := range params {
		k, v, _ := strings.Cut(p, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil || !match(key, val) {
			continue
		}
		params[i] = k + "=" + url.QueryEscape(change(val))
		return base + "?" + strings.Join(params, "&")
	}
	t.Fatalf("no query parameter to tamper with in %s", rawURL)
	return ""
}

// isSignature matches the signature parameter: sig, signature,
// X-Amz-Signature…
func isSignature(key, _ string) bool {
	k := strings.ToLower(key)
	return k == "sig" || strings.HasSuffix(k, "signature")
}

// flipChar changes the middle character of s to another one of the same
// alphabet (hex or base64).
func flipChar(s string) string {
	if s == "" {
		return "0"
	}
	b := []byte(s)
	i := len(b) / 2
	if b[i] == '0' {
		b[i] = '1'
	} else {
		b[i] = '0'
	}
	return string(b)
}

// isPartNumber returns a matcher for the query parameter that carries part
// number n (part, partNumber…).
func isPartNumber(n int) func(key, value string) bool {
	return func(key, value string) bool {
		return strings.Contains(strings.ToLower(key), "part") && value == strconv.Itoa(n)
	}
}
