package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

var approvalTests = []test{
	{"ListNewestFirst", withStore(testListApprovals)},
}

var executionTests = []test{
	{"ListOldestFirst", withStore(testListExecutions)},
}

func testListApprovals(t *testing.T, s registry.Store) {
	c := ctx(t)
	T := func(minutes int) time.Time { return at(time.Duration(minutes) * time.Minute) }
	aps := []registry.Approval{
		approval("ap-1", "m1", registry.ApprovalPending, T(1)),
		approval("ap-2", "m2", registry.ApprovalApproved, T(2)),
		approval("ap-4", "m1", registry.ApprovalPending, T(3)), // same time as ap-3: by ID, ap-4 first
		approval("ap-3", "m1", registry.ApprovalRejected, T(3)),
		approval("ap-5", "m2", registry.ApprovalPending, T(5)),
		approval("ap-6", "m1", registry.ApprovalApproved, T(6)),
		approval("ap-7", "m11", registry.ApprovalPending, T(4)),
		approval("ap-0", "m1", registry.ApprovalPending, T(7)), // newest, smallest ID
	}
	commit(t, s, &registry.Change{Approvals: aps[:4]})
	commit(t, s, &registry.Change{Approvals: aps[4:]})
	// A decision moves ap-1 out of PENDING (and must not move it in time).
	aps[0].Status, aps[0].Revision, aps[0].UpdatedAt = registry.ApprovalApproved, 2, T(100)
	commit(t, s, &registry.Change{Approvals: []registry.Approval{aps[0]}})

	newestFirst := []registry.Approval{aps[7], aps[5], aps[4], aps[6], aps[2], aps[3], aps[1], aps[0]}
	for _, q := range []registry.ApprovalQuery{
		{}, {Status: registry.ApprovalPending}, {Status: registry.ApprovalApproved}, {Model: "m1"},
		{Model: "m1", Status: registry.ApprovalPending}, {Model: "m2", Status: registry.ApprovalApproved},
		{Status: registry.ApprovalExpired}, {Model: "none"},
	} {
		var want []registry.Approval
		for _, a := range newestFirst {
			if (q.Status == "" || a.Status == q.Status) && (q.Model == "" || a.Model == q.Model) {
				want = append(want, a)
			}
		}
		for _, limit := range []int{1000, 2, 1} {
			what := fmt.Sprintf("ListApprovals(status %q, model %q, limit %d)", q.Status, q.Model, limit)
			got := collect(t, what, limit, func(cursor string) (registry.Page[registry.Approval], error) {
				q := q
				q.Cursor, q.Limit = cursor, limit
				return s.ListApprovals(c, q)
			})
			assertEqual(t, what, got, want)
		}
	}
	wantInvalidCursor(t, "ListApprovals", func(cursor string) (registry.Page[registry.Approval], error) {
		return s.ListApprovals(c, registry.ApprovalQuery{Cursor: cursor, Limit: 10})
	})
}

func testListExecutions(t *testing.T, s registry.Store) {
	c := ctx(t)
	T := func(minutes int) time.Time { return at(time.Duration(minutes) * time.Minute) }
	exs := []registry.Execution{
		execution("ex-9", registry.ExecutionRunning, T(1)), // oldest, largest ID
		execution("ex-3", registry.ExecutionSucceeded, T(2)),
		execution("ex-4", registry.ExecutionRunning, T(3)), // same time as ex-5: by ID, ex-4 first
		execution("ex-5", registry.ExecutionRunning, T(3)),
		execution("ex-1", registry.ExecutionFailed, T(4)),
		execution("ex-2", registry.ExecutionRunning, T(5)),
		execution("ex-6", registry.ExecutionTimedOut, T(6)),
	}
	commit(t, s, &registry.Change{Executions: []registry.Execution{exs[6], exs[3], exs[0], exs[5]}})
	commit(t, s, &registry.Change{Executions: []registry.Execution{exs[2], exs[4], exs[1]}})
	// ex-5 finishes: it leaves RUNNING.
	exs[3].Status, exs[3].Revision, exs[3].UpdatedAt, exs[3].TaskToken = registry.ExecutionSucceeded, 2, T(50), ""
	commit(t, s, &registry.Change{Executions: []registry.Execution{exs[3]}})

	for _, status := range []registry.ExecutionStatus{"", registry.ExecutionRunning, registry.ExecutionSucceeded, registry.ExecutionAborted} {
		var want []registry.Execution
		for _, e := range exs {
			if status == "" || e.Status == status {
				want = append(want, e)
			}
		}
		for _, limit := range []int{1000, 2, 1} {
			what := fmt.Sprintf("ListExecutions(status %q, limit %d)", status, limit)
			got := collect(t, what, limit, func(cursor string) (registry.Page[registry.Execution], error) {
				return s.ListExecutions(c, registry.ExecutionQuery{Status: status, Cursor: cursor, Limit: limit})
			})
			assertEqual(t, what, got, want)
		}
	}
	wantInvalidCursor(t, "ListExecutions", func(cursor string) (registry.Page[registry.Execution], error) {
		return s.ListExecutions(c, registry.ExecutionQuery{Cursor: cursor, Limit: 10})
	})
}
