// Unit tests for file ranges in pier's write queue (pier/write/queue.hpp) and for pier::file
// (pier/file.hpp): ranges keep their place among memory ranges, gather stops at them, consume
// walks across them, and open_beneath never leaves its directory.
#include <pier/file.hpp>
#include <pier/write/queue.hpp>

#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <system_error>
#include <vector>

namespace {

/// A scratch directory with a few files and links, removed with everything in it.
struct scratch {
    std::string dir;
    scratch() {
        char tmpl[] = "/tmp/pier-files-XXXXXX";
        dir = ::mkdtemp(tmpl);
        write("a.txt", "hello, file");
        ::mkdir((dir + "/sub").c_str(), 0755);
        write("sub/b.txt", "below");
        ::symlink("/etc/hostname", (dir + "/out").c_str()); // leads out of the directory
        ::symlink("../a.txt", (dir + "/sub/up").c_str());   // stays inside
        ::mkfifo((dir + "/fifo").c_str(), 0600);
    }
    ~scratch() { std::system(("rm -rf '" + dir + "'").c_str()); }
    void write(const std::string& name, const std::string& content) const {
        const int fd = ::open((dir + "/" + name).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        BOOST_REQUIRE(fd >= 0);
        BOOST_REQUIRE(::write(fd, content.data(), content.size()) ==
                      static_cast<ssize_t>(content.size()));
        ::close(fd);
    }
};

std::string text(const std::vector<asio::const_buffer>& v) {
    std::string s;
    for (const auto& b : v)
        s.append(static_cast<const char*>(b.data()), b.size());
    return s;
}

} // namespace

BOOST_AUTO_TEST_SUITE(core_write_files)

BOOST_AUTO_TEST_CASE(file_ranges_keep_their_place) {
    scratch s;
    std::error_code ec;
    auto f = pier::file::open(s.dir + "/a.txt", ec);
    BOOST_REQUIRE(f);
    BOOST_TEST(f->size() == 11u);
    BOOST_TEST(!f->is_directory());

    pier::detail::write_queue q;
    q.append_copy("HEAD ");
    q.append_file(f, 7, 4); // "file"
    q.append_copy(" TAIL");
    BOOST_TEST(q.bytes() == 10u); // memory only
    BOOST_TEST(q.file_bytes() == 4u);
    BOOST_TEST(q.files() == 1u);

    std::vector<asio::const_buffer> iov;
    BOOST_TEST(q.gather(iov, 64) == 1u); // stops at the file range
    BOOST_TEST(text(iov) == "HEAD ");
    auto next = q.file_at(1);
    BOOST_REQUIRE(next.has_value());
    BOOST_TEST(next->offset == 7u);
    BOOST_TEST(next->size == 4u);
    BOOST_TEST(!q.file_at(0).has_value());

    q.consume(5);
    BOOST_TEST(q.gather(iov, 64) == 0u); // the front is the file range now
    BOOST_REQUIRE(q.file_at(0).has_value());
    q.consume(3); // part of the file range
    BOOST_TEST(q.file_at(0)->offset == 10u);
    BOOST_TEST(q.file_bytes() == 1u);
    BOOST_TEST(q.file_bytes_sent() == 3u);
    q.consume(1 + 2); // the rest of it and into the memory behind
    BOOST_TEST(q.files() == 0u);
    BOOST_TEST(q.gather(iov, 64) == 1u);
    BOOST_TEST(text(iov) == "AIL");
    BOOST_TEST(q.file_bytes_sent() == 4u);
    q.consume(3);
    BOOST_TEST(q.empty());
}

BOOST_AUTO_TEST_CASE(copies_do_not_merge_across_a_file_range) {
    scratch s;
    std::error_code ec;
    auto f = pier::file::open(s.dir + "/a.txt", ec);
    BOOST_REQUIRE(f);
    pier::detail::write_queue q;
    q.append_copy("x");
    q.append_file(f, 0, 5);
    q.append_copy("y");
    std::vector<asio::const_buffer> iov;
    BOOST_TEST(q.gather(iov, 64) == 1u);
    BOOST_TEST(text(iov) == "x");
}

BOOST_AUTO_TEST_CASE(clear_counts_unsent_file_bytes_as_passed) {
    scratch s;
    std::error_code ec;
    auto f = pier::file::open(s.dir + "/a.txt", ec);
    pier::detail::write_queue q;
    q.append_file(f, 0, 11);
    const auto mark = q.file_bytes_queued_total();
    q.clear();
    BOOST_TEST(q.empty());
    BOOST_TEST(q.file_bytes_sent() >= mark); // a waiting send_file wakes up
    BOOST_TEST(f.use_count() == 1);          // the queue let go of the file
}

BOOST_AUTO_TEST_CASE(open_beneath_stays_below_its_directory) {
    scratch s;
    std::error_code ec;
    auto root = pier::file::open(s.dir, ec);
    BOOST_REQUIRE(root);
    BOOST_TEST(root->is_directory());
    const int dir = root->native_handle();

    auto ok = pier::file::open_beneath(dir, "sub/b.txt", ec);
    BOOST_TEST(ok != nullptr);
    BOOST_TEST(!ec);
    BOOST_TEST(pier::file::open_beneath(dir, "sub/up", ec) != nullptr); // a link that stays in
    BOOST_TEST(pier::file::open_beneath(dir, "", ec)->is_directory());

    for (const char* escape : {"../etc/passwd", "sub/../../etc/passwd", "/etc/passwd", "out"}) {
        auto f = pier::file::open_beneath(dir, escape, ec);
        BOOST_TEST(!f, escape);
        // EXDEV with openat2; ELOOP for a link under the component-wise fallback.
        BOOST_TEST(
            (ec == std::errc::cross_device_link || ec == std::errc::too_many_symbolic_link_levels),
            escape << ": " << ec.message());
    }
    BOOST_TEST(!pier::file::open_beneath(dir, "missing", ec));
    BOOST_TEST((ec == std::errc::no_such_file_or_directory));
    BOOST_TEST(!pier::file::open_beneath(dir, std::string_view("a\0b", 3), ec));
    BOOST_TEST((ec == std::errc::invalid_argument));
}

BOOST_AUTO_TEST_CASE(only_regular_files_and_directories) {
    scratch s;
    std::error_code ec;
    // A FIFO neither blocks the open nor is accepted.
    BOOST_TEST(!pier::file::open(s.dir + "/fifo", ec));
    BOOST_TEST((ec == std::errc::invalid_argument));
    BOOST_TEST(!pier::file::open("/dev/null", ec));
    BOOST_TEST(!pier::file::open(s.dir + "/nothing", ec));
    BOOST_TEST((ec == std::errc::no_such_file_or_directory));
    BOOST_TEST(!pier::file::adopt(-1, ec));
}

BOOST_AUTO_TEST_CASE(the_fallback_walk_refuses_every_link_and_dot_dot) {
    scratch s;
    std::error_code ec;
    auto root = pier::file::open(s.dir, ec);
    BOOST_REQUIRE(root);
    const int dir = root->native_handle();
    const int fd = pier::detail::open_walk(dir, "sub/b.txt");
    BOOST_TEST(fd >= 0);
    if (fd >= 0)
        ::close(fd);
    BOOST_TEST(pier::detail::open_walk(dir, "out") < 0);
    BOOST_TEST(pier::detail::open_walk(dir, "sub/up") < 0); // even one that stays inside
    BOOST_TEST(pier::detail::open_walk(dir, "sub/../a.txt") < 0);
    const int self = pier::detail::open_walk(dir, "./");
    BOOST_TEST(self >= 0);
    if (self >= 0)
        ::close(self);
}

BOOST_AUTO_TEST_SUITE_END()
