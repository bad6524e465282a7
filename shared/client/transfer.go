package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
)

// LocalFile is a file on disk prepared for upload: its digests are
// computed, so the registry can refuse any part that arrives changed.
type LocalFile struct {
	// Local is the path on this machine.
	Local string
	// Spec is what the registry is told about it.
	Spec httpapi.FileSpec
}

// hashBuf is the read size for hashing and transfers.
const hashBuf = 1 << 20

// PrepareFile hashes the file at local for upload under the registry path
// regPath: the SHA-256 of the whole file and of each part. The whole-file
// digest is computed in one sequential pass while the part digests are
// computed alongside by workers, so on two cores it costs about one pass.
func PrepareFile(local, regPath string) (LocalFile, error) {
	f, err := os.Open(local)
	if err != nil {
		return LocalFile{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return LocalFile{}, err
	}
	if !st.Mode().IsRegular() {
		return LocalFile{}, fmt.Errorf("%s is not a regular file", local)
	}
	size := st.Size()
	ps := registry.PartSize(size)
	n := registry.PartCount(size, ps)
	spec := httpapi.FileSpec{Path: regPath, Size: size, PartSize: ps}

	wholeDone := make(chan error, 1)
	go func() {
		h := sha256.New()
		_, err := io.CopyBuffer(h, io.NewSectionReader(f, 0, size), make([]byte, hashBuf))
		spec.SHA256 = hex.EncodeToString(h.Sum(nil))
		wholeDone <- err
	}()
	partErr := hashParts(f, size, ps, n, &spec)
	if err := errors.Join(<-wholeDone, partErr); err != nil {
		return LocalFile{}, fmt.Errorf("hash %s: %w", local, err)
	}
	return LocalFile{Local: local, Spec: spec}, nil
}

// hashParts fills spec.PartSHA256 for a file of n > 1 parts of ps bytes,
// two parts at a time.
func hashParts(f *os.File, size, ps int64, n int, spec *httpapi.FileSpec) error {
	if n <= 1 {
		return nil
	}
	spec.PartSHA256 = make([]string, n)
	jobs := make(chan int)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			buf := make([]byte, hashBuf)
			var first error
			for p := range jobs {
				off, l := registry.PartRange(size, ps, p)
				h := sha256.New()
				if _, err := io.CopyBuffer(h, io.NewSectionReader(f, off, l), buf); err != nil && first == nil {
					first = err
				}
				spec.PartSHA256[p-1] = hex.EncodeToString(h.Sum(nil))
			}
			errs <- first
		}()
	}
	for p := 1; p <= n; p++ {
		jobs <- p
	}
	close(jobs)
	return errors.Join(<-errs, <-errs)
}

// Progress is told how many more bytes were transferred (negative when a
// failed attempt's bytes are taken back before a retry).
type Progress func(delta int64)

