/* Multiboot 1 (QEMU -kernel, GRUB `multiboot`) and Multiboot 2 (GRUB
 * `multiboot2`) headers. Both give explicit load addresses (MB1 flag bit 16,
 * MB2 address tag) so the loader does not parse our ELF64 headers.
 * Multiboot spec 0.6.96 §3.1.1-3.1.3; Multiboot2 spec 2.0 §3.1. */
#define MB1_MAGIC 0x1BADB002
#define MB1_FLAGS ((1 << 0) | (1 << 1) | (1 << 16)) /* page-align modules, mem map, address fields */

    .section .multiboot1, "a"
    .align 4
mb1_header:
    .long MB1_MAGIC
    .long MB1_FLAGS
    .long -(MB1_MAGIC + MB1_FLAGS)
    .long mb1_header        /* header_addr */
    .long __load_start      /* load_addr */
    .long __load_end        /* load_end_addr */
    .long __bss_end         /* bss_end_addr */
    .long sv_entry32        /* entry_addr */

#define MB2_MAGIC 0xE85250D6
    .section .multiboot2, "a"
    .align 8
mb2_header:
    .long MB2_MAGIC
    .long 0                               /* architecture: i386 protected mode */
    .long mb2_header_end - mb2_header
    .long -(MB2_MAGIC + (mb2_header_end - mb2_header))
    .align 8
    .short 2, 0                           /* address tag */
    .long 24
    .long mb2_header
    .long __load_start
    .long __load_end
    .long __bss_end
    .align 8
    .short 3, 0                           /* entry address tag */
    .long 12
    .long sv_entry32
    .align 8
    .short 0, 0                           /* end tag */
    .long 8
mb2_header_end:
