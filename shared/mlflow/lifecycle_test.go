package mlflow

import (
	"fmt"
	"net/url"
	"sort"
	"sync"
	"testing"
)

// runIDs searches experiment exp's runs in view, following pages of size
// page, and returns their ids sorted.
func (e *env) runIDs(exp, view string, page int) []string {
	e.t.Helper()
	var ids []string
	token := ""
	for {
		body := map[string]any{"experiment_ids": []string{exp}, "max_results": page, "page_token": token}
		if view != "" {
			body["run_view_type"] = view
		}
		doc := e.must("rita", "POST", "runs/search", body)
		runs, _ := doc["runs"].([]any)
		if next, _ := doc["next_page_token"].(string); next != "" && len(runs) != page {
			e.t.Fatalf("a page of %d runs before the last one, want %d", len(runs), page)
		}
		for _, r := range runs {
			ids = append(ids, r.(map[string]any)["info"].(map[string]any)["run_id"].(string))
		}
		token, _ = doc["next_page_token"].(string)
		if token == "" {
			sort.Strings(ids)
			return ids
		}
	}
}

func (e *env) runStage(id string) string {
	e.t.Helper()
	doc := e.must("rita", "GET", "runs/get", url.Values{"run_id": {id}})
	return doc["run"].(map[string]any)["info"].(map[string]any)["lifecycle_stage"].(string)
}

func (e *env) expStage(id string) string {
	e.t.Helper()
	doc := e.must("rita", "GET", "experiments/get", url.Values{"experiment_id": {id}})
	return doc["experiment"].(map[string]any)["lifecycle_stage"].(string)
}

func sorted2(a ...string) []string { sort.Strings(a); return a }

