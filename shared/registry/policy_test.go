package registry

import (
	"math"
	"strings"
	"testing"
)

func TestParseMetricRule(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want MetricRule
		err  string // part of the message when refused
	}{
		{in: "accuracy>=0.9", want: MetricRule{"accuracy", OpGE, 0.9}},
		{in: "latency_ms<=50", want: MetricRule{"latency_ms", OpLE, 50}},
		{in: "f1>0.5", want: MetricRule{"f1", OpGT, 0.5}},
		{in: "loss<1e-3", want: MetricRule{"loss", OpLT, 0.001}},
		{in: "classes==10", want: MetricRule{"classes", OpEQ, 10}},
		{in: " val/auc >= -0.25 ", want: MetricRule{"val/auc", OpGE, -0.25}},
		{in: "accuracy", err: "write it as METRIC OP VALUE"},
		{in: ">=0.9", err: "names no metric"},
		{in: "accuracy=0.9", err: "unknown operator"},
		{in: "accuracy!=0.9", err: "unknown operator"},
		{in: "accuracy=>0.9", err: "unknown operator"},
		{in: "accuracy>=", err: `"" is not a number`},
		{in: "accuracy>=high", err: `"high" is not a number`},
		{in: "accuracy>=NaN", err: "finite"},
		{in: "accuracy<=Inf", err: "finite"},
		{in: "bad name>=1", err: "invalid metric name"},
		{in: "acc>=>=1", err: "not a number"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseMetricRule(tc.in)
			if tc.err != "" {
				if !IsCode(err, Invalid) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseMetricRule(%q) = %+v, %v; want Invalid containing %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseMetricRule(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
			back, err := ParseMetricRule(got.String())
			if err != nil || back != got {
				t.Fatalf("round trip of %q through %q = %+v, %v", tc.in, got.String(), back, err)
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Policy
		err  string
	}{
		{name: "zero", p: Policy{}},
		{name: "full", p: Policy{
			Approval: ApprovalAuto, ApprovalsRequired: 5, Approvers: []string{"alice", "group:ml-leads"},
			Metrics:            []MetricRule{{"accuracy", OpGE, 0.9}, {"accuracy", OpLE, 0.999}},
			MustBeatProduction: []string{"accuracy", "latency_ms:min", "score:max"},
			RequireCommit:      true, RequireCleanTree: true, RollbackRole: RolePublisher,
		}},
		{name: "mode", p: Policy{Approval: "automatic"}, err: `unknown approval mode "automatic": use manual or auto`},
		{name: "approvals negative", p: Policy{ApprovalsRequired: -1}, err: "between 1 and 5"},
		{name: "approvals six", p: Policy{ApprovalsRequired: 6}, err: "approvals_required is 6"},
		{name: "rollback admin", p: Policy{RollbackRole: RoleAdmin}, err: `rollback_role "admin": use approver or publisher`},
		{name: "rollback reader", p: Policy{RollbackRole: RoleReader}, err: "use approver or publisher"},
		{name: "bad op", p: Policy{Metrics: []MetricRule{{"accuracy", "=>", 1}}}, err: `unknown operator "=>"`},
		{name: "empty metric", p: Policy{Metrics: []MetricRule{{"", OpGE, 1}}}, err: "names no metric"},
		{name: "nan threshold", p: Policy{Metrics: []MetricRule{{"a", OpGE, math.NaN()}}}, err: "finite"},
		{name: "same rule twice", p: Policy{Metrics: []MetricRule{{"a", OpGE, 1}, {"a", OpGE, 2}}}, err: "same operator on a"},
		{name: "empty must beat", p: Policy{MustBeatProduction: []string{""}}, err: "empty metric name"},
		{name: "bad must beat", p: Policy{MustBeatProduction: []string{"acc:up"}}, err: "METRIC:max or METRIC:min"},
		{name: "must beat twice", p: Policy{MustBeatProduction: []string{"acc", "acc:min"}}, err: "names acc twice"},
		{name: "empty approver", p: Policy{Approvers: []string{""}}, err: "invalid approver"},
		{name: "empty group", p: Policy{Approvers: []string{"group:"}}, err: "invalid approver group"},
		{name: "spaced approver", p: Policy{Approvers: []string{" bob"}}, err: "surrounding spaces"},
		{name: "control in approver", p: Policy{Approvers: []string{"bob\x1b[2J"}}, err: "U+001B"},
		{name: "approver twice", p: Policy{Approvers: []string{"bob", "bob"}}, err: `"bob" is listed twice`},
		{name: "too many approvers", p: Policy{Approvers: strings.Split(strings.Repeat("x,", MaxPolicyApprovers)+"y", ",")}, err: "approvers; at most"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if tc.err == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !IsCode(err, Invalid) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Validate = %v; want Invalid containing %q", err, tc.err)
			}
		})
	}
}

func TestPolicyNormalized(t *testing.T) {
	n := Policy{}.Normalized()
	if n.Approval != ApprovalManual || n.ApprovalsRequired != 1 || n.RollbackRole != RoleApprover ||
		n.Approvers == nil || n.Metrics == nil || n.MustBeatProduction == nil {
		t.Fatalf("zero policy normalized = %+v", n)
	}
	if !(Policy{}).IsDefault() || !n.IsDefault() {
		t.Fatal("the zero policy is not the default")
	}
	if (Policy{RequireCommit: true}).IsDefault() || (Policy{ApprovalsRequired: 2}).IsDefault() {
		t.Fatal("a non-default policy reads as the default")
	}
	p := Policy{Approval: ApprovalAuto, ApprovalsRequired: 3, RollbackRole: RolePublisher, Approvers: []string{"a"}}
	q := p.Normalized()
	q.Approvers[0] = "changed"
	if p.Approvers[0] != "a" || q.Approval != ApprovalAuto || q.ApprovalsRequired != 3 || q.RollbackRole != RolePublisher {
		t.Fatalf("Normalized changed set fields or shares lists: %+v from %+v", q, p)
	}
}

func metrics(kv ...any) map[string]Metric {
	m := map[string]Metric{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = Metric{Value: kv[i+1].(float64), Source: SourceValidation}
	}
	return m
}

func TestPolicyEvaluate(t *testing.T) {
	prod := &Version{Model: "m", Number: 3, Metrics: metrics("accuracy", 0.91, "latency_ms", 40.0, "f1", 0.8)}
	type want struct {
		name   string
		passed bool
		detail string
	}
	for _, tc := range []struct {
		name string
		p    Policy
		v    Version
		prod *Version
		want []want
	}{
		{name: "no checks", p: Policy{Approval: ApprovalAuto, ApprovalsRequired: 2}, v: Version{Number: 4}, want: []want{}},
		{name: "thresholds", p: Policy{Metrics: []MetricRule{
			{"accuracy", OpGE, 0.9}, {"latency_ms", OpLE, 50}, {"accuracy", OpGT, 0.93}, {"f1", OpLT, 0.5}, {"classes", OpEQ, 10}, {"recall", OpGE, 0.5},
		}},
			v: Version{Number: 4, Metrics: metrics("accuracy", 0.93, "latency_ms", 50.0, "f1", 0.5, "classes", 10.0)},
			want: []want{
				{"metric:accuracy>=0.9", true, "accuracy 0.93 >= 0.9"},
				{"metric:latency_ms<=50", true, "latency_ms 50 <= 50"},
				{"metric:accuracy>0.93", false, "accuracy 0.93 is not > 0.93"},
				{"metric:f1<0.5", false, "f1 0.5 is not < 0.5"},
				{"metric:classes==10", true, "classes 10 == 10"},
				{"metric:recall>=0.5", false, "recall is missing on version 4 (needs >= 0.5)"},
			}},
		{name: "must beat", p: Policy{MustBeatProduction: []string{"accuracy", "latency_ms", "f1", "recall", "auc"}},
			v:    Version{Number: 4, Metrics: metrics("accuracy", 0.93, "latency_ms", 45.0, "f1", 0.8, "auc", 0.7)},
			prod: prod,
			want: []want{
				{"must_beat_production:accuracy", true, "accuracy 0.93 > 0.91 of Production version 3 (higher is better)"},
				{"must_beat_production:latency_ms", false, "latency_ms 45 is worse than 40 of Production version 3 (lower is better)"},
				{"must_beat_production:f1", false, "f1 0.8 ties Production version 3 (0.8): it must be strictly better"},
				{"must_beat_production:recall", false, "recall is missing on version 4"},
				{"must_beat_production:auc", true, "Production version 3 has no auc to beat: passes (auc 0.7)"},
			}},
		{name: "must beat with direction", p: Policy{MustBeatProduction: []string{"accuracy:min", "latency_ms:max"}},
			v:    Version{Number: 4, Metrics: metrics("accuracy", 0.5, "latency_ms", 45.0)},
			prod: prod,
			want: []want{
				{"must_beat_production:accuracy", true, "accuracy 0.5 < 0.91 of Production version 3 (lower is better)"},
				{"must_beat_production:latency_ms", true, "latency_ms 45 > 40 of Production version 3 (higher is better)"},
			}},
		{name: "must beat without production", p: Policy{MustBeatProduction: []string{"accuracy", "recall"}},
			v: Version{Number: 1, Metrics: metrics("accuracy", 0.5)},
			want: []want{
				{"must_beat_production:accuracy", true, "no Production version to beat: passes (accuracy 0.5)"},
				{"must_beat_production:recall", false, "recall is missing on version 1"},
			}},
		{name: "lineage ok", p: Policy{RequireCommit: true, RequireCleanTree: true},
			v: Version{Number: 2, Lineage: Lineage{Code: CodeLineage{Commit: "abc123"}}},
			want: []want{
				{CheckRequireCommit, true, "lineage.code.commit is abc123"},
				{CheckRequireCleanTree, true, "lineage.code.dirty is false"},
			}},
		{name: "lineage dirty", p: Policy{RequireCommit: true, RequireCleanTree: true},
			v: Version{Number: 2, Lineage: Lineage{Code: CodeLineage{Commit: "abc123", Dirty: true}}},
			want: []want{
				{CheckRequireCommit, true, "lineage.code.commit is abc123"},
				{CheckRequireCleanTree, false, "lineage.code.dirty is true: built from uncommitted changes"},
			}},
		{name: "lineage missing", p: Policy{RequireCommit: true, RequireCleanTree: true},
			v: Version{Number: 2},
			want: []want{
				{CheckRequireCommit, false, "lineage.code.commit is missing"},
				{CheckRequireCleanTree, false, "lineage.code.commit is missing, so a clean tree is not shown"},
			}},
		{name: "clean tree alone", p: Policy{RequireCleanTree: true},
			v:    Version{Number: 2, Lineage: Lineage{Code: CodeLineage{Commit: "abc"}}},
			want: []want{{CheckRequireCleanTree, true, "lineage.code.dirty is false"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.p.Evaluate(tc.v, tc.prod)
			if got == nil {
				t.Fatal("Evaluate returned nil, want a (possibly empty) list")
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Evaluate = %+v; want %d checks", got, len(tc.want))
			}
			allPassed := true
			for i, w := range tc.want {
				if got[i] != (PolicyCheck{Name: w.name, Passed: w.passed, Detail: w.detail}) {
					t.Errorf("check %d = %+v; want %+v", i, got[i], w)
				}
				allPassed = allPassed && w.passed
			}
			if ChecksPassed(got) != allPassed {
				t.Errorf("ChecksPassed = %v; want %v", ChecksPassed(got), allPassed)
			}
			for _, c := range FailedChecks(got) {
				if c.Passed {
					t.Errorf("FailedChecks returned a passed check %+v", c)
				}
			}
		})
	}
}

func TestPolicyNamesApprover(t *testing.T) {
	any := Policy{}
	if !any.NamesApprover("carol", nil) {
		t.Fatal("a policy naming no approvers refuses an approver")
	}
	p := Policy{Approvers: []string{"alice", "group:leads"}}
	for _, tc := range []struct {
		name   string
		groups []string
		want   bool
	}{
		{"alice", nil, true},
		{"bob", []string{"leads"}, true},
		{"bob", []string{"devs"}, false},
		{"carol", nil, false},
		{"group:leads", nil, false}, // a principal named like a group entry is not the group
		{"leads", nil, false},
	} {
		if got := p.NamesApprover(tc.name, tc.groups); got != tc.want {
			t.Errorf("NamesApprover(%q, %v) = %v; want %v", tc.name, tc.groups, got, tc.want)
		}
	}
}

func TestPolicyMayRollBack(t *testing.T) {
	def, pub := Policy{}, Policy{RollbackRole: RolePublisher}
	for _, tc := range []struct {
		p    Policy
		r    Role
		want bool
	}{
		{def, RoleAdmin, true}, {def, RoleApprover, true}, {def, RolePublisher, false}, {def, RoleReader, false},
		{pub, RoleAdmin, true}, {pub, RoleApprover, true}, {pub, RolePublisher, true}, {pub, RoleReader, false},
	} {
		if got := tc.p.MayRollBack(tc.r); got != tc.want {
			t.Errorf("%+v.MayRollBack(%s) = %v; want %v", tc.p, tc.r, got, tc.want)
		}
	}
}
