// A stand-in for libFuzzer's main(), so every fuzz target also runs as an ordinary CTest test
// with GCC and under any sanitizer (tests/CMakeLists.txt links it unless PIER_FUZZ=ON).
//
//   fuzz_<name> [-runs=N] [-max_total_time=S] [-seed=N] [-max_len=N] [-dict=FILE] [PATH...]
//
// 1. Feeds every file under each PATH (directories are walked in sorted order) to
//    LLVMFuzzerTestOneInput, once.
// 2. Then runs up to N (default 20000) generated inputs, stopping after S seconds (default 10),
//    whichever comes first: random bytes, random sequences of dictionary and corpus tokens, and
//    corpus entries with a few random mutations. A fixed seed (default 1) makes a run
//    reproducible: the same seed and the same corpus give the same inputs.
//
// On a crash (a sanitizer report or a fatal signal) the input is written to
// ./crash-<stem>-<n> and its name printed, so `fuzz_<name> ./crash-...` replays it.
//
// This is a hand-written, much smaller cousin of libFuzzer's mutator: no coverage feedback, so
// it finds shallow bugs only. Real fuzzing is `tools/fuzz.sh <name> [seconds]` with clang.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);
extern "C" __attribute__((weak)) void __sanitizer_set_death_callback(void (*callback)());

namespace {

using bytes = std::vector<std::uint8_t>;

struct settings {
    long runs = 20000;
    double max_seconds = 10;
    std::uint64_t seed = 1;
    std::size_t max_len = 0; // 0: twice the largest corpus file, at least 4096
    std::vector<std::string> dicts;
    std::vector<std::string> paths;
};

// splitmix64: tiny, fast, and identical on every platform, which std:: distributions are not.
class rng {
public:
    explicit rng(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    // Uniform-enough in [0, n); n > 0.
    std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
    bool one_in(std::size_t n) { return below(n) == 0; }

private:
    std::uint64_t state_;
};

// The input being run, kept where a signal handler can reach it without allocating.
const std::uint8_t* current_data = nullptr;
std::size_t current_size = 0;
char crash_path[256] = "crash-input";

void write_all(int fd, const void* data, std::size_t size) {
    auto p = static_cast<const char*>(data);
    while (size > 0) {
        ssize_t n = ::write(fd, p, size);
        if (n <= 0) {
            return;
        }
        p += n;
        size -= static_cast<std::size_t>(n);
    }
}

// Async-signal-safe: open/write/close only.
void dump_current_input() {
    static volatile std::sig_atomic_t dumped = 0;
    if (dumped || current_data == nullptr) {
        return;
    }
    dumped = 1;
    int fd = ::open(crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        write_all(fd, current_data, current_size);
        ::close(fd);
    }
    const char prefix[] = "\nreplay_main: the crashing input was written to ";
    write_all(2, prefix, sizeof prefix - 1);
    write_all(2, crash_path, std::strlen(crash_path));
    write_all(2, "\n", 1);
}

extern "C" void on_fatal_signal(int signo) {
    dump_current_input();
    std::signal(signo, SIG_DFL);
    std::raise(signo);
}

void install_crash_handlers() {
    if (__sanitizer_set_death_callback != nullptr) {
        __sanitizer_set_death_callback(&dump_current_input);
    }
    // Sanitizers report SEGV themselves and then call the death callback; plain builds (and
    // ASan's abort_on_error) end in one of these signals.
    for (int signo : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) {
        struct sigaction previous {};
        ::sigaction(signo, nullptr, &previous);
        if (previous.sa_handler == SIG_DFL) {
            std::signal(signo, &on_fatal_signal);
        }
    }
}

void run_one(const bytes& input) {
    // A copy at an exact-size heap allocation, so ASan catches reads one past the end.
    auto* copy = static_cast<std::uint8_t*>(std::malloc(input.size() ? input.size() : 1));
    if (!input.empty()) {
        std::memcpy(copy, input.data(), input.size());
    }
    current_data = copy;
    current_size = input.size();
    LLVMFuzzerTestOneInput(copy, input.size());
    current_data = nullptr;
    std::free(copy);
}

bool read_file(const std::filesystem::path& path, bytes& out) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return false;
    }
    out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return true;
}

