"""The offline stand-ins: one tiny twin per Qwen architecture, with the real checkpoint it imitates and its recipe."""

from __future__ import annotations

from dataclasses import dataclass

TRAINED_KIND = "qwen3-trained"  # the kind that really answers (offline/trained): chat sources, lesson 06's preset

EOS_IDS = [151645, 151643]  # <|im_end|>, <|endoftext|>
# Per vocabulary: <|endoftext|> (bos and pad), the end-of-turn ids, and the vision token ids of the VL configs.
TOKEN_IDS = {
    "qwen2.5": dict(bos=151643, eos=EOS_IDS, image=151655, video=151656, vision_start=151652, vision_end=151653),
    "qwen3": dict(bos=151643, eos=EOS_IDS, image=151655, video=151656, vision_start=151652, vision_end=151653),
    "qwen3.5": dict(bos=248044, eos=[248046, 248044], image=248056, video=248057, vision_start=248053, vision_end=248054),
}
# Shapes shared by every stand-in: big real vocabulary (embedding rows > tokenizer size), everything else tiny.
TINY = dict(vocab_size=151936, hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, rms_norm_eps=1e-6, hidden_act="silu",
            bos_token_id=151643, eos_token_id=151645)  # fmt: skip
# Recommended sampling: Qwen2.5 Instruct's generation_config; Qwen3 thinking and non-thinking (QWEN_FACTS 3.5).
# The VL stand-ins take their family's instruct values (Qwen3-VL Instruct does not think).
QWEN2_5_SAMPLING = dict(temperature=0.7, top_p=0.8, top_k=20, repetition_penalty=1.05)
QWEN3_THINKING_SAMPLING = dict(temperature=0.6, top_p=0.95, top_k=20)
QWEN3_INSTRUCT_SAMPLING = dict(temperature=0.7, top_p=0.8, top_k=20)
# Qwen3.5/3.6: the catalog's "qwen3.5" preset (Qwen3.5-35B-A3B card), less presence_penalty, which generate() lacks.
QWEN3_5_THINKING_SAMPLING = dict(temperature=1.0, top_p=0.95, top_k=20, min_p=0.0, repetition_penalty=1.0)
QWEN3_5_INSTRUCT_SAMPLING = dict(temperature=0.7, top_p=0.8, top_k=20, min_p=0.0, repetition_penalty=1.0)
# The hybrid stack in miniature: 3 Gated DeltaNet layers then 1 gated full-attention layer, head_dim 32 with a quarter
# rotated (mrope_section sums to 4 = 32 x 0.25 / 2, in Qwen's 11:11:10 proportions, interleaved), twice as many
# linear value heads as key heads, the real 248,320-row embedding and the real token ids.
HYBRID = dict(vocab_size=248320, hidden_size=64, intermediate_size=192, num_hidden_layers=4, num_attention_heads=4,
              num_key_value_heads=2, head_dim=32, rms_norm_eps=1e-6, hidden_act="silu", bos_token_id=248044,
              eos_token_id=248044, max_position_embeddings=262144, full_attention_interval=4, linear_num_key_heads=2,
              linear_num_value_heads=4, linear_key_head_dim=16, linear_value_head_dim=16, linear_conv_kernel_dim=4,
              rope_parameters={"rope_type": "default", "rope_theta": 1e7, "partial_rotary_factor": 0.25,
                               "mrope_section": [2, 1, 1], "mrope_interleaved": True})  # fmt: skip
HYBRID_MOE = dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, shared_expert_intermediate_size=32)
# Qwen3.5's vision tower in miniature: patch 16, 2x2 merge, learned position embeddings, no deepstack.
HYBRID_VISION = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=16, spatial_merge_size=2,
                     temporal_patch_size=2, out_hidden_size=64, num_position_embeddings=2304,
                     hidden_act="gelu_pytorch_tanh")  # fmt: skip
QWEN3_VL_IMAGES = dict(patch_size=16, merge_size=2, temporal_patch_size=2, image_mean=[0.5] * 3, image_std=[0.5] * 3,
                       size={"shortest_edge": 65536, "longest_edge": 16777216})


@dataclass(frozen=True)
class Kind:
    """One stand-in: which real checkpoint it imitates and how to configure its tiny twin."""

    name: str
    family: str
    stands_in_for: str
    architecture: str
    model_type: str
    flavour: str  # tokenizer flavour (tokenizer.FLAVOURS)
    template: str  # chat template in qwen_course/data/templates
    sampling: dict
    config: dict
    vision: dict | None = None
    image_processor: dict | None = None

    @property
    def is_vision(self) -> bool:
        """Vision-language kinds have a vision tower and a processor."""
        return self.vision is not None

    @property
    def token_ids(self) -> dict:
        """bos/pad, end-of-turn and vision token ids of the kind's vocabulary."""
        return TOKEN_IDS[self.flavour]


