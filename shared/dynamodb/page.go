package dynamodb

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"

	"github.com/modelreg/modelreg/shared/dynamodb/wire"
	"github.com/modelreg/modelreg/shared/registry"
)

// Cursors are base64url(JSON{"q": query digest, "k": sort key of the
// page's last item}). The digest binds a cursor to the listing and filters
// that made it, so another model's (or filter's) cursor, like garbage, is
// Invalid. A page resumes strictly after k in the listing's order.

type cursor struct {
	Q string `json:"q"`
	K string `json:"k"`
}

// scopeOf digests a listing's identity.
func scopeOf(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:8])
}

func encodeCursor(scope, key string) string {
	b, _ := json.Marshal(cursor{Q: scope, K: key}) // two strings: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor returns the sort key in c ("" for no cursor); Invalid for
// anything this listing did not make.
func decodeCursor(c, scope string) (string, error) {
	if c == "" {
		return "", nil
	}
	bad := registry.Errorf(registry.Invalid, "invalid page cursor")
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", bad
	}
	var cur cursor
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.DisallowUnknownFields()
	if err := d.Decode(&cur); err != nil || d.More() || cur.Q != scope || cur.K == "" {
		return "", bad
	}
	return cur.K, nil
}

// source reads one key range in order, a page of DynamoDB results at a
// time: a partition of the table (full items, strongly consistent) or of
// an index (keys only, eventually consistent).
type source struct {
	s      *Store
	index  string // "" for the table
	pkAttr string
	skAttr string
	pk     string
	prefix string // table: the record kind's sort key prefix; index: a required prefix
	after  string // resume strictly after this sort value
	desc   bool
	// stopUnlessPrefix ends the source at the first index entry whose sort
	// key lacks prefix (a prefix listing resumed after a cursor).
	stopUnlessPrefix bool

	buf     []item
	lek     item
	started bool
}

// sortValue is the value an entry is ordered (and cursored) by.
func (src *source) sortValue(m item) string {
	if src.index == "" {
		return strings.TrimPrefix(str(m, AttrSK), src.prefix)
	}
	return str(m, src.skAttr)
}

// peek returns the next entry without consuming it; limit is how many
// more the caller expects to want (the next request's Limit).
func (src *source) peek(ctx context.Context, limit int) (item, bool, error) {
	for len(src.buf) == 0 {
		if src.started && src.lek == nil {
			return nil, false, nil
		}
		if err := src.fetch(ctx, limit); err != nil {
			return nil, false, err
		}
	}
	return src.buf[0], true, nil
}

func (src *source) pop() { src.buf = src.buf[1:] }

func (src *source) fetch(ctx context.Context, limit int) error {
	names := map[string]string{"#p": src.pkAttr}
	vals := item{":p": wire.S(src.pk)}
	cond := "#p = :p"
	in := &wire.QueryInput{TableName: src.s.table, ScanIndexForward: new(!src.desc),
		Limit: int32(min(max(limit, 1), registry.MaxPageSize+1))}
	switch {
	case src.index == "":
		in.ConsistentRead = true
		names["#s"] = AttrSK
		cond += " AND begins_with(#s, :pre)"
		vals[":pre"] = wire.S(src.prefix)
		if !src.started && src.after != "" {
			in.ExclusiveStartKey = itemKey{src.pk, src.prefix + src.after}.av()
		}
	default:
		in.IndexName = src.index
		switch {
		case src.after != "" && src.desc:
			cond += " AND #s < :a"
			vals[":a"] = wire.S(src.after)
		case src.after != "":
			cond += " AND #s > :a"
			vals[":a"] = wire.S(src.after)
		case src.prefix != "":
			cond += " AND begins_with(#s, :pre)"
			vals[":pre"] = wire.S(src.prefix)
		}
		if strings.Contains(cond, "#s") {
			names["#s"] = src.skAttr
		}
	}
	if src.started {
		in.ExclusiveStartKey = src.lek
	}
	in.KeyConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues = cond, names, vals
	out, err := src.s.client.Query(ctx, in)
	if err != nil {
		return translate(err, "query %s", src.pk)
	}
	src.started, src.lek = true, out.LastEvaluatedKey
	for _, m := range out.Items {
		if src.stopUnlessPrefix && !strings.HasPrefix(src.sortValue(m), src.prefix) {
			src.lek = nil
			break
		}
		src.buf = append(src.buf, m)
	}
	return nil
}

// merged yields the entries of several sources in one order (a tag lives
// in one of several index slots), skipping repeats of a sort value (an
// index that has not caught up with a move between slots).
type merged struct {
	srcs []*source
	desc bool
	last string
}

