//! Gemini's function-call ids across turns.
//!
//! Gemini 3 gives each function call an `id`, and from 3.5 on answers 400 to a later turn
//! whose `functionResponse` does not carry the id of the call it answers ("functionResponse.id
//! does not match functionCall.id"; reported for 3.5 Flash-Lite and 3.7 Flash on parallel
//! calls). The adapter gave every call a name of its own and sent no ids back, so a tool loop
//! on those models failed on its second turn.
//!
//! Gemini's ids need not be unique beyond one conversation (live ones look like
//! `call_4162774`, a counter), while the gateway keys per-call state (thought signatures,
//! tool-loop routing, shared records) by the call's name. So a call keeps a unique name that
//! carries Gemini's id: `call_g`, eight random hex digits, `_` and the id ([`client_id`]).
//! The history's calls and responses going to Gemini 3 carry the id that name holds
//! ([`gemini_id`]): Gemini's own for the calls it made; for any other call (another model's,
//! or one whose Gemini id did not fit) its name, without OpenAI's `call_`, which the same
//! mapping gives its result too, so a call and its response always agree. Names a Gemini id
//! could not hold (other characters; `upstream::fit` gives Gemini plain ids) do not occur.

/// The prefix of every name this module gives.
const PREFIX: &str = "call_";

/// What marks a name that carries a Gemini id, after [`PREFIX`].
const CARRIER: &str = "g";

/// Random hex digits before the carried id: enough that two calls of one client key never
/// share a name within the per-call memos' lifetime.
const SALT_DIGITS: usize = 8;

/// OpenAI takes tool-call ids of at most 40 characters; a conversation may move to it.
const MAX_NAME_CHARS: usize = 40;

/// Letters, digits, `_` and `-`: what every vendor's tool-call ids take.
fn plain(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The unique client-facing name of a call Gemini gave `id` (if any): one that carries the id
/// where it fits (plain, and short enough for every vendor), else a fresh `call_` name.
pub fn client_id(id: Option<&str>) -> String {
    let fresh = uuid::Uuid::new_v4().simple().to_string();
    let carried = PREFIX.len() + CARRIER.len() + SALT_DIGITS + 1;
    match id {
        Some(id) if plain(id) && carried + id.len() <= MAX_NAME_CHARS => {
            format!("{PREFIX}{CARRIER}{}_{id}", &fresh[..SALT_DIGITS])
        }
        _ => format!("{PREFIX}{fresh}"),
    }
}

/// The id sent to Gemini for the history's call (and its response) named `client_id`: the
/// Gemini id the name carries ([`client_id`]), else the name without its `call_` prefix (the
/// name itself when nothing follows the prefix).
pub fn gemini_id(client_id: &str) -> String {
    let rest = client_id.strip_prefix(PREFIX).unwrap_or(client_id);
    let carried = rest.strip_prefix(CARRIER).and_then(|r| {
        let (salt, id) = r.split_at_checked(SALT_DIGITS)?;
        let id = id.strip_prefix('_')?;
        (salt.bytes().all(|b| b.is_ascii_hexdigit()) && !id.is_empty()).then_some(id)
    });
    match carried {
        Some(id) => id.to_owned(),
        None if rest.is_empty() => client_id.to_owned(),
        None => rest.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geminis_ids_go_out_and_come_back_under_unique_names() {
        // Gemini's ids repeat across conversations (a counter): each call's name is unique,
        // and maps back to Gemini's id.
        let (a, b) = (
            client_id(Some("call_4162774")),
            client_id(Some("call_4162774")),
        );
        assert_ne!(a, b);
        for name in [&a, &b] {
            assert!(name.starts_with("call_g") && name.len() <= 40, "{name}");
            assert_eq!(gemini_id(name), "call_4162774");
        }
        // No id, or one that does not fit (other characters, too long): a fresh name,
        // which maps to one id both ways.
        for id in [
            None,
            Some(""),
            Some("a:b:c:d:e"),
            Some("x y"),
            Some(&*"a".repeat(30)),
        ] {
            let fresh = client_id(id);
            assert!(fresh.starts_with("call_") && fresh.len() == 37, "{fresh}");
            assert_eq!(gemini_id(&fresh), fresh["call_".len()..]);
        }
        // Other names: another vendor's ids as they are, OpenAI's without `call_`.
        assert_eq!(
            gemini_id("toolu_01A09q90qw90lq917835lq9"),
            "toolu_01A09q90qw90lq917835lq9"
        );
        assert_eq!(gemini_id("call_abc123"), "abc123");
        assert_eq!(gemini_id("call_gnothex!_x"), "gnothex!_x");
        assert_eq!(gemini_id("call_"), "call_");
    }
}
