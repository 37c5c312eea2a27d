package compute_test

import (
	"bytes"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/pageblob"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestClearPagesRefusesAChunkedBody: Put Page with x-ms-page-write clear
// takes no body; one sent chunked (no Content-Length) is 400
// InvalidHeaderValue as one with a Content-Length is, and the pages are
// not cleared.
func TestClearPagesRefusesAChunkedBody(t *testing.T) {
	e, _ := start(t)
	e.emptyDisk("d1", 1)
	w := e.grantDisk("d1", armcompute.AccessLevelWrite)
	data := bytes.Repeat([]byte{0x5c}, 4096)
	if err := e.writeSAS(w, 0, data); err != nil {
		t.Fatal(err)
	}
	hc, err := e.Conn.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	for name, cl := range map[string]int64{"chunked": -1, "with Content-Length": 512} {
		req, _ := http.NewRequest("PUT", w+"&comp=page", io.MultiReader(bytes.NewReader(make([]byte, 512))))
		req.ContentLength = cl
		req.Header.Set("x-ms-range", "bytes=0-4095")
		req.Header.Set("x-ms-page-write", "clear")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 || resp.Header.Get("x-ms-error-code") != "InvalidHeaderValue" {
			t.Errorf("clear pages with a body (%s): %d %s", name, resp.StatusCode, resp.Header.Get("x-ms-error-code"))
		}
	}
	if got := fixture.ReadPages(t, e.pageClient(w), 0, 4096); !bytes.Equal(got, data) {
		t.Fatal("a refused clear cleared the pages")
	}
}

// TestPutPageFromURLIsRefused: Put Page From URL (x-ms-copy-source, the
// SDK's UploadPagesFromURL) onto a disk's SAS is 400 UnsupportedHeader
// naming the header, and the disk is unchanged: it answered 400 "Content-
// Length 0 does not match the 512 bytes of the request", which a client
// sending no body cannot act on.
func TestPutPageFromURLIsRefused(t *testing.T) {
	e, ctx := start(t)
	e.emptyDisk("d1", 1)
	e.emptyDisk("src", 1)
	if err := e.writeSAS(e.grantDisk("src", armcompute.AccessLevelWrite), 0, bytes.Repeat([]byte{9}, 512)); err != nil {
		t.Fatal(err)
	}
	e.revokeDisk("src")
	e.snapshot("s1", "src", true)
	w := e.grantDisk("d1", armcompute.AccessLevelWrite)
	data := bytes.Repeat([]byte{0x5c}, 512)
	if err := e.writeSAS(w, 0, data); err != nil {
		t.Fatal(err)
	}
	_, err := e.pageClient(w).UploadPagesFromURL(ctx, e.grantSnapshot("s1"), 0, 0, 512, nil)
	if st, code := testserver.ErrorOf(err); st != 400 || code != "UnsupportedHeader" || !strings.Contains(err.Error(), "x-ms-copy-source") {
		t.Fatalf("Put Page From URL onto a disk: %v, want 400 UnsupportedHeader naming x-ms-copy-source", err)
	}
	if got := fixture.ReadPages(t, e.pageClient(w), 0, 512); !bytes.Equal(got, data) {
		t.Fatal("a refused Put Page From URL changed the disk")
	}
}

// TestPageWritesHonourConditions: a disk SAS honours the conditions the
// azblob page-blob client sends, as Azure Storage does: a page write with
// If-Match naming an ETag the disk no longer has, or a sequence-number
// condition its sequence number (0) fails, is 412 and writes nothing; a
// download with If-None-Match of the current ETag is 304; a write whose
// conditions hold lands.
func TestPageWritesHonourConditions(t *testing.T) {
	e, ctx := start(t)
	e.emptyDisk("d1", 1)
	pc := e.pageClient(e.grantDisk("d1", armcompute.AccessLevelWrite))
	props, err := pc.GetProperties(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	stale := *props.ETag
	time.Sleep(20 * time.Millisecond)
	first := bytes.Repeat([]byte{1}, 512)
	if err := fixture.WritePages(pc, 0, first); err != nil {
		t.Fatal(err)
	}
	up := func(o *pageblob.UploadPagesOptions) error {
		_, err := pc.UploadPages(ctx, streaming.NopCloser(bytes.NewReader(bytes.Repeat([]byte{2}, 512))), blob.HTTPRange{Offset: 0, Count: 512}, o)
		return err
	}
	for name, c := range map[string]struct {
		o    *pageblob.UploadPagesOptions
		code string
	}{
		"If-Match of a stale ETag": {&pageblob.UploadPagesOptions{AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &stale}}}, "ConditionNotMet"},
		"sequence number below 0":  {&pageblob.UploadPagesOptions{SequenceNumberAccessConditions: &pageblob.SequenceNumberAccessConditions{IfSequenceNumberLessThan: to.Ptr[int64](0)}}, "SequenceNumberConditionNotMet"},
		"sequence number 5":        {&pageblob.UploadPagesOptions{SequenceNumberAccessConditions: &pageblob.SequenceNumberAccessConditions{IfSequenceNumberEqualTo: to.Ptr[int64](5)}}, "SequenceNumberConditionNotMet"},
	} {
		if st, code := testserver.ErrorOf(up(c.o)); st != 412 || code != c.code {
			t.Errorf("%s: %d %s, want 412 %s", name, st, code, c.code)
		}
	}
	if got := fixture.ReadPages(t, pc, 0, 512); !bytes.Equal(got, first) {
		t.Fatal("a write whose condition failed landed")
	}
	props, err = pc.GetProperties(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The client takes a 304 for an answer: its error code says not modified.
	dl, err := pc.DownloadStream(ctx, &blob.DownloadStreamOptions{AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: props.ETag}}})
	if err == nil {
		dl.Body.Close()
	}
	if err != nil || dl.ErrorCode == nil || *dl.ErrorCode != "ConditionNotMet" {
		t.Errorf("download with If-None-Match of the current ETag: %v", err)
	}
	if err := up(&pageblob.UploadPagesOptions{AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: props.ETag}},
		SequenceNumberAccessConditions: &pageblob.SequenceNumberAccessConditions{IfSequenceNumberEqualTo: to.Ptr[int64](0)}}); err != nil {
		t.Fatalf("a write whose conditions hold: %v", err)
	}
	if got := fixture.ReadPages(t, pc, 0, 512); !bytes.Equal(got, bytes.Repeat([]byte{2}, 512)) {
		t.Fatal("the write whose conditions held did not land")
	}
}

