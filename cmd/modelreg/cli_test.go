package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/httpapi"
	"github.com/modelreg/modelreg/shared/registry"
)

// TestHelpAndTyposNeverPrintSecrets runs every verb's --help and a flag
// typo with secrets in the environment: neither shows them, help explains
// the verb with an example, a typo is short and suggests the right flag.
func TestHelpAndTyposNeverPrintSecrets(t *testing.T) {
	const secret, adminSecret = "mr_supersecret_ci_token_0123456789", "admin-secret-0123456789"
	env := append(os.Environ(), "MODELREG_TOKEN="+secret, "MODELREG_ADMIN_TOKEN="+adminSecret,
		"MODELREG_URL=http://user:hunter2hunter2@127.0.0.1:1")
	for verb := range commands {
		for _, args := range [][]string{{verb, "--help"}, {"help", verb}, {verb, "--no-such-flag"}, {verb, "-tokn", "x"}} {
			r := runBinary(t, env, args...)
			all := r.stdout + r.stderr
			for _, s := range []string{secret, adminSecret, "hunter2hunter2"} {
				if strings.Contains(all, s) {
					t.Errorf("modelreg %v printed a secret from the environment:\n%s", args, all)
				}
			}
			if verb == "version" {
				continue
			}
			if args[1] == "--help" || args[0] == "help" {
				if r.code != 0 || !strings.Contains(r.stdout, "Usage: modelreg "+verb) || !strings.Contains(r.stdout, "Example:\n  modelreg ") {
					t.Errorf("modelreg %v: exit %d, no usage or example on stdout:\n%s%s", args, r.code, r.stdout, r.stderr)
				}
				continue
			}
			if r.code != exitUsage || strings.Count(r.stderr, "\n") > 3 || !strings.Contains(r.stderr, "modelreg "+verb+" --help") ||
				!strings.Contains(r.stderr, "Usage: modelreg "+verb) {
				t.Errorf("modelreg %v: exit %d, want 2 and at most 3 lines with the usage and a --help hint:\n%s", args, r.code, r.stderr)
			}
			if args[1] == "-tokn" && verb != "serve" && verb != "tokens" && verb != "copy" && !strings.Contains(r.stderr, "did you mean --token?") {
				t.Errorf("modelreg %v does not suggest --token:\n%s", args, r.stderr)
			}
		}
	}
	if r := runBinary(t, env, "regster"); r.code != exitUsage || !strings.Contains(r.stderr, "did you mean register?") {
		t.Errorf("unknown verb: exit %d\n%s", r.code, r.stderr)
	}
	if r := runBinary(t, env, "serve", "--help"); !strings.Contains(r.stdout, "at least 16 characters") {
		t.Errorf("serve --help does not say how long MODELREG_ADMIN_TOKEN must be:\n%s", r.stdout)
	}
}

// TestFriendlyErrors: the mistakes a newcomer makes first say what to do.
func TestFriendlyErrors(t *testing.T) {
	base := os.Environ()
	r := runBinary(t, append(base, "MODELREG_URL=http://127.0.0.1:1", "MODELREG_TOKEN=x"), "models")
	if r.code != exitError || !strings.Contains(r.stderr, "cannot reach modelreg at http://127.0.0.1:1") ||
		!strings.Contains(r.stderr, "modelreg serve") || !strings.Contains(r.stderr, "MODELREG_URL") {
		t.Errorf("server down: exit %d\n%s", r.code, r.stderr)
	}
	r = runBinary(t, append(base, "MODELREG_URL=127.0.0.1:8080"), "models")
	if r.code != exitUsage || !strings.Contains(r.stderr, "did you mean http://127.0.0.1:8080?") {
		t.Errorf("URL without scheme: exit %d\n%s", r.code, r.stderr)
	}

	s := startServer(t, t.TempDir())
	r = runBinary(t, append(base, "MODELREG_URL="+s.url, "MODELREG_TOKEN="), "models")
	if r.code != exitAuth || !strings.Contains(r.stderr, "MODELREG_TOKEN") || !strings.Contains(r.stderr, "--token") {
		t.Errorf("missing token: exit %d\n%s", r.code, r.stderr)
	}
	r = s.cli("wrong-token-0123456789", "models")
	if r.code != exitAuth || !strings.Contains(r.stderr, "was refused") {
		t.Errorf("wrong token: exit %d\n%s", r.code, r.stderr)
	}
	addr := strings.TrimPrefix(s.url, "http://")
	r = runBinary(t, append(base, "MODELREG_ADMIN_TOKEN="+adminToken), "serve", "--addr", addr, "--data-dir", t.TempDir())
	if r.code == 0 || !strings.Contains(r.stderr, "address already in use") || !strings.Contains(r.stderr, "--addr") ||
		!strings.Contains(r.stderr, "MODELREG_ADDR") {
		t.Errorf("port in use: exit %d\n%s", r.code, r.stderr)
	}

	s.cli(adminToken, "models", "create", "fresh").must(t)
	out := s.cli(adminToken, "models", "get", "fresh").must(t).stdout
	if !strings.Contains(out, "Latest version:      none") || !strings.Contains(out, "Production version:  none") {
		t.Errorf("a new model shows version numbers:\n%s", out)
	}
}

