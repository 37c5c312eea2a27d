//go:build amd64

// crc32cFold: CRC-32C (Castagnoli) of a run of 16-byte blocks by carry-less
// multiplication (VPCLMULQDQ on 512-bit registers), the folding of Intel's
// white paper "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ
// Instruction" (2009) on the bit-reflected polynomial, with four 512-bit
// accumulators so that the multiplications of a 256-byte step do not wait
// on each other, then one, then the 128-bit tail and the paper's Barrett
// reduction. The constants (crcFoldK, computed from the polynomial in
// crc_amd64.go) are passed in.

#include "textflag.h"

// func crc32cFold(crc uint32, p []byte, k *[10]uint64) uint32
// crc is the inverted running CRC (as hash/crc32's kernels take it); len(p)
// is at least 256 and a multiple of 16.
TEXT ·crc32cFold(SB), NOSPLIT, $0-44
	MOVL crc+0(FP), AX
	MOVQ p_base+8(FP), SI
	MOVQ p_len+16(FP), CX
	MOVQ k+32(FP), DX

	VMOVDQU64 0(SI), Z0
	VMOVDQU64 64(SI), Z1
	VMOVDQU64 128(SI), Z2
	VMOVDQU64 192(SI), Z3
	VMOVD     AX, X4           // zero-extends to Z4
	VPXORQ    Z4, Z0, Z0       // the running CRC into the first 4 bytes
	ADDQ      $256, SI
	SUBQ      $256, CX

	VBROADCASTI32X4 0(DX), Z8 // fold by 256 bytes: x^(2048+32), x^(2048-32)

loop256:
	CMPQ CX, $256
	JB   fold4
	VMOVDQU64  0(SI), Z4
	VMOVDQU64  64(SI), Z5
	VMOVDQU64  128(SI), Z6
	VMOVDQU64  192(SI), Z7
	VPCLMULQDQ $0x00, Z8, Z0, Z9
	VPCLMULQDQ $0x11, Z8, Z0, Z0
	VPCLMULQDQ $0x00, Z8, Z1, Z10
	VPCLMULQDQ $0x11, Z8, Z1, Z1
	VPCLMULQDQ $0x00, Z8, Z2, Z11
	VPCLMULQDQ $0x11, Z8, Z2, Z2
	VPCLMULQDQ $0x00, Z8, Z3, Z12
	VPCLMULQDQ $0x11, Z8, Z3, Z3
	VPTERNLOGD $0x96, Z9, Z4, Z0  // Z0 ^= Z9 ^ Z4
	VPTERNLOGD $0x96, Z10, Z5, Z1
	VPTERNLOGD $0x96, Z11, Z6, Z2
	VPTERNLOGD $0x96, Z12, Z7, Z3
	ADDQ       $256, SI
	SUBQ       $256, CX
	JMP        loop256

fold4:
	// Four accumulators into one, each folded 64 bytes onto the next.
	VBROADCASTI32X4 16(DX), Z8 // fold by 64 bytes: x^(512+32), x^(512-32)
	VPCLMULQDQ      $0x00, Z8, Z0, Z9
	VPCLMULQDQ      $0x11, Z8, Z0, Z0
	VPTERNLOGD      $0x96, Z9, Z1, Z0
	VPCLMULQDQ      $0x00, Z8, Z0, Z9
	VPCLMULQDQ      $0x11, Z8, Z0, Z0
	VPTERNLOGD      $0x96, Z9, Z2, Z0
	VPCLMULQDQ      $0x00, Z8, Z0, Z9
	VPCLMULQDQ      $0x11, Z8, Z0, Z0
	VPTERNLOGD      $0x96, Z9, Z3, Z0

loop64:
	CMPQ       CX, $64
	JB         fold1
	VMOVDQU64  0(SI), Z4
	VPCLMULQDQ $0x00, Z8, Z0, Z9
	VPCLMULQDQ $0x11, Z8, Z0, Z0
	VPTERNLOGD $0x96, Z9, Z4, Z0
	ADDQ       $64, SI
	SUBQ       $64, CX
	JMP        loop64

fold1:
	// The four 128-bit lanes into one, each folded 16 bytes onto the next.
	VMOVDQU       32(DX), X8 // fold by 16 bytes: x^(128+32), x^(128-32)
	VEXTRACTI32X4 $1, Z0, X1
	VEXTRACTI32X4 $2, Z0, X2
	VEXTRACTI32X4 $3, Z0, X3
	VPCLMULQDQ    $0x00, X8, X0, X9
	VPCLMULQDQ    $0x11, X8, X0, X0
	VPTERNLOGD    $0x96, X9, X1, X0
	VPCLMULQDQ    $0x00, X8, X0, X9
	VPCLMULQDQ    $0x11, X8, X0, X0
	VPTERNLOGD    $0x96, X9, X2, X0
	VPCLMULQDQ    $0x00, X8, X0, X9
	VPCLMULQDQ    $0x11, X8, X0, X0
	VPTERNLOGD    $0x96, X9, X3, X0

loop16:
	CMPQ       CX, $16
	JB         reduce
	VMOVDQU    0(SI), X4
	VPCLMULQDQ $0x00, X8, X0, X9
	VPCLMULQDQ $0x11, X8, X0, X0
	VPTERNLOGD $0x96, X9, X4, X0
	ADDQ       $16, SI
	SUBQ       $16, CX
	JMP        loop16

reduce:
	// 128 bits to 64: the low half times x^(128-32), onto the high half.
	VPCLMULQDQ $0x10, X8, X0, X1
	VPSRLDQ    $8, X0, X0
	VPXOR      X1, X0, X0

	// 64 bits to 32: the low 32 bits times x^64, onto the rest.
	VPCMPEQB   X3, X3, X3
	VPSRLQ     $32, X3, X3 // the low 32 bits of each quadword
	VPSRLDQ    $4, X0, X2
	VPAND      X3, X0, X0
	VMOVQ      48(DX), X4  // x^64
	VPCLMULQDQ $0x00, X4, X0, X0
	VPXOR      X2, X0, X0

	// Barrett reduction to the 32-bit remainder.
	VMOVDQU    64(DX), X4  // P' (low), mu (high)
	VPAND      X3, X0, X1
	VPCLMULQDQ $0x10, X4, X1, X1
	VPAND      X3, X1, X1
	VPCLMULQDQ $0x00, X4, X1, X1
	VPXOR      X0, X1, X1
	VPEXTRD    $1, X1, AX
	MOVL       AX, ret+40(FP)
	VZEROUPPER
	RET
