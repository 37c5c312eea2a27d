package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/pageblob"
	"github.com/safehold/safehold/sparse"
	"github.com/spf13/cobra"
)

const pageChunk = 4 << 20 // bytes per page-blob request (the service's maximum)

// diskRef is a resolved disk or snapshot.
type diskRef struct {
	Name, RG, ID string
	Snapshot     bool
	Size         int64
}

// diskRefOf is the diskRef of a listed disk or snapshot (size reads the
// size from its properties, which may be absent).
func diskRefOf[P any](id, name *string, props *P, size func(*P) *int64, snapshot bool) *diskRef {
	r := &diskRef{Name: str(name), RG: rgOf(str(id)), ID: str(id), Snapshot: snapshot}
	if props != nil && size(props) != nil {
		r.Size = *size(props)
	}
	return r
}

// diskRow and snapshotRow are findDisk's rows.
func diskRow(d *armcompute.Disk) (*diskRef, bool) {
	return diskRefOf(d.ID, d.Name, d.Properties, func(p *armcompute.DiskProperties) *int64 { return p.DiskSizeBytes }, false), true
}

func snapshotRow(d *armcompute.Snapshot) (*diskRef, bool) {
	return diskRefOf(d.ID, d.Name, d.Properties, func(p *armcompute.SnapshotProperties) *int64 { return p.DiskSizeBytes }, true), true
}

// findDisk resolves a disk or snapshot by id or name (rg narrows names).
func (s *session) findDisk(ref, rg string, snapshots bool) (*diskRef, error) {
	refs, err := listRows(s, armcompute.NewDisksClient, whole((*armcompute.DisksClient).NewListPager), diskRow)
	if err == nil && snapshots {
		var snaps []*diskRef
		snaps, err = listRows(s, armcompute.NewSnapshotsClient, whole((*armcompute.SnapshotsClient).NewListPager), snapshotRow)
		refs = append(refs, snaps...)
	}
	if err != nil {
		return nil, err
	}
	var hits []*diskRef
	for _, r := range refs {
		if strings.EqualFold(r.ID, ref) || strings.EqualFold(r.Name, ref) && (rg == "" || strings.EqualFold(r.RG, rg)) {
			hits = append(hits, r)
		}
	}
	switch len(hits) {
	case 0:
		return nil, nil
	case 1:
		return hits[0], nil
	}
	return nil, fmt.Errorf("%q names %d disks or snapshots; pass its id or --resource-group", ref, len(hits))
}

// grant opens a SAS on the disk or snapshot and returns a page-blob client
// and the function that revokes it.
func (s *session) grant(d *diskRef, access armcompute.AccessLevel) (*pageblob.Client, func() error, error) {
	data := armcompute.GrantAccessData{Access: to.Ptr(access), DurationInSeconds: to.Ptr[int32](3600)}
	var sas *string
	var revoke func() error
	var err error
	if d.Snapshot {
		sas, revoke, err = grantSAS(s, d, data, armcompute.NewSnapshotsClient, (*armcompute.SnapshotsClient).BeginGrantAccess, (*armcompute.SnapshotsClient).BeginRevokeAccess,
			func(r armcompute.SnapshotsClientGrantAccessResponse) *string { return r.AccessSAS })
	} else {
		sas, revoke, err = grantSAS(s, d, data, armcompute.NewDisksClient, (*armcompute.DisksClient).BeginGrantAccess, (*armcompute.DisksClient).BeginRevokeAccess,
			func(r armcompute.DisksClientGrantAccessResponse) *string { return r.AccessSAS })
	}
	if err != nil {
		return nil, nil, err
	}
	if sas == nil {
		revoke()
		return nil, nil, errors.New("the server granted access without a SAS URL")
	}
	hc, err := s.conn.HTTPClient()
	if err != nil {
		return nil, nil, err
	}
	pc, err := pageblob.NewClientWithNoCredential(*sas, &pageblob.ClientOptions{ClientOptions: policy.ClientOptions{Transport: hc}})
	if err != nil {
		revoke()
		return nil, nil, err
	}
	return pc, revoke, nil
}