def _hybrid(name: str, stands_in_for: str, template: str, moe: bool, tied: bool, sampling: dict) -> Kind:
    """A Qwen3.5/3.6 stand-in: the natively multimodal class, the 248k vocabulary and one of Qwen's templates."""
    return Kind(
        name=name, family="Qwen3.6" if template == "qwen3_6" else "Qwen3.5", stands_in_for=stands_in_for,
        architecture="Qwen3_5MoeForConditionalGeneration" if moe else "Qwen3_5ForConditionalGeneration",
        model_type="qwen3_5_moe" if moe else "qwen3_5", flavour="qwen3.5", template=template, sampling=sampling,
        config=dict(HYBRID, tie_word_embeddings=tied, **(HYBRID_MOE if moe else {})), vision=HYBRID_VISION,
        image_processor=QWEN3_VL_IMAGES,
    )


# Qwen3-Embedding and Qwen3-Reranker: Qwen3-0.6B bodies with a 32k context (their model cards). The embedder loads as
# Qwen3Model (AutoModel, what sentence-transformers uses: no lm_head), the reranker as Qwen3ForCausalLM (it reads the
# "yes"/"no" logits). Neither is a chat model, so neither has recommended sampling. offline/retrieval.py writes the
# embedder's sentence-transformers files and its tokenizer's end-of-text suffix.
RETRIEVAL = dict(TINY, head_dim=32, max_position_embeddings=32768, rope_theta=1e6, tie_word_embeddings=True)
# The trained stand-in (offline/trained): a Qwen3 three times wider and twice as deep as the random one, trained on the
# course's synthetic chats; the real 151,936-row vocabulary, of which only the rows the corpus uses are non-zero.
# rope_theta 1e4, not Qwen3's 1e6: a 48-wide head at 1e6 has only about 5 rotary pairs that tell offsets 2 and 4 apart,
# and the arithmetic traces need exactly that (a run at 1e6 copied digits from the neighbouring column).
TRAINED = dict(TINY, hidden_size=192, intermediate_size=512, num_hidden_layers=4, head_dim=48,
               max_position_embeddings=40960, rope_theta=1e4, tie_word_embeddings=True)


CLIP_MEAN, CLIP_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]


