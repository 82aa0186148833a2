// pier/pier.hpp: everything pier offers, in one include.
//
// pier is a header-only C++20 library for fast, robust network servers on standalone Asio
// and OpenSSL. Start with server.hpp (the server and its life cycle), connection.hpp (what a
// handler sees), fwd.hpp (the policies and their defaults), concepts.hpp (what each policy
// must provide) and options.hpp (every run-time tunable with its default).
#pragma once

#include <pier/concepts.hpp>
#include <pier/config.hpp>
#include <pier/error.hpp>
#include <pier/file.hpp>
#include <pier/fwd.hpp>
#include <pier/options.hpp>
#include <pier/stats.hpp>
#include <pier/tcp_info.hpp>

#include <pier/accept/multi.hpp>
#include <pier/accept/reuseport.hpp>
#include <pier/accept/single.hpp>

#include <pier/sched/per_thread.hpp>
#include <pier/sched/shared_pool.hpp>
#include <pier/sched/worker_pool.hpp>
#include <pier/sched/workers.hpp>

#include <pier/buffer/fixed.hpp>
#include <pier/buffer/pooled.hpp>
#include <pier/buffer/shared_buffer.hpp>

#include <pier/write/backpressure.hpp>
#include <pier/write/queue.hpp>

#include <pier/transport/tcp.hpp>
#include <pier/transport/tls.hpp>

#include <pier/http/auth.hpp>
#include <pier/http/date.hpp>
#include <pier/http/path.hpp>
#include <pier/http/query.hpp>
#include <pier/http/range.hpp>
#include <pier/http/reply.hpp>
#include <pier/http/request.hpp>
#include <pier/http/response.hpp>
#include <pier/http/router.hpp>

#include <pier/log.hpp>
#include <pier/metrics/pool.hpp>
#include <pier/metrics/registry.hpp>
#include <pier/pool/dashboard.hpp>

#include <pier/socks5/protocol.hpp>

#include <pier/ws/close_code.hpp>
#include <pier/ws/deflate.hpp>
#include <pier/ws/frame.hpp>
#include <pier/ws/handshake.hpp>
#include <pier/ws/negotiate.hpp>
#include <pier/ws/utf8.hpp>

#include <pier/connection.hpp>
#include <pier/policies.hpp>
#include <pier/relay.hpp>
#include <pier/server.hpp>
#include <pier/shard.hpp>

// --- WebSocket (issue 4): sessions, ws::server, transport::websocket ----------------------
#include <pier/ws/options.hpp>
#include <pier/ws/server.hpp>
#include <pier/ws/session.hpp>
// --- end WebSocket ---------------------------------------------------------------------------
