package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/workflow"
)

// step runs the current state of ex and commits where it leads. done
// reports that the execution now waits or ended. An error is a failed
// commit (ErrStale: someone else moved it first) or a stop.
func (e *Engine) step(ex registry.Execution) (done bool, err error) {
	s := e.m.states[ex.State]
	if s == nil {
		next := fail(ex, "States.Runtime", fmt.Sprintf("the execution is in state %q, which the document does not have", ex.State))
		return true, e.commit(e.ctx, &next, ex.State)
	}
	input, err := decodeInput(ex)
	if err != nil {
		next := fail(ex, "States.Runtime", err.Error())
		return true, e.commit(e.ctx, &next, ex.State)
	}
	var next registry.Execution
	switch s.typ {
	case "Pass":
		next = e.runPass(ex, s, input)
	case "Choice":
		next = e.runChoice(ex, s, input)
	case "Succeed":
		out, err := applyPath(s.inputPath, input)
		if err == nil {
			out, err = applyPath(s.outputPath, out)
		}
		if err != nil {
			next = failWith(ex, err)
			break
		}
		next = ex
		next.Status, next.Output = registry.ExecutionSucceeded, mustMarshal(out)
	case "Fail":
		next = fail(ex, s.errName, s.cause)
	case "Task":
		return e.runTask(ex, s, input)
	}
	return next.Status != registry.ExecutionRunning, e.commit(e.ctx, &next, ex.State)
}

func (e *Engine) runPass(ex registry.Execution, s *state, input any) registry.Execution {
	eff, err := applyPath(s.inputPath, input)
	if err != nil {
		return failWith(ex, err)
	}
	result := eff
	switch {
	case s.hasResult:
		result = s.result
	case s.parameters != nil:
		if result, err = s.parameters.eval(eff, e.contextObject(ex, s, "")); err != nil {
			return failWith(ex, err)
		}
	}
	return e.afterResult(ex, s, input, result)
}

func (e *Engine) runChoice(ex registry.Execution, s *state, input any) registry.Execution {
	eff, err := applyPath(s.inputPath, input)
	if err != nil {
		return failWith(ex, err)
	}
	next := s.dflt
	for i := range s.choices {
		if s.choices[i].eval(eff) {
			next = s.choices[i].next
			break
		}
	}
	if next == "" {
		return fail(ex, "States.NoChoiceMatched", fmt.Sprintf("no choice rule of %q matched and it has no Default", s.name))
	}
	out, err := applyPath(s.outputPath, eff)
	if err != nil {
		return failWith(ex, err)
	}
	ex.State, ex.Input = next, mustMarshal(out)
	return ex
}

// runTask invokes a Task's handler, retrying as its Retry says, and commits
// the result, the Catch it leads to, or (for .waitForTaskToken) the token.
func (e *Engine) runTask(ex registry.Execution, s *state, input any) (bool, error) {
	e.mu.Lock()
	delay, delayed := e.delays[ex.ID]
	delete(e.delays, ex.ID)
	e.mu.Unlock()
	for {
		if delayed {
			if err := e.sleep(e.ctx, delay); err != nil {
				return true, err
			}
			delayed = false
		}
		eff, err := applyPath(s.inputPath, input)
		if err != nil {
			next := failWith(ex, err)
			return true, e.commit(e.ctx, &next, ex.State)
		}
		token := ""
		if s.resource == lambdaInvokeWaitForToken {
			// The token is stored before the handler runs: a decision
			// may arrive as soon as the handler has passed it on.
			token = ex.ID + "." + registry.RandomToken(32)
			secs, err := e.timeoutSeconds(s, eff)
			if err != nil {
				next := failWith(ex, err)
				return true, e.commit(e.ctx, &next, ex.State)
			}
			waiting := ex
			waiting.TaskToken, waiting.TimeoutAt = token, time.Time{}
			if secs > 0 {
				waiting.TimeoutAt = e.now().UTC().Add(time.Duration(secs) * time.Second)
			}
			if err := e.commit(e.ctx, &waiting, ex.State); err != nil {
				return true, err
			}
			ex = waiting
		}
		result, taskErr := e.invoke(ex, s, eff, token)
		if taskErr == nil && token != "" {
			return true, nil // waiting for SendTaskSuccess / SendTaskFailure / the timeout
		}
		var next registry.Execution
		switch {
		case taskErr == nil:
			next = e.afterResult(ex, s, input, result)
		case e.ctx.Err() != nil:
			return true, e.ctx.Err() // stopping: the state runs again on the next Run
		default:
			name, cause := taskErr.Name, taskErr.Cause
			if d, ok := e.retryDelay(ex.ID, s, name); ok {
				e.log.Info("workflow: retrying task", "execution", ex.ID, "state", s.name, "error", name, "after", d)
				delay, delayed = d, true
				if token != "" {
					// The retry gets a new token; this one is void.
					ex.TaskToken, ex.TimeoutAt = "", time.Time{}
					if err := e.commit(e.ctx, &ex, ex.State); err != nil {
						return true, err
					}
				}
				continue
			}
			next = e.catchOrFail(ex, s, input, name, cause)
		}
		return next.Status != registry.ExecutionRunning, e.commit(e.ctx, &next, ex.State)
	}
}

