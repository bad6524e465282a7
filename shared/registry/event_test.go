package registry

import (
	"encoding/json"
	"testing"
	"time"
)

// TestEventContract pins the JSON of an event: the EventBridge envelope
// and the outbox record of the DynamoDB store. Records written before a
// change must still decode, and consumers match these names.
func TestEventContract(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 891011000, time.UTC)
	full := Event{ID: "E1", Type: EventStageChanged, Source: EventSource, Time: at, Detail: EventDetail{
		Model: "fraud_model", Version: 7, From: StageStaging, To: StageProduction, Actor: "anna", Reason: "approved",
		ApprovalID: "ap-1", Status: "APPROVED", Alias: "champion", Rollback: true, AuditID: "au-1",
	}}
	const fullJSON = `{"id":"E1","detail-type":"Model Version Stage Changed","source":"modelreg","time":"2026-03-04T05:06:07.891011Z",` +
		`"detail":{"model":"fraud_model","version":7,"from":"Staging","to":"Production","actor":"anna","reason":"approved",` +
		`"approval_id":"ap-1","status":"APPROVED","alias":"champion","rollback":true,"audit_id":"au-1"}}`
	bare := Event{ID: "E2", Type: EventVersionRegistered, Source: EventSource, Time: at, Detail: EventDetail{Model: "m"}}
	const bareJSON = `{"id":"E2","detail-type":"Model Version Registered","source":"modelreg","time":"2026-03-04T05:06:07.891011Z","detail":{"model":"m"}}`
	for _, c := range []struct {
		e    Event
		want string
	}{{full, fullJSON}, {bare, bareJSON}} {
		got, err := json.Marshal(c.e)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != c.want {
			t.Errorf("event JSON changed:\n got %s\nwant %s", got, c.want)
		}
		var back Event
		if err := json.Unmarshal([]byte(c.want), &back); err != nil {
			t.Fatal(err)
		}
		if back != c.e {
			t.Errorf("decoded %+v, want %+v", back, c.e)
		}
	}
}