func TestRunAndExperimentLifecycle(t *testing.T) {
	e := newTrackingEnv(t)
	exp := e.must("paul", "POST", "experiments/create", map[string]any{"name": "life"})["experiment_id"].(string)
	var runs []string
	for i := range 5 {
		r := e.must("paul", "POST", "runs/create", map[string]any{"experiment_id": exp, "start_time": 1700000000000 + i})
		runs = append(runs, r["run"].(map[string]any)["info"].(map[string]any)["run_id"].(string))
	}
	all := sorted2(runs...)

	// Runs: delete, idempotently; logging refused; search by view type,
	// with full pages across deleted runs; restore.
	e.wantError(403, "PERMISSION_DENIED", "rita", "POST", "runs/delete", map[string]any{"run_id": runs[1]})
	e.wantError(404, "RESOURCE_DOES_NOT_EXIST", "paul", "POST", "runs/delete", map[string]any{"run_id": "nope"})
	e.wantError(400, "INVALID_PARAMETER_VALUE", "paul", "POST", "runs/delete", map[string]any{})
	for range 2 {
		e.must("paul", "POST", "runs/delete", map[string]any{"run_id": runs[1]})
		e.must("paul", "POST", "runs/delete", map[string]any{"run_id": runs[3]})
	}
	if s := e.runStage(runs[1]); s != "deleted" {
		t.Fatalf("deleted run's stage: %s", s)
	}
	doc := e.wantError(400, "INVALID_PARAMETER_VALUE", "paul", "POST", "runs/log-parameter", map[string]any{"run_id": runs[1], "key": "k", "value": "v"})
	if want := fmt.Sprintf("The run %s must be in the 'active' state. Current state is deleted.", runs[1]); doc["message"] != want {
		t.Fatalf("message %q, want %q", doc["message"], want)
	}
	for _, p := range []string{"runs/set-tag", "runs/log-metric"} {
		e.wantError(400, "INVALID_PARAMETER_VALUE", "paul", "POST", p, map[string]any{"run_id": runs[1], "key": "k", "value": "1"})
	}
	e.wantError(400, "INVALID_PARAMETER_VALUE", "paul", "POST", "runs/update", map[string]any{"run_id": runs[1], "status": "FINISHED"})
	active := sorted2(runs[0], runs[2], runs[4])
	for _, page := range []int{1, 2, 1000} {
		if got := e.runIDs(exp, "", page); fmt.Sprint(got) != fmt.Sprint(active) {
			t.Fatalf("page %d default view: %v, want %v", page, got, active)
		}
		if got := e.runIDs(exp, "ACTIVE_ONLY", page); fmt.Sprint(got) != fmt.Sprint(active) {
			t.Fatalf("page %d ACTIVE_ONLY: %v", page, got)
		}
		if got := e.runIDs(exp, "DELETED_ONLY", page); fmt.Sprint(got) != fmt.Sprint(sorted2(runs[1], runs[3])) {
			t.Fatalf("page %d DELETED_ONLY: %v", page, got)
		}
		if got := e.runIDs(exp, "ALL", page); fmt.Sprint(got) != fmt.Sprint(all) {
			t.Fatalf("page %d ALL: %v", page, got)
		}
	}
	e.wantError(400, "INVALID_PARAMETER_VALUE", "rita", "POST", "runs/search", map[string]any{"experiment_ids": []string{exp}, "run_view_type": "SOME"})
	e.must("paul", "POST", "runs/restore", map[string]any{"run_id": runs[3]})
	e.must("paul", "POST", "runs/restore", map[string]any{"run_id": runs[3]})
	e.must("paul", "POST", "runs/log-parameter", map[string]any{"run_id": runs[3], "key": "k", "value": "v"})
	if got := e.runIDs(exp, "DELETED_ONLY", 10); fmt.Sprint(got) != fmt.Sprint([]string{runs[1]}) {
		t.Fatalf("after restore, DELETED_ONLY: %v", got)
	}

	// Experiments: the default one cannot be deleted; deleting one deletes
	// its runs, restoring restores them all (as MLflow's SQL store).
	doc = e.wantError(400, "INVALID_PARAMETER_VALUE", "paul", "POST", "experiments/delete", map[string]any{"experiment_id": "0"})
	if doc["message"] != "Cannot delete the default experiment '0'. This is an internally reserved experiment." {
		t.Fatalf("default: %v", doc)
	}
	e.wantError(404, "RESOURCE_DOES_NOT_EXIST", "paul", "POST", "experiments/delete", map[string]any{"experiment_id": "999"})
	e.wantError(404, "RESOURCE_DOES_NOT_EXIST", "paul", "POST", "experiments/restore", map[string]any{"experiment_id": exp})
	e.wantError(403, "PERMISSION_DENIED", "rita", "POST", "experiments/delete", map[string]any{"experiment_id": exp})
	e.must("paul", "POST", "experiments/delete", map[string]any{"experiment_id": exp})
	e.wantError(404, "RESOURCE_DOES_NOT_EXIST", "paul", "POST", "experiments/delete", map[string]any{"experiment_id": exp})
	if s := e.expStage(exp); s != "deleted" {
		t.Fatalf("experiment stage %s", s)
	}
	if got := e.runIDs(exp, "", 2); len(got) != 0 {
		t.Fatalf("active runs of a deleted experiment: %v", got)
	}
	if got := e.runIDs(exp, "DELETED_ONLY", 2); fmt.Sprint(got) != fmt.Sprint(all) {
		t.Fatalf("deleted runs of a deleted experiment: %v", got)
	}
	e.wantError(400, "INVALID_PARAMETER_VALUE", "paul", "POST", "runs/create", map[string]any{"experiment_id": exp})
	e.wantError(400, "INVALID_PARAMETER_VALUE", "paul", "POST", "experiments/set-experiment-tag", map[string]any{"experiment_id": exp, "key": "k", "value": "v"})
	// Its name stays taken, as in MLflow; get-by-name still finds it.
	e.wantError(400, "RESOURCE_ALREADY_EXISTS", "paul", "POST", "experiments/create", map[string]any{"name": "life"})
	byName := e.must("rita", "GET", "experiments/get-by-name", url.Values{"experiment_name": {"life"}})
	if byName["experiment"].(map[string]any)["lifecycle_stage"] != "deleted" {
		t.Fatalf("by name: %v", byName)
	}
	expIDs := func(view string, filter string) []string {
		body := map[string]any{"max_results": 1}
		if view != "" {
			body["view_type"] = view
		}
		if filter != "" {
			body["filter"] = filter
		}
		var ids []string
		for {
			doc := e.must("rita", "POST", "experiments/search", body)
			for _, x := range doc["experiments"].([]any) {
				ids = append(ids, x.(map[string]any)["experiment_id"].(string))
			}
			next, _ := doc["next_page_token"].(string)
			if next == "" {
				return ids
			}
			body["page_token"] = next
		}
	}
	if got := expIDs("", ""); fmt.Sprint(got) != "[0]" {
		t.Fatalf("active experiments: %v", got)
	}
	if got := expIDs("DELETED_ONLY", ""); fmt.Sprint(got) != fmt.Sprint([]string{exp}) {
		t.Fatalf("deleted experiments: %v", got)
	}
	if got := expIDs("3", ""); fmt.Sprint(got) != fmt.Sprint([]string{"0", exp}) {
		t.Fatalf("all experiments (view 3): %v", got)
	}
	if got := expIDs("", "name = 'life'"); len(got) != 0 {
		t.Fatalf("active by name: %v", got)
	}
	if got := expIDs("ALL", "name = 'life'"); fmt.Sprint(got) != fmt.Sprint([]string{exp}) {
		t.Fatalf("all by name: %v", got)
	}
	e.must("paul", "POST", "experiments/restore", map[string]any{"experiment_id": exp})
	if s := e.expStage(exp); s != "active" {
		t.Fatalf("restored experiment: %s", s)
	}
	if got := e.runIDs(exp, "", 2); fmt.Sprint(got) != fmt.Sprint(all) {
		t.Fatalf("runs after the experiment's restore: %v, want all %v", got, all)
	}
}

// Runs created while their experiment is deleted end up deleted: none is
// left active in a deleted experiment.
func TestExperimentDeleteRacesRunCreation(t *testing.T) {
	e := newTrackingEnv(t)
	for round := range 3 {
		exp := e.must("paul", "POST", "experiments/create", map[string]any{"name": fmt.Sprint("race", round)})["experiment_id"].(string)
		for range 3 {
			e.must("paul", "POST", "runs/create", map[string]any{"experiment_id": exp})
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					st, doc := e.call("paul", "POST", "runs/create", map[string]any{"experiment_id": exp})
					if st != 200 && doc["error_code"] != "INVALID_PARAMETER_VALUE" {
						t.Errorf("create during delete: %d %v", st, doc)
					}
				}
			}()
		}
		e.must("paul", "POST", "experiments/delete", map[string]any{"experiment_id": exp})
		wg.Wait()
		if got := e.runIDs(exp, "ACTIVE_ONLY", 100); len(got) != 0 {
			t.Fatalf("round %d: %d active runs left in a deleted experiment", round, len(got))
		}
	}
}
