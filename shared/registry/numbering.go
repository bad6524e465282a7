package registry

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Numbering versions under bursts. Every registration of a model writes the
// model's counter (LatestVersion) in the same transaction as its version,
// so registrations of one model are serial by nature; letting every caller
// race for the counter makes all but one fail, re-read and try again, and
// the work grows with the square of the callers. Instead, within one
// process, the registrations of a model queue behind one writer, which
// numbers all that are waiting in one Change (a group commit) and hands the
// model it wrote to the next writer, which then needs no read. Writers of
// different processes (Lambda containers, several servers on one table)
// still race for the counter; the loser re-reads and retries with backoff
// while more registrations queue behind it, so its next Change carries
// more of them.

// maxGroup bounds the registrations one Change numbers. Each writes about
// five records (version, audit entry, one or two events, idempotency
// record) and the model one: about 41 items, well inside DynamoDB's 100
// per transaction even with spilled tags; a Change the store still refuses
// as too large is split in halves. Measured on DynamoDB Local (loaded
// machine), a transaction costs 288ms for one registration, 182ms per
// registration for 4 and 248ms for 16, so larger groups buy nothing there.
const maxGroup = 8

// groupTimeout bounds how long a writer keeps trying for the group it
// took, whatever the callers' deadlines.
const groupTimeout = 2 * time.Minute

// registration is one RegisterVersion call waiting for its number.
type registration struct {
	ctx context.Context
	in  NewVersion // validated, metrics stamped, lineage with Source
	key string     // idempotency key, "" without one

	// Guarded by numberer.mu.
	taken bool          // part of a group being committed
	lead  chan struct{} // closed when this registration becomes the writer
	led   bool          // lead was closed

	done chan struct{} // closed when v and err are set
	v    Version
	err  error
}

// modelQueue is the registrations of one model waiting for the writer. It
// exists while a writer is active for the model.
type modelQueue struct {
	pending []*registration
	// known is the model as the last group wrote it, nil if unknown; the
	// next group starts from it instead of reading it.
	known *Model
}

// numberer serialises and groups the registrations of each model.
type numberer struct {
	mu     sync.Mutex
	queues map[string]*modelQueue
}

// register queues r behind the model's writer, or becomes the writer, and
// returns r's outcome.
func (s *Service) register(model string, r *registration) (Version, error) {
	n := &s.numbers
	r.lead, r.done = make(chan struct{}), make(chan struct{})
	n.mu.Lock()
	if n.queues == nil {
		n.queues = map[string]*modelQueue{}
	}
	q, busy := n.queues[model]
	if !busy {
		q = &modelQueue{}
		n.queues[model] = q
		r.led = true
		close(r.lead)
	}
	q.pending = append(q.pending, r)
	n.mu.Unlock()

	select {
	case <-r.done:
	case <-r.lead:
		s.writeGroup(model, q)
	case <-r.ctx.Done():
		n.mu.Lock()
		if r.taken {
			// Its Change is being committed: the outcome is not ours to
			// guess, so wait for it (bounded by groupTimeout).
			n.mu.Unlock()
			<-r.done
			break
		}
		led := r.led
		if i := indexOf(q.pending, r); i >= 0 {
			q.pending = append(q.pending[:i], q.pending[i+1:]...)
		}
		if led {
			s.handOff(model, q)
		}
		n.mu.Unlock()
		return Version{}, Wrap(Unavailable, r.ctx.Err(), "request cancelled before version %s was numbered", model)
	}
	return r.v, r.err
}

// writeGroup is run by the model's writer: it takes the registrations
// waiting (itself first), commits them, tells each its outcome and passes
// the writer's role on.
func (s *Service) writeGroup(model string, q *modelQueue) {
	n := &s.numbers
	n.mu.Lock()
	group, seen := []*registration{}, map[string]bool{}
	rest := q.pending[:0]
	for _, r := range q.pending {
		// Two requests with one idempotency key never share a Change: the
		// second waits and then replays the first's response. The writer is
		// first and always taken (a cancelled caller that is not taken yet
		// removes itself).
		if len(group) < maxGroup && (r.key == "" || !seen[r.key]) {
			r.taken = true
			group = append(group, r)
			if r.key != "" {
				seen[r.key] = true
			}
			continue
		}
		rest = append(rest, r)
	}
	q.pending = rest
	known := q.known
	n.mu.Unlock()

	// The group outlives any one caller: a writer whose client went away
	// still commits the others' registrations.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(group[0].ctx), groupTimeout)
	known = s.commitGroup(ctx, model, group, known)
	cancel()
	for _, r := range group {
		close(r.done)
	}

	n.mu.Lock()
	q.known = known
	s.handOff(model, q)
	n.mu.Unlock()
}

