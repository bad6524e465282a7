package httpapi

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelreg/modelreg/shared/internal/lazyre"
	"github.com/modelreg/modelreg/shared/registry"
)

// TokenPrefix starts every token Add generates, so a leaked one is easy to
// recognise (and to scan for).
const TokenPrefix = "mr_"

// Tokens is the local server's Authenticator: bearer tokens mapped to
// names and roles. Only the SHA-256 of each token is kept, in memory and
// on disk:
//
//	{"tokens":[{"name":"alice","role":"publisher","sha256":"<hex>","expires_at":"2027-01-01T00:00:00Z"}]}
//
// A presented token is hashed and compared in constant time with every
// entry; a token past its expires_at (optional) is refused as expired.
// Tokens is safe for concurrent use.
type Tokens struct {
	mu      sync.RWMutex
	entries []tokenEntry
}

type tokenEntry struct {
	name    string
	role    registry.Role
	sum     [sha256.Size]byte
	expires time.Time // zero: never
	groups  []string  // a model's policy may name "group:NAME" among its approvers
}

// usable reports whether the token still works at now.
func (e tokenEntry) usable(now time.Time) bool {
	return e.expires.IsZero() || now.Before(e.expires)
}

// tokenFile is the on-disk form of Tokens.
type tokenFile struct {
	Tokens []tokenRecord `json:"tokens"`
}

type tokenRecord struct {
	Name      string        `json:"name"`
	Role      registry.Role `json:"role"`
	SHA256    string        `json:"sha256"`
	ExpiresAt *time.Time    `json:"expires_at,omitempty"`
	Groups    []string      `json:"groups,omitempty"`
}

var _ Authenticator = (*Tokens)(nil)

// NewTokens returns an empty token set.
func NewTokens() *Tokens { return &Tokens{} }

// LoadTokens reads a token file. The error wraps fs.ErrNotExist when the
// file does not exist; a malformed file (bad JSON, unknown role, a hash
// that is not 64 hex digits, an empty or repeated name) is an error naming
// the entry.
func LoadTokens(path string) (*Tokens, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load tokens: %w", err)
	}
	var f tokenFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("load tokens %s: %w", path, err)
	}
	t := &Tokens{}
	for i, rec := range f.Tokens {
		if err := checkName(rec.Name); err != nil {
			return nil, fmt.Errorf("load tokens %s: entry %d: %w", path, i+1, err)
		}
		role, err := registry.ParseRole(string(rec.Role))
		if err != nil {
			return nil, fmt.Errorf("load tokens %s: entry %d (%s): %w", path, i+1, rec.Name, err)
		}
		raw, err := hex.DecodeString(rec.SHA256)
		if err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("load tokens %s: entry %d (%s): sha256 must be 64 hex digits", path, i+1, rec.Name)
		}
		if t.find(rec.Name) >= 0 {
			return nil, fmt.Errorf("load tokens %s: entry %d: name %q appears twice", path, i+1, rec.Name)
		}
		if err := CheckGroups(rec.Groups); err != nil {
			return nil, fmt.Errorf("load tokens %s: entry %d (%s): %w", path, i+1, rec.Name, err)
		}
		e := tokenEntry{name: rec.Name, role: role, groups: rec.Groups}
		copy(e.sum[:], raw)
		if rec.ExpiresAt != nil {
			e.expires = *rec.ExpiresAt
		}
		t.entries = append(t.entries, e)
	}
	return t, nil
}

func checkName(name string) error {
	if name == "" || len(name) > 128 || strings.TrimSpace(name) != name {
		return fmt.Errorf("invalid token name %q: use 1-128 characters without surrounding spaces", name)
	}
	// The name is the caller's identity in the audit trail: no control
	// characters, tabs or newlines that could forge a line of history.
	if err := registry.ValidateLine("token name", name, 128); err != nil {
		return err
	}
	return nil
}

// find returns the index of the entry named name, -1 if none. The caller
// holds mu.
func (t *Tokens) find(name string) int {
	return slices.IndexFunc(t.entries, func(e tokenEntry) bool { return e.name == name })
}

// Add creates a random token (TokenPrefix and 32 random bytes in hex) for
// a new name and returns it in plain text: the only time it is seen. It
// is an error if name already has a token (use Set to replace it).
func (t *Tokens) Add(name string, role registry.Role) (string, error) {
	plaintext := TokenPrefix + registry.RandomToken(32)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.find(name) >= 0 {
		return "", fmt.Errorf("add token: %q already has a token", name)
	}
	if err := t.set(name, role, plaintext); err != nil {
		return "", err
	}
	return plaintext, nil
}

// Set gives name the caller-chosen token plaintext (for example
// MODELREG_ADMIN_TOKEN), replacing any token name had. Tokens must be at
// least 16 characters.
func (t *Tokens) Set(name string, role registry.Role, plaintext string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.set(name, role, plaintext)
}

func (t *Tokens) set(name string, role registry.Role, plaintext string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if _, err := registry.ParseRole(string(role)); err != nil {
		return err
	}
	if len(plaintext) < 16 || strings.ContainsAny(plaintext, " \t\r\n") {
		return fmt.Errorf("token for %q must be at least 16 characters without spaces", name)
	}
	e := tokenEntry{name: name, role: role, sum: sha256.Sum256([]byte(plaintext))}
	if i := t.find(name); i >= 0 {
		t.entries[i] = e
	} else {
		t.entries = append(t.entries, e)
	}
	return nil
}

// ErrLastAdmin is returned by Revoke for the last usable admin token:
// without it nobody could add tokens through the API's admin role or
// decide what the registry may do. Add another admin first.
var ErrLastAdmin = errors.New("it is the last admin token that has not expired")

