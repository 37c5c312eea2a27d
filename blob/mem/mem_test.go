package mem_test

import (
	"testing"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/blobtest"
	"github.com/safehold/safehold/blob/mem"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Backend { return mem.New(nil) })
}

func TestFaultyConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Backend { return blobtest.NewFaulty(mem.New(nil)) })
}
