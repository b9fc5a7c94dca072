// core/nmi_kicker: the kick marks its target before the NMI is sent (the
// target's NMI exit may ask at once), take() consumes the mark exactly once,
// an unmarked NMI is not a kick, and APIC ids beyond xAPIC's 8 bits are
// neither sent to nor reported.
#include <gtest/gtest.h>

#include <vector>

#include "core/nmi_kicker.hpp"

namespace sv {
namespace {

std::vector<uint8_t> sent;
NmiKicker* observed = nullptr;
bool marked_when_sent = false;

void record_nmi(uint8_t apic_id) {
    sent.push_back(apic_id);
    // What the target's NMI exit would see if it ran at this instant.
    if (observed) marked_when_sent = observed->take(apic_id);
}

void forget(uint8_t) {}

TEST(NmiKicker, KickSendsAnNmiToTheTargetAndMarksIt) {
    sent.clear();
    NmiKicker k{record_nmi};
    k.kick(3);
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0], 3);
    EXPECT_TRUE(k.take(3));
    EXPECT_FALSE(k.take(3)) << "the mark is consumed by the first NMI exit";
}

TEST(NmiKicker, TheMarkIsSetBeforeTheNmiLeaves) {
    sent.clear();
    NmiKicker k{record_nmi};
    observed = &k;
    marked_when_sent = false;
    k.kick(7);
    observed = nullptr;
    EXPECT_TRUE(marked_when_sent) << "an exit taken as soon as the NMI arrives must see the kick";
}

TEST(NmiKicker, AnUnmarkedNmiIsTheGuests) {
    NmiKicker k{forget};
    EXPECT_FALSE(k.take(0));
    k.kick(1);
    EXPECT_FALSE(k.take(0)) << "a kick of another vCPU";
    EXPECT_TRUE(k.take(1));
}

TEST(NmiKicker, ApicIdsBeyondXapicAreIgnored) {
    sent.clear();
    NmiKicker k{record_nmi};
    k.kick(0x100);
    EXPECT_TRUE(sent.empty());
    EXPECT_FALSE(k.take(0x100));
    k.kick(0xFF);
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_TRUE(k.take(0xFF));
}

} // namespace
} // namespace sv