// waitCode runs the CLI until it exits with code (a running server reloads
// its tokens file within a second), failing after 10 s.
func waitCode(t *testing.T, s *server, code int, token string, args ...string) result {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := s.cli(token, args...)
		if r.code == code || time.Now().After(deadline) {
			return r.wantCode(t, code)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestTokensLifecycleLive adds, rotates, expires and revokes tokens while
// the server runs: each change takes effect without a restart.
func TestTokensLifecycleLive(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir)
	tokens := func(args ...string) result {
		return runBinary(t, os.Environ(), append([]string{"tokens", "--data-dir", dir}, args...)...)
	}
	bot := strings.TrimSpace(tokens("add", "bot", "--role", "publisher").must(t).stdout)
	waitCode(t, s, 0, bot, "whoami")

	bot2 := strings.TrimSpace(tokens("rotate", "bot").must(t).stdout)
	if bot2 == bot || !strings.HasPrefix(bot2, "mr_") {
		t.Fatalf("rotate printed %q", bot2)
	}
	data, err := os.ReadFile(filepath.Join(dir, "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), bot2) {
		t.Fatal("the tokens file holds the rotated token in plain text")
	}
	waitCode(t, s, exitAuth, bot, "whoami")
	if out := s.cli(bot2, "whoami").must(t).stdout; out != "bot (publisher)\n" {
		t.Errorf("whoami with the rotated token: %q", out)
	}

	tokens("revoke", "bot").must(t)
	waitCode(t, s, exitAuth, bot2, "whoami")

	// The last admin token cannot be revoked; nothing changes.
	r := tokens("revoke", "admin").wantCode(t, exitUsage)
	if !strings.Contains(r.stderr, "last admin") {
		t.Errorf("revoking the last admin: %s", r.stderr)
	}
	s.cli(adminToken, "whoami").must(t)

	short := strings.TrimSpace(tokens("add", "temp", "--role", "reader", "--expires", "2s").must(t).stdout)
	waitCode(t, s, 0, short, "whoami")
	r = waitCode(t, s, exitAuth, short, "whoami")
	if !strings.Contains(r.stderr, "expired") {
		t.Errorf("an expired token does not say it expired: %s", r.stderr)
	}
	list := tokens("list").must(t).stdout
	if !strings.Contains(list, "(expired)") || strings.Contains(list, "bot") {
		t.Errorf("tokens list:\n%s", list)
	}
	tokens("add", "x", "--expires", "2001-01-01T00:00:00Z").wantCode(t, exitUsage)
	tokens("rotate", "nobody").wantCode(t, exitError)
}

// Concurrent tokens commands on one file each keep their change: the lock
// beside the file serialises read, change and write.
func TestTokensConcurrentAddsKeepEveryToken(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens.json")
	toks := httpapi.NewTokens()
	if _, err := toks.Add("admin", registry.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if err := toks.Save(file); err != nil {
		t.Fatal(err)
	}
	const n = 12
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- runTokens(t.Context(), []string{"add", fmt.Sprintf("bot-%d", i), "--role", "publisher", "--tokens", file}, io.Discard)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := httpapi.LoadTokens(file)
	if err != nil {
		t.Fatal(err)
	}
	if l := got.List(); len(l) != n+1 {
		t.Fatalf("the file holds %d tokens after %d concurrent adds to 1, want %d", len(l), n, n+1)
	}
}
