"""Multi-turn chat helpers for lessons 00 and 02: which model answers, history that fits the context, streaming, a chat
box, sampled answers measured, and output parsing.

The lessons write the transformers calls themselves; this module holds what a learner should not retype: where the
answering model comes from (`chat_source`: the pick online, the course's trained tiny Qwen3 offline), the truncation
policy, the streaming thread, the widget (its logic in `ChatSession`, testable without a browser) and the measures of
many sampled answers (`sampled_answers`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterator

from .offline.kinds import TRAINED_KIND as TRAINED_STAND_IN  # the offline kind that really answers

FIM = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>")
DOMAIN = ("two-digit sums and differences, a digit times 10..19, which of two three-digit numbers is larger, "
          "facts about Qwen3 and Qwen3.5 checkpoints from the course catalog, and tool calls")
AT_SCALE = ("A real Qwen checkpoint does the same at scale (the same template, generate call and sampling) and answers "
            "anything; this 4-layer model knows only its narrow domain and writes nonsense outside it.")


@dataclass(frozen=True)
class ChatSource:
    """Where a lesson's answering model comes from: the pick online; offline the course's trained tiny Qwen3, because
    the random stand-in of the pick's architecture only has the right shapes (its answers are noise)."""

    path: str  # what to pass to from_pretrained
    model_id: str  # the real checkpoint: the pick, or offline the one the trained stand-in imitates (its sampling)
    trained_stand_in: bool
    reason: str = ""  # why offline, when it is

    def sampling(self, mode: str | None = None) -> dict:
        """Qwen's recommended sampling for `model_id` in a mode ("thinking" / "non-thinking")."""
        from . import catalog

        return catalog.get(self.model_id).sampling(mode)

    def generate_kwargs(self, mode: str | None = None) -> dict:
        """`sampling(mode)` as `model.generate(**kwargs)` takes it (presence_penalty is a server parameter)."""
        return {"do_sample": True, **{k: v for k, v in self.sampling(mode).items() if k != "presence_penalty"}}

    @property
    def thinking_default(self) -> bool:
        """Whether `model_id`'s chat template thinks unless told otherwise."""
        from . import catalog

        return catalog.get(self.model_id).thinks_by_default

    @property
    def label(self) -> str:
        """One line: which model answers, and, offline, what it is."""
        if not self.trained_stand_in:
            return f"real checkpoint {self.model_id}"
        return (f"offline ({self.reason}): the course's tiny TRAINED Qwen3 '{TRAINED_STAND_IN}' answers, a stand-in "
                f"for {self.model_id}, trained on {DOMAIN}")


def chat_source(pick) -> ChatSource:
    """The model a lesson chats with: `pick.model_path` online, the built trained stand-in offline."""
    if not pick.offline:
        return ChatSource(str(pick.model_path), pick.model_id, False)
    from . import offline

    path = offline.build(TRAINED_STAND_IN)
    return ChatSource(str(path), offline.kind(TRAINED_STAND_IN).stands_in_for, True, pick.offline_reason or "")


def sampled_answers(new_ids, tokenizer, chats: list, samples: int, untrained=None) -> dict:
    """Measures of `samples` sampled replies per chat, rows grouped per chat as generate's num_return_sequences gives
    them: distinct visible answers per chat, the share correct (the trained stand-in's scorer), the share stopped at
    <|im_end|>, and the share of sampled tokens from `untrained` rows (a bool mask over the vocabulary)."""
    from .offline import trained
    from .offline.trained.gate import reply_from_ids

    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    rows = new_ids.tolist()
    if len(rows) != len(chats) * samples:
        raise ValueError(f"{len(rows)} replies for {len(chats)} chats x {samples} samples")
    replies = [reply_from_ids(row, tokenizer, end) for row in rows]
    scored = trained.score([c for c in chats for _ in range(samples)], replies)
    groups = [scored[i:i + samples] for i in range(0, len(scored), samples)]
    tokens = [t for r in replies for t in r["ids"]]
    dead = sum(bool(untrained[t]) for t in tokens) if untrained is not None else 0
    return {"distinct answers per prompt": sum(len({r["answer"] for r in g}) for g in groups) / len(groups),
            "correct": sum(r["correct"] for r in scored) / len(scored),
            "stopped": sum(r["stop"] for r in scored) / len(scored),
            "tokens from never-trained rows": dead / max(1, len(tokens)),
            "answers": [[r["answer"] for r in g] for g in groups]}  # fmt: skip


class ContextTooLongError(ValueError):
    """The newest message alone does not fit the context; says by how much."""


def fit_history(messages: list[dict], count: Callable[[list[dict]], int], budget: int) -> tuple[list[dict], int]:
    """Drop the oldest turns (never the system prompt, never the newest user message) until `count(kept) <= budget`.

    Returns the kept messages and how many were dropped; raises ContextTooLongError when even the minimum is too long.
    """
    system = [m for m in messages[:1] if m["role"] == "system"]
    turns = messages[len(system):]
    dropped = 0
    while True:
        kept = system + turns[dropped:]
        used = count(kept)
        if used <= budget:
            return kept, dropped
        if len(turns) - dropped <= 1:
            raise ContextTooLongError(f"the newest message needs {used:,} tokens with the system prompt, "
                                      f"but only {budget:,} fit; shorten it or raise the context limit")
        dropped += 1
        while dropped < len(turns) and turns[dropped]["role"] != "user":  # restart at a user turn
            dropped += 1