// TestDiskSASRefusesALease: a disk's SAS keeps no leases, as Safehold's
// blob service keeps none: a page write, download or properties request
// naming one (x-ms-lease-id, which the azblob client sends from its lease
// access conditions) is 412 LeaseNotPresentWithBlobOperation, as Azure
// Storage answers on a blob without a lease, and writes nothing. Before,
// the disk's SAS ignored the header and wrote.
func TestDiskSASRefusesALease(t *testing.T) {
	e, ctx := start(t)
	e.emptyDisk("d1", 1)
	pc := e.pageClient(e.grantDisk("d1", armcompute.AccessLevelWrite))
	first := bytes.Repeat([]byte{1}, 512)
	if err := fixture.WritePages(pc, 0, first); err != nil {
		t.Fatal(err)
	}
	lease := &blob.LeaseAccessConditions{LeaseID: to.Ptr("e3a2f6c8-1b2d-4e5f-8a9b-0c1d2e3f4a5b")}
	_, err := pc.UploadPages(ctx, streaming.NopCloser(bytes.NewReader(bytes.Repeat([]byte{2}, 512))), blob.HTTPRange{Offset: 0, Count: 512},
		&pageblob.UploadPagesOptions{AccessConditions: &blob.AccessConditions{LeaseAccessConditions: lease}})
	if st, code := testserver.ErrorOf(err); st != 412 || code != "LeaseNotPresentWithBlobOperation" {
		t.Errorf("page write with a lease: %v", err)
	}
	if _, err := pc.GetProperties(ctx, &blob.GetPropertiesOptions{AccessConditions: &blob.AccessConditions{LeaseAccessConditions: lease}}); err == nil {
		t.Error("properties with a lease: no error")
	} else if st, code := testserver.ErrorOf(err); st != 412 || (code != "" && code != "LeaseNotPresentWithBlobOperation") {
		t.Errorf("properties with a lease: %v", err)
	}
	dl, err := pc.DownloadStream(ctx, &blob.DownloadStreamOptions{AccessConditions: &blob.AccessConditions{LeaseAccessConditions: lease}})
	if err == nil {
		dl.Body.Close()
	}
	if st, code := testserver.ErrorOf(err); st != 412 || code != "LeaseNotPresentWithBlobOperation" {
		t.Errorf("download with a lease: %v", err)
	}
	if got := fixture.ReadPages(t, pc, 0, 512); !bytes.Equal(got, first) {
		t.Fatal("the write naming a lease landed")
	}
}

