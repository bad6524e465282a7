package apigw

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/modelreg/modelreg/shared/internal/lazyre"
	"github.com/modelreg/modelreg/shared/registry"
)

// Mapping is the registry role and groups an IAM role (or user) maps to:
// one value of MODELREG_IAM_ROLES.
type Mapping struct {
	Role   string   `json:"role"`
	Groups []string `json:"groups,omitempty"`
}

// IAM is the Authenticator of the api function: the caller is the IAM
// principal API Gateway's IAM authorizer verified. Its name is the IAM ARN,
// except that an assumed role's session is named by the role and the
// session name ("assumed-role/Approvers/alice"), so two people on one SSO
// role stay two people for four-eyes approval and history. Its role and
// groups come from the mapping of its IAM role (or IAM user).
type IAM struct {
	byKey map[string]registry.Principal // principalKey → role and groups
}

var (
	iamRoleARN = lazyre.New(`^arn:(aws[a-z-]*):iam::([0-9]{12}):role/(?:[A-Za-z0-9+=,.@_-]+/)*([A-Za-z0-9+=,.@_-]+)$`)
	iamUserARN = lazyre.New(`^arn:(aws[a-z-]*):iam::([0-9]{12}):user/(?:[A-Za-z0-9+=,.@_-]+/)*([A-Za-z0-9+=,.@_-]+)$`)
	stsRoleARN = lazyre.New(`^arn:(aws[a-z-]*):sts::([0-9]{12}):assumed-role/([A-Za-z0-9+=,.@_-]+)/([A-Za-z0-9+=,.@_-]+)$`)
)

// NewIAM returns the authenticator for the mapping in MODELREG_IAM_ROLES's
// form: a JSON object from IAM role ARN (or IAM user ARN) to {"role":
// "reader|publisher|approver|admin", "groups": [...]}. An empty string maps
// nobody. A malformed mapping is an Invalid error naming the entry.
func NewIAM(rolesJSON string) (*IAM, error) {
	a := &IAM{byKey: map[string]registry.Principal{}}
	if strings.TrimSpace(rolesJSON) == "" {
		return a, nil
	}
	var m map[string]Mapping
	dec := json.NewDecoder(bytes.NewReader([]byte(rolesJSON)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, registry.Errorf(registry.Invalid, "MODELREG_IAM_ROLES: %v", err)
	}
	for arn, mp := range m {
		var key string
		if p := iamRoleARN.FindStringSubmatch(arn); p != nil {
			key = "role:" + p[1] + ":" + p[2] + ":" + p[3]
		} else if p := iamUserARN.FindStringSubmatch(arn); p != nil {
			key = "user:" + arn
		} else {
			return nil, registry.Errorf(registry.Invalid, "MODELREG_IAM_ROLES: %q is not an IAM role or user ARN", arn)
		}
		role, err := registry.ParseRole(mp.Role)
		if err != nil {
			return nil, registry.Errorf(registry.Invalid, "MODELREG_IAM_ROLES: %s: %v", arn, err)
		}
		for _, g := range mp.Groups {
			if err := registry.ValidateLine("group", g, 128); err != nil {
				return nil, registry.Errorf(registry.Invalid, "MODELREG_IAM_ROLES: %s: %v", arn, err)
			}
		}
		if _, dup := a.byKey[key]; dup {
			return nil, registry.Errorf(registry.Invalid, "MODELREG_IAM_ROLES: two entries for the role named in %s", arn)
		}
		a.byKey[key] = registry.Principal{Role: role, Groups: slices.Clone(mp.Groups)}
	}
	return a, nil
}

// Authenticate returns the caller of r from its API Gateway request
// context. Unauthenticated when r carries no IAM identity (a route without
// the IAM authorizer, or a request that did not come through API
// Gateway); Forbidden when the identity is not mapped to a role.
func (a *IAM) Authenticate(r *http.Request) (registry.Principal, error) {
	rc, ok := RequestContext(r.Context())
	if !ok || rc.Authorizer == nil || rc.Authorizer.IAM == nil || rc.Authorizer.IAM.UserARN == "" {
		return registry.Principal{}, registry.Errorf(registry.Unauthenticated, "no IAM identity: sign the request with SigV4 (modelreg --auth sigv4, curl --aws-sigv4)")
	}
	arn := rc.Authorizer.IAM.UserARN
	name, key, err := principalKey(arn)
	if err != nil {
		return registry.Principal{}, err
	}
	p, ok := a.byKey[key]
	if !ok {
		return registry.Principal{}, registry.Errorf(registry.Forbidden,
			"IAM principal %s is not mapped to a registry role: add its role to the stack's roles configuration (MODELREG_IAM_ROLES)", arn)
	}
	p.Name = name
	p.Groups = slices.Clone(p.Groups)
	return p, nil
}

// principalKey returns the principal's name and the key of its mapping.
func principalKey(arn string) (name, key string, err error) {
	if p := stsRoleARN.FindStringSubmatch(arn); p != nil {
		return "assumed-role/" + p[3] + "/" + p[4], "role:" + p[1] + ":" + p[2] + ":" + p[3], nil
	}
	if iamUserARN.MatchString(arn) {
		return arn, "user:" + arn, nil
	}
	if p := iamRoleARN.FindStringSubmatch(arn); p != nil { // rare: a role ARN as caller
		return arn, "role:" + p[1] + ":" + p[2] + ":" + p[3], nil
	}
	return "", "", registry.Errorf(registry.Forbidden, "IAM principal %s is neither an IAM user nor an assumed role", arn)
}
