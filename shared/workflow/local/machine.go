package local

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// The Task resources the engine runs.
const (
	lambdaInvoke             = "arn:aws:states:::lambda:invoke"
	lambdaInvokeWaitForToken = "arn:aws:states:::lambda:invoke.waitForTaskToken"
)

// machine is a parsed ASL document: the subset the promotion uses (Task with
// lambda:invoke and .waitForTaskToken, Choice, Pass, Succeed, Fail; Retry,
// Catch, TimeoutSeconds(Path), InputPath, Parameters, ResultSelector,
// ResultPath, OutputPath). Anything else is refused when the document is
// loaded, so the engine never silently runs a document differently.
type machine struct {
	startAt string
	states  map[string]*state
}

// optPath is an InputPath, ResultPath or OutputPath: absent (the default
// "$"), null, or a path.
type optPath struct {
	null bool
	p    path
}

type state struct {
	name, typ, next string
	end             bool

	inputPath, outputPath, resultPath optPath
	parameters, resultSelector        *template
	result                            any // Pass
	hasResult                         bool

	resource           string
	function           string // the Parameters' FunctionName
	timeoutSeconds     int64
	timeoutSecondsPath *path
	retry              []retrier
	catch              []catcher

	choices []choiceRule
	dflt    string

	errName, cause string // Fail
}

type retrier struct {
	errorEquals     []string
	intervalSeconds float64
	maxAttempts     int
	backoffRate     float64
	maxDelaySeconds float64
}

type catcher struct {
	errorEquals []string
	resultPath  optPath
	next        string
}

// allowed lists the fields each state type may have.
var allowed = map[string][]string{
	"Task":    {"Type", "Comment", "Next", "End", "Resource", "Parameters", "ResultSelector", "InputPath", "OutputPath", "ResultPath", "TimeoutSeconds", "TimeoutSecondsPath", "Retry", "Catch"},
	"Pass":    {"Type", "Comment", "Next", "End", "Parameters", "Result", "InputPath", "OutputPath", "ResultPath"},
	"Choice":  {"Type", "Comment", "Choices", "Default", "InputPath", "OutputPath"},
	"Succeed": {"Type", "Comment", "InputPath", "OutputPath"},
	"Fail":    {"Type", "Comment", "Error", "Cause"},
}

