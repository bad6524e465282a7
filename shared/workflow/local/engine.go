// Package local is the embedded twin of Step Functions: an interpreter of
// the subset of the Amazon States Language that promotion.asl.json uses,
// running the same document in-process, calling the Go task handlers
// (workflow.Handlers) where AWS would invoke Lambda functions, and keeping
// its executions and task tokens in the registry's Store, so that a waiting
// approval survives a restart and still times out after one.
//
// Semantics follow Step Functions Standard: every state's output is
// committed before the next state runs (a crash re-runs at most the state
// that was running, so handlers run at least once); a .waitForTaskToken task
// stores its token before its handler is invoked, so a decision can never
// arrive before the engine knows the token; retry counters live in memory
// (a restart starts a state's retries afresh).
package local

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/workflow"
)

// Config configures an Engine. Store and Handlers are required.
type Config struct {
	Store    registry.Store
	Handlers workflow.Handlers
	// Definition is the ASL document (default: workflow.Definition(), with
	// its placeholders as FunctionNames).
	Definition []byte
	// Now returns the current time (default time.Now): state times and the
	// waits' timeouts follow it.
	Now func() time.Time
	// Sleep waits between retries (default: a timer; tests inject one).
	Sleep func(ctx context.Context, d time.Duration) error
	// PollInterval is how often Run looks for timed-out waits and stalled
	// executions (default 1s).
	PollInterval time.Duration
	// OnState, if set, is called each time an execution enters a state
	// (after the engine committed it): the path an execution took.
	OnState func(executionID, state string)
	Logger  *slog.Logger
}

// Engine runs promotion executions in-process. It implements
// registry.Workflow. Call Run to resume executions after a restart and to
// time out waits; Close stops it.
type Engine struct {
	cfg    Config
	m      *machine
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	active  map[string]*driver     // executions being driven
	retries map[string]*retryCount // per execution, for its current state
	delays  map[string]time.Duration
}

var _ registry.Workflow = (*Engine)(nil)

type driver struct {
	done  chan struct{}
	again bool
}

type retryCount struct {
	state  string
	counts []int
}

