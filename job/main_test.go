package job_test

import (
	"os"
	"testing"

	"github.com/safehold/safehold/internal/testsvc"
)

// TestMain stops the services (PostgreSQL, Azurite, S3) that the tests
// started themselves when .ci/services.sh did not provide them: without
// it, each run left a PostgreSQL cluster running, and its directory.
func TestMain(m *testing.M) { os.Exit(testsvc.Main(m)) }
