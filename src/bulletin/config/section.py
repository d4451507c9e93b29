"""The base of every config section, and the declarations several sections share."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    """A config section: unknown keys are errors, values are validated when assigned."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=True)


# Settings every server bulletin logs in to has: SMTP, and the IMAP bounce mailbox.
TIMEOUT = Field(30.0, gt=0, description="Seconds to wait for the server.")
CA_FILE = Field(None, description="PEM file of CA certificates to trust instead of the system's.")
