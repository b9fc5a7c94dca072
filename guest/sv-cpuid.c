// sv-cpuid: report what the guest sees of the hypervisor through CPUID.
// Prints the 12-byte vendor signature at leaf 0x40000000 (EBX, ECX, EDX),
// the hypervisor-present bit (CPUID.1:ECX[31]) and whether SVM
// (CPUID.80000001:ECX[2]) is visible. Output lines are "key value" so the
// test scripts can grep them.
#include <cpuid.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void cpuid(uint32_t leaf, uint32_t r[4])
{
    __cpuid_count(leaf, 0, r[0], r[1], r[2], r[3]);
}

int main(void)
{
    uint32_t r[4];

    cpuid(1, r);
    int hv_bit = (r[2] >> 31) & 1;

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
    return 0;
}
