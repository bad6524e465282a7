package dynamodb

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/modelreg/modelreg/shared/dynamodb/wire"
	"github.com/modelreg/modelreg/shared/registry"
)

// itemStructs are every struct of the stored format (checked against the
// package's source below), as zero values.
var itemStructs = []any{
	itemKeys{}, modelItem{}, renameAttr{}, policyAttr{}, metricRuleAttr{}, metricAttr{}, artifactAttr{},
	lineageAttr{}, versionItem{}, aliasItem{}, auditItem{}, approvalItem{}, decisionItem{}, checkItem{},
	executionItem{}, tagItem{}, uploadFileAttr{}, uploadItem{}, uploadPartsItem{}, deployTargetItem{},
	deploymentItem{}, processedItem{}, eventItem{}, idempotencyItem{},
}

// TestItemStructsListed: every struct with dynamodbav tags in the
// package's source is in itemStructs, so the codec tests cover it.
func TestItemStructsListed(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, v := range itemStructs {
		listed[reflect.TypeOf(v).Name()] = true
	}
	fset := token.NewFileSet()
	found := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return true
			}
			for _, fl := range st.Fields.List {
				if fl.Tag != nil && strings.Contains(fl.Tag.Value, "dynamodbav:") {
					found++
					if !listed[ts.Name.Name] {
						t.Errorf("%s: struct %s has dynamodbav tags but is not in itemStructs", f, ts.Name.Name)
					}
					break
				}
			}
			return true
		})
	}
	if found < 20 {
		t.Fatalf("found only %d tagged structs: the scan is broken", found)
	}
}

// fill returns a value of type t in one of three shapes: "full" (every
// field set, maps and slices with elements, one of them zero), "empty"
// (maps, slices and byte slices non-nil but empty, pointers to zero
// values) or "zero".
func fill(t reflect.Type, shape string, seed int) reflect.Value {
	v := reflect.New(t).Elem()
	fillInto(v, shape, seed)
	return v
}

// fillInto sets v (addressable) in place, so that the fields of embedded
// unexported structs (itemKeys) are set too.
func fillInto(v reflect.Value, shape string, seed int) {
	t := v.Type()
	if shape == "zero" {
		return
	}
	full := shape == "full"
	switch t.Kind() {
	case reflect.String:
		if full {
			v.SetString(fmt.Sprintf("s%d-ü\"\n", seed))
		}
	case reflect.Int, reflect.Int64:
		if full {
			v.SetInt(int64(seed*7 - 3))
		}
	case reflect.Bool:
		v.SetBool(full)
	case reflect.Pointer:
		v.Set(reflect.New(t.Elem()))
		v.Elem().Set(fill(t.Elem(), shape, seed+1))
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			b := []byte{}
			if full {
				b = []byte{0, 1, 2, byte(seed), 255}
			}
			v.Set(reflect.ValueOf(b).Convert(t))
			break
		}
		v.Set(reflect.MakeSlice(t, 0, 2))
		if full {
			v.Set(reflect.Append(v, fill(t.Elem(), "full", seed+1), fill(t.Elem(), "zero", seed+2)))
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(t))
		if full {
			v.SetMapIndex(reflect.ValueOf(fmt.Sprintf("k%d", seed)), fill(t.Elem(), "full", seed+1))
			v.SetMapIndex(reflect.ValueOf("zero"), fill(t.Elem(), "zero", seed+2))
		}
	case reflect.Struct:
		for i := range t.NumField() {
			fillInto(v.Field(i), shape, seed+i+1)
		}
	default:
		panic("fill: unexpected " + t.String())
	}
}

// fromSDK converts the SDK's attribute value to ours.
func fromSDK(t *testing.T, av types.AttributeValue) wire.AttributeValue {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return wire.S(v.Value)
	case *types.AttributeValueMemberN:
		return wire.N(v.Value)
	case *types.AttributeValueMemberB:
		return wire.B(v.Value)
	case *types.AttributeValueMemberBOOL:
		return wire.Bool(v.Value)
	case *types.AttributeValueMemberNULL:
		return wire.Null()
	case *types.AttributeValueMemberM:
		return wire.M(fromSDKItem(t, v.Value))
	case *types.AttributeValueMemberL:
		l := make([]wire.AttributeValue, len(v.Value))
		for i, e := range v.Value {
			l[i] = fromSDK(t, e)
		}
		return wire.L(l...)
	case *types.AttributeValueMemberSS:
		return wire.SS(v.Value...)
	case *types.AttributeValueMemberNS:
		return wire.NS(v.Value...)
	case *types.AttributeValueMemberBS:
		return wire.BS(v.Value...)
	}
	t.Fatalf("unexpected SDK attribute value %T", av)
	return wire.AttributeValue{}
}

func fromSDKItem(t *testing.T, m map[string]types.AttributeValue) wire.Item {
	out := wire.Item{}
	for k, v := range m {
		out[k] = fromSDK(t, v)
	}
	return out
}

