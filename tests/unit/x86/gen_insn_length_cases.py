#!/usr/bin/env python3
"""Development-time generator for insn_length_cases.inc (not run by the tests).

Each instruction below is assembled with the GNU assembler behind its own
global label, so its length comes from the assembler's own layout (symbol
addresses), not from a disassembler; objdump only supplies the comment text.
Run from the repository root:  python3 tests/unit/x86/gen_insn_length_cases.py
"""
import os
import re
import subprocess
import tempfile

MODES = {
    # name: (as flags, directive, objdump machine)
    "Long64": (["--64"], ".code64", "i386:x86-64"),
    "Protected32": (["--32"], ".code32", "i386"),
    "Protected16": (["--32"], ".code16", "i8086"),
}

COMMON_SYSTEM = """
nop
hlt
cpuid
rdmsr
wrmsr
rdtsc
rdtscp
rdpmc
vmmcall
vmrun
vmload
vmsave
stgi
clgi
skinit
invlpga
vmcall
vmlaunch
vmresume
vmxoff
xgetbv
xsetbv
monitor
mwait
clac
stac
cli
sti
cld
std
clc
stc
cmc
sahf
lahf
int3
int $0x80
ud2
pause
lfence
mfence
sfence
clts
invd
wbinvd
wait
xlat
leave
emms
femms
fninit
fld1
in $0x60, %al
in $0x71, %eax
in $0x71, %ax
in (%dx), %al
in (%dx), %ax
in (%dx), %eax
out %al, $0x80
out %ax, $0x80
out %eax, $0x80
out %al, (%dx)
out %ax, (%dx)
out %eax, (%dx)
insb
insw
insl
outsb
outsw
outsl
rep insb
rep insw
rep insl
rep outsb
rep outsw
rep outsl
stosb
stosw
stosl
rep stosb
rep stosw
rep stosl
movsb
movsw
movsl
rep movsb
rep movsw
rep movsl
lodsb
lodsl
scasb
repne scasb
cmpsb
repe cmpsw
jmp .+2
jmp .+0x1000
call .+0x1000
je .+4
jne .+0x1000
loop .+2
enter $0x10, $0
enter $0x1000, $1
ret
ret $8
lretl
lretl $16
push $0x12
test %al, %al
test $1, %al
xbegin .+0x100
xabort $1
xend
xtest
"""

