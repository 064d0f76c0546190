"""Client keys through the official `openai` Python SDK (issue 11).

Run by scripts/conformance.sh, which creates keys with `switchyard keys create` and starts a
second gateway over that database. The SDK must raise its usual error classes: 401
AuthenticationError, 429 RateLimitError (rate limit with Retry-After, spent budget as
insufficient_quota), 403 PermissionDeniedError; and 415 for a non-JSON POST.
"""
import os
import unittest

import httpx
import openai

BASE = os.environ["SWITCHYARD_KEYED_URL"].rstrip("/") + "/v1"
KEYS = {
    name: os.environ[f"SWITCHYARD_KEY_{name.upper()}"]
    for name in ("ok", "rpm", "budget", "mini")
}
MESSAGES = [{"role": "user", "content": "ping"}]


def client(key):
    return openai.OpenAI(base_url=BASE, api_key=key, max_retries=0)


class KeyTests(unittest.TestCase):
    def test_valid_key_answers(self):
        raw = client(KEYS["ok"]).chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=MESSAGES
        )
        self.assertTrue(raw.parse().choices[0].message.content)

    def test_missing_or_wrong_key_is_authentication_error(self):
        for key in ("sy-not-a-key", "unused-by-switchyard"):
            with self.assertRaises(openai.AuthenticationError) as ctx:
                client(key).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            self.assertEqual(ctx.exception.status_code, 401)
            self.assertEqual(ctx.exception.code, "invalid_api_key")
            self.assertNotIn(key, str(ctx.exception.body))
        # No key at all (the SDK always sends one, so plain HTTP): 401 in OpenAI's shape.
        missing = httpx.get(f"{BASE}/models")
        self.assertEqual(missing.status_code, 401)
        self.assertEqual(missing.json()["error"]["code"], "invalid_api_key")

    def test_rate_limit_is_rate_limit_error_with_retry_after(self):
        c = client(KEYS["rpm"])
        c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        with self.assertRaises(openai.RateLimitError) as ctx:
            c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        self.assertEqual(ctx.exception.code, "rate_limit_exceeded")
        self.assertGreaterEqual(int(ctx.exception.response.headers["retry-after"]), 1)

    def test_spent_budget_is_insufficient_quota(self):
        c = client(KEYS["budget"])
        c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        with self.assertRaises(openai.RateLimitError) as ctx:
            c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        self.assertEqual(ctx.exception.code, "insufficient_quota")
        self.assertEqual(ctx.exception.response.headers["x-should-retry"], "false")
        # A default client retries 429s with backoff; x-should-retry: false stops that.
        default = openai.OpenAI(base_url=BASE, api_key=KEYS["budget"])
        with self.assertRaises(openai.RateLimitError):
            default.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    def test_model_outside_list_is_permission_denied_and_auto_stays_inside(self):
        c = client(KEYS["mini"])
        with self.assertRaises(openai.PermissionDeniedError) as ctx:
            c.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        self.assertEqual(ctx.exception.code, "model_not_allowed")
        raw = c.chat.completions.with_raw_response.create(model="auto", messages=MESSAGES)
        self.assertEqual(raw.headers.get("x-switchyard-model"), "gpt-4o-mini")
        ids = [m.id for m in c.models.list().data]
        self.assertEqual(ids, ["auto", "gpt-4o-mini"])

    def test_stream_with_a_key(self):
        stream = client(KEYS["ok"]).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )
        text = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
        self.assertTrue(text)

    def test_non_json_post_is_415(self):
        r = httpx.post(
            BASE + "/chat/completions",
            content=b'{"model":"gpt-4o-mini","messages":[]}',
            headers={"content-type": "text/plain", "authorization": "Bearer " + KEYS["ok"]},
        )
        self.assertEqual(r.status_code, 415)
        self.assertEqual(r.json()["error"]["code"], "unsupported_media_type")


if __name__ == "__main__":
    unittest.main()