// toSDK converts our attribute value to the SDK's.
func toSDK(t *testing.T, av wire.AttributeValue) types.AttributeValue {
	switch av.Type() {
	case wire.TypeS:
		s, _ := av.AsS()
		return &types.AttributeValueMemberS{Value: s}
	case wire.TypeN:
		n, _ := av.AsN()
		return &types.AttributeValueMemberN{Value: n}
	case wire.TypeB:
		b, _ := av.AsB()
		return &types.AttributeValueMemberB{Value: b}
	case wire.TypeBOOL:
		b, _ := av.AsBOOL()
		return &types.AttributeValueMemberBOOL{Value: b}
	case wire.TypeNULL:
		return &types.AttributeValueMemberNULL{Value: true}
	case wire.TypeM:
		m, _ := av.AsM()
		return &types.AttributeValueMemberM{Value: toSDKItem(t, m)}
	case wire.TypeL:
		l, _ := av.AsL()
		out := make([]types.AttributeValue, len(l))
		for i, e := range l {
			out[i] = toSDK(t, e)
		}
		return &types.AttributeValueMemberL{Value: out}
	}
	t.Fatalf("unexpected attribute value %s", av)
	return nil
}

func toSDKItem(t *testing.T, m wire.Item) map[string]types.AttributeValue {
	out := map[string]types.AttributeValue{}
	for k, v := range m {
		out[k] = toSDK(t, v)
	}
	return out
}

// checkEncoding: v encodes exactly as attributevalue encodes it; it
// returns both encodings.
func checkEncoding(t *testing.T, name string, v any) (wire.Item, map[string]types.AttributeValue) {
	t.Helper()
	ours, err := wire.MarshalMap(v)
	if err != nil {
		t.Fatalf("%s: wire.MarshalMap: %v", name, err)
	}
	sdk, err := attributevalue.MarshalMap(v)
	if err != nil {
		t.Fatalf("%s: attributevalue.MarshalMap: %v", name, err)
	}
	if want := fromSDKItem(t, sdk); !reflect.DeepEqual(ours, want) {
		t.Fatalf("%s: encodings differ:\n ours %s\n  sdk %s", name, wire.M(ours), wire.M(want))
	}
	return ours, sdk
}

// checkCodec: v encodes exactly as attributevalue encodes it, each
// encoding decodes with either codec to what the SDK decodes, and that is
// v again.
func checkCodec(t *testing.T, name string, v any) {
	t.Helper()
	ours, sdk := checkEncoding(t, name, v)
	typ := reflect.TypeOf(v)
	decode := func(what string, f func(out any) error) any {
		t.Helper()
		p := reflect.New(typ)
		if err := f(p.Interface()); err != nil {
			t.Fatalf("%s: %s: %v", name, what, err)
		}
		return p.Elem().Interface()
	}
	want := decode("SDK decodes SDK", func(out any) error { return attributevalue.UnmarshalMap(sdk, out) })
	for what, got := range map[string]any{
		"wire decodes wire": decode("wire decodes wire", func(out any) error { return wire.UnmarshalMap(ours, out) }),
		"SDK decodes wire":  decode("SDK decodes wire", func(out any) error { return attributevalue.UnmarshalMap(toSDKItem(t, ours), out) }),
	} {
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %s:\n  got %#v\n want %#v", name, what, got, want)
		}
	}
	if !reflect.DeepEqual(want, v) {
		t.Errorf("%s: does not round-trip:\n  got %#v\n want %#v", name, want, v)
	}
	// And through the JSON the item travels as.
	b, err := wire.M(ours).MarshalJSON()
	if err != nil {
		t.Fatalf("%s: JSON: %v", name, err)
	}
	var back wire.AttributeValue
	if err := back.UnmarshalJSON(b); err != nil || !reflect.DeepEqual(back, wire.M(ours)) {
		t.Errorf("%s: JSON round trip: %v\n  got %s\n want %s", name, err, back, b)
	}
}

// TestCodecMatchesSDK is the compatibility guarantee for stored items:
// every item struct, zero, empty and full, is encoded by wire exactly as
// aws-sdk-go-v2's attributevalue encodes it, and decodes the same.
func TestCodecMatchesSDK(t *testing.T) {
	for _, v := range itemStructs {
		typ := reflect.TypeOf(v)
		for _, shape := range []string{"zero", "empty", "full"} {
			checkCodec(t, typ.Name()+"/"+shape, fill(typ, shape, 1).Interface())
		}
	}
}