// libFuzzer's dictionary format: one `"token"` or `name="token"` per line, with \\, \" and
// \xNN escapes; # starts a comment.
void read_dictionary(const std::string& path, std::vector<bytes>& tokens) {
    std::ifstream in(path);
    if (!in) {
        std::fprintf(stderr, "replay_main: cannot read dictionary %s\n", path.c_str());
        std::exit(2);
    }
    std::string line;
    while (std::getline(in, line)) {
        auto first = line.find_first_not_of(" \t");
        auto open = line.find('"');
        auto close = line.rfind('"');
        if (first == std::string::npos || line[first] == '#' || open == std::string::npos ||
            close <= open) {
            continue;
        }
        bytes token;
        for (std::size_t i = open + 1; i < close; ++i) {
            if (line[i] == '\\' && i + 1 < close) {
                char c = line[++i];
                if (c == 'x' && i + 2 < close) {
                    token.push_back(
                        static_cast<std::uint8_t>(std::stoi(line.substr(i + 1, 2), nullptr, 16)));
                    i += 2;
                } else {
                    token.push_back(static_cast<std::uint8_t>(c));
                }
            } else {
                token.push_back(static_cast<std::uint8_t>(line[i]));
            }
        }
        if (!token.empty()) {
            tokens.push_back(std::move(token));
        }
    }
}

// Splits corpus entries at separators typical of text protocols, so that generated inputs can
// recombine real field names and values.
void harvest_tokens(const bytes& input, std::set<bytes>& tokens) {
    bytes token;
    auto flush = [&] {
        if (token.size() >= 2 && token.size() <= 64 && tokens.size() < 4096) {
            tokens.insert(token);
        }
        token.clear();
    };
    for (std::uint8_t c : input) {
        if (c == ' ' || c == '\r' || c == '\n' || c == ':' || c == '/' || c == '&' || c == '=' ||
            c == ';' || c == ',') {
            flush();
            tokens.insert(bytes{c});
        } else {
            token.push_back(c);
        }
    }
    flush();
}

const char* const interesting_strings[] = {
    "\r\n",
    "\r\n\r\n",
    "\n",
    "\r",
    "\0",
    " ",
    ":",
    "0",
    "-1",
    "00000000000000000000001",
    "4294967295",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "9223372036854775807",
    "-9223372036854775808",
    "ffffffffffffffff",
    "%00",
    "%",
    "\xff",
    "\x80",
    "\xc0\x80",
    "\xef\xbb\xbf",
    "\xed\xa0\x80",
    "\xf4\x90\x80\x80",
};

class generator {
public:
    generator(const settings& s, std::vector<bytes> corpus, std::vector<bytes> tokens)
        : rng_(s.seed), max_len_(s.max_len), corpus_(std::move(corpus)),
          tokens_(std::move(tokens)) {
        for (const char* str : interesting_strings) {
            std::size_t n = std::strlen(str);
            tokens_.emplace_back(str, str + (n == 0 ? 1 : n));
        }
    }

    bytes next() {
        bytes out;
        switch (corpus_.empty() ? rng_.below(2) : rng_.below(8)) {
        case 0:
            out = random_bytes();
            break;
        case 1:
            out = token_soup();
            break;
        default:
            out = mutated();
            break;
        }
        if (out.size() > max_len_) {
            out.resize(max_len_);
        }
        return out;
    }

private:
    bytes random_bytes() {
        bytes out(rng_.below(std::min<std::size_t>(max_len_, 256) + 1));
        for (auto& b : out) {
            b = static_cast<std::uint8_t>(rng_.next());
        }
        return out;
    }

    bytes token_soup() {
        bytes out;
        std::size_t n = 1 + rng_.below(32);
        for (std::size_t i = 0; i < n && out.size() < max_len_; ++i) {
            const auto& t = tokens_[rng_.below(tokens_.size())];
            out.insert(out.end(), t.begin(), t.end());
        }
        return out;
    }

