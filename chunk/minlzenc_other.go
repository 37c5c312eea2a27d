//go:build !amd64

package chunk

func encodeMinLZ64K(dst, src []byte, tmp *[16 << 10]byte) int { panic("chunk: no encodeMinLZ64K") }

var hasMinLZ64K = false