// TestCodecMatchesSDKOnRecords: the items the package writes for real
// records encode and decode as the SDK's.
func TestCodecMatchesSDKOnRecords(t *testing.T) {
	at := time.Date(2025, 6, 1, 12, 0, 0, 123, time.UTC)
	v := testVersion("m", 3)
	v.Tags = map[string]string{"team": "risk", "empty": ""}
	v.Metrics = map[string]registry.Metric{"auc": {Value: 0.91, Source: registry.SourceValidation, RecordedAt: at}}
	v.Params = map[string]string{}
	v.Lineage.Run.StartedAt = &at
	v.Lineage.Code.Commit = "abcdef0123"
	v.Artifacts = []registry.Artifact{{Path: "model.bin", Size: 10, SHA256: strings.Repeat("a", 64)}}
	m := registry.Model{Name: "m", Tags: map[string]string{}, CreatedAt: at, UpdatedAt: at, Revision: 2,
		Policy: registry.Policy{ApprovalsRequired: 1, Approvers: []string{}, Metrics: []registry.MetricRule{{Metric: "auc", Op: registry.OpGE, Value: 1e-300}}},
		Rename: &registry.RenameState{Phase: "copying", From: "m", To: "n", At: at}}
	a := registry.Approval{ID: "ap", Model: "m", Version: 3, Checks: []registry.PolicyCheck{}, Criteria: map[string]float64{"auc": 0.5},
		Decisions: []registry.ApprovalDecision{{By: "bob", Approve: true, At: at}}, CreatedAt: at, UpdatedAt: at, ExpiresAt: at, Revision: 1}
	e := registry.Execution{ID: "ex", Workflow: "promotion", Status: registry.ExecutionRunning, Input: []byte{}, Output: []byte(`{}`),
		StartedAt: at, UpdatedAt: at, TimeoutAt: at, Revision: 1}
	ev, err := toEventItem(registry.Event{ID: "e", Type: registry.EventStageChanged, Source: registry.EventSource, Time: at})
	if err != nil {
		t.Fatal(err)
	}
	for name, it := range map[string]any{
		"version": toVersionItem(v), "model": toModelItem(m), "approval": toApprovalItem(a), "execution": toExecutionItem(e),
		"event": ev, "audit": toAuditItem(registry.AuditEntry{ID: "h", Model: "m", Version: 3, Action: registry.ActionStageChanged,
			From: registry.StageNone, To: registry.StageStaging, Criteria: map[string]float64{}, At: at}),
		"idempotency": toIdempotencyItem(registry.IdempotencyRecord{Key: "k", Response: []byte("201\n{}"), CreatedAt: at, ExpiresAt: at}),
		"processed":   toProcessedItem(registry.ProcessedEvent{Consumer: "c", EventID: "e", ProcessedAt: at, ExpiresAt: at}),
	} {
		checkCodec(t, name, it)
	}
}

// TestCodecRefuses: what attributevalue would encode differently from
// what this package stores (times, unsupported tag options) is an error,
// not a silent difference.
func TestCodecRefuses(t *testing.T) {
	for name, v := range map[string]any{
		"time": struct{ At time.Time }{time.Now()},
		"stringset": struct {
			S []string `dynamodbav:"s,stringset"`
		}{[]string{"a"}},
		"empty key":    map[string]string{"": "x"},
		"chan":         struct{ C chan int }{make(chan int)},
		"not a struct": "x",
	} {
		if _, err := wire.MarshalMap(v); err == nil {
			t.Errorf("%s: MarshalMap(%#v) succeeded", name, v)
		}
	}
	var n struct{ N int8 }
	if err := wire.UnmarshalMap(wire.Item{"N": wire.N("300")}, &n); err == nil {
		t.Errorf("300 decoded into an int8: %d", n.N)
	}
	if err := wire.UnmarshalMap(wire.Item{"N": wire.S("x")}, &n); err == nil {
		t.Errorf("a string decoded into an int8")
	}
	if err := wire.UnmarshalMap(wire.Item{}, n); err == nil {
		t.Errorf("decoded into a non-pointer")
	}
}

// BenchmarkCodec: encoding and decoding a full version item with wire
// and with the SDK's attributevalue.
func BenchmarkCodec(b *testing.B) {
	v := fill(reflect.TypeFor[versionItem](), "full", 1).Interface().(versionItem)
	b.Run("wire", func(b *testing.B) {
		for b.Loop() {
			m, err := wire.MarshalMap(v)
			if err != nil {
				b.Fatal(err)
			}
			var out versionItem
			if err := wire.UnmarshalMap(m, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sdk", func(b *testing.B) {
		for b.Loop() {
			m, err := attributevalue.MarshalMap(v)
			if err != nil {
				b.Fatal(err)
			}
			var out versionItem
			if err := attributevalue.UnmarshalMap(m, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestCodecEmptyBinarySet: an empty (non-nil) [][]byte is NULL, as
// attributevalue encodes it by default (NullEmptySets): DynamoDB refuses
// an empty set, so BS [] would be a ValidationException.
func TestCodecEmptyBinarySet(t *testing.T) {
	for name, v := range map[string]any{
		"empty": struct{ BS [][]byte }{[][]byte{}},
		"one":   struct{ BS [][]byte }{[][]byte{{1}}},
		"list":  struct{ L []any }{[]any{[][]byte{}}},
	} {
		checkEncoding(t, name, v)
	}
}
