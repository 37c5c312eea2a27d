package chunk

import (
	"encoding/hex"
	"fmt"
)

// ID names a chunk by the BLAKE3-256 hash of its plaintext (keyed with a
// key derived from the store key when the store is encrypted, so IDs do not
// reveal content). The zero ID is reserved: it names the all-zero block,
// which is never stored.
type ID [32]byte

// IsZero reports whether id is the reserved all-zero-block ID.
func (id ID) IsZero() bool { return id == ID{} }

// String returns the ID in lower-case hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 12 hex digits, for error messages.
func (id ID) Short() string { return hex.EncodeToString(id[:6]) }

// MarshalText implements encoding.TextMarshaler.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	p, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = p
	return nil
}

// ParseID parses a 64-digit hex ID.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 64 {
		return id, fmt.Errorf("parse chunk id %q: want 64 hex digits", s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("parse chunk id %q: %w", s, err)
	}
	return id, nil
}
