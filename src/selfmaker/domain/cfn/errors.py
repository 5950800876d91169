"""The error a template fault raises, naming the place it was found."""

from __future__ import annotations

FORMAT = "Template format error"  # AWS's prefix for faults in the template's structure
EVALUATION = "Template error"  # … and for faults found while evaluating intrinsic functions

Path = tuple[str | int, ...]


class TemplateError(Exception):
    """A fault in a template. ``path`` is where (("Resources", "Topic", "Properties", "DisplayName")),
    ``line`` the YAML line when known; ``str()`` is the message AWS-style, place included."""

    def __init__(self, message: str, path: Path = (), prefix: str = FORMAT, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.prefix = prefix
        self.line = line

    def __str__(self) -> str:
        place = f"[/{'/'.join(str(part) for part in self.path)}] " if self.path else ""
        line = f" (line {self.line})" if self.line else ""
        return f"{self.prefix}: {place}{self.message}{line}"
