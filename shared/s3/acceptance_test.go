package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/modelreg/modelreg/shared/registry"
)

// fixture is one adapter on a fresh bucket of the test MinIO.
type fixture struct {
	t      *testing.T
	c      *awss3.Client
	bucket string
	a      *Artifacts
}

func newFixture(t *testing.T, opts ...Option) *fixture {
	c := testClient(t)
	b := newBucket(t, c)
	return &fixture{t: t, c: c, bucket: b, a: New(apiOf(c), b, append([]Option{WithPrefix("models/")}, opts...)...)}
}

// file is one file of one session with its bytes.
type file struct {
	s    registry.UploadSession
	f    registry.UploadFile
	data []byte
}

// begin begins path holding data in a new session of model, in parts of
// ps bytes (0: one part), with part digests if digests.
func (x *fixture) begin(model, path string, data []byte, ps int64, digests bool) *file {
	x.t.Helper()
	size := int64(len(data))
	if ps == 0 {
		ps = max(size, 1)
	}
	u := &file{s: session(model), data: data}
	u.f = registry.UploadFile{Path: path, Size: size, SHA256: hexSum(data), PartSize: ps, Parts: registry.PartCount(size, ps)}
	if digests {
		for n := 1; n <= u.f.Parts; n++ {
			u.f.PartSHA256 = append(u.f.PartSHA256, hexSum(u.body(n)))
		}
	}
	u.s.Files = []registry.UploadFile{u.f}
	f, err := x.a.Begin(x.t.Context(), u.s, u.f)
	if err != nil {
		x.t.Fatalf("Begin(%s): %v", path, err)
	}
	u.f, u.s.Files[0] = f, f
	return u
}

func (u *file) body(n int) []byte {
	off, l := registry.PartRange(u.f.Size, u.f.PartSize, n)
	return u.data[off : off+l]
}

func (x *fixture) presign(u *file, n int, expires time.Time) registry.PartRequest {
	x.t.Helper()
	pr, err := x.a.PresignPart(x.t.Context(), u.s, u.f, n, expires)
	if err != nil {
		x.t.Fatalf("PresignPart(%s, %d): %v", u.f.Path, n, err)
	}
	return pr
}

// sendPart presigns and sends part n with its right bytes.
func (x *fixture) sendPart(u *file, n int) {
	x.t.Helper()
	if ok, msg := send(x.t, x.presign(u, n, time.Now().Add(time.Hour)), u.body(n)); !ok {
		x.t.Fatalf("part %d of %s refused: %s", n, u.f.Path, msg)
	}
}

func (x *fixture) sendAll(u *file) {
	x.t.Helper()
	for n := 1; n <= u.f.Parts; n++ {
		x.sendPart(u, n)
	}
}

// wantNotReady checks that f cannot become the version's file: Complete
// fails and nothing is visible at its path.
func (x *fixture) wantNotReady(u *file, what string) {
	x.t.Helper()
	if err := x.a.Complete(x.t.Context(), u.s, u.f); err == nil {
		x.t.Fatalf("%s: Complete succeeded", what)
	}
	x.wantInvisible(u, what)
}

func (x *fixture) wantInvisible(u *file, what string) {
	x.t.Helper()
	_, err := x.a.PresignDownload(x.t.Context(), u.s.Model, u.s.Version, u.f.Path, time.Now().Add(time.Hour))
	if !registry.IsCode(err, registry.NotFound) {
		x.t.Fatalf("%s: PresignDownload: %v, want NotFound", what, err)
	}
}

// wantFile downloads u's path and compares it with want.
func (x *fixture) wantFile(u *file, want []byte) {
	x.t.Helper()
	link, err := x.a.PresignDownload(x.t.Context(), u.s.Model, u.s.Version, u.f.Path, time.Now().Add(time.Hour))
	if err != nil {
		x.t.Fatalf("PresignDownload(%s): %v", u.f.Path, err)
	}
	resp, err := http.Get(link)
	if err != nil {
		x.t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
		x.t.Fatalf("download %s: %s, %d bytes, equal %v", u.f.Path, resp.Status, len(got), bytes.Equal(got, want))
	}
}

