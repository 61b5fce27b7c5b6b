"""`python -m qwen_course` is the `qwen-course` command."""

import sys

from .cli import main

sys.exit(main())
