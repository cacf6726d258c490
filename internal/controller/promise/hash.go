package promise

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	fleetv1alpha1 "github.com/flotilla-dev/flotilla/api/v1alpha1"
)

// CanonicalJSON encodes content so that equal content always gives the same
// bytes: object keys sorted at every level (embedded schemas, values, example
// specs and fleet resources included), no insignificant whitespace, numbers
// kept exactly as written.
func CanonicalJSON(content *fleetv1alpha1.PromiseContent) ([]byte, error) {
	raw, err := json.Marshal(content)
	if err != nil {
		return nil, fmt.Errorf("encoding promise content: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decoding promise content: %w", err)
	}
	// encoding/json writes map keys sorted; json.Number is written as is.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encoding promise content: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// ContentHash is the hex SHA-256 of CanonicalJSON(content): what names a
// PromiseRevision. Only what renders is hashed, so policy changes (placement,
// updatePolicy, strategy, history limit, drift policy) make no revision.
func ContentHash(content *fleetv1alpha1.PromiseContent) (string, error) {
	b, err := CanonicalJSON(content)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
