//! Gemini's function-call ids across turns.
//!
//! Gemini 3.5 and later give each function call an `id` and answer 400 to a later turn whose
//! `functionResponse` does not carry the id of the call it answers ("functionResponse.id does
//! not match functionCall.id"; reported for 3.5 Flash-Lite and 3.7 Flash on parallel calls).
//! The adapter gave every call an id of its own and sent none back, so a tool loop on those
//! models failed on its second turn. Now a call's client-facing id is built from Gemini's
//! (`call_` and its id, where that id is fit to key the gateway's per-call memos), and the
//! history's calls and responses to a Gemini 3 model carry the id that name stands for
//! ([`gemini_id`]): Gemini's own for the calls it made, and for others (a call another model
//! made, or one whose Gemini id was unfit) one derived the same way on both sides, so that a
//! call and its response always agree. Gemini before 3 gets no ids, as before.

use crate::upstream::providers::call_memo::shareable;

/// The prefix of the client-facing ids, as OpenAI's.
const PREFIX: &str = "call_";

/// OpenAI takes tool-call ids of at most 40 characters; a conversation may move to it.
const MAX_ID_CHARS: usize = 40;

/// The client-facing id of a call Gemini gave `id` (if any): `call_{id}` where that is a
/// fit id (unique enough to key the per-call memos, plain characters, short enough for every
/// vendor), else a fresh one.
pub fn client_id(id: Option<&str>) -> String {
    match id {
        Some(id)
            if shareable(id)
                && PREFIX.len() + id.len() <= MAX_ID_CHARS
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            format!("{PREFIX}{id}")
        }
        _ => format!("{PREFIX}{}", uuid::Uuid::new_v4().simple()),
    }
}

/// The id sent to Gemini for the history's call (and its response) the client names
/// `client_id`: the name without its `call_` prefix (Gemini's own id for a call [`client_id`]
/// named after it), the name itself otherwise.
pub fn gemini_id(client_id: &str) -> String {
    client_id
        .strip_prefix(PREFIX)
        .filter(|rest| !rest.is_empty())
        .unwrap_or(client_id)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geminis_ids_go_out_and_come_back() {
        let named = client_id(Some("fc-4c6316fc7cc94e33"));
        assert_eq!(named, "call_fc-4c6316fc7cc94e33");
        assert_eq!(gemini_id(&named), "fc-4c6316fc7cc94e33");
        // No id, or one unfit to key state by (short, odd characters, too long): a fresh
        // name, which still maps to one id both ways.
        for id in [
            None,
            Some("0"),
            Some("a:b:c:d:e"),
            Some("x y z w v u"),
            Some(&*"a".repeat(60)),
        ] {
            let fresh = client_id(id);
            assert!(fresh.starts_with("call_") && fresh.len() == 37, "{fresh}");
            assert_eq!(gemini_id(&fresh), fresh["call_".len()..]);
        }
        // Another vendor's ids map to themselves (or without OpenAI's prefix).
        assert_eq!(
            gemini_id("toolu_01A09q90qw90lq917835lq9"),
            "toolu_01A09q90qw90lq917835lq9"
        );
        assert_eq!(gemini_id("call_"), "call_");
    }
}
