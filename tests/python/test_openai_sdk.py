"""Conformance of the running gateway with the official `openai` Python SDK.

Run by scripts/conformance.sh, which starts the testkit fake provider and `switchyard serve`
on loopback and exports SWITCHYARD_URL. Every test talks to the real gateway over HTTP.
"""
import os
import unittest

import httpx
import openai

BASE = os.environ["SWITCHYARD_URL"].rstrip("/")
client = openai.OpenAI(base_url=BASE + "/v1", api_key="unused-by-switchyard", max_retries=0)


class ChatTests(unittest.TestCase):
    def test_auto_routes_and_answers(self):
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": "Say hello in French."}]
        )
        completion = raw.parse()
        self.assertEqual(completion.object, "chat.completion")
        self.assertTrue(completion.choices[0].message.content)
        self.assertEqual(completion.choices[0].message.role, "assistant")
        self.assertGreater(completion.usage.total_tokens, 0)
        self.assertTrue(raw.headers.get("x-switchyard-model"))
        self.assertTrue(raw.headers.get("x-switchyard-request-id"))

    def test_named_model(self):
        models = client.models.list()
        ids = [m.id for m in models.data]
        self.assertIn("auto", ids)
        named = [i for i in ids if i != "auto"]
        self.assertTrue(named, "GET /v1/models lists the live models")
        raw = client.chat.completions.with_raw_response.create(
            model=named[0], messages=[{"role": "user", "content": "ping"}]
        )
        self.assertEqual(raw.headers.get("x-switchyard-model"), named[0])
        self.assertTrue(raw.parse().choices[0].message.content)

    def test_anthropic_backed_model_speaks_openai(self):
        completion = client.chat.completions.create(
            model="claude-haiku-4.5",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "ping"},
            ],
        )
        self.assertEqual(completion.object, "chat.completion")
        self.assertTrue(completion.choices[0].message.content)
        self.assertEqual(completion.choices[0].finish_reason, "stop")
        self.assertGreater(completion.usage.completion_tokens, 0)

    def test_anthropic_backed_stream(self):
        stream = client.chat.completions.create(
            model="claude-haiku-4.5",
            messages=[{"role": "user", "content": "Count to three."}],
            stream=True,
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        self.assertTrue(text)

    def test_stream_context_manager_and_finish_reason(self):
        with client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
        ) as stream:
            finish = [c.choices[0].finish_reason for c in stream if c.choices]
        self.assertEqual(finish[-1], "stop")

    def test_feedback_joins_by_request_id(self):
        raw = client.chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": "Was this useful?"}]
        )
        request_id = raw.headers.get("x-switchyard-request-id")
        self.assertTrue(request_id)
        r = httpx.post(BASE + "/v1/feedback",
                       json={"request_id": request_id, "metric": "thumbs_up", "score": True})
        self.assertEqual(r.status_code, 202, r.text)

    def test_streaming(self):
        stream = client.chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": "Count to three."}],
            stream=True,
            stream_options={"include_usage": True},
        )
        text, usage = "", None
        for chunk in stream:
            self.assertEqual(chunk.object, "chat.completion.chunk")
            for choice in chunk.choices:
                text += choice.delta.content or ""
            if chunk.usage is not None:
                usage = chunk.usage
        self.assertTrue(text)
        self.assertIsNotNone(usage)
        self.assertGreater(usage.completion_tokens, 0)

    def test_routing_knobs_in_the_body(self):
        completion = client.chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": "Cheap answer please."}],
            extra_body={"router": {"max_cost_usd": 1.0, "min_quality": 0.0}},
        )
        self.assertTrue(completion.choices[0].message.content)


