/* One world switch: load guest GPRs, VMLOAD/VMRUN/VMSAVE, store guest GPRs.
 * RAX, RSP, RIP, RFLAGS live in the VMCB (VMRUN loads/saves them); all other
 * GPRs are ours to switch. VMLOAD/VMSAVE move the state VMRUN does not
 * (FS/GS/TR/LDTR, KernelGsBase, STAR/LSTAR/CSTAR/SFMASK, SYSENTER_*).
 * AMD APM vol. 2 §15.5 (VMRUN), §15.5.2 (VMSAVE/VMLOAD).
 *
 * void sv_svm_world_switch(uint64_t vmcb_pa, uint64_t gprs[16]) */
    .code64
    .text
    .global sv_svm_world_switch
sv_svm_world_switch:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    push %rsi                   /* gprs array */
    mov %rdi, %rax              /* VMCB physical address */
    mov 8*1(%rsi), %rcx
    mov 8*2(%rsi), %rdx
    mov 8*3(%rsi), %rbx
    mov 8*5(%rsi), %rbp
    mov 8*7(%rsi), %rdi
    mov 8*8(%rsi), %r8
    mov 8*9(%rsi), %r9
    mov 8*10(%rsi), %r10
    mov 8*11(%rsi), %r11
    mov 8*12(%rsi), %r12
    mov 8*13(%rsi), %r13
    mov 8*14(%rsi), %r14
    mov 8*15(%rsi), %r15
    mov 8*6(%rsi), %rsi
    vmload %rax
    vmrun %rax
    vmsave %rax
    mov (%rsp), %rax            /* gprs array */
    mov %rcx, 8*1(%rax)
    mov %rdx, 8*2(%rax)
    mov %rbx, 8*3(%rax)
    mov %rbp, 8*5(%rax)
    mov %rsi, 8*6(%rax)
    mov %rdi, 8*7(%rax)
    mov %r8, 8*8(%rax)
    mov %r9, 8*9(%rax)
    mov %r10, 8*10(%rax)
    mov %r11, 8*11(%rax)
    mov %r12, 8*12(%rax)
    mov %r13, 8*13(%rax)
    mov %r14, 8*14(%rax)
    mov %r15, 8*15(%rax)
    add $8, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret
