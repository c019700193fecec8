"""`jslm serve` through the official `openai` Python client (run by tests/cli_serve.rs).

Usage: serve_openai_client.py BASE_URL CASE_JSON
CASE_JSON holds one case of tests/fixtures/tiny-mistral/reference.json (transformers' greedy
answer). The server runs the tiny model with --max-waiting 0. Prints "ok" when every check
passed; any failure raises.
"""

import json
import sys
import time

import openai

base_url, case = sys.argv[1], json.loads(sys.argv[2])
client = openai.OpenAI(base_url=base_url, api_key="unused-on-loopback", max_retries=0)

# The one model, by the name it is served as.
models = client.models.list()
assert [m.id for m in models.data] == ["tiny-mistral"], models

# Chat, greedy, whole: transformers' answer exactly.
messages = [{"role": "user", "content": case["instruction"]}]
extra = {"input": case["input"]} if case["input"] else {}
whole = client.chat.completions.create(
    model="tiny-mistral", messages=messages, temperature=0, max_tokens=24, extra_body=extra
)
answer = whole.choices[0].message.content
assert answer == case["greedy_text"], (answer, case["greedy_text"])
assert whole.choices[0].finish_reason in ("stop", "length")
assert whole.usage.prompt_tokens == len(case["prompt_ids"]), whole.usage
assert whole.usage.completion_tokens == len(case["greedy_ids"]), whole.usage

# Chat, streamed: the chunks add up to the same answer; usage at the end when asked.
stream = client.chat.completions.create(
    model="tiny-mistral",
    messages=messages,
    temperature=0,
    max_tokens=24,
    stream=True,
    stream_options={"include_usage": True},
    extra_body=extra,
)
pieces, finish, usage = [], None, None
for chunk in stream:
    if chunk.usage is not None:
        usage = chunk.usage
    for choice in chunk.choices:
        pieces.append(choice.delta.content or "")
        finish = choice.finish_reason or finish
assert "".join(pieces) == answer, ("".join(pieces), answer)
assert finish == whole.choices[0].finish_reason
assert usage.completion_tokens == whole.usage.completion_tokens

# Raw completions, streamed and whole, agree.
raw = client.completions.create(model="tiny-mistral", prompt="昔々", temperature=0, max_tokens=10)
streamed = "".join(
    c.choices[0].text
    for c in client.completions.create(
        model="tiny-mistral", prompt="昔々", temperature=0, max_tokens=10, stream=True
    )
)
assert raw.choices[0].text == streamed, (raw.choices[0].text, streamed)
assert raw.usage.completion_tokens == 10 or raw.choices[0].finish_reason == "stop"

# Errors: the client's own exception classes, with the field named.
try:
    client.chat.completions.create(model="tiny-mistral", messages=messages, top_p=1.5)
    raise AssertionError("top_p 1.5 was accepted")
except openai.BadRequestError as e:
    assert e.body["param"] == "top_p", e.body
try:
    client.chat.completions.create(model="gpt-4o", messages=messages)
    raise AssertionError("an unknown model was accepted")
except openai.NotFoundError as e:
    assert e.body["code"] == "model_not_found", e.body
try:
    client.chat.completions.create(
        model="tiny-mistral",
        messages=[
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"},
        ],
    )
    raise AssertionError("earlier turns were accepted")
except openai.BadRequestError as e:
    assert e.body["param"] == "messages[0].role", e.body

# A full queue: one long generation holds the engine (--max-waiting 0), the next is refused
# with 429; when its client goes away, the engine is free again.
long = client.completions.create(
    model="tiny-mistral", prompt="むかしむかし", temperature=0, max_tokens=4000, stream=True
)
first = next(iter(long))
assert first.choices[0].text is not None
try:
    client.completions.create(model="tiny-mistral", prompt="次", max_tokens=2)
    raise AssertionError("a request beyond the queue was accepted")
except openai.RateLimitError as e:
    assert int(e.response.headers["retry-after"]) >= 1
long.close()
deadline = time.monotonic() + 10
while True:
    try:
        client.completions.create(model="tiny-mistral", prompt="次", max_tokens=2)
        break
    except openai.RateLimitError:
        assert time.monotonic() < deadline, "the closed stream kept the engine"
        time.sleep(0.05)

print("ok")
