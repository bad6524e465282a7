package wire

// The operations' inputs and outputs: DynamoDB's member names are the
// JSON keys (encoding/json's default), empty members are not sent. Only
// the members the registry uses are here.

// Enumerated values DynamoDB takes.
const (
	ReturnValuesAllOld          = "ALL_OLD" // ReturnValues, ReturnValuesOnConditionCheckFailure
	ReturnConsumedCapacityTotal = "TOTAL"
	KeyTypeHash                 = "HASH"
	KeyTypeRange                = "RANGE"
	ScalarTypeS                 = "S"
	ScalarTypeN                 = "N"
	ScalarTypeB                 = "B"
	ProjectionKeysOnly          = "KEYS_ONLY"
	ProjectionAll               = "ALL"
	BillingPayPerRequest        = "PAY_PER_REQUEST"
	StreamViewNewImage          = "NEW_IMAGE"
	TableStatusActive           = "ACTIVE"
)

// ConsumedCapacity is the capacity one request consumed (with
// ReturnConsumedCapacity TOTAL).
type ConsumedCapacity struct {
	TableName          string  `json:",omitempty"`
	CapacityUnits      float64 `json:",omitempty"`
	ReadCapacityUnits  float64 `json:",omitempty"`
	WriteCapacityUnits float64 `json:",omitempty"`
}

// GetItemInput is GetItem's request.
type GetItemInput struct {
	TableName                string
	Key                      Item
	ConsistentRead           bool              `json:",omitempty"`
	ProjectionExpression     string            `json:",omitempty"`
	ExpressionAttributeNames map[string]string `json:",omitempty"`
	ReturnConsumedCapacity   string            `json:",omitempty"`
}

// GetItemOutput is GetItem's answer; Item is nil when there is none.
type GetItemOutput struct {
	Item             Item
	ConsumedCapacity *ConsumedCapacity
}

// PutItemInput is PutItem's request.
type PutItemInput struct {
	TableName                           string
	Item                                Item
	ConditionExpression                 string            `json:",omitempty"`
	ExpressionAttributeNames            map[string]string `json:",omitempty"`
	ExpressionAttributeValues           Item              `json:",omitempty"`
	ReturnValues                        string            `json:",omitempty"`
	ReturnValuesOnConditionCheckFailure string            `json:",omitempty"`
	ReturnConsumedCapacity              string            `json:",omitempty"`
}

// PutItemOutput is PutItem's answer.
type PutItemOutput struct {
	Attributes       Item
	ConsumedCapacity *ConsumedCapacity
}

// DeleteItemInput is DeleteItem's request.
type DeleteItemInput struct {
	TableName                           string
	Key                                 Item
	ConditionExpression                 string            `json:",omitempty"`
	ExpressionAttributeNames            map[string]string `json:",omitempty"`
	ExpressionAttributeValues           Item              `json:",omitempty"`
	ReturnValues                        string            `json:",omitempty"`
	ReturnValuesOnConditionCheckFailure string            `json:",omitempty"`
	ReturnConsumedCapacity              string            `json:",omitempty"`
}

// DeleteItemOutput is DeleteItem's answer.
type DeleteItemOutput struct {
	Attributes       Item
	ConsumedCapacity *ConsumedCapacity
}

// UpdateItemInput is UpdateItem's request.
type UpdateItemInput struct {
	TableName                           string
	Key                                 Item
	UpdateExpression                    string            `json:",omitempty"`
	ConditionExpression                 string            `json:",omitempty"`
	ExpressionAttributeNames            map[string]string `json:",omitempty"`
	ExpressionAttributeValues           Item              `json:",omitempty"`
	ReturnValues                        string            `json:",omitempty"`
	ReturnValuesOnConditionCheckFailure string            `json:",omitempty"`
	ReturnConsumedCapacity              string            `json:",omitempty"`
}

// UpdateItemOutput is UpdateItem's answer.
type UpdateItemOutput struct {
	Attributes       Item
	ConsumedCapacity *ConsumedCapacity
}

// QueryInput is Query's request. ScanIndexForward nil is DynamoDB's
// default, ascending.
type QueryInput struct {
	TableName                 string
	IndexName                 string            `json:",omitempty"`
	KeyConditionExpression    string            `json:",omitempty"`
	FilterExpression          string            `json:",omitempty"`
	ProjectionExpression      string            `json:",omitempty"`
	ExpressionAttributeNames  map[string]string `json:",omitempty"`
	ExpressionAttributeValues Item              `json:",omitempty"`
	ExclusiveStartKey         Item              `json:",omitempty"`
	Limit                     int32             `json:",omitempty"`
	ScanIndexForward          *bool             `json:",omitempty"`
	ConsistentRead            bool              `json:",omitempty"`
	Select                    string            `json:",omitempty"`
	ReturnConsumedCapacity    string            `json:",omitempty"`
}

