package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the modelreg binary built once for the process tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "modelreg-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "modelreg")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build modelreg:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const adminToken = "mr_test_admin_token_0123456789abcdef"

// server is a `modelreg serve` process on a random loopback port.
type server struct {
	t       *testing.T
	url     string
	dataDir string
	cmd     *exec.Cmd
	exited  chan error
	logs    *logBuffer
}

// startServer starts the server binary on dataDir with extra environment
// (e.g. failpoints) and waits until it listens.
func startServer(t *testing.T, dataDir string, env ...string) *server {
	t.Helper()
	return startServerArgs(t, dataDir, nil, env...)
}

// startServerArgs is startServer with extra `serve` flags.
func startServerArgs(t *testing.T, dataDir string, args []string, env ...string) *server {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir}, args...)...)
	cmd.Env = append(os.Environ(), "MODELREG_ADMIN_TOKEN="+adminToken, "MODELREG_LOG_LEVEL=warn")
	cmd.Env = append(cmd.Env, env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, dataDir: dataDir, cmd: cmd, exited: make(chan error, 1), logs: logs}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "modelreg listening on "); ok {
				urls <- strings.Fields(rest)[0]
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { s.exited <- cmd.Wait() }()
	select {
	case s.url = <-urls:
	case err := <-s.exited:
		t.Fatalf("server exited before listening: %v\n%s", err, logs)
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("server did not start\n%s", logs)
	}
	t.Cleanup(func() { s.stop() })
	return s
}

// stop ends the server (SIGTERM, then SIGKILL) if it still runs.
func (s *server) stop() {
	select {
	case <-s.exited:
		s.exited <- nil
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.exited <- nil
}

// waitKilled waits for the server to die of SIGKILL (a failpoint).
func (s *server) waitKilled() {
	s.t.Helper()
	select {
	case err := <-s.exited:
		s.exited <- err
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			s.t.Fatalf("server ended with %v, want SIGKILL\n%s", err, s.logs)
		}
	case <-time.After(30 * time.Second):
		s.t.Fatalf("server was not killed by its failpoint\n%s", s.logs)
	}
}

// logBuffer collects the server's log safely across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// result is what one CLI run printed and how it exited.
type result struct {
	stdout, stderr string
	code           int
}

// cli runs the modelreg binary against s with a token.
func (s *server) cli(token string, args ...string) result {
	s.t.Helper()
	return runBinary(s.t, append(os.Environ(), "MODELREG_URL="+s.url, "MODELREG_TOKEN="+token), args...)
}

func runBinary(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run modelreg %v: %v", args, err)
	}
	return r
}

// must fails the test unless the CLI run exited 0.
func (r result) must(t *testing.T) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	return r
}

// wantCode fails the test unless the CLI run exited with code.
func (r result) wantCode(t *testing.T, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	return r
}

// randomFile writes size random bytes to dir/name and returns its path and
// SHA-256.
func randomFile(t *testing.T, dir, name string, size int64) (string, string) {
	t.Helper()
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, hex.EncodeToString(h.Sum(nil))
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	s := fileSHA256(path)
	if s == "" {
		t.Fatalf("cannot read %s", path)
	}
	return s
}
