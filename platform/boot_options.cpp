#include "platform/boot_options.hpp"

namespace sv {
namespace {
bool word_is(const char* w, size_t n, const char* lit) {
    size_t i = 0;
    for (; i < n && lit[i]; ++i)
        if (w[i] != lit[i]) return false;
    return i == n && lit[i] == 0;
}
} // namespace

Result<BootOptions> parse_boot_options(const char* cmdline, const char** bad_word, size_t* bad_length) {
    BootOptions opts;
    const char* p = cmdline ? cmdline : "";
    bool first = true;
    while (*p) {
        while (*p == ' ') ++p;
        const char* word = p;
        while (*p && *p != ' ') ++p;
        const size_t n = static_cast<size_t>(p - word);
        if (n == 0) break;
        size_t eq = 0;
        while (eq < n && word[eq] != '=') ++eq;
        const bool is_path = first && eq == n;
        first = false;
        if (is_path) continue;
        const char* value = word + eq + 1;
        const size_t value_len = eq < n ? n - eq - 1 : 0;
        if (word_is(word, eq, "loglevel")) {
            if (word_is(value, value_len, "debug")) opts.log_level = log::Level::Debug;
            else if (word_is(value, value_len, "info")) opts.log_level = log::Level::Info;
            else if (word_is(value, value_len, "warn")) opts.log_level = log::Level::Warn;
            else if (word_is(value, value_len, "error")) opts.log_level = log::Level::Error;
            else goto bad;
            continue;
        }
        if (word_is(word, eq, "allow_dma")) {
            if (eq == n || !opts.allow_dma.parse(value, value_len)) goto bad;
            continue;
        }
    bad:
        if (bad_word) *bad_word = word;
        if (bad_length) *bad_length = n;
        return fail(Error::InvalidArgument);
    }
    return opts;
}

} // namespace sv