// handOff makes the oldest waiting registration the model's writer, or
// ends the queue when none waits. n.mu is held.
func (s *Service) handOff(model string, q *modelQueue) {
	if len(q.pending) == 0 {
		delete(s.numbers.queues, model)
		return
	}
	next := q.pending[0]
	next.led = true
	close(next.lead)
}

// commitGroup numbers group from the model's counter and commits it in one
// Change, retrying on concurrent writes, and sets every registration's
// outcome. A Change the store refuses as a whole for one member's sake (too
// large, or an idempotency key already used) is split in halves until each
// registration gets its own answer. It returns the model as written, or
// nil when the last commit failed.
func (s *Service) commitGroup(ctx context.Context, model string, group []*registration, known *Model) *Model {
	// The writer's own idempotency request must not be attached to the
	// whole group: each member's is added below.
	ctx = WithIdempotency(ctx, nil)
	var written Model
	vs, err := update(ctx, s, func() (*Change, []Version, error) {
		var m Model
		if known != nil {
			m, known = *known, nil // trusted once: a retry reads
		} else {
			var err error
			if m, err = s.GetModel(ctx, model); err != nil {
				return nil, nil, err
			}
		}
		ch, vs, err := s.numberGroup(m, group)
		if err == nil {
			written = ch.Models[0]
		}
		return ch, vs, err
	})
	if err == nil {
		for i, r := range group {
			r.v = vs[i]
		}
		return &written
	}
	if len(group) > 1 && (IsCode(err, Invalid) || errors.Is(err, ErrDuplicateRequest)) {
		half := len(group) / 2
		return s.commitGroup(ctx, model, group[half:], s.commitGroup(ctx, model, group[:half], nil))
	}
	for _, r := range group {
		r.err = err
	}
	return nil
}

// numberGroup returns the Change that registers group as the versions
// after m's latest, with each registration's audit entry, events and
// idempotency record.
func (s *Service) numberGroup(m Model, group []*registration) (*Change, []Version, error) {
	now := s.Now()
	ch := &Change{}
	vs := make([]Version, len(group))
	for i, r := range group {
		in := r.in
		v := Version{
			Model: m.Name, Number: m.LatestVersion + 1 + i, Status: StatusPendingUpload, Stage: StageNone,
			Description: in.Description, Metrics: in.Metrics, Params: in.Params, Tags: in.Tags, Lineage: in.Lineage,
			CreatedBy: PrincipalFrom(r.ctx).Name, CreatedAt: now, UpdatedAt: now, StageChangedAt: now, Revision: 1,
		}
		if in.Lineage.SourceURI != "" {
			v.Status = StatusReady
		}
		a := s.audit(r.ctx, now, m.Name, v.Number, ActionVersionRegistered)
		a.Criteria = metricValues(in.Metrics)
		registered := s.event(EventVersionRegistered, a)
		registered.Detail.Status = string(v.Status)
		ch.Events = append(ch.Events, registered)
		if v.Status == StatusReady {
			ch.Events = append(ch.Events, s.event(EventVersionReady, a))
		}
		ch.Versions = append(ch.Versions, v)
		ch.Audit = append(ch.Audit, a)
		if idem := idempotencyFrom(r.ctx); idem != nil {
			rec, err := s.idempotencyRecord(idem, v, now)
			if err != nil {
				return nil, nil, err
			}
			if ch.Idempotency == nil {
				ch.Idempotency = &rec
			} else {
				ch.MoreIdempotency = append(ch.MoreIdempotency, rec)
			}
		}
		vs[i] = v
	}
	m.LatestVersion += len(group)
	m.UpdatedAt = now
	m.Revision++
	ch.Models = []Model{m}
	return ch, vs, nil
}

func indexOf(l []*registration, r *registration) int {
	for i, x := range l {
		if x == r {
			return i
		}
	}
	return -1
}