// TestRefusedPartsNeverReady is the acceptance test of presigned part
// requests against MinIO: each attack is refused by the server, the
// version's file cannot be completed, and a fresh URL (a refresh) then
// works, which shows that the refusal came from the attack.
func TestRefusedPartsNeverReady(t *testing.T) {
	attacks := []struct {
		name   string
		change func(pr registry.PartRequest, u *file, x *fixture) (registry.PartRequest, []byte)
	}{
		{"WrongChecksum", func(pr registry.PartRequest, u *file, _ *fixture) (registry.PartRequest, []byte) {
			return pr, data(int64(len(u.body(1))), 99) // same size, other bytes
		}},
		{"ChecksumHeaderDropped", func(pr registry.PartRequest, u *file, _ *fixture) (registry.PartRequest, []byte) {
			pr.Headers = without(pr.Headers, "X-Amz-Checksum-Sha256")
			return pr, data(int64(len(u.body(1))), 99)
		}},
		{"ChangedContentType", func(pr registry.PartRequest, u *file, _ *fixture) (registry.PartRequest, []byte) {
			pr.Headers = without(pr.Headers, "Content-Type")
			pr.Headers["Content-Type"] = "text/plain"
			return pr, u.body(1)
		}},
		{"TamperedSignature", func(pr registry.PartRequest, u *file, _ *fixture) (registry.PartRequest, []byte) {
			pr.URL = replaceParam(pr.URL, "X-Amz-Signature", func(v string) string { return strings.Repeat("0", len(v)) })
			return pr, u.body(1)
		}},
		{"ExtendedExpiry", func(pr registry.PartRequest, u *file, _ *fixture) (registry.PartRequest, []byte) {
			pr.URL = replaceParam(pr.URL, "X-Amz-Expires", func(string) string { return "604800" })
			return pr, u.body(1)
		}},
		{"RedirectedToFinalKey", func(pr registry.PartRequest, u *file, x *fixture) (registry.PartRequest, []byte) {
			// A client that sends the part straight to the final key
			// would skip Complete's checks.
			// A multipart part already goes to the final key: send it to
			// another version's.
			target := x.a.finalKey(u.s.Model, u.s.Version, u.f.Path)
			if u.f.Multipart() {
				target = x.a.finalKey(u.s.Model, u.s.Version+1, u.f.Path)
			}
			base, query, _ := strings.Cut(pr.URL, "?")
			base = base[:strings.Index(base, "/"+x.bucket+"/")] + "/" + x.bucket + "/" + target
			pr.URL = base + "?" + query
			return pr, u.body(1)
		}},
		{"Expired", func(pr registry.PartRequest, u *file, x *fixture) (registry.PartRequest, []byte) {
			return x.presign(u, 1, time.Now().Add(-time.Second)), u.body(1)
		}},
	}
	kinds := []struct {
		name    string
		size    int64
		ps      int64
		digests bool
	}{
		{"SinglePart", 256 << 10, 0, false},
		{"Multipart", 11 << 20, 5 << 20, true},
	}
	x := newFixture(t)
	for _, k := range kinds {
		for i, at := range attacks {
			t.Run(k.name+"/"+at.name, func(t *testing.T) {
				t.Parallel()
				x := &fixture{t: t, c: x.c, bucket: x.bucket, a: x.a}
				body := data(k.size, uint64(i))
				u := x.begin("refused-"+registry.RandomToken(4), "model.bin", body, k.ps, k.digests)
				for n := 2; n <= u.f.Parts; n++ {
					x.sendPart(u, n)
				}
				bad, badBody := at.change(x.presign(u, 1, time.Now().Add(time.Hour)), u, x)
				if ok, msg := send(t, bad, badBody); ok {
					t.Fatalf("attacked part accepted: %s", msg)
				}
				if got, err := x.a.UploadedParts(t.Context(), u.s, u.f); err != nil || (len(got) > 0 && got[0] == 1) {
					t.Fatalf("UploadedParts = %v, %v after the part was refused", got, err)
				}
				x.wantNotReady(u, "after a refused part")
				x.sendPart(u, 1) // refresh: a new URL
				if err := x.a.Complete(t.Context(), u.s, u.f); err != nil {
					t.Fatalf("Complete after a good part: %v", err)
				}
				x.wantFile(u, body)
			})
		}
	}
	t.Run("ExpiresInRealTime", func(t *testing.T) {
		t.Parallel()
		x := &fixture{t: t, c: x.c, bucket: x.bucket, a: x.a}
		u := x.begin("expiring", "model.bin", data(1000, 1), 0, false)
		pr := x.presign(u, 1, time.Now().Add(2*time.Second))
		time.Sleep(3500 * time.Millisecond)
		if ok, msg := send(t, pr, u.body(1)); ok {
			t.Fatalf("URL accepted after it expired: %s", msg)
		}
		x.wantNotReady(u, "after an expired URL")
	})
}

// without returns a copy of h without key.
func without(h map[string]string, key string) map[string]string {
	c := map[string]string{}
	for k, v := range h {
		if !strings.EqualFold(k, key) {
			c[k] = v
		}
	}
	return c
}

// replaceParam changes the value of one query parameter, keeping the rest
// of the URL byte for byte.
func replaceParam(rawURL, key string, change func(string) string) string {
	base, query, _ := strings.Cut(rawURL, "?")
	params := strings.Split(query, "&")
	for i, p := range params {
		if k, v, _ := strings.Cut(p, "="); k == key {
			params[i] = k + "=" + change(v)
		}
	}
	return base + "?" + strings.Join(params, "&")
}