// New returns an Engine for cfg. The document must use only what the engine
// supports, and every Task's FunctionName must be one of workflow.Placeholders.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil || cfg.Handlers == nil {
		return nil, errors.New("workflow/local: Store and Handlers are required")
	}
	if cfg.Definition == nil {
		cfg.Definition = workflow.Definition()
	}
	m, err := parseMachine(cfg.Definition)
	if err != nil {
		return nil, fmt.Errorf("workflow/local: %w", err)
	}
	for _, s := range m.states {
		if s.typ == "Task" && !isPlaceholder(s.function) {
			return nil, fmt.Errorf("workflow/local: state %q calls %q, which names no task handler", s.name, s.function)
		}
	}
	e := &Engine{cfg: cfg, m: m, now: cfg.Now, sleep: cfg.Sleep, log: cfg.Logger,
		active: map[string]*driver{}, retries: map[string]*retryCount{}, delays: map[string]time.Duration{}}
	if e.now == nil {
		e.now = time.Now
	}
	if e.sleep == nil {
		e.sleep = registry.Sleep
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.cfg.PollInterval <= 0 {
		e.cfg.PollInterval = time.Second
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	return e, nil
}

func isPlaceholder(fn string) bool {
	for _, p := range workflow.Placeholders {
		if p == fn {
			return true
		}
	}
	return false
}

// StartPromotion starts the promotion execution of approval a, named after
// a.ID, and returns that id. Starting it again returns the same id and
// starts nothing (it only resumes an execution a crash interrupted).
// Invalid without an approval id.
func (e *Engine) StartPromotion(ctx context.Context, a registry.Approval) (string, error) {
	if a.ID == "" {
		return "", registry.Errorf(registry.Invalid, "start promotion: the approval has no id")
	}
	now := e.now().UTC()
	input, err := marshal(workflow.NewPromotionInput(a, now))
	if err != nil {
		return "", fmt.Errorf("start promotion %s: %w", a.ID, err)
	}
	ex := registry.Execution{ID: a.ID, Workflow: workflow.Name, Status: registry.ExecutionRunning,
		State: e.m.startAt, Input: input, StartedAt: now, UpdatedAt: now, Revision: 1}
	err = e.cfg.Store.Commit(ctx, &registry.Change{Executions: []registry.Execution{ex}})
	switch {
	case err == nil:
		e.entered(ex.ID, ex.State)
	case errors.Is(err, registry.ErrStale):
		// Started before: the same execution.
		if _, err := e.cfg.Store.GetExecution(ctx, a.ID); err != nil {
			return "", fmt.Errorf("start promotion %s: %w", a.ID, err)
		}
	default:
		return "", fmt.Errorf("start promotion %s: %w", a.ID, err)
	}
	e.kick(a.ID, false)
	return a.ID, nil
}

// SendTaskSuccess ends the wait of the execution waiting on token with
// output (a JSON document) as the task's result. NotFound if no execution
// waits on token (unknown, already used, or the execution ended); Conflict
// if the wait timed out; Invalid if output is not JSON.
func (e *Engine) SendTaskSuccess(ctx context.Context, token string, output []byte) error {
	var result any
	if err := decodeJSON(output, &result); err != nil {
		return registry.Errorf(registry.Invalid, "task output is not a JSON document: %v", err)
	}
	return e.complete(ctx, token, func(ex registry.Execution, s *state) (registry.Execution, error) {
		input, err := decodeInput(ex)
		if err != nil {
			return ex, err
		}
		e.resetRetries(ex.ID)
		return e.afterResult(ex, s, input, result), nil
	})
}

// SendTaskFailure fails the task waiting on token with the error code and
// cause: its Retry and Catch apply as to any task error. NotFound and
// Conflict as SendTaskSuccess; Invalid without a code.
func (e *Engine) SendTaskFailure(ctx context.Context, token, code, cause string) error {
	if code == "" {
		return registry.Errorf(registry.Invalid, "a task failure needs an error code")
	}
	return e.complete(ctx, token, func(ex registry.Execution, s *state) (registry.Execution, error) {
		input, err := decodeInput(ex)
		if err != nil {
			return ex, err
		}
		if d, ok := e.retryDelay(ex.ID, s, code); ok {
			e.mu.Lock()
			e.delays[ex.ID] = d
			e.mu.Unlock()
			ex.TaskToken, ex.TimeoutAt = "", time.Time{}
			return ex, nil // the driver runs the state again after d
		}
		return e.catchOrFail(ex, s, input, code, cause), nil
	})
}

// complete applies a decision to the execution waiting on token.
func (e *Engine) complete(ctx context.Context, token string, apply func(registry.Execution, *state) (registry.Execution, error)) error {
	notFound := registry.Errorf(registry.NotFound, "no task waits on this token")
	i := strings.LastIndexByte(token, '.')
	if i <= 0 {
		return notFound
	}
	id := token[:i]
	for range 10 {
		ex, err := e.cfg.Store.GetExecution(ctx, id)
		if registry.IsCode(err, registry.NotFound) {
			return notFound
		}
		if err != nil {
			return fmt.Errorf("complete task of execution %s: %w", id, err)
		}
		if ex.Status != registry.ExecutionRunning || ex.TaskToken == "" ||
			subtle.ConstantTimeCompare([]byte(ex.TaskToken), []byte(token)) != 1 {
			return notFound
		}
		s := e.m.states[ex.State]
		timedOut := !ex.TimeoutAt.IsZero() && !e.now().Before(ex.TimeoutAt)
		var next registry.Execution
		if timedOut {
			next, err = e.timeout(ex, s)
		} else {
			next, err = apply(ex, s)
		}
		if err != nil {
			return err
		}
		err = e.commit(ctx, &next, ex.State)
		if errors.Is(err, registry.ErrStale) {
			continue // someone else decided or it timed out: look again
		}
		if err != nil {
			return fmt.Errorf("complete task of execution %s: %w", id, err)
		}
		e.kick(id, false)
		if timedOut {
			return registry.Errorf(registry.Conflict, "the task timed out at %s", ex.TimeoutAt.Format(time.RFC3339))
		}
		return nil
	}
	return registry.Errorf(registry.Unavailable, "execution %s keeps changing; retry", id)
}

// Run resumes what a restart interrupted (executions between two states,
// and waits whose handler may not have run: it is invoked again with the
// same token), then every PollInterval ends the waits that timed out and
// resumes stalled executions, until ctx is done. It returns ctx's error.
func (e *Engine) Run(ctx context.Context) error {
	if err := e.sweep(ctx, true); err != nil {
		e.log.Error("workflow: recover executions", "err", err)
	}
	t := time.NewTicker(e.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if err := e.Sweep(ctx); err != nil {
				e.log.Error("workflow: sweep executions", "err", err)
			}
		}
	}
}

// Recover resumes what a restart interrupted, as Run does first.
func (e *Engine) Recover(ctx context.Context) error { return e.sweep(ctx, true) }

// Sweep ends the waits whose timeout passed (States.Timeout: the state's
// Catch decides what follows) and resumes running executions that nothing
// drives (a failed commit, a crash).
func (e *Engine) Sweep(ctx context.Context) error { return e.sweep(ctx, false) }

func (e *Engine) sweep(ctx context.Context, recovering bool) error {
	cursor := ""
	for {
		page, err := e.cfg.Store.ListExecutions(ctx, registry.ExecutionQuery{Status: registry.ExecutionRunning, Cursor: cursor, Limit: 100})
		if err != nil {
			return fmt.Errorf("list running executions: %w", err)
		}
		for _, ex := range page.Items {
			if ex.Workflow != workflow.Name || ex.Status != registry.ExecutionRunning {
				continue
			}
			switch {
			case ex.TaskToken != "" && !ex.TimeoutAt.IsZero() && !e.now().Before(ex.TimeoutAt):
				if err := e.expire(ctx, ex); err != nil {
					return err
				}
			case ex.TaskToken != "" && recovering:
				e.kick(ex.ID, true)
			case ex.TaskToken == "":
				e.kick(ex.ID, false)
			}
		}
		if page.Next == "" {
			return nil
		}
		cursor = page.Next
	}
}

