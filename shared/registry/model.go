package registry

import "time"

// Model is a registered model: a named series of versions.
type Model struct {
	Name        string
	Description string
	Owner       string
	Tags        map[string]string
	// LatestVersion is the highest version number ever assigned (0: none).
	// Numbers are never reused.
	LatestVersion int
	// ProductionVersion is the version currently in Production (0: none).
	// Keeping it on the model makes "at most one Production version" a
	// single conditional write.
	ProductionVersion int
	// Policy is the model's promotion policy (the zero Policy: manual,
	// one approval, no checks). See Service.GetPolicy and SetPolicy.
	Policy    Policy
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
	// Revision counts writes of this record: 1 after creation. A Change
	// carries the new revision; the store writes only if the stored one is
	// Revision-1 (see Change).
	Revision int64
}

// Alias is a named pointer to a version of a model (MLflow style: champion,
// challenger).
type Alias struct {
	Model     string
	Name      string
	Version   int
	UpdatedBy string
	UpdatedAt time.Time
	Revision  int64
}
