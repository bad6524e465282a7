package registry

import "time"

// Model is a registered model: a named series of versions.
type Model struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Owner       string            `json:"owner,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	// LatestVersion is the highest version number ever assigned (0: none).
	// Numbers are never reused.
	LatestVersion int `json:"latest_version"`
	// ProductionVersion is the version currently in Production (0: none).
	// Keeping it on the model makes "at most one Production version" a
	// single conditional write.
	ProductionVersion int       `json:"production_version,omitempty"`
	CreatedBy         string    `json:"created_by,omitempty"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	// Revision counts writes of this record: 1 after creation. A Change
	// carries the new revision; the store writes only if the stored one is
	// Revision-1 (see Change).
	Revision int64 `json:"revision"`
}

// Alias is a named pointer to a version of a model (MLflow style: champion,
// challenger).
type Alias struct {
	Model     string    `json:"model"`
	Name      string    `json:"alias"`
	Version   int       `json:"version"`
	UpdatedBy string    `json:"updated_by,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	Revision  int64     `json:"revision"`
}
