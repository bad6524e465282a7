package wire

import (
	"encoding/json"
	"errors"

	"github.com/modelreg/modelreg/shared/awsapi"
)

// Error codes whose answers carry details this package parses.
const (
	CodeTransactionCanceled    = "TransactionCanceledException"
	CodeConditionalCheckFailed = "ConditionalCheckFailedException"
	CodeResourceNotFound       = "ResourceNotFoundException"
)

// CancellationReason is why one action of a cancelled transaction failed
// (Code "None" for the actions that did not). Item is the item as it was,
// when the action asked for it (ReturnValuesOnConditionCheckFailure
// ALL_OLD) and its condition failed.
type CancellationReason struct {
	Code    string
	Message string
	Item    Item
}

// TransactionCanceledError is a TransactionCanceledException: one reason
// per action, in the transaction's order. It unwraps to the *awsapi.Error.
type TransactionCanceledError struct {
	Err     *awsapi.Error
	Reasons []CancellationReason
}

func (e *TransactionCanceledError) Error() string { return e.Err.Error() }
func (e *TransactionCanceledError) Unwrap() error { return e.Err }

// ConditionalCheckFailedError is a single-item write's failed condition;
// Item is the item as it was, when the request asked for it. It unwraps
// to the *awsapi.Error.
type ConditionalCheckFailedError struct {
	Err  *awsapi.Error
	Item Item
}

func (e *ConditionalCheckFailedError) Error() string { return e.Err.Error() }
func (e *ConditionalCheckFailedError) Unwrap() error { return e.Err }

// typed returns err with the details of the codes above parsed from the
// answer's body. A body that does not parse (it is kept up to awsapi's
// limit) gives the error without them: no reasons, no item.
func typed(err error) error {
	var ae *awsapi.Error
	if err == nil || !errors.As(err, &ae) {
		return err
	}
	switch ae.Code {
	case CodeTransactionCanceled:
		var body struct{ CancellationReasons []CancellationReason }
		_ = json.Unmarshal(ae.Body, &body)
		return &TransactionCanceledError{Err: ae, Reasons: body.CancellationReasons}
	case CodeConditionalCheckFailed:
		var body struct{ Item Item }
		_ = json.Unmarshal(ae.Body, &body)
		return &ConditionalCheckFailedError{Err: ae, Item: body.Item}
	}
	return err
}
