// Package migrate copies a registry from one pair of backends to another
// (`modelreg copy`): SQLite + files to DynamoDB + S3 to move a laptop
// registry to AWS, and back. It works on the ports only (registry.Store,
// registry.Artifacts), so any two backends work.
//
// What is copied: models (with their policy), versions (tombstones too),
// aliases, approvals, deploy targets, deployments, the audit trail, and the
// files of READY versions, each streamed part by part from a source
// download URL to a target upload URL and verified by the target's
// Complete (size and SHA-256) before the version is written. Not copied:
// upload sessions in progress (a version waiting for files arrives
// PENDING_UPLOAD without a session: upload them again), workflow
// executions, the outbox (its events were delivered by the source) and
// idempotency records.
//
// Resumable and idempotent: each record is written only when the target
// lacks it or holds another value (then as an update of the target's
// revision), audit entries are appended by id (one already there is
// skipped), and a READY version's record is written only after its files
// are verified in the target, so a copy cut off anywhere is finished by
// running it again, and a repeated run writes nothing. Copied records
// start their revisions afresh in the target.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"time"

	"github.com/modelreg/modelreg/shared/registry"
)

// Side is one registry's backends.
type Side struct {
	Store     registry.Store
	Artifacts registry.Artifacts
}

// Stats counts what a copy wrote and what it found already there.
type Stats struct {
	Written, Unchanged map[string]int
	Files, FilesThere  int
	Bytes              int64
}

func (s *Stats) count(kind string, written bool) {
	if written {
		s.Written[kind]++
	} else {
		s.Unchanged[kind]++
	}
}

// Copier copies From into To.
type Copier struct {
	From, To Side
	// HTTP sends the part requests (default http.DefaultClient).
	HTTP *http.Client
	// Progress, if set, is told about each file copied.
	Progress func(model string, version int, path string, size int64)
	// Now stamps the target's upload sessions (default time.Now).
	Now func() time.Time
}

const page = 100