// expire ends ex's wait with States.Timeout.
func (e *Engine) expire(ctx context.Context, ex registry.Execution) error {
	next, err := e.timeout(ex, e.m.states[ex.State])
	if err != nil {
		return err
	}
	err = e.commit(ctx, &next, ex.State)
	if errors.Is(err, registry.ErrStale) {
		return nil // decided meanwhile
	}
	if err != nil {
		return fmt.Errorf("time out execution %s: %w", ex.ID, err)
	}
	e.kick(ex.ID, false)
	return nil
}

// Wait blocks until execution id is not being driven (it waits for a task
// token, or ended) and returns it.
func (e *Engine) Wait(ctx context.Context, id string) (registry.Execution, error) {
	for {
		e.mu.Lock()
		d := e.active[id]
		e.mu.Unlock()
		if d == nil {
			return e.cfg.Store.GetExecution(ctx, id)
		}
		select {
		case <-d.done:
		case <-ctx.Done():
			return registry.Execution{}, ctx.Err()
		}
	}
}

// Close stops the executions being driven where they are (each resumes
// from its current state on the next Run) and waits for them.
func (e *Engine) Close() error {
	e.cancel()
	e.wg.Wait()
	return nil
}

// kick drives execution id in the background unless it is driven already
// (then the driver looks at it once more when done). reinvoke re-invokes
// the handler of a wait with its stored token (after a restart).
func (e *Engine) kick(id string, reinvoke bool) {
	e.mu.Lock()
	if e.ctx.Err() != nil {
		e.mu.Unlock()
		return
	}
	if d, ok := e.active[id]; ok {
		d.again = true
		e.mu.Unlock()
		return
	}
	d := &driver{done: make(chan struct{})}
	e.active[id] = d
	e.wg.Add(1)
	e.mu.Unlock()
	go func() {
		defer e.wg.Done()
		for {
			e.drive(id, reinvoke)
			reinvoke = false
			e.mu.Lock()
			if !d.again || e.ctx.Err() != nil {
				delete(e.active, id)
				close(d.done)
				e.mu.Unlock()
				return
			}
			d.again = false
			e.mu.Unlock()
		}
	}()
}

// drive runs execution id state after state until it waits or ends.
func (e *Engine) drive(id string, reinvoke bool) {
	for e.ctx.Err() == nil {
		ex, err := e.cfg.Store.GetExecution(e.ctx, id)
		if err != nil {
			e.log.Error("workflow: read execution", "execution", id, "err", err)
			return
		}
		if ex.Status != registry.ExecutionRunning || (ex.TaskToken != "" && !reinvoke) {
			return
		}
		var done bool
		if ex.TaskToken != "" {
			done, err = e.reinvokeWait(ex)
			reinvoke = false
		} else {
			done, err = e.step(ex)
		}
		switch {
		case errors.Is(err, registry.ErrStale):
			continue // changed under us (a decision, a timeout): look again
		case err != nil:
			if e.ctx.Err() == nil {
				e.log.Error("workflow: run state", "execution", id, "state", ex.State, "err", err)
			}
			return
		case done:
			return
		}
	}
}

// commit writes ex as the next revision; prev is the state ex was in.
func (e *Engine) commit(ctx context.Context, ex *registry.Execution, prev string) error {
	ex.Revision++
	ex.UpdatedAt = e.now().UTC()
	if err := e.cfg.Store.Commit(ctx, &registry.Change{Executions: []registry.Execution{*ex}}); err != nil {
		return err
	}
	if ex.State != prev {
		e.resetRetries(ex.ID)
		e.entered(ex.ID, ex.State)
	}
	if ex.Status != registry.ExecutionRunning {
		e.log.Info("workflow: execution ended", "execution", ex.ID, "status", ex.Status, "state", ex.State, "error", ex.Error)
	}
	return nil
}

func (e *Engine) entered(id, state string) {
	e.log.Debug("workflow: state entered", "execution", id, "state", state)
	if e.cfg.OnState != nil {
		e.cfg.OnState(id, state)
	}
}

func (e *Engine) resetRetries(id string) {
	e.mu.Lock()
	delete(e.retries, id)
	e.mu.Unlock()
}

// retryDelay returns how long to wait before retrying state s after error
// name, counting the attempt, or false when no retrier matches or the
// matching one is exhausted.
func (e *Engine) retryDelay(id string, s *state, name string) (time.Duration, bool) {
	for i, r := range s.retry {
		if !matches(r.errorEquals, name) {
			continue
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		rc := e.retries[id]
		if rc == nil || rc.state != s.name {
			rc = &retryCount{state: s.name, counts: make([]int, len(s.retry))}
			e.retries[id] = rc
		}
		n := rc.counts[i]
		if n >= r.maxAttempts {
			return 0, false
		}
		rc.counts[i]++
		secs := r.intervalSeconds
		for range n {
			secs *= r.backoffRate
		}
		if r.maxDelaySeconds > 0 && secs > r.maxDelaySeconds {
			secs = r.maxDelaySeconds
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	return 0, false
}
