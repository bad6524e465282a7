package s3

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"sync"
)

// Reading an object back: hashChunk-sized ranged GETs, hashWorkers at a
// time, hashed in order. At most hashWorkers+2 chunks are in memory.
const (
	hashChunk   = 8 << 20
	hashWorkers = 8
)

var chunkPool = sync.Pool{New: func() any { b := make([]byte, hashChunk); return &b }}

// chunk is one ranged GET's bytes, or its error.
type chunk struct {
	buf *[]byte
	n   int
	err error
}

// hashObject returns the SHA-256 (lowercase hex) of the size bytes of the
// object at key, read with parallel ranged GETs that all require its ETag
// (If-Match), so that a replaced object fails instead of mixing versions.
func (a *Artifacts) hashObject(ctx context.Context, key, etag string, size int64) (string, error) {
	h := sha256.New()
	if size == 0 {
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := (size + hashChunk - 1) / hashChunk
	// pending holds, in order, the result channel of each chunk being
	// fetched; its capacity bounds the chunks in flight.
	pending := make(chan chan chunk, hashWorkers)
	go func() {
		defer close(pending)
		for i := range chunks {
			res := make(chan chunk, 1)
			select {
			case pending <- res:
			case <-ctx.Done():
				return
			}
			off := i * hashChunk
			go func() { res <- a.fetchRange(ctx, key, etag, off, min(hashChunk, size-off)) }()
		}
	}()
	var read int64
	for res := range pending {
		c := <-res
		if c.err != nil {
			return "", c.err
		}
		h.Write((*c.buf)[:c.n])
		read += int64(c.n)
		chunkPool.Put(c.buf)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if read != size {
		return "", fmt.Errorf("read %d bytes of %s, want %d", read, key, size)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// fetchRange reads n bytes of key at off.
func (a *Artifacts) fetchRange(ctx context.Context, key, etag string, off, n int64) chunk {
	body, err := a.client.GetObject(ctx, key, fmt.Sprintf("bytes=%d-%d", off, off+n-1), etag)
	if err != nil {
		return chunk{err: err}
	}
	defer body.Close()
	buf := chunkPool.Get().(*[]byte)
	got, err := io.ReadFull(body, (*buf)[:n])
	if err != nil {
		chunkPool.Put(buf)
		return chunk{err: fmt.Errorf("read %s at %d: %w", key, off, err)}
	}
	return chunk{buf: buf, n: got}
}

func sorted(s []int) []int {
	slices.Sort(s)
	return s
}
