package nbd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"syscall"

	"github.com/safehold/safehold/volume"
)

type request struct {
	flags  uint16
	typ    uint16
	handle uint64
	off    uint64
	length uint32
}

// transmit serves requests until DISC or a protocol error. Requests are
// handled in order; each reply is flushed before the next request is read
// only when no further request is already buffered.
func (c *conn) transmit() error {
	var h [28]byte
	buf := make([]byte, 1<<20)
	for {
		if c.r.Buffered() == 0 {
			if err := c.w.Flush(); err != nil {
				return err
			}
		}
		if _, err := io.ReadFull(c.r, h[:]); err != nil {
			return err
		}
		if binary.BigEndian.Uint32(h[0:]) != requestMagic {
			return errors.New("bad request magic")
		}
		rq := request{flags: binary.BigEndian.Uint16(h[4:]), typ: binary.BigEndian.Uint16(h[6:]), handle: binary.BigEndian.Uint64(h[8:]),
			off: binary.BigEndian.Uint64(h[16:]), length: binary.BigEndian.Uint32(h[24:])}
		size := uint64(c.export.Size())
		inRange := rq.off <= size && uint64(rq.length) <= size-rq.off
		switch rq.typ {
		case cmdDisc:
			c.w.Flush()
			return c.export.Flush()
		case cmdWrite:
			if rq.length > MaxRequest {
				return fmt.Errorf("write of %d bytes exceeds the %d-byte maximum", rq.length, MaxRequest)
			}
			if int(rq.length) > len(buf) {
				buf = make([]byte, rq.length)
			}
			p := buf[:rq.length]
			if _, err := io.ReadFull(c.r, p); err != nil {
				return err
			}
			c.modify(rq, inRange, "write beyond the end of the export", func() error {
				_, err := c.export.WriteAt(p, int64(rq.off))
				return err
			})
		case cmdRead:
			if rq.length > MaxRequest {
				c.fail(rq, einval, "read larger than the maximum request size")
				continue
			}
			if !inRange {
				c.fail(rq, einval, "read beyond the end of the export")
				continue
			}
			if int(rq.length) > len(buf) {
				buf = make([]byte, rq.length)
			}
			p := buf[:rq.length]
			if _, err := c.export.ReadAt(p, int64(rq.off)); err != nil && err != io.EOF {
				c.fail(rq, errno(err), err.Error())
				continue
			}
			c.readReply(rq, p)
		case cmdFlush:
			c.done(rq, c.export.Flush())
		case cmdTrim, cmdWriteZeroes:
			c.modify(rq, inRange, "request beyond the end of the export", func() error {
				return c.export.Zero(int64(rq.off), int64(rq.length))
			})
		case cmdCache:
			if !inRange {
				c.fail(rq, einval, "request beyond the end of the export")
				continue
			}
			c.done(rq, nil)
		case cmdBlockStatus:
			if !c.structured || !c.allocation {
				c.fail(rq, einval, "BLOCK_STATUS needs structured replies and the base:allocation meta context")
				continue
			}
			if rq.length == 0 || !inRange {
				c.fail(rq, einval, "block status range is empty or beyond the end of the export")
				continue
			}
			c.blockStatus(rq)
		default:
			c.fail(rq, einval, fmt.Sprintf("unknown command %d", rq.typ))
		}
	}
}

func errno(err error) uint32 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, volume.ErrOutOfRange):
		return einval
	case errors.Is(err, volume.ErrClosed):
		return eshutdown
	case errors.Is(err, ErrAccessEnded):
		return eperm
	case errors.Is(err, syscall.ENOSPC): // the disk's image (or the store) is out of space
		return enospc
	}
	return eio
}

// modify answers rq, a request that changes the export: refused when the
// export is read-only (EPERM) or rq is not inRange (ENOSPC, beyond says
// so), else op runs, followed by a flush when rq asks for FUA.
func (c *conn) modify(rq request, inRange bool, beyond string, op func() error) {
	if readOnly(c.export) {
		c.fail(rq, eperm, "the export is read-only")
		return
	}
	if !inRange {
		c.fail(rq, enospc, beyond)
		return
	}
	err := op()
	if err == nil && rq.flags&cmdFlagFUA != 0 {
		err = c.export.Flush()
	}
	c.done(rq, err)
}

