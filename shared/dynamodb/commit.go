package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/modelreg/modelreg/shared/dynamodb/wire"
	"github.com/modelreg/modelreg/shared/registry"
)

// DynamoDB's limits (AWS DynamoDB Developer Guide, "Quotas"): an item holds
// at most 400 KB; one TransactWriteItems call at most 100 actions and 4 MB
// in all, with no two actions on the same item.
const (
	maxActions   = 100
	maxItemBytes = 400 * 1024
	maxTxBytes   = 4 * 1024 * 1024
)

// Commit writes ch in one TransactWriteItems (see the package doc): every
// record conditioned on its revision, audit entries and events on not
// existing, the idempotency record (first in the transaction) on no
// unexpired record having its key. A Change beyond DynamoDB's limits is
// Invalid before anything is sent. Cancellation reasons decide the
// answer: the idempotency record's failed condition is ErrDuplicateRequest
// (whatever else failed), any other failed condition ErrStale;
// transaction conflicts and throttling are retried with jittered backoff,
// then Unavailable.
func (s *Store) Commit(ctx context.Context, ch *registry.Change) error {
	if ch == nil {
		return registry.Errorf(registry.Invalid, "commit: nil change")
	}
	if err := registry.ValidateModelChecks(ch); err != nil {
		return err
	}
	p, err := planChange(ch)
	if err != nil {
		return err
	}
	if len(p.writes) == 0 {
		return nil
	}
	// One token per set of actions: if an attempt fails ambiguously (a
	// timeout after DynamoDB committed), its retry is recognised as the same
	// transaction for 10 minutes instead of being applied again (or failing
	// its conditions and making the service repeat the operation).
	token := registry.RandomToken(16)
	for attempt, rebuilds := 1, 0; ; {
		acts, err := p.build(s.table)
		if err != nil {
			return err
		}
		in := &wire.TransactWriteItemsInput{TransactItems: make([]wire.TransactWriteItem, len(acts)), ClientRequestToken: token}
		for i, a := range acts {
			in.TransactItems[i] = a.item
		}
		_, err = s.client.TransactWriteItems(ctx, in)
		if err == nil {
			return nil
		}
		var tce *wire.TransactionCanceledError
		retry := retryable(err)
		if errors.As(err, &tce) {
			v := classify(acts, tce.Reasons)
			switch {
			case v.duplicate:
				return registry.Wrap(registry.Conflict, registry.ErrDuplicateRequest, "a request with this idempotency key was already made")
			case v.stale != nil:
				return registry.Wrap(registry.Conflict, registry.ErrStale, "%s", v.stale.staleMessage())
			case v.invalid != "":
				return registry.Wrap(registry.Invalid, err, "commit refused by DynamoDB: %s", v.invalid)
			case v.expanded && !v.retry && rebuilds < 3:
				rebuilds++ // the side items changed: write them this time
				token = registry.RandomToken(16)
				continue
			case !v.retry:
				return translate(err, "commit")
			}
			if v.expanded {
				// The next try writes the side items too: another set of
				// actions, so another token (DynamoDB refuses a token
				// reused for other actions).
				token = registry.RandomToken(16)
			}
			retry = true
		}
		if !retry {
			return translate(err, "commit")
		}
		if attempt >= s.attempts {
			return registry.Wrap(registry.Unavailable, err, "too many concurrent writes; retry")
		}
		if err := s.backoff(ctx, attempt); err != nil {
			return err
		}
		attempt++
	}
}

// writeKind says what a write's failed condition means.
type writeKind int

const (
	revisioned  writeKind = iota // a record with a revision
	deletion                     // a delete naming the stored revision
	appendOnly                   // audit entries and events
	idempotency                  // the idempotency record
	expiring                     // create unless an unexpired one exists (processed events)
	removal                      // a delete of an item that must exist (audit entries, tag items)
	check                        // a condition only: the item is at revision rev (checked models)
)

// write is one record of a Change: a Put (or a Delete) of its item,
// conditioned on its revision, and its side items.
type write struct {
	kind writeKind
	what string // "model m", for messages
	key  itemKey
	item item // nil for a delete
	rev  int64
	cond string // extra condition of an idempotency record
	vals item
	side *side
}