    bytes mutated() {
        bytes out = corpus_[rng_.below(corpus_.size())];
        std::size_t n = 1 + rng_.below(rng_.one_in(4) ? 16 : 4);
        for (std::size_t i = 0; i < n; ++i) {
            mutate(out);
        }
        return out;
    }

    void mutate(bytes& b) {
        auto pos = [&](std::size_t extra = 0) { return rng_.below(b.size() + extra); };
        switch (rng_.below(11)) {
        case 0: // flip a bit
            if (!b.empty()) {
                b[pos()] ^= static_cast<std::uint8_t>(1u << rng_.below(8));
            }
            break;
        case 1: // set a random byte
            if (!b.empty()) {
                b[pos()] = static_cast<std::uint8_t>(rng_.next());
            }
            break;
        case 2: { // insert random bytes
            std::size_t at = pos(1), n = 1 + rng_.below(8);
            for (std::size_t i = 0; i < n; ++i) {
                b.insert(b.begin() + static_cast<std::ptrdiff_t>(at),
                         static_cast<std::uint8_t>(rng_.next()));
            }
            break;
        }
        case 3: // erase a range
            if (!b.empty()) {
                std::size_t at = pos(),
                            n = 1 + rng_.below(std::min<std::size_t>(b.size() - at, 16));
                b.erase(b.begin() + static_cast<std::ptrdiff_t>(at),
                        b.begin() + static_cast<std::ptrdiff_t>(at + n));
            }
            break;
        case 4: // duplicate a range, sometimes many times (length fields, repeated headers)
            if (!b.empty()) {
                std::size_t at = pos(),
                            n = 1 + rng_.below(std::min<std::size_t>(b.size() - at, 64));
                bytes chunk(b.begin() + static_cast<std::ptrdiff_t>(at),
                            b.begin() + static_cast<std::ptrdiff_t>(at + n));
                std::size_t times = rng_.one_in(8) ? 1 + rng_.below(200) : 1;
                for (std::size_t i = 0; i < times && b.size() < max_len_; ++i) {
                    b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), chunk.begin(),
                             chunk.end());
                }
            }
            break;
        case 5:
        case 6: { // insert or overwrite with a token
            const auto& t = tokens_[rng_.below(tokens_.size())];
            std::size_t at = pos(1);
            if (rng_.one_in(2) || at + t.size() > b.size()) {
                b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), t.begin(), t.end());
            } else {
                std::copy(t.begin(), t.end(), b.begin() + static_cast<std::ptrdiff_t>(at));
            }
            break;
        }
        case 7: // truncate
            if (!b.empty()) {
                b.resize(pos());
            }
            break;
        case 8: { // splice with another corpus entry
            const auto& other = corpus_[rng_.below(corpus_.size())];
            std::size_t keep = pos(1);
            std::size_t from = rng_.below(other.size() + 1);
            b.resize(keep);
            b.insert(b.end(), other.begin() + static_cast<std::ptrdiff_t>(from), other.end());
            break;
        }
        case 9: // replace a run of digits with an extreme number
            if (!b.empty()) {
                std::size_t at = pos();
                while (at < b.size() && !(b[at] >= '0' && b[at] <= '9')) {
                    ++at;
                }
                std::size_t end = at;
                while (end < b.size() && b[end] >= '0' && b[end] <= '9') {
                    ++end;
                }
                static const char* const numbers[] = {"0",
                                                      "1",
                                                      "65535",
                                                      "65536",
                                                      "2147483648",
                                                      "4294967296",
                                                      "18446744073709551616",
                                                      "99999999999999999999999999"};
                const char* num = numbers[rng_.below(std::size(numbers))];
                b.erase(b.begin() + static_cast<std::ptrdiff_t>(at),
                        b.begin() + static_cast<std::ptrdiff_t>(end));
                b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), num, num + std::strlen(num));
            }
            break;
        default: // swap case of a letter (case-insensitive header names, methods)
            if (!b.empty()) {
                auto& c = b[pos()];
                if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') {
                    c ^= 0x20;
                }
            }
            break;
        }
    }

    rng rng_;
    std::size_t max_len_;
    std::vector<bytes> corpus_;
    std::vector<bytes> tokens_;
};

