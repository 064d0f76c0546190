"""Conformance of the running gateway with the official `anthropic` Python SDK.

Run by scripts/conformance.sh, which starts the testkit fake provider and `switchyard serve`
on loopback and exports SWITCHYARD_URL. Every test talks to the real gateway's
`POST /v1/messages` over HTTP; the models behind it speak OpenAI (gpt-4o-mini) or Anthropic
(claude-haiku-4.5) to the fake.
"""
import os
import unittest

import anthropic

BASE = os.environ["SWITCHYARD_URL"].rstrip("/")
client = anthropic.Anthropic(base_url=BASE, api_key="unused-by-switchyard", max_retries=0)

# One OpenAI-dialect and one Anthropic-dialect model behind the gateway.
MODELS = ["gpt-4o-mini", "claude-haiku-4.5"]


class MessagesTests(unittest.TestCase):
    def test_auto_routes_and_answers(self):
        raw = client.messages.with_raw_response.create(
            model="auto",
            max_tokens=64,
            messages=[{"role": "user", "content": "Say hello in French."}],
        )
        message = raw.parse()
        self.assertEqual(message.type, "message")
        self.assertEqual(message.role, "assistant")
        self.assertEqual(message.content[0].type, "text")
        self.assertTrue(message.content[0].text)
        self.assertEqual(message.stop_reason, "end_turn")
        self.assertGreater(message.usage.output_tokens, 0)
        self.assertTrue(raw.headers.get("x-switchyard-model"))
        self.assertTrue(raw.headers.get("x-switchyard-request-id"))

    def test_system_and_multi_turn_on_either_dialect(self):
        for model in MODELS:
            with self.subTest(model=model):
                raw = client.messages.with_raw_response.create(
                    model=model,
                    max_tokens=64,
                    system=[{"type": "text", "text": "Be brief."}],
                    stop_sequences=["\n\n\n"],
                    metadata={"user_id": "conformance"},
                    messages=[
                        {"role": "user", "content": "What is 2+2?"},
                        {"role": "assistant", "content": "4."},
                        {"role": "user", "content": [{"type": "text", "text": "And 3+3?"}]},
                    ],
                )
                self.assertEqual(raw.headers.get("x-switchyard-model"), model)
                message = raw.parse()
                self.assertTrue(message.content[0].text)
                self.assertGreater(message.usage.input_tokens, 0)

    def test_stream_on_either_dialect(self):
        for model in MODELS:
            with self.subTest(model=model):
                with client.messages.stream(
                    model=model,
                    max_tokens=64,
                    messages=[{"role": "user", "content": "Count to three."}],
                ) as stream:
                    text = "".join(stream.text_stream)
                    final = stream.get_final_message()
                self.assertTrue(text)
                self.assertEqual(final.content[0].text, text)
                self.assertEqual(final.stop_reason, "end_turn")
                self.assertGreater(final.usage.output_tokens, 0)

    def test_raw_stream_event_sequence(self):
        stream = client.messages.create(
            model="auto",
            max_tokens=64,
            stream=True,
            messages=[{"role": "user", "content": "hi"}],
        )
        kinds = [event.type for event in stream]
        self.assertEqual(kinds[:2], ["message_start", "content_block_start"])
        self.assertEqual(kinds[-3:], ["content_block_stop", "message_delta", "message_stop"])

    def test_tools_and_tool_results_are_accepted(self):
        message = client.messages.create(
            model="claude-haiku-4.5",
            max_tokens=64,
            tools=[{
                "name": "get_weather",
                "description": "The weather in a city",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            }],
            tool_choice={"type": "auto"},
            messages=[
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                     "input": {"city": "Paris"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"}]},
            ],
        )
        self.assertEqual(message.type, "message")
        self.assertTrue(message.content)

    def test_error_classes(self):
        with self.assertRaises(anthropic.NotFoundError) as ctx:
            client.messages.create(
                model="no-such-model", max_tokens=8,
                messages=[{"role": "user", "content": "hi"}],
            )
        self.assertEqual(ctx.exception.body["type"], "error")
        with self.assertRaises(anthropic.BadRequestError) as ctx:
            client.messages.create(
                # This SDK version no longer types top_k: sent raw.
                model="auto", max_tokens=8, extra_body={"top_k": 5},
                messages=[{"role": "user", "content": "hi"}],
            )
        self.assertIn("top_k", str(ctx.exception))
        # max_tokens is required: the SDK insists too, so this body goes through client.post.
        with self.assertRaises(anthropic.BadRequestError) as ctx:
            client.post("/v1/messages", cast_to=object,
                        body={"model": "auto", "messages": [{"role": "user", "content": "hi"}]})
        self.assertIn("max_tokens", str(ctx.exception))

    def test_count_tokens(self):
        # Claude Code calls this on start-up and every turn; the SDK's own method.
        short = client.messages.count_tokens(
            model="claude-haiku-4.5", messages=[{"role": "user", "content": "hi"}])
        long = client.messages.count_tokens(
            model="claude-haiku-4.5", system="Be brief.",
            messages=[{"role": "user", "content": "word " * 400}])
        self.assertGreater(short.input_tokens, 0)
        self.assertGreater(long.input_tokens, short.input_tokens + 400)


if __name__ == "__main__":
    unittest.main()