// Revoke deletes name's token: the next request carrying it is refused.
// It is an error (wrapping ErrLastAdmin) to revoke the last unexpired
// admin token, and an error if name has no token.
func (t *Tokens) Revoke(name string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := t.find(name)
	if i < 0 {
		return fmt.Errorf("revoke token: %q has no token", name)
	}
	if t.entries[i].role == registry.RoleAdmin && !t.otherAdmin(i, time.Now()) {
		return fmt.Errorf("revoke token %q: %w: add another admin first (modelreg tokens add NAME --role admin)", name, ErrLastAdmin)
	}
	t.entries = slices.Delete(t.entries, i, i+1)
	return nil
}

// otherAdmin reports whether an admin token other than entry i is usable
// at now. The caller holds mu.
func (t *Tokens) otherAdmin(i int, now time.Time) bool {
	for j, e := range t.entries {
		if j != i && e.role == registry.RoleAdmin && e.usable(now) {
			return true
		}
	}
	return false
}

// Rotate gives name a new random token and returns it in plain text (the
// only time it is seen); the old token stops working. The role stays;
// the expiry is cleared (set it again with SetExpiry). It is an error if
// name has no token.
func (t *Tokens) Rotate(name string) (string, error) {
	plaintext := TokenPrefix + registry.RandomToken(32)
	t.mu.Lock()
	defer t.mu.Unlock()
	i := t.find(name)
	if i < 0 {
		return "", fmt.Errorf("rotate token: %q has no token (add one with modelreg tokens add)", name)
	}
	t.entries[i] = tokenEntry{name: name, role: t.entries[i].role, groups: t.entries[i].groups, sum: sha256.Sum256([]byte(plaintext))}
	return plaintext, nil
}

// SetExpiry makes name's token expire at at (the zero time: never). It is
// an error if name has no token.
func (t *Tokens) SetExpiry(name string, at time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := t.find(name)
	if i < 0 {
		return fmt.Errorf("set token expiry: %q has no token", name)
	}
	t.entries[i].expires = at
	return nil
}

// CheckGroups checks group names: 1-64 characters each, letters, digits,
// '.', '_' and '-' (a policy names them as "group:NAME").
func CheckGroups(groups []string) error {
	for _, g := range groups {
		if !groupRE.MatchString(g) {
			return fmt.Errorf("invalid group %q: use 1-64 letters, digits, '.', '_' or '-'", g)
		}
	}
	return nil
}

var groupRE = lazyre.New(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// SetGroups replaces the groups of the token name. Unknown names and
// invalid group names are errors.
func (t *Tokens) SetGroups(name string, groups []string) error {
	if err := CheckGroups(groups); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	i := t.find(name)
	if i < 0 {
		return fmt.Errorf("no token named %q", name)
	}
	t.entries[i].groups = slices.Clone(groups)
	return nil
}

// TokenInfo is what List tells about a token: never the token itself.
type TokenInfo struct {
	Name      string
	Role      registry.Role
	ExpiresAt time.Time // zero: never
	Groups    []string
}

// List returns the names and roles of the tokens, ordered by name.
func (t *Tokens) List() []TokenInfo {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]TokenInfo, 0, len(t.entries))
	for _, e := range t.entries {
		out = append(out, TokenInfo{Name: e.name, Role: e.role, ExpiresAt: e.expires, Groups: slices.Clone(e.groups)})
	}
	slices.SortFunc(out, func(a, b TokenInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Len returns the number of tokens.
func (t *Tokens) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.entries)
}

// Save writes the token hashes to path (mode 0600) through a temporary
// file in the same directory and a rename, so a reader never sees half a
// file.
func (t *Tokens) Save(path string) error {
	t.mu.RLock()
	f := tokenFile{Tokens: make([]tokenRecord, 0, len(t.entries))}
	for _, e := range t.entries {
		rec := tokenRecord{Name: e.name, Role: e.role, SHA256: hex.EncodeToString(e.sum[:]), Groups: e.groups}
		if !e.expires.IsZero() {
			exp := e.expires.UTC()
			rec.ExpiresAt = &exp
		}
		f.Tokens = append(f.Tokens, rec)
	}
	t.mu.RUnlock()
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("save tokens: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("save tokens: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save tokens: %w", err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save tokens: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save tokens: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save tokens: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save tokens: %w", err)
	}
	return nil
}

// Authenticate returns the caller whose token r carries in
// "Authorization: Bearer <token>". Unauthenticated when the header is
// missing or malformed, the token is unknown, or it has expired (the
// message says so).
func (t *Tokens) Authenticate(r *http.Request) (registry.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return registry.Principal{}, registry.Errorf(registry.Unauthenticated, "missing Authorization header: send Authorization: Bearer <token>")
	}
	scheme, token, found := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !found || !strings.EqualFold(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return registry.Principal{}, registry.Errorf(registry.Unauthenticated, "malformed Authorization header: send Authorization: Bearer <token>")
	}
	sum := sha256.Sum256([]byte(token))
	t.mu.RLock()
	defer t.mu.RUnlock()
	match := -1
	for i := range t.entries {
		// Look at every entry, whatever matched, so timing says nothing.
		if subtle.ConstantTimeCompare(sum[:], t.entries[i].sum[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return registry.Principal{}, registry.Errorf(registry.Unauthenticated, "unknown token")
	}
	e := t.entries[match]
	if !e.usable(time.Now()) {
		return registry.Principal{}, registry.Errorf(registry.Unauthenticated,
			"token %q expired at %s: ask an admin for a new one (modelreg tokens rotate %s)", e.name, e.expires.UTC().Format(time.RFC3339), e.name)
	}
	return registry.Principal{Name: e.name, Role: e.role, Groups: slices.Clone(e.groups)}, nil
}