// side is what a record keeps in other items: a version's tag items, an
// upload's parts items. The record's item holds how many there are
// (countAttr) and a digest of their content (sumAttr). Creates write them
// all. Updates first assume they are unchanged (the common case: no side
// items, or the same ones) and only condition the record on the digest;
// when that condition fails with the expected revision, the old count
// comes back with the cancellation and the next try rewrites them.
type side struct {
	countAttr, sumAttr string
	sum                string
	items              []item
	keyAt              func(i int) itemKey // key of side item i (1-based)
	expanded           bool
	oldCount           int
}

// plan is a Change as writes, the idempotency records first.
type plan struct{ writes []*write }

func planChange(ch *registry.Change) (*plan, error) {
	p := &plan{}
	idem := ch.MoreIdempotency
	if ch.Idempotency != nil {
		idem = append([]registry.IdempotencyRecord{*ch.Idempotency}, idem...)
	}
	keys := map[string]bool{}
	for _, r := range idem {
		if r.Key == "" {
			return nil, registry.Errorf(registry.Invalid, "commit: idempotency record without a key")
		}
		if keys[r.Key] {
			return nil, registry.Errorf(registry.Invalid, "commit: two idempotency records with key %q", r.Key)
		}
		keys[r.Key] = true
		now := r.CreatedAt
		if now.IsZero() {
			now = time.Now()
		}
		m, err := marshal(toIdempotencyItem(r), nil)
		if err != nil {
			return nil, err
		}
		p.writes = append(p.writes, &write{kind: idempotency, what: "idempotency record", key: keyOf(m), item: m,
			cond: "attribute_not_exists(#pk) OR #exp < :now", vals: item{":now": wire.S(timeKey(now))}})
	}
	for _, mc := range ch.CheckedModels {
		p.writes = append(p.writes, &write{kind: check, what: "model " + mc.Name, key: itemKey{modelPK(mc.Name), skModel}, rev: mc.Revision})
	}
	for _, m := range ch.Models {
		if err := p.put(toModelItem(m), nil, m.Revision, "model "+m.Name, nil); err != nil {
			return nil, err
		}
	}
	for _, m := range ch.DeletedModels {
		p.del(itemKey{modelPK(m.Name), skModel}, m.Revision, "model "+m.Name)
	}
	for _, v := range ch.DeletedVersions {
		// The version item and the tag items its tags spill into (the
		// stored ones: the delete names the stored revision).
		p.del(itemKey{modelPK(v.Model), versionSK(v.Number)}, v.Revision, versionLabel(v.Model, v.Number))
		_, spill, _ := versionTags(v)
		for i := range spill {
			p.writes = append(p.writes, &write{kind: removal, what: versionLabel(v.Model, v.Number) + " tags",
				key: itemKey{modelPK(v.Model), tagsSK(v.Number, i+1)}})
		}
	}
	for _, v := range ch.Versions {
		if v.Number < 1 || v.Number > maxVersionNumber {
			return nil, registry.Errorf(registry.Invalid, "commit: version number %d of %s out of range", v.Number, v.Model)
		}
		own, spill, sum := versionTags(v)
		it := toVersionItem(v)
		it.TagItems, it.TagItemsSum = len(spill), sum
		sd := &side{countAttr: "tag_items", sumAttr: "tag_items_sum", sum: sum,
			keyAt: func(i int) itemKey { return itemKey{modelPK(v.Model), tagsSK(v.Number, i)} }}
		for i, slots := range spill {
			m, err := marshal(tagItem{itemKeys: itemKeys{PK: modelPK(v.Model), SK: tagsSK(v.Number, i+1), Kind: kindTags},
				Model: v.Model, Number: v.Number}, slotAttrs(v.Model, v.Number, slots))
			if err != nil {
				return nil, err
			}
			sd.items = append(sd.items, m)
		}
		if err := p.put(it, slotAttrs(v.Model, v.Number, own), v.Revision, versionLabel(v.Model, v.Number), sd); err != nil {
			return nil, err
		}
	}
	for _, a := range ch.Aliases {
		if err := p.put(toAliasItem(a), nil, a.Revision, "alias "+a.Model+"/"+a.Name, nil); err != nil {
			return nil, err
		}
	}
	for _, a := range ch.DeletedAliases {
		p.del(itemKey{modelPK(a.Model), aliasSK(a.Name)}, a.Revision, "alias "+a.Model+"/"+a.Name)
	}
	for _, a := range ch.Approvals {
		if err := p.put(toApprovalItem(a), nil, a.Revision, "approval "+a.ID, nil); err != nil {
			return nil, err
		}
	}
	for _, e := range ch.Executions {
		if err := p.put(toExecutionItem(e), nil, e.Revision, "execution "+e.ID, nil); err != nil {
			return nil, err
		}
	}
	for _, u := range ch.Uploads {
		it, chunks, err := toUploadItem(u)
		if err != nil {
			return nil, err
		}
		sd := &side{countAttr: "part_items", sumAttr: "part_items_sum", sum: it.PartItemsSum,
			keyAt: func(i int) itemKey { return itemKey{uploadPK(u.ID), uploadPartsSK(i)} }}
		for i, c := range chunks {
			m, err := marshal(uploadPartsItem{itemKeys: itemKeys{PK: uploadPK(u.ID), SK: uploadPartsSK(i + 1), Kind: kindUploadParts}, Data: c}, nil)
			if err != nil {
				return nil, err
			}
			sd.items = append(sd.items, m)
		}
		if err := p.put(it, nil, u.Revision, "upload "+u.ID, sd); err != nil {
			return nil, err
		}
	}
	if err := p.planDeploy(ch); err != nil {
		return nil, err
	}
	for _, a := range ch.DeletedAudit {
		p.writes = append(p.writes, &write{kind: removal, what: "audit entry " + a.ID + " of " + a.Model,
			key: itemKey{modelPK(a.Model), auditSK(a.ID)}})
	}
	for _, a := range ch.Audit {
		m, err := marshal(toAuditItem(a), nil)
		if err != nil {
			return nil, err
		}
		p.writes = append(p.writes, &write{kind: appendOnly, what: "audit entry " + a.ID, key: keyOf(m), item: m})
	}
	for _, e := range ch.Events {
		it, err := toEventItem(e)
		if err != nil {
			return nil, err
		}
		m, err := marshal(it, nil)
		if err != nil {
			return nil, err
		}
		p.writes = append(p.writes, &write{kind: appendOnly, what: "event " + e.ID, key: keyOf(m), item: m})
	}
	return p, nil
}

