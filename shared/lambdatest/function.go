package lambdatest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Arch is how a test runs a function binary.
type Arch struct {
	// GOARCH the binary is built for.
	GOARCH string
	// Emulator runs the binary (qemu-aarch64-static for arm64 on another
	// machine), or "" to run it natively.
	Emulator string
}

// Label names the run in test names and logs: "amd64-native" or
// "arm64-emulated" (under qemu, so timings are not Lambda's).
func (a Arch) Label() string {
	if a.Emulator != "" {
		return a.GOARCH + "-emulated"
	}
	return a.GOARCH + "-native"
}

// QEMUEnv names qemu-aarch64-static; scripts/test.d/qemu-user.sh sets it.
const QEMUEnv = "MODELREG_QEMU_AARCH64"

// Arches returns the ways this machine runs function binaries: natively
// (its own GOARCH, linux only) and, for arm64 on another architecture,
// under qemu-aarch64-static (from MODELREG_QEMU_AARCH64 or the PATH). A
// missing emulator skips that arch, or fails the test when CI=true.
func Arches(t testing.TB) []Arch {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("Lambda binaries are linux binaries; this is " + runtime.GOOS)
	}
	arches := []Arch{{GOARCH: runtime.GOARCH}}
	if runtime.GOARCH == "arm64" {
		return arches
	}
	q := os.Getenv(QEMUEnv)
	if q == "" {
		q, _ = exec.LookPath("qemu-aarch64-static")
	}
	if q == "" {
		msg := "qemu-aarch64-static not found (" + QEMUEnv + " unset): the arm64 build is not run; run scripts/test or apt-get install qemu-user-static"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true: the emulated arm64 runs must happen)")
		}
		t.Log(msg)
		return arches
	}
	return append(arches, Arch{GOARCH: "arm64", Emulator: q})
}

// BuildTags are the build tags of every Lambda binary (scripts/build-lambdas
// uses the same): lambda.norpc drops aws-lambda-go's net/rpc mode, which
// the provided.al2023 runtime never uses, and nethttpomithttp2 drops
// net/http's HTTP/2, which nothing a function talks to needs (the Runtime
// API, DynamoDB and S3 speak HTTP/1.1): 0.46 MB of the api binary.
const BuildTags = "lambda.norpc,nethttpomithttp2"

var buildMu sync.Mutex

// Build builds the main package pkg (a directory or import path, resolved
// from the test's working directory) for linux/arch exactly as
// scripts/build-lambdas does, into a temporary directory, and returns the
// bootstrap's path.
func Build(t testing.TB, pkg, goarch string) string {
	t.Helper()
	buildMu.Lock() // two cores shared: one link at a time
	defer buildMu.Unlock()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", BuildTags, "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s for linux/%s: %v\n%s", pkg, goarch, err, b)
	}
	return out
}

// Options configure a function process.
type Options struct {
	// Name is the function's name (AWS_LAMBDA_FUNCTION_NAME); default "fn".
	Name string
	// Env is added to the Lambda environment (KEY=VALUE).
	Env []string
	// Deadline is each invocation's time limit (default 15 minutes).
	Deadline time.Duration
}

// Function is a running function binary and its Runtime API server.
type Function struct {
	Server  *Server
	Arch    Arch
	Started time.Time // just before the process was started

	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan struct{}
	err    error // the process's exit, after exited is closed
}

// Start starts the binary bin as arch runs it, against a new Runtime API
// server, and stops both when the test ends.
func Start(t testing.TB, bin string, arch Arch, o Options) *Function {
	t.Helper()
	f, err := StartProcess(bin, arch, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f.Stop()
		if t.Failed() {
			t.Logf("%s (%s) stderr:\n%s", filepath.Base(bin), arch.Label(), f.Stderr())
		}
	})
	return f
}

// StartProcess is Start without a test: the caller calls Stop.
func StartProcess(bin string, arch Arch, o Options) (*Function, error) {
	if o.Name == "" {
		o.Name = "fn"
	}
	srv, err := NewServer(o.Deadline)
	if err != nil {
		return nil, err
	}
	name, args := bin, []string(nil)
	if arch.Emulator != "" {
		name, args = arch.Emulator, []string{bin}
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(runtimeEnv(sanitize(o.Name)), "AWS_LAMBDA_RUNTIME_API="+srv.Address(), "PATH=/usr/bin:/bin")
	cmd.Env = append(cmd.Env, o.Env...)
	f := &Function{Server: srv, Arch: arch, cmd: cmd, stderr: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = f.stderr, f.stderr
	f.Started = time.Now()
	if err := cmd.Start(); err != nil {
		srv.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		f.err = cmd.Wait()
		close(f.exited)
	}()
	return f, nil
}

// Invoke sends payload as one invocation and waits for the function to
// answer it. It fails if ctx ends or the process exits first.
func (f *Function) Invoke(ctx context.Context, payload []byte) (Result, error) {
	select {
	case <-f.exited:
		return Result{}, f.exitError()
	default:
	}
	inv := f.Server.queueInvocation(payload)
	select {
	case r := <-inv.done:
		return r, nil
	case <-f.exited:
		select { // an answer posted just before exiting still counts
		case r := <-inv.done:
			return r, nil
		default:
		}
		return Result{}, f.exitError()
	case <-ctx.Done():
		return Result{}, fmt.Errorf("invocation %s: %w", inv.id, ctx.Err())
	}
}

// WaitInit waits until the function asks for its first invocation and
// returns the time from process start to that request (the init phase).
func (f *Function) WaitInit(ctx context.Context) (time.Duration, error) {
	select {
	case <-f.Server.NextSeen():
		return f.Server.FirstNext().Sub(f.Started), nil
	case <-f.exited:
		return 0, f.exitError()
	case <-ctx.Done():
		return 0, fmt.Errorf("waiting for the first next: %w", ctx.Err())
	}
}

// Exited is closed when the process has exited.
func (f *Function) Exited() <-chan struct{} { return f.exited }

// ExitErr is the process's exit status (nil for status 0), once Exited.
func (f *Function) ExitErr() error {
	<-f.exited
	return f.err
}

func (f *Function) exitError() error {
	if ie := f.Server.InitError(); ie != nil {
		return fmt.Errorf("function exited (%v) after init/error %s", f.err, ie)
	}
	return fmt.Errorf("function exited (%v) before answering", f.err)
}

// Stderr is what the process wrote to stdout and stderr so far.
func (f *Function) Stderr() string { return f.stderr.String() }

// Stop kills the process (Lambda freezes or kills a function; it never asks
// it to return) and closes the server.
func (f *Function) Stop() {
	select {
	case <-f.exited:
	default:
		f.cmd.Process.Kill() //nolint:errcheck // it may have exited meanwhile
		<-f.exited
	}
	f.Server.Close() //nolint:errcheck
}

// syncBuffer is a bytes.Buffer safe for the process's writers and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// WaitOutput waits until what the process wrote contains s, and reports
// whether it did before ctx ended or the process exited: the pipes are
// copied a little behind the process, so a line written before the first
// next request may arrive after WaitInit returned.
func (f *Function) WaitOutput(ctx context.Context, s string) bool {
	for {
		if strings.Contains(f.Stderr(), s) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-f.exited:
			return strings.Contains(f.Stderr(), s)
		case <-time.After(time.Millisecond):
		}
	}
}