// grantSAS runs a disk's or a snapshot's grant-access operation through
// the client newClient opens (grant and revoke are the client's
// BeginGrantAccess and BeginRevokeAccess; sasOf reads the SAS URL of the
// grant's answer) and returns the SAS URL with the function that revokes it.
func grantSAS[C, G, R, GO, RO any](s *session, d *diskRef, data armcompute.GrantAccessData,
	newClient func(string, azcore.TokenCredential, *arm.ClientOptions) (C, error),
	grant func(C, context.Context, string, string, armcompute.GrantAccessData, *GO) (*runtime.Poller[G], error),
	revoke func(C, context.Context, string, string, *RO) (*runtime.Poller[R], error),
	sasOf func(G) *string) (*string, func() error, error) {
	c, err := newClient(s.sub, s.cred, s.opts)
	if err != nil {
		return nil, nil, err
	}
	p, err := grant(c, s.ctx(), d.RG, d.Name, data, nil)
	res, err := pollDone(s, p, err)
	if err != nil {
		return nil, nil, err
	}
	return sasOf(res), func() error {
		// Also once the command is interrupted (its context canceled): the
		// access would otherwise stay granted for its hour.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx()), 2*time.Minute)
		defer cancel()
		p, err := revoke(c, ctx, d.RG, d.Name, nil)
		if err == nil {
			_, err = p.PollUntilDone(ctx, nil)
		}
		return s.explain(err)
	}, nil
}

type seekCloser struct{ io.ReadSeeker }

func (seekCloser) Close() error { return nil }

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// dataRanges lists the regions of f that may hold data (SEEK_DATA/SEEK_HOLE;
// the whole file when the file system cannot tell).
func dataRanges(f *os.File, size int64) [][2]int64 {
	rs, err := sparse.DataRanges[struct{ Off, Len int64 }](f, 0, size)
	if err != nil {
		return [][2]int64{{0, size}}
	}
	out := make([][2]int64, len(rs))
	for i, r := range rs {
		out[i] = [2]int64{r.Off, r.Off + r.Len}
	}
	return out
}

// upload writes a file into a disk through a write SAS: only the regions
// holding data are read (holes are skipped) and all-zero pages are cleared
// instead of written. On a disk that was just created nothing is done for
// zeros at all; on an existing one, what the disk holds outside the file's
// data regions (in the file's holes and past its end) is cleared, range by
// range from the disk's page ranges, so the disk ends equal to the file
// (zero-padded) without reading or sending the file's holes.
func (s *session) upload(file string, d *diskRef, fresh bool) (int64, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	if size > d.Size {
		return 0, fmt.Errorf("%s (%d bytes) is larger than disk %s (%d bytes): resize the disk or pick a larger one", file, size, d.Name, d.Size)
	}
	pc, revoke, err := s.grant(d, armcompute.AccessLevelWrite)
	if err != nil {
		return 0, err
	}
	ranges := dataRanges(f, size)
	for i, r := range ranges { // whole pages: the last one is written zero-padded
		ranges[i] = [2]int64{r[0] &^ 511, min((r[1]+511)&^511, d.Size)}
	}
	var stale [][2]int64 // what the disk holds outside the file's data
	if !fresh {
		held, err := s.pageRanges(pc)
		if err != nil {
			revoke()
			return 0, err
		}
		stale = subtractRanges(held, ranges)
	}
	var total int64
	for _, r := range ranges {
		total += r[1] - r[0]
	}
	for _, r := range stale {
		total += r[1] - r[0]
	}
	bar := s.newProgress("Upload "+d.Name, total, true)
	for _, r := range stale {
		if _, err := pc.ClearPages(s.ctx(), blob.HTTPRange{Offset: r[0], Count: r[1] - r[0]}, nil); err != nil {
			revoke()
			return 0, s.explain(err)
		}
		bar.add(r[1] - r[0])
	}
	buf := make([]byte, pageChunk)
	var written int64
	for _, r := range ranges {
		for off := r[0]; off < r[1]; off += pageChunk {
			n := min(pageChunk, r[1]-off)
			b := buf[:n]
			k, err := f.ReadAt(b, off)
			if err != nil && !errors.Is(err, io.EOF) {
				revoke()
				return 0, err
			}
			clear(b[k:]) // past the file's end: the last page's padding
			rng := blob.HTTPRange{Offset: off, Count: n}
			if allZero(b) {
				if !fresh {
					if _, err := pc.ClearPages(s.ctx(), rng, nil); err != nil {
						revoke()
						return 0, s.explain(err)
					}
				}
			} else {
				if _, err := pc.UploadPages(s.ctx(), seekCloser{bytes.NewReader(b)}, rng, nil); err != nil {
					revoke()
					return 0, s.explain(err)
				}
				written += n
			}
			bar.add(n)
		}
	}
	bar.finish()
	return written, revoke()
}

// subtractRanges is what of the sorted ranges in lies outside every one of
// the sorted ranges out ([start, end) pairs).
func subtractRanges(in, out [][2]int64) [][2]int64 {
	var res [][2]int64
	j := 0
	for _, r := range in {
		start := r[0]
		for j < len(out) && out[j][1] <= start {
			j++
		}
		for k := j; k < len(out) && out[k][0] < r[1]; k++ {
			if out[k][0] > start {
				res = append(res, [2]int64{start, out[k][0]})
			}
			start = max(start, out[k][1])
		}
		if start < r[1] {
			res = append(res, [2]int64{start, r[1]})
		}
	}
	return res
}

