package secretbox

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/modelreg/modelreg/shared/registry"
)

// kmsPrefix starts every sealed form of the KMS box.
const kmsPrefix = "kms:v1:"

// KMSAPI is the part of the KMS client the box uses.
type KMSAPI interface {
	Encrypt(ctx context.Context, in *kms.EncryptInput, optFns ...func(*kms.Options)) (*kms.EncryptOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// KMS is a registry.SecretBox that seals with KMS Encrypt under one
// symmetric key, the seal context of the call as the encryption context
// (so CloudTrail names the model and target of every Decrypt, and a
// ciphertext moved to another target does not decrypt). Secrets are at
// most 4 KB, within what Encrypt takes directly.
type KMS struct {
	client KMSAPI
	keyID  string
}

var _ registry.SecretBox = (*KMS)(nil)

// NewKMS returns a box sealing under keyID (a key id, ARN or alias).
func NewKMS(client KMSAPI, keyID string) (*KMS, error) {
	if keyID == "" {
		return nil, errors.New("secret box: a KMS key id is required")
	}
	return &KMS{client: client, keyID: keyID}, nil
}

// Seal encrypts secret: "kms:v1:" + base64url(ciphertext blob).
// Unavailable when KMS throttles or cannot be reached, Internal otherwise.
func (k *KMS) Seal(ctx context.Context, secret []byte) (string, error) {
	out, err := k.client.Encrypt(ctx, &kms.EncryptInput{
		KeyId: aws.String(k.keyID), Plaintext: secret, EncryptionContext: registry.SealContextFrom(ctx),
	})
	if err != nil {
		return "", kmsError(err, "seal the secret with KMS key %s", k.keyID)
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
	out, err := k.client.Decrypt(ctx, &kms.DecryptInput{
		KeyId: aws.String(k.keyID), CiphertextBlob: blob, EncryptionContext: registry.SealContextFrom(ctx),
	})
	if err != nil {
		var invalid *types.InvalidCiphertextException
		var incorrect *types.IncorrectKeyException
		var api smithy.APIError
		switch {
		case errors.As(err, &invalid), errors.As(err, &incorrect):
			bad.Err = err
			return nil, bad
		case errors.As(err, &api) && api.ErrorCode() == "AccessDeniedException":
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
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ThrottlingException", "KMSInternalException", "DependencyTimeoutException", "KeyUnavailableException":
			return registry.Wrap(registry.Unavailable, err, "%s: KMS is unavailable; retry", msg)
		case "DisabledException", "KMSInvalidStateException", "NotFoundException", "AccessDeniedException":
			return registry.Wrap(registry.Internal, err, "%s: %s", msg, api.ErrorCode())
		}
		return fmt.Errorf("%s: %w", msg, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return registry.Wrap(registry.Unavailable, err, "%s: cancelled", msg)
	}
	return registry.Wrap(registry.Unavailable, err, "%s: KMS cannot be reached; retry", msg)
}