// TestAbortLeavesNoUpload checks that no multipart upload stays in
// progress after failures: the ones Complete starts itself and the ones
// the service aborts.
func TestAbortLeavesNoUpload(t *testing.T) {
	x := newFixture(t)
	ctx := t.Context()
	wantNone := func(when string) {
		t.Helper()
		if ups := inProgress(t, x.c, x.bucket); len(ups) > 0 {
			t.Fatalf("%s: %d multipart uploads in progress, first %s", when, len(ups), aws.ToString(ups[0].Key))
		}
	}

	// Missing part, then the service aborts.
	u := x.begin("abort", "missing.bin", data(11<<20, 1), 5<<20, false)
	x.sendPart(u, 1)
	if err := x.a.Complete(ctx, u.s, u.f); !registry.IsCode(err, registry.Invalid) || !strings.Contains(err.Error(), "parts 2-3 missing") {
		t.Fatalf("Complete without parts 2, 3: %v", err)
	}
	if err := x.a.Abort(ctx, u.s, u.f); err != nil {
		t.Fatal(err)
	}
	wantNone("after Abort")

	// Wrong whole-file SHA-256: the completed object is deleted.
	u = x.begin("abort", "wrongsum.bin", data(11<<20, 2), 5<<20, true)
	u.f.SHA256 = hexSum([]byte("other"))
	x.sendAll(u)
	x.wantNotReady(u, "wrong sha256")
	if err := x.a.Abort(ctx, u.s, u.f); err != nil {
		t.Fatal(err)
	}
	wantNone("after a wrong sha256")

	// Conflicts: a single-part Complete aborts the upload it copies with;
	// a multipart one keeps its upload for the service's Abort.
	first := x.begin("abort", "taken.bin", data(6<<20, 3), 5<<20, false)
	x.sendAll(first)
	if err := x.a.Complete(ctx, first.s, first.f); err != nil {
		t.Fatal(err)
	}
	for _, ps := range []int64{0, 5 << 20} {
		other := x.begin("abort", "taken.bin", data(6<<20, 4), ps, false)
		x.sendAll(other)
		if err := x.a.Complete(ctx, other.s, other.f); !registry.IsCode(err, registry.Conflict) {
			t.Fatalf("Complete of another file at a taken path (part size %d): %v, want Conflict", ps, err)
		}
		if err := x.a.Abort(ctx, other.s, other.f); err != nil {
			t.Fatal(err)
		}
		wantNone(fmt.Sprintf("after a conflict (part size %d)", ps))
	}
	x.wantFile(first, first.data)
}

// TestConcurrentCompletes races sessions that complete different files at
// one path: exactly one wins, and its file is the one stored.
func TestConcurrentCompletes(t *testing.T) {
	x := newFixture(t)
	for _, ps := range []int64{0, 5 << 20} {
		var ups []*file
		for i := range 4 {
			u := x.begin("race", fmt.Sprintf("p%d.bin", ps), data(6<<20, uint64(10+i)), ps, false)
			x.sendAll(u)
			ups = append(ups, u)
		}
		errs := make([]error, len(ups))
		var wg sync.WaitGroup
		for i, u := range ups {
			wg.Go(func() { errs[i] = x.a.Complete(t.Context(), u.s, u.f) })
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner < 0:
				winner = i
			case err == nil:
				t.Fatalf("part size %d: two sessions completed different files at one path", ps)
			case !registry.IsCode(err, registry.Conflict):
				t.Fatalf("part size %d: loser: %v, want Conflict", ps, err)
			}
		}
		if winner < 0 {
			t.Fatalf("part size %d: no session completed: %v", ps, errs)
		}
		x.wantFile(ups[winner], ups[winner].data)
	}
}