func (c *conn) done(rq request, err error) {
	if err != nil {
		c.fail(rq, errno(err), err.Error())
		return
	}
	if c.structured {
		c.chunk(rq.handle, replyFlagDone, replyTypeNone, nil)
		return
	}
	c.simple(rq.handle, 0)
}

func (c *conn) fail(rq request, code uint32, msg string) {
	if c.structured {
		if len(msg) > 4096 {
			msg = msg[:4096]
		}
		p := make([]byte, 6+len(msg))
		binary.BigEndian.PutUint32(p, code)
		binary.BigEndian.PutUint16(p[4:], uint16(len(msg)))
		copy(p[6:], msg)
		c.chunk(rq.handle, replyFlagDone, replyTypeError, p)
		return
	}
	c.simple(rq.handle, code)
}

func (c *conn) simple(handle uint64, code uint32) {
	var h [16]byte
	binary.BigEndian.PutUint32(h[0:], simpleMagic)
	binary.BigEndian.PutUint32(h[4:], code)
	binary.BigEndian.PutUint64(h[8:], handle)
	c.w.Write(h[:])
}

func (c *conn) chunk(handle uint64, flags, typ uint16, payload []byte) {
	c.chunkHeader(handle, flags, typ, len(payload))
	c.w.Write(payload)
}

func (c *conn) chunkHeader(handle uint64, flags, typ uint16, n int) {
	var h [20]byte
	binary.BigEndian.PutUint32(h[0:], structuredMagic)
	binary.BigEndian.PutUint16(h[4:], flags)
	binary.BigEndian.PutUint16(h[6:], typ)
	binary.BigEndian.PutUint64(h[8:], handle)
	binary.BigEndian.PutUint32(h[16:], uint32(n))
	c.w.Write(h[:])
}

func (c *conn) readReply(rq request, p []byte) {
	if !c.structured {
		c.simple(rq.handle, 0)
		c.w.Write(p)
		return
	}
	if len(p) == 0 {
		c.chunk(rq.handle, replyFlagDone, replyTypeNone, nil)
		return
	}
	c.chunkHeader(rq.handle, replyFlagDone, replyTypeOffsetData, 8+len(p))
	var off [8]byte
	binary.BigEndian.PutUint64(off[:], rq.off)
	c.w.Write(off[:])
	c.w.Write(p)
}

// blockStatus answers base:allocation: data extents (flags 0) and holes
// (hole and zero).
func (c *conn) blockStatus(rq request) {
	start, end := int64(rq.off), int64(rq.off)+int64(rq.length)
	data, err := c.export.DataRanges(start, end-start)
	if err != nil {
		c.fail(rq, eio, err.Error())
		return
	}
	var desc []byte
	add := func(n int64, flags uint32) {
		for n > 0 {
			k := min(n, 1<<31)
			var d [8]byte
			binary.BigEndian.PutUint32(d[0:], uint32(k))
			binary.BigEndian.PutUint32(d[4:], flags)
			desc = append(desc, d[:]...)
			n -= k
		}
	}
	pos := start
	for _, r := range data {
		s, e := max(r.Off, start), min(r.Off+r.Len, end)
		if s >= e {
			continue
		}
		if s > pos {
			add(s-pos, stateHole|stateZero)
		}
		add(e-s, 0)
		pos = e
	}
	if pos < end {
		add(end-pos, stateHole|stateZero)
	}
	if rq.flags&cmdFlagReqOne != 0 && len(desc) > 8 {
		desc = desc[:8]
	}
	p := make([]byte, 4+len(desc))
	binary.BigEndian.PutUint32(p, allocationID)
	copy(p[4:], desc)
	c.chunk(rq.handle, replyFlagDone, replyTypeBlockStat, p)
}