// TestDiskSASServesNoBlobSnapshots: a disk's SAS addresses the disk only.
// A request for a blob snapshot or version of it (?snapshot=, ?versionid=:
// the azblob client's WithSnapshot, WithVersionID) is 404 BlobNotFound
// pointing at the snapshot's own accessSAS, as Safehold's blob service
// answers (ec9e7ad), and writes nothing: it was served as the live disk,
// so a download "of the snapshot" taken at the time of an earlier
// snapshot returned today's bytes, and a page write addressed to a
// snapshot (which Azure's are not open to) changed the disk.
func TestDiskSASServesNoBlobSnapshots(t *testing.T) {
	e, ctx := start(t)
	e.emptyDisk("d1", 1)
	w := e.grantDisk("d1", armcompute.AccessLevelWrite)
	if err := e.writeSAS(w, 0, bytes.Repeat([]byte{1}, 512)); err != nil {
		t.Fatal(err)
	}
	e.revokeDisk("d1")
	s1 := e.snapshot("s1", "d1", true)
	w = e.grantDisk("d1", armcompute.AccessLevelWrite)
	now := bytes.Repeat([]byte{2}, 512)
	if err := e.writeSAS(w, 0, now); err != nil {
		t.Fatal(err)
	}
	pc := e.pageClient(w)
	at := s1.Properties.TimeCreated.UTC().Format("2006-01-02T15:04:05.0000000Z")
	sc, err := pc.WithSnapshot(at)
	if err != nil {
		t.Fatal(err)
	}
	vc, err := pc.WithVersionID(at)
	if err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"properties of a snapshot": func() error { _, err := sc.GetProperties(ctx, nil); return err },
		"download of a snapshot": func() error {
			dl, err := sc.DownloadStream(ctx, &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: 0, Count: 512}})
			if err == nil {
				dl.Body.Close()
			}
			return err
		},
		"page ranges of a snapshot": func() error { _, err := sc.NewGetPageRangesPager(nil).NextPage(ctx); return err },
		"page write to a snapshot": func() error {
			_, err := sc.UploadPages(ctx, streaming.NopCloser(bytes.NewReader(bytes.Repeat([]byte{3}, 512))), blob.HTTPRange{Offset: 0, Count: 512}, nil)
			return err
		},
		"properties of a version": func() error { _, err := vc.GetProperties(ctx, nil); return err },
	} {
		if st, code := testserver.ErrorOf(call()); st != 404 || (code != "" && code != "BlobNotFound") {
			t.Errorf("%s: %d %s, want 404 BlobNotFound", name, st, code)
		}
	}
	if got := fixture.ReadPages(t, pc, 0, 512); !bytes.Equal(got, now) {
		t.Fatal("a page write addressed to a snapshot changed the disk")
	}
}

