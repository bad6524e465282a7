package mlflow

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/tracking"
)

// Soft deletion of runs and experiments, as MLflow's tracking server does
// it: lifecycle_stage "deleted", restorable, listed by searches asking for
// DELETED_ONLY or ALL. Nothing is removed (MLflow's `mlflow gc`, which
// removes deleted runs for good, is not offered). Tracking writes are not
// in the registry's audit trail, so neither are these.
//
// Deleting an experiment deletes its runs and restoring it restores them
// all (MLflow's SQL store does the same). The runs are changed first and
// the experiment last, so a cut request is finished by sending it again:
// the experiment is still in its old stage. Deleting also sweeps the runs
// once more after the experiment changed, and createRun re-reads the
// experiment after writing a run, so a run created while its experiment is
// being deleted ends up deleted either way.

const (
	stageActive  = "active"
	stageDeleted = "deleted"
)

// viewTypes are MLflow's ViewType names, by protobuf number too.
var viewTypes = map[string]string{"ACTIVE_ONLY": "ACTIVE_ONLY", "DELETED_ONLY": "DELETED_ONLY", "ALL": "ALL",
	"1": "ACTIVE_ONLY", "2": "DELETED_ONLY", "3": "ALL"}

// viewType reads a view type parameter (ACTIVE_ONLY when absent).
func (in *input) viewType(name string) (string, error) {
	s, err := in.str(name)
	if err != nil || s == "" {
		return "ACTIVE_ONLY", err
	}
	v, ok := viewTypes[strings.ToUpper(s)]
	if !ok {
		return "", invalid("%s %q: use ACTIVE_ONLY, DELETED_ONLY or ALL", name, s)
	}
	return v, nil
}

// shows reports whether a record in lifecycle stage shows in view.
func shows(view, stage string) bool {
	switch view {
	case "ALL":
		return true
	case "DELETED_ONLY":
		return stage == stageDeleted
	}
	return stage != stageDeleted
}

// checkActiveRun refuses changes to a deleted run, with MLflow's message.
func checkActiveRun(r *runRec) error {
	if r.LifecycleStage != stageActive {
		return invalid("The run %s must be in the 'active' state. Current state is %s.", r.ID, r.LifecycleStage)
	}
	return nil
}

// editActiveRun is editRun for the writes MLflow refuses on a deleted run
// (logging, tags, updates).
func (d trackDB) editActiveRun(ctx context.Context, id string, edit func(r *runRec) error) (runRec, error) {
	return d.editRun(ctx, id, func(r *runRec) error {
		if err := checkActiveRun(r); err != nil {
			return err
		}
		return edit(r)
	})
}

func checkActiveExperiment(e experimentRec) error {
	if e.LifecycleStage != stageActive {
		return invalid("The experiment %s must be in the 'active' state. Current state is %s.", e.ID, e.LifecycleStage)
	}
	return nil
}

// setRunStage puts run id in stage (no change if it is there already).
func (d trackDB) setRunStage(ctx context.Context, id, stage string) error {
	_, err := d.editRun(ctx, id, func(r *runRec) error {
		if r.LifecycleStage == stage {
			return errUnchanged
		}
		r.LifecycleStage = stage
		return nil
	})
	if err == errUnchanged {
		return nil
	}
	return err
}

// errUnchanged ends an edit that has nothing to write.
var errUnchanged = errors.New("unchanged")

// setExperimentRunsStage puts every run of experiment expID in stage.
func (d trackDB) setExperimentRunsStage(ctx context.Context, expID, stage string) error {
	cursor := ""
	for {
		p, err := d.st.List(ctx, tracking.KindRun, esc(expID), cursor, 1000)
		if err != nil {
			return err
		}
		for _, x := range p.Items {
			var r runRec
			if err := json.Unmarshal(x.Body, &r); err != nil {
				return err
			}
			if r.LifecycleStage != stage {
				if err := d.setRunStage(ctx, r.ID, stage); err != nil {
					return err
				}
			}
		}
		if p.Next == "" {
			return nil
		}
		cursor = p.Next
	}
}

// setExperimentStage moves experiment id from stage from to stage to:
// its runs, then the experiment, retrying on a concurrent change.
// RESOURCE_DOES_NOT_EXIST when the experiment is not in stage from (as
// MLflow answers for deleting a deleted experiment or restoring an active
// one).
func (d trackDB) setExperimentStage(ctx context.Context, id, from, to string) error {
	e, err := d.experiment(ctx, id)
	if err == nil && e.LifecycleStage != from {
		err = notFound("No Experiment with id=%s exists", id)
	}
	if err != nil {
		return err
	}
	if err := d.setExperimentRunsStage(ctx, id, to); err != nil {
		return err
	}
	for range 20 {
		if e.LifecycleStage != from {
			return notFound("No Experiment with id=%s exists", id) // a concurrent call moved it first
		}
		e.LifecycleStage, e.UpdatedMS = to, time.Now().UnixMilli()
		err := d.putExperiment(ctx, e)
		if err == nil {
			if to == stageDeleted {
				// Runs created while the first sweep ran.
				return d.setExperimentRunsStage(ctx, id, to)
			}
			return nil
		}
		if !registry.IsCode(err, registry.Conflict) {
			return err
		}
		if e, err = d.experiment(ctx, id); err != nil {
			return err
		}
	}
	return registry.Errorf(registry.Unavailable, "experiment %s is being changed concurrently; retry", id)
}

func (h *handler) deleteRun(ctx context.Context, in *input) (any, error) {
	id, err := in.runID()
	if err != nil {
		return nil, err
	}
	return empty{}, h.track.setRunStage(ctx, id, stageDeleted)
}

func (h *handler) restoreRun(ctx context.Context, in *input) (any, error) {
	id, err := in.runID()
	if err != nil {
		return nil, err
	}
	return empty{}, h.track.setRunStage(ctx, id, stageActive)
}

func (h *handler) deleteExperiment(ctx context.Context, in *input) (any, error) {
	id, err := in.required("experiment_id")
	if err != nil {
		return nil, err
	}
	if id == DefaultExperimentID {
		return nil, invalid("Cannot delete the default experiment '%s'. This is an internally reserved experiment.", DefaultExperimentID)
	}
	return empty{}, h.track.setExperimentStage(ctx, id, stageActive, stageDeleted)
}

func (h *handler) restoreExperiment(ctx context.Context, in *input) (any, error) {
	id, err := in.required("experiment_id")
	if err != nil {
		return nil, err
	}
	return empty{}, h.track.setExperimentStage(ctx, id, stageDeleted, stageActive)
}

// listKept pages through the records of kind under parent from token and
// returns up to limit of those keep accepts, with the cursor after the
// last one returned ("" when the listing is done): a page is full unless
// it is the last, as registry.Page promises.
func listKept[T any](ctx context.Context, st tracking.Store, kind, parent, token string, limit int, keep func(T) bool) ([]T, string, error) {
	out := []T{}
	for {
		p, err := st.List(ctx, kind, parent, token, limit-len(out))
		if err != nil {
			return nil, "", err
		}
		for _, x := range p.Items {
			var v T
			if err := json.Unmarshal(x.Body, &v); err != nil {
				return nil, "", err
			}
			if keep(v) {
				out = append(out, v)
			}
		}
		token = p.Next
		if token == "" || len(out) >= limit {
			return out, token, nil
		}
	}
}
