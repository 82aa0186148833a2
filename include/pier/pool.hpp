// pier/pool.hpp: the WebSocket connection pool, pier::ws::pool, in one include.
//
// Kept apart from <pier/pier.hpp> because the pool depends on nlohmann/json, which servers
// without the pool should not pay compile time for. The socket-free parts:
// - pool/envelope.hpp  the messages (types, fields, RFC 3339 timestamps, decode errors);
// - pool/codec.hpp     json_codec, the default codec policy (concepts.hpp: codec_policy);
// - pool/jwt.hpp       the bundled HS256 JWT verifier, with key rotation;
// - pool/token.hpp     where a client's token comes from (query, Authorization, subprotocol);
// - pool/limits.hpp    token buckets and the per-IP connection table.
// And the pool itself:
// - pool/pool.hpp      pier::ws::pool<Handler, Policies>;
// - pool/options.hpp   its limits, intervals and close codes;
// - pool/backplane.hpp `local`, the default backplane (no other instances).
#pragma once

#include <pier/pool/backplane.hpp>
#include <pier/pool/codec.hpp>
#include <pier/pool/envelope.hpp>
#include <pier/pool/jwt.hpp>
#include <pier/pool/limits.hpp>
#include <pier/pool/options.hpp>
#include <pier/pool/pool.hpp>
#include <pier/pool/token.hpp>