// QueryOutput is Query's answer; LastEvaluatedKey is nil on the last page.
type QueryOutput struct {
	Items            []Item
	Count            int32
	ScannedCount     int32
	LastEvaluatedKey Item
	ConsumedCapacity *ConsumedCapacity
}

// KeysAndAttributes are the keys BatchGetItem reads from one table.
type KeysAndAttributes struct {
	Keys                     []Item
	ConsistentRead           bool              `json:",omitempty"`
	ProjectionExpression     string            `json:",omitempty"`
	ExpressionAttributeNames map[string]string `json:",omitempty"`
}

// BatchGetItemInput is BatchGetItem's request: keys by table name.
type BatchGetItemInput struct {
	RequestItems           map[string]KeysAndAttributes
	ReturnConsumedCapacity string `json:",omitempty"`
}

// BatchGetItemOutput is BatchGetItem's answer: items by table name, and
// the keys DynamoDB did not read this time.
type BatchGetItemOutput struct {
	Responses        map[string][]Item
	UnprocessedKeys  map[string]KeysAndAttributes
	ConsumedCapacity []ConsumedCapacity
}

// Put is a transaction's put of one item.
type Put struct {
	TableName                           string
	Item                                Item
	ConditionExpression                 string            `json:",omitempty"`
	ExpressionAttributeNames            map[string]string `json:",omitempty"`
	ExpressionAttributeValues           Item              `json:",omitempty"`
	ReturnValuesOnConditionCheckFailure string            `json:",omitempty"`
}

// Delete is a transaction's delete of one item.
type Delete struct {
	TableName                           string
	Key                                 Item
	ConditionExpression                 string            `json:",omitempty"`
	ExpressionAttributeNames            map[string]string `json:",omitempty"`
	ExpressionAttributeValues           Item              `json:",omitempty"`
	ReturnValuesOnConditionCheckFailure string            `json:",omitempty"`
}

// Update is a transaction's update of one item.
type Update struct {
	TableName                           string
	Key                                 Item
	UpdateExpression                    string
	ConditionExpression                 string            `json:",omitempty"`
	ExpressionAttributeNames            map[string]string `json:",omitempty"`
	ExpressionAttributeValues           Item              `json:",omitempty"`
	ReturnValuesOnConditionCheckFailure string            `json:",omitempty"`
}

// ConditionCheck is a transaction's condition on an item it does not
// write.
type ConditionCheck struct {
	TableName                           string
	Key                                 Item
	ConditionExpression                 string
	ExpressionAttributeNames            map[string]string `json:",omitempty"`
	ExpressionAttributeValues           Item              `json:",omitempty"`
	ReturnValuesOnConditionCheckFailure string            `json:",omitempty"`
}

// TransactWriteItem is one action of a transaction: exactly one member.
type TransactWriteItem struct {
	ConditionCheck *ConditionCheck `json:",omitempty"`
	Put            *Put            `json:",omitempty"`
	Delete         *Delete         `json:",omitempty"`
	Update         *Update         `json:",omitempty"`
}

// TransactWriteItemsInput is TransactWriteItems' request. An empty
// ClientRequestToken is filled with a random one (see
// Client.TransactWriteItems).
type TransactWriteItemsInput struct {
	TransactItems          []TransactWriteItem
	ClientRequestToken     string `json:",omitempty"`
	ReturnConsumedCapacity string `json:",omitempty"`
}

// TransactWriteItemsOutput is TransactWriteItems' answer.
type TransactWriteItemsOutput struct {
	ConsumedCapacity []ConsumedCapacity
}

// AttributeDefinition declares a key attribute's type (ScalarTypeS, …).
type AttributeDefinition struct {
	AttributeName string
	AttributeType string
}

// KeySchemaElement is one key attribute (KeyTypeHash or KeyTypeRange).
type KeySchemaElement struct {
	AttributeName string
	KeyType       string
}

// Projection says what an index holds (ProjectionKeysOnly, …).
type Projection struct {
	ProjectionType   string
	NonKeyAttributes []string `json:",omitempty"`
}

