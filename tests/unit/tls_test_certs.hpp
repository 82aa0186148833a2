// tests/unit/tls_test_certs.hpp: throw-away certificates for the TLS tests, made at test
// time with `openssl req` (no private key is committed to the repository).
#pragma once

#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace pier_test {

/// A private temporary directory, removed with everything in it.
struct temp_dir {
    std::filesystem::path path;
    temp_dir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "pier-tls-XXXXXX").string();
        if (!::mkdtemp(tmpl.data()))
            throw std::runtime_error("mkdtemp failed");
        path = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    std::string file(const std::string& name) const { return (path / name).string(); }
};

struct cert_files {
    std::string cert; ///< PEM certificate (self-signed, so also its own CA file)
    std::string key;  ///< PEM private key
};

/// Makes `<stem>.pem` and `<stem>.key` in `dir`: a self-signed P-256 certificate whose subject
/// CN is `cn` and whose DNS subjectAltNames are `names` (none: no SAN extension at all).
inline cert_files make_cert(const temp_dir& dir, const std::string& stem, const std::string& cn,
                            const std::vector<std::string>& names = {}) {
    cert_files f{dir.file(stem + ".pem"), dir.file(stem + ".key")};
    std::string san;
    for (const auto& n : names)
        san += (san.empty() ? "DNS:" : ",DNS:") + n;
    std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                      "-sha256 -days 2 -subj '/CN=" +
                      cn + "' -keyout '" + f.key + "' -out '" + f.cert + "'";
    if (!san.empty())
        cmd += " -addext 'subjectAltName=" + san + "'";
    cmd += " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0)
        throw std::runtime_error("openssl req failed: " + cmd);
    return f;
}

inline std::string read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

inline void write_text(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

} // namespace pier_test
