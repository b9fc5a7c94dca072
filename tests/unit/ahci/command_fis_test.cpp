// Command FIS decoder (devices/storage/ahci/command_fis.*): opcode classes,
// 28/48-bit LBA and counts with their 0 = maximum rule, the FPDMA QUEUED
// layout (count in FEATURES, tag in COUNT 7:3), and malformed input.
#include <gtest/gtest.h>

#include <array>

#include "devices/storage/ahci/ahci_fis.hpp"
#include "devices/storage/ahci/command_fis.hpp"
#include "devices/storage/ide/ata_commands.hpp"

namespace sv::ahci {
namespace {

using Fis = std::array<uint8_t, 20>;

Fis h2d(uint8_t cmd, uint64_t lba, uint16_t count, uint8_t device = kDeviceLba,
        uint16_t features = 0) {
    Fis f{};
    f[0] = fis_type::kRegisterH2d;
    f[1] = fis_flag::kH2dCommand;
    f[2] = cmd;
    f[3] = static_cast<uint8_t>(features);
    f[4] = static_cast<uint8_t>(lba);
    f[5] = static_cast<uint8_t>(lba >> 8);
    f[6] = static_cast<uint8_t>(lba >> 16);
    f[7] = device;
    f[8] = static_cast<uint8_t>(lba >> 24);
    f[9] = static_cast<uint8_t>(lba >> 32);
    f[10] = static_cast<uint8_t>(lba >> 40);
    f[11] = static_cast<uint8_t>(features >> 8);
    f[12] = static_cast<uint8_t>(count);
    f[13] = static_cast<uint8_t>(count >> 8);
    return f;
}

FisCommand decode(const Fis& f) {
    auto r = decode_command_fis(f);
    EXPECT_TRUE(r.ok());
    return r.value_or({});
}

TEST(CommandFis, ReadDmaExt48BitLbaAndCount) {
    const FisCommand c = decode(h2d(ide::opcode::kReadDmaExt, 0x123456789abcull, 0x0102));
    EXPECT_EQ(c.kind, FisCommandKind::DmaRead);
    EXPECT_TRUE(c.lba48);
    EXPECT_EQ(c.lba, 0x123456789abcull);
    EXPECT_EQ(c.sectors, 0x0102u);
    EXPECT_EQ(c.data_bytes(), 0x0102u * 512);
    EXPECT_FALSE(is_write(c.kind));
}

TEST(CommandFis, CountZeroIsTheMaximum) {
    EXPECT_EQ(decode(h2d(ide::opcode::kWriteDmaExt, 0, 0)).sectors, 65536u);
    EXPECT_EQ(decode(h2d(ide::opcode::kWriteDmaExt, 0, 0)).data_bytes(), 32u << 20);
    EXPECT_EQ(decode(h2d(ide::opcode::kReadDma, 0, 0)).sectors, 256u);
}

TEST(CommandFis, Lba28UsesDeviceLowNibble) {
    // LBA 27:24 in DEVICE 3:0; LBA 47:24 bytes are ignored for 28-bit commands.
    Fis f = h2d(ide::opcode::kWriteDma, 0x00345678, 8, kDeviceLba | 0x0b);
    f[8] = 0xee;
    const FisCommand c = decode(f);
    EXPECT_EQ(c.kind, FisCommandKind::DmaWrite);
    EXPECT_FALSE(c.lba48);
    EXPECT_EQ(c.lba, 0x0b345678u);
    EXPECT_EQ(c.sectors, 8u);
    EXPECT_TRUE(is_write(c.kind));
}

TEST(CommandFis, ChsUserDataIsRefused) {
    EXPECT_EQ(decode(h2d(ide::opcode::kReadDma, 5, 1, 0)).kind, FisCommandKind::Refused);
    EXPECT_EQ(decode(h2d(ncq_opcode::kWriteFpdmaQueued, 5, 0, 0, 1)).kind, FisCommandKind::Refused);
    // Non-data commands do not care about the addressing mode.
    EXPECT_EQ(decode(h2d(ide::opcode::kFlushCacheExt, 0, 0, 0)).kind, FisCommandKind::NonData);
}

TEST(CommandFis, FpdmaQueuedCountInFeaturesTagInCount) {
    // Linux ata_tf_to_fis + ata_build_rw_tf: nsect = tag << 3, feature = sectors.
    for (uint8_t tag : {0, 1, 17, 31}) {
        const FisCommand c = decode(h2d(ncq_opcode::kReadFpdmaQueued, 0xabcdef012345ull,
                                        static_cast<uint16_t>(tag << 3), kDeviceLba | kDeviceFua,
                                        0x0200));
        EXPECT_EQ(c.kind, FisCommandKind::NcqRead);
        EXPECT_TRUE(is_ncq(c.kind));
        EXPECT_EQ(c.tag, tag);
        EXPECT_EQ(c.sectors, 0x200u);
        EXPECT_EQ(c.lba, 0xabcdef012345ull);
        EXPECT_TRUE(c.fua);
    }
    const FisCommand w = decode(h2d(ncq_opcode::kWriteFpdmaQueued, 1, 3 << 3, kDeviceLba, 0));
    EXPECT_EQ(w.kind, FisCommandKind::NcqWrite);
    EXPECT_EQ(w.sectors, 65536u);
    EXPECT_EQ(w.tag, 3);
    EXPECT_FALSE(w.fua);
    EXPECT_TRUE(is_write(w.kind));
}

TEST(CommandFis, ClassesOfNonUserDataCommands) {
    EXPECT_EQ(decode(h2d(ide::opcode::kIdentifyDevice, 0, 0)).kind, FisCommandKind::Identify);
    EXPECT_EQ(decode(h2d(ide::opcode::kIdentifyDevice, 0, 0)).data_bytes(), 512u);
    EXPECT_EQ(decode(h2d(ide::opcode::kIdentifyPacketDevice, 0, 0)).kind,
              FisCommandKind::IdentifyPacket);
    EXPECT_EQ(decode(h2d(ide::opcode::kIdentifyPacketDevice, 0, 0)).data_bytes(), 512u);
    EXPECT_EQ(decode(h2d(ide::opcode::kSetFeatures, 0, 0, 0, 0x03)).kind, FisCommandKind::NonData);
    EXPECT_EQ(decode(h2d(ide::opcode::kSetFeatures, 0, 0, 0, 0x03)).features, 0x03);
    EXPECT_EQ(decode(h2d(ide::opcode::kFlushCache, 0, 0)).data_bytes(), 0u);
    EXPECT_EQ(decode(h2d(ide::opcode::kSetMultipleMode, 0, 16)).kind, FisCommandKind::SetMultiple);
    EXPECT_EQ(decode(h2d(ide::opcode::kPacket, 0, 0)).kind, FisCommandKind::Packet);
    EXPECT_EQ(decode(h2d(ide::opcode::kReadSectorsExt, 9, 2)).kind, FisCommandKind::PioRead);
    EXPECT_EQ(decode(h2d(ide::opcode::kWriteMultiple, 9, 2)).kind, FisCommandKind::PioWrite);
}

TEST(CommandFis, DataMovingCommandsTheMediatorDoesNotKnowAreRefused) {
    for (uint8_t op : {uint8_t{0x06} /* DSM/TRIM */, uint8_t{0xe8} /* WRITE BUFFER */,
                       uint8_t{0x92} /* DOWNLOAD MICROCODE */, uint8_t{0xf2} /* SECURITY UNLOCK */,
                       uint8_t{0x5e} /* TRUSTED SEND */, uint8_t{0x3f} /* WRITE LOG EXT */,
                       ncq_opcode::kSendFpdmaQueued, ncq_opcode::kReceiveFpdmaQueued,
                       ncq_opcode::kNcqNonData, uint8_t{0xff}}) {
        const FisCommand c = decode(h2d(op, 0, 1));
        EXPECT_EQ(c.kind, FisCommandKind::Refused) << "opcode " << int(op);
        EXPECT_EQ(c.data_bytes(), 0u);
    }
}

TEST(CommandFis, DeviceControlUpdate) {
    Fis f{};
    f[0] = fis_type::kRegisterH2d;
    f[1] = 0; // C clear
    f[2] = ide::opcode::kReadDmaExt; // ignored
    f[15] = kControlSrst;
    const FisCommand c = decode(f);
    EXPECT_EQ(c.kind, FisCommandKind::DeviceControl);
    EXPECT_EQ(c.control, kControlSrst);
    EXPECT_EQ(c.data_bytes(), 0u);
}

TEST(CommandFis, PortMultiplierFieldIsReported) {
    Fis f = h2d(ide::opcode::kReadDmaExt, 0, 1);
    f[1] |= 0x5;
    EXPECT_EQ(decode(f).pm_port, 5);
}

TEST(CommandFis, MalformedInput) {
    Fis f = h2d(ide::opcode::kReadDmaExt, 0, 1);
    EXPECT_EQ(decode_command_fis(std::span<const uint8_t>(f.data(), 19)).error(), Error::Malformed);
    EXPECT_FALSE(decode_command_fis(std::span<const uint8_t>()).ok());
    f[0] = fis_type::kRegisterD2h;
    EXPECT_EQ(decode_command_fis(f).error(), Error::Malformed);
    // A 64-byte CFIS (CFL 16) decodes from its first 20 bytes.
    std::array<uint8_t, 64> big{};
    const Fis g = h2d(ide::opcode::kWriteDmaExt, 77, 4);
    std::copy(g.begin(), g.end(), big.begin());
    big[30] = 0xff;
    auto r = decode_command_fis(big);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.value().lba, 77u);
}

TEST(CommandFis, EveryOpcodeDecodesWithoutSurprise) {
    // Fail closed over all 256 opcodes: anything user-data carries a count in
    // 1..65536, and nothing else claims a data length except IDENTIFY.
    for (unsigned op = 0; op < 256; ++op) {
        for (uint16_t count : {uint16_t{0}, uint16_t{1}, uint16_t{0xffff}}) {
            const FisCommand c = decode(h2d(static_cast<uint8_t>(op), ~0ull, count, 0xff, 0xffff));
            if (is_user_data(c.kind)) {
                EXPECT_GE(c.sectors, 1u);
                EXPECT_LE(c.sectors, 65536u);
                EXPECT_LE(c.lba, (1ull << 48) - 1);
            } else if (c.kind != FisCommandKind::Identify && c.kind != FisCommandKind::IdentifyPacket) {
                EXPECT_EQ(c.data_bytes(), 0u) << "opcode " << op;
            }
        }
    }
}

} // namespace
} // namespace sv::ahci