func (m *merged) next(ctx context.Context, limit int) (item, string, bool, error) {
	if err := m.fill(ctx, limit); err != nil {
		return nil, "", false, err
	}
	for {
		var best *source
		var bestVal string
		var bestItem item
		for _, src := range m.srcs {
			it, ok, err := src.peek(ctx, limit)
			if err != nil {
				return nil, "", false, err
			}
			if !ok {
				continue
			}
			v := src.sortValue(it)
			if best == nil || (m.desc && v > bestVal) || (!m.desc && v < bestVal) {
				best, bestVal, bestItem = src, v, it
			}
		}
		if best == nil {
			return nil, "", false, nil
		}
		best.pop()
		if bestVal == m.last {
			continue
		}
		m.last = bestVal
		return bestItem, bestVal, true, nil
	}
}

// fill fetches, concurrently, the next results of every source that has
// none buffered (the tag slots of one query), so a merge costs one round
// trip, not one per source.
func (m *merged) fill(ctx context.Context, limit int) error {
	var empty []*source
	for _, src := range m.srcs {
		if len(src.buf) == 0 && (!src.started || src.lek != nil) {
			empty = append(empty, src)
		}
	}
	if len(empty) < 2 {
		return nil // peek fetches a single source itself
	}
	errs := make([]error, len(empty))
	var wg sync.WaitGroup
	for i, src := range empty {
		wg.Go(func() { errs[i] = src.fetch(ctx, limit) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// listing reads a page of records of type T from merged sources. Index
// sources give keys: target names the table item each entry stands for,
// read with strongly consistent BatchGetItem; keep checks every filter on
// that authoritative record (an index may lag behind, and combined
// filters are checked here), and reading goes on until the page is full.
type listing[T any] struct {
	sources *merged
	indexed bool
	target  func(item) itemKey
	decode  func(item) (T, error)
	keep    func(T) bool
	scope   string
	limit   int
	// filtered: keep drops more than lagging entries, so read ahead.
	filtered bool
}

func (l *listing[T]) page(ctx context.Context, s *Store) (registry.Page[T], error) {
	need := l.limit + 1 // one more says whether there is a next page
	var out []T
	var keys []string
	batch := need
	for len(out) < need {
		var entries []item
		var sorts []string
		for len(entries) < batch {
			it, v, ok, err := l.sources.next(ctx, batch-len(entries))
			if err != nil {
				return registry.Page[T]{}, err
			}
			if !ok {
				break
			}
			entries, sorts = append(entries, it), append(sorts, v)
		}
		if len(entries) == 0 {
			break
		}
		recs := entries
		if l.indexed {
			var err error
			if recs, err = s.fetch(ctx, entries, l.target); err != nil {
				return registry.Page[T]{}, err
			}
		}
		kept := 0
		for i, m := range recs {
			if m == nil {
				continue // deleted since the index saw it
			}
			r, err := l.decode(m)
			if err != nil {
				return registry.Page[T]{}, err
			}
			if l.keep != nil && !l.keep(r) {
				continue
			}
			out, keys = append(out, r), append(keys, sorts[i])
			kept++
			if len(out) == need {
				break
			}
		}
		// Read more at once when the filter drops many.
		batch = need - len(out)
		if l.filtered && kept < len(entries) {
			batch = min(max(batch*len(entries)/max(kept, 1), batch), 100)
		}
	}
	p := registry.Page[T]{Items: out}
	if len(out) > l.limit {
		p.Items = out[:l.limit]
		p.Next = encodeCursor(l.scope, keys[l.limit-1])
	}
	if p.Items == nil {
		p.Items = []T{}
	}
	return p, nil
}

// fetch reads the table items the index entries stand for, in their order
// (nil where an item is gone), with strongly consistent BatchGetItem.
func (s *Store) fetch(ctx context.Context, entries []item, target func(item) itemKey) ([]item, error) {
	keys := make([]itemKey, len(entries))
	for i, e := range entries {
		keys[i] = keyOf(e)
		if target != nil {
			keys[i] = target(e)
		}
	}
	found, err := s.batchGet(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make([]item, len(keys))
	for i, k := range keys {
		out[i] = found[k]
	}
	return out, nil
}

// batchGet reads items by key, 100 per request, retrying unprocessed keys.
func (s *Store) batchGet(ctx context.Context, keys []itemKey) (map[itemKey]item, error) {
	found := map[itemKey]item{}
	var pending []item
	seen := map[itemKey]bool{}
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			pending = append(pending, k.av())
		}
	}
	for attempt := 1; len(pending) > 0; {
		n := min(len(pending), 100)
		req := map[string]wire.KeysAndAttributes{s.table: {Keys: pending[:n], ConsistentRead: true}}
		pending = pending[n:]
		for len(req) > 0 {
			out, err := s.client.BatchGetItem(ctx, &wire.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, translate(err, "batch get")
			}
			for _, m := range out.Responses[s.table] {
				found[keyOf(m)] = m
			}
			req = out.UnprocessedKeys
			if len(req) > 0 {
				if attempt >= s.attempts {
					return nil, registry.Errorf(registry.Unavailable, "the database is busy; retry")
				}
				if err := s.backoff(ctx, attempt); err != nil {
					return nil, err
				}
				attempt++
			}
		}
	}
	return found, nil
}
