package artifacttest

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

func testSinglePart(t *testing.T, h *harness) {
	data := randomBytes(300<<10, 1)
	u := h.begin("model.bin", data, 0)
	h.wantUploaded(u)
	h.sendPart(u, 1)
	h.wantUploaded(u, 1)
	h.wantInvisible("model.bin") // not before Complete
	h.complete(u)
	h.wantFile("model.bin", data)

	status, got, ok := h.get(h.downloadURL("model.bin"), map[string]string{"Range": "bytes=1000-1999"})
	if !ok || status != http.StatusPartialContent || !bytes.Equal(got, data[1000:2000]) {
		t.Fatalf("ranged download: status %d, %d bytes, equal %v; want 206 and bytes 1000-1999",
			status, len(got), bytes.Equal(got, data[1000:2000]))
	}
}

func testEmptyFile(t *testing.T, h *harness) {
	u := h.begin("empty.txt", []byte{}, 0)
	h.sendPart(u, 1)
	h.complete(u)
	h.wantFile("empty.txt", []byte{})
}

func testNestedPaths(t *testing.T, h *harness) {
	files := map[string][]byte{
		"a/b/c.bin": randomBytes(10<<10, 2),
		"a/b/d.bin": randomBytes(20<<10, 3),
		"a/e.json":  []byte(`{"ok":true}`),
	}
	s := h.session()
	var ups []*upload
	for path, data := range files {
		u := &upload{s: s, f: file(path, data, 0), data: data}
		h.beginUpload(u)
		ups = append(ups, u)
	}
	for _, u := range ups {
		h.sendPart(u, 1)
		h.complete(u)
	}
	for path, data := range files {
		h.wantFile(path, data)
	}
	h.wantInvisible("a/b")
}

