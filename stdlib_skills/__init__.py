"""The standard skill library: skill folders, each with its SKILL.md (data, not code)."""

from pathlib import Path

STDLIB_SKILLS_DIR = Path(__file__).parent