LONG64 = COMMON_SYSTEM + """
swapgs
syscall
sysretq
iretq
clzero
rdpid %rax
rdpkru
wrpkru
monitorx
mwaitx
lgdt (%rax)
sidt 8(%rsp)
invlpg (%rdi)
lidt 0x1234(%rip)
mov %rcx, %rax
mov %ecx, (%rax)
mov %ah, 0x12(%rbx,%rsi,4)
mov %bh, (%rax)
movl $0x55667788, 0x1234(%rip)
movq $-1, 8(%rsp)
movb $0x7f, (%rax)
movw $0x1234, (%rax)
movb $0x7f, 0x10(%rip)
movw $0x1234, -0x10(%rip)
mov (%r12), %eax
mov (%r13), %rax
mov (%rbp), %rax
mov 0x100(%rsp), %ax
mov %r8b, (%rdi)
mov %sil, (%rdi)
mov (%rsi), %dil
mov %r15, 0x7fffffff(%r14,%r13,2)
mov 0x12345678(,%rcx,8), %edx
mov 0x12345678, %edx
mov %eax, (%r12,%r12,1)
mov %fs:(%rax), %rax
mov %gs:0x28, %rax
mov %es:(%rdi), %ecx
movzbl (%rdi), %eax
movzwq 0x80(%rdi), %rax
movzbw (%rcx), %ax
movsbl (%rsi), %ecx
movswq 0x7fffffff(%r10,%r11,8), %r9
movslq (%rcx), %rax
movzbl 0x10(%rip), %r8d
movabs 0x1122334455667788, %al
movabs 0x1122334455667788, %ax
movabs 0x1122334455667788, %eax
movabs 0x1122334455667788, %rax
movabs %al, 0x1122334455667788
movabs %eax, 0x1122334455667788
movabs %rax, 0x1122334455667788
addr32 movabs 0x11223344, %eax
movabs $0x1122334455667788, %rax
movabs $-1, %r10
mov $-1, %r10
mov $0x11223344, %eax
mov $0x1234, %ax
mov $0x12, %cl
mov $0x12, %r11b
stosq
rep stosq
movsq
rep movsq
lodsq
repe cmpsq
rep insb
lock cmpxchg %rcx, (%rdx)
lock addl $1, (%rax)
lock xadd %eax, 4(%rdi)
lock addq $0x12345678, %gs:0x12345678(%r12,%r13,8)
lock cmpxchg16b (%rsi)
xchg %rax, (%rdi)
testb $0x80, (%rdi)
testl $0x12345678, 0x10(%rsi)
testq $-2, (%rax)
test $0x1234, %ax
test $0x12345678, %rax
notl (%rax)
negq %rcx
mull (%rbx)
idivq 8(%rsp)
jmp *%rax
jmp *(%rax)
call *0x10(%rip)
ljmp *(%rax)
lcall *(%rbx)
jrcxz .+2
push $0x12345678
pushw $0x1234
push %rax
push %r12
pop %r15
pushfq
popfq
push %fs
pop %gs
imul $0x12, %eax, %ecx
imul $0x12345, %rax, %rdx
imul (%rax), %ecx
lea 0x10(%rax,%rbx,2), %rcx
lea 0(%rip), %rax
shl $4, %rax
shr %cl, %edx
sarl (%rax)
rol $3, %bl
bt $5, %eax
bts %eax, (%rdx)
shld $4, %eax, %edx
shrd %cl, %eax, (%rdx)
bswap %eax
bswap %r9
cwtl
cltq
cqto
clflush (%rax)
clwb (%rax)
prefetcht0 (%rax)
prefetchw (%rax)
nopw 0x0(%rax,%rax,1)
nopl 0x0(%rax)
rdrand %eax
rdseed %rax
popcnt %rax, %rcx
lzcnt %eax, %ecx
tzcnt (%rax), %ecx
crc32b %al, %ecx
crc32q (%rax), %rcx
movbe (%rax), %ecx
mov %cr0, %rax
mov %rax, %cr3
mov %cr8, %rax
mov %rax, %cr4
mov %db7, %rax
mov %rax, %db0
sgdt (%rax)
lldt %ax
ltr %ax
str %eax
verr %ax
lar %ax, %cx
lsl (%rax), %eax
invpcid (%rax), %rax
xsave (%rax)
xrstor (%rsp)
fxsave64 (%rax)
fldl (%rax)
fstps 8(%rsp)
fadd %st(1), %st
fnstsw %ax
movd %eax, %mm0
paddb %mm1, %mm2
pshufw $0x1b, %mm0, %mm1
movaps %xmm0, %xmm1
movups (%rax), %xmm2
movdqa %xmm8, 0x10(%rsp)
movdqu (%rsi), %xmm15
movq %xmm0, %rax
pshufd $0x1b, %xmm0, %xmm1
psrldq $4, %xmm2
psrlw $3, %mm1
cmpps $2, %xmm1, %xmm0
shufps $0x44, (%rax), %xmm3
pinsrw $1, %eax, %xmm0
pextrw $2, %xmm1, %eax
pshufb %xmm1, %xmm0
pshufb (%rax), %mm0
palignr $4, %xmm1, %xmm0
pextrd $1, %xmm0, (%rax)
roundss $1, %xmm1, %xmm2
pcmpistri $0x18, %xmm1, %xmm0
aesenc %xmm1, %xmm0
aeskeygenassist $1, %xmm1, %xmm0
pclmulqdq $0, %xmm1, %xmm0
sha256rnds2 %xmm0, %xmm1, %xmm2
extrq $4, $8, %xmm0
insertq $4, $8, %xmm1, %xmm0
extrq %xmm1, %xmm0
pfadd %mm1, %mm0
pi2fd (%rax), %mm1
vmovdqu (%rax), %ymm0
vmovdqu %ymm8, (%r9)
vpxor %ymm1, %ymm2, %ymm3
vpxor %ymm9, %ymm10, %ymm11
vzeroupper
vzeroall
vpshufd $0x1b, %ymm0, %ymm1
vpermq $0x4e, %ymm0, %ymm1
vaesenc %xmm1, %xmm2, %xmm3
vpclmulqdq $0x11, %xmm1, %xmm2, %xmm3
vbroadcastss (%rax), %ymm0
vcmpps $1, %ymm1, %ymm2, %ymm3
vpinsrq $1, %rax, %xmm1, %xmm2
vgatherdps %ymm2, (%rax,%ymm1,4), %ymm0
vmovdqu 0x12345678(%rip), %ymm3
andn %eax, %ebx, %ecx
andn (%rax), %rbx, %rcx
bzhi %eax, %ebx, %ecx
shlx %rax, (%rdx), %rcx
rorx $3, %eax, %ebx
pdep %rax, %rbx, %rcx
mulx (%rax), %rbx, %rcx
vfmadd231ps %ymm1, %ymm2, %ymm3
kmovw %k1, %eax
vmovdqu64 %zmm0, (%rax)
vmovdqu64 0x40(%rax), %zmm1
vpaddd %zmm1, %zmm2, %zmm3
vpaddd %zmm17, %zmm18, %zmm19{%k1}{z}
vpternlogd $0x96, %zmm1, %zmm2, %zmm3
vpshufd $0x1b, %zmm0, %zmm1
vpsrld $3, %zmm1, %zmm2
vextracti64x4 $1, %zmm0, %ymm1
vpcmpeqd %zmm1, %zmm2, %k1
vpbroadcastd %eax, %zmm0
vmovdqu8 0x12345678(%rax,%rbx,8), %zmm1
vaddph %zmm1, %zmm2, %zmm3
vmread %rax, %rbx
vmwrite (%rax), %rbx
vmptrld (%rax)
vmclear (%rax)
vmxon (%rax)
invept (%rax), %rax
invvpid (%rax), %rax
mov %es, %ax
mov %ax, %ds
adc $0x12345678, %rax
add $1, %al
sub $0x1000, %eax
and $0x7f, %cl
orl $0x12345678, (%rax)
xor $-1, %r8
cmpb $0, 0x7f(%rax)
cmpw $0x1234, (%rax)
cmpw $1, (%rax)
adcl $0x12345678, 0x12345678(%rax,%rbx,4)
data16 call .+0x100
data16 jmp .+0x100
bextr $0x1234, %eax, %ebx
vprotb $5, %xmm1, %xmm0
vphaddbd %xmm1, %xmm0
blcfill %eax, %ebx
popq 8(%rsp)
popq (%rax)
"""