def stream_generate(model, tokenizer, inputs: dict, **generate_kwargs) -> Iterator[str]:
    """Yield text pieces as `model.generate` produces them (generation runs in a thread with TextIteratorStreamer)."""
    from threading import Thread

    from transformers import TextIteratorStreamer

    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    thread = Thread(target=model.generate, kwargs={**inputs, **generate_kwargs, "streamer": streamer}, daemon=True)
    thread.start()
    try:
        yield from streamer
    finally:
        thread.join()


@dataclass
class ChatSession:
    """A conversation with a model: keeps history, fits it into `max_context`, streams replies.

    `enable_thinking` goes to the chat template on every turn (True/False; None leaves the template's default, which
    is thinking for Qwen3 and Qwen3.5 from 4B up). The history keeps only each reply's answer, never its reasoning.
    """

    model: object
    tokenizer: object
    system: str | None = None
    max_context: int = 4096
    max_new_tokens: int = 64
    generate_kwargs: dict = field(default_factory=dict)
    enable_thinking: bool | None = None
    history: list = field(default_factory=list)
    dropped: int = 0

    def messages(self, user_text: str | None = None) -> list[dict]:
        system = [{"role": "system", "content": self.system}] if self.system else []
        extra = [{"role": "user", "content": user_text}] if user_text is not None else []
        return system + self.history + extra

    def render(self, messages: list[dict], **kwargs):
        """The chat template applied with the assistant turn opened and this session's thinking mode."""
        mode = {} if self.enable_thinking is None else {"enable_thinking": self.enable_thinking}
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, **mode, **kwargs)

    def count(self, messages: list[dict]) -> int:
        """Prompt tokens the chat template makes of these messages (with the assistant turn opened)."""
        return len(self.render(messages, tokenize=True, return_dict=True)["input_ids"])

    def prepare(self, user_text: str) -> dict:
        """Tokenized prompt for the next turn, oldest turns dropped so prompt + reply fit the context."""
        kept, dropped = fit_history(self.messages(user_text), self.count, self.max_context - self.max_new_tokens)
        self.dropped += dropped
        self.history = [m for m in kept if m["role"] != "system"][:-1]
        return self.render(kept, tokenize=True, return_dict=True, return_tensors="pt").to(self.model.device)

    def send(self, user_text: str, on_piece: Callable[[str], None] | None = None) -> str:
        """Add a user turn, stream the reply (each piece to `on_piece`), keep the question and the answer."""
        from .thinking import prompt_state, split_thinking

        inputs = self.prepare(user_text)
        opened = prompt_state(self.render(self.messages(user_text), tokenize=False)) == "open"
        pieces = []
        for piece in stream_generate(self.model, self.tokenizer, inputs, max_new_tokens=self.max_new_tokens,
                                     **self.generate_kwargs):
            pieces.append(piece)
            if on_piece:
                on_piece(piece)
        reply = "".join(pieces)
        answer = split_thinking(reply, open_think=opened)[1]  # the reasoning stays out of the history
        self.history += [{"role": "user", "content": user_text}, {"role": "assistant", "content": answer}]
        return reply

    def clear(self) -> None:
        self.history, self.dropped = [], 0


def chat_box(session: ChatSession):
    """An ipywidgets chat: a text box, Send and Clear buttons, a streaming transcript. None without ipywidgets."""
    try:
        import ipywidgets as w
    except ImportError:
        return None
    transcript = w.Textarea(layout=w.Layout(width="100%", height="240px"), disabled=True)
    box = w.Text(placeholder="Type a message and press Send")
    send, clear = w.Button(description="Send", button_style="primary"), w.Button(description="Clear")

    def on_send(_):
        text, box.value = box.value.strip(), ""
        if not text:
            return
        transcript.value += f"you: {text}\nmodel: "
        try:
            session.send(text, on_piece=lambda piece: setattr(transcript, "value", transcript.value + piece))
        except ContextTooLongError as exc:
            transcript.value += f"[not sent: {exc}]"
        transcript.value += "\n"

    def on_clear(_):
        session.clear()
        transcript.value = ""

    send.on_click(on_send)
    clear.on_click(on_clear)
    return w.VBox([transcript, w.HBox([box, send, clear])])


def extract_boxed(text: str) -> str | None:
    """The content of the last \\boxed{...} (nested braces allowed), the way Qwen2.5-Math marks its final answer."""
    starts = [m.end() for m in re.finditer(r"\\boxed\{", text)]
    for start in reversed(starts):
        depth = 1
        for i in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                return text[start:i].strip()
    return None


def fim_prompt(prefix: str, suffix: str) -> str:
    """A fill-in-the-middle prompt for Qwen2.5-Coder: the model writes what goes between prefix and suffix."""
    return f"{FIM[0]}{prefix}{FIM[1]}{suffix}{FIM[2]}"
