/* One VMX world switch: load the guest GPRs, VMLAUNCH or VMRESUME, and at
 * the VM exit (host RIP = sv_vmx_exit_point, host RSP = the stack below)
 * store them again. RSP, RIP and RFLAGS are in the VMCS; RAX and every other
 * GPR are ours to switch (Intel SDM vol. 3C "VM Entries", "Loading Host
 * State").
 *
 * int sv_vmx_world_switch(uint64_t gprs[16], int launched)
 *   returns 0 after a VM exit, 1 when VMLAUNCH/VMRESUME failed (VMfail).
 * gprs[] in Gpr order: RAX RCX RDX RBX RSP RBP RSI RDI R8..R15. */
    .code64
    .text
    .global sv_vmx_world_switch
    .global sv_vmx_exit_point
sv_vmx_world_switch:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    push %rdi                   /* gprs: at (%rsp) when the exit lands */
    mov $0x6C14, %rax           /* HOST_RSP */
    vmwrite %rsp, %rax
    test %esi, %esi             /* flags survive the MOVs below */
    mov 8*1(%rdi), %rcx
    mov 8*2(%rdi), %rdx
    mov 8*3(%rdi), %rbx
    mov 8*5(%rdi), %rbp
    mov 8*6(%rdi), %rsi
    mov 8*8(%rdi), %r8
    mov 8*9(%rdi), %r9
    mov 8*10(%rdi), %r10
    mov 8*11(%rdi), %r11
    mov 8*12(%rdi), %r12
    mov 8*13(%rdi), %r13
    mov 8*14(%rdi), %r14
    mov 8*15(%rdi), %r15
    mov 8*0(%rdi), %rax
    mov 8*7(%rdi), %rdi
    jnz 1f
    vmlaunch
    jmp 2f
1:  vmresume
2:  /* VMfailInvalid or VMfailValid: still on our stack, guest GPRs loaded */
    add $8, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    mov $1, %eax
    ret

sv_vmx_exit_point:
    push %rdi                   /* the guest's RDI */
    mov 8(%rsp), %rdi           /* gprs */
    mov %rax, 8*0(%rdi)
    mov %rcx, 8*1(%rdi)
    mov %rdx, 8*2(%rdi)
    mov %rbx, 8*3(%rdi)
    mov %rbp, 8*5(%rdi)
    mov %rsi, 8*6(%rdi)
    mov %r8, 8*8(%rdi)
    mov %r9, 8*9(%rdi)
    mov %r10, 8*10(%rdi)
    mov %r11, 8*11(%rdi)
    mov %r12, 8*12(%rdi)
    mov %r13, 8*13(%rdi)
    mov %r14, 8*14(%rdi)
    mov %r15, 8*15(%rdi)
    pop %rax
    mov %rax, 8*7(%rdi)
    add $8, %rsp                /* gprs */
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    xor %eax, %eax
    ret
