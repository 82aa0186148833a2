// pier/tls/impl/context.hpp: out-of-line definitions of pier::tls::context.
#pragma once

#include <pier/tls/context.hpp>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

namespace pier::tls {

namespace detail {

inline char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? char(c + 32) : c;
}

inline std::string lower_name(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        c = ascii_lower(c);
    if (!out.empty() && out.back() == '.')
        out.pop_back();
    return out;
}

inline bool read_file(const std::string& path, std::string& out, std::error_code& ec) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {
        ec = std::error_code(errno, std::system_category());
        return false;
    }
    out.clear();
    char buf[8192];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
        out.append(buf, n);
    const bool bad = std::ferror(f) != 0;
    std::fclose(f);
    if (bad) {
        ec = std::make_error_code(std::errc::io_error);
        return false;
    }
    return true;
}

inline int openssl_version(protocol_version v) noexcept {
    return v == protocol_version::tls1_2 ? TLS1_2_VERSION : TLS1_3_VERSION;
}

// OpenSSL's default passphrase callback prompts on the terminal; a server must never do that.
inline int password_callback(char* buf, int size, int, void* user) {
    const auto* pw = static_cast<const std::string*>(user);
    if (!pw || pw->empty() || pw->size() > static_cast<std::size_t>(size))
        return -1;
    std::memcpy(buf, pw->data(), pw->size());
    return static_cast<int>(pw->size());
}

// The DNS names a certificate is valid for: its dNSName subjectAltNames, else its subject CN
// (RFC 6125 §6.4.4 lets clients fall back to the CN only without SANs).
inline std::vector<std::string> certificate_names(X509* cert) {
    std::vector<std::string> names;
    auto* sans = static_cast<GENERAL_NAMES*>(
        ::X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    if (sans) {
        for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
            const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
            if (gn->type != GEN_DNS)
                continue;
            const ASN1_STRING* s = gn->d.dNSName;
            names.emplace_back(reinterpret_cast<const char*>(::ASN1_STRING_get0_data(s)),
                               static_cast<std::size_t>(::ASN1_STRING_length(s)));
        }
        sk_GENERAL_NAME_pop_free(sans, GENERAL_NAME_free);
    }
    if (names.empty()) {
        X509_NAME* subject = ::X509_get_subject_name(cert);
        const int i = ::X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
        if (i >= 0) {
            const ASN1_STRING* s = ::X509_NAME_ENTRY_get_data(::X509_NAME_get_entry(subject, i));
            names.emplace_back(reinterpret_cast<const char*>(::ASN1_STRING_get0_data(s)),
                               static_cast<std::size_t>(::ASN1_STRING_length(s)));
        }
    }
    return names;
}

inline SSL_CTX* context_set::find(std::string_view host) const noexcept {
    // A DNS name is at most 253 characters (RFC 1035 §2.3.4); anything longer matches nothing.
    std::array<char, 256> buf;
    if (!host.empty() && host.back() == '.')
        host.remove_suffix(1);
    if (host.empty() || host.size() > 253)
        return nullptr;
    for (std::size_t i = 0; i < host.size(); ++i)
        buf[i] = ascii_lower(host[i]);
    const std::string_view name(buf.data(), host.size());
    auto lookup = [](const auto& table, std::string_view key) -> SSL_CTX* {
        auto it = std::lower_bound(table.begin(), table.end(), key,
                                   [](const auto& e, std::string_view k) { return e.first < k; });
        return it != table.end() && it->first == key ? it->second : nullptr;
    };
    if (SSL_CTX* c = lookup(exact_, name))
        return c;
    const auto dot = name.find('.');
    if (dot == std::string_view::npos || dot == 0)
        return nullptr;
    return lookup(wildcard_, name.substr(dot + 1));
}

// SNI (RFC 6066 §3): switch the connection to the certificate for the name the client asked
// for. OpenSSL calls this from SSL_do_handshake when the ClientHello has been read; `arg` is
// the generation the connection started with, which the stream keeps alive.
inline int context_set::on_server_name(SSL* ssl, int* alert, void* arg) {
    const auto* set = static_cast<const context_set*>(arg);
    const char* name = ::SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name || !*name)
        return SSL_TLSEXT_ERR_NOACK;
    SSL_CTX* ctx = set->find(name);
    if (!ctx) {
        if (!set->reject_unknown_)
            return SSL_TLSEXT_ERR_OK; // the default certificate
        *alert = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    // SSL_set_SSL_CTX takes a reference on ctx and switches certificate and key; every other
    // setting is identical across a generation, so nothing else changes.
    if (ctx != ::SSL_get_SSL_CTX(ssl) && !::SSL_set_SSL_CTX(ssl, ctx)) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}

