//go:build !amd64

package chunk

// hasTree8: the eight-way code is amd64 assembly.
const hasTree8 = false

func hashF8(input *[8192]byte, length, counter uint64, flags uint32, key *[8]uint32, out *[64]uint32, chain *[8]uint32) {
	panic("hashF8 without its assembly")
}

func hashP8(left, right *[64]uint32, flags uint32, key *[8]uint32, out *[64]uint32, n int) {
	panic("hashP8 without its assembly")
}

var hasF16 = false

func hashF16(input *[16384]byte, counter uint64, flags uint32, key *[8]uint32, left, right *[64]uint32) {
	panic("hashF16 without its assembly")
}
