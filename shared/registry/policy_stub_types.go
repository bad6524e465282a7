package registry

// TEMPORARY: the minimal declarations of helper policy's Policy, until its
// shared/registry/policy.go reaches main (then this file goes).

// Policy is a model's promotion policy (stub).
type Policy struct {
	Approval          string
	ApprovalsRequired int
	Approvers         []string
	RollbackRole      Role
}

// PolicyCheck is the result of one policy check (stub).
type PolicyCheck struct {
	Name   string
	Passed bool
	Detail string
}

// Evaluate runs every check of p (stub: none).
func (p Policy) Evaluate(v Version, prod *Version) []PolicyCheck { return nil }

func policyOf(m Model) Policy { return Policy{} }
