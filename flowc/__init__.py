"""flowc: a language, compiler and runtime for production-grade LLM agent workflows."""

__all__ = ["DOCS_URL", "PROJECT_URL", "__version__"]

__version__ = "0.1.0"

# The project's home (also in pyproject.toml's [project.urls]; tests/test_packaging.py keeps
# them equal). SARIF's informationUri and the default base of its help links derive from it.
PROJECT_URL = "https://github.com/flowc-dev/flowc"
# Where docs/*.md are read online: `--docs-url` or $FLOWC_DOCS_URL point help links elsewhere
DOCS_URL = f"{PROJECT_URL}/blob/main/docs"
