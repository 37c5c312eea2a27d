package main

import (
	"os"
	"testing"

	"github.com/safehold/safehold/internal/testsvc"
)

// TestMain stops the services (PostgreSQL, Azurite, S3) that the tests
// started themselves when .ci/services.sh did not provide them.
func TestMain(m *testing.M) { os.Exit(testsvc.Main(m)) }