KINDS = {
    "qwen2.5": Kind(
        name="qwen2.5", family="Qwen2.5", stands_in_for="Qwen/Qwen2.5-0.5B-Instruct", architecture="Qwen2ForCausalLM",
        model_type="qwen2", flavour="qwen2.5", template="qwen2_5", sampling=QWEN2_5_SAMPLING,
        config=dict(TINY, max_position_embeddings=32768, rope_theta=1e6, tie_word_embeddings=True),
    ),
    "qwen3": Kind(
        name="qwen3", family="Qwen3", stands_in_for="Qwen/Qwen3-0.6B", architecture="Qwen3ForCausalLM",
        model_type="qwen3", flavour="qwen3", template="qwen3", sampling=QWEN3_THINKING_SAMPLING,
        # head_dim is explicit and heads*head_dim (128) > hidden (64), as in Qwen3-0.6B (16*128 > 1024).
        config=dict(TINY, head_dim=32, max_position_embeddings=40960, rope_theta=1e6, tie_word_embeddings=True),
    ),
    "qwen3-moe": Kind(
        name="qwen3-moe", family="Qwen3 MoE", stands_in_for="Qwen/Qwen3-30B-A3B", architecture="Qwen3MoeForCausalLM",
        model_type="qwen3_moe", flavour="qwen3", template="qwen3", sampling=QWEN3_THINKING_SAMPLING,
        config=dict(TINY, head_dim=32, max_position_embeddings=40960, rope_theta=1e6, tie_word_embeddings=False,
                    num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, norm_topk_prob=True,
                    decoder_sparse_step=1, mlp_only_layers=[], router_aux_loss_coef=0.001),
    ),
    "qwen2.5-vl": Kind(
        name="qwen2.5-vl", family="Qwen2.5-VL", stands_in_for="Qwen/Qwen2.5-VL-3B-Instruct",
        architecture="Qwen2_5_VLForConditionalGeneration", model_type="qwen2_5_vl", flavour="qwen2.5",
        template="qwen2_5_vl", sampling=QWEN2_5_SAMPLING,
        # mrope_section sums to head_dim/2 (8), in Qwen's 16:24:24 proportions.
        config=dict(TINY, max_position_embeddings=128000, tie_word_embeddings=True,
                    rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]}),
        vision=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=14, spatial_merge_size=2,
                    temporal_patch_size=2, window_size=112, fullatt_block_indexes=[1], out_hidden_size=64,
                    tokens_per_second=2, hidden_act="silu"),
        image_processor=dict(patch_size=14, merge_size=2, temporal_patch_size=2, min_pixels=3136,
                             max_pixels=12845056, image_mean=CLIP_MEAN, image_std=CLIP_STD),
    ),
    "qwen3-vl": Kind(
        name="qwen3-vl", family="Qwen3-VL", stands_in_for="Qwen/Qwen3-VL-2B-Instruct",
        architecture="Qwen3VLForConditionalGeneration", model_type="qwen3_vl", flavour="qwen3", template="qwen3_vl",
        sampling=QWEN3_INSTRUCT_SAMPLING,
        # mrope_section sums to head_dim/2 (16), in Qwen's 24:20:20 proportions, interleaved as in Qwen3-VL.
        config=dict(TINY, head_dim=32, max_position_embeddings=262144, tie_word_embeddings=True,
                    rope_parameters={"rope_type": "default", "rope_theta": 5e6, "mrope_section": [6, 5, 5],
                                     "mrope_interleaved": True}),
        vision=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, patch_size=16, spatial_merge_size=2,
                    temporal_patch_size=2, out_hidden_size=64, num_position_embeddings=2304,
                    deepstack_visual_indexes=[0], hidden_act="gelu_pytorch_tanh"),
        image_processor=QWEN3_VL_IMAGES,
    ),
    # Qwen3.5 / 3.6: a stand-in per template, so a pick's stand-in thinks by default exactly when the real pick does.
    "qwen3.5": _hybrid("qwen3.5", "Qwen/Qwen3.5-9B", "qwen3_5_think", False, False, QWEN3_5_THINKING_SAMPLING),
    "qwen3.5-small": _hybrid("qwen3.5-small", "Qwen/Qwen3.5-0.8B", "qwen3_5_nothink", False, True,
                             QWEN3_5_INSTRUCT_SAMPLING),
    "qwen3.5-moe": _hybrid("qwen3.5-moe", "Qwen/Qwen3.5-35B-A3B", "qwen3_5_think", True, False,
                           QWEN3_5_THINKING_SAMPLING),
    "qwen3.6": _hybrid("qwen3.6", "Qwen/Qwen3.6-27B", "qwen3_6", False, False, QWEN3_5_THINKING_SAMPLING),
    "qwen3.6-moe": _hybrid("qwen3.6-moe", "Qwen/Qwen3.6-35B-A3B", "qwen3_6", True, False, QWEN3_5_THINKING_SAMPLING),
    "qwen3-trained": Kind(
        name="qwen3-trained", family="Qwen3", stands_in_for="Qwen/Qwen3-0.6B", architecture="Qwen3ForCausalLM",
        model_type="qwen3", flavour="qwen3", template="qwen3", sampling=QWEN3_THINKING_SAMPLING, config=TRAINED,
    ),
    "qwen3-embedding": Kind(
        name="qwen3-embedding", family="Qwen3-Embedding", stands_in_for="Qwen/Qwen3-Embedding-0.6B",
        architecture="Qwen3Model", model_type="qwen3", flavour="qwen3", template="qwen3", sampling={}, config=RETRIEVAL,
    ),
    "qwen3-reranker": Kind(
        name="qwen3-reranker", family="Qwen3-Reranker", stands_in_for="Qwen/Qwen3-Reranker-0.6B",
        architecture="Qwen3ForCausalLM", model_type="qwen3", flavour="qwen3", template="qwen3", sampling={},
        config=RETRIEVAL,
    ),
}  # fmt: skip


MODEL_TYPE_TO_KIND = {
    "qwen2": "qwen2.5", "qwen3": "qwen3", "qwen3_moe": "qwen3-moe", "qwen2_5_vl": "qwen2.5-vl",
    "qwen2_vl": "qwen2.5-vl", "qwen3_vl": "qwen3-vl", "qwen3_vl_moe": "qwen3-vl", "qwen3_5": "qwen3.5",
    "qwen3_5_moe": "qwen3.5-moe",
}  # fmt: skip


# Tasks whose checkpoints share a model_type with the chat models but not their head: their own stand-in.
TASK_KINDS = {("qwen3", "embedding"): "qwen3-embedding", ("qwen3", "rerank"): "qwen3-reranker"}


def kind(name: str) -> Kind:
    """Look a kind up, or say which ones exist."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown offline model kind {name!r}; choose one of {list(KINDS)}") from None


def kind_for(model_type: str, template: str | None = None, task: str | None = None) -> str:
    """The stand-in kind for a transformers `model_type` (e.g. from a real checkpoint's config.json); with the
    checkpoint's chat `template`, the kind that renders like it (Qwen3.5-2B: qwen3.5-small, non-thinking); with the
    picker's `task`, the embedding or reranker stand-in where that task has one."""
    if (model_type, task) in TASK_KINDS:
        return TASK_KINDS[model_type, task]
    try:
        default = MODEL_TYPE_TO_KIND[model_type]
    except KeyError:
        known = sorted(MODEL_TYPE_TO_KIND)
        raise ValueError(f"no offline stand-in for model_type {model_type!r}; known: {known}") from None
    if template is None or KINDS[default].template == template:
        return default
    same = [k.name for k in KINDS.values() if k.model_type == model_type and k.template == template]
    if not same:
        raise ValueError(f"no offline stand-in for model_type {model_type!r} with template {template!r}")
    return same[0]