// UploadParts sends every part listed in ticket, parallel at a time, from
// the local files (matched by registry path). A failed part is retried with
// backoff; when one still fails, the others stop and the error names it.
// The session stays open: RefreshUpload and UploadParts again resume it.
func (c *Client) UploadParts(ctx context.Context, ticket httpapi.UploadTicket, local map[string]string, parallel int, progress Progress) error {
	type job struct {
		path string
		part httpapi.PartRequest
	}
	var jobs []job
	for _, f := range ticket.Files {
		if _, ok := local[f.Path]; !ok && len(f.Parts) > 0 {
			return fmt.Errorf("upload %s needs %s, which was not given", ticket.UploadID, f.Path)
		}
		for _, p := range f.Parts {
			jobs = append(jobs, job{f.Path, p})
		}
	}
	if progress == nil {
		progress = func(int64) {}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for range max(parallel, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) || ctx.Err() != nil {
					return
				}
				j := jobs[i]
				if err := c.sendPart(ctx, local[j.path], j.part, progress); err != nil {
					cancel(fmt.Errorf("part %d of %s: %w", j.part.Number, j.path, err))
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// sendPart PUTs one part exactly as presigned, retrying network failures
// and 5xx answers.
func (c *Client) sendPart(ctx context.Context, local string, p httpapi.PartRequest, progress Progress) error {
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	for attempt := 0; ; attempt++ {
		var sent atomic.Int64
		body := &countingReader{r: io.NewSectionReader(f, p.Offset, p.Size), n: &sent, progress: progress}
		status, err := c.putPart(ctx, p, body)
		if err == nil {
			return nil
		}
		progress(-sent.Load())
		if attempt >= c.Retries || !retryable(transportErr(err), status) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff(attempt + 1)):
		}
	}
}

func (c *Client) putPart(ctx context.Context, p httpapi.PartRequest, body io.Reader) (int, error) {
	var rd io.Reader = body
	if p.Size == 0 {
		rd = http.NoBody
	}
	req, err := http.NewRequestWithContext(ctx, p.Method, p.URL, rd)
	if err != nil {
		return 0, err
	}
	req.ContentLength = p.Size
	for k, v := range p.Headers {
		req.Header.Set(k, v)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, redact(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return resp.StatusCode, decodeError(resp)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// redact drops the query of a presigned URL from a network error: it holds
// the signature (and on AWS the credential and session token), which would
// let anyone reading a CI log upload or download until it expires.
func redact(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	where := ue.URL
	if u, perr := url.Parse(ue.URL); perr == nil {
		where = u.Scheme + "://" + u.Host + u.Path
	}
	return fmt.Errorf("%s %s: %w", ue.Op, where, ue.Err)
}

type countingReader struct {
	r        io.Reader
	n        *atomic.Int64
	progress Progress
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n.Add(int64(n))
		c.progress(int64(n))
	}
	return n, err
}

// ErrChecksum is returned (wrapped) when a downloaded file does not match
// the digest the registry recorded for it.
var ErrChecksum = errors.New("checksum mismatch")

// DownloadFile fetches one file to dest, verifying its size and SHA-256
// while it streams. The file appears at dest only once verified (it is
// written to dest.partial and renamed).
func (c *Client) DownloadFile(ctx context.Context, link httpapi.DownloadLink, dest string, progress Progress) error {
	if progress == nil {
		progress = func(int64) {}
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	tmp := dest + ".partial"
	for attempt := 0; ; attempt++ {
		n, status, err := c.fetch(ctx, link, tmp, progress)
		if err == nil {
			return os.Rename(tmp, dest)
		}
		progress(-n)
		if errors.Is(err, ErrChecksum) || attempt >= c.Retries || !retryable(transportErr(err), status) {
			os.Remove(tmp)
			return err
		}
		select {
		case <-ctx.Done():
			os.Remove(tmp)
			return ctx.Err()
		case <-time.After(backoff(attempt + 1)):
		}
	}
}

func (c *Client) fetch(ctx context.Context, link httpapi.DownloadLink, tmp string, progress Progress) (int64, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link.URL, nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, 0, redact(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, resp.StatusCode, decodeError(resp)
	}
	out, err := os.Create(tmp)
	if err != nil {
		return 0, 0, err
	}
	h := sha256.New()
	var got atomic.Int64
	_, err = io.CopyBuffer(io.MultiWriter(out, h), &countingReader{r: resp.Body, n: &got, progress: progress}, make([]byte, hashBuf))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return got.Load(), 0, err
	}
	if got.Load() != link.Size {
		return got.Load(), 0, fmt.Errorf("%s: %w: got %d bytes, want %d", link.Path, ErrChecksum, got.Load(), link.Size)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != link.SHA256 {
		return got.Load(), 0, fmt.Errorf("%s: %w: sha256 %s, registry recorded %s", link.Path, ErrChecksum, sum, link.SHA256)
	}
	return got.Load(), 0, nil
}