// Run copies everything. It returns what it did; an error leaves what was
// copied so far in place for the next run.
func (c *Copier) Run(ctx context.Context) (Stats, error) {
	st := Stats{Written: map[string]int{}, Unchanged: map[string]int{}}
	if c.HTTP == nil {
		c.HTTP = http.DefaultClient
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	q := registry.ModelQuery{Limit: page}
	for {
		models, err := c.From.Store.ListModels(ctx, q)
		if err != nil {
			return st, fmt.Errorf("list models: %w", err)
		}
		for _, m := range models.Items {
			if err := c.model(ctx, &st, m); err != nil {
				return st, fmt.Errorf("model %s: %w", m.Name, err)
			}
		}
		if models.Next == "" {
			break
		}
		q.Cursor = models.Next
	}
	return st, nil
}

func (c *Copier) model(ctx context.Context, st *Stats, m registry.Model) error {
	w, err := put(ctx, c.To.Store, m, func() (registry.Model, error) { return c.To.Store.GetModel(ctx, m.Name) },
		func(x *registry.Model) *int64 { return &x.Revision }, func(x registry.Model) *registry.Change { return &registry.Change{Models: []registry.Model{x}} })
	if err != nil {
		return err
	}
	st.count("models", w)

	vq := registry.VersionQuery{Model: m.Name, IncludeDeleted: true, Limit: page}
	for {
		vs, err := c.From.Store.ListVersions(ctx, vq)
		if err != nil {
			return fmt.Errorf("list versions: %w", err)
		}
		for _, v := range vs.Items {
			if err := c.version(ctx, st, v); err != nil {
				return fmt.Errorf("version %d: %w", v.Number, err)
			}
		}
		if vs.Next == "" {
			break
		}
		vq.Cursor = vs.Next
	}

	aliases, err := c.From.Store.ListAliases(ctx, m.Name)
	if err != nil {
		return fmt.Errorf("list aliases: %w", err)
	}
	for _, a := range aliases {
		w, err := put(ctx, c.To.Store, a, func() (registry.Alias, error) { return c.To.Store.GetAlias(ctx, a.Model, a.Name) },
			func(x *registry.Alias) *int64 { return &x.Revision }, func(x registry.Alias) *registry.Change { return &registry.Change{Aliases: []registry.Alias{x}} })
		if err != nil {
			return fmt.Errorf("alias %s: %w", a.Name, err)
		}
		st.count("aliases", w)
	}

	aq := registry.ApprovalQuery{Model: m.Name, Limit: page}
	for {
		aps, err := c.From.Store.ListApprovals(ctx, aq)
		if err != nil {
			return fmt.Errorf("list approvals: %w", err)
		}
		for _, a := range aps.Items {
			w, err := put(ctx, c.To.Store, a, func() (registry.Approval, error) { return c.To.Store.GetApproval(ctx, a.ID) },
				func(x *registry.Approval) *int64 { return &x.Revision }, func(x registry.Approval) *registry.Change { return &registry.Change{Approvals: []registry.Approval{x}} })
			if err != nil {
				return fmt.Errorf("approval %s: %w", a.ID, err)
			}
			st.count("approvals", w)
		}
		if aps.Next == "" {
			break
		}
		aq.Cursor = aps.Next
	}

	targets, err := c.From.Store.ListDeployTargets(ctx, m.Name)
	if err != nil {
		return fmt.Errorf("list deploy targets: %w", err)
	}
	for _, d := range targets {
		w, err := put(ctx, c.To.Store, d, func() (registry.DeployTarget, error) { return c.To.Store.GetDeployTarget(ctx, d.Model, d.ID) },
			func(x *registry.DeployTarget) *int64 { return &x.Revision }, func(x registry.DeployTarget) *registry.Change {
				return &registry.Change{DeployTargets: []registry.DeployTarget{x}}
			})
		if err != nil {
			return fmt.Errorf("deploy target %s: %w", d.ID, err)
		}
		st.count("deploy targets", w)
	}
	dq := registry.DeploymentQuery{Model: m.Name, Limit: page}
	for {
		ds, err := c.From.Store.ListDeployments(ctx, dq)
		if err != nil {
			return fmt.Errorf("list deployments: %w", err)
		}
		for _, d := range ds.Items {
			w, err := put(ctx, c.To.Store, d, func() (registry.Deployment, error) { return c.To.Store.GetDeployment(ctx, d.Model, d.ID) },
				func(x *registry.Deployment) *int64 { return &x.Revision }, func(x registry.Deployment) *registry.Change {
					return &registry.Change{Deployments: []registry.Deployment{x}}
				})
			if err != nil {
				return fmt.Errorf("deployment %s: %w", d.ID, err)
			}
			st.count("deployments", w)
		}
		if ds.Next == "" {
			break
		}
		dq.Cursor = ds.Next
	}
	return c.audit(ctx, st, m.Name)
}

// audit appends the model's audit entries the target lacks (an entry is
// identified by its id).
func (c *Copier) audit(ctx context.Context, st *Stats, model string) error {
	q := registry.AuditQuery{Model: model, Limit: page}
	for {
		p, err := c.From.Store.ListAudit(ctx, q)
		if err != nil {
			return fmt.Errorf("list audit: %w", err)
		}
		for _, a := range p.Items {
			err := c.To.Store.Commit(ctx, &registry.Change{Audit: []registry.AuditEntry{a}})
			switch {
			case err == nil:
				st.count("audit entries", true)
			case errors.Is(err, registry.ErrStale):
				st.count("audit entries", false)
			default:
				return fmt.Errorf("audit entry %s: %w", a.ID, err)
			}
		}
		if p.Next == "" {
			return nil
		}
		q.Cursor = p.Next
	}
}

// version copies v: a READY version's files first (verified by the
// target), then its record. A version waiting for files, or being
// verified, arrives waiting for them, without an upload session.
func (c *Copier) version(ctx context.Context, st *Stats, v registry.Version) error {
	switch v.Status {
	case registry.StatusReady:
		for _, a := range v.Artifacts {
			if err := c.file(ctx, st, v, a); err != nil {
				return fmt.Errorf("file %s: %w", a.Path, err)
			}
		}
	case registry.StatusPendingUpload, registry.StatusVerifying:
		v.Status, v.UploadID, v.Artifacts = registry.StatusPendingUpload, "", nil
	}
	w, err := put(ctx, c.To.Store, v, func() (registry.Version, error) { return c.To.Store.GetVersion(ctx, v.Model, v.Number) },
		func(x *registry.Version) *int64 { return &x.Revision }, func(x registry.Version) *registry.Change { return &registry.Change{Versions: []registry.Version{x}} })
	st.count("versions", w)
	return err
}

// file streams artifact a of v from the source to the target unless the
// target holds it already; the target's Complete verifies size and
// SHA-256.
func (c *Copier) file(ctx context.Context, st *Stats, v registry.Version, a registry.Artifact) error {
	now := c.Now().UTC()
	// The target keeps the source's layout: a renamed model's versions keep
	// their files under the name they were written with (StorageName).
	sess := registry.UploadSession{ID: registry.NewID(now), Model: v.Storage(), Version: v.Number, Status: registry.UploadOpen,
		CreatedBy: "modelreg-copy", CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour), Revision: 1}
	ps := registry.PartSize(a.Size)
	if a.Size <= ps {
		ps = max(a.Size, 1)
	}
	f := registry.UploadFile{Path: a.Path, Size: a.Size, SHA256: a.SHA256, PartSize: ps, Parts: registry.PartCount(a.Size, ps)}
	sess.Files = []registry.UploadFile{f}
	// Is it there already? Complete of a file with nothing sent answers
	// nil when the verified file is stored at its path.
	if err := c.To.Artifacts.Complete(ctx, sess, f); err == nil {
		st.FilesThere++
		return nil
	} else if !registry.IsCode(err, registry.Invalid) {
		return err
	}
	f, err := c.To.Artifacts.Begin(ctx, sess, f)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	sess.Files[0] = f
	ok := false
	defer func() {
		if !ok {
			_ = c.To.Artifacts.Abort(context.WithoutCancel(ctx), sess, f)
		}
	}()
	src, err := c.From.Artifacts.PresignDownload(ctx, v.Storage(), v.Number, a.Path, now.Add(time.Hour))
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	for n := 1; n <= f.Parts; n++ {
		pr, err := c.To.Artifacts.PresignPart(ctx, sess, f, n, sess.ExpiresAt)
		if err != nil {
			return fmt.Errorf("presign part %d: %w", n, err)
		}
		if err := c.part(ctx, src, pr); err != nil {
			return fmt.Errorf("part %d: %w", n, err)
		}
	}
	if err := c.To.Artifacts.Complete(ctx, sess, f); err != nil {
		return fmt.Errorf("verify in the target: %w", err)
	}
	ok = true
	st.Files++
	st.Bytes += a.Size
	if c.Progress != nil {
		c.Progress(v.Model, v.Number, a.Path, a.Size)
	}
	return nil
}

