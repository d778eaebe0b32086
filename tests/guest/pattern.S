/* SPDX-License-Identifier: GPL-2.0 */
/* The stream pattern and its checksum table, made by gen-pattern.py. */
	.section .rodata
	.balign 64
	.globl svc_pattern
svc_pattern:
	.incbin "pattern.bin"
	.balign 4
	.globl svc_pattern_csum
svc_pattern_csum:
	.incbin "pattern-csum.bin"

	.section .note.GNU-stack, "", @progbits
