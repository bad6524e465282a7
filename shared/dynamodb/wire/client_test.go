package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/testenv"
)

// recorder is an HTTP client that keeps the body of every request.
type recorder struct {
	mu     sync.Mutex
	bodies [][]byte
	next   awsapi.Doer
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	b, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(b))
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.mu.Unlock()
	return r.next.Do(req)
}

func (r *recorder) token(t *testing.T, i int) string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var in struct{ ClientRequestToken string }
	if err := json.Unmarshal(r.bodies[i], &in); err != nil {
		t.Fatal(err)
	}
	return in.ClientRequestToken
}

func client(t *testing.T, endpoint string, rec *recorder) *Client {
	t.Helper()
	cfg := awsapi.Config{Region: "us-east-1", Credentials: awsapi.StaticCredentials("local", "local", "")}
	if rec != nil {
		rec.next = http.DefaultClient
		cfg.HTTP = rec
	}
	api, err := awsapi.New(cfg, Service, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return New(api)
}

// TestTokenSurvivesRetry: a transaction without a ClientRequestToken gets
// a random one, the same on awsapi's retry of it (so DynamoDB recognises
// the retry), another on the next call; the caller's input is not changed.
func TestTokenSurvivesRetry(t *testing.T) {
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		if calls == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"try again"}`)
			return
		}
		fmt.Fprint(w, `{}`)
	}))
	defer srv.Close()
	rec := &recorder{}
	c := client(t, srv.URL, rec)
	in := &TransactWriteItemsInput{TransactItems: []TransactWriteItem{{Put: &Put{TableName: "t", Item: Item{"pk": S("a")}}}}}
	for range 2 {
		if _, err := c.TransactWriteItems(t.Context(), in); err != nil {
			t.Fatal(err)
		}
	}
	if len(rec.bodies) != 3 {
		t.Fatalf("%d requests, want 3 (a retry, then one more call)", len(rec.bodies))
	}
	first, retry, second := rec.token(t, 0), rec.token(t, 1), rec.token(t, 2)
	if first == "" || first != retry || second == first || len(first) > 36 {
		t.Errorf("tokens %q, %q (retry), %q: want one token per call, at most 36 characters, kept by the retry", first, retry, second)
	}
	if in.ClientRequestToken != "" {
		t.Errorf("the input was changed: token %q", in.ClientRequestToken)
	}
	in.ClientRequestToken = "mine"
	if _, err := c.TransactWriteItems(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	if got := rec.token(t, 3); got != "mine" {
		t.Errorf("sent token %q, want the caller's", got)
	}
}

// localTable returns a client of DynamoDB Local and a fresh table keyed
// by pk (S), deleted at the end.
func localTable(t *testing.T, rec *recorder) (*Client, string) {
	t.Helper()
	ep := os.Getenv("MODELREG_DYNAMODB_ENDPOINT")
	if ep == "" {
		testenv.Missing(t, "MODELREG_DYNAMODB_ENDPOINT is not set: start scripts/test.d/dynamodb-local.sh and export the line it prints", "the DynamoDB wire tests")
	}
	c := client(t, ep, rec)
	table := fmt.Sprintf("wire-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	_, err := c.CreateTable(t.Context(), &CreateTableInput{TableName: table, BillingMode: BillingPayPerRequest,
		AttributeDefinitions: []AttributeDefinition{{AttributeName: "pk", AttributeType: ScalarTypeS}},
		KeySchema:            []KeySchemaElement{{AttributeName: "pk", KeyType: KeyTypeHash}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.DeleteTable(t.Context(), &DeleteTableInput{TableName: table}) })
	for {
		d, err := c.DescribeTable(t.Context(), &DescribeTableInput{TableName: table})
		if err != nil {
			t.Fatal(err)
		}
		if d.Table.TableStatus == TableStatusActive {
			return c, table
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCancellationReasons: DynamoDB's reasons for a cancelled transaction
// come back one per action, in order, with the old item of a failed
// condition that asked for it; the error keeps its code.
func TestCancellationReasons(t *testing.T) {
	rec := &recorder{}
	c, table := localTable(t, rec)
	old := Item{"pk": S("a"), "rev": Int(1), "tags": M(nil), "list": L(), "bin": B([]byte{1, 2})}
	if _, err := c.PutItem(t.Context(), &PutItemInput{TableName: table, Item: old}); err != nil {
		t.Fatal(err)
	}
	_, err := c.TransactWriteItems(t.Context(), &TransactWriteItemsInput{TransactItems: []TransactWriteItem{
		{Put: &Put{TableName: table, Item: Item{"pk": S("b")}, ConditionExpression: "attribute_not_exists(pk)"}},
		{Put: &Put{TableName: table, Item: Item{"pk": S("a"), "rev": Int(3)}, ConditionExpression: "rev = :r",
			ExpressionAttributeValues: Item{":r": Int(2)}, ReturnValuesOnConditionCheckFailure: ReturnValuesAllOld}},
	}})
	var tce *TransactionCanceledError
	if !errors.As(err, &tce) {
		t.Fatalf("TransactWriteItems: %v, want a TransactionCanceledError", err)
	}
	if awsapi.Code(err) != CodeTransactionCanceled {
		t.Errorf("code %q", awsapi.Code(err))
	}
	if len(tce.Reasons) != 2 || tce.Reasons[0].Code != "None" || tce.Reasons[1].Code != "ConditionalCheckFailed" {
		t.Fatalf("reasons %+v, want None, ConditionalCheckFailed", tce.Reasons)
	}
	if !reflect.DeepEqual(tce.Reasons[1].Item, old) {
		t.Errorf("old item %v, want %v", M(tce.Reasons[1].Item), M(old))
	}
	if rec.token(t, len(rec.bodies)-1) == "" {
		t.Error("the transaction was sent without a ClientRequestToken")
	}
	got, err := c.GetItem(t.Context(), &GetItemInput{TableName: table, Key: Item{"pk": S("b")}, ConsistentRead: true})
	if err != nil || got.Item != nil {
		t.Errorf("the cancelled transaction wrote b: %v, %v", got, err)
	}

	// A single write's failed condition carries the old item too.
	_, err = c.DeleteItem(t.Context(), &DeleteItemInput{TableName: table, Key: Item{"pk": S("a")}, ConditionExpression: "rev = :r",
		ExpressionAttributeValues: Item{":r": Int(2)}, ReturnValuesOnConditionCheckFailure: ReturnValuesAllOld})
	var ccf *ConditionalCheckFailedError
	if !errors.As(err, &ccf) || !reflect.DeepEqual(ccf.Item, old) {
		t.Fatalf("DeleteItem: %v (item %v), want a ConditionalCheckFailedError with %v", err, ccf, M(old))
	}
}

// TestItemOperations: what PutItem writes, GetItem, Query and
// BatchGetItem read back as it was; UpdateItem changes it.
func TestItemOperations(t *testing.T) {
	c, table := localTable(t, nil)
	it := Item{"pk": S("x"), "n": N("1.5"), "b": B([]byte{}), "ok": Bool(true), "nil": Null(),
		"m": M(Item{"in": L(S(""), M(nil))}), "ss": SS("a", "b"), "ns": NS("1", "2"), "bs": BS([]byte("z"))}
	if _, err := c.PutItem(t.Context(), &PutItemInput{TableName: table, Item: it}); err != nil {
		t.Fatal(err)
	}
	g, err := c.GetItem(t.Context(), &GetItemInput{TableName: table, Key: Item{"pk": S("x")}, ConsistentRead: true})
	if err != nil || !reflect.DeepEqual(g.Item, it) {
		t.Fatalf("GetItem = %v, %v; want %v", M(g.Item), err, M(it))
	}
	q, err := c.Query(t.Context(), &QueryInput{TableName: table, KeyConditionExpression: "pk = :p",
		ExpressionAttributeValues: Item{":p": S("x")}, ScanIndexForward: new(false), Limit: 5})
	if err != nil || len(q.Items) != 1 || !reflect.DeepEqual(q.Items[0], it) || q.LastEvaluatedKey != nil {
		t.Fatalf("Query = %+v, %v", q, err)
	}
	bg, err := c.BatchGetItem(t.Context(), &BatchGetItemInput{RequestItems: map[string]KeysAndAttributes{
		table: {Keys: []Item{{"pk": S("x")}, {"pk": S("absent")}}, ConsistentRead: true}}})
	if err != nil || len(bg.Responses[table]) != 1 || !reflect.DeepEqual(bg.Responses[table][0], it) || len(bg.UnprocessedKeys) != 0 {
		t.Fatalf("BatchGetItem = %+v, %v", bg, err)
	}
	_, err = c.UpdateItem(t.Context(), &UpdateItemInput{TableName: table, Key: Item{"pk": S("x")}, UpdateExpression: "SET #n = :n",
		ExpressionAttributeNames: map[string]string{"#n": "n"}, ExpressionAttributeValues: Item{":n": Int(2)}})
	if err != nil {
		t.Fatal(err)
	}
	g, err = c.GetItem(t.Context(), &GetItemInput{TableName: table, Key: Item{"pk": S("x")}, ConsistentRead: true})
	if n, _ := g.Item["n"].AsN(); err != nil || n != "2" {
		t.Fatalf("after UpdateItem n = %v, %v", g.Item["n"], err)
	}
	_, err = c.DescribeTable(t.Context(), &DescribeTableInput{TableName: table + "-absent"})
	if !awsapi.IsCode(err, CodeResourceNotFound) {
		t.Errorf("DescribeTable of a missing table: %v", err)
	}
}