// TestCopyOfADiskBeingUploadedIsRefused: a disk awaiting its upload
// (ReadyToUpload) or being written through a Write SAS (ActiveUpload) is
// no source for a Copy, nor for an Import by its URL, as it is none for a
// snapshot or an image: 409 OperationNotAllowed naming its state, at once,
// and no disk is made. Both were accepted: a copy of a new Upload disk of
// a VHD's 1 GiB + 512 bytes made a disk of that odd size with nothing in
// it, and a copy taken mid-upload held whatever part had arrived. Once
// the upload ends (endGetAccess) the copy is made.
func TestCopyOfADiskBeingUploadedIsRefused(t *testing.T) {
	e, _ := start(t)
	e.putDisk("up", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionUpload), UploadSizeBytes: to.Ptr[int64](gib + 512)}}})
	e.emptyDisk("written", 1)
	w := e.grantDisk("written", armcompute.AccessLevelWrite)
	data := bytes.Repeat([]byte{0x7e}, 4096)
	if err := e.writeSAS(w, 0, data); err != nil {
		t.Fatal(err)
	}
	refused := func(name, src, state string, creation map[string]any) {
		t.Helper()
		body := map[string]any{"location": "westus", "properties": map[string]any{"creationData": creation}}
		resp, m := e.Do("PUT", e.diskID(name)+"?api-version=2024-03-02", body)
		msg, _ := testserver.Field(m, "error.message").(string)
		if resp.StatusCode != http.StatusConflict || testserver.ErrorCode(m) != "OperationNotAllowed" || !strings.Contains(msg, state) || !strings.Contains(msg, "'"+src+"'") {
			t.Fatalf("%s of disk %s (%s): want 409 OperationNotAllowed naming the disk and its state, got %d %v", creation["createOption"], src, state, resp.StatusCode, m)
		}
		if resp, _ := e.Do("GET", e.diskID(name)+"?api-version=2024-03-02", nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("disk %s exists after a refused %s: %d", name, creation["createOption"], resp.StatusCode)
		}
	}
	for src, state := range map[string]string{"up": "ReadyToUpload", "written": "ActiveUpload"} {
		refused("copy-"+src, src, state, map[string]any{"createOption": "Copy", "sourceResourceId": e.diskID(src)})
		refused("import-"+src, src, state, map[string]any{"createOption": "Import", "sourceUri": e.Conn.ARMEndpoint + e.diskID(src)})
	}
	e.revokeDisk("written")
	d := e.putDisk("copy-written", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.diskID("written"))}}})
	if *d.Properties.DiskSizeBytes != gib {
		t.Fatalf("copy after the upload ended: %d bytes, want %d", *d.Properties.DiskSizeBytes, gib)
	}
	r := e.grantDisk("copy-written", armcompute.AccessLevelRead)
	if got := fixture.ReadPages(t, e.pageClient(r), 0, 4096); !bytes.Equal(got, data) {
		t.Fatal("the copy made after the upload ended does not hold the uploaded bytes")
	}
}

// TestGrantAccessDurationIsAnInt32: beginGetAccess's durationInSeconds is
// an int32 in Azure's API; a larger value is 400 InvalidParameter naming
// the field and its limit, and the disk stays Unattached. It was taken as
// an int64 and multiplied into nanoseconds unchecked: 99999999999 s (3,170
// years) overflowed into a SAS expiring in 2273, 10000000000 s into a
// negative duration refused as "not a positive number of seconds". The
// largest int32 still grants access for that long.
func TestGrantAccessDurationIsAnInt32(t *testing.T) {
	e, _ := start(t)
	e.emptyDisk("d1", 1)
	for _, secs := range []int64{math.MaxInt32 + 1, 10000000000, 99999999999, math.MaxInt64} {
		resp, m := e.Do("POST", e.diskID("d1")+"/beginGetAccess?api-version=2024-03-02", map[string]any{"access": "Read", "durationInSeconds": secs})
		msg, _ := testserver.Field(m, "error.message").(string)
		if resp.StatusCode != http.StatusBadRequest || testserver.ErrorCode(m) != "InvalidParameter" || !strings.Contains(msg, "durationInSeconds") || !strings.Contains(msg, "2147483647") {
			t.Fatalf("durationInSeconds %d: want 400 InvalidParameter naming the field and its limit, got %d %v", secs, resp.StatusCode, m)
		}
		if d, err := e.disks.Get(e.Ctx(), e.rg, "d1", nil); err != nil || *d.Properties.DiskState != armcompute.DiskStateUnattached {
			t.Fatalf("durationInSeconds %d: disk after the refused grant: %v %v", secs, err, d.Properties)
		}
	}
	before := time.Now()
	resp, m := e.Do("POST", e.diskID("d1")+"/beginGetAccess?api-version=2024-03-02", map[string]any{"access": "Read", "durationInSeconds": math.MaxInt32})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("durationInSeconds %d: %d %v", math.MaxInt32, resp.StatusCode, m)
	}
	_, res := e.Do("GET", resp.Header.Get("Location"), nil)
	sas, _ := res["accessSAS"].(string)
	u, err := url.Parse(sas)
	if err != nil || sas == "" {
		t.Fatalf("grant result %v", res)
	}
	se, err := time.Parse(time.RFC3339, u.Query().Get("se"))
	want := before.Add(math.MaxInt32 * time.Second)
	if err != nil || se.Before(want.Add(-time.Minute)) || se.After(want.Add(10*time.Minute)) {
		t.Fatalf("SAS of %d seconds expires at %v (%v), want about %v", math.MaxInt32, se, err, want)
	}
}
