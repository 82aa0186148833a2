// pier/tls/options.hpp: what a TLS server is configured with (`pier::transport::tls::options`).
//
//     pier::tls::options tls;
//     tls.certificates.push_back({.cert_chain_file = "example.org.pem",
//                                 .key_file = "example.org.key"});   // the default
//     tls.certificates.push_back({.cert_chain_file = "api.pem", .key_file = "api.key",
//                                 .names = {"api.example.org"}});
//     tls.alpn = {"http/1.1"};
//     pier::server<handler, pier::policies<pier::transport::tls>> srv(opts, tls);
//
// The defaults follow Mozilla's "intermediate" server profile (TLS 1.2 and 1.3, AEAD cipher
// suites with forward secrecy only), which every browser and TLS library of the last ten years
// speaks. Every field can be overridden, and `configure` reaches the raw SSL_CTX for anything
// not listed here.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace pier::tls {

/// TLS protocol versions pier can be limited to. Older versions (SSL 3, TLS 1.0, 1.1) are
/// deprecated by RFC 8996 and not offered.
enum class protocol_version {
    tls1_2, ///< RFC 5246
    tls1_3, ///< RFC 8446
};

/// Whether clients must present a certificate (mutual TLS, RFC 8446 §4.3.2).
enum class client_verify {
    none,     ///< no certificate is asked for (the default: ordinary web servers)
    optional, ///< asked for; a client without one is accepted, a bad one is refused
    required, ///< asked for and required; the handshake fails without a valid one
};

/// One certificate with its private key, and the host names it is served for.
///
/// Either files or PEM text: when `cert_chain_file` is set the files are read (again on every
/// `context::reload()`, which is how renewed certificates are picked up), otherwise
/// `cert_chain_pem` / `key_pem` are used as given.
struct certificate {
    /// PEM file: the certificate first, then its intermediate CA certificates, leaf to root
    /// (the root itself is not needed). What certbot calls fullchain.pem.
    std::string cert_chain_file{};
    /// PEM file with the private key (RSA, EC or Ed25519; PKCS#8 or traditional format).
    std::string key_file{};
    /// PEM text, used when `cert_chain_file` is empty.
    std::string cert_chain_pem{};
    std::string key_pem{};
    /// The key's passphrase if it is encrypted; empty: the key must be unencrypted (OpenSSL
    /// never prompts on a terminal).
    std::string key_password{};
    /// Host names this certificate is served for (SNI, RFC 6066 §3): exact ("example.org") or
    /// a wildcard for one label ("*.example.org" matches "a.example.org", neither
    /// "example.org" nor "a.b.example.org", as RFC 6125 §6.4.3 has clients check). Empty (the
    /// default): the certificate's own DNS subjectAltNames, or its subject CN when it has none.
    /// Matching ignores case; an exact name wins over a wildcard, an earlier certificate over
    /// a later one.
    std::vector<std::string> names{};
};

/// Everything a TLS server is configured with. A plain value: copy it, change it and hand it
/// to `context::reload(options)` to change the configuration of a running server.
struct options {
    /// The certificates, at least one. The first is the default: it is served to clients that
    /// send no server name (SNI) or one that matches no certificate's names.
    std::vector<certificate> certificates{};

    /// Oldest protocol version accepted. Default TLS 1.2: RFC 8996 deprecates 1.0 and 1.1, and
    /// all current clients speak 1.2.
    protocol_version min_version = protocol_version::tls1_2;
    /// Newest protocol version offered. Default TLS 1.3, which clients prefer when offered: one
    /// round trip less per handshake and only AEAD suites with forward secrecy.
    protocol_version max_version = protocol_version::tls1_3;

    /// TLS 1.2 cipher suites, in OpenSSL's cipher-list syntax (`openssl ciphers -v '…'` shows
    /// what a string selects). Default: Mozilla's intermediate list without the DHE suites
    /// (ECDHE key exchange and AEAD ciphers only: forward secrecy, no CBC padding oracles).
    std::string ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                          "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                          "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
    /// TLS 1.3 cipher suites (RFC 8446 §B.4), colon separated. Default: the three every TLS
    /// 1.3 stack implements; AES-GCM first because servers have AES-NI.
    std::string ciphersuites =
        "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
    /// Key-exchange groups, most preferred first. Default X25519 (fastest), then the NIST
    /// curves that some clients require.
    std::string groups = "X25519:P-256:P-384";
    /// TLS 1.2: pick the cipher suite by the server's order instead of the client's. Default
    /// false, as Mozilla recommends when every suite offered is strong: a phone without AES
    /// hardware may then choose ChaCha20.
    bool prefer_server_ciphers = false;

