// sv-cpuid: report what the guest sees of the hypervisor through CPUID.
// Prints the 12-byte vendor signature at leaf 0x40000000 (EBX, ECX, EDX),
// the hypervisor-present bit (CPUID.1:ECX[31]) and whether SVM
// (CPUID.80000001:ECX[2]) and VMX (CPUID.1:ECX[5]) are visible. Output lines are "key value" so the
// test scripts can grep them.
// `sv-cpuid hypercall` also calls the hypervisor's hypercall ABI (README
// "Hypercalls"): version, then exit counts; VMCALL on an Intel CPU (VT-x),
// VMMCALL otherwise (AMD-V), the same registers either way. Only run it
// under the hypervisor (without one, the instruction raises #UD).
#include <cpuid.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void cpuid(uint32_t leaf, uint32_t r[4])
{
    __cpuid_count(leaf, 0, r[0], r[1], r[2], r[3]);
}

static int is_intel(void)
{
    uint32_t r[4];
    cpuid(0, r);
    return r[1] == 0x756e6547 && r[3] == 0x49656e69 && r[2] == 0x6c65746e; // "GenuineIntel"
}

// VMMCALL/VMCALL: RAX = function, RBX = argument; returns RAX (status), RBX, RCX.
static void vmmcall(uint64_t fn, uint64_t arg, uint64_t out[3])
{
    static int intel = -1;
    if (intel < 0)
        intel = is_intel();
    uint64_t a = fn, b = arg, c = 0;
    if (intel)
        __asm__ volatile("vmcall" : "+a"(a), "+b"(b), "+c"(c) : : "memory");
    else
        __asm__ volatile("vmmcall" : "+a"(a), "+b"(b), "+c"(c) : : "memory");
    out[0] = a;
    out[1] = b;
    out[2] = c;
}

static void hypercalls(void)
{
    uint64_t r[3];
    vmmcall(0, 0, r);
    printf("hc_version_status %llu\n", (unsigned long long)r[0]);
    printf("hc_version 0x%06llx\n", (unsigned long long)r[1]);
    printf("hc_magic %.4s\n", (const char *)&r[2]);
    vmmcall(2, 0, r);
    uint64_t reasons = r[1];
    printf("hc_reason_count %llu\n", (unsigned long long)reasons);
    for (uint64_t i = 0; i < reasons && i < 64; i++) {
        vmmcall(1, i, r);
        printf("hc_exits %llu %llu\n", (unsigned long long)i, (unsigned long long)r[1]);
    }
    vmmcall(1, 1000, r);
    printf("hc_bad_index_status 0x%llx\n", (unsigned long long)r[0]);
    vmmcall(0x1234, 0, r);
    printf("hc_unknown_status 0x%llx\n", (unsigned long long)r[0]);
}

int main(int argc, char **argv)
{
    uint32_t r[4];

    if (argc > 1 && strcmp(argv[1], "hypercall") == 0) {
        hypercalls();
        return 0;
    }

    cpuid(1, r);
    int hv_bit = (r[2] >> 31) & 1;
    int vmx = (r[2] >> 5) & 1;

    cpuid(0x80000000u, r);
    uint32_t max_ext = r[0];
    int svm = 0;
    if (max_ext >= 0x80000001u) {
        cpuid(0x80000001u, r);
        svm = (r[2] >> 2) & 1;
    }

    // Leaf 0x40000000 is only meaningful when the hypervisor bit is set, but
    // we print it regardless: on bare TCG it echoes some other leaf.
    cpuid(0x40000000u, r);
    unsigned char sig[12];
    memcpy(sig + 0, &r[1], 4);
    memcpy(sig + 4, &r[2], 4);
    memcpy(sig + 8, &r[3], 4);

    printf("hv_max_leaf 0x%08x\n", r[0]);
    printf("hv_signature_hex ");
    for (int i = 0; i < 12; i++)
        printf("%02x", sig[i]);
    printf("\n");
    // Printable form: non-printable bytes (including the trailing NUL) as '.'.
    printf("hv_signature ");
    for (int i = 0; i < 12; i++)
        putchar(sig[i] >= 0x20 && sig[i] < 0x7f ? sig[i] : '.');
    printf("\n");
    printf("hypervisor_bit %d\n", hv_bit);
    printf("svm_visible %d\n", svm);
    printf("vmx_visible %d\n", vmx);
    return 0;
}
