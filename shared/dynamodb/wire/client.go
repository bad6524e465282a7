package wire

import (
	"context"
	"crypto/rand"

	"github.com/modelreg/modelreg/shared/awsapi"
)

// Service is DynamoDB's JSON protocol, for awsapi.New.
var Service = awsapi.Service{SigningName: "dynamodb", EndpointPrefix: "dynamodb", TargetPrefix: "DynamoDB_20120810", JSONVersion: "1.0",
	EnvName: "DYNAMODB"}

// Client calls DynamoDB. Its errors are awsapi's (*awsapi.Error with
// DynamoDB's error code, *awsapi.TransportError), with the details of two
// codes parsed: *TransactionCanceledError and *ConditionalCheckFailedError.
// awsapi retries throttling and 5xx answers. It is safe for concurrent use.
type Client struct {
	api      *awsapi.Client
	capacity func(op string, consumed []ConsumedCapacity, err error)
}

// Option configures a Client.
type Option func(*Client)

// WithCapacity has every item operation ask for the capacity it consumes
// (ReturnConsumedCapacity TOTAL) and passes it to fn after the call, with
// the call's error (benchmarks and metrics).
func WithCapacity(fn func(op string, consumed []ConsumedCapacity, err error)) Option {
	return func(c *Client) { c.capacity = fn }
}

// New returns a client calling DynamoDB through c (made with Service).
func New(c *awsapi.Client, opts ...Option) *Client {
	cl := &Client{api: c}
	for _, o := range opts {
		o(cl)
	}
	return cl
}

// call sends op and decodes its answer into out, parsing the errors the
// package types.
func (c *Client) call(ctx context.Context, op string, in, out any) error {
	return typed(c.api.JSON(ctx, op, in, out))
}

// tableCall is a table operation: in, and the answer decoded into an O.
func tableCall[O any](ctx context.Context, c *Client, op string, in any) (*O, error) {
	out := new(O)
	if err := c.call(ctx, op, in, out); err != nil {
		return nil, err
	}
	return out, nil
}

// itemCall is an item operation: it asks for and reports the consumed
// capacity when the client has an observer. The caller's input is not
// changed.
func itemCall[I, O any, PI interface {
	*I
	askCapacity()
}, PO interface {
	*O
	consumed() []ConsumedCapacity
}](ctx context.Context, c *Client, op string, in *I) (*O, error) {
	req := *in
	if c.capacity != nil {
		PI(&req).askCapacity()
	}
	out := new(O)
	err := c.call(ctx, op, &req, out)
	if c.capacity != nil {
		var consumed []ConsumedCapacity
		if err == nil {
			consumed = PO(out).consumed()
		}
		c.capacity(op, consumed, err)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// GetItem reads one item.
func (c *Client) GetItem(ctx context.Context, in *GetItemInput) (*GetItemOutput, error) {
	return itemCall[GetItemInput, GetItemOutput](ctx, c, "GetItem", in)
}

// PutItem writes one item.
func (c *Client) PutItem(ctx context.Context, in *PutItemInput) (*PutItemOutput, error) {
	return itemCall[PutItemInput, PutItemOutput](ctx, c, "PutItem", in)
}

// DeleteItem deletes one item (an absent one is not an error).
func (c *Client) DeleteItem(ctx context.Context, in *DeleteItemInput) (*DeleteItemOutput, error) {
	return itemCall[DeleteItemInput, DeleteItemOutput](ctx, c, "DeleteItem", in)
}

// UpdateItem updates (or creates) one item.
func (c *Client) UpdateItem(ctx context.Context, in *UpdateItemInput) (*UpdateItemOutput, error) {
	return itemCall[UpdateItemInput, UpdateItemOutput](ctx, c, "UpdateItem", in)
}

// Query reads one page of a partition of the table or of an index.
func (c *Client) Query(ctx context.Context, in *QueryInput) (*QueryOutput, error) {
	return itemCall[QueryInput, QueryOutput](ctx, c, "Query", in)
}

// BatchGetItem reads up to 100 items by key; the ones DynamoDB did not
// get to are in the answer's UnprocessedKeys.
func (c *Client) BatchGetItem(ctx context.Context, in *BatchGetItemInput) (*BatchGetItemOutput, error) {
	return itemCall[BatchGetItemInput, BatchGetItemOutput](ctx, c, "BatchGetItem", in)
}

// TransactWriteItems writes up to 100 actions atomically. Without a
// ClientRequestToken it sends a random one, as the SDK does, so that
// awsapi's retry of an attempt whose answer was lost is recognised by
// DynamoDB (for 10 minutes) instead of being applied again.
func (c *Client) TransactWriteItems(ctx context.Context, in *TransactWriteItemsInput) (*TransactWriteItemsOutput, error) {
	if in.ClientRequestToken == "" {
		req := *in
		req.ClientRequestToken = rand.Text()
		in = &req
	}
	return itemCall[TransactWriteItemsInput, TransactWriteItemsOutput](ctx, c, "TransactWriteItems", in)
}

// CreateTable starts creating a table.
func (c *Client) CreateTable(ctx context.Context, in *CreateTableInput) (*CreateTableOutput, error) {
	return tableCall[CreateTableOutput](ctx, c, "CreateTable", in)
}

// DescribeTable describes a table (ResourceNotFoundException if there is
// none).
func (c *Client) DescribeTable(ctx context.Context, in *DescribeTableInput) (*DescribeTableOutput, error) {
	return tableCall[DescribeTableOutput](ctx, c, "DescribeTable", in)
}

// DeleteTable starts deleting a table.
func (c *Client) DeleteTable(ctx context.Context, in *DeleteTableInput) (*DeleteTableOutput, error) {
	return tableCall[DeleteTableOutput](ctx, c, "DeleteTable", in)
}

// UpdateTimeToLive turns a table's TTL on or off.
func (c *Client) UpdateTimeToLive(ctx context.Context, in *UpdateTimeToLiveInput) (*UpdateTimeToLiveOutput, error) {
	return tableCall[UpdateTimeToLiveOutput](ctx, c, "UpdateTimeToLive", in)
}
