package filesystem

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"testing"

	"github.com/modelreg/modelreg/shared/registry"
)

func (fx *fixture) send(t *testing.T, n int, body []byte) {
	t.Helper()
	pr := fx.presign(t, n)
	if status, code, msg := do(t, pr.Method, pr.URL, pr.Headers, body); status != http.StatusOK {
		t.Fatalf("part %d: %d %s %s", n, status, code, msg)
	}
}

func (fx *fixture) hashedTo() (int64, bool) {
	p := fx.a.prefix(uploadKey(fx.s.ID, fx.f.Path), false)
	if p == nil {
		return 0, false
	}
	p.work.Lock() // the worker, if one was started, holds it until it is done
	defer p.work.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hashedTo, p.broken
}

// TestPrefixHashOutOfOrder: parts arriving out of order are hashed as soon
// as they cover the file from its start, so Complete reads nothing again.
func TestPrefixHashOutOfOrder(t *testing.T) {
	data := make([]byte, 5*1024+7)
	rand.Read(data)
	fx := newFixture(t, data, 1024)
	for _, n := range []int{3, 2, 5, 6} {
		fx.send(t, n, fx.body(n))
	}
	if to, _ := fx.hashedTo(); to != 0 {
		t.Fatalf("hashed %d bytes without part 1", to)
	}
	fx.send(t, 1, fx.body(1))
	if to, broken := fx.hashedTo(); to != 3*1024 || broken {
		t.Fatalf("after part 1: hashed to %d (broken %v), want 3072", to, broken)
	}
	fx.send(t, 4, fx.body(4))
	if to, _ := fx.hashedTo(); to != int64(len(data)) {
		t.Fatalf("after every part: hashed to %d, want %d", to, len(data))
	}
	if err := fx.a.Complete(t.Context(), fx.s, fx.f); err != nil {
		t.Fatal(err)
	}
}

// TestPrefixHashResentPart: a part re-sent with other bytes after it was
// hashed cannot leave a stale digest behind: Complete judges the bytes
// that are in the file.
func TestPrefixHashResentPart(t *testing.T) {
	data := make([]byte, 3*1024)
	rand.Read(data)
	changed := append([]byte(nil), data...)
	changed[10] ^= 0xff
	for _, tc := range []struct {
		name     string
		declared []byte
		wantErr  bool
	}{
		{"declared digest of the bytes sent first", data, true},
		{"declared digest of the bytes sent last", changed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newFixture(t, data, 1024)
			sum := sha256.Sum256(tc.declared)
			fx.f.SHA256 = hex.EncodeToString(sum[:])
			for n := 1; n <= 3; n++ {
				fx.send(t, n, fx.body(n))
			}
			fx.send(t, 1, changed[:1024]) // part 1 again, other bytes
			if _, broken := fx.hashedTo(); !broken {
				t.Fatal("re-sending a hashed part did not break the running hash")
			}
			err := fx.a.Complete(t.Context(), fx.s, fx.f)
			if tc.wantErr != (err != nil) || (err != nil && !registry.IsCode(err, registry.Invalid)) {
				t.Fatalf("Complete = %v, want error %v", err, tc.wantErr)
			}
		})
	}
}

// TestPrefixHashAfterRestart: a process that did not see every part hashes
// the whole file at completion.
func TestPrefixHashAfterRestart(t *testing.T) {
	data := make([]byte, 2*1024)
	rand.Read(data)
	fx := newFixture(t, data, 1024)
	fx.send(t, 1, fx.body(1))
	fx.a.mu.Lock()
	fx.a.prefixes = map[string]*prefixHash{} // what a restart leaves
	fx.a.mu.Unlock()
	fx.send(t, 2, fx.body(2))
	if to, _ := fx.hashedTo(); to != 0 {
		t.Fatalf("hashed %d bytes it did not see arrive", to)
	}
	if err := fx.a.Complete(t.Context(), fx.s, fx.f); err != nil {
		t.Fatal(err)
	}
}
