package filesystem

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"path/filepath"
	"sync"
)

// prefixHash computes a file's SHA-256 while its parts arrive, so that
// Complete does not have to read the whole file again. Parts arrive in
// parallel and in any order; whenever the parts received so far extend the
// stretch hashed from the file's start, a background worker hashes the new
// stretch (from the page cache, right after it was written) while other
// parts keep arriving.
//
// It only ever trusts what it saw in this process: after a restart it
// starts empty, never covers the parts received before, and Complete
// hashes what is missing from the file itself. A part re-sent over bytes
// hashed or being hashed breaks it for good (Complete then hashes the
// whole file).
type prefixHash struct {
	// work is held by whoever feeds h: the background worker, or Complete.
	work sync.Mutex
	h    hash.Hash

	mu          sync.Mutex // guards the fields below; never held while hashing
	hashedTo    int64      // bytes [0, hashedTo) are in h
	inflightLen int64      // bytes [hashedTo, hashedTo+inflightLen) are being hashed
	ranges      map[int64]int64
	// gens holds the generation of the last write started at each offset:
	// a part counts as received only if no other write of it started after
	// its own. Generations come from one counter for all files (a.writeGen),
	// so a write that began before an upload was aborted and begun again
	// can never pass for one of the new upload's.
	gens   map[int64]uint64
	broken bool
}

// prefix returns the hasher of an upload, creating it if create is set.
func (a *Artifacts) prefix(key string, create bool) *prefixHash {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.prefixes[key]
	if p == nil && create {
		p = &prefixHash{h: sha256.New(), ranges: map[int64]int64{}, gens: map[int64]uint64{}}
		a.prefixes[key] = p
	}
	return p
}

// forgetPrefixLocked drops the hasher of an upload that is gone. Callers
// hold a.mu.
func (a *Artifacts) forgetPrefixLocked(key string) { delete(a.prefixes, key) }

// rewriting is called before a part's bytes are (re)written at offset: if
// they were hashed or are being hashed, the hash no longer describes the
// file. It returns the write's generation, to pass to received.
func (a *Artifacts) rewriting(key string, offset int64) uint64 {
	p := a.prefix(key, true)
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.ranges, offset)
	if offset < p.hashedTo+p.inflightLen {
		p.broken = true
	}
	gen := a.writeGen.Add(1)
	p.gens[offset] = gen
	return gen
}

// received is called once a part's bytes (written by the write of
// generation gen) are durable and marked. If they extend the hashed
// stretch and no worker runs, it starts one. It never waits for hashing.
func (a *Artifacts) received(key string, offset, length int64, gen uint64) {
	p := a.prefix(key, false) // none: the upload was completed or aborted meanwhile
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.broken || length == 0 || p.gens[offset] != gen {
		p.mu.Unlock()
		return
	}
	p.ranges[offset] = length
	_, next := p.ranges[p.hashedTo]
	p.mu.Unlock()
	if next && p.work.TryLock() {
		go a.drain(p, filepath.Join(key, dataFile))
	}
}

// drain hashes received stretches in order until the next one has not
// arrived, then releases p.work. A stretch that arrives just as it stops
// is hashed by the next worker or by Complete.
func (a *Artifacts) drain(p *prefixHash, data string) {
	defer p.work.Unlock()
	f, err := a.root.Open(data)
	if err != nil {
		p.fail()
		return
	}
	defer f.Close()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	for {
		p.mu.Lock()
		off, l := p.hashedTo, p.ranges[p.hashedTo]
		if p.broken || l == 0 {
			p.mu.Unlock()
			return
		}
		delete(p.ranges, off)
		p.inflightLen = l
		p.mu.Unlock()
		_, err := io.CopyBuffer(p.h, io.NewSectionReader(f, off, l), *bp)
		p.mu.Lock()
		p.inflightLen = 0
		if err != nil {
			p.broken = true
		} else {
			p.hashedTo = off + l
		}
		p.mu.Unlock()
	}
}

func (p *prefixHash) fail() {
	p.mu.Lock()
	p.broken = true
	p.mu.Unlock()
}

// prefixSum returns the SHA-256 of the upload's data file of size bytes:
// what was hashed on the way in plus the rest, read now. ok is false if the
// hasher cannot vouch for the file (none, or broken). Callers have made
// sure no part is being written.
func (a *Artifacts) prefixSum(key string, size int64) (sum string, ok bool, err error) {
	p := a.prefix(key, false)
	if p == nil {
		return "", false, nil
	}
	p.work.Lock() // waits for a running worker
	defer p.work.Unlock()
	p.mu.Lock()
	from, broken := p.hashedTo, p.broken
	p.mu.Unlock()
	if broken || from > size {
		return "", false, nil
	}
	if from < size {
		f, err := a.root.Open(filepath.Join(key, dataFile))
		if err != nil {
			return "", false, err
		}
		defer f.Close()
		bp := bufPool.Get().(*[]byte)
		defer bufPool.Put(bp)
		if _, err := io.CopyBuffer(p.h, io.NewSectionReader(f, from, size-from), *bp); err != nil {
			p.fail()
			return "", false, err
		}
		p.mu.Lock()
		p.hashedTo = size
		p.mu.Unlock()
	}
	return hex.EncodeToString(p.h.Sum(nil)), true, nil
}
