"""generate(messages, tools) -> text for the agent loop: a scripted fake, a local model, an OpenAI-compatible server.

Every adapter returns the reply as Qwen writes it (reasoning, text, <tool_call> blocks): one parser serves all.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from .schema import ToolCall

Generate = Callable[[list[dict], list[dict]], str]  # messages, tool specs -> the reply text


def scripted(*replies: str) -> Generate:
    """A fake model that answers with the given texts in order (for tests and for showing the loop offline)."""
    queue = list(replies)

    def generate(messages: list[dict], tools: list[dict]) -> str:
        return queue.pop(0) if queue else "I have nothing more to add."

    return generate


def local_generate(model, tokenizer, max_new_tokens: int = 256, per_reply: Callable[[], dict] | None = None,
                   template_kwargs: dict | None = None, **generate_kwargs) -> Generate:
    """generate() for a local transformers model. per_reply() returns extra generate() arguments for each reply (a
    fresh logits processor, a shorter max_new_tokens); template_kwargs go to the chat template (enable_thinking)."""
    import torch

    def generate(messages: list[dict], tools: list[dict]) -> str:
        prompt = tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=True, tokenize=False,
                                               **(template_kwargs or {}))
        inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(model.device)
        options = {"max_new_tokens": max_new_tokens, **generate_kwargs, **(per_reply() if per_reply else {})}
        with torch.inference_mode():
            output = model.generate(**inputs, **options)
        text = tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=False)
        opened = "<think>\n" if prompt.endswith("<think>\n") else ""  # the template opened the reasoning
        return opened + text

    return generate


def openai_messages(messages: list[dict]) -> list[dict]:
    """Our history in the shape an OpenAI-compatible server accepts (arguments as JSON text, ids on tool turns)."""
    converted = []
    for message in messages:
        if message["role"] == "assistant":
            entry = {"role": "assistant", "content": message.get("content") or ""}
            if message.get("tool_calls"):
                entry["tool_calls"] = [ToolCall(c["function"]["name"], c["function"]["arguments"], c["id"]).as_openai()
                                       for c in message["tool_calls"]]
            converted.append(entry)
        elif message["role"] == "tool" and "tool_call_id" not in message:  # feedback on an unreadable call
            converted.append({"role": "user", "content": f"<tool_response>\n{message['content']}\n</tool_response>"})
        else:
            converted.append({k: v for k, v in message.items() if k in ("role", "content", "tool_call_id", "name")})
    return converted


def openai_generate(client, model: str, **create_kwargs) -> Generate:
    """generate() for an OpenAI-compatible server (vLLM --tool-call-parser hermes, transformers serve, ...).

    The server parses the calls; they are written back as Qwen3 <tool_call> text so one parser serves every route.
    """

    def generate(messages: list[dict], tools: list[dict]) -> str:
        response = client.chat.completions.create(model=model, messages=openai_messages(messages),
                                                  tools=tools or None, **create_kwargs)
        message = response.choices[0].message
        reasoning = getattr(message, "reasoning_content", None) or getattr(message, "reasoning", None)
        parts = [f"<think>\n{reasoning}\n</think>\n\n"] if reasoning else []
        parts.append(message.content or "")
        for call in message.tool_calls or []:
            arguments = call.function.arguments or "{}"
            parts.append(f'\n<tool_call>\n{{"name": {json.dumps(call.function.name)}, "arguments": {arguments}}}\n'
                         "</tool_call>")
        return "".join(parts)

    return generate