// TestCompositeChecksum checks that a multipart file with part digests is
// stored with the composite SHA-256 Complete compares.
func TestCompositeChecksum(t *testing.T) {
	x := newFixture(t)
	u := x.begin("composite", "w.bin", data(11<<20, 5), 5<<20, true)
	x.sendAll(u)
	if err := x.a.Complete(t.Context(), u.s, u.f); err != nil {
		t.Fatal(err)
	}
	ho, err := x.c.HeadObject(t.Context(), &awss3.HeadObjectInput{Bucket: &x.bucket,
		Key: aws.String(x.a.finalKey(u.s.Model, 1, "w.bin")), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(ho.ChecksumSHA256); !sameComposite(got, composite(u.f.PartSHA256), 3) {
		t.Fatalf("stored checksum %q (%s), want the composite %s-3", got, ho.ChecksumType, composite(u.f.PartSHA256))
	}
}

// TestUnverifiedLeftover stands for a Complete that died after
// CompleteMultipartUpload, before it had read the object back: the next
// Complete verifies the object, and deletes it if it is wrong.
func TestUnverifiedLeftover(t *testing.T) {
	x := newFixture(t)
	ctx := t.Context()
	for _, good := range []bool{false, true} {
		u := x.begin("leftover", fmt.Sprintf("f-%v.bin", good), data(6<<20, 6), 5<<20, false)
		stored := u.data
		if !good {
			stored = data(6<<20, 7)
		}
		// What CompleteMultipartUpload left: declared digest, no mark.
		key := x.a.finalKey(u.s.Model, 1, u.f.Path)
		_, err := x.c.PutObject(ctx, &awss3.PutObjectInput{Bucket: &x.bucket, Key: &key, Body: bytes.NewReader(stored),
			Metadata: map[string]string{metaSHA256: u.f.SHA256}})
		if err != nil {
			t.Fatal(err)
		}
		if err := x.a.Abort(ctx, u.s, u.f); err != nil { // its upload is gone
			t.Fatal(err)
		}
		err = x.a.Complete(ctx, u.s, u.f)
		if good {
			if err != nil {
				t.Fatalf("Complete over a good unverified object: %v", err)
			}
			x.wantFile(u, u.data)
			continue
		}
		if !registry.IsCode(err, registry.Invalid) || !strings.Contains(err.Error(), "sha256 mismatch") {
			t.Fatalf("Complete over a bad unverified object: %v, want Invalid (sha256 mismatch)", err)
		}
		x.wantInvisible(u, "bad unverified object")
	}
}

// TestHashLimit: above the limit, multipart files need part digests and
// are not read back.
func TestHashLimit(t *testing.T) {
	x := newFixture(t, WithHashLimit(8<<20))
	u := &file{s: session("limit"), data: data(11<<20, 8)}
	u.f = registry.UploadFile{Path: "big.bin", Size: 11 << 20, SHA256: hexSum(u.data), PartSize: 5 << 20, Parts: 3}
	if _, err := x.a.Begin(t.Context(), u.s, u.f); !registry.IsCode(err, registry.Invalid) {
		t.Fatalf("Begin of a file over the limit without part digests: %v, want Invalid", err)
	}
	u = x.begin("limit", "big.bin", u.data, 5<<20, true)
	x.sendAll(u)
	if err := x.a.Complete(t.Context(), u.s, u.f); err != nil {
		t.Fatal(err)
	}
	x.wantFile(u, u.data)
}

// TestMinIOConditionalWrites pins the server behaviour the no-overwrite
// design relies on: If-None-Match: * on PutObject and
// CompleteMultipartUpload; and that CopyObject ignores it, as the package
// doc says.
func TestMinIOConditionalWrites(t *testing.T) {
	x := newFixture(t)
	ctx := context.WithoutCancel(t.Context())
	c := x.a.client // the calls the adapter makes
	put := func(key string, cond bool) error {
		h := objectHeaders{}
		if cond {
			h.ifNoneMatch = "*"
		}
		return c.PutObject(ctx, key, []byte(key), sha256Hex([]byte(key)), h)
	}
	if err := put("a", false); err != nil {
		t.Fatal(err)
	}
	if err := put("a", true); !isPreconditionFailed(err) {
		t.Errorf("PutObject If-None-Match over an object: %v, want PreconditionFailed", err)
	}
	id, err := c.CreateMultipartUpload(ctx, "a", objectHeaders{})
	if err != nil {
		t.Fatal(err)
	}
	etag, err := c.UploadPart(ctx, "a", id, 1, strings.NewReader("b"), 1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CompleteMultipartUpload(ctx, "a", id, []part{{number: 1, etag: etag}}, completeOptions{ifNoneMatch: "*"})
	if !isPreconditionFailed(err) {
		t.Errorf("CompleteMultipartUpload If-None-Match over an object: %v, want PreconditionFailed", err)
	}
	_ = c.AbortMultipartUpload(ctx, "a", id)
	if err := put("b", false); err != nil {
		t.Fatal(err)
	}
	// The package doc says the pinned MinIO ignores If-None-Match on
	// CopyObject, which is why Complete does not copy with it: hold it to
	// that. If this fails, the server changed: update doc.go (and Complete
	// may use CopyObject after all).
	err = c.CopyObject(ctx, "a", copySource{key: "b"}, objectHeaders{ifNoneMatch: "*"})
	if err != nil {
		t.Fatalf("CopyObject If-None-Match over an object: %v; the package doc says the server ignores the condition", err)
	}
	got, err := x.c.GetObject(ctx, &awss3.GetObjectInput{Bucket: &x.bucket, Key: aws.String("a")})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(got.Body)
	got.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if string(body) != "b" {
		t.Fatalf("after CopyObject If-None-Match over it, object a holds %q; the package doc says the copy replaces it (%q)", body, "b")
	}
}