// pageRanges is the page blob's ranges that hold data, as [start, end)
// byte offsets.
func (s *session) pageRanges(pc *pageblob.Client) ([][2]int64, error) {
	var ranges [][2]int64
	err := eachPage(s, pc.NewGetPageRangesPager(nil), func(page pageblob.GetPageRangesResponse) {
		for _, r := range page.PageRange {
			if r != nil && r.Start != nil && r.End != nil {
				ranges = append(ranges, [2]int64{*r.Start, *r.End + 1})
			}
		}
	})
	return ranges, err
}

// download reads a disk or snapshot into a file through a read SAS: only
// its page ranges are fetched and all-zero pages are left as holes, so the
// file is as sparse as the disk. The bytes go to a temporary file next to
// file, renamed to it once complete: a download that fails or is
// interrupted leaves no file that looks whole (a full-size image with
// zeros where the rest was to go), and a file already there as it was.
func (s *session) download(d *diskRef, file string) (int64, error) {
	pc, revoke, err := s.grant(d, armcompute.AccessLevelRead)
	if err != nil {
		return 0, err
	}
	defer revoke()
	ranges, err := s.pageRanges(pc)
	if err != nil {
		return 0, err
	}
	out, err := createOutput(file)
	if err != nil {
		return 0, err
	}
	f := out.f
	fail := func(err error) (int64, error) {
		out.abort()
		return 0, err
	}
	// A regular file gets the disk's size and holes where it has no data; a
	// target that is no regular file (a block device, a pipe) is written
	// front to back, zeros included, so none of its old bytes stay and a
	// pipe takes it (neither truncates nor seeks).
	inPlace := out.tmp == ""
	var pos int64 // in place: how far the target is written
	zeroTo := func(end int64) error {
		for pos < end {
			n, err := f.Write(zeroPage[:min(int64(len(zeroPage)), end-pos)])
			pos += int64(n)
			if err != nil {
				return err
			}
		}
		return nil
	}
	if !inPlace {
		if err := f.Truncate(d.Size); err != nil {
			return fail(err)
		}
	}
	var total int64
	for _, r := range ranges {
		total += r[1] - r[0]
	}
	bar := s.newProgress("Download "+d.Name, total, true)
	var written int64
	for _, r := range ranges {
		for off := r[0]; off < r[1]; off += pageChunk {
			n := min(pageChunk, r[1]-off)
			resp, err := pc.DownloadStream(s.ctx(), &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: off, Count: n}})
			if err != nil {
				return fail(s.explain(err))
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return fail(err)
			}
			switch {
			case inPlace:
				if err := zeroTo(off); err != nil {
					return fail(err)
				}
				m, err := f.Write(b)
				pos += int64(m)
				if err != nil {
					return fail(err)
				}
				written += int64(m)
			case !allZero(b):
				if _, err := f.WriteAt(b, off); err != nil {
					return fail(err)
				}
				written += int64(len(b))
			}
			bar.add(n)
		}
	}
	if inPlace {
		if err := zeroTo(d.Size); err != nil {
			return fail(err)
		}
	}
	bar.finish()
	if err := out.commit(); err != nil {
		return 0, err
	}
	return written, revoke()
}

// zeroPage is the zeros a download writes into a target it cannot leave
// holes in.
var zeroPage = make([]byte, 1<<20)

// output is a download's file: a temporary file beside the target, renamed
// over it by commit. A target that exists and is not a regular file (a
// block device) is written in place.
type output struct {
	f          *os.File
	tmp, final string
}

func createOutput(file string) (*output, error) {
	final := file
	if p, err := filepath.EvalSymlinks(file); err == nil {
		final = p // the file a link names is replaced, not the link
	}
	if st, err := os.Stat(final); err == nil && !st.Mode().IsRegular() {
		f, err := os.OpenFile(final, os.O_WRONLY, 0)
		return &output{f: f, final: final}, err
	}
	dir, base := filepath.Split(final)
	for i := 0; ; i++ {
		tmp := filepath.Join(dir, fmt.Sprintf(".%s.%s.partial", base, rand.Text()[:8]))
		f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			return &output{f: f, tmp: tmp, final: final}, nil
		}
		if !errors.Is(err, fs.ErrExist) || i == 10 {
			return nil, err
		}
	}
}

