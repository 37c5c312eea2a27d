package vaultface

import (
	"errors"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/store"
)

// IsNotFound reports whether err says that what was read does not exist:
// the store's ErrNotFound or a 404 (a NotFound failure as ARM answers it).
func IsNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) || arm.IsNotFound(err) }