func (p *plan) put(v any, extra map[string]string, rev int64, what string, sd *side) error {
	if rev < 1 {
		return registry.Errorf(registry.Invalid, "commit: %s has revision %d; revisions start at 1", what, rev)
	}
	m, err := marshal(v, extra)
	if err != nil {
		return err
	}
	p.writes = append(p.writes, &write{kind: revisioned, what: what, key: keyOf(m), item: m, rev: rev, side: sd})
	return nil
}

func (p *plan) del(k itemKey, rev int64, what string) {
	p.writes = append(p.writes, &write{kind: deletion, what: what, key: k, rev: rev})
}

// action is one item of the transaction and the write it belongs to.
type action struct {
	item   wire.TransactWriteItem
	w      *write
	parent bool // the write's own item (not a side item)
}

// build returns the transaction's actions, or Invalid if they break
// DynamoDB's limits: at most 100 actions, one per item, items up to
// 400 KB, 4 MB in all.
func (p *plan) build(table string) ([]action, error) {
	var acts []action
	seen := map[itemKey]string{}
	total := 0
	add := func(w *write, parent bool, k itemKey, it wire.TransactWriteItem, m item) error {
		if prev, ok := seen[k]; ok {
			return registry.Errorf(registry.Invalid, "commit: the change writes one item twice (%s and %s); DynamoDB transactions touch each item once", prev, w.what)
		}
		seen[k] = w.what
		size := itemSize(m)
		if m == nil {
			size = itemSize(k.av())
		}
		if size > maxItemBytes {
			return registry.Errorf(registry.Invalid, "commit: %s would be a %d KB item; DynamoDB items hold at most 400 KB", w.what, (size+1023)/1024)
		}
		total += size
		acts = append(acts, action{item: it, w: w, parent: parent})
		return nil
	}
	names := func(extra ...string) map[string]string {
		m := map[string]string{"#pk": AttrPK}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	for _, w := range p.writes {
		var err error
		switch w.kind {
		case idempotency, expiring:
			err = add(w, true, w.key, wire.TransactWriteItem{Put: &wire.Put{TableName: table, Item: w.item,
				ConditionExpression: w.cond, ExpressionAttributeNames: names("#exp", "expires"), ExpressionAttributeValues: w.vals}}, w.item)
		case appendOnly:
			err = add(w, true, w.key, wire.TransactWriteItem{Put: &wire.Put{TableName: table, Item: w.item,
				ConditionExpression: "attribute_not_exists(#pk)", ExpressionAttributeNames: names()}}, w.item)
		case removal:
			err = add(w, true, w.key, wire.TransactWriteItem{Delete: &wire.Delete{TableName: table, Key: w.key.av(),
				ConditionExpression: "attribute_exists(#pk)", ExpressionAttributeNames: names()}}, nil)
		case deletion:
			err = add(w, true, w.key, wire.TransactWriteItem{Delete: &wire.Delete{TableName: table, Key: w.key.av(),
				ConditionExpression: "#rev = :rev", ExpressionAttributeNames: map[string]string{"#rev": "revision"},
				ExpressionAttributeValues: item{":rev": numAV(w.rev)}}}, nil)
		case check:
			err = add(w, true, w.key, wire.TransactWriteItem{ConditionCheck: &wire.ConditionCheck{TableName: table, Key: w.key.av(),
				ConditionExpression: "#rev = :rev", ExpressionAttributeNames: map[string]string{"#rev": "revision"},
				ExpressionAttributeValues: item{":rev": numAV(w.rev)}}}, nil)
		case revisioned:
			err = p.buildRecord(w, table, add, names)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(acts) > maxActions {
		return nil, registry.Errorf(registry.Invalid, "commit: the change needs %d writes; a DynamoDB transaction holds at most %d", len(acts), maxActions)
	}
	if total > maxTxBytes {
		return nil, registry.Errorf(registry.Invalid, "commit: the change writes %d KB; a DynamoDB transaction holds at most 4 MB", (total+1023)/1024)
	}
	return acts, nil
}

// buildRecord adds the actions of a revisioned record and its side items.
func (p *plan) buildRecord(w *write, table string, add func(*write, bool, itemKey, wire.TransactWriteItem, item) error, names func(...string) map[string]string) error {
	put := &wire.Put{TableName: table, Item: w.item}
	sd := w.side
	writeSide := sd != nil && (w.rev == 1 || sd.expanded)
	switch {
	case w.rev == 1:
		put.ConditionExpression, put.ExpressionAttributeNames = "attribute_not_exists(#pk)", names()
	case sd != nil && !sd.expanded:
		// Optimistic: the side items are as the digest says.
		put.ExpressionAttributeNames = map[string]string{"#rev": "revision", "#sum": sd.sumAttr}
		put.ExpressionAttributeValues = item{":prev": numAV(w.rev - 1)}
		cond := "#rev = :prev AND attribute_not_exists(#sum)"
		if sd.sum != "" {
			cond = "#rev = :prev AND #sum = :sum"
			put.ExpressionAttributeValues[":sum"] = wire.S(sd.sum)
		}
		put.ConditionExpression = cond
		put.ReturnValuesOnConditionCheckFailure = wire.ReturnValuesAllOld
	default:
		put.ConditionExpression = "#rev = :prev"
		put.ExpressionAttributeNames = map[string]string{"#rev": "revision"}
		put.ExpressionAttributeValues = item{":prev": numAV(w.rev - 1)}
	}
	if err := add(w, true, w.key, wire.TransactWriteItem{Put: put}, w.item); err != nil {
		return err
	}
	if !writeSide {
		return nil
	}
	for i, m := range sd.items {
		if err := add(w, false, sd.keyAt(i+1), wire.TransactWriteItem{Put: &wire.Put{TableName: table, Item: m}}, m); err != nil {
			return err
		}
	}
	for i := len(sd.items) + 1; i <= sd.oldCount; i++ {
		k := sd.keyAt(i)
		if err := add(w, false, k, wire.TransactWriteItem{Delete: &wire.Delete{TableName: table, Key: k.av()}}, nil); err != nil {
			return err
		}
	}
	return nil
}

// verdict is what a cancelled transaction's reasons say.
type verdict struct {
	duplicate bool
	stale     *write
	invalid   string
	retry     bool
	expanded  bool // side items must be written: try again
}

// classify reads the cancellation reasons (one per action, in order).
func classify(acts []action, reasons []wire.CancellationReason) verdict {
	var v verdict
	for i, r := range reasons {
		code := r.Code
		if code == "" || code == "None" {
			continue
		}
		if i >= len(acts) {
			v.invalid = fmt.Sprintf("unexpected cancellation reason %s: %s", code, r.Message)
			continue
		}
		a := acts[i]
		switch {
		case code == "ConditionalCheckFailed" && a.w.kind == idempotency:
			v.duplicate = true
		case code == "ConditionalCheckFailed" && a.parent && a.w.side != nil && !a.w.side.expanded && a.w.rev > 1 &&
			num(r.Item, "revision") == a.w.rev-1:
			// Right revision, other side items: rewrite them next time.
			a.w.side.expanded, a.w.side.oldCount = true, int(num(r.Item, a.w.side.countAttr))
			v.expanded = true
		case code == "ConditionalCheckFailed":
			if v.stale == nil {
				v.stale = a.w
			}
		case retryableCodes[code]:
			v.retry = true
		case code == "ValidationError" || code == "ItemCollectionSizeLimitExceeded":
			v.invalid = fmt.Sprintf("%s: %s", a.w.what, r.Message)
		default:
			v.invalid = fmt.Sprintf("%s: %s %s", a.w.what, code, r.Message)
		}
	}
	return v
}

// staleMessage says which condition failed.
func (w *write) staleMessage() string {
	switch {
	case w.kind == appendOnly, w.kind == expiring:
		return w.what + " already exists"
	case w.kind == removal:
		return w.what + " does not exist (removed by someone else)"
	case w.kind == deletion, w.kind == check:
		return fmt.Sprintf("%s is not at revision %d (changed or deleted by someone else)", w.what, w.rev)
	case w.rev == 1:
		return w.what + " already exists"
	default:
		return fmt.Sprintf("%s is not at revision %d (changed or deleted by someone else)", w.what, w.rev-1)
	}
}

func numAV(n int64) wire.AttributeValue { return wire.Int(n) }

// itemSize is DynamoDB's size of an item: attribute names plus values
// (strings and binaries by length, numbers about one byte per two digits,
// 3 bytes and 1 per element for lists and maps). It errs on the large side.
func itemSize(m item) int {
	n := 0
	for k, v := range m {
		n += len(k) + valueSize(v)
	}
	return n
}

func valueSize(v wire.AttributeValue) int {
	switch v.Type() {
	case wire.TypeS:
		s, _ := v.AsS()
		return len(s)
	case wire.TypeN:
		s, _ := v.AsN()
		return len(s)/2 + 2
	case wire.TypeB:
		b, _ := v.AsB()
		return len(b)
	case wire.TypeBOOL, wire.TypeNULL:
		return 1
	case wire.TypeM:
		m, _ := v.AsM()
		return 3 + len(m) + itemSize(m)
	case wire.TypeL:
		l, _ := v.AsL()
		n := 3 + len(l)
		for _, e := range l {
			n += valueSize(e)
		}
		return n
	case wire.TypeSS:
		ss, _ := v.AsSS()
		n := 3
		for _, s := range ss {
			n += len(s) + 1
		}
		return n
	case wire.TypeNS:
		ns, _ := v.AsNS()
		n := 3
		for _, s := range ns {
			n += len(s)/2 + 3
		}
		return n
	case wire.TypeBS:
		bs, _ := v.AsBS()
		n := 3
		for _, b := range bs {
			n += len(b) + 1
		}
		return n
	}
	return 0
}
