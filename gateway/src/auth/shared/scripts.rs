//! The Lua scripts of the shared counters, one per operation, each run atomically by Redis.
//! `Script` sends EVALSHA and loads the script on NOSCRIPT (a restarted or new Redis).

use std::sync::LazyLock;

use redis::Script;

/// GCRA requests per minute.
pub(super) static REQUESTS: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("requests.lua")));
/// The tokens-per-minute bucket: take and settle.
pub(super) static TOKENS: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("tokens.lua")));
/// A budget hold.
pub(super) static RESERVE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("reserve.lua")));
/// A hold replaced by the real cost.
pub(super) static SETTLE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("settle.lua")));
/// A period's spend raised to a starting replica's logged spend.
pub(super) static SEED: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("seed.lua")));
/// A cached answer deleted if it is still the one a bad label was about.
pub(super) static FORGET_ANSWER: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("forget_answer.lua")));