// reinvokeWait invokes the handler of the wait ex is in again with its
// stored token: after a restart nothing tells whether it ran before.
func (e *Engine) reinvokeWait(ex registry.Execution) (bool, error) {
	s := e.m.states[ex.State]
	input, err := decodeInput(ex)
	if s == nil || s.typ != "Task" || err != nil {
		next := fail(ex, "States.Runtime", fmt.Sprintf("execution waits in %q, which is not a Task of the document", ex.State))
		return true, e.commit(e.ctx, &next, ex.State)
	}
	eff, err := applyPath(s.inputPath, input)
	if err != nil {
		next := failWith(ex, err)
		return true, e.commit(e.ctx, &next, ex.State)
	}
	_, taskErr := e.invoke(ex, s, eff, ex.TaskToken)
	if taskErr == nil || e.ctx.Err() != nil {
		return true, nil
	}
	next := ex
	if d, ok := e.retryDelay(ex.ID, s, taskErr.Name); ok {
		e.mu.Lock()
		e.delays[ex.ID] = d
		e.mu.Unlock()
		next.TaskToken, next.TimeoutAt = "", time.Time{}
	} else {
		next = e.catchOrFail(ex, s, input, taskErr.Name, taskErr.Cause)
	}
	return false, e.commit(e.ctx, &next, ex.State)
}

// invoke calls the Task's handler with its Parameters' Payload and returns
// the lambda:invoke result ({"Payload": …, "StatusCode": 200, …}).
func (e *Engine) invoke(ex registry.Execution, s *state, eff any, token string) (any, *aslError) {
	params, err := s.parameters.eval(eff, e.contextObject(ex, s, token))
	if err != nil {
		return nil, asASL(err)
	}
	payload, err := json.Marshal(params.(map[string]any)["Payload"])
	if err != nil {
		return nil, runtimeError("encode the payload: %v", err)
	}
	out, err := e.call(s.function, payload)
	if err != nil {
		name, cause := workflow.ErrorName(err)
		if !errors.As(err, new(*workflow.TaskError)) && e.ctx.Err() == nil {
			e.log.Error("workflow: task failed", "execution", ex.ID, "state", s.name, "err", err)
		}
		return nil, &aslError{Name: name, Cause: cause}
	}
	var p any
	if err := decodeJSON(out, &p); err != nil {
		return nil, &aslError{Name: workflow.ErrorTaskFailed, Cause: "the handler's result is not JSON"}
	}
	return map[string]any{
		"ExecutedVersion":     "$LATEST",
		"Payload":             p,
		"SdkHttpMetadata":     map[string]any{"HttpStatusCode": json.Number("200")},
		"SdkResponseMetadata": map[string]any{"RequestId": registry.NewID(e.now())},
		"StatusCode":          json.Number("200"),
	}, nil
}

// call runs the handler; a panic is a task failure, not a crash.
func (e *Engine) call(function string, payload []byte) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("task handler %s panicked: %v", function, r)
		}
	}()
	return workflow.Invoke(e.ctx, e.cfg.Handlers, function, payload)
}

// timeoutSeconds returns the Task's timeout (0: none).
func (e *Engine) timeoutSeconds(s *state, eff any) (int64, error) {
	if s.timeoutSecondsPath == nil {
		return s.timeoutSeconds, nil
	}
	v, err := s.timeoutSecondsPath.get(eff)
	if err != nil {
		return 0, err
	}
	n, ok := v.(json.Number)
	f, ferr := n.Float64()
	if !ok || ferr != nil || f < 1 || f != math.Trunc(f) {
		return 0, runtimeError("TimeoutSecondsPath %q must select a positive integer, got %v", s.timeoutSecondsPath.text, v)
	}
	return int64(f), nil
}

