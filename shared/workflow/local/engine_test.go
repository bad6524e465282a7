package local

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/sqlite"
	"github.com/modelreg/modelreg/shared/workflow"
	"github.com/modelreg/modelreg/shared/workflow/workflowtest"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// harness is an engine on a SQLite store with an injected clock, a sleep
// that only records, and the path of states of every execution.
type harness struct {
	t      *testing.T
	store  registry.Store
	dbPath string
	clock  *workflowtest.Clock
	h      *workflowtest.Recorder
	e      *Engine

	mu     sync.Mutex
	paths  map[string][]string
	sleeps []time.Duration
}

func newHarness(t *testing.T, h *workflowtest.Recorder) *harness {
	t.Helper()
	x := &harness{t: t, dbPath: filepath.Join(t.TempDir(), "wf.db"), clock: workflowtest.NewClock(t0), h: h, paths: map[string][]string{}}
	x.open()
	t.Cleanup(func() { x.close() })
	return x
}

func (x *harness) open() {
	x.t.Helper()
	s, err := sqlite.Open(x.dbPath)
	if err != nil {
		x.t.Fatal(err)
	}
	x.store = s
	e, err := New(Config{Store: s, Handlers: x.h, Now: x.clock.Now, Logger: slog.New(slog.DiscardHandler),
		Sleep: func(ctx context.Context, d time.Duration) error {
			x.mu.Lock()
			x.sleeps = append(x.sleeps, d)
			x.mu.Unlock()
			return ctx.Err()
		},
		OnState: func(id, state string) {
			x.mu.Lock()
			x.paths[id] = append(x.paths[id], state)
			x.mu.Unlock()
		}})
	if err != nil {
		x.t.Fatal(err)
	}
	x.e = e
}

func (x *harness) close() {
	if x.e != nil {
		x.e.Close()
		x.store.Close()
		x.e = nil
	}
}

// restart stops the engine and store and opens new ones on the same file.
func (x *harness) restart() {
	x.close()
	x.open()
}

func (x *harness) path(id string) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return slices.Clone(x.paths[id])
}

func (x *harness) wait(id string) registry.Execution {
	x.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ex, err := x.e.Wait(ctx, id)
	if err != nil {
		x.t.Fatalf("wait for %s: %v", id, err)
	}
	return ex
}

func (x *harness) start(id string) registry.Execution {
	x.t.Helper()
	a := registry.Approval{ID: id, Model: "fraud", Version: 2, TargetStage: registry.StageProduction,
		RequestedBy: "alice", ExpiresAt: t0.Add(workflow.DefaultApprovalTimeout)}
	got, err := x.e.StartPromotion(context.Background(), a)
	if err != nil || got != id {
		x.t.Fatalf("StartPromotion = %q, %v", got, err)
	}
	return x.wait(id)
}

func decision(t *testing.T, who string) []byte {
	b, err := json.Marshal(workflow.Decision{DecidedBy: who, Comment: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestScenarios runs the shared table (also run on moto by shared/sfn).
func TestScenarios(t *testing.T) {
	for _, sc := range workflowtest.Scenarios {
		t.Run(sc.Name, func(t *testing.T) {
			h := &workflowtest.Recorder{Validation: sc.Validate}
			switch sc.Action {
			case workflowtest.TransientThenApprove:
				h.RequestErrors = []error{registry.Errorf(registry.Unavailable, "store busy")}
			case workflowtest.TaskFails:
				h.RequestErrors = []error{errors.New("notifier exploded")}
			}
			x := newHarness(t, h)
			ctx := context.Background()
			ex := x.start("ap-" + sc.Name)
			switch sc.Action {
			case workflowtest.Approve, workflowtest.TransientThenApprove:
				if err := x.e.SendTaskSuccess(ctx, h.LastToken(), decision(t, "bob")); err != nil {
					t.Fatalf("SendTaskSuccess: %v", err)
				}
			case workflowtest.Reject:
				if err := x.e.SendTaskFailure(ctx, h.LastToken(), workflow.ErrorRejected, "not better than v1"); err != nil {
					t.Fatalf("SendTaskFailure: %v", err)
				}
			case workflowtest.Expire:
				if ex.TaskToken == "" || !ex.TimeoutAt.Equal(t0.Add(workflow.DefaultApprovalTimeout)) {
					t.Fatalf("waiting execution: token %q, timeout %v; want a token and %v", ex.TaskToken, ex.TimeoutAt, t0.Add(workflow.DefaultApprovalTimeout))
				}
				x.clock.Add(workflow.DefaultApprovalTimeout - time.Second)
				if err := x.e.Sweep(ctx); err != nil {
					t.Fatal(err)
				}
				if ex := x.wait(ex.ID); ex.TaskToken == "" {
					t.Fatal("timed out a second early")
				}
				x.clock.Add(time.Second)
				if err := x.e.Sweep(ctx); err != nil {
					t.Fatal(err)
				}
			}
			ex = x.wait(ex.ID)
			workflowtest.Check(t, sc, ex.ID, ex.Status, ex.Error, x.path(ex.ID), h)
			if ex.TaskToken != "" || !ex.TimeoutAt.IsZero() {
				t.Errorf("ended execution keeps token %q / timeout %v", ex.TaskToken, ex.TimeoutAt)
			}
			if sc.Action == workflowtest.TransientThenApprove {
				if want := []time.Duration{time.Second}; !slices.Equal(x.sleeps, want) {
					t.Errorf("retry waits %v, want %v (the document's IntervalSeconds)", x.sleeps, want)
				}
				if h.Requests[0].TaskToken == h.Requests[1].TaskToken {
					t.Error("the retry reused the first attempt's token")
				}
			}
		})
	}
}