// GlobalSecondaryIndex is an index CreateTable creates.
type GlobalSecondaryIndex struct {
	IndexName  string
	KeySchema  []KeySchemaElement
	Projection Projection
}

// StreamSpecification turns a table's stream on (StreamViewNewImage, …).
type StreamSpecification struct {
	StreamEnabled  bool
	StreamViewType string `json:",omitempty"`
}

// CreateTableInput is CreateTable's request.
type CreateTableInput struct {
	TableName              string
	AttributeDefinitions   []AttributeDefinition
	KeySchema              []KeySchemaElement
	GlobalSecondaryIndexes []GlobalSecondaryIndex `json:",omitempty"`
	BillingMode            string                 `json:",omitempty"`
	StreamSpecification    *StreamSpecification   `json:",omitempty"`
}

// IndexDescription is an index of a TableDescription.
type IndexDescription struct {
	IndexName   string
	IndexStatus string
	KeySchema   []KeySchemaElement
	Projection  *Projection
}

// TableDescription describes a table (CreateTable, DescribeTable,
// DeleteTable).
type TableDescription struct {
	TableName              string
	TableArn               string
	TableStatus            string
	KeySchema              []KeySchemaElement
	AttributeDefinitions   []AttributeDefinition
	GlobalSecondaryIndexes []IndexDescription
	StreamSpecification    *StreamSpecification
	LatestStreamArn        string
	ItemCount              int64
}

// CreateTableOutput is CreateTable's answer.
type CreateTableOutput struct {
	TableDescription *TableDescription
}

// DescribeTableInput is DescribeTable's request.
type DescribeTableInput struct {
	TableName string
}

// DescribeTableOutput is DescribeTable's answer.
type DescribeTableOutput struct {
	Table *TableDescription
}

// DeleteTableInput is DeleteTable's request.
type DeleteTableInput struct {
	TableName string
}

// DeleteTableOutput is DeleteTable's answer.
type DeleteTableOutput struct {
	TableDescription *TableDescription
}

// TimeToLiveSpecification turns TTL on (or off) for an attribute.
type TimeToLiveSpecification struct {
	AttributeName string
	Enabled       bool
}

// UpdateTimeToLiveInput is UpdateTimeToLive's request.
type UpdateTimeToLiveInput struct {
	TableName               string
	TimeToLiveSpecification TimeToLiveSpecification
}

// UpdateTimeToLiveOutput is UpdateTimeToLive's answer.
type UpdateTimeToLiveOutput struct {
	TimeToLiveSpecification *TimeToLiveSpecification
}

// The requests that can report their consumed capacity, and the answers
// that report it (Client's capacity observer).

func (in *GetItemInput) askCapacity()      { in.ReturnConsumedCapacity = ReturnConsumedCapacityTotal }
func (in *PutItemInput) askCapacity()      { in.ReturnConsumedCapacity = ReturnConsumedCapacityTotal }
func (in *DeleteItemInput) askCapacity()   { in.ReturnConsumedCapacity = ReturnConsumedCapacityTotal }
func (in *UpdateItemInput) askCapacity()   { in.ReturnConsumedCapacity = ReturnConsumedCapacityTotal }
func (in *QueryInput) askCapacity()        { in.ReturnConsumedCapacity = ReturnConsumedCapacityTotal }
func (in *BatchGetItemInput) askCapacity() { in.ReturnConsumedCapacity = ReturnConsumedCapacityTotal }
func (in *TransactWriteItemsInput) askCapacity() {
	in.ReturnConsumedCapacity = ReturnConsumedCapacityTotal
}

func one(c *ConsumedCapacity) []ConsumedCapacity {
	if c == nil {
		return nil
	}
	return []ConsumedCapacity{*c}
}

func (out *GetItemOutput) consumed() []ConsumedCapacity            { return one(out.ConsumedCapacity) }
func (out *PutItemOutput) consumed() []ConsumedCapacity            { return one(out.ConsumedCapacity) }
func (out *DeleteItemOutput) consumed() []ConsumedCapacity         { return one(out.ConsumedCapacity) }
func (out *UpdateItemOutput) consumed() []ConsumedCapacity         { return one(out.ConsumedCapacity) }
func (out *QueryOutput) consumed() []ConsumedCapacity              { return one(out.ConsumedCapacity) }
func (out *BatchGetItemOutput) consumed() []ConsumedCapacity       { return out.ConsumedCapacity }
func (out *TransactWriteItemsOutput) consumed() []ConsumedCapacity { return out.ConsumedCapacity }
