// Package dynamodb is the production registry.Store: every record in one
// DynamoDB table, written with one TransactWriteItems per Change. It
// speaks to DynamoDB through package wire (DynamoDB's JSON protocol over
// shared/awsapi, no SDK service client). It passes the same contract suite
// (storetest) as the embedded SQLite store, against DynamoDB Local.
//
// # Items
//
// Table keys pk and sk are strings; every item has kind (its record kind).
// <m> is a model name, <n> a version number padded to 10 digits, <t> a
// time as fixed-width UTC text with nanoseconds (sorts as time).
//
//	record               pk                 sk                  kind
//	model                M#<m>              MODEL               model
//	version              M#<m>              V#<n>               version
//	tag item (spill)     M#<m>              T#<n>#<i>           version_tags
//	alias                M#<m>              A#<alias>           alias
//	audit entry          M#<m>              H#<id>              audit
//	approval             AP#<id>            APPROVAL            approval
//	workflow execution   EX#<id>            EXECUTION           execution
//	upload session       UP#<id>            UPLOAD              upload
//	upload parts piece   UP#<id>            P#<0001…>           upload_parts
//	outbox event         EV#<id>            EVENT               event
//	idempotency record   ID#<key>¹          IDEMPOTENCY         idempotency
//	deploy target        M#<m>              DT#<id>             deploy_target
//	deployment           M#<m>              DP#<id>             deployment
//	processed event      PE#<consumer>#<e>¹ PROCESSED           processed
//
// ¹ keys over 512 bytes as ID#sha256:<hex> (PE#sha256:<hex>); the item
// keeps the key. Deployments are listed through gsi1 DPM#<m> →
// <started>#<id>; processed-event records expire through the TTL
// attribute like idempotency records (Commit's condition and
// GetProcessed compare the exact expiry, expires). See deploy.go.
//
// A model's partition holds the model, its versions, aliases and audit
// trail, so reading any of them is a strongly consistent GetItem or Query.
// Model names, stages, statuses and tag keys never contain '#', so the
// keys split unambiguously. Records are native DynamoDB attributes (this
// package's item structs, items.go); times are the fixed-width strings,
// floats strings in Go's shortest exact form (DynamoDB numbers cannot hold
// 1e-300 or MaxFloat64), task tokens are kept.
//
// # Indexes
//
// Fifteen global secondary indexes, all KEYS_ONLY with string keys
// (TableSchema lists them for the CDK stack). They are sparse: an item is
// in an index only if it has that index's attributes, and the generic ones
// are overloaded by kind:
//
//	index               pk attr / sk attr   entries (pk value → sk value)
//	gsi1                gsi1pk / gsi1sk     model:    MODELS → <m>
//	                                        version:  VG#<m>#<stage> → <n>
//	                                        audit:    HV#<m>#<version> → <id>   (version > 0)
//	                                        approval: AP → <t>#<id>
//	                                        execution: EX → <t>#<id>
//	                                        event:    OUTBOX → <next attempt>#<event time>#<id>
//	                                        upload:   UPSWEEP → <expiry>#<id> (OPEN), <zero time>#<id> (EXPIRING)
//	gsi2                gsi2pk / gsi2sk     version:  VS#<m>#<status> → <n>
//	                                        audit:    HF#<m>#<from stage> → <t>#<id>  (stage changes)
//	                                        approval: APS#<status> → <t>#<id>
//	                                        execution: EXS#<status> → <t>#<id>
//	gsi3                gsi3pk / gsi3sk     version:  VC#<m>#<commit[:7]> → <n>
//	                                        audit:    HT#<m>#<to stage> → <t>#<id>    (stage changes)
//	                                        approval: APM#<m> → <t>#<id>
//	gsi4                gsi4pk / gsi4sk     version:  VD#<m>#<dataset id> → <n>
//	                                        approval: APX#<m>#<status> → <t>#<id>
//	gsi5                gsi5pk / gsi5sk     version:  VR#<m>#<run id> → <n>
//	tagkey1..5          tk1..tk5 / tnum     version, tag item: VT#<m>#<tag key> → <n>
//	tagval1..5          tv1..tv5 / tnum     version, tag item: VV#<m>#<tag key>#<value> → <n>
//
// Tags are the one multi-valued filter. The first five tags of a version
// (by key) are indexed on the version item itself, in slots 1..5; more
// spill into tag items of five tags each, written in the same transaction.
// A tag filter queries its five slot indexes at once and merges them by
// version number. A version with up to five tags is one item, so a Change
// of many versions stays one item per version (the contract suite commits
// 56 versions in one Change).
//
// KEYS_ONLY keeps index writes small (an index entry changes only when its
// key does, not on every update of a 265 KB version) and makes listings
// read the records themselves: a listing queries keys from an index, then
// reads the items with a strongly consistent BatchGetItem and checks every
// filter on them. So a listing never returns stale data, only (in
// production) misses a record whose index entry has not arrived yet.
//
// # Access patterns
//
// No Scan anywhere. "+1" is the one item read ahead to know whether there
// is a next page.
//
//	method           request(s)                                                      consistency
//	GetModel         GetItem M#<m>/MODEL                                             strong
//	ListModels       Query gsi1 MODELS, begins_with(prefix) → BatchGetItem           index: eventual
//	GetVersion       GetItem M#<m>/V#<n>                                             strong
//	ListVersions     no filter: Query M#<m>, begins_with V#, descending              strong
//	                 filters: Query one index (run id > git commit > dataset >       index: eventual
//	                 tag=value > stage > tag > status), descending from the cursor,
//	                 → BatchGetItem, all filters checked on the versions
//	                 tombstones (status DELETED) are dropped after the read unless
//	                 IncludeDeleted or status=DELETED asks for them
//	GetAlias         GetItem M#<m>/A#<alias>                                         strong
//	ListAliases      Query M#<m>, begins_with A#                                     strong
//	ListAudit        model: Query M#<m>, begins_with H#, descending                 strong
//	                 version: Query gsi1 HV#<m>#<v> → BatchGetItem                   index: eventual
//	StageAt          Query gsi2 HF#<m>#<stage> and gsi3 HT#<m>#<stage>, sk < <at>$,  index: eventual
//	                 descending, Limit 1 each; the newer → GetItem
//	GetApproval      GetItem AP#<id>/APPROVAL                                        strong
//	ListApprovals    Query gsi1/gsi2/gsi3/gsi4 (all/status/model/both) → BatchGetItem index: eventual
//	GetExecution     GetItem EX#<id>/EXECUTION                                       strong
//	ListExecutions   Query gsi1/gsi2 (all/status), ascending → BatchGetItem          index: eventual
//	GetUpload        Query UP#<id> (the session and its parts items)                 strong
//	UploadsToSweep   Query gsi1 UPSWEEP, sk < <before>, ascending → GetUpload each   index: eventual
//	PendingEvents    Query gsi1 OUTBOX, sk < <now>$ (all due keys), sort by event    index: eventual
//	                 time → BatchGetItem the first limit
//	AckEvent         DeleteItem EV#<id>/EVENT
//	DeferEvent       GetItem, then UpdateItem conditioned on attempts unchanged
//	GetIdempotency   GetItem ID#<key>/IDEMPOTENCY, expiry checked in code            strong
//	Commit           TransactWriteItems (see below)
//
// Filters that read more than the page: combined version filters (the
// index of the first one in the order above is read, the others are
// checked on the versions), a git commit filter longer than 7 characters
// (the index files commits under their first 7: versions sharing those
// and not the rest are read and dropped), tombstones of deleted versions
// in a listing that leaves them out (read and dropped: a model's deleted
// versions cost reads, not answers), and PendingEvents, which reads
// the keys (not the items) of every due event to order them by event time.
// Everything else reads the page plus one.
//
// Consistency: table reads are strongly consistent (ConsistentRead), as
// the Store contract asks; index reads are eventually consistent (a GSI
// cannot be read otherwise). DynamoDB Local updates its indexes before it
// answers, so the suite sees no lag; in production an index is typically
// a fraction of a second behind. Where that shows: a version moved to
// Staging may be missing for that moment from ListVersions(stage=Staging)
// and so from StageVersion(Staging); a just-made approval or model from
// their listings; a just-recorded transition from StageAt. Never the other
// way round: what a listing returns is read from the table and re-checked.
// GetModel, GetVersion, aliases, the Production pointer (on the model) and
// a model's history are table reads and always current.
//
// # Deletion
//
// A deleted version is a tombstone: the same item M#<m>/V#<n>, status
// DELETED and deleted_by/deleted_at/delete_reason set, its index entries
// kept (gsi2 moves it to ST#<m>#DELETED, so status=DELETED lists
// tombstones through the index). A deleted model is a DeleteItem of
// M#<m>/MODEL after every version became a tombstone (25 versions per
// TransactWriteItems, each with the model's revision); its history (H#)
// and tombstones stay, so a model created again under the name starts
// numbering after the highest V#<n>: CreateModel reads it with one Query
// M#<m>, begins_with V#, descending, Limit 1 (strong).
//
// # Commit
//
// One TransactWriteItems holds the whole Change, each record one Put (or
// Delete) with a condition:
//
//	idempotency record (first)  attribute_not_exists(pk) OR expires < :created_at
//	create (revision 1)         attribute_not_exists(pk)
//	update (revision n)         revision = n-1
//	delete                      revision = stored revision
//	audit entry, event          attribute_not_exists(pk)
//	checked model               revision = :rev (a ConditionCheck, no write)
//	tag items, parts items      none (they belong to their record's write)
//
// A cancelled transaction is read from its CancellationReasons: the
// idempotency record's ConditionalCheckFailed is a Conflict wrapping
// ErrDuplicateRequest, whatever else failed; any other ConditionalCheckFailed
// is a Conflict wrapping ErrStale; TransactionConflict, ThrottlingError and
// ProvisionedThroughputExceeded are retried here with jittered exponential
// backoff (12 tries by default, see WithRetries), then Unavailable;
// ValidationError is Invalid. Every transaction carries a ClientRequestToken
// (Commit's own, or wire's random one), so a retry of a request that did
// succeed does not apply it twice.
//
// Before sending, a Change that would break DynamoDB's limits is Invalid:
// more than 100 actions, two actions on one item, an item over 400 KB, over
// 4 MB in all. An audit entry's ID is unique within its model (the item
// lives in the model's partition); IDs are ULIDs, unique anyway.
//
// Side items (a version's tag items, an upload's parts items) are counted
// and digested on their record (tag_items/tag_items_sum,
// part_items/part_items_sum). Creates write them. An update first assumes
// they did not change and adds "AND <sum attribute> = :sum" (or
// attribute_not_exists) to its revision condition, asking for the old item
// on failure (ReturnValuesOnConditionCheckFailure ALL_OLD); if only that
// part failed, the next try rewrites them and deletes the ones beyond the
// new count. So an ordinary update is one request and never rewrites a
// 300 KB parts item it did not change.
//
// Version numbers: the service reads the model, and commits the version
// (revision 1) with the model at revision+1 and LatestVersion+1. Of
// concurrent registrations one wins; the others fail the model's revision
// condition (ErrStale) or collide in flight (TransactionConflict, retried
// here) and the service re-reads and retries, so numbers come out 1..n
// without gaps or duplicates.
//
// # Outbox
//
// Each event is an item, written in the Change's transaction:
//
//	pk              EV#<event id>
//	sk              EVENT
//	kind            "event"
//	event           the event's JSON exactly as published to EventBridge
//	                (registry.Event: id, detail-type, source, time, detail)
//	event_id        the event id
//	event_time      <t> of the event
//	attempts        N, failed deliveries so far
//	next_attempt_at <t>, when it is due (initially event_time)
//	last_error      the last delivery error, if any
//
// A DynamoDB Streams consumer (stream view NEW_IMAGE) publishes the event
// attribute of each INSERT with kind "event" and deletes the item; failed
// deliveries are retried by PendingEvents/DeferEvent (index gsi1, partition
// OUTBOX). That partition takes every event write: about 1,000 events a
// second before it throttles; shard it (OUTBOX#<hash mod N>) beyond that.
//
// # Upload part digests
//
// An upload session may list up to 10,000 part digests per file (64 hex
// digits each): 640 KB, more than an item holds. The digests (one JSON
// array per file) are stored gzip-compressed, about 37 bytes each: inline
// on the session item up to 32 KB (some 900 digests), otherwise cut into
// parts items of 300 KB written in the same transaction (one 10,000-part
// file: two items; three: four). GetUpload reads the session's partition
// in one Query and checks the pieces against the digest on the session
// item. A session with more digests than one transaction's 4 MB holds
// (about 110,000) is Invalid.
//
// # Idempotency expiry
//
// expires_at is the table's TTL attribute (epoch seconds, rounded up, so
// DynamoDB never deletes a record before it expires); TTL deletion is
// lazy, so GetIdempotency compares the exact expiry itself, and Commit's
// condition compares the exact expiry string (expires), not expires_at,
// with the new record's CreatedAt.
//
// # Cursors
//
// base64url(JSON {"q": digest of the listing and its filters, "k": sort
// key of the page's last item}). A page resumes strictly after k; a cursor
// of another listing, model or filter, or anything undecodable, is
// Invalid. The service HMAC-signs cursors before callers see them.
//
// # Errors
//
// translate (store.go) and classify (commit.go) are the only readers of
// DynamoDB's errors (awsapi's codes, wire's cancellation reasons): throttling, conflicts, timeouts and cancelled contexts are
// Unavailable, ValidationException is Invalid with DynamoDB's message, a
// failed condition is a Conflict, a missing item NotFound, anything else
// Internal.
package dynamodb
