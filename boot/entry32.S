/* 32-bit multiboot entry -> 64-bit long mode, then sv_main(magic, info).
 * Builds boot page tables that identity-map the first 4 GiB with 2 MiB pages
 * (the C++ side later builds its own map of all RAM). Enables SSE (CR4.OSFXSR,
 * OSXMMEXCPT) for the crypto code, which only runs inside a SimdGuard.
 * AMD APM vol. 2 §14.6 (enabling long mode); Intel SDM vol. 3A §9.8.5. */
#include "boot/long_mode.inc"

    .code32
    .section .text.boot, "ax"
    .global sv_entry32
sv_entry32:
    cli
    cld
    mov %eax, %edi                  /* multiboot magic: 1st argument */
    mov %ebx, %esi                  /* multiboot info pointer: 2nd argument */
    mov $sv_boot_stack_top, %esp

    /* PML4[0] -> PDPT; PDPT[0..3] -> four page directories of 2 MiB pages. */
    mov $boot_pdpt, %eax
    or $0x3, %eax
    mov %eax, boot_pml4
    xor %ecx, %ecx
1:  mov %ecx, %eax
    shl $12, %eax
    add $boot_pd, %eax
    or $0x3, %eax
    mov %eax, boot_pdpt(,%ecx,8)
    inc %ecx
    cmp $4, %ecx
    jne 1b
    xor %ecx, %ecx                  /* 2048 PDEs: 2 MiB each, present|write|PS */
2:  mov %ecx, %eax
    shl $21, %eax
    or $0x83, %eax
    mov %eax, boot_pd(,%ecx,8)
    mov %ecx, %eax
    shr $11, %eax                   /* bits 32+ of the address: ecx >> 11 */
    mov %eax, boot_pd+4(,%ecx,8)
    inc %ecx
    cmp $2048, %ecx
    jne 2b

    mov $boot_pml4, %eax
    mov %eax, %cr3
    lgdt boot_gdt_ptr
    ENTER_LONG_MODE sv_entry64

    .code64
sv_entry64:
    LOAD_DATA_SEGMENTS
    mov $sv_boot_stack_top, %rsp
    /* edi/esi still hold magic and info (zero-extended by the 32-bit moves). */
    mov %edi, %edi
    mov %esi, %esi
    call sv_main
3:  cli
    hlt
    jmp 3b

    /* Writable: the VT-x backend fills the TSS descriptor at 0x28 at run
     * time (its base is the address of a C++ object; virt/vmx). */
    .section .data
    .align 16
    .global sv_boot_gdt
sv_boot_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF        /* 0x08: 64-bit code */
    .quad 0x00CF92000000FFFF        /* 0x10: data */
    .quad 0x00CF9A000000FFFF        /* 0x18: 32-bit code (AP start-up) */
    .quad 0                         /* 0x20: unused */
    .quad 0, 0                      /* 0x28: 64-bit TSS (16 bytes), the host TR under VT-x */
boot_gdt_end:
    .global sv_boot_gdt_ptr
sv_boot_gdt_ptr:
boot_gdt_ptr:
    .short boot_gdt_end - sv_boot_gdt - 1
    .long sv_boot_gdt

    .section .bss
    .align 4096
boot_pml4: .skip 4096
boot_pdpt: .skip 4096
boot_pd:   .skip 4 * 4096
    .align 16
    .global sv_boot_stack_top
sv_boot_stack: .skip 64 * 1024
sv_boot_stack_top:
