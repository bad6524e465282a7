package redeploy_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/app"
	"github.com/modelreg/modelreg/shared/app/embedded"
	"github.com/modelreg/modelreg/shared/failpoint"
	"github.com/modelreg/modelreg/shared/registry"
)

// The crash test runs the registry in a child process (this test binary,
// re-executed with crashChildEnv set), which the failpoint
// redeploy.before-deliver kills with SIGKILL after the promotion to
// Production committed and before its webhook was sent.
const (
	crashChildEnv    = "MODELREG_REDEPLOY_CRASH_CHILD" // the child's data directory
	crashReceiverEnv = "MODELREG_REDEPLOY_CRASH_RECEIVER"
	crashSecret      = "whsec-crash-0123456789"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		if err := crashChild(dir, os.Getenv(crashReceiverEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashChild runs the app on dir. On a fresh dir it sets up a model with a
// webhook target and promotes version 1 to Production; either way it then
// serves (the relay delivers the outbox) until its stdin closes.
func crashChild(dir, receiver string) error {
	t := &childT{}
	cfg := app.Config{Store: app.StoreSQLite, Artifacts: app.ArtifactsFilesystem, DataDir: dir,
		PublicURL: "http://127.0.0.1:1", Embedded: embedded.Backends{}}
	a := startApp(t, cfg)
	defer a.Close()
	if _, err := a.Service.GetModel(context.Background(), "crashy"); registry.IsCode(err, registry.NotFound) {
		setup(t, a, "crashy", 1, receiver, crashSecret)
		promote(t, a, "crashy", 1)
	}
	fmt.Println("ready")
	_, _ = os.Stdin.Read(make([]byte, 1))
	return t.err
}

// TestCrashBetweenCommitAndDelivery: SIGKILL between the commit of a
// Production change and its webhook; after a restart on the same data the
// webhook arrives, once — and a further restart sends nothing more.
func TestCrashBetweenCommitAndDelivery(t *testing.T) {
	rec, srv := newReceiver(t, crashSecret)
	dir := t.TempDir()
	run := func(failpoints string) (*exec.Cmd, func() error) {
		cmd := exec.Command(os.Args[0], "-test.run", "^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashReceiverEnv+"="+srv.URL, failpoint.Env+"="+failpoints)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, func() error { stdin.Close(); return cmd.Wait() }
	}

	cmd, stop := run(failpoint.RedeployBeforeDeliver)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		_ = stop()
		t.Fatal("the child was not killed at the failpoint within 30s")
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the child ended with %v, want SIGKILL at the failpoint", err)
	}
	if n := len(rec.deliveries()); n != 0 {
		t.Fatalf("%d deliveries before the restart, want 0", n)
	}

	_, stop = run("")
	got := rec.waitFor(1)
	time.Sleep(300 * time.Millisecond)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	_, stop = run("")
	time.Sleep(1500 * time.Millisecond) // the relay's first rounds
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got = rec.deliveries(); len(got) != 1 || got[0].payload.Version != 1 || got[0].payload.Model != "crashy" {
		t.Fatalf("deliveries %+v, want one, of crashy v1", got)
	}
}

// childT is the testing.TB the child's helpers report to.
type childT struct {
	testing.TB
	err error
}

func (c *childT) Helper()         {}
func (c *childT) TempDir() string { d, _ := os.MkdirTemp("", "crash"); return d }
func (c *childT) Cleanup(func())  {}
func (c *childT) Fatal(args ...any) {
	c.err = errors.New(fmt.Sprint(args...))
	fmt.Fprintln(os.Stderr, args...)
	os.Exit(1)
}
func (c *childT) Fatalf(f string, args ...any) { c.Fatal(fmt.Sprintf(f, args...)) }
func (c *childT) Errorf(f string, args ...any) { c.Fatal(fmt.Sprintf(f, args...)) }
func (c *childT) Logf(string, ...any)          {}