// timeout returns ex after its wait timed out: the state's Retry, or Catch.
func (e *Engine) timeout(ex registry.Execution, s *state) (registry.Execution, error) {
	input, err := decodeInput(ex)
	if err != nil {
		return ex, err
	}
	if d, ok := e.retryDelay(ex.ID, s, workflow.ErrorTimeout); ok {
		e.mu.Lock()
		e.delays[ex.ID] = d
		e.mu.Unlock()
		ex.TaskToken, ex.TimeoutAt = "", time.Time{}
		return ex, nil
	}
	return e.catchOrFail(ex, s, input, workflow.ErrorTimeout, ""), nil
}

// afterResult applies ResultSelector, ResultPath and OutputPath to a
// state's result and moves ex to the next state (or ends it).
func (e *Engine) afterResult(ex registry.Execution, s *state, input, result any) registry.Execution {
	var err error
	if s.resultSelector != nil {
		if result, err = s.resultSelector.eval(result, e.contextObject(ex, s, "")); err != nil {
			return failWith(ex, err)
		}
	}
	out := input
	if !s.resultPath.null {
		if out, err = s.resultPath.p.set(input, result); err != nil {
			return failWith(ex, err)
		}
	}
	if out, err = applyPath(s.outputPath, out); err != nil {
		return failWith(ex, err)
	}
	ex.TaskToken, ex.TimeoutAt = "", time.Time{}
	if s.end {
		ex.Status, ex.Output = registry.ExecutionSucceeded, mustMarshal(out)
		return ex
	}
	ex.State, ex.Input = s.next, mustMarshal(out)
	return ex
}

// catchOrFail moves ex to the first Catch that matches the error, with
// {"Error","Cause"} at its ResultPath, or fails the execution.
func (e *Engine) catchOrFail(ex registry.Execution, s *state, input any, name, cause string) registry.Execution {
	ex.TaskToken, ex.TimeoutAt = "", time.Time{}
	for _, c := range s.catch {
		if !matches(c.errorEquals, name) {
			continue
		}
		out := input
		if !c.resultPath.null {
			var err error
			if out, err = c.resultPath.p.set(input, map[string]any{"Error": name, "Cause": cause}); err != nil {
				return failWith(ex, err)
			}
		}
		ex.State, ex.Input = c.next, mustMarshal(out)
		return ex
	}
	return fail(ex, name, cause)
}

// contextObject is the $$ document of a state.
func (e *Engine) contextObject(ex registry.Execution, s *state, token string) map[string]any {
	c := map[string]any{
		"Execution":    map[string]any{"Id": ex.ID, "Name": ex.ID, "StartTime": ex.StartedAt.UTC().Format(time.RFC3339Nano)},
		"State":        map[string]any{"Name": s.name, "EnteredTime": ex.UpdatedAt.UTC().Format(time.RFC3339Nano)},
		"StateMachine": map[string]any{"Name": workflow.Name},
	}
	if token != "" {
		c["Task"] = map[string]any{"Token": token}
	}
	return c
}

func applyPath(p optPath, v any) (any, error) {
	if p.null {
		return map[string]any{}, nil
	}
	return p.p.get(v)
}

func fail(ex registry.Execution, name, cause string) registry.Execution {
	ex.Status, ex.Error, ex.Cause = registry.ExecutionFailed, name, cause
	ex.TaskToken, ex.TimeoutAt = "", time.Time{}
	return ex
}

func failWith(ex registry.Execution, err error) registry.Execution {
	a := asASL(err)
	return fail(ex, a.Name, a.Cause)
}

func asASL(err error) *aslError {
	var a *aslError
	if errors.As(err, &a) {
		return a
	}
	return runtimeError("%v", err)
}

func decodeInput(ex registry.Execution) (any, error) {
	var v any
	if err := decodeJSON(ex.Input, &v); err != nil {
		return nil, runtimeError("the input of state %q is not JSON: %v", ex.State, err)
	}
	return v, nil
}

func marshal(v any) ([]byte, error) { return json.Marshal(v) }

// mustMarshal encodes a document decoded from JSON (it always encodes).
func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("workflow/local: encode state document: %v", err))
	}
	return b
}