PROTECTED32 = COMMON_SYSTEM + """
mov %ecx, %eax
mov %ecx, (%eax)
mov 0x12345678, %eax
mov 0x12345678, %al
mov %al, 0x12345678
mov %ax, 0x1234
addr16 mov 0x1234, %al
addr16 mov 0x1234, %eax
mov (%ebp), %eax
mov 0x10(%esp), %ecx
mov 0x12345678, %ecx
mov 0x10(%ebp,%eax,4), %edx
mov (,%eax,4), %edx
movl $0x12345678, 4(%ebx,%esi,2)
movl $1, 0x12345678(,%ecx,8)
movw $0x1234, (%eax)
movb $1, (%eax)
mov %ah, (%ebx)
mov (%esi), %dh
movzbl (%eax), %ecx
movzwl 2(%eax), %ecx
movsbl (%eax), %ecx
movswl (%eax), %ecx
movzbw (%eax), %cx
addr16 mov (%bx,%si), %ax
addr16 movl $0x12345678, 0x1234(%bp,%di)
addr16 mov (%bp), %al
les (%eax), %ecx
lds 4(%ebx), %edx
bound %eax, (%ecx)
vmovdqu (%eax), %ymm0
vpxor %xmm1, %xmm2, %xmm3
vpermq $0x4e, %ymm0, %ymm1
vpaddd %zmm1, %zmm2, %zmm3
vpternlogd $0x96, %zmm1, %zmm2, %zmm3
kmovw %k1, %eax
lcall $0x10, $0x12345678
ljmp $0x08, $0x1000
ljmpw $0x08, $0x1000
lcallw $0x10, $0x1234
data16 call .+0x100
data16 jmp .+0x100
push %es
pop %ds
pusha
popa
daa
das
aaa
aas
aam
aad
aam $16
into
inc %eax
dec %edi
arpl %ax, (%eax)
iret
sysenter
sysexit
int $0x10
mov %cr0, %eax
mov %eax, %cr3
mov %eax, %db7
lgdt (%eax)
lidt 0x1234
pushl $0x12345678
pushw $0x1234
mov %fs:0x10, %eax
mov %es:(%edi), %al
lock cmpxchg8b (%esi)
lock incl (%eax)
xchg %eax, (%ebx)
test $0x12345678, %eax
testb $1, (%eax)
testl $1, (%eax)
testw $1, (%eax)
imul $0x12345678, %eax, %eax
jecxz .+2
fldl (%eax)
movups (%eax), %xmm0
pshufd $0x1b, %xmm0, %xmm1
palignr $4, %xmm1, %xmm0
pshufb %xmm1, %xmm0
bextr $0x1234, %eax, %ebx
vprotb $5, %xmm1, %xmm0
popl (%eax)
popl 0x10(%esp)
"""

