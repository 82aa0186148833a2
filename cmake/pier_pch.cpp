// Anchor for the pier_pch target, which exists only to own the precompiled <pier/pier.hpp> that
// examples, benches and fuzz replays reuse (cmake/PierDevelopment.cmake).
