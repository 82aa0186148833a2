// Unit tests for pier/ws/utf8.hpp: the incremental UTF-8 validator (RFC 3629, RFC 6455 §8.1).
#include <pier/pier.hpp>

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace ws = pier::ws;
using namespace std::string_view_literals;

namespace {

// A deliberately naive decoder straight from RFC 3629 §3-4: decode each sequence, then
// reject overlongs, surrogates and values above U+10FFFF.
bool reference_valid(std::string_view s) {
    std::size_t i = 0;
    while (i < s.size()) {
        const auto b = static_cast<unsigned char>(s[i]);
        std::size_t len;
        std::uint32_t cp;
        if (b < 0x80) {
            ++i;
            continue;
        } else if ((b & 0xe0) == 0xc0) {
            len = 2;
            cp = b & 0x1f;
        } else if ((b & 0xf0) == 0xe0) {
            len = 3;
            cp = b & 0x0f;
        } else if ((b & 0xf8) == 0xf0) {
            len = 4;
            cp = b & 0x07;
        } else {
            return false;
        }
        if (i + len > s.size())
            return false;
        for (std::size_t k = 1; k < len; ++k) {
            const auto c = static_cast<unsigned char>(s[i + k]);
            if ((c & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (c & 0x3f);
        }
        static constexpr std::uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_for_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

bool validate_in_pieces(std::string_view s, std::size_t a, std::size_t b) {
    ws::utf8_validator v;
    v.write(s.substr(0, a));
    v.write(s.substr(a, b - a));
    v.write(s.substr(b));
    return v.complete();
}

} // namespace

BOOST_AUTO_TEST_SUITE(ws_utf8)

BOOST_AUTO_TEST_CASE(accepts_valid_text) {
    for (std::string_view s :
         {""sv, "Hello, world"sv, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"sv /* κόσμε */,
          "\x7f"sv, "\xc2\x80"sv, "\xdf\xbf"sv, "\xe0\xa0\x80"sv, "\xed\x9f\xbf"sv /* U+D7FF */,
          "\xee\x80\x80"sv /* U+E000 */, "\xef\xbf\xbf"sv, "\xf0\x90\x80\x80"sv,
          "\xf4\x8f\xbf\xbf"sv /* U+10FFFF */, "\xf0\x9f\x98\x80 emoji"sv, "\0"sv}) {
        BOOST_TEST_INFO("input size " << s.size());
        BOOST_TEST(ws::is_valid_utf8(s));
        BOOST_TEST(reference_valid(s));
    }
}

BOOST_AUTO_TEST_CASE(rejects_invalid_text) {
    for (std::string_view s : {
             "\x80"sv, // lone continuation
             "\xbf"sv,
             "\xc0\x80"sv,                 // overlong NUL
             "\xc1\xbf"sv,                 // overlong U+007F
             "\xe0\x80\x80"sv,             // overlong
             "\xe0\x9f\xbf"sv,             // overlong U+07FF
             "\xf0\x80\x80\x80"sv,         // overlong
             "\xf0\x8f\xbf\xbf"sv,         // overlong U+FFFF
             "\xed\xa0\x80"sv,             // U+D800
             "\xed\xbf\xbf"sv,             // U+DFFF
             "\xed\xa0\x80\xed\xb0\x80"sv, // surrogate pair (CESU-8)
             "\xf4\x90\x80\x80"sv,         // U+110000
             "\xf5\x80\x80\x80"sv,
             "\xf8\x88\x80\x80\x80"sv,
             "\xfe"sv,
             "\xff"sv,
             "\xc2"sv,
             "\xe2\x82"sv,
             "\xf0\x9f\x98"sv, // truncated at the end
             "\xc2\x41"sv,
             "\xe2\x28\xa1"sv, // missing continuation
             "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"sv,
         }) {
        BOOST_TEST_INFO("input size " << s.size());
        BOOST_TEST(!ws::is_valid_utf8(s));
        BOOST_TEST(!reference_valid(s));
    }
}

BOOST_AUTO_TEST_CASE(fails_at_the_first_impossible_byte) {
    // RFC 6455 §8.1: fail as soon as the bytes cannot become valid, not at message end.
    ws::utf8_validator v;
    BOOST_TEST(v.write("abc\xe0"sv));
    BOOST_TEST(v.valid());
    BOOST_TEST(!v.complete());      // inside a sequence
    BOOST_TEST(!v.write("\x80"sv)); // E0 80 can only be an overlong
    BOOST_TEST(!v.valid());
    BOOST_TEST(!v.write("abc"sv)); // sticky
    v.reset();
    BOOST_TEST(v.write("\xed"sv));
    BOOST_TEST(!v.write("\xa0"sv)); // a surrogate after two bytes
    v.reset();
    BOOST_TEST(v.write("\xf4"sv));
    BOOST_TEST(!v.write("\x90"sv)); // above U+10FFFF after two bytes
    v.reset();
    BOOST_TEST(v.complete());
    BOOST_TEST(v.write("\xf0\x9f"sv));
    BOOST_TEST(v.write("\x98"sv));
    BOOST_TEST(!v.complete());
    BOOST_TEST(v.write("\x80"sv));
    BOOST_TEST(v.complete());
}

BOOST_AUTO_TEST_CASE(non_ascii_at_every_position_of_the_fast_path) {
    // The ASCII fast path reads 16 bytes at a time: put a multi-byte sequence, a bad byte,
    // or a truncated sequence at every offset of a 40-byte buffer.
    for (std::size_t pos = 0; pos < 40; ++pos) {
        std::string good(40, 'a'), bad(40, 'a'), cut(40, 'a');
        good.replace(pos, 3, "\xe2\x82\xac"); // €
        bad[pos] = '\xff';
        cut.resize(pos);
        cut += "\xe2\x82";
        BOOST_TEST_INFO("position " << pos);
        BOOST_TEST(ws::is_valid_utf8(good.substr(0, 40)) == reference_valid(good.substr(0, 40)));
        BOOST_TEST(!ws::is_valid_utf8(bad));
        BOOST_TEST(!ws::is_valid_utf8(cut));
    }
}

BOOST_AUTO_TEST_CASE(split_at_every_byte) {
    const std::vector<std::string> samples = {
        "plain ascii that is longer than sixteen bytes, to hit the fast path",
        "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 and \xf0\x9f\x98\x80\xf0\x9f\x98\x81 mixed",
        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3"
        "\x83\x88",
        "bad \xed\xa0\x80 surrogate in the middle of ascii text",
        "truncated at the end \xf0\x9f\x98",
        "overlong \xc0\xaf slash",
    };
    for (const std::string& s : samples) {
        const bool whole = ws::is_valid_utf8(s);
        BOOST_TEST(whole == reference_valid(s));
        for (std::size_t a = 0; a <= s.size(); ++a)
            for (std::size_t b = a; b <= s.size(); ++b) {
                BOOST_TEST_INFO("split " << a << "," << b);
                BOOST_TEST(validate_in_pieces(s, a, b) == whole);
            }
        // One byte at a time.
        ws::utf8_validator v;
        for (char c : s)
            v.write(std::string_view(&c, 1));
        BOOST_TEST(v.complete() == whole);
    }
}

BOOST_AUTO_TEST_CASE(agrees_with_the_reference_on_all_short_sequences) {
    // Every 1-, 2- and 3-byte string, and every 4-byte string starting F0–F7 with random tails.
    std::string s(3, '\0');
    std::size_t disagreements = 0;
    for (unsigned a = 0; a < 256; ++a) {
        s.assign(1, static_cast<char>(a));
        disagreements += ws::is_valid_utf8(s) != reference_valid(s);
        for (unsigned b = 0; b < 256; ++b) {
            s.assign({static_cast<char>(a), static_cast<char>(b)});
            disagreements += ws::is_valid_utf8(s) != reference_valid(s);
            for (unsigned c = 0; c < 256; ++c) {
                const char three[3] = {static_cast<char>(a), static_cast<char>(b),
                                       static_cast<char>(c)};
                const std::string_view t(three, 3);
                disagreements += ws::is_valid_utf8(t) != reference_valid(t);
            }
        }
    }
    std::mt19937 rng(6455);
    for (int i = 0; i < 200000; ++i) {
        const char four[4] = {static_cast<char>(0xf0 + rng() % 8),
                              static_cast<char>(0x80 + rng() % 64),
                              static_cast<char>(0x80 + rng() % 64), static_cast<char>(rng() % 256)};
        const std::string_view t(four, 4);
        disagreements += ws::is_valid_utf8(t) != reference_valid(t);
    }
    BOOST_TEST(disagreements == 0u);
}

BOOST_AUTO_TEST_CASE(random_text_agrees_with_the_reference) {
    std::mt19937 rng(3629);
    const std::vector<std::string> atoms = {
        "a",    "z",        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xed\x9f\xbf",
        "\x80", "\xf4\x90", "\xc0"};
    for (int i = 0; i < 20000; ++i) {
        std::string s;
        const int n = static_cast<int>(rng() % 40);
        for (int k = 0; k < n; ++k)
            s += atoms[rng() % (i % 2 == 0 ? 6 : atoms.size())];
        BOOST_TEST_INFO("sample " << i);
        BOOST_TEST(ws::is_valid_utf8(s) == reference_valid(s));
        const std::size_t a = s.empty() ? 0 : rng() % s.size();
        BOOST_TEST(validate_in_pieces(s, a, a + (s.size() - a) / 2) == reference_valid(s));
    }
}

BOOST_AUTO_TEST_SUITE_END()
