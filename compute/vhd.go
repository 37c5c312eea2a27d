package compute

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/google/uuid"

	"github.com/safehold/safehold/accountblob"
	"github.com/safehold/safehold/failure"
)

// vhdEpoch is where a VHD footer's time stamp counts from.
var vhdEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// vhdFooter is the 512-byte footer of a fixed VHD of size bytes of data
// (Microsoft's VHD specification): Hyper-V's creator ("win "), whose size
// readers take from the footer rather than from the CHS geometry.
func vhdFooter(size int64, now time.Time, id uuid.UUID) []byte {
	f := make([]byte, 512)
	be := binary.BigEndian
	copy(f[0:], "conectix")
	be.PutUint32(f[8:], 2)           // features: reserved bit
	be.PutUint32(f[12:], 0x00010000) // format version 1.0
	be.PutUint64(f[16:], ^uint64(0)) // data offset: none (fixed)
	be.PutUint32(f[24:], uint32(now.Sub(vhdEpoch)/time.Second))
	copy(f[28:], "win ")               // creator application
	be.PutUint32(f[32:], 0x000a0000)   // creator version
	copy(f[36:], "Wi2k")               // creator host OS
	be.PutUint64(f[40:], uint64(size)) // original size
	be.PutUint64(f[48:], uint64(size)) // current size
	c, h, s := vhdGeometry(size)
	be.PutUint16(f[56:], c)
	f[58], f[59] = h, s
	be.PutUint32(f[60:], 2) // disk type: fixed
	copy(f[68:], id[:])
	var sum uint32
	for _, b := range f {
		sum += uint32(b)
	}
	be.PutUint32(f[64:], ^sum)
	return f
}

// vhdGeometry is the CHS geometry the VHD specification derives from a
// disk's size.
func vhdGeometry(size int64) (cylinders uint16, heads, sectors uint8) {
	total := size / 512
	total = min(total, 65535*16*255)
	var spt, hd, cth int64
	if total >= 65535*16*63 {
		spt, hd = 255, 16
		cth = total / spt
	} else {
		spt = 17
		cth = total / spt
		hd = max((cth+1023)/1024, 4)
		if cth >= hd*1024 || hd > 16 {
			spt, hd = 31, 16
			cth = total / spt
		}
		if cth >= hd*1024 {
			spt, hd = 63, 16
			cth = total / spt
		}
	}
	return uint16(cth / hd), uint8(hd), uint8(spt)
}

// BlobRef names a blob of one of Safehold's storage accounts.
type BlobRef struct{ Account, Container, Name string }

// ExportVHD writes disk id's bytes as a fixed VHD (its data, then the
// footer) into a page blob of a storage account, replacing a blob of that
// name (an export retried after a crash starts over) and creating the
// container when it does not exist. Only the disk's data is written: the
// blob stays as sparse as the disk.
func (s *Service) ExportVHD(ctx context.Context, id string, to BlobRef) error {
	blobs := s.opts.Blobs
	if blobs == nil {
		return failure.Invalidf("InvalidParameter", "This server keeps no storage-account blobs to export disk %s to.", id)
	}
	_, fz, release, err := s.frozenLiveDisk(ctx, id)
	if err != nil {
		return err
	}
	defer release()
	if err := blobs.EnsureContainer(ctx, to.Account, to.Container); err != nil {
		return err
	}
	if err := blobs.DeleteBlob(ctx, to.Account, to.Container, to.Name, nil); err != nil && !failure.Is(err, failure.NotFound) {
		return err
	}
	size := fz.Size()
	if _, err := blobs.CreatePageBlob(ctx, to.Account, to.Container, to.Name, size+512, accountblob.Props{}); err != nil {
		return err
	}
	b, err := blobs.Open(ctx, to.Account, to.Container, to.Name)
	if err != nil {
		return err
	}
	defer b.Close()
	rs, err := fz.DataRanges(0, size)
	if err != nil {
		return err
	}
	w := pageWriter{b}
	if err := copyRanges(w, fz, rs, size); err != nil {
		return err
	}
	if _, err := w.WriteAt(vhdFooter(size, s.now(), uuid.New()), size); err != nil {
		return err
	}
	return blobs.Touch(ctx, b)
}

// pageWriter writes pages of an open page blob.
type pageWriter struct{ b *accountblob.Blob }

func (w pageWriter) WriteAt(p []byte, off int64) (int, error) {
	if err := w.b.WritePages(p, off); err != nil {
		return 0, err
	}
	return len(p), nil
}
