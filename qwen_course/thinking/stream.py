"""Stream with the reasoning folded away: `ThinkingStreamer`, an ipywidgets accordion in Jupyter, text elsewhere.

`thinking.ThinkingStreamer` builds the class on first use (the package facade), so importing stays fast.
transformers and ipywidgets are imported only when the class is built or shown.
"""

from __future__ import annotations

from .parse import think_ids


def _streamer_class():
    """Build the class on first use (called by `thinking.__getattr__`), so importing stays free of transformers."""
    from transformers.generation.streamers import BaseStreamer

    class ThinkingStreamer(BaseStreamer):
        """Stream `generate` output with the reasoning folded away and the answer in full: an ipywidgets
        accordion in Jupyter, plain text elsewhere. `.thinking` and `.answer` hold the text afterwards."""

        def __init__(self, tokenizer, *, open_think: bool = False, widget: bool | None = None, every: int = 8):
            self.tokenizer, self.every = tokenizer, every
            self.open_id, self.close_id = think_ids(tokenizer)
            self.state = "thinking" if open_think else "answer"
            self.thinking_ids, self.answer_ids, self._seen_prompt, self._printed = [], [], False, 0
            self.widget = _in_kernel() if widget is None else widget
            if self.widget:
                import ipywidgets as w
                from IPython.display import display

                self._fold, self._answer = w.HTML(), w.HTML()
                self._box = w.Accordion(children=[self._fold], selected_index=None)
                display(w.VBox([self._box, self._answer]))
            self._refresh()

        @property
        def thinking(self) -> str:
            return self.tokenizer.decode(self.thinking_ids, skip_special_tokens=True).strip()

        @property
        def answer(self) -> str:
            return self.tokenizer.decode(self.answer_ids, skip_special_tokens=True).strip()

        def put(self, value):
            if not self._seen_prompt:  # generate() first pushes the prompt
                self._seen_prompt = True
                return
            for token in value.reshape(-1).tolist():
                if token == self.open_id:
                    self.state = "thinking"
                elif token == self.close_id:
                    self.state = "answer"
                    if not self.widget:
                        print(f"[thinking folded away: {len(self.thinking_ids)} tokens]", flush=True)
                else:
                    (self.thinking_ids if self.state == "thinking" else self.answer_ids).append(token)
            if self.widget and (len(self.thinking_ids) + len(self.answer_ids)) % self.every == 0:
                self._refresh()
            elif not self.widget:
                self._print_answer()

        def end(self):
            if self.widget:
                self._refresh()
            else:
                self._print_answer(final=True)
                if self.state == "thinking":
                    print(f"[thinking not finished: {len(self.thinking_ids)} tokens]", flush=True)
                print(flush=True)

        def _print_answer(self, final: bool = False):
            text = self.tokenizer.decode(self.answer_ids, skip_special_tokens=True)
            if final or not text.endswith("\ufffd"):  # wait for the rest of a multi-byte character
                print(text[self._printed:].lstrip() if self._printed == 0 else text[self._printed:], end="", flush=True)
                self._printed = len(text)

        def _refresh(self):
            if self.widget:
                import html

                state = "thinking..." if self.state == "thinking" else "folded"
                self._box.set_title(0, f"Thinking ({len(self.thinking_ids)} tokens, {state})")
                self._fold.value = f"<pre style='white-space:pre-wrap'>{html.escape(self.thinking)}</pre>"
                self._answer.value = f"<div style='white-space:pre-wrap'>{html.escape(self.answer)}</div>"

    return ThinkingStreamer


def _in_kernel() -> bool:
    try:
        import ipywidgets  # noqa: F401
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None
