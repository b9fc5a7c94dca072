/* Application processor start-up. The BSP copies the 16-bit blob between
 * sv_ap_trampoline_start/_end to a free page below 1 MiB and sends
 * INIT-STARTUP-STARTUP with that page as the vector (Intel SDM vol. 3A
 * §8.4.4.1). The AP switches to protected mode with our boot GDT, then the
 * 32-bit code in the image enters long mode on the BSP's page tables
 * (sv_ap_cr3, below 4 GiB) and calls sv_ap_main on the stack in sv_ap_stack.
 * One AP starts at a time, so these variables are not contended. */
#include "boot/long_mode.inc"

    .section .rodata
    .code16
    .global sv_ap_trampoline_start, sv_ap_trampoline_end
sv_ap_trampoline_start:
    cli
    cld
    mov %cs, %ax
    mov %ax, %ds
    lgdtl (ap_gdtr - sv_ap_trampoline_start)
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x18, $sv_ap_entry32
    .align 4
ap_gdtr:                            /* filled in by the BSP: copy of sv_boot_gdt_ptr */
    .skip 6
sv_ap_trampoline_end:
    .global sv_ap_gdtr_offset
    .set sv_ap_gdtr_offset, ap_gdtr - sv_ap_trampoline_start

    .section .text.boot, "ax"
    .code32
sv_ap_entry32:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov sv_ap_cr3, %eax
    mov %eax, %cr3
    ENTER_LONG_MODE ap_entry64

    .code64
ap_entry64:
    LOAD_DATA_SEGMENTS
    mov sv_ap_stack(%rip), %rsp
    call sv_ap_main
1:  cli
    hlt
    jmp 1b

    .section .data
    .align 8
    .global sv_ap_cr3, sv_ap_stack
sv_ap_cr3:   .quad 0
sv_ap_stack: .quad 0