func parseMachine(doc []byte) (*machine, error) {
	var raw struct {
		Comment string                                `json:"Comment"`
		StartAt string                                `json:"StartAt"`
		States  map[string]map[string]json.RawMessage `json:"States"`
	}
	dec := json.NewDecoder(strings.NewReader(string(doc)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("parse ASL document: %w", err)
	}
	m := &machine{startAt: raw.StartAt, states: map[string]*state{}}
	names := make([]string, 0, len(raw.States))
	for name := range raw.States {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s, err := parseState(name, raw.States[name])
		if err != nil {
			return nil, fmt.Errorf("parse ASL document: state %q: %w", name, err)
		}
		m.states[name] = s
	}
	if _, ok := m.states[m.startAt]; !ok {
		return nil, fmt.Errorf("parse ASL document: StartAt %q is not a state", m.startAt)
	}
	for _, name := range names {
		s := m.states[name]
		targets := []string{s.next, s.dflt}
		for _, c := range s.catch {
			targets = append(targets, c.next)
		}
		for _, c := range s.choices {
			targets = append(targets, c.next)
		}
		for _, t := range targets {
			if _, ok := m.states[t]; t != "" && !ok {
				return nil, fmt.Errorf("parse ASL document: state %q goes to %q, which is not a state", name, t)
			}
		}
	}
	return m, nil
}

func parseState(name string, f map[string]json.RawMessage) (*state, error) {
	s := &state{name: name}
	if err := field(f, "Type", &s.typ); err != nil {
		return nil, err
	}
	ok, known := allowed[s.typ]
	if !known {
		return nil, fmt.Errorf("state type %q is not supported by the local engine", s.typ)
	}
	for k := range f {
		if !slices.Contains(ok, k) {
			return nil, fmt.Errorf("field %q is not supported by the local engine on a %s state", k, s.typ)
		}
	}
	var err error
	get := func(key string, v any) {
		if err == nil {
			err = field(f, key, v)
		}
	}
	getPath := func(key string, p *optPath) {
		if err == nil {
			*p, err = parseOptPath(f, key)
		}
	}
	getTemplate := func(key string) *template {
		raw, ok := f[key]
		if err != nil || !ok {
			return nil
		}
		t, e := parseTemplate(raw)
		if e != nil {
			err = fmt.Errorf("%s: %w", key, e)
		}
		return t
	}
	get("Next", &s.next)
	get("End", &s.end)
	getPath("InputPath", &s.inputPath)
	getPath("OutputPath", &s.outputPath)
	getPath("ResultPath", &s.resultPath)
	s.parameters = getTemplate("Parameters")
	s.resultSelector = getTemplate("ResultSelector")
	if raw, ok := f["Result"]; ok && err == nil {
		s.hasResult = true
		err = decodeJSON(raw, &s.result)
	}
	get("Resource", &s.resource)
	get("TimeoutSeconds", &s.timeoutSeconds)
	var tsp string
	get("TimeoutSecondsPath", &tsp)
	if tsp != "" && err == nil {
		var p path
		if p, err = parsePath(tsp); err == nil {
			s.timeoutSecondsPath = &p
		}
	}
	get("Default", &s.dflt)
	get("Error", &s.errName)
	get("Cause", &s.cause)
	if err == nil {
		s.retry, err = parseRetry(f["Retry"])
	}
	if err == nil {
		s.catch, err = parseCatch(f["Catch"])
	}
	if err == nil && f["Choices"] != nil {
		s.choices, err = parseChoices(f["Choices"])
	}
	if err != nil {
		return nil, err
	}
	switch s.typ {
	case "Task", "Pass":
		if (s.next == "") == !s.end {
			return nil, fmt.Errorf("a %s state needs exactly one of Next and End", s.typ)
		}
	case "Choice":
		if len(s.choices) == 0 {
			return nil, fmt.Errorf("a Choice state needs Choices")
		}
	}
	if s.typ == "Task" {
		if err := s.checkTask(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *state) checkTask() error {
	if s.resource != lambdaInvoke && s.resource != lambdaInvokeWaitForToken {
		return fmt.Errorf("resource %q is not supported by the local engine (only %s and %s)", s.resource, lambdaInvoke, lambdaInvokeWaitForToken)
	}
	if s.timeoutSeconds != 0 && s.timeoutSecondsPath != nil {
		return fmt.Errorf("a Task cannot have both TimeoutSeconds and TimeoutSecondsPath")
	}
	if s.timeoutSeconds < 0 {
		return fmt.Errorf("TimeoutSeconds must be positive")
	}
	params, _ := s.parametersMap()
	fn, _ := params["FunctionName"].(string)
	if fn == "" {
		return fmt.Errorf("a lambda:invoke Task needs a literal Parameters.FunctionName")
	}
	if _, ok := params["Payload"]; !ok {
		if _, ok := params["Payload.$"]; !ok {
			return fmt.Errorf("a lambda:invoke Task needs Parameters.Payload")
		}
	}
	for k := range params {
		if k != "FunctionName" && k != "Payload" && k != "Payload.$" {
			return fmt.Errorf("parameter %q of lambda:invoke is not supported by the local engine", k)
		}
	}
	s.function = fn
	return nil
}

func (s *state) parametersMap() (map[string]any, bool) {
	if s.parameters == nil {
		return nil, false
	}
	m, ok := s.parameters.v.(map[string]any)
	return m, ok
}

func field(f map[string]json.RawMessage, key string, v any) error {
	raw, ok := f[key]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("field %s: %w", key, err)
	}
	return nil
}

func parseOptPath(f map[string]json.RawMessage, key string) (optPath, error) {
	raw, ok := f[key]
	if !ok {
		return optPath{p: path{text: "$"}}, nil
	}
	if string(raw) == "null" {
		return optPath{null: true}, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return optPath{}, fmt.Errorf("field %s: %w", key, err)
	}
	p, err := parsePath(s)
	if err != nil {
		return optPath{}, fmt.Errorf("field %s: %w", key, err)
	}
	return optPath{p: p}, nil
}

func parseRetry(raw json.RawMessage) ([]retrier, error) {
	if raw == nil {
		return nil, nil
	}
	var rs []struct {
		ErrorEquals     []string
		IntervalSeconds *float64
		MaxAttempts     *int
		BackoffRate     *float64
		MaxDelaySeconds float64
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rs); err != nil {
		return nil, fmt.Errorf("Retry: %w", err)
	}
	out := make([]retrier, len(rs))
	for i, r := range rs {
		if len(r.ErrorEquals) == 0 {
			return nil, fmt.Errorf("Retry[%d]: ErrorEquals is empty", i)
		}
		out[i] = retrier{errorEquals: r.ErrorEquals, intervalSeconds: 1, maxAttempts: 3, backoffRate: 2, maxDelaySeconds: r.MaxDelaySeconds}
		if r.IntervalSeconds != nil {
			out[i].intervalSeconds = *r.IntervalSeconds
		}
		if r.MaxAttempts != nil {
			out[i].maxAttempts = *r.MaxAttempts
		}
		if r.BackoffRate != nil {
			out[i].backoffRate = *r.BackoffRate
		}
	}
	return out, nil
}

func parseCatch(raw json.RawMessage) ([]catcher, error) {
	if raw == nil {
		return nil, nil
	}
	var cs []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &cs); err != nil {
		return nil, fmt.Errorf("Catch: %w", err)
	}
	out := make([]catcher, len(cs))
	for i, c := range cs {
		for k := range c {
			if k != "ErrorEquals" && k != "ResultPath" && k != "Next" && k != "Comment" {
				return nil, fmt.Errorf("Catch[%d]: field %q is not supported", i, k)
			}
		}
		if err := field(c, "ErrorEquals", &out[i].errorEquals); err != nil {
			return nil, fmt.Errorf("Catch[%d]: %w", i, err)
		}
		if err := field(c, "Next", &out[i].next); err != nil {
			return nil, fmt.Errorf("Catch[%d]: %w", i, err)
		}
		rp, err := parseOptPath(c, "ResultPath")
		if err != nil {
			return nil, fmt.Errorf("Catch[%d]: %w", i, err)
		}
		out[i].resultPath = rp
		if len(out[i].errorEquals) == 0 || out[i].next == "" {
			return nil, fmt.Errorf("Catch[%d]: needs ErrorEquals and Next", i)
		}
	}
	return out, nil
}

// matches reports whether the error name matches one of errorEquals, as
// ASL does: States.ALL matches any error but States.Runtime (which is
// never retried or caught), States.TaskFailed any but States.Timeout.
func matches(errorEquals []string, name string) bool {
	if name == "States.Runtime" {
		return false
	}
	for _, e := range errorEquals {
		if e == name || e == "States.ALL" || (e == "States.TaskFailed" && name != "States.Timeout") {
			return true
		}
	}
	return false
}
