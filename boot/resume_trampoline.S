/* S3 resume entry (platform/suspend.hpp step 3). At the sleep request the BSP
 * copies the 16-bit blob between sv_resume_trampoline_start/_end to a
 * borrowed guest page below 1 MiB and stores that page's address in
 * FACS.firmware_waking_vector. On wake-up the firmware jumps there in real
 * mode with CS = page >> 4, IP = 0 (ACPI 6.4 §5.2.10). The blob switches to
 * protected mode with our boot GDT, the 32-bit code in the image enters long
 * mode on the hypervisor's own page tables (sv_resume_cr3, below 4 GiB) and
 * calls sv_resume_main on a fresh stack (sv_resume_stack): the stack the BSP
 * was on when it requested the sleep is abandoned. */
#include "boot/long_mode.inc"

    .section .rodata
    .code16
    .global sv_resume_trampoline_start, sv_resume_trampoline_end
sv_resume_trampoline_start:
    cli
    cld
    mov %cs, %ax
    mov %ax, %ds
    lgdtl (resume_gdtr - sv_resume_trampoline_start)
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x18, $sv_resume_entry32
    .align 4
resume_gdtr:                        /* filled in at the request: copy of sv_boot_gdt_ptr */
    .skip 6
sv_resume_trampoline_end:
    .global sv_resume_gdtr_offset
    .set sv_resume_gdtr_offset, resume_gdtr - sv_resume_trampoline_start

    .section .text.boot, "ax"
    .code32
sv_resume_entry32:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov sv_resume_cr3, %eax
    mov %eax, %cr3
    ENTER_LONG_MODE resume_entry64

    .code64
resume_entry64:
    LOAD_DATA_SEGMENTS
    mov sv_resume_stack(%rip), %rsp
    call sv_resume_main
1:  cli
    hlt
    jmp 1b

    .section .data
    .align 8
    .global sv_resume_cr3, sv_resume_stack
sv_resume_cr3:   .quad 0
sv_resume_stack: .quad 0