// part streams bytes Offset..Offset+Size of the source file into the
// target part request pr.
func (c *Copier) part(ctx context.Context, src string, pr registry.PartRequest) error {
	get, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return err
	}
	if pr.Size > 0 {
		get.Header.Set("Range", "bytes="+strconv.FormatInt(pr.Offset, 10)+"-"+strconv.FormatInt(pr.Offset+pr.Size-1, 10))
	}
	resp, err := c.HTTP.Do(get)
	if err != nil {
		return fmt.Errorf("read source: %w", err)
	}
	defer resp.Body.Close()
	if pr.Size > 0 && resp.StatusCode != http.StatusPartialContent && !(resp.StatusCode == http.StatusOK && pr.Offset == 0 && resp.ContentLength == pr.Size) {
		return fmt.Errorf("read source: %s", resp.Status)
	}
	put, err := http.NewRequestWithContext(ctx, pr.Method, pr.URL, io.LimitReader(resp.Body, pr.Size))
	if err != nil {
		return err
	}
	put.ContentLength = pr.Size
	if pr.Size == 0 {
		put.Body = http.NoBody
	}
	for k, v := range pr.Headers {
		put.Header.Set(k, v)
	}
	out, err := c.HTTP.Do(put)
	if err != nil {
		return fmt.Errorf("write target: %w", err)
	}
	defer out.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(out.Body, 1<<10))
	if out.StatusCode/100 != 2 {
		return fmt.Errorf("write target: %s %s", out.Status, msg)
	}
	return nil
}

// put writes rec to dst unless dst holds it already (compared without the
// revision): created with revision 1, or as the next revision of the
// target's record. It reports whether it wrote.
func put[T any](ctx context.Context, dst registry.Store, rec T, get func() (T, error), rev func(*T) *int64, change func(T) *registry.Change) (bool, error) {
	cur, err := get()
	switch {
	case registry.IsCode(err, registry.NotFound):
		*rev(&rec) = 1
	case err != nil:
		return false, err
	default:
		r := *rev(&cur)
		*rev(&cur) = 0
		*rev(&rec) = 0
		if reflect.DeepEqual(cur, rec) {
			return false, nil
		}
		*rev(&rec) = r + 1
	}
	if err := dst.Commit(ctx, change(rec)); err != nil {
		return false, err
	}
	return true, nil
}
