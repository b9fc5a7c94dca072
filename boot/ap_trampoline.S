/* Application processor start-up. The BSP copies the 16-bit blob between
 * sv_ap_trampoline_start/_end to a free page below 1 MiB and sends
 * INIT-STARTUP-STARTUP with that page as the vector (Intel SDM vol. 3A
 * §8.4.4.1). The AP switches to protected mode with our boot GDT, then the
 * 32-bit code in the image enters long mode on the BSP's page tables
 * (sv_ap_cr3, below 4 GiB) and calls sv_ap_main on the stack in sv_ap_stack.
 * One AP starts at a time, so these variables are not contended. */
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
    mov %cr4, %eax
    or $((1 << 5) | (1 << 9) | (1 << 10)), %eax   /* PAE, OSFXSR, OSXMMEXCPT */
    mov %eax, %cr4
    mov $0xC0000080, %ecx
    rdmsr
    or $((1 << 8) | (1 << 11)), %eax               /* LME, NXE */
    wrmsr
    mov %cr0, %eax
    and $~((1 << 2) | (1 << 3) | (1 << 29) | (1 << 30)), %eax /* EM, TS, NW, CD off */
    or $((1 << 31) | (1 << 16) | (1 << 1) | 1), %eax
    mov %eax, %cr0
    ljmp $0x08, $ap_entry64

    .code64
ap_entry64:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
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
