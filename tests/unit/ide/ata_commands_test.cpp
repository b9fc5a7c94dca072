// ATA opcode allowlist, task-file read-back (LBA48 via HOB) and IDENTIFY patching.
#include <gtest/gtest.h>

#include <set>

#include "devices/storage/ide/ata_commands.hpp"
#include "devices/storage/ide/task_file.hpp"
#include "ide/sim_piix.hpp"

namespace {
using namespace sv::ide;

TEST(AtaCommands, DataCommandsAreClassified) {
    EXPECT_EQ(classify_ata_command(0xc8).kind, CommandKind::DmaRead);
    EXPECT_FALSE(classify_ata_command(0xc8).lba48);
    EXPECT_EQ(classify_ata_command(0x25).kind, CommandKind::DmaRead);
    EXPECT_TRUE(classify_ata_command(0x25).lba48);
    for (uint8_t op : {0xca, 0x35, 0x3d}) EXPECT_EQ(classify_ata_command(op).kind, CommandKind::DmaWrite);
    for (uint8_t op : {0x20, 0x24, 0xc4, 0x29}) EXPECT_EQ(classify_ata_command(op).kind, CommandKind::PioRead);
    for (uint8_t op : {0x30, 0x34, 0xc5, 0x39, 0xce})
        EXPECT_EQ(classify_ata_command(op).kind, CommandKind::PioWrite);
    EXPECT_TRUE(classify_ata_command(0xce).multiple && classify_ata_command(0xce).lba48);
    EXPECT_TRUE(classify_ata_command(0xc4).multiple && !classify_ata_command(0xc4).lba48);
    EXPECT_EQ(classify_ata_command(0xec).kind, CommandKind::Identify);
    EXPECT_EQ(classify_ata_command(0xa0).kind, CommandKind::Packet);
    EXPECT_EQ(classify_ata_command(0xc6).kind, CommandKind::SetMultipleMode);
}

TEST(AtaCommands, EverythingElseIsRefused) {
    const std::set<int> allowed = {0xc8, 0x25, 0xca, 0x35, 0x3d, 0x20, 0x24, 0xc4, 0x29, 0x30,
                                   0x34, 0xc5, 0x39, 0xce, 0xec, 0xa1, 0xef, 0xc6, 0xe7, 0xea,
                                   0xe5, 0xe0, 0xe1, 0xe2, 0xe3, 0xf8, 0x27, 0x40, 0x42, 0x91,
                                   0x10, 0x90, 0x08, 0xa0};
    for (int op = 0; op < 256; ++op) {
        const bool refused = classify_ata_command(uint8_t(op)).kind == CommandKind::Refused;
        EXPECT_EQ(refused, !allowed.count(op)) << std::hex << op;
    }
    // Named dangers: TRIM, WRITE SAME/SCT, SECURITY, DOWNLOAD MICROCODE, SET MAX,
    // obsolete no-retry data commands, queued DMA, NOP from the guest.
    for (uint8_t op : {0x06, 0xb0, 0xf1, 0xf2, 0xf4, 0x92, 0xf9, 0x37, 0x21, 0x31, 0xc9, 0xcb,
                       0xc7, 0xcc, 0x26, 0x36, 0x60, 0x61, 0x45, 0x3f, 0x2f, 0x00})
        EXPECT_EQ(classify_ata_command(op).kind, CommandKind::Refused) << std::hex << int(op);
}

TEST(AtaCommands, IdentifyHidesTrimAndKeepsChecksum) {
    uint8_t id[512] = {};
    id[2 * 169] = 0x03; // TRIM + another DSM bit
    id[0] = 0x40;
    id[510] = 0xa5;
    uint8_t sum = 0;
    for (int i = 0; i < 511; ++i) sum = uint8_t(sum + id[i]);
    id[511] = uint8_t(-sum);
    hide_trim_support(id);
    EXPECT_EQ(id[2 * 169], 0x02);
    uint8_t total = 0;
    for (uint8_t b : id) total = uint8_t(total + b);
    EXPECT_EQ(total, 0);
}

TEST(AtaCommands, TaskFileReadBackLba28AndLba48ViaHob) {
    svtest::SimPhysMemory mem{1 << 20, 0x200000, 1 << 16};
    svtest::SimPiix dev{mem, 16};
    const TaskFilePorts p{dev.ports.cmd, dev.ports.ctl};
    auto w = [&](unsigned r, uint8_t v) { dev.out(uint16_t(dev.ports.cmd + r), 1, v); };
    // LBA28 0x0abcdef1, count 0 (= 256), device 1.
    w(2, 0); w(3, 0xf1); w(4, 0xde); w(5, 0xbc); w(6, 0x50 | 0x0a);
    TaskFileRequest t = read_task_file(dev, p, false, 0x08);
    EXPECT_EQ(t.lba, 0x0abcdef1u);
    EXPECT_EQ(t.sectors, 256u);
    EXPECT_EQ(t.device, 1);
    EXPECT_TRUE(t.lba_mode);
    // LBA48 0x123456789abc, count 0x0102: previous content first, like tf_load.
    w(2, 0x01); w(3, 0x56); w(4, 0x34); w(5, 0x12);
    w(2, 0x02); w(3, 0xbc); w(4, 0x9a); w(5, 0x78);
    w(6, 0x40);
    t = read_task_file(dev, p, true, 0x0a);
    EXPECT_EQ(t.lba, 0x123456789abcull);
    EXPECT_EQ(t.sectors, 0x0102u);
    EXPECT_EQ(t.device, 0);
    // HOB cleared again: current content visible.
    EXPECT_EQ(dev.in(uint16_t(dev.ports.cmd + 2), 1), 0x02u);
    w(2, 0); w(2, 0);
    EXPECT_EQ(read_task_file(dev, p, true, 0x08).sectors, 65536u);
}

} // namespace
