package secretbox

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/modelreg/modelreg/shared/awsapi"
	"github.com/modelreg/modelreg/shared/registry"
)

// kmsPrefix starts every sealed form of the KMS box.
const kmsPrefix = "kms:v1:"

// Service is the KMS API (AWS JSON 1.1) the KMS box calls, for awsapi.New.
var Service = awsapi.Service{SigningName: "kms", EndpointPrefix: "kms", TargetPrefix: "TrentService", JSONVersion: "1.1", EnvName: "KMS"}

// The KMS requests and answers the box sends and reads; []byte fields are
// base64 in JSON, as KMS takes and gives its blobs.
type (
	kmsEncryptInput struct {
		KeyID             string            `json:"KeyId"`
		Plaintext         []byte            `json:"Plaintext"`
		EncryptionContext map[string]string `json:"EncryptionContext,omitempty"`
	}
	kmsEncryptOutput struct {
		CiphertextBlob []byte `json:"CiphertextBlob"`
	}
	kmsDecryptInput struct {
		KeyID             string            `json:"KeyId"`
		CiphertextBlob    []byte            `json:"CiphertextBlob"`
		EncryptionContext map[string]string `json:"EncryptionContext,omitempty"`
	}
	kmsDecryptOutput struct {
		Plaintext []byte `json:"Plaintext"`
	}
)

// KMS is a registry.SecretBox that seals with KMS Encrypt under one
// symmetric key, the seal context of the call as the encryption context
// (so CloudTrail names the model and target of every Decrypt, and a
// ciphertext moved to another target does not decrypt). Secrets are at
// most 4 KB, within what Encrypt takes directly.
type KMS struct {
	client *awsapi.Client
	keyID  string
}

var _ registry.SecretBox = (*KMS)(nil)

// NewKMS returns a box sealing under keyID (a key id, ARN or alias)
// through client, a client of Service.
func NewKMS(client *awsapi.Client, keyID string) (*KMS, error) {
	if keyID == "" {
		return nil, errors.New("secret box: a KMS key id is required")
	}
	if client == nil {
		return nil, errors.New("secret box: a KMS client is required")
	}
	return &KMS{client: client, keyID: keyID}, nil
}

// Seal encrypts secret: "kms:v1:" + base64url(ciphertext blob).
// Unavailable when KMS throttles or cannot be reached, Internal otherwise.
func (k *KMS) Seal(ctx context.Context, secret []byte) (string, error) {
	var out kmsEncryptOutput
	err := k.client.JSON(ctx, "Encrypt", kmsEncryptInput{KeyID: k.keyID, Plaintext: secret, EncryptionContext: registry.SealContextFrom(ctx)}, &out)
	if err != nil {
		return "", kmsError(err, "seal the secret with KMS key %s", k.keyID)
	}
	if len(out.CiphertextBlob) == 0 {
		return "", registry.Errorf(registry.Internal, "seal the secret with KMS key %s: KMS answered no ciphertext", k.keyID)
	}
	return kmsPrefix + base64.RawURLEncoding.EncodeToString(out.CiphertextBlob), nil
}

// Open decrypts what Seal returned, under the same seal context and key.
// Invalid if it was not sealed by this box for this context (or was
// altered); Unavailable when KMS throttles or cannot be reached.
func (k *KMS) Open(ctx context.Context, sealed string) ([]byte, error) {
	bad := registry.Errorf(registry.Invalid, "the sealed secret was not sealed by this registry's KMS key for this target (or was altered)")
	rest, ok := strings.CutPrefix(sealed, kmsPrefix)
	if !ok {
		return nil, bad
	}
	blob, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(blob) == 0 {
		return nil, bad
	}
	var out kmsDecryptOutput
	err = k.client.JSON(ctx, "Decrypt", kmsDecryptInput{KeyID: k.keyID, CiphertextBlob: blob, EncryptionContext: registry.SealContextFrom(ctx)}, &out)
	if err != nil {
		switch awsapi.Code(err) {
		case "InvalidCiphertextException", "IncorrectKeyException":
			bad.Err = err
			return nil, bad
		case "AccessDeniedException":
			// KMS answers so for a ciphertext under a key this caller
			// cannot use: another key's, or ours without kms:Decrypt.
			return nil, registry.Wrap(registry.Invalid, err, "the sealed secret was not sealed by this registry's KMS key %s, or the registry may not decrypt with it (kms:Decrypt)", k.keyID)
		}
		return nil, kmsError(err, "open the secret with KMS key %s", k.keyID)
	}
	return out.Plaintext, nil
}

// kmsError translates a KMS failure: throttling, an unavailable or
// disabled key, and transport errors are Unavailable; the rest Internal.
func kmsError(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	var api *awsapi.Error
	if errors.As(err, &api) {
		switch api.Code {
		case "ThrottlingException", "KMSInternalException", "DependencyTimeoutException", "KeyUnavailableException":
			return registry.Wrap(registry.Unavailable, err, "%s: KMS is unavailable; retry", msg)
		case "DisabledException", "KMSInvalidStateException", "NotFoundException", "AccessDeniedException":
			return registry.Wrap(registry.Internal, err, "%s: %s", msg, api.Code)
		}
		return fmt.Errorf("%s: %w", msg, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return registry.Wrap(registry.Unavailable, err, "%s: cancelled", msg)
	}
	return registry.Wrap(registry.Unavailable, err, "%s: KMS cannot be reached; retry", msg)
}