func testMultipartParallel(t *testing.T, h *harness) {
	data := randomBytes(multipartSize, 4)
	u := h.begin("weights.bin", data, partSize)
	if u.f.Parts != 3 {
		t.Fatalf("%d parts, want 3", u.f.Parts)
	}
	reqs := map[int]registry.PartRequest{}
	for n := 1; n <= u.f.Parts; n++ {
		reqs[n] = h.presign(u, n)
	}
	var wg sync.WaitGroup
	for _, n := range []int{3, 1, 2} {
		wg.Go(func() {
			if ok, msg := h.send(reqs[n], u.body(n)); !ok {
				t.Errorf("part %d refused: %s", n, msg)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	h.wantUploaded(u, 1, 2, 3)
	h.complete(u)
	h.wantFile("weights.bin", data)
}

func testResume(t *testing.T, h *harness) {
	data := randomBytes(multipartSize, 5)
	u := h.begin("resume.bin", data, partSize)
	h.sendPart(u, 3)
	h.sendPart(u, 1)
	h.wantUploaded(u, 1, 3)
	// A client that lost its state asks what arrived and sends the rest.
	got := h.uploaded(u)
	for n := 1; n <= u.f.Parts; n++ {
		if !slices.Contains(got, n) {
			h.sendPart(u, n)
		}
	}
	h.wantUploaded(u, 1, 2, 3)
	h.complete(u)
	h.wantFile("resume.bin", data)
}

func testResendPart(t *testing.T, h *harness) {
	data := randomBytes(multipartSize, 6)
	u := h.begin("resend.bin", data, partSize)
	h.mustSend(h.presign(u, 2), randomBytes(partSize, 7)) // wrong bytes, right size
	h.sendAll(u)                                          // part 2 again, right this time
	h.wantUploaded(u, 1, 2, 3)
	h.complete(u)
	h.wantFile("resend.bin", data)
}

func testPartDigest(t *testing.T, h *harness) {
	data := randomBytes(multipartSize, 8)
	u := &upload{s: h.session(), f: file("digest.bin", data, partSize), data: data}
	for n := 1; n <= u.f.Parts; n++ {
		u.f.PartSHA256 = append(u.f.PartSHA256, sha256Hex(u.body(n)))
	}
	h.beginUpload(u)
	pr := h.presign(u, 2)
	h.mustRefuse("part 2 with a body of another digest", pr, randomBytes(partSize, 9))
	h.wantUploaded(u)
	h.mustSend(pr, u.body(2))
	h.sendPart(u, 1)
	h.sendPart(u, 3)
	h.wantUploaded(u, 1, 2, 3)
	h.complete(u)
	h.wantFile("digest.bin", data)
}

func testCompleteMissingPart(t *testing.T, h *harness) {
	data := randomBytes(multipartSize, 10)
	u := h.begin("missing.bin", data, partSize)
	h.sendPart(u, 1)
	h.sendPart(u, 3)
	err := h.a.Complete(h.ctx, u.s, u.f)
	wantCode(t, "Complete without part 2", err, registry.Invalid)
	if msg := registry.ErrorMessage(err); !strings.Contains(strings.ToLower(msg), "part") || !strings.Contains(msg, "2") {
		t.Errorf("Complete without part 2: message %q does not name the missing part", msg)
	}
	h.wantInvisible("missing.bin")
}

func testCompleteWrongSHA256(t *testing.T, h *harness) {
	data := randomBytes(multipartSize, 11)
	u := &upload{s: h.session(), f: file("wrongsum.bin", data, partSize), data: data}
	u.f.SHA256 = sha256Hex(randomBytes(multipartSize, 12))
	h.beginUpload(u)
	h.sendAll(u)
	err := h.a.Complete(h.ctx, u.s, u.f)
	wantCode(t, "Complete with a wrong sha256", err, registry.Invalid)
	h.wantInvisible("wrongsum.bin")
}

// testWrongSizeBody sends part 1 one byte short, and in another upload
// the last part one byte long. A backend may refuse such a part at once,
// or accept it and refuse the file at Complete; the file never becomes
// visible.
func testWrongSizeBody(t *testing.T, h *harness) {
	data := randomBytes(multipartSize, 13)
	for _, tc := range []struct {
		path string
		part int
		body func(u *upload) []byte
	}{
		{"short.bin", 1, func(u *upload) []byte { return u.body(1)[:partSize-1] }},
		{"long.bin", 3, func(u *upload) []byte { return append(slices.Clip(u.body(3)), 0) }},
	} {
		u := h.begin(tc.path, data, partSize)
		ok, _ := h.send(h.presign(u, tc.part), tc.body(u))
		if got := h.uploaded(u); !ok && slices.Contains(got, tc.part) {
			t.Fatalf("%s: UploadedParts = %v after part %d of the wrong size was refused", tc.path, got, tc.part)
		}
		for n := 1; n <= u.f.Parts; n++ {
			if n != tc.part {
				h.sendPart(u, n)
			}
		}
		err := h.a.Complete(h.ctx, u.s, u.f)
		wantCode(t, "Complete of "+tc.path+" after a part of the wrong size", err, registry.Invalid)
		h.wantInvisible(tc.path)
	}
}

func testTamperedSignature(t *testing.T, h *harness) {
	data := randomBytes(multipartSize, 14)
	u := h.begin("sig.bin", data, partSize)
	pr := h.presign(u, 1)
	bad := pr
	bad.URL = tamperQuery(t, pr.URL, isSignature, flipChar)
	h.mustRefuse("part with a tampered signature", bad, u.body(1))
	h.wantUploaded(u)
	h.mustSend(pr, u.body(1)) // the untouched URL works
	h.wantUploaded(u, 1)
}

func testTamperedPartNumber(t *testing.T, h *harness) {
	data := randomBytes(multipartSize, 15)
	u := h.begin("partno.bin", data, partSize)
	pr := h.presign(u, 1)
	bad := pr
	bad.URL = tamperQuery(t, pr.URL, isPartNumber(1), func(string) string { return "2" })
	h.mustRefuse("part 1's URL changed to part 2", bad, u.body(2))
	h.wantUploaded(u)
	h.mustSend(pr, u.body(1))
	h.wantUploaded(u, 1)
}

func testExpiredPartURL(t *testing.T, h *harness) {
	data := randomBytes(64<<10, 16)
	u := h.begin("expired.bin", data, 0)
	pr, err := h.a.PresignPart(h.ctx, u.s, u.f, 1, time.Now().Add(-time.Minute))
	if err == nil { // an adapter may also refuse to sign it
		h.mustRefuse("expired part URL", pr, u.body(1))
	}
	h.wantUploaded(u)
	h.sendPart(u, 1)
	h.wantUploaded(u, 1)
}

// testChangedHeaders changes, one at a time, each header the request must
// carry (the signed Content-Type at least): each change is refused.
func testChangedHeaders(t *testing.T, h *harness) {
	data := randomBytes(64<<10, 17)
	u := h.begin("headers.bin", data, 0)
	pr := h.presign(u, 1)
	sawType := false
	for k, v := range pr.Headers {
		changed := flipChar(v)
		if strings.EqualFold(k, "Content-Type") {
			sawType, changed = true, "text/plain"
		}
		bad := pr
		bad.Headers = map[string]string{}
		for k2, v2 := range pr.Headers {
			bad.Headers[k2] = v2
		}
		bad.Headers[k] = changed
		h.mustRefuse("part with header "+k+" changed", bad, u.body(1))
		h.wantUploaded(u)
	}
	if !sawType {
		t.Errorf("PartRequest.Headers = %v: want a signed Content-Type", pr.Headers)
	}
	h.mustSend(pr, u.body(1))
	h.wantUploaded(u, 1)
}

func testCompleteTwice(t *testing.T, h *harness) {
	data := randomBytes(multipartSize, 18)
	u := h.begin("twice.bin", data, partSize)
	h.sendAll(u)
	h.complete(u)
	if err := h.a.Complete(h.ctx, u.s, u.f); err != nil {
		t.Fatalf("second Complete: %v, want nil", err)
	}
	h.wantFile("twice.bin", data)
}

func testSecondSession(t *testing.T, h *harness) {
	first := randomBytes(200<<10, 19)
	u1 := h.begin("same.bin", first, 0)
	h.sendAll(u1)
	h.complete(u1)

	other := randomBytes(200<<10, 20) // same size, other bytes
	u2 := h.begin("same.bin", other, 0)
	h.sendAll(u2)
	err := h.a.Complete(h.ctx, u2.s, u2.f)
	wantCode(t, "Complete of a different file at a completed path", err, registry.Conflict)
	h.wantFile("same.bin", first)

	u3 := h.begin("same.bin", first, 0)
	h.sendAll(u3)
	if err := h.a.Complete(h.ctx, u3.s, u3.f); err != nil {
		t.Fatalf("Complete of the same file from another session: %v, want nil", err)
	}
	h.wantFile("same.bin", first)
}

// testDiscard: a file completed by an abandoned session is discarded so a
// new session can store different bytes at its path.
func testDiscard(t *testing.T, h *harness) {
	first := randomBytes(100<<10, 40)
	u1 := h.begin("replace.bin", first, 0)
	h.sendAll(u1)
	h.complete(u1)
	if err := h.a.Discard(h.ctx, h.model, h.version, "replace.bin"); err != nil {
		t.Fatalf("Discard: %v", err)
	}
	h.wantInvisible("replace.bin")
	if err := h.a.Discard(h.ctx, h.model, h.version, "replace.bin"); err != nil {
		t.Fatalf("Discard of a missing file: %v, want nil", err)
	}
	other := randomBytes(100<<10, 41)
	u2 := h.begin("replace.bin", other, 0)
	h.sendAll(u2)
	h.complete(u2)
	h.wantFile("replace.bin", other)
	err := h.a.Discard(h.ctx, h.model, h.version, "../escape")
	wantCode(t, "Discard of an invalid path", err, registry.Invalid)
}

func testAbort(t *testing.T, h *harness) {
	data := randomBytes(multipartSize, 21)
	u := h.begin("abort.bin", data, partSize)
	h.sendPart(u, 1)
	h.wantUploaded(u, 1)
	if err := h.a.Abort(h.ctx, u.s, u.f); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if err := h.a.Abort(h.ctx, u.s, u.f); err != nil {
		t.Fatalf("second Abort: %v, want nil", err)
	}
	h.beginUpload(u)
	h.wantUploaded(u)
	err := h.a.Complete(h.ctx, u.s, u.f)
	wantCode(t, "Complete after Abort", err, registry.Invalid)
	h.wantInvisible("abort.bin")

	// Abort of a file that was never begun.
	never := &upload{s: h.session(), f: file("never.bin", data, partSize), data: data}
	never.s.Files = []registry.UploadFile{never.f}
	if err := h.a.Abort(h.ctx, never.s, never.f); err != nil {
		t.Fatalf("Abort of nothing: %v, want nil", err)
	}
}

func testAbortAfterComplete(t *testing.T, h *harness) {
	data := randomBytes(100<<10, 22)
	u := h.begin("kept.bin", data, 0)
	h.sendAll(u)
	h.complete(u)
	if err := h.a.Abort(h.ctx, u.s, u.f); err != nil {
		t.Fatalf("Abort after Complete: %v", err)
	}
	h.wantFile("kept.bin", data)
}

func testDownloadMissing(t *testing.T, h *harness) {
	h.wantInvisible("nothing.bin")
	data := []byte("present")
	u := h.begin("present.bin", data, 0)
	h.sendAll(u)
	h.complete(u)
	h.wantInvisible("absent.bin")
	_, err := h.a.PresignDownload(h.ctx, h.model, h.version+1, "present.bin", time.Now().Add(time.Hour))
	wantCode(t, "PresignDownload of another version", err, registry.NotFound)
}

func testDownloadRefused(t *testing.T, h *harness) {
	data := randomBytes(100<<10, 23)
	u := h.begin("guarded.bin", data, 0)
	h.sendAll(u)
	h.complete(u)

	good := h.downloadURL("guarded.bin")
	status, body, _ := h.get(tamperQuery(t, good, isSignature, flipChar), nil)
	if status/100 == 2 || bytes.Equal(body, data) {
		t.Fatalf("download with a tampered signature: status %d, want a refusal", status)
	}
	expired, err := h.a.PresignDownload(h.ctx, h.model, h.version, "guarded.bin", time.Now().Add(-time.Minute))
	if err == nil {
		status, body, _ := h.get(expired, nil)
		if status/100 == 2 || bytes.Equal(body, data) {
			t.Fatalf("download with an expired URL: status %d, want a refusal", status)
		}
	}
	h.wantFile("guarded.bin", data) // a fresh URL still works
}

// testRemoveVersion: RemoveVersion removes every completed file of one
// version, nested ones too, and nothing of another version whose number
// starts with the same digits; a repeated call (after a crash) and a
// version with no files are not errors.
func testRemoveVersion(t *testing.T, h *harness) {
	a, b := randomBytes(100<<10, 50), randomBytes(100<<10, 51)
	u1 := h.begin("gone/a.bin", a, 0)
	h.sendAll(u1)
	h.complete(u1)
	u2 := h.begin("b.bin", b, 0)
	h.sendAll(u2)
	h.complete(u2)
	other := *h
	other.version = h.version * 10 // "1/" must not match "10/"
	u3 := other.begin("b.bin", b, 0)
	other.sendAll(u3)
	other.complete(u3)

	if err := h.a.RemoveVersion(h.ctx, h.model, h.version); err != nil {
		t.Fatalf("RemoveVersion: %v", err)
	}
	h.wantInvisible("gone/a.bin")
	h.wantInvisible("b.bin")
	other.wantFile("b.bin", b)
	if err := h.a.RemoveVersion(h.ctx, h.model, h.version); err != nil {
		t.Fatalf("repeated RemoveVersion: %v, want nil", err)
	}
	err := h.a.RemoveVersion(h.ctx, "../escape", h.version)
	wantCode(t, "RemoveVersion of an invalid model", err, registry.Invalid)
	err = h.a.RemoveVersion(h.ctx, h.model, 0)
	wantCode(t, "RemoveVersion of version 0", err, registry.Invalid)
}
