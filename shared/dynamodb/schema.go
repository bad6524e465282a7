package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
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

// Schema describes the table for infrastructure code and CreateTable.
type Schema struct {
	PartitionKey string  // S
	SortKey      string  // S
	Indexes      []Index // global secondary indexes, KEYS_ONLY
	TTLAttribute string  // DynamoDB TTL attribute (epoch seconds)
	// StreamView is the DynamoDB Streams view the outbox consumer needs.
	StreamView types.StreamViewType
}

// TableSchema returns the table's keys, indexes, TTL attribute and stream
// view. Billing mode is the caller's choice (CreateTable uses on-demand).
func TableSchema() Schema {
	s := Schema{PartitionKey: AttrPK, SortKey: AttrSK, TTLAttribute: AttrTTL, StreamView: types.StreamViewTypeNewImage}
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
func CreateTable(ctx context.Context, client *ddb.Client, table string) error {
	s := TableSchema()
	defs := map[string]bool{s.PartitionKey: true, s.SortKey: true}
	attrs := []types.AttributeDefinition{
		{AttributeName: aws.String(s.PartitionKey), AttributeType: types.ScalarAttributeTypeS},
		{AttributeName: aws.String(s.SortKey), AttributeType: types.ScalarAttributeTypeS},
	}
	var gsis []types.GlobalSecondaryIndex
	for _, ix := range s.Indexes {
		for _, a := range []string{ix.PartitionKey, ix.SortKey} {
			if !defs[a] {
				defs[a] = true
				attrs = append(attrs, types.AttributeDefinition{AttributeName: aws.String(a), AttributeType: types.ScalarAttributeTypeS})
			}
		}
		gsis = append(gsis, types.GlobalSecondaryIndex{
			IndexName: aws.String(ix.Name),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(ix.PartitionKey), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(ix.SortKey), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
		})
	}
	_, err := client.CreateTable(ctx, &ddb.CreateTableInput{
		TableName:            aws.String(table),
		AttributeDefinitions: attrs,
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(s.PartitionKey), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(s.SortKey), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: gsis,
		BillingMode:            types.BillingModePayPerRequest,
		StreamSpecification:    &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: s.StreamView},
	})
	if err != nil {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	w := ddb.NewTableExistsWaiter(client, func(o *ddb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, time.Second
	})
	if err := w.Wait(ctx, &ddb.DescribeTableInput{TableName: aws.String(table)}, 2*time.Minute); err != nil {
		return fmt.Errorf("create table %s: wait until active: %w", table, err)
	}
	_, err = client.UpdateTimeToLive(ctx, &ddb.UpdateTimeToLiveInput{
		TableName: aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(s.TTLAttribute), Enabled: aws.Bool(true),
		},
	})
	if err != nil {
		return fmt.Errorf("create table %s: enable TTL on %s: %w", table, s.TTLAttribute, err)
	}
	return nil
}

// DeleteTable deletes table and waits until it is gone; a missing table is
// not an error.
func DeleteTable(ctx context.Context, client *ddb.Client, table string) error {
	_, err := client.DeleteTable(ctx, &ddb.DeleteTableInput{TableName: aws.String(table)})
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete table %s: %w", table, err)
	}
	w := ddb.NewTableNotExistsWaiter(client, func(o *ddb.TableNotExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, time.Second
	})
	if err := w.Wait(ctx, &ddb.DescribeTableInput{TableName: aws.String(table)}, 2*time.Minute); err != nil {
		return fmt.Errorf("delete table %s: wait: %w", table, err)
	}
	return nil
}