class ResponsesTests(unittest.TestCase):
    """`client.responses.create` against `POST /v1/responses`."""

    def test_plain(self):
        raw = client.responses.with_raw_response.create(
            model="auto",
            instructions="Be brief.",
            input="Say hello in French.",
            metadata={"ticket": "T-1"},
        )
        response = raw.parse()
        self.assertEqual(response.object, "response")
        self.assertEqual(response.instructions, "Be brief.")
        self.assertEqual(response.metadata, {"ticket": "T-1"})
        self.assertTrue(response.id.startswith("resp_"))
        self.assertEqual(response.status, "completed")
        self.assertTrue(response.output_text)
        self.assertEqual(response.output[0].type, "message")
        self.assertGreater(response.usage.total_tokens, 0)
        self.assertEqual(response.usage.output_tokens_details.reasoning_tokens, 0)
        self.assertTrue(raw.headers.get("x-switchyard-model"))
        self.assertTrue(raw.headers.get("x-switchyard-request-id"))

    def test_streamed(self):
        stream = client.responses.create(
            model="gpt-4o-mini", input="Count to three.", stream=True
        )
        types, deltas, final = [], "", None
        for event in stream:
            types.append(event.type)
            if event.type == "response.output_text.delta":
                deltas += event.delta
            elif event.type == "response.completed":
                final = event.response
        self.assertEqual(types[:2], ["response.created", "response.in_progress"])
        self.assertEqual(types[-1], "response.completed")
        self.assertIsNotNone(final)
        self.assertTrue(deltas)
        self.assertEqual(final.output_text, deltas)
        self.assertGreater(final.usage.output_tokens, 0)

    def test_function_tool_and_call_items(self):
        tools = [{
            "type": "function",
            "name": "get_weather",
            "description": "Weather now",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                           "required": ["city"]},
        }]
        response = client.responses.create(
            model="claude-haiku-4.5",
            tools=tools,
            tool_choice="auto",
            input=[
                {"role": "user", "content": "Weather in Paris?"},
                {"type": "function_call", "call_id": "call_1", "name": "get_weather",
                 "arguments": '{"city": "Paris"}'},
                {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
            ],
        )
        self.assertEqual(response.status, "completed")
        self.assertTrue(response.output_text)
        self.assertEqual(response.tools[0].name, "get_weather")

    def test_refused_field_is_a_400_naming_it(self):
        with self.assertRaises(openai.BadRequestError) as caught:
            client.responses.create(model="auto", input="hi", previous_response_id="resp_1")
        self.assertIn("previous_response_id", str(caught.exception))

    def test_stored_responses_are_a_404_saying_nothing_is_stored(self):
        # Nothing is stored (`store: false`): retrieving, deleting or cancelling a response is
        # a NotFoundError whose message says so, not an empty 404.
        for call in (
            lambda: client.responses.retrieve("resp_1"),
            lambda: client.responses.delete("resp_1"),
            lambda: client.responses.cancel("resp_1"),
            lambda: client.responses.input_items.list("resp_1"),
        ):
            with self.assertRaises(openai.NotFoundError) as caught:
                call()
            self.assertIn("stores no responses", str(caught.exception))

    def test_reasoning_effort_and_prompt_cache_hints_are_taken(self):
        response = client.responses.create(
            model="auto",
            input="Say hello in French.",
            reasoning={"effort": "low"},
            prompt_cache_key="conversation-1",
            prompt_cache_retention="24h",
        )
        self.assertEqual(response.status, "completed")
        self.assertEqual(response.reasoning.effort, "low")
        self.assertTrue(response.output_text)

    def test_a_codex_shaped_turn_streams(self):
        # What Codex sends on every turn: a reasoning summary, encrypted reasoning in
        # `include`, verbosity, `store: false`, and the earlier turn's reasoning item replayed.
        stream = client.responses.create(
            model="auto",
            instructions="You are a coding agent.",
            input=[
                {"type": "message", "role": "user",
                 "content": [{"type": "input_text", "text": "Fix the build."}]},
                {"type": "reasoning", "id": "rs_1", "summary": [],
                 "encrypted_content": "opaque"},
                {"type": "function_call", "call_id": "call_1", "name": "shell",
                 "arguments": '{"cmd": "cargo build"}'},
                {"type": "function_call_output", "call_id": "call_1", "output": "ok"},
            ],
            tools=[{"type": "function", "name": "shell",
                    "parameters": {"type": "object",
                                   "properties": {"cmd": {"type": "string"}}}}],
            tool_choice="auto",
            parallel_tool_calls=False,
            reasoning={"effort": "medium", "summary": "auto"},
            include=["reasoning.encrypted_content"],
            text={"verbosity": "low"},
            store=False,
            stream=True,
        )
        final = None
        for event in stream:
            if event.type == "response.completed":
                final = event.response
        self.assertIsNotNone(final)
        self.assertEqual(final.status, "completed")
        self.assertTrue(final.output_text)
        self.assertEqual(final.reasoning.effort, "medium")
        # The summary asked for is echoed (it decides where reasoning text goes).
        self.assertEqual(final.reasoning.summary, "auto")


class EmbeddingsTests(unittest.TestCase):
    def test_passthrough(self):
        raw = client.embeddings.with_raw_response.create(
            model="text-embedding-3-small", input=["hello world", "again"]
        )
        result = raw.parse()
        self.assertEqual(len(result.data), 2)
        self.assertEqual(result.data[1].index, 1)
        self.assertTrue(result.data[0].embedding)
        self.assertGreater(result.usage.prompt_tokens, 0)
        self.assertGreater(float(raw.headers.get("x-switchyard-cost-usd")), 0.0)

    def test_auto_is_refused(self):
        with self.assertRaises(openai.BadRequestError) as caught:
            client.embeddings.create(model="auto", input="hi")
        self.assertIn("not routed", str(caught.exception))


class ErrorTests(unittest.TestCase):
    def test_unknown_model_is_a_404_in_openai_shape(self):
        with self.assertRaises(openai.NotFoundError) as ctx:
            client.chat.completions.create(
                model="no-such-model-xyz", messages=[{"role": "user", "content": "hi"}]
            )
        body = ctx.exception.body
        self.assertIsInstance(body, dict)
        self.assertIn("message", body)

    def test_model_of_an_unconfigured_provider_is_a_404_and_not_retried(self):
        # gemini-2.5-flash is in the catalog, but the conformance config has no `google`
        # provider. A default client (2 retries) must make one call, not three.
        def refused():
            metrics = httpx.get(BASE + "/metrics").text
            for row in metrics.splitlines():
                if (row.startswith("switchyard_rejected_requests_total{")
                        and 'endpoint="chat_completions"' in row
                        and 'code="model_not_found"' in row):
                    return float(row.split()[-1])
            return 0.0

        before = refused()
        retrying = openai.OpenAI(base_url=BASE + "/v1", api_key="unused-by-switchyard")
        with self.assertRaises(openai.NotFoundError) as ctx:
            retrying.chat.completions.create(
                model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}]
            )
        message = ctx.exception.body["message"]
        self.assertIn("gemini-2.5-flash", message)
        self.assertIn("google", message)
        self.assertIn("[[providers]]", message)
        self.assertEqual(refused() - before, 1.0)

    def test_invalid_request_is_a_400(self):
        with self.assertRaises(openai.BadRequestError):
            client.chat.completions.create(model="auto", messages="not a list")

    def test_invalid_json_is_a_400(self):
        r = httpx.post(BASE + "/v1/chat/completions", content=b"{not json",
                       headers={"content-type": "application/json"})
        self.assertEqual(r.status_code, 400)
        self.assertIn("error", r.json())
        self.assertIn("message", r.json()["error"])


class RouteTests(unittest.TestCase):
    def test_route_endpoint_ranks_every_candidate(self):
        r = httpx.post(BASE + "/v1/route", json={"messages": [{"role": "user", "content": "Prove Fermat's little theorem."}]})
        self.assertEqual(r.status_code, 200, r.text)
        body = r.json()
        self.assertIn("chosen", body)
        models = {m.id for m in client.models.list().data} - {"auto"}
        ranked = {c["model"] for c in body["candidates"]}
        self.assertEqual(ranked, models, body)
        self.assertEqual(body["failover_order"][0], body["chosen"])

    def test_health_and_metrics(self):
        self.assertEqual(httpx.get(BASE + "/health").json()["status"], "ok")
        metrics = httpx.get(BASE + "/metrics").text
        self.assertIn("switchyard_requests_total", metrics)


if __name__ == "__main__":
    unittest.main(verbosity=2)