// abort closes the file and removes the temporary one.
func (o *output) abort() {
	o.f.Close()
	if o.tmp != "" {
		os.Remove(o.tmp)
	}
}

// commit makes the file durable and gives it its name.
func (o *output) commit() error {
	err := o.f.Sync()
	if o.tmp == "" && errors.Is(err, syscall.EINVAL) {
		err = nil // a pipe or a character device: nothing to sync
	}
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	if err == nil && o.tmp != "" {
		err = os.Rename(o.tmp, o.final)
	}
	if err != nil && o.tmp != "" {
		os.Remove(o.tmp)
	}
	return err
}

type transfer struct {
	Disk         string `json:"disk"`
	File         string `json:"file"`
	Size         int64  `json:"size"`
	BytesWritten int64  `json:"bytesWritten"`
	Created      bool   `json:"created,omitempty"`
}

func newDiskCmd() *cobra.Command {
	o := &cliOpts{}
	var rg, location string
	cmd := &cobra.Command{Use: "disk", Short: "Move disk bytes through the SAS data plane (sparse-aware)"}
	addCLIFlags(cmd, o)
	up := &cobra.Command{Use: "upload FILE DISK", Short: "Write a raw image file into a disk (created with --resource-group when absent)", Args: cobra.ExactArgs(2),
		RunE: o.run(func(s *session, args []string) error {
			st, err := os.Stat(args[0])
			if err != nil {
				return fmt.Errorf("%s: %w: give the path of a raw disk image file", args[0], errors.Unwrap(err))
			}
			d, err := s.findDisk(args[1], rg, false)
			if err != nil {
				return err
			}
			created := false
			if d == nil {
				if rg == "" {
					return fmt.Errorf("no disk %q: pass --resource-group to create it, or name an existing disk (by name or id)", args[1])
				}
				gib := int32((st.Size() + 1<<30 - 1) >> 30)
				if d, err = s.createDisk(rg, args[1], location, max(gib, 1)); err != nil {
					return err
				}
				created = true
			}
			n, err := s.upload(args[0], d, created)
			if err != nil && s.ctx().Err() != nil {
				return fmt.Errorf("disk %s holds part of %s (upload it again): %w", d.Name, args[0], err)
			}
			if err != nil {
				return err
			}
			t := transfer{Disk: d.ID, File: args[0], Size: st.Size(), BytesWritten: n, Created: created}
			return renderOne(s, t, [][2]string{{"Disk", d.ID}, {"File", args[0]}, {"Size", fmt.Sprint(st.Size())}, {"BytesWritten", fmt.Sprint(n)}, {"Created", fmt.Sprint(created)}})
		})}
	up.Flags().StringVar(&rg, "resource-group", "", "the disk's resource group (narrows DISK; creates the disk there when absent)")
	up.Flags().StringVar(&location, "location", "westus", "location of a disk the upload creates")
	down := &cobra.Command{Use: "download DISK|SNAPSHOT FILE", Short: "Read a disk or snapshot into a sparse raw image file", Args: cobra.ExactArgs(2),
		RunE: o.run(func(s *session, args []string) error {
			d, err := s.findDisk(args[0], rg, true)
			if err != nil {
				return err
			}
			if d == nil {
				return fmt.Errorf("no disk or snapshot %q (see `az disk list` or pass its id)", args[0])
			}
			n, err := s.download(d, args[1])
			if err != nil && s.ctx().Err() != nil {
				return fmt.Errorf("download stopped; %s is as it was before: %w", args[1], err)
			}
			if err != nil {
				return err
			}
			t := transfer{Disk: d.ID, File: args[1], Size: d.Size, BytesWritten: n}
			return renderOne(s, t, [][2]string{{"Disk", d.ID}, {"File", args[1]}, {"Size", fmt.Sprint(d.Size)}, {"BytesWritten", fmt.Sprint(n)}})
		})}
	down.Flags().StringVar(&rg, "resource-group", "", "narrows DISK|SNAPSHOT to this resource group")
	cmd.AddCommand(up, down)
	return cmd
}

func (s *session) createDisk(rg, name, location string, gib int32) (*diskRef, error) {
	dc, err := armcompute.NewDisksClient(s.sub, s.cred, s.opts)
	if err != nil {
		return nil, err
	}
	p, err := dc.BeginCreateOrUpdate(s.ctx(), rg, name, armcompute.Disk{Location: to.Ptr(location), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionEmpty)}, DiskSizeGB: to.Ptr(gib)}}, nil)
	d, err := pollDone(s, p, err)
	if err != nil {
		return nil, err
	}
	return &diskRef{Name: name, RG: rg, ID: str(d.ID), Size: int64(gib) << 30}, nil
}
