"""The limits of one execution, each enforced and each with a clear error when exceeded."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Limits"]

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    timeout: float = 30.0                 # wall-clock seconds; the process is killed past it
    memory_mb: int = 256                  # Python heap (WebAssembly memory) of the sandbox
    max_output_bytes: int = 1 * MiB       # stdout + stderr together
    max_files: int = 100                  # files written in the working directory
    max_file_bytes: int = 20 * MiB        # one written file
    max_total_file_bytes: int = 100 * MiB
    max_result_bytes: int = 1 * MiB       # the JSON of the returned value
    max_input_bytes: int = 512 * MiB      # the input files staged for one execution, in all
    rss_slack_mb: int = 384               # resident memory allowed above the idle process

    def to_host(self) -> dict:
        return {
            "max_output_bytes": self.max_output_bytes, "max_files": self.max_files,
            "max_file_bytes": self.max_file_bytes,
            "max_total_file_bytes": self.max_total_file_bytes,
            "max_result_bytes": self.max_result_bytes,
        }

    def rss_ceiling_bytes(self, idle_rss: int) -> int:
        """The outside backstop: JS buffers made through the FFI escape the WebAssembly cap."""
        return idle_rss + (self.memory_mb + self.rss_slack_mb) * MiB
