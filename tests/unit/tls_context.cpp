// tls_context: pier::tls::context, the reloadable certificate store, without sockets: SNI name
// lookup (exact, wildcard, default), loading from files and PEM text, the errors a bad
// configuration gets, and reloads (atomic swap, old generation kept alive, failure keeps the
// current certificates).
//
// pier-test: threads
#include <pier/pier.hpp>

#include "unit/tls_test_certs.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <thread>

namespace {

using pier_test::cert_files;
using pier_test::make_cert;
using pier_test::temp_dir;

// The subject CN of the certificate an SSL_CTX serves.
std::string subject_cn(SSL_CTX* ctx) {
    if (!ctx)
        return "<none>";
    X509* cert = ::SSL_CTX_get0_certificate(ctx);
    if (!cert)
        return "<no certificate>";
    char buf[256] = {};
    ::X509_NAME_get_text_by_NID(::X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
    return buf;
}

pier::tls::certificate files(const cert_files& f, std::vector<std::string> names = {}) {
    return {.cert_chain_file = f.cert, .key_file = f.key, .names = std::move(names)};
}

} // namespace

BOOST_AUTO_TEST_SUITE(tls_context)

BOOST_AUTO_TEST_CASE(sni_lookup_exact_wildcard_and_default) {
    temp_dir dir;
    pier::tls::options o;
    o.certificates.push_back(files(make_cert(dir, "default", "default.test", {"default.test"})));
    o.certificates.push_back(
        files(make_cert(dir, "api", "api.test", {"api.test", "www.api.test"})));
    o.certificates.push_back(files(make_cert(dir, "wild", "wild", {"*.wild.test"})));
    // Explicit names replace the certificate's own.
    o.certificates.push_back(files(make_cert(dir, "explicit", "explicit", {"ignored.test"}),
                                   {"Named.Test", "*.named.test"}));
    // No SAN at all: the CN is the name.
    o.certificates.push_back(files(make_cert(dir, "cn", "cn-only.test")));

    pier::tls::context ctx(o);
    BOOST_TEST(ctx.generation() == 1u);
    auto set = ctx.snapshot();
    BOOST_REQUIRE(set);
    BOOST_TEST(set->size() == 5u);
    BOOST_TEST(subject_cn(set->initial()) == "default.test");
    BOOST_TEST(subject_cn(set->find("api.test")) == "api.test");
    BOOST_TEST(subject_cn(set->find("WWW.API.TEST")) == "api.test"); // case-insensitive
    BOOST_TEST(subject_cn(set->find("api.test.")) == "api.test");    // trailing dot
    BOOST_TEST(subject_cn(set->find("a.wild.test")) == "wild");      // one label
    BOOST_TEST(!set->find("a.b.wild.test"));                         // not two
    BOOST_TEST(!set->find("wild.test"));                             // not zero
    BOOST_TEST(subject_cn(set->find("named.test")) == "explicit");
    BOOST_TEST(subject_cn(set->find("x.named.test")) == "explicit");
    BOOST_TEST(!set->find("ignored.test"));
    BOOST_TEST(subject_cn(set->find("cn-only.test")) == "cn-only.test");
    BOOST_TEST(!set->find("unknown.test"));
    BOOST_TEST(!set->find(""));
    BOOST_TEST(!set->find(std::string(300, 'a')));
}

BOOST_AUTO_TEST_CASE(exact_name_beats_wildcard_and_first_certificate_wins) {
    temp_dir dir;
    pier::tls::options o;
    o.certificates.push_back(files(make_cert(dir, "w", "wild", {"*.example.test"})));
    o.certificates.push_back(files(make_cert(dir, "e", "exact", {"www.example.test"})));
    o.certificates.push_back(files(make_cert(dir, "dup", "duplicate", {"www.example.test"})));
    pier::tls::context ctx(o);
    auto set = ctx.snapshot();
    BOOST_TEST(subject_cn(set->find("www.example.test")) == "exact");
    BOOST_TEST(subject_cn(set->find("api.example.test")) == "wild");
}

BOOST_AUTO_TEST_CASE(loads_pem_text) {
    temp_dir dir;
    auto f = make_cert(dir, "pem", "pem.test", {"pem.test"});
    pier::tls::options o;
    o.certificates.push_back(
        {.cert_chain_pem = pier_test::read_text(f.cert), .key_pem = pier_test::read_text(f.key)});
    pier::tls::context ctx(o);
    BOOST_TEST(subject_cn(ctx.snapshot()->find("pem.test")) == "pem.test");
}

BOOST_AUTO_TEST_CASE(bad_configurations_are_refused_with_a_reason) {
    temp_dir dir;
    auto a = make_cert(dir, "a", "a.test", {"a.test"});
    auto b = make_cert(dir, "b", "b.test", {"b.test"});
    auto message_of = [](const pier::tls::options& o) -> std::string {
        try {
            pier::tls::context ctx(o);
        } catch (const std::system_error& e) {
            return e.what();
        }
        return "<accepted>";
    };
    auto contains = [](const std::string& s, const std::string& part) {
        BOOST_TEST_INFO("message: " << s);
        BOOST_TEST(s.find(part) != std::string::npos, "expected '" << part << "'");
    };

    contains(message_of({}), "no certificate configured");

    pier::tls::options o;
    o.certificates.push_back({.cert_chain_file = dir.file("missing.pem"), .key_file = a.key});
    contains(message_of(o), "missing.pem");
    contains(message_of(o), "No such file");

    o.certificates = {{.cert_chain_file = a.cert, .key_file = b.key}};
    contains(message_of(o), "does not match");

    o.certificates = {{.cert_chain_file = a.key, .key_file = a.key}};
    contains(message_of(o), "no PEM certificate");

    o.certificates = {files(a)};
    o.ciphers = "NO-SUCH-CIPHER";
    contains(message_of(o), "cipher list");

    o.ciphers = pier::tls::options{}.ciphers;
    o.alpn = {std::string(256, 'x')};
    contains(message_of(o), "ALPN");

    o.alpn = {};
    o.min_version = pier::tls::protocol_version::tls1_3;
    o.max_version = pier::tls::protocol_version::tls1_2;
    contains(message_of(o), "min_version");

    o.min_version = pier::tls::protocol_version::tls1_2;
    o.verify_client = pier::tls::client_verify::required;
    contains(message_of(o), "client_ca_file");

    // An encrypted key without its passphrase fails instead of prompting on a terminal.
    const std::string enc = dir.file("enc.key");
    BOOST_REQUIRE(std::system(("openssl pkey -in '" + a.key +
                               "' -aes128 -passout pass:secret -out '" + enc + "' 2>/dev/null")
                                  .c_str()) == 0);
    o.verify_client = pier::tls::client_verify::none;
    o.certificates = {{.cert_chain_file = a.cert, .key_file = enc}};
    contains(message_of(o), "private key");
    o.certificates[0].key_password = "secret";
    BOOST_TEST(message_of(o) == "<accepted>");
}

BOOST_AUTO_TEST_CASE(reload_swaps_atomically_and_keeps_old_generation_alive) {
    temp_dir dir;
    auto one = make_cert(dir, "one", "one.test", {"site.test"});
    auto two = make_cert(dir, "two", "two.test", {"site.test"});
    const std::string cert = dir.file("live.pem"), key = dir.file("live.key");
    pier_test::write_text(cert, pier_test::read_text(one.cert));
    pier_test::write_text(key, pier_test::read_text(one.key));

    pier::tls::options o;
    o.certificates.push_back({.cert_chain_file = cert, .key_file = key});
    pier::tls::context ctx(o);
    auto old = ctx.snapshot();
    BOOST_TEST(subject_cn(old->find("site.test")) == "one.test");
    BOOST_TEST(old->generation() == 1u);

    // Renewal: new files, reload, new handshakes get them.
    pier_test::write_text(cert, pier_test::read_text(two.cert));
    pier_test::write_text(key, pier_test::read_text(two.key));
    auto r = ctx.reload();
    BOOST_TEST(r.ok(), r.message);
    BOOST_TEST(ctx.generation() == 2u);
    auto now = ctx.snapshot();
    BOOST_TEST(now->generation() == 2u);
    BOOST_TEST(subject_cn(now->find("site.test")) == "two.test");
    // The generation a connection started with is untouched and still usable.
    BOOST_TEST(subject_cn(old->find("site.test")) == "one.test");
    SSL* ssl = ::SSL_new(old->initial());
    BOOST_TEST(ssl != nullptr);
    ::SSL_free(ssl);

    // A broken renewal (key of another certificate) is refused; the current one stays.
    pier_test::write_text(key, pier_test::read_text(one.key));
    r = ctx.reload();
    BOOST_TEST(!r.ok());
    BOOST_TEST(r.message.find("does not match") != std::string::npos, r.message);
    BOOST_TEST(ctx.generation() == 2u);
    BOOST_TEST(ctx.snapshot() == now);

    // reload(options) changes the configuration.
    auto o2 = ctx.current_options();
    o2.certificates = {{.cert_chain_file = one.cert, .key_file = one.key}};
    o2.alpn = {"http/1.1"};
    r = ctx.reload(o2);
    BOOST_TEST(r.ok(), r.message);
    BOOST_TEST(ctx.generation() == 3u);
    BOOST_TEST(ctx.current_options().alpn.size() == 1u);
    BOOST_TEST(subject_cn(ctx.snapshot()->initial()) == "one.test");
}

BOOST_AUTO_TEST_CASE(snapshots_race_with_reloads) {
    // What TSan is for: accept threads take snapshots while another thread reloads.
    temp_dir dir;
    auto one = make_cert(dir, "one", "one.test", {"site.test"});
    pier::tls::options o;
    o.certificates.push_back(files(one));
    pier::tls::context ctx(o);
    std::atomic<bool> done{false};
    std::atomic<int> bad{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 2; ++t)
        readers.emplace_back([&] {
            while (!done.load()) {
                auto s = ctx.snapshot();
                SSL* ssl = ::SSL_new(s->initial());
                if (!ssl || !s->find("site.test"))
                    ++bad;
                ::SSL_free(ssl);
            }
        });
    for (int i = 0; i < 20; ++i)
        BOOST_TEST(ctx.reload().ok());
    done = true;
    for (auto& t : readers)
        t.join();
    BOOST_TEST(bad.load() == 0);
    BOOST_TEST(ctx.generation() == 21u);
}

BOOST_AUTO_TEST_CASE(transport_models_the_concept) {
    static_assert(pier::transport_policy<pier::transport::tls>);
    using policies = pier::policies<pier::transport::tls, pier::buffer::fixed<4096>>;
    static_assert(std::is_same_v<policies::transport, pier::transport::tls>);
    BOOST_TEST(true);
}

BOOST_AUTO_TEST_SUITE_END()
