"""What each corpus file came to, collected for the table printed at the end of the run."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class Outcome:
    name: str
    file_type: str  # the format the bytes announce (jpeg, heif…), or the file's extension when refused unknown
    status: str = "pending"  # accepted | refused | server_error
    reason: str = ""  # for a refusal: the error code (and the detail's reason)
    defects: list[str] = dataclasses.field(default_factory=list)


OUTCOMES: list[Outcome] = []
