"""Root pytest configuration: every test and every notebook kernel runs offline, against the tiny stand-ins."""

import os

os.environ.setdefault("QWEN_COURSE_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
