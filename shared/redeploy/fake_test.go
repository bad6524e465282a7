package redeploy

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
	"github.com/modelreg/modelreg/shared/sagemaker"
	"github.com/modelreg/modelreg/shared/webhook"
)

// fakeRegistry is a hand-written Registry: targets, versions and their
// download links are given; deployments and processed marks are kept as
// the real service keeps them (the same status again is a no-op).
type fakeRegistry struct {
	mu          sync.Mutex
	targets     map[string][]registry.DeployTarget
	versions    map[string]map[int]registry.Version
	deployments map[string]registry.Deployment
	history     []registry.Deployment // every recorded change, in order
	processed   map[string]bool
	// failMark makes the next n MarkEventProcessed calls fail (a crash
	// between the outcome and the mark).
	failMark int
	// failRecord makes RecordDeployment of this status fail once.
	failRecord registry.DeploymentStatus
}

func newFakeRegistry() *fakeRegistry {
	return &fakeRegistry{targets: map[string][]registry.DeployTarget{}, versions: map[string]map[int]registry.Version{},
		deployments: map[string]registry.Deployment{}, processed: map[string]bool{}}
}

func (f *fakeRegistry) addVersion(v registry.Version) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.versions[v.Model] == nil {
		f.versions[v.Model] = map[int]registry.Version{}
	}
	f.versions[v.Model][v.Number] = v
}

func (f *fakeRegistry) DeployTargetsOf(_ context.Context, model string) ([]registry.DeployTarget, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.versions[model]; !ok {
		return nil, registry.Errorf(registry.NotFound, "no model %s", model)
	}
	return append([]registry.DeployTarget(nil), f.targets[model]...), nil
}

func (f *fakeRegistry) OpenTargetSecret(_ context.Context, t registry.DeployTarget) ([]byte, error) {
	if t.SealedSecret == "corrupt" {
		return nil, registry.Errorf(registry.Invalid, "sealed secret does not open")
	}
	return []byte("plain:" + t.SealedSecret), nil
}

func (f *fakeRegistry) RecordDeployment(_ context.Context, d registry.Deployment) (registry.Deployment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failRecord != "" && d.Status == f.failRecord {
		f.failRecord = ""
		return registry.Deployment{}, registry.Errorf(registry.Unavailable, "store busy")
	}
	cur, ok := f.deployments[d.ID]
	if ok && cur.Status == d.Status {
		return cur, nil
	}
	d.Revision = cur.Revision + 1
	d.UpdatedAt = time.Now()
	f.deployments[d.ID] = d
	f.history = append(f.history, d)
	return d, nil
}

func (f *fakeRegistry) GetDeployment(_ context.Context, model, id string) (registry.Deployment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.deployments[id]
	if !ok || d.Model != model {
		return registry.Deployment{}, registry.Errorf(registry.NotFound, "no deployment %s", id)
	}
	return d, nil
}

func (f *fakeRegistry) EventProcessed(_ context.Context, consumer, id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.processed[consumer+"|"+id], nil
}

func (f *fakeRegistry) MarkEventProcessed(_ context.Context, consumer, id string, ttl time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ttl <= 0 {
		return registry.Errorf(registry.Invalid, "ttl")
	}
	if f.failMark > 0 {
		f.failMark--
		return registry.Errorf(registry.Unavailable, "store went away")
	}
	f.processed[consumer+"|"+id] = true
	return nil
}

func (f *fakeRegistry) GetVersion(_ context.Context, model string, n int) (registry.Version, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.versions[model][n]
	if !ok {
		return registry.Version{}, registry.Errorf(registry.NotFound, "no version")
	}
	return v, nil
}

func (f *fakeRegistry) Downloads(ctx context.Context, model string, n int, _ string) (registry.DownloadSet, error) {
	v, err := f.GetVersion(ctx, model, n)
	if err != nil {
		return registry.DownloadSet{}, err
	}
	set := registry.DownloadSet{Model: model, Version: n, SourceURI: v.Lineage.SourceURI, ExpiresAt: time.Unix(1700003600, 0)}
	for _, a := range v.Artifacts {
		set.Files = append(set.Files, registry.DownloadLink{Artifact: a, URL: "https://dl.example/" + model + "/" + a.Path + "?sig=x"})
	}
	return set, nil
}

func (f *fakeRegistry) statuses(id string) []registry.DeploymentStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []registry.DeploymentStatus
	for _, d := range f.history {
		if d.ID == id {
			out = append(out, d.Status)
		}
	}
	return out
}

// fakeWebhooks records deliveries and answers with the errors queued.
type fakeWebhooks struct {
	mu   sync.Mutex
	got  []webhook.Delivery
	errs []error
}

func (w *fakeWebhooks) Deliver(_ context.Context, d webhook.Delivery) (webhook.Result, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got = append(w.got, d)
	if len(w.errs) > 0 {
		err := w.errs[0]
		w.errs = w.errs[1:]
		if err != nil {
			return webhook.Result{}, err
		}
	}
	return webhook.Result{Attempts: 1, Status: 200}, nil
}

func (w *fakeWebhooks) to(url string) []webhook.Delivery {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []webhook.Delivery
	for _, d := range w.got {
		if d.URL == url {
			out = append(out, d)
		}
	}
	return out
}

// fakeSageMaker records updates; endpoints holds what Endpoint answers.
type fakeSageMaker struct {
	mu        sync.Mutex
	updates   []sagemaker.Update
	err       error
	endpoints map[string]sagemaker.Status
}

func (s *fakeSageMaker) StartUpdate(_ context.Context, u sagemaker.Update) (sagemaker.Started, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.updates = append(s.updates, u)
	if s.err != nil {
		return sagemaker.Started{}, s.err
	}
	return sagemaker.Started{ModelName: u.ModelName(), EndpointConfigName: u.ConfigName()}, nil
}

func (s *fakeSageMaker) Endpoint(_ context.Context, name string) (sagemaker.Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.endpoints[name]
	if !ok {
		return sagemaker.Status{}, errors.New("no endpoint")
	}
	return st, nil
}

type fakeObjects struct{}

func (fakeObjects) ObjectURI(model string, version int, path string) string {
	return "s3://bucket/" + model + "/" + strconv.Itoa(version) + "/" + path
}