PROTECTED16 = COMMON_SYSTEM + """
mov %cx, %ax
mov (%bx,%si), %ax
mov 0x1234, %ax
mov 0x1234, %al
mov %al, 0x1234
mov %ax, 0x1234
mov 0x1234(%bp), %cl
mov (%bp), %al
mov 0x10(%bx,%di), %dx
mov -0x10(%bp,%si), %dx
mov %al, (%di)
mov %ah, (%si)
movw $0x1234, (%bx)
movl $0x12345678, (%bx)
movb $1, 0x10(%si)
movw $0x1234, 0x1234(%bp,%di)
mov %eax, (%ebx)
mov 0x12345678(%eax,%ebx,4), %ecx
addr32 mov 0x12345678, %eax
movzbw (%si), %ax
movzbl (%bx), %eax
movsbw (%di), %dx
les (%bx), %ax
lds (%si), %dx
bound %ax, (%bx)
lcall $0x10, $0x1234
ljmp $0xf000, $0xe05b
ljmpl $0x08, $0x12345678
calll .+0x100
data32 jmp .+0x100
pushl $0x12345678
push $0x1234
iret
int $0x13
lmsw %ax
smsw %ax
mov %cr0, %eax
mov %eax, %cr0
lgdt (%bx)
lidtl 0x1234
mov %ax, %ds
mov %ds, %ax
mov %cs:(%si), %al
lock incw (%bx)
test $0x1234, %ax
testb $1, (%bx)
testw $0x1234, (%bx)
testl $0x12345678, (%bx)
imul $0x1234, %ax, %cx
xchg %ax, (%bx)
rep movsl
rep stosl
inc %ax
pusha
daa
"""

LISTS = {"Long64": LONG64, "Protected32": PROTECTED32, "Protected16": PROTECTED16}


def assemble(mode, lines):
    flags, directive, machine = MODES[mode]
    src = [directive]
    for i, line in enumerate(lines):
        src.append(f".globl insn{i}\ninsn{i}:\n\t{line}")
    src.append(".globl insn_end\ninsn_end:\n")
    with tempfile.TemporaryDirectory() as tmp:
        s, o, b = (os.path.join(tmp, n) for n in ("a.s", "a.o", "a.bin"))
        open(s, "w").write("\n".join(src) + "\n")
        subprocess.run(["as", *flags, s, "-o", o], check=True)
        subprocess.run(["objcopy", "-O", "binary", "-j", ".text", o, b], check=True)
        code = open(b, "rb").read()
        syms = {}
        for line in subprocess.run(["nm", o], check=True, capture_output=True, text=True).stdout.split("\n"):
            m = re.match(r"([0-9a-f]+) T insn(\d+|_end)$", line)
            if m:
                syms[m.group(2)] = int(m.group(1), 16)
        dis = subprocess.run(["objdump", "-d", "--insn-width=16", "-m", machine, o],
                             check=True, capture_output=True, text=True).stdout
    texts = {}
    for line in dis.split("\n"):
        m = re.match(r"\s*([0-9a-f]+):\t[0-9a-f ]+\t(.*)$", line)
        if m:
            text = re.sub(r" <[^>]*>", "", m.group(2))  # drop symbol names after targets
            texts[int(m.group(1), 16)] = re.sub(r"\s+", " ", text).strip()
    out = []
    for i, line in enumerate(lines):
        start = syms[str(i)]
        end = syms[str(i + 1)] if i + 1 < len(lines) else syms["_end"]
        text = texts.get(start, line)
        if "(bad)" in text:
            raise SystemExit(f"objdump cannot decode {line!r}")
        out.append((code[start:end], text))
    return out


def main():
    rows = ["// Generated by gen_insn_length_cases.py with GNU as/objdump " +
            subprocess.run(["as", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
            .split()[-1] + ". Do not edit.",
            "// Each row: mode, encoding (hex), assembler text. Length = number of bytes."]
    for mode, text in LISTS.items():
        lines = [l.strip() for l in text.strip().split("\n") if l.strip()]
        for code, dis in assemble(mode, lines):
            hexs = " ".join(f"{c:02x}" for c in code)
            dis = dis.replace('"', "'")
            rows.append(f'{{CpuMode::{mode}, "{hexs}", "{dis}"}},')
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "insn_length_cases.inc")
    open(path, "w").write("\n".join(rows) + "\n")
    print(f"{len(rows) - 2} cases -> {path}")


if __name__ == "__main__":
    main()