bool parse_flag(std::string_view arg, std::string_view name, std::string& value) {
    if (arg.size() > name.size() + 1 && arg.substr(0, name.size()) == name &&
        arg[name.size()] == '=') {
        value = std::string(arg.substr(name.size() + 1));
        return true;
    }
    return false;
}

[[noreturn]] void usage(const char* argv0) {
    std::fprintf(stderr,
                 "usage: %s [-runs=N] [-max_total_time=S] [-seed=N] [-max_len=N] [-dict=FILE] "
                 "[PATH...]\n",
                 argv0);
    std::exit(2);
}

} // namespace

int main(int argc, char** argv) {
    if (LLVMFuzzerInitialize != nullptr) {
        LLVMFuzzerInitialize(&argc, &argv);
    }
    settings s;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        std::string value;
        try {
            if (parse_flag(arg, "-runs", value)) {
                s.runs = std::stol(value);
            } else if (parse_flag(arg, "-max_total_time", value)) {
                s.max_seconds = std::stod(value);
            } else if (parse_flag(arg, "-seed", value)) {
                s.seed = std::stoull(value);
            } else if (parse_flag(arg, "-max_len", value)) {
                s.max_len = std::stoull(value);
            } else if (parse_flag(arg, "-dict", value)) {
                s.dicts.push_back(value);
            } else if (arg == "-help" || arg == "--help" || arg == "-h") {
                usage(argv[0]);
            } else if (!arg.empty() && arg[0] == '-') {
                std::fprintf(stderr, "replay_main: ignoring unknown flag %s\n", argv[i]);
            } else {
                s.paths.emplace_back(arg);
            }
        } catch (const std::exception&) {
            usage(argv[0]);
        }
    }

    std::string stem = std::filesystem::path(argv[0]).filename().string();
    std::snprintf(crash_path, sizeof crash_path, "crash-%s-%ld", stem.c_str(),
                  static_cast<long>(::getpid()));
    install_crash_handlers();

    // Corpus files, in a fixed order so that a run is reproducible.
    std::vector<std::filesystem::path> files;
    for (const auto& path : s.paths) {
        std::error_code ec;
        if (std::filesystem::is_directory(path, ec)) {
            for (const auto& entry : std::filesystem::recursive_directory_iterator(path, ec)) {
                if (entry.is_regular_file()) {
                    files.push_back(entry.path());
                }
            }
        } else if (std::filesystem::is_regular_file(path, ec)) {
            files.emplace_back(path);
        } else {
            std::fprintf(stderr, "replay_main: %s: no such file or directory\n", path.c_str());
            return 2;
        }
    }
    std::sort(files.begin(), files.end());

    std::vector<bytes> corpus;
    std::set<bytes> harvested;
    std::size_t largest = 0;
    for (const auto& file : files) {
        bytes input;
        if (!read_file(file, input)) {
            std::fprintf(stderr, "replay_main: cannot read %s\n", file.c_str());
            return 2;
        }
        run_one(input);
        largest = std::max(largest, input.size());
        harvest_tokens(input, harvested);
        corpus.push_back(std::move(input));
    }
    std::printf("replay_main: %zu corpus input(s) replayed\n", corpus.size());

    std::vector<bytes> tokens(harvested.begin(), harvested.end());
    for (const auto& dict : s.dicts) {
        read_dictionary(dict, tokens);
    }
    if (s.max_len == 0) {
        s.max_len = std::max<std::size_t>(4096, 2 * largest);
    }

    generator gen(s, std::move(corpus), std::move(tokens));
    auto start = std::chrono::steady_clock::now();
    long done = 0;
    for (; done < s.runs; ++done) {
        if ((done & 63) == 0 &&
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >=
                s.max_seconds) {
            break;
        }
        run_one(gen.next());
    }
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("replay_main: %ld generated input(s) in %.1f s (seed %llu), no crash\n", done,
                elapsed, static_cast<unsigned long long>(s.seed));
    return 0;
}
