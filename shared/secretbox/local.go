// Package secretbox seals the secrets the registry keeps for others
// (webhook signing secrets): Local with AES-256-GCM under a key file in the
// data directory, KMS under an AWS KMS key. Both bind the sealed form to
// the seal context of the call (registry.WithSealContext: the model and the
// target), so a sealed secret moved to another target does not open.
package secretbox

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/modelreg/modelreg/shared/registry"
)

// KeyFile is the name of the local box's key file in the data directory.
const KeyFile = "secretbox.key"

// localPrefix starts every sealed form of the local box.
const localPrefix = "local:v1:"

// Local is a registry.SecretBox that seals with AES-256-GCM under a
// 32-byte key kept in a file (mode 0600).
type Local struct {
	aead cipher.AEAD
}

var _ registry.SecretBox = (*Local)(nil)

// OpenLocal returns the local box whose key is in dir/KeyFile, creating
// the key (32 random bytes, mode 0600) when the file does not exist. A key
// file of another size, or readable by others, is an error: the secrets
// are only as safe as the file.
func OpenLocal(dir string) (*Local, error) {
	path := filepath.Join(dir, KeyFile)
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("secret box key %s: %w", path, err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("secret box key %s: %d bytes, want 32", path, len(key))
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secret box key %s: mode %v lets others read it; chmod 600 it", path, fi.Mode().Perm())
	}
	return NewLocal(key)
}

// createKey writes a new random key to path, unless another process just
// did (then it reads that one).
func createKey(path string) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secretbox-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, err
	}
	if _, err := tmp.Write(key); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	// Link, not rename: a key another process created first is kept.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return os.ReadFile(path)
		}
		return nil, err
	}
	return key, nil
}

// NewLocal returns a local box with the given 32-byte key.
func NewLocal(key []byte) (*Local, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secret box: key is %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Local{aead: aead}, nil
}

// Seal encrypts secret with a random nonce, binding it to the seal context
// of ctx: "local:v1:" + base64url(nonce || ciphertext).
func (l *Local) Seal(ctx context.Context, secret []byte) (string, error) {
	nonce := make([]byte, l.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := l.aead.Seal(nonce, nonce, secret, additionalData(registry.SealContextFrom(ctx)))
	return localPrefix + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts what Seal returned under the same seal context. Invalid
// if it was not sealed by this box, was altered, or belongs to another
// context.
func (l *Local) Open(ctx context.Context, sealed string) ([]byte, error) {
	bad := registry.Errorf(registry.Invalid, "the sealed secret was not sealed by this server's secret box for this target (or was altered)")
	rest, ok := strings.CutPrefix(sealed, localPrefix)
	if !ok {
		return nil, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) < l.aead.NonceSize()+l.aead.Overhead() {
		return nil, bad
	}
	n := l.aead.NonceSize()
	plain, err := l.aead.Open(nil, b[:n], b[n:], additionalData(registry.SealContextFrom(ctx)))
	if err != nil {
		bad.Err = err
		return nil, bad
	}
	return plain, nil
}

// additionalData is the seal context as bytes: its keys sorted, each
// key and value length-prefixed, so that no two contexts give the same
// bytes.
func additionalData(sc map[string]string) []byte {
	keys := make([]string, 0, len(sc))
	for k := range sc {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b []byte
	for _, k := range keys {
		b = fmt.Appendf(b, "%d:%s%d:%s", len(k), k, len(sc[k]), sc[k])
	}
	return b
}
