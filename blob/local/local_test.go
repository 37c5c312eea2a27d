package local_test

import (
	"testing"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/blobtest"
	"github.com/safehold/safehold/blob/local"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Backend {
		b, err := local.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}
