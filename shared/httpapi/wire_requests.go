package httpapi

import "github.com/modelreg/modelreg/shared/registry"

// Request bodies of /v1 that have no handler-specific type elsewhere
// (RegisterRequest, PushMetricsRequest, UploadRequest, TransitionRequest
// and SetAliasRequest sit next to their handlers). Each converts to the
// service's input; an absent field decodes as the zero value, as before.

// NewModel is the body of POST /v1/models.
type NewModel struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Owner       string            `json:"owner"`
	Tags        map[string]string `json:"tags"`
}

func (m NewModel) domain() registry.NewModel {
	return registry.NewModel{Name: m.Name, Description: m.Description, Owner: m.Owner, Tags: m.Tags}
}

// ModelPatch is the body of PATCH /v1/models/{name}: absent (or null)
// fields are left alone; tags, when given, replace all tags.
type ModelPatch struct {
	Description *string            `json:"description"`
	Owner       *string            `json:"owner"`
	Tags        *map[string]string `json:"tags"`
}

func (p ModelPatch) domain() registry.ModelPatch {
	return registry.ModelPatch{Description: p.Description, Owner: p.Owner, Tags: p.Tags}
}

// VersionPatch is the body of PATCH …/versions/{version}: a description
// or tags; absent fields are left alone.
type VersionPatch struct {
	Description *string            `json:"description"`
	Tags        *map[string]string `json:"tags"`
}

func (p VersionPatch) domain() registry.VersionPatch {
	return registry.VersionPatch{Description: p.Description, Tags: p.Tags}
}
