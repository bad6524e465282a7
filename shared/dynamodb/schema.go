package dynamodb

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/dynamodb/wire"
	"github.com/modelreg/modelreg/shared/registry"
)

// Key and index attribute names of the table. Infrastructure code (the CDK
// stack) defines the same table from TableSchema; these names are part of
// the stored format.
const (
	// AttrPK and AttrSK are the table's partition and sort key (both S).
	AttrPK = "pk"
	AttrSK = "sk"
	// AttrKind names the record kind of every item (model, version, …);
	// a DynamoDB Streams consumer selects outbox items by it.
	AttrKind = "kind"
	// KindEvent is the kind of an outbox item, and AttrEvent the attribute
	// (S) holding its event's JSON exactly as published (registry.Event).
	KindEvent = kindEvent
	AttrEvent = "event"
	// AttrTTL is the table's time-to-live attribute: epoch seconds (N),
	// set on idempotency records only.
	AttrTTL = "expires_at"
	// AttrTagNumber is the sort key (S) of every tag index.
	AttrTagNumber = "tnum"
)

// Number of indexes of each family (see doc.go).
const (
	// GenericIndexes is the number of overloaded indexes gsi1..gsiN.
	GenericIndexes = 5
	// TagSlots is the number of tags an item indexes: indexes tagkey1..N and
	// tagval1..N. A version with more tags spills them into tag items.
	TagSlots = 5
)

// Index is one global secondary index. Every index projects KEYS_ONLY and
// has string keys.
type Index struct {
	Name         string
	PartitionKey string
	SortKey      string
}

// StreamViewType is a DynamoDB Streams view type: what each stream record
// holds.
type StreamViewType string

// StreamViewNewImage is the view whose records hold the item as written.
const StreamViewNewImage StreamViewType = wire.StreamViewNewImage

// Schema describes the table for infrastructure code and CreateTable.
type Schema struct {
	PartitionKey string  // S
	SortKey      string  // S
	Indexes      []Index // global secondary indexes, KEYS_ONLY
	TTLAttribute string  // DynamoDB TTL attribute (epoch seconds)
	// StreamView is the DynamoDB Streams view the outbox consumer needs.
	StreamView StreamViewType
}

// TableSchema returns the table's keys, indexes, TTL attribute and stream
// view. Billing mode is the caller's choice (CreateTable uses on-demand).
func TableSchema() Schema {
	s := Schema{PartitionKey: AttrPK, SortKey: AttrSK, TTLAttribute: AttrTTL, StreamView: StreamViewNewImage}
	for i := 1; i <= GenericIndexes; i++ {
		s.Indexes = append(s.Indexes, Index{Name: gsiName(i), PartitionKey: gsiPK(i), SortKey: gsiSK(i)})
	}
	for i := 1; i <= TagSlots; i++ {
		s.Indexes = append(s.Indexes,
			Index{Name: tagKeyIndex(i), PartitionKey: tagKeyAttr(i), SortKey: AttrTagNumber},
			Index{Name: tagValueIndex(i), PartitionKey: tagValueAttr(i), SortKey: AttrTagNumber})
	}
	return s
}

func gsiName(i int) string       { return "gsi" + strconv.Itoa(i) }
func gsiPK(i int) string         { return "gsi" + strconv.Itoa(i) + "pk" }
func gsiSK(i int) string         { return "gsi" + strconv.Itoa(i) + "sk" }
func tagKeyIndex(i int) string   { return "tagkey" + strconv.Itoa(i) }
func tagValueIndex(i int) string { return "tagval" + strconv.Itoa(i) }
func tagKeyAttr(i int) string    { return "tk" + strconv.Itoa(i) }
func tagValueAttr(i int) string  { return "tv" + strconv.Itoa(i) }

// CreateTable creates table as TableSchema describes it, on-demand, with
// a NEW_IMAGE stream, waits until it is active and turns TTL on. Tests and
// the local server use it against DynamoDB Local.
func CreateTable(ctx context.Context, client *wire.Client, table string) error {
	s := TableSchema()
	defs := map[string]bool{s.PartitionKey: true, s.SortKey: true}
	attrs := []wire.AttributeDefinition{
		{AttributeName: s.PartitionKey, AttributeType: wire.ScalarTypeS},
		{AttributeName: s.SortKey, AttributeType: wire.ScalarTypeS},
	}
	var gsis []wire.GlobalSecondaryIndex
	for _, ix := range s.Indexes {
		for _, a := range []string{ix.PartitionKey, ix.SortKey} {
			if !defs[a] {
				defs[a] = true
				attrs = append(attrs, wire.AttributeDefinition{AttributeName: a, AttributeType: wire.ScalarTypeS})
			}
		}
		gsis = append(gsis, wire.GlobalSecondaryIndex{
			IndexName: ix.Name,
			KeySchema: []wire.KeySchemaElement{
				{AttributeName: ix.PartitionKey, KeyType: wire.KeyTypeHash},
				{AttributeName: ix.SortKey, KeyType: wire.KeyTypeRange},
			},
			Projection: wire.Projection{ProjectionType: wire.ProjectionKeysOnly},
		})
	}
	_, err := client.CreateTable(ctx, &wire.CreateTableInput{
		TableName:            table,
		AttributeDefinitions: attrs,
		KeySchema: []wire.KeySchemaElement{
			{AttributeName: s.PartitionKey, KeyType: wire.KeyTypeHash},
			{AttributeName: s.SortKey, KeyType: wire.KeyTypeRange},
		},
		GlobalSecondaryIndexes: gsis,
		BillingMode:            wire.BillingPayPerRequest,
		StreamSpecification:    &wire.StreamSpecification{StreamEnabled: true, StreamViewType: string(s.StreamView)},
	})
	if err != nil {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	if err := waitTable(ctx, client, table, true); err != nil {
		return fmt.Errorf("create table %s: wait until active: %w", table, err)
	}
	_, err = client.UpdateTimeToLive(ctx, &wire.UpdateTimeToLiveInput{
		TableName:               table,
		TimeToLiveSpecification: wire.TimeToLiveSpecification{AttributeName: s.TTLAttribute, Enabled: true},
	})
	if err != nil {
		return fmt.Errorf("create table %s: enable TTL on %s: %w", table, s.TTLAttribute, err)
	}
	return nil
}

// DeleteTable deletes table and waits until it is gone; a missing table is
// not an error.
func DeleteTable(ctx context.Context, client *wire.Client, table string) error {
	_, err := client.DeleteTable(ctx, &wire.DeleteTableInput{TableName: table})
	if awsapi.IsCode(err, wire.CodeResourceNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete table %s: %w", table, err)
	}
	if err := waitTable(ctx, client, table, false); err != nil {
		return fmt.Errorf("delete table %s: wait: %w", table, err)
	}
	return nil
}

// waitTable polls DescribeTable until table is ACTIVE (active) or gone
// (!active), as the SDK's TableExists and TableNotExists waiters do:
// every 50 ms at first, then up to every second, for at most 2 minutes.
func waitTable(ctx context.Context, client *wire.Client, table string, active bool) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		out, err := client.DescribeTable(ctx, &wire.DescribeTableInput{TableName: table})
		switch {
		case awsapi.IsCode(err, wire.CodeResourceNotFound):
			if !active {
				return nil
			}
		case err != nil:
			return err
		case active && out.Table != nil && out.Table.TableStatus == wire.TableStatusActive:
			return nil
		}
		if err := registry.Sleep(ctx, delay); err != nil {
			return err
		}
	}
}
