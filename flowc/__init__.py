"""flowc: a language, compiler and runtime for production-grade LLM agent workflows."""

__all__ = ["__version__"]

__version__ = "0.1.0"
