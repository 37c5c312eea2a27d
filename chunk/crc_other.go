//go:build !amd64

package chunk

import "hash/crc32"

// crc is CRC-32C of p (hash/crc32's, on this architecture).
func crc(p []byte) uint32 { return crc32.Checksum(p, castagnoli) }

// hasCRCFold: the folding code is amd64 assembly.
const hasCRCFold = false
