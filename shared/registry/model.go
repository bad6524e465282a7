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
	// Rename is set while the model takes part in a rename (see
	// RenameModel); nil otherwise.
	Rename *RenameState
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

// RenamePhase says which part a model record plays in a rename.
type RenamePhase string

// Rename phases (see RenameModel).
const (
	// RenameMoving marks the old model while its records are copied to
	// the new name: writes to it are refused.
	RenameMoving RenamePhase = "moving"
	// RenameReserved marks the placeholder that holds the new name until
	// the flip: it reads as not found, and nothing may create that name.
	RenameReserved RenamePhase = "reserved"
	// RenameCleanup marks the renamed model while the old name's copies
	// are removed: the model is usable, the old name cannot be created
	// again until the cleanup is done.
	RenameCleanup RenamePhase = "cleanup"
)

// RenameState is a rename in progress, kept on the model records it
// involves so that an interrupted rename resumes where it stopped.
type RenameState struct {
	Phase  RenamePhase
	From   string // the old name
	To     string // the new name
	By     string // who asked
	Reason string
	At     time.Time // when it was asked
	// Cursor is the position in the old model's versions after the last
	// batch copied (a store cursor; "" before the first).
	Cursor string
	// Copied counts the versions copied so far.
	Copied int
}
