package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
)

// reloadingAuth authenticates against the tokens file and re-reads it when
// it changes, so `modelreg tokens add|rotate|revoke` takes effect within a
// second without a restart.
type reloadingAuth struct {
	path    string
	mu      sync.Mutex
	cur     *httpapi.Tokens
	st      os.FileInfo
	checked time.Time
}

func newReloadingAuth(path string) (*reloadingAuth, error) {
	a := &reloadingAuth{path: path}
	if err := a.reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// reload re-reads the file unless it is the same file as last time.
// Tokens.Save replaces the file by a rename, so every save is a new file:
// two saves within one modification-time tick are still told apart.
func (a *reloadingAuth) reload() error {
	st, err := os.Stat(a.path)
	if err != nil {
		return fmt.Errorf("tokens file: %w", err)
	}
	if a.cur != nil && os.SameFile(st, a.st) && st.ModTime().Equal(a.st.ModTime()) && st.Size() == a.st.Size() {
		return nil
	}
	toks, err := httpapi.LoadTokens(a.path)
	if err != nil {
		return fmt.Errorf("tokens file: %w", err)
	}
	a.cur, a.st = toks, st
	return nil
}

// Authenticate checks the request's bearer token.
func (a *reloadingAuth) Authenticate(r *http.Request) (registry.Principal, error) {
	a.mu.Lock()
	if time.Since(a.checked) > time.Second {
		a.checked = time.Now()
		if err := a.reload(); err != nil {
			slog.Warn("tokens file not reloaded; keeping the last good one", "err", err)
		}
	}
	cur := a.cur
	a.mu.Unlock()
	return cur.Authenticate(r)
}

func runTokens(_ context.Context, args []string, out io.Writer) error {
	fs := newPlainFlags("tokens", "add NAME --role ROLE [--group G]... [--expires D] | rotate NAME [--expires D] | revoke NAME | list")
	dataDir := fs.String("data-dir", envOr("MODELREG_DATA_DIR", defaultDataDir()), "the server's data directory (env MODELREG_DATA_DIR)")
	file := fs.String("tokens", os.Getenv("MODELREG_TOKENS_FILE"), "tokens file (default DATA-DIR/tokens.json; env MODELREG_TOKENS_FILE)")
	role := fs.String("role", "reader", "role of the new token: reader, publisher, approver or admin")
	var groups listFlag
	fs.Var(&groups, "group", "a group of the new token, repeatable or a comma list (a model's policy may name group:NAME as approvers)")
	expires := fs.String("expires", "", "the token expires after this duration (720h, 30d) or at this RFC 3339 time (default: never)")
	pos, err := parse(fs, nil, args)
	if err != nil {
		return err
	}
	if *file == "" {
		*file = filepath.Join(*dataDir, "tokens.json")
	}
	action, name := "", ""
	if len(pos) > 0 {
		action = pos[0]
	}
	if len(pos) == 2 {
		name = pos[1]
	}
	switch {
	case action == "list" && len(pos) == 1:
	case (action == "add" || action == "rotate" || action == "revoke") && len(pos) == 2:
	default:
		return usagef("tokens takes 'add NAME --role ROLE', 'rotate NAME', 'revoke NAME' or 'list'")
	}
	if flagSet(fs, "expires") && action != "add" && action != "rotate" {
		return usagef("--expires goes with add or rotate")
	}
	if flagSet(fs, "role") && action != "add" {
		return usagef("--role goes with add (rotate keeps the role)")
	}
	if flagSet(fs, "group") && action != "add" {
		return usagef("--group goes with add (rotate keeps the groups)")
	}
	until, err := parseExpiry(*expires, time.Now())
	if err != nil {
		return err
	}
	// Two tokens commands at once would each read, change and write the
	// file, and the later write would drop the earlier change: hold a lock
	// beside it from the read to the write.
	unlock, err := lockFile(*file + ".lock")
	if err != nil {
		return fmt.Errorf("lock tokens file: %w", err)
	}
	defer unlock()
	toks, err := httpapi.LoadTokens(*file)
	if err != nil {
		return fmt.Errorf("%w (run modelreg serve once to create it)", err)
	}
	switch action {
	case "list":
		w := table(out)
		fmt.Fprintln(w, "NAME\tROLE\tEXPIRES")
		for _, t := range toks.List() {
			exp := "never"
			if !t.ExpiresAt.IsZero() {
				exp = t.ExpiresAt.UTC().Format(time.RFC3339)
				if !time.Now().Before(t.ExpiresAt) {
					exp += " (expired)"
				}
			}
			outf(w, "%s\t%s\t%s\n", t.Name, t.Role, exp)
		}
		return w.Flush()
	case "revoke":
		if err := toks.Revoke(name); err != nil {
			if errors.Is(err, httpapi.ErrLastAdmin) {
				return usageError{err.Error()}
			}
			return err
		}
		if err := toks.Save(*file); err != nil {
			return err
		}
		outf(out, "revoked token %q: a running server refuses it within a second\n", name)
		return nil
	}
	var plain string
	if action == "add" {
		r, err := registry.ParseRole(*role)
		if err != nil {
			return usagef("%s", registry.ErrorMessage(err))
		}
		var gs []string
		for _, g := range groups {
			for _, part := range strings.Split(g, ",") {
				if part = strings.TrimSpace(part); part != "" {
					gs = append(gs, part)
				}
			}
		}
		if err := httpapi.CheckGroups(gs); err != nil {
			return usagef("%s", err)
		}
		if plain, err = toks.Add(name, r); err != nil {
			return err
		}
		if err := toks.SetGroups(name, gs); err != nil {
			return err
		}
	} else if plain, err = toks.Rotate(name); err != nil {
		return err
	}
	if err := toks.SetExpiry(name, until); err != nil {
		return err
	}
	if err := toks.Save(*file); err != nil {
		return err
	}
	fmt.Fprintln(out, plain)
	exp := "never expires"
	if !until.IsZero() {
		exp = "expires " + until.UTC().Format(time.RFC3339)
	}
	verb := "added"
	if action == "rotate" {
		verb = "rotated (the old token no longer works)"
	}
	outf(os.Stderr, "%s token %q in %s; it %s (shown once; the file keeps only its hash)\n", verb, name, *file, exp)
	return nil
}

// parseExpiry reads --expires: "" (never), a duration from now (720h, or
// days: 30d), or an RFC 3339 time. It must lie in the future.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	var at time.Time
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		at = t
	} else if d, err := time.ParseDuration(s); err == nil {
		at = now.Add(d)
	} else if n, err := strconv.Atoi(strings.TrimSuffix(s, "d")); err == nil && strings.HasSuffix(s, "d") && n > 0 && n <= 36500 {
		at = now.AddDate(0, 0, n)
	} else {
		return time.Time{}, usagef("--expires %q: want a duration (720h, 30d) or an RFC 3339 time (2027-01-01T00:00:00Z)", s)
	}
	if !at.After(now) {
		return time.Time{}, usagef("--expires %q is not in the future", s)
	}
	return at, nil
}
