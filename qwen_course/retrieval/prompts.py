"""The input formats of Qwen3-Embedding and Qwen3-Reranker, written once (README of github.com/QwenLM/Qwen3-Embedding,
the same text as the Hugging Face model cards): queries carry a one-sentence instruction, documents none; the reranker
reads a fixed system prompt, <Instruct>/<Query>/<Document> lines and an empty think block, then answers "yes" or "no".
"""

from __future__ import annotations

DEFAULT_TASK = "Given a web search query, retrieve relevant passages that answer the query"
COURSE_TASK = "Given a question about the Qwen course, retrieve the course passages that answer it"
RERANK_SYSTEM = ('Judge whether the Document meets the requirements based on the Query and the Instruct provided. '
                 'Note that the answer can only be "yes" or "no".')
RERANK_PREFIX = f"<|im_start|>system\n{RERANK_SYSTEM}<|im_end|>\n<|im_start|>user\n"
RERANK_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
YES, NO = "yes", "no"


def query_prompt(task: str = DEFAULT_TASK) -> str:
    """The prefix a query gets ("Instruct: ...\\nQuery:"), as the model card's get_detailed_instruct writes it."""
    return f"Instruct: {task}\nQuery:"


def query_text(query: str, task: str = DEFAULT_TASK) -> str:
    """A query with its instruction; documents are embedded as they are."""
    return query_prompt(task) + query


def rerank_content(query: str, document: str, instruction: str = DEFAULT_TASK) -> str:
    """The user turn of a reranker input (format_instruction in the model card)."""
    return f"<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {document}"


def rerank_text(query: str, document: str, instruction: str = DEFAULT_TASK) -> str:
    """The whole reranker input: system prompt, the user turn, and the assistant turn opened after an empty think."""
    return RERANK_PREFIX + rerank_content(query, document, instruction) + RERANK_SUFFIX


def yes_no_ids(tokenizer) -> tuple[int, int]:
    """The token ids whose logits the reranker compares: ("yes", "no"), each a single token in Qwen's vocabulary."""
    ids = tokenizer.convert_tokens_to_ids([YES, NO])
    if any(i is None or i == tokenizer.unk_token_id for i in ids):
        raise ValueError("this tokenizer has no single 'yes'/'no' tokens: it is not a Qwen reranker's tokenizer")
    return ids[0], ids[1]


def cross_encoder_template(instruction: str = DEFAULT_TASK) -> str:
    """A chat template that renders a sentence-transformers (query, document) pair as the reranker's input.

    CrossEncoder maps a pair to messages with the roles "query" and "document"; Qwen's chat template knows neither,
    so the pair would render empty. This template writes exactly `rerank_text(query, document, instruction)`; the
    closing string is one Jinja expression because Jinja drops a template's final newline.
    """
    escaped = instruction.replace("\\", "\\\\").replace("'", "\\'")
    return (
        "{%- set query = messages | selectattr('role', 'eq', 'query') | map(attribute='content') | first -%}"
        "{%- set document = messages | selectattr('role', 'eq', 'document') | map(attribute='content') | first -%}"
        + RERANK_PREFIX
        + "<Instruct>: {{ instruction | default('" + escaped + "') }}\n<Query>: {{ query }}\n<Document>: {{ document }}"
        + "{{ " + repr(RERANK_SUFFIX) + " }}"
    )
