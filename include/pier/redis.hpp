// pier/redis.hpp: pier's Redis client, in one include. Not part of <pier/pier.hpp>: it needs
// hiredis (Debian's libhiredis-dev), which the rest of pier does not; link pier::redis.
//
// Start with redis/client.hpp (the client the WebSocket pool's backplane uses), then
// redis/options.hpp (every tunable with its default) and redis/stats.hpp (what is observable).
#pragma once

#include <pier/redis/client.hpp>
#include <pier/redis/cluster.hpp>
#include <pier/redis/connection.hpp>
#include <pier/redis/error.hpp>
#include <pier/redis/options.hpp>
#include <pier/redis/protocol.hpp>
#include <pier/redis/script.hpp>
#include <pier/redis/stats.hpp>
#include <pier/redis/subscriber.hpp>
#include <pier/redis/url.hpp>
