package mlflow

import (
	"context"
	"errors"

	"github.com/modelreg/modelreg/shared/registry"
)

type modelResponse struct {
	RegisteredModel wireModel `json:"registered_model"`
}

type versionResponse struct {
	ModelVersion wireVersion `json:"model_version"`
}

type empty struct{}

func (h *handler) createModel(ctx context.Context, in *input) (any, error) {
	name, err := in.required("name")
	if err != nil {
		return nil, err
	}
	desc, err := in.str("description")
	if err != nil {
		return nil, err
	}
	tags, err := in.tags("tags")
	if err != nil {
		return nil, err
	}
	m, err := h.svc.CreateModel(ctx, registry.NewModel{Name: name, Description: desc, Tags: tags})
	if registry.IsCode(err, registry.Conflict) {
		return nil, alreadyExists("Registered Model (name=%s) already exists.", name)
	}
	if err != nil {
		return nil, err
	}
	return modelResponse{toModel(m, nil, nil)}, nil
}

// modelOut converts a model with its latest version in each stage and its
// aliases.
func (h *handler) modelOut(ctx context.Context, m registry.Model) (wireModel, error) {
	latest, err := h.latest(ctx, m.Name, nil)
	if err != nil {
		return wireModel{}, err
	}
	als, err := h.svc.ListAliases(ctx, m.Name)
	if err != nil {
		return wireModel{}, err
	}
	return toModel(m, latest, als), nil
}

func (h *handler) getModel(ctx context.Context, in *input) (any, error) {
	name, err := in.required("name")
	if err != nil {
		return nil, err
	}
	m, err := h.svc.GetModel(ctx, name)
	if err != nil {
		return nil, err
	}
	w, err := h.modelOut(ctx, m)
	if err != nil {
		return nil, err
	}
	return modelResponse{w}, nil
}

func (h *handler) updateModel(ctx context.Context, in *input) (any, error) {
	name, err := in.required("name")
	if err != nil {
		return nil, err
	}
	var patch registry.ModelPatch
	if in.has("description") {
		d, err := in.str("description")
		if err != nil {
			return nil, err
		}
		patch.Description = &d
	}
	m, err := h.svc.UpdateModel(ctx, name, patch)
	if err != nil {
		return nil, err
	}
	return modelResponse{toModel(m, nil, nil)}, nil
}

func (h *handler) deleteModel(ctx context.Context, in *input) (any, error) {
	name, err := in.required("name")
	if err != nil {
		return nil, err
	}
	return empty{}, h.svc.DeleteModel(ctx, name, "deleted through the MLflow API")
}

// latest returns the newest version in each of stages (all stages when
// none are given), in the order None, Staging, Production, Archived.
func (h *handler) latest(ctx context.Context, name string, stages []string) ([]registry.Version, error) {
	want := []registry.Stage{registry.StageNone, registry.StageStaging, registry.StageProduction, registry.StageArchived}
	if len(stages) > 0 {
		want = nil
		for _, s := range stages {
			st, err := registry.ParseStage(s)
			if err != nil {
				return nil, err
			}
			want = append(want, st)
		}
	}
	var out []registry.Version
	for _, st := range want {
		v, err := h.svc.StageVersion(ctx, name, st, nil)
		if registry.IsCode(err, registry.NotFound) {
			if _, merr := h.svc.GetModel(ctx, name); merr != nil {
				return nil, merr
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (h *handler) latestVersions(ctx context.Context, in *input) (any, error) {
	name, err := in.required("name")
	if err != nil {
		return nil, err
	}
	stages, err := in.strs("stages")
	if err != nil {
		return nil, err
	}
	vs, err := h.latest(ctx, name, stages)
	if err != nil {
		return nil, err
	}
	out := struct {
		ModelVersions []wireVersion `json:"model_versions"`
	}{ModelVersions: []wireVersion{}}
	for _, v := range vs {
		w, err := h.versionOut(ctx, v)
		if err != nil {
			return nil, err
		}
		out.ModelVersions = append(out.ModelVersions, w)
	}
	return out, nil
}

func (h *handler) setModelTag(ctx context.Context, in *input) (any, error) {
	name, key, err := in.required2("name", "key")
	if err != nil {
		return nil, err
	}
	value, err := in.str("value")
	if err != nil {
		return nil, err
	}
	_, err = h.svc.SetModelTag(ctx, name, key, value)
	return empty{}, err
}

func (h *handler) deleteModelTag(ctx context.Context, in *input) (any, error) {
	name, key, err := in.required2("name", "key")
	if err != nil {
		return nil, err
	}
	_, err = h.svc.DeleteModelTag(ctx, name, key)
	return empty{}, err
}

func (h *handler) setAlias(ctx context.Context, in *input) (any, error) {
	name, alias, err := in.required2("name", "alias")
	if err != nil {
		return nil, err
	}
	n, err := in.version()
	if err != nil {
		return nil, err
	}
	_, err = h.svc.SetAlias(ctx, name, alias, n)
	if registry.IsCode(err, registry.Conflict) {
		// MLflow sets an alias that already points at the version again
		// without complaint.
		if al, gerr := h.svc.GetAlias(ctx, name, alias); gerr == nil && al.Version == n {
			return empty{}, nil
		}
	}
	return empty{}, err
}

func (h *handler) deleteAlias(ctx context.Context, in *input) (any, error) {
	name, alias, err := in.required2("name", "alias")
	if err != nil {
		return nil, err
	}
	return empty{}, h.svc.DeleteAlias(ctx, name, alias)
}

func (h *handler) getByAlias(ctx context.Context, in *input) (any, error) {
	name, alias, err := in.required2("name", "alias")
	if err != nil {
		return nil, err
	}
	al, err := h.svc.GetAlias(ctx, name, alias)
	if err != nil {
		return nil, err
	}
	v, err := h.svc.GetVersion(ctx, name, al.Version)
	if err != nil {
		return nil, err
	}
	return h.versionReply(ctx, v)
}

// renameModel renames a model (see registry.RenameModel) and returns it
// under its new name. A taken name is RESOURCE_ALREADY_EXISTS.
func (h *handler) renameModel(ctx context.Context, in *input) (any, error) {
	name, err := in.required("name")
	if err != nil {
		return nil, err
	}
	newName, err := in.required("new_name")
	if err != nil {
		return nil, err
	}
	m, err := h.svc.RenameModel(ctx, name, newName, "renamed through the MLflow API")
	if errors.Is(err, registry.ErrNameTaken) {
		return nil, alreadyExists("%s", registry.ErrorMessage(err))
	}
	if err != nil {
		return nil, err
	}
	w, err := h.modelOut(ctx, m)
	if err != nil {
		return nil, err
	}
	return modelResponse{w}, nil
}
