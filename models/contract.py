"""What the models need to know of the spec's shapes, as an interface the app implements
(app.contract.validation.SpecContract builds it from openapi.json; models never read the spec)."""

from __future__ import annotations

from typing import Any, Protocol


class Contract(Protocol):
    @property
    def stack_platforms(self) -> tuple[str, ...]:
        """The platforms a release may carry a stack for."""
        ...

    @property
    def git_fields(self) -> tuple[str, ...]:
        """The fields of a release's git metadata."""
        ...

    @property
    def stack_settings_fields(self) -> tuple[str, ...]:
        """The settings a deployment keeps (StackSettings' properties, docs/behaviour.md §10)."""
        ...

    def stack_problem(self, stack: Any) -> str | None:
        """The first way `stack` fails the spec's Stack schema, or None."""
        ...

    def read(self, schema_name: str, value: Any) -> Any:
        """`value` without the nulls that mean "absent" under the named schema (in place)."""
        ...
