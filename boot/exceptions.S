/* Host exception entry stubs: a broken invariant of ours (the host runs with
 * interrupts off and GIF=0, so only exceptions arrive). Each stub pushes a
 * uniform frame and calls sv_host_exception(frame). Intel SDM vol. 3A §6.12. */
    .code64
    .text
.macro STUB vector, has_error
    .align 16
stub_\vector:
    .if \has_error == 0
    push $0
    .endif
    push $\vector
    jmp common_stub
.endm

common_stub:
    push %rax
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    mov %rsp, %rdi
    and $-16, %rsp
    call sv_host_exception
1:  cli
    hlt
    jmp 1b

/* NMI: the host takes one only where the SVM backend opens GIF after an
 * #VMEXIT(NMI) to consume the NMI that caused it (virt/svm/svm_kick.hpp):
 * nothing to do but return; IRET ends NMI blocking (SDM vol. 3A §6.7.1). */
    .align 16
    .global sv_host_nmi
sv_host_nmi:
    iretq

STUB 0,0
STUB 1,0
STUB 2,0
STUB 3,0
STUB 4,0
STUB 5,0
STUB 6,0
STUB 7,0
STUB 8,1
STUB 9,0
STUB 10,1
STUB 11,1
STUB 12,1
STUB 13,1
STUB 14,1
STUB 15,0
STUB 16,0
STUB 17,1
STUB 18,0
STUB 19,0
STUB 20,0
STUB 21,1

    .section .rodata
    .global sv_exception_stubs
sv_exception_stubs:
    .quad stub_0, stub_1, stub_2, stub_3, stub_4, stub_5, stub_6, stub_7
    .quad stub_8, stub_9, stub_10, stub_11, stub_12, stub_13, stub_14, stub_15
    .quad stub_16, stub_17, stub_18, stub_19, stub_20, stub_21
