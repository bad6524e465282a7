package registry

import "context"

// Role is what a caller may do.
type Role string

// Roles, from least to most powerful. An approver may read and decide
// approvals but not publish; a publisher may not approve.
const (
	RoleReader    Role = "reader"
	RolePublisher Role = "publisher"
	RoleApprover  Role = "approver"
	RoleAdmin     Role = "admin"
)

// ParseRole returns the Role named s, or an Invalid error.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleReader, RolePublisher, RoleApprover, RoleAdmin:
		return r, nil
	}
	return "", Errorf(Invalid, "unknown role %q: use reader, publisher, approver or admin", s)
}

// Permission is what a route needs.
type Permission string

// Permissions.
const (
	PermRead    Permission = "read"
	PermPublish Permission = "publish"
	PermApprove Permission = "approve"
	PermAdmin   Permission = "admin"
	// PermRollback is what the rollback route needs: publishers,
	// approvers and admins; the model's policy then says which of them
	// (RollbackRole).
	PermRollback Permission = "rollback"
)

// Allows reports whether role r has permission p.
func (r Role) Allows(p Permission) bool {
	switch p {
	case PermRead:
		return r == RoleReader || r == RolePublisher || r == RoleApprover || r == RoleAdmin
	case PermPublish:
		return r == RolePublisher || r == RoleAdmin
	case PermApprove:
		return r == RoleApprover || r == RoleAdmin
	case PermAdmin:
		return r == RoleAdmin
	case PermRollback:
		return r == RolePublisher || r == RoleApprover || r == RoleAdmin
	}
	return false
}

// Principal is an authenticated caller.
type Principal struct {
	Name string
	Role Role
	// Groups are the groups the caller belongs to: a model's policy may
	// name "group:NAME" among its approvers.
	Groups []string
}

type principalKey struct{}

// WithPrincipal returns ctx carrying the caller p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller in ctx; the zero Principal (name
// "anonymous") if none.
func PrincipalFrom(ctx context.Context) Principal {
	p, ok := ctx.Value(principalKey{}).(Principal)
	if !ok || p.Name == "" {
		return Principal{Name: "anonymous"}
	}
	return p
}

// Idempotency asks the service to store the response to this write under
// Key in the same transaction as the write (see Change.Idempotency). The
// response is the caller's: the service only stores the bytes Render
// makes of the operation's result, and the caller replays them.
type Idempotency struct {
	Key         string
	RequestHash string
	// Render turns the operation's result into the response to store
	// (the REST API keeps its status and body there).
	Render func(result any) ([]byte, error)
}

type idempotencyKey struct{}

// WithIdempotency returns ctx carrying i.
func WithIdempotency(ctx context.Context, i *Idempotency) context.Context {
	return context.WithValue(ctx, idempotencyKey{}, i)
}

func idempotencyFrom(ctx context.Context) *Idempotency {
	i, _ := ctx.Value(idempotencyKey{}).(*Idempotency)
	return i
}
