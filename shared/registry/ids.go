package registry

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"
)

// crockford is the Crockford base32 alphabet: sortable, no I, L, O or U.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var idState struct {
	sync.Mutex
	lastMS uint64
	rand   [10]byte
}

// NewID returns a 26-character identifier that sorts by creation time (a
// ULID: 48 bits of milliseconds, 80 random bits). Within one process IDs are
// strictly increasing, even within a millisecond.
func NewID(now time.Time) string {
	ms := uint64(now.UnixMilli())
	idState.Lock()
	if ms <= idState.lastMS {
		ms = idState.lastMS
		// increment the 80-bit random part
		for i := len(idState.rand) - 1; i >= 0; i-- {
			idState.rand[i]++
			if idState.rand[i] != 0 {
				break
			}
		}
	} else {
		idState.lastMS = ms
		if _, err := rand.Read(idState.rand[:]); err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[0:8], ms<<16)
	copy(b[6:], idState.rand[:])
	idState.Unlock()
	return encodeULID(b)
}

func encodeULID(b [16]byte) string {
	// 128 bits as 26 base32 digits (the first holds 3 bits).
	hi := binary.BigEndian.Uint64(b[0:8])
	lo := binary.BigEndian.Uint64(b[8:16])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// RandomToken returns n random bytes as lowercase hex (2n characters).
func RandomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	const hexdigits = "0123456789abcdef"
	out := make([]byte, 2*n)
	for i, c := range b {
		out[2*i] = hexdigits[c>>4]
		out[2*i+1] = hexdigits[c&15]
	}
	return string(out)
}
