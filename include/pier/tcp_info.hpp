// pier/tcp_info.hpp: the kernel's view of a TCP connection (TCP_INFO) and of its socket
// buffers (SO_SNDBUF/SO_RCVBUF as applied), read on demand.
//
//     if (auto i = c.tcp_info())
//         log("rtt {} us, cwnd {} segments, {} bytes acked, {} B/s delivered",
//             i->rtt.count(), i->cwnd, i->bytes_acked, i->delivery_rate);
//     auto applied = c.apply_send_buffer_size(1 << 20); // {requested 1 MiB, applied 2 MiB}
//
// Every call is one getsockopt(2): nothing is sampled in the background.
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <system_error>

namespace pier {

/// A snapshot of TCP_INFO (tcp(7)), with the fields a server operator reads. Durations are in
/// microseconds, as the kernel keeps them. Fields the running kernel does not report (older
/// than the field) are 0; `reported_bytes` says how much the kernel filled in.
struct tcp_info {
    /// TCP state (1 = ESTABLISHED, …, as in <netinet/tcp.h>'s TCP_ESTABLISHED…).
    std::uint8_t state = 0;
    /// Congestion-avoidance state (0 open, 1 disorder, 2 CWR, 3 recovery, 4 loss).
    std::uint8_t ca_state = 0;
    /// Consecutive retransmission timeouts of the current segment (tcpi_retransmits).
    std::uint8_t retransmits = 0;
    /// Segments retransmitted over the connection's life (tcpi_total_retrans).
    std::uint32_t total_retransmits = 0;
    /// Smoothed round-trip time and its mean deviation (RFC 6298 SRTT, RTTVAR).
    std::chrono::microseconds rtt{0};
    std::chrono::microseconds rttvar{0};
    /// The lowest RTT seen (what BBR models the path with).
    std::chrono::microseconds min_rtt{0};
    /// Retransmission timeout.
    std::chrono::microseconds rto{0};
    /// Congestion window and slow-start threshold, in segments of `mss` bytes.
    std::uint32_t cwnd = 0;
    std::uint32_t ssthresh = 0;
    std::uint32_t mss = 0;
    /// Segments sent and not yet acknowledged; of them, considered lost.
    std::uint32_t unacked = 0;
    std::uint32_t lost = 0;
    /// Bytes acknowledged by the peer (RFC 4898 HCThruOctetsAcked) and received from it.
    std::uint64_t bytes_acked = 0;
    std::uint64_t bytes_received = 0;
    /// Bytes sent (including retransmissions) and retransmitted.
    std::uint64_t bytes_sent = 0;
    std::uint64_t bytes_retransmitted = 0;
    /// Bytes in the send queue not yet sent (below the socket's unsent-data watermark).
    std::uint32_t notsent_bytes = 0;
    /// The most recent delivery-rate sample, bytes per second; `app_limited` when the sender
    /// had nothing to send, so that the sample understates what the path can carry.
    std::uint64_t delivery_rate = 0;
    bool delivery_rate_app_limited = false;
    /// The pacing rate, bytes per second (~0 = unlimited).
    std::uint64_t pacing_rate = 0;
    /// The peer's advertised receive window (after scaling), bytes; 0 before Linux 5.19.
    std::uint32_t peer_window = 0;
    /// Time spent sending, and of it, limited by the peer's receive window and by our send
    /// buffer (SO_SNDBUF). A large `sndbuf_limited` is the sign that the send buffer is too
    /// small for the path (see the README's guide on buffer sizes).
    std::chrono::microseconds busy_time{0};
    std::chrono::microseconds rwnd_limited{0};
    std::chrono::microseconds sndbuf_limited{0};
    /// Bytes of the kernel's struct the running kernel filled in.
    std::size_t reported_bytes = 0;
};

/// Reads TCP_INFO from a TCP socket. nullopt on error (`ec`: getsockopt's errno, e.g.
/// EBADF after close or ENOPROTOOPT for a socket that is not TCP).
inline std::optional<tcp_info> read_tcp_info(int fd, std::error_code& ec) noexcept;

/// A socket buffer size as asked for and as the kernel applied it.
struct buffer_size {
    /// What was passed to setsockopt(2).
    int requested = 0;
    /// What getsockopt(2) reports afterwards: Linux doubles the request, for the bookkeeping
    /// overhead it charges to the buffer, after clamping it to net.core.wmem_max (send) or
    /// net.core.rmem_max (receive), and enforces a minimum (4608 / 2304 bytes). So 2 ×
    /// requested means "applied as asked", less means "clamped". -1 when it could not be read.
    int applied = -1;
};

/// SO_SNDBUF and SO_RCVBUF as the kernel reports them (getsockopt, the doubled values above;
/// with autotuning, the current size, which grows with the connection's needs up to
/// net.ipv4.tcp_wmem / tcp_rmem's third field). -1 when a value could not be read.
struct socket_buffers {
    int send = -1;
    int receive = -1;
};

/// Reads both buffer sizes of any socket (accepted or listening; a listener's are inherited
/// by the connections it accepts, e.g. `server::native_listener_handles()`).
inline socket_buffers read_socket_buffers(int fd) noexcept;

/// Sets SO_SNDBUF (SO_RCVBUF) on `fd` and reads back what was applied. Setting either turns
/// the kernel's autotuning off for that direction, for the life of the socket.
inline buffer_size apply_send_buffer_size(int fd, int bytes, std::error_code& ec) noexcept;
inline buffer_size apply_receive_buffer_size(int fd, int bytes, std::error_code& ec) noexcept;

namespace detail {

/// The kernel's struct tcp_info as of Linux 6.1 (include/uapi/linux/tcp.h). glibc's
/// <netinet/tcp.h> stops at tcpi_total_retrans, and <linux/tcp.h> cannot be included next to
/// it (both define struct tcp_info and struct tcphdr), so the layout is restated here. The
/// kernel only ever appends to it and tells how much it filled in, which is what makes this
/// safe on older and newer kernels alike.
struct kernel_tcp_info {
    std::uint8_t state, ca_state, retransmits, probes, backoff, options;
    std::uint8_t wscale;     // snd_wscale:4, rcv_wscale:4
    std::uint8_t rate_flags; // delivery_rate_app_limited:1, fastopen_client_fail:2
    std::uint32_t rto, ato, snd_mss, rcv_mss;
    std::uint32_t unacked, sacked, lost, retrans, fackets;
    std::uint32_t last_data_sent, last_ack_sent, last_data_recv, last_ack_recv;
    std::uint32_t pmtu, rcv_ssthresh, rtt, rttvar, snd_ssthresh, snd_cwnd, advmss, reordering;
    std::uint32_t rcv_rtt, rcv_space;
    std::uint32_t total_retrans;
    std::uint64_t pacing_rate, max_pacing_rate, bytes_acked, bytes_received;
    std::uint32_t segs_out, segs_in;
    std::uint32_t notsent_bytes, min_rtt, data_segs_in, data_segs_out;
    std::uint64_t delivery_rate;
    std::uint64_t busy_time, rwnd_limited, sndbuf_limited;
    std::uint32_t delivered, delivered_ce;
    std::uint64_t bytes_sent, bytes_retrans;
    std::uint32_t dsack_dups, reord_seen;
    std::uint32_t rcv_ooopack;
    std::uint32_t snd_wnd;
};
static_assert(offsetof(kernel_tcp_info, rto) == 8 &&
                  offsetof(kernel_tcp_info, total_retrans) == 100 &&
                  offsetof(kernel_tcp_info, pacing_rate) == 104 &&
                  offsetof(kernel_tcp_info, delivery_rate) == 160 &&
                  offsetof(kernel_tcp_info, snd_wnd) == 228,
              "pier: kernel_tcp_info must match the kernel's struct tcp_info");

/// Converts the kernel's struct (of which `len` bytes were filled) to pier::tcp_info.
inline tcp_info to_tcp_info(const kernel_tcp_info& k, std::size_t len) noexcept {
    using us = std::chrono::microseconds;
    tcp_info i;
    i.reported_bytes = len;
    i.state = k.state;
    i.ca_state = k.ca_state;
    i.retransmits = k.retransmits;
    i.total_retransmits = k.total_retrans;
    i.rtt = us(k.rtt);
    i.rttvar = us(k.rttvar);
    i.rto = us(k.rto);
    i.cwnd = k.snd_cwnd;
    i.ssthresh = k.snd_ssthresh;
    i.mss = k.snd_mss;
    i.unacked = k.unacked;
    i.lost = k.lost;
    // Members an older kernel does not fill in stay zero: the struct is zeroed before the call.
    i.pacing_rate = k.pacing_rate;
    i.bytes_acked = k.bytes_acked;
    i.bytes_received = k.bytes_received;
    i.notsent_bytes = k.notsent_bytes;
    i.min_rtt = us(k.min_rtt);
    i.delivery_rate = k.delivery_rate;
    i.delivery_rate_app_limited = (k.rate_flags & 1) != 0;
    i.busy_time = us(k.busy_time);
    i.rwnd_limited = us(k.rwnd_limited);
    i.sndbuf_limited = us(k.sndbuf_limited);
    i.bytes_sent = k.bytes_sent;
    i.bytes_retransmitted = k.bytes_retrans;
    i.peer_window = k.snd_wnd;
    return i;
}

inline int get_int_option(int fd, int level, int name) noexcept {
    int v = 0;
    socklen_t len = sizeof v;
    return ::getsockopt(fd, level, name, &v, &len) == 0 ? v : -1;
}

inline buffer_size apply_buffer(int fd, int name, int bytes, std::error_code& ec) noexcept {
    buffer_size r;
    r.requested = bytes;
    ec.clear();
    if (::setsockopt(fd, SOL_SOCKET, name, &bytes, sizeof bytes) != 0)
        ec = {errno, std::system_category()};
    r.applied = get_int_option(fd, SOL_SOCKET, name);
    return r;
}

} // namespace detail

inline std::optional<tcp_info> read_tcp_info(int fd, std::error_code& ec) noexcept {
    detail::kernel_tcp_info k;
    std::memset(&k, 0, sizeof k);
    socklen_t len = sizeof k;
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &k, &len) != 0) {
        ec = {errno, std::system_category()};
        return std::nullopt;
    }
    ec.clear();
    return detail::to_tcp_info(k, len);
}

inline socket_buffers read_socket_buffers(int fd) noexcept {
    return {detail::get_int_option(fd, SOL_SOCKET, SO_SNDBUF),
            detail::get_int_option(fd, SOL_SOCKET, SO_RCVBUF)};
}

inline buffer_size apply_send_buffer_size(int fd, int bytes, std::error_code& ec) noexcept {
    return detail::apply_buffer(fd, SO_SNDBUF, bytes, ec);
}

inline buffer_size apply_receive_buffer_size(int fd, int bytes, std::error_code& ec) noexcept {
    return detail::apply_buffer(fd, SO_RCVBUF, bytes, ec);
}

} // namespace pier
