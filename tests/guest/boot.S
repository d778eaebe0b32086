/* SPDX-License-Identifier: GPL-2.0 */
/*
 * boot.S - multiboot (v1) entry of the COLO test guest.
 *
 * The loader (QEMU -kernel) enters in 32-bit protected mode, paging off,
 * interrupts off, flat segments. We only need a stack before calling C.
 */
#define MB_MAGIC	0x1BADB002
#define MB_FLAGS	0x00000000
	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.section .text
	.globl _start
_start:
	cli
	movl	$stack_top, %esp
	xorl	%ebp, %ebp
	pushl	%ebx			/* multiboot information */
	pushl	%eax			/* multiboot magic */
	call	guest_main
1:	hlt
	jmp	1b

	.section .bss
	.align 16
	.space	65536
stack_top:

	.section .note.GNU-stack, "", @progbits