    /// ALPN protocols (RFC 7301) in the server's order of preference, e.g. {"h2",
    /// "http/1.1"}. The first one the client also offers is chosen (`stream::alpn()`); a
    /// client whose list shares none gets the fatal no_application_protocol alert that RFC
    /// 7301 §3.2 asks for. Empty (the default): ALPN is not negotiated and clients' lists are
    /// ignored.
    std::vector<std::string> alpn{};

    /// Session resumption with tickets (RFC 8446 §4.6.1, RFC 5077): a returning client skips
    /// the certificate and key exchange, which saves most of a handshake's CPU. Default on.
    /// The ticket keys live in the server's memory and change on every `reload()`, so tickets
    /// issued before a reload fall back to a full handshake (and see the new certificate).
    bool session_tickets = true;
    /// TLS 1.2 session-ID resumption cache, in sessions (about 1 KiB each), per reload
    /// generation. Default 20480, OpenSSL's own default (~20 MiB at worst). 0 turns the cache
    /// off (OpenSSL would read 0 as "unbounded"; pier does not).
    std::size_t session_cache_size = 20480;
    /// How long a session (cached or in a ticket) can be resumed. Default 2 hours, OpenSSL's
    /// default and RFC 5077's suggestion of hours, not days: a resumed session reuses keys
    /// derived from the original handshake.
    std::chrono::seconds session_timeout{7200};

    /// Refuse clients whose SNI name matches no certificate (fatal unrecognized_name alert,
    /// RFC 6066 §3) instead of serving the default certificate. Default false: clients that
    /// connect by IP address or with an unexpected name still get a handshake, and a browser
    /// shows a name mismatch rather than a connection error.
    bool reject_unknown_server_names = false;

    /// Client certificates (mutual TLS). Default none.
    client_verify verify_client = client_verify::none;
    /// PEM file with the CA certificates client certificates must chain to; needed unless
    /// `verify_client` is none.
    std::string client_ca_file{};

    /// Free OpenSSL's per-connection record buffers (a read and a write buffer of ~17 KiB
    /// each) whenever a connection has nothing buffered (SSL_MODE_RELEASE_BUFFERS), as nginx
    /// does. Default true: an idle TLS connection then holds only OpenSSL's ~14 KiB of session
    /// and cipher state (measured with OpenSSL 3.0), at the price of a malloc/free pair per
    /// burst of records.
    bool release_buffers = true;
    /// Kernel TLS for sending (SSL_OP_ENABLE_KTLS): once the handshake has derived the
    /// application keys, OpenSSL hands the sending direction's to the kernel (Linux's `tls`
    /// module; TLS 1.2 and 1.3 with AES-GCM, AES-CCM or ChaCha20-Poly1305), which then
    /// encrypts. That is what lets `connection::send_file` use sendfile(2) (SSL_sendfile) and
    /// relays splice(2) over TLS: file bytes never enter user space. Default false: ordinary
    /// replies gain little, and the kernel's encryption shows up as system time. Where the
    /// kernel cannot (no `tls` module, CONFIG_TLS off, a cipher it lacks), the connection keeps
    /// encrypting in user space, silently; `stream::kernel_tls_send()` tells which, and
    /// `connection::transfer_stats()` which path each transfer took. Receiving always stays in
    /// user space.
    bool kernel_tls = false;
    /// A client that speaks plain HTTP to the TLS port (OpenSSL recognises "GET ", "POST " …
    /// as the first bytes) gets a short `400 Bad Request` saying so, in plain text, before
    /// the connection is closed, as nginx does; what it still sends is read and dropped until
    /// it closes, for at most the handshake deadline, so that the answer is not reset in
    /// flight. Default true. Either way the handshake fails with OpenSSL's "http request"
    /// error.
    bool answer_plain_http = true;

    /// Called with every SSL_CTX pier builds, after pier's own settings and before the
    /// certificate is loaded: for anything not covered above (e.g. SSL_CTX_set_num_tickets,
    /// SSL_CTX_set_max_send_fragment, a keylog callback). Runs in `context`'s constructor and
    /// in `reload()`; must not throw.
    std::function<void(SSL_CTX*)> configure{};
};

} // namespace pier::tls