// ALPN (RFC 7301 §3.2): the first of the server's protocols that the client also offers.
inline int context_set::on_alpn(SSL*, const unsigned char** out, unsigned char* outlen,
                                const unsigned char* in, unsigned int inlen, void* arg) {
    const auto* set = static_cast<const context_set*>(arg);
    if (inlen == 0)
        return SSL_TLSEXT_ERR_NOACK;
    unsigned char* selected = nullptr;
    unsigned char selected_len = 0;
    const auto* server = reinterpret_cast<const unsigned char*>(set->alpn_wire_.data());
    if (::SSL_select_next_proto(&selected, &selected_len, server,
                                static_cast<unsigned int>(set->alpn_wire_.size()), in,
                                inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL; // OpenSSL sends no_application_protocol
    *out = selected;
    *outlen = selected_len;
    return SSL_TLSEXT_ERR_OK;
}

inline ssl_ctx_ptr context_set::make_context(const options& o, const certificate& c,
                                             std::size_t index, load_result& r) {
    const std::string what =
        "certificate #" + std::to_string(index + 1) +
        (c.cert_chain_file.empty() ? std::string(" (PEM text)") : " (" + c.cert_chain_file + ")");
    auto fail = [&](std::string msg, std::error_code ec) {
        r.error = ec;
        r.message = "pier::tls: " + what + ": " + msg + ": " + ec.message();
        return ssl_ctx_ptr();
    };
    auto ssl_fail = [&](std::string msg) {
        return fail(std::move(msg), take_error(std::make_error_code(std::errc::invalid_argument)));
    };

    ssl_ctx_ptr ctx(::SSL_CTX_new(::TLS_server_method()));
    if (!ctx)
        return ssl_fail("cannot create an SSL_CTX");
    SSL_CTX* x = ctx.get();

    if (!::SSL_CTX_set_min_proto_version(x, openssl_version(o.min_version)) ||
        !::SSL_CTX_set_max_proto_version(x, openssl_version(o.max_version)))
        return ssl_fail("cannot set the protocol versions");
    std::uint64_t flags = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION;
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    // A TCP FIN without close_notify ends the input like close_notify would. Browsers, curl
    // and wrk routinely close that way; HTTP and WebSocket framing, not TLS, tell a complete
    // message from a truncated one. Without the flag OpenSSL 3 reports an error and
    // invalidates the session.
    flags |= SSL_OP_IGNORE_UNEXPECTED_EOF;
#endif
    if (o.prefer_server_ciphers)
        flags |= SSL_OP_CIPHER_SERVER_PREFERENCE;
    if (!o.session_tickets)
        flags |= SSL_OP_NO_TICKET;
#ifdef SSL_OP_ENABLE_KTLS
    if (o.kernel_tls)
        flags |= SSL_OP_ENABLE_KTLS;
#endif
    ::SSL_CTX_set_options(x, flags);
    // pier retries a blocked write from its own queue, whose bytes do not stay at one address.
    long mode = SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
    if (o.release_buffers)
        mode |= SSL_MODE_RELEASE_BUFFERS;
    ::SSL_CTX_set_mode(x, mode);
    // Read whole TCP segments, not a 5-byte record header and then the body: one recv(2) per
    // burst of records instead of two per record.
    ::SSL_CTX_set_read_ahead(x, 1);

    if (!o.ciphers.empty() && ::SSL_CTX_set_cipher_list(x, o.ciphers.c_str()) != 1)
        return ssl_fail("invalid TLS 1.2 cipher list '" + o.ciphers + "'");
    if (!o.ciphersuites.empty() && ::SSL_CTX_set_ciphersuites(x, o.ciphersuites.c_str()) != 1)
        return ssl_fail("invalid TLS 1.3 cipher suites '" + o.ciphersuites + "'");
    if (!o.groups.empty() && ::SSL_CTX_set1_groups_list(x, o.groups.c_str()) != 1)
        return ssl_fail("invalid groups '" + o.groups + "'");

    static constexpr unsigned char sid_context[] = {'p', 'i', 'e', 'r'};
    ::SSL_CTX_set_session_id_context(x, sid_context, sizeof sid_context);
    if (o.session_cache_size == 0) {
        ::SSL_CTX_set_session_cache_mode(x, SSL_SESS_CACHE_OFF);
        if (!o.session_tickets)
            ::SSL_CTX_set_num_tickets(x, 0);
    } else {
        ::SSL_CTX_set_session_cache_mode(x, SSL_SESS_CACHE_SERVER);
        ::SSL_CTX_sess_set_cache_size(
            x, static_cast<long>(
                   std::min<std::size_t>(o.session_cache_size, std::numeric_limits<long>::max())));
    }
    ::SSL_CTX_set_timeout(x, static_cast<long>(o.session_timeout.count()));

    ::SSL_CTX_set_tlsext_servername_callback(x, &context_set::on_server_name);
    ::SSL_CTX_set_tlsext_servername_arg(x, this);
    if (!alpn_wire_.empty())
        ::SSL_CTX_set_alpn_select_cb(x, &context_set::on_alpn, this);

    if (o.verify_client != client_verify::none) {
        if (o.client_ca_file.empty())
            return fail("verify_client needs client_ca_file",
                        std::make_error_code(std::errc::invalid_argument));
        if (::SSL_CTX_load_verify_locations(x, o.client_ca_file.c_str(), nullptr) != 1)
            return ssl_fail("cannot load client CA file " + o.client_ca_file);
        STACK_OF(X509_NAME)* cas = ::SSL_load_client_CA_file(o.client_ca_file.c_str());
        if (!cas)
            return ssl_fail("no CA certificate in " + o.client_ca_file);
        ::SSL_CTX_set_client_CA_list(x, cas);
        int verify = SSL_VERIFY_PEER;
        if (o.verify_client == client_verify::required)
            verify |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        ::SSL_CTX_set_verify(x, verify, nullptr);
    }

    if (o.configure)
        o.configure(x);

    // The certificate chain and key: files are read into memory first, so that one code path
    // (PEM text) serves both and a missing file reports errno with its name.
    std::string cert_pem_storage, key_pem_storage;
    const std::string* cert_pem = &c.cert_chain_pem;
    const std::string* key_pem = &c.key_pem;
    std::error_code ec;
    if (!c.cert_chain_file.empty()) {
        if (!read_file(c.cert_chain_file, cert_pem_storage, ec))
            return fail("cannot read " + c.cert_chain_file, ec);
        cert_pem = &cert_pem_storage;
        if (c.key_file.empty())
            return fail("no key_file", std::make_error_code(std::errc::invalid_argument));
        if (!read_file(c.key_file, key_pem_storage, ec))
            return fail("cannot read " + c.key_file, ec);
        key_pem = &key_pem_storage;
    }
    if (cert_pem->empty() || key_pem->empty())
        return fail("no certificate or no key given",
                    std::make_error_code(std::errc::invalid_argument));
    ::ERR_clear_error();

    bio_ptr bio(::BIO_new_mem_buf(cert_pem->data(), static_cast<int>(cert_pem->size())));
    if (!bio)
        return ssl_fail("out of memory");
    x509_ptr leaf(::PEM_read_bio_X509_AUX(bio.get(), nullptr, nullptr, nullptr));
    if (!leaf)
        return ssl_fail("no PEM certificate found");
    if (::SSL_CTX_use_certificate(x, leaf.get()) != 1)
        return ssl_fail("certificate refused");
    ::SSL_CTX_clear_chain_certs(x);
    for (;;) {
        X509* ca = ::PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
        if (!ca)
            break;
        if (::SSL_CTX_add0_chain_cert(x, ca) != 1) {
            ::X509_free(ca);
            return ssl_fail("intermediate certificate refused");
        }
    }
    // The end of the PEM text shows up as "no start line"; anything else is a damaged block.
    if (const unsigned long e = ::ERR_peek_last_error();
        e && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE))
        return ssl_fail("damaged intermediate certificate");
    ::ERR_clear_error();

    bio_ptr key_bio(::BIO_new_mem_buf(key_pem->data(), static_cast<int>(key_pem->size())));
    if (!key_bio)
        return ssl_fail("out of memory");
    evp_pkey_ptr key(::PEM_read_bio_PrivateKey(key_bio.get(), nullptr, &password_callback,
                                               const_cast<std::string*>(&c.key_password)));
    if (!key)
        return ssl_fail("cannot read the private key" +
                        (c.key_file.empty() ? std::string() : " " + c.key_file));
    if (::SSL_CTX_use_PrivateKey(x, key.get()) != 1 || ::SSL_CTX_check_private_key(x) != 1) {
        const unsigned long e = ::ERR_peek_error();
        return ssl_fail(ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH
                            ? "the private key does not match the certificate"
                            : "private key refused");
    }

    // Names: explicit ones, or the certificate's own.
    const auto names = c.names.empty() ? certificate_names(leaf.get()) : c.names;
    for (const auto& n : names) {
        std::string name = lower_name(n);
        if (name.starts_with("*.")) {
            if (name.size() > 2)
                wildcard_.emplace_back(name.substr(2), x);
        } else if (!name.empty()) {
            exact_.emplace_back(std::move(name), x);
        }
    }
    return ctx;
}

inline std::shared_ptr<const context_set>
context_set::build(const options& o, std::uint64_t generation, load_result& r) {
    ::ERR_clear_error();
    auto set = std::make_shared<context_set>();
    set->generation_ = generation;
    auto invalid = [&](std::string msg) {
        r.error = std::make_error_code(std::errc::invalid_argument);
        r.message = "pier::tls: " + std::move(msg);
        return nullptr;
    };
    if (o.certificates.empty())
        return invalid("no certificate configured (tls::options::certificates is empty)");
    if (o.min_version > o.max_version)
        return invalid("min_version is newer than max_version");
    for (const auto& p : o.alpn) {
        if (p.empty() || p.size() > 255)
            return invalid("ALPN protocol names must be 1 to 255 bytes (RFC 7301 §3.1)");
        set->alpn_wire_.push_back(static_cast<char>(p.size()));
        set->alpn_wire_ += p;
    }
    set->reject_unknown_ = o.reject_unknown_server_names;
    set->answer_plain_http_ = o.answer_plain_http;
    for (std::size_t i = 0; i < o.certificates.size(); ++i) {
        auto ctx = set->make_context(o, o.certificates[i], i, r);
        if (!ctx)
            return nullptr;
        set->contexts_.push_back(std::move(ctx));
    }
    // Stable: for a name listed twice, the earlier certificate wins.
    auto by_name = [](const auto& a, const auto& b) { return a.first < b.first; };
    auto same_name = [](const auto& a, const auto& b) { return a.first == b.first; };
    for (auto* table : {&set->exact_, &set->wildcard_}) {
        std::stable_sort(table->begin(), table->end(), by_name);
        table->erase(std::unique(table->begin(), table->end(), same_name), table->end());
    }
    return set;
}

} // namespace detail

inline context::context(const options& o) {
    auto r = install(o);
    if (!r.ok())
        throw std::system_error(r.error, r.message);
}

inline load_result context::install(const options& o) {
    load_result r;
    // Reloads are serialised (reload_mutex_, or the constructor), so nothing else changes
    // the generation meanwhile.
    const auto next = generation_.load(std::memory_order_acquire) + 1;
    auto set = detail::context_set::build(o, next, r);
    if (!set)
        return r;
    {
        std::lock_guard lock(mutex_);
        std::swap(set_, set);
        options_ = o;
        generation_.store(next, std::memory_order_release);
    }
    // `set` now holds the previous generation: released here, outside the lock; its contexts
    // live on in the connections that still use them.
    return r;
}

inline load_result context::reload() {
    std::lock_guard reloading(reload_mutex_);
    return install(current_options());
}

inline load_result context::reload(const options& o) {
    std::lock_guard reloading(reload_mutex_);
    return install(o);
}

inline options context::current_options() const {
    std::lock_guard lock(mutex_);
    return options_;
}

inline std::shared_ptr<const detail::context_set> context::snapshot() const {
    std::lock_guard lock(mutex_);
    return set_;
}

} // namespace pier::tls
