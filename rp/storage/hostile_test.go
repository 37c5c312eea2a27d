package storage_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/safehold/safehold/internal/testserver"
)

// TestBlockIDLimits: a block id is base64 of 1 to 64 bytes, as Azure
// requires. A longer id (whose staged file name would exceed the file
// system's limit) or one that is not base64 is 400
// InvalidQueryParameterValue, never a 500, and leaves the blob as it was;
// an id of exactly 64 bytes stages and commits.
func TestBlockIDLimits(t *testing.T) {
	e := testserver.StartWithGroups(t, "stg")
	ctx := e.Ctx()
	endpoint, key, co := blobAccount(t, e, "stg", "ids1")
	client, err := azblob.NewClientFromConnectionString(fmt.Sprintf("DefaultEndpointsProtocol=https;AccountName=ids1;AccountKey=%s;BlobEndpoint=%s", key, endpoint),
		&azblob.ClientOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateContainer(ctx, "blocks", nil); err != nil {
		t.Fatal(err)
	}
	bbc := client.ServiceClient().NewContainerClient("blocks").NewBlockBlobClient("b.bin")
	if _, err := bbc.Upload(ctx, streaming([]byte("original")), nil); err != nil {
		t.Fatal(err)
	}
	for name, id := range map[string]string{
		"65 bytes":           base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'a'}, 65)),
		"1024 bytes":         base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'a'}, 1024)),
		"a 1024-char id":     strings.Repeat("QUFB", 256),
		"not base64":         "***",
		"base64 of nothing?": "=",
	} {
		_, err := bbc.StageBlock(ctx, id, streaming([]byte("block")), nil)
		wantCode(t, "stage a block whose id is "+name, err, 400, "InvalidQueryParameterValue")
	}
	if got := download(t, ctx, bbc.BlobClient(), nil); string(got) != "original" {
		t.Fatalf("the blob after refused blocks: %q", got)
	}
	id64 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'z'}, 64))
	if _, err := bbc.StageBlock(ctx, id64, streaming([]byte("sixty-four")), nil); err != nil {
		t.Fatalf("stage a block whose id has 64 bytes: %v", err)
	}
	if _, err := bbc.CommitBlockList(ctx, []string{id64}, nil); err != nil {
		t.Fatalf("commit it: %v", err)
	}
	if got := download(t, ctx, bbc.BlobClient(), nil); string(got) != "sixty-four" {
		t.Fatalf("the committed blob: %q", got)
	}
	if bl, err := bbc.GetBlockList(ctx, blockblob.BlockListTypeAll, nil); err != nil || len(bl.CommittedBlocks) != 1 || *bl.CommittedBlocks[0].Name != id64 {
		t.Fatalf("block list: %v", err)
	}
}
